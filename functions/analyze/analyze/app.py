"""The lead-analysis function's deployments: `handler` is the buffered Lambda handler (Mangum); the
streaming deployment serves `app` under Lambda Web Adapter (functions/analyze/run.sh)."""

from __future__ import annotations

from analyze.function import FUNCTION

app = FUNCTION.app()
handler = FUNCTION.lambda_handler(app)
