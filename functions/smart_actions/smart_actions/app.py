"""The smart-actions function's deployments: `handler` is the buffered Lambda handler (Mangum); the
streaming deployment serves `app` under Lambda Web Adapter (functions/smart_actions/run.sh)."""

from __future__ import annotations

from smart_actions.function import FUNCTION

app = FUNCTION.app()
handler = FUNCTION.lambda_handler(app)
