"""The dev server: every function's routes on one local port, plus /healthz, /docs, /openapi.json.

Functions register here as they are built: each contributes the router its own Lambda app serves,
made with the local engine, so local and deployed paths are the same.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from analyze.function import EXAMPLE_LEAD
from analyze.function import FUNCTION as ANALYZE
from dominus_dev.local import LocalRuntime
from geometry.function import MAX_UPLOAD_BYTES, geometry_router
from metrics.dashboard import dashboard_router
from metrics.function import metrics_router
from metrics.rollup import run_rollup
from shared.api import Function
from shared.forms import form_field, parse_multipart, read_body
from shared.http import install_error_handling
from smart_actions.function import FUNCTION as SMART_ACTIONS
from video.function import FUNCTION as VIDEO
from vision.app import UploadHandler, s3_event
from vision.function import vision_router
from vision.service import MAX_PHOTO_BYTES

GEOMETRY_MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64_000  # the upload plus its multipart framing
VISION_MAX_BODY_BYTES = MAX_PHOTO_BYTES + 64_000

# Every AI function, in the order of the API reference.
FUNCTIONS: list[Function] = [ANALYZE, VIDEO, SMART_ACTIONS]


def create_dev_app(runtime: LocalRuntime) -> FastAPI:
    engine = runtime.engine
    assert engine is not None, "start the runtime first"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.aclose()

    app = FastAPI(
        title="Dominus (local)",
        version="0.1.0",
        description="The AI back end of the roofing CRM, served locally on embedded defaults.",
        lifespan=lifespan,
    )
    # The dev server takes the largest body any function accepts; each function's own limit is
    # enforced by its deployed app, and by the route's models here.
    # Geometry takes file uploads (its route enforces its own limit).
    install_error_handling(
        app,
        max_body_bytes=max([f.max_body_bytes for f in FUNCTIONS] + [GEOMETRY_MAX_BODY_BYTES, VISION_MAX_BODY_BYTES]),
    )

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "env": runtime.settings.dominus_env,
            "store": engine.store_name,
            "store_reachable": await engine.store_healthy(),
            "model": "simulated" if engine.simulated else "openai",
            "models": {"cheap": runtime.settings.dominus_cheap_model, "smart": runtime.settings.dominus_smart_model},
            "simulated_model_url": runtime.model.url if runtime.model is not None else None,
        }

    # The front end's streaming client and its demo page, from the repository's clients/ folder
    # (beside dev/; an editable install serves the work tree), read fresh on every request.
    clients = Path(__file__).resolve().parents[2] / "clients"

    @app.get("/client/dominus-stream.js", include_in_schema=False)
    async def stream_client() -> Response:
        try:
            source = (clients / "dominus-stream.js").read_text(encoding="utf-8")
        except OSError:
            return Response(
                "// clients/dominus-stream.js is not in this install\n", 404, media_type="application/javascript"
            )
        return Response(source, media_type="application/javascript", headers={"Cache-Control": "no-cache"})

    @app.get("/dev/stream-demo", include_in_schema=False)
    async def stream_demo() -> HTMLResponse:
        """Streams an analysis of the example lead through the client; `?org=` sets X-Org-Id."""
        try:
            page = (clients / "stream-demo.html").read_text(encoding="utf-8")
        except OSError:
            return HTMLResponse("<p>clients/stream-demo.html is not in this install</p>", 404)
        lead = json.dumps(EXAMPLE_LEAD, indent=2).replace("</", "<\\/")  # safe inside <script>
        return HTMLResponse(page.replace("__EXAMPLE_LEAD__", lead))

    for function in FUNCTIONS:
        app.include_router(function.router(lambda: engine, runtime.settings.dominus_env))
    geometry_jobs, geometry_index = runtime.geometry_jobs(), runtime.geometry_index()
    app.include_router(
        geometry_router(lambda: geometry_jobs, runtime.settings.dominus_env, index=lambda: geometry_index)
    )
    _add_vision(app, runtime)
    _add_metrics(app, runtime)
    return app


def _add_metrics(app: FastAPI, runtime: LocalRuntime) -> None:
    """The analytics API, org AI settings and dashboard page, and the roll-up on demand (the
    deployed schedule does not fire locally): `POST /dev/metrics/rollup` runs what the schedule runs."""
    deps = runtime.metrics_deps()
    app.include_router(metrics_router(deps, runtime.settings.dominus_env))
    app.include_router(dashboard_router())

    @app.post("/dev/metrics/rollup", include_in_schema=False)
    async def dev_rollup() -> dict[str, Any]:
        engine = runtime.engine
        if engine is not None:
            await asyncio.to_thread(engine.flush_records, 5.0)  # what the calls so far recorded
        report = await asyncio.to_thread(run_rollup, deps.log(), deps.rollups(), datetime.now(UTC))
        return {"hours": report.hours, "orgs": report.orgs, "items": report.items, "watermark": report.watermark}


class InvocationContext:
    """What the handler reads of a Lambda context: a request id and the time left (a 15-minute
    budget, the longest a Lambda runs), so idempotency can expire a job that never finishes."""

    def __init__(self) -> None:
        self.aws_request_id = uuid.uuid4().hex
        self._deadline = time.monotonic() + 900

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _add_vision(app: FastAPI, runtime: LocalRuntime) -> None:
    """Vision's routes, and the S3 event moto does not send: a presigned upload is posted here,
    forwarded to the embedded S3 unchanged (its policy and fields), and on success the deployed
    handler runs the job for that object, in the background as S3 would, on this server's loop."""
    jobs = runtime.vision_jobs()
    engine = runtime.engine
    loop: list[asyncio.AbstractEventLoop] = []
    running: set[asyncio.Task[Any]] = set()

    def on_server_loop(coroutine: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
        return asyncio.run_coroutine_threadsafe(coroutine, loop[0]).result()

    handler = UploadHandler(
        lambda: jobs,
        lambda: engine,
        runtime.settings.dominus_idempotency_table,
        lambda: runtime.aws.client("dynamodb"),
        run=on_server_loop,
    )
    app.include_router(
        vision_router(
            lambda: jobs,
            lambda: engine,
            runtime.settings.dominus_env,
            upload_url=lambda request: str(request.url_for("dev_vision_upload")),
        )
    )

    @app.post("/dev/vision/upload", include_in_schema=False, name="dev_vision_upload")
    async def dev_vision_upload(request: Request) -> Response:
        body = await read_body(request, MAX_PHOTO_BYTES + 64_000)
        content_type = request.headers.get("content-type", "")
        async with httpx.AsyncClient(timeout=30) as client:
            stored = await client.post(
                f"{runtime.aws.endpoint_url}/{jobs.upload_bucket}", content=body, headers={"Content-Type": content_type}
            )
        if stored.is_success:
            key = form_field(parse_multipart(content_type, body, "a presigned POST form"), "key")
            if key is not None:
                loop[:] = [asyncio.get_running_loop()]
                head = await asyncio.to_thread(jobs.s3.head_object, Bucket=jobs.upload_bucket, Key=key.text)
                event = s3_event(jobs.upload_bucket, key.text, head["ETag"], head["ContentLength"])
                task = asyncio.create_task(asyncio.to_thread(handler, event, InvocationContext()))
                running.add(task)
                task.add_done_callback(running.discard)
        return Response(stored.content, stored.status_code, media_type=stored.headers.get("content-type"))
