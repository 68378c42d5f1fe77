"""The dev server: every function's spec, built by the same builder as its Lambda, on one local port.

Only the clients differ: the embedded moto server, the simulated model (or OpenAI), the configured
store. What AWS itself does around the functions is played here by the deployed handlers:
- a presigned upload is posted to `/dev/uploads`, checked against its policy as S3 would, stored in
  the embedded S3, and its ObjectCreated event handed to the handler of the function whose upload
  prefix its key starts with (in the background, as S3 notifies through the template's prefix
  filters);
- a schedule runs through the function's handler as EventBridge would call it: as often as the
  template's rule says (`rate(15 minutes)` for the metrics roll-up), in the background, and at once
  on `POST /dev/<function>/<schedule>` (e.g. `/dev/metrics/rollup`).
Plus `/healthz` (what runs), `/dev/events` (the caller's org's latest job-finished events, as
EventBridge would deliver them), the front end's streaming client and its demo page.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Mapping
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from analyze.function import EXAMPLE_LEAD
from dominus_dev.functions import SPECS
from dominus_dev.local import LocalRuntime
from dominus_dev.presigned import Refused, check_post
from dominus_dev.schedules import Every
from dominus_dev.template import LOCAL_CREDENTIAL, schedule_rates
from shared.deployment import Deployment, FunctionSpec, build_app
from shared.errors import error_responses
from shared.forms import MULTIPART_SLACK_BYTES, parse_multipart, read_body
from shared.http import org_id_of
from shared.objects import object_created_event
from shared.work import LocalWork

# A presigned form: the largest object any function's uploads take, with its form around it.
MAX_FORM_BYTES = max(spec.uploads.max_bytes for spec in SPECS if spec.uploads is not None) + MULTIPART_SLACK_BYTES


class InvocationContext:
    """What a handler reads of a Lambda context: a request id and the time left (a 15-minute budget,
    the longest a Lambda runs), so idempotency can expire a job that never finishes."""

    def __init__(self) -> None:
        self.aws_request_id = uuid.uuid4().hex
        self._deadline = time.monotonic() + 900

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


Rates = Mapping[tuple[str, str], float]


def create_dev_app(runtime: LocalRuntime, *, schedule_every_s: Rates | None = None) -> FastAPI:
    """`schedule_every_s`: (function, schedule) -> seconds between runs, over the template's rates."""
    engine = runtime.engine
    assert engine is not None, "start the runtime first"
    loop: list[asyncio.AbstractEventLoop] = []
    scheduled: list[Every] = []

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop[:] = [asyncio.get_running_loop()]
        for every in scheduled:
            every.start()
        yield
        for every in scheduled:
            await asyncio.to_thread(every.stop)
        await asyncio.to_thread(work.shutdown)  # work handed out finishes while AWS is still up
        # Here and not only in LocalRuntime.stop: uvicorn re-raises a SIGTERM once the app is down.
        await asyncio.to_thread(engine.flush_records, 5.0)
        await engine.aclose()

    def on_server_loop(coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Event handlers' coroutines run where the engine's HTTP clients live."""
        return asyncio.run_coroutine_threadsafe(coroutine, loop[0]).result()

    work = LocalWork()
    clients = runtime.clients(
        upload_url=lambda request: str(request.url_for("dev_upload")), run=on_server_loop, work=lambda: work
    )
    app = build_app(
        SPECS,
        clients,
        title="Dominus (local)",
        description="The AI back end of the roofing CRM, served locally on embedded defaults.",
        lifespan=lifespan,
    )
    deployments = [Deployment(spec, clients, after_response=clients.flush) for spec in SPECS]
    for deployment in deployments:  # what Lambda's asynchronous invocation of the function does
        if deployment.spec.work is not None:
            work.register(deployment.spec.name, partial(_run_work, deployment))

    @app.get("/healthz", tags=["ops"], responses=error_responses(413))  # the body limit holds for any request
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "env": runtime.settings.dominus_env,
            "functions": [spec.name for spec in SPECS],
            "store": engine.store_name,
            "store_reachable": await engine.store_healthy(),
            "model": "simulated" if engine.simulated else "openai",
            "models": {"cheap": runtime.settings.dominus_cheap_model, "smart": runtime.settings.dominus_smart_model},
            "simulated_model_url": runtime.model.url if runtime.model is not None else None,
        }

    @app.get("/dev/events", include_in_schema=False)
    async def dev_events(request: Request, limit: int = 100) -> dict[str, Any]:
        """The caller's org's latest job-finished events, newest first: what EventBridge would deliver."""
        org = org_id_of(request, "local")
        return {"events": [e.detail() for e in runtime.events.recent(org, max(1, min(limit, 500)))]}

    _add_uploads(app, runtime, [d for d in deployments if d.spec.uploads is not None])
    rates = {key: rate.total_seconds() for key, rate in schedule_rates(runtime.aws.template).items()}
    rates |= schedule_every_s or {}
    for deployment in deployments:
        for schedule in deployment.spec.schedules:
            _add_schedule(app, deployment, schedule.name)
            every_s = rates.get((deployment.spec.name, schedule.name))
            if every_s is not None:
                name = f"{deployment.spec.name}/{schedule.name}"
                scheduled.append(Every(name, every_s, partial(run_schedule, deployment, schedule.name)))
    _add_clients(app)
    return app


def _add_uploads(app: FastAPI, runtime: LocalRuntime, takers: list[Deployment]) -> None:
    """S3's part in a presigned upload: check the form against its policy, store the object, notify."""
    bucket = runtime.settings.dominus_upload_bucket or runtime.settings.dominus_bucket
    s3 = runtime.aws.client("s3")
    running: set[asyncio.Task[Any]] = set()

    @app.post("/dev/uploads", include_in_schema=False, name="dev_upload")
    async def dev_upload(request: Request) -> Response:
        """What S3 does with a presigned POST."""
        content_type = request.headers.get("content-type", "")
        body = await read_body(request, MAX_FORM_BYTES)
        parts = parse_multipart(content_type, body, "Post the presigned form as multipart/form-data.")
        fields = {part.name: part.text for part in parts if part.name != "file"}
        file = next((part for part in parts if part.name == "file"), None)
        try:
            if file is None:
                raise Refused(400, "InvalidArgument", "POST requires exactly one file upload per request.")
            check_post(bucket, fields, len(file.data), LOCAL_CREDENTIAL)
        except Refused as refused:
            return Response(refused.xml(), refused.status, media_type="application/xml")
        async with httpx.AsyncClient(timeout=30) as client:
            stored = await client.post(
                f"{runtime.aws.endpoint_url}/{bucket}", content=body, headers={"Content-Type": content_type}
            )
        if stored.is_success:
            key = next(value for name, value in fields.items() if name.lower() == "key")
            head = await asyncio.to_thread(s3.head_object, Bucket=bucket, Key=key)
            event = object_created_event(bucket, key, head["ETag"], head["ContentLength"])
            for deployment in (d for d in takers if d.spec.uploads is not None and d.spec.uploads.takes(key)):
                task = asyncio.create_task(asyncio.to_thread(deployment.handler, event, InvocationContext()))
                running.add(task)
                task.add_done_callback(running.discard)
        return Response(stored.content, stored.status_code, media_type=stored.headers.get("content-type"))

    upload_route = next(r for r in app.routes if getattr(r, "name", None) == "dev_upload")
    app.state.body_limits.add([upload_route], MAX_FORM_BYTES)


def _run_work(deployment: Deployment, task: dict[str, Any]) -> dict[str, Any]:
    return deployment.handler({"work": task}, InvocationContext())


def run_schedule(deployment: Deployment, name: str) -> dict[str, Any]:
    """EventBridge's part: the schedule's event through the function's handler, after the records of
    the calls so far are written (what a roll-up reads)."""
    deployment.clients.flush(5.0)
    return deployment.handler({"schedule": name}, InvocationContext())


def _add_schedule(app: FastAPI, deployment: Deployment, name: str) -> None:
    spec: FunctionSpec = deployment.spec

    async def run() -> dict[str, Any]:
        return await asyncio.to_thread(run_schedule, deployment, name)

    app.add_api_route(f"/dev/{spec.name}/{name}", run, methods=["POST"], include_in_schema=False)


def _add_clients(app: FastAPI) -> None:
    """The front end's streaming client and its demo page, from the repository's clients/ folder
    (beside dev/; an editable install serves the work tree), read fresh on every request."""
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
