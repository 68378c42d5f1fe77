"""The geometry function as deployed (GeometryFunction, a container image): `handler` is its Lambda
entry point. Settings are read at init; boto3 clients and the store are made on the first request
that needs them (/healthz never does)."""

from geometry.function import SPEC
from shared.deployment import deploy

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
