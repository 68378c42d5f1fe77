"""The video function as deployed: `handler` is the buffered Lambda's entry point (Mangum); the
streaming deployment serves `app` under Lambda Web Adapter (functions/video/run.sh)."""

from shared.deployment import deploy
from video.function import SPEC

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
