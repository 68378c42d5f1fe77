"""The lead-analysis function as deployed: `handler` is the buffered Lambda's entry point (Mangum); the
streaming deployment serves `app` under Lambda Web Adapter (functions/analyze/run.sh)."""

from analyze.function import SPEC
from shared.deployment import deploy

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
