"""The metrics function as deployed: `handler` is the entry point of MetricsFunction (API Gateway: the
analytics API, the org's AI settings, the dashboard page) and of RollupFunction (the EventBridge
schedule's `{"schedule": "rollup"}`). Settings are read at init; clients are made on first use."""

from metrics.function import SPEC
from shared.deployment import deploy

deployment = deploy(SPEC)
app = deployment.app
handler = deployment.handler
