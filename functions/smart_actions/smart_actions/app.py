"""The smart-actions function as deployed: `handler` is the buffered Lambda's entry point (Mangum); the
streaming deployment serves `app` under Lambda Web Adapter (functions/smart_actions/run.sh)."""

from shared.deployment import deploy
from smart_actions.function import SPEC

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
