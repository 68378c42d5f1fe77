"""The video function's deployments: `handler` is the buffered Lambda handler (Mangum); the streaming
deployment serves `app` under Lambda Web Adapter (functions/video/run.sh)."""

from __future__ import annotations

from video.function import FUNCTION

app = FUNCTION.app()
handler = FUNCTION.lambda_handler(app)
