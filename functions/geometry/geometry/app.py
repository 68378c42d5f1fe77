"""The geometry function as deployed: `handler` is the Lambda entry point of both deployments of its
container image, GeometryFunction (API Gateway requests) and GeometryJobsFunction (S3 uploads under
`geometry-uploads/`, each a job: `geometry.service.run_upload`, once per object through shared.uploads).
Settings are read at init; boto3 clients and the store are made on the first request or event that
needs them (/healthz never does)."""

from geometry.function import SPEC
from shared.deployment import deploy

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
