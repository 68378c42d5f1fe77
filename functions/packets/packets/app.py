"""The packets function as deployed: `handler` is the buffered deployment's entry point (API Gateway
through Mangum, and the packets it hands itself); `app` is what run.sh serves under Lambda Web
Adapter for the streaming routes."""

from packets.function import SPEC
from shared.deployment import deploy

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
