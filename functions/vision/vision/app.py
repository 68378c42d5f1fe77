"""The vision function as deployed (VisionFunction, a container image): `handler` is its Lambda entry
point for both of its event sources, API Gateway requests and S3 uploads (`vision.service.run_upload`,
once per object through shared.uploads). Settings are read at init; boto3 clients and the engine are
made on first use."""

from shared.deployment import deploy
from vision.function import SPEC

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
