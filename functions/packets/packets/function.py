"""The packets function's HTTP surface (ARCHITECTURE.md, "HTTP"):

- `POST /v1/packets`: a packet of a report of the caller's org; 202 with the queued job. It renders on
  the function's own asynchronous invocation (`work`), its progress in the job record.
- `GET /v1/packets/{packet_id}`: its state, and when done a presigned download URL per file (a Lambda
  response is capped at 6 MB; a packet is tens of MB).
- `GET /v1/packets/{packet_id}/stream`: SSE: `meta`, `progress` (stage, fraction) as it changes, then
  `result` (what the GET answers) and `done`; or `error` (it failed, or is still rendering when the
  stream's budget ends: follow it again).
- `POST /v1/packets/cover-letter` (and `/stream`): the cover letter drafted through the engine from
  the report, for a person to edit and send back with the packet's request.
- `PUT`/`GET /v1/orgs/me/packet-templates/{name}` (and the list): the org's named layouts, which a
  packet's request may name; `PUT .../{name}/docx`: the org's Word document its DOCX files start from.

Everything is the caller's org's only: another org's packet or report is 404.

No `from __future__ import annotations`: FastAPI reads the route functions' annotations.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, StreamingResponse

from packets import service
from packets.jobs import PacketJobs
from packets.letter import CoverLetter, CoverLetterRequest, cover_letter_request
from packets.requests import PacketCreate, PacketTemplate
from packets.templates import MAX_DOCX_BYTES, S3TemplateStore, TemplateStore, check_name
from shared.api import AI_ERRORS, MODE_QUERY, sse_response
from shared.deployment import FunctionSpec, Work
from shared.engine import CallContext, Engine
from shared.errors import UnsupportedMediaType, error_responses
from shared.events import DoneEvent, ErrorEvent, MetaEvent, ProgressEvent, ResultEvent, StreamEvent
from shared.forms import read_body
from shared.http import JSON_BODY_ERRORS, JsonRoute, ai_json, org_id_of, request_id_of
from shared.modes import Mode
from shared.runtime import Clients, once
from shared.work import WorkQueue

Env = Literal["local", "aws"]
JobsProvider = Callable[[], PacketJobs]
FUNCTION = service.FUNCTION
POLL_S = 0.5
STREAM_BUDGET_S = 110.0  # the streaming deployment's 120 s, less a margin to say so in an event
MAX_BODY_BYTES = 2_100_000  # an org's Word template (2 MB); a packet's request with its letter is far less
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_REPORT = "4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
PACKET_BODY = Body(
    openapi_examples={
        "default": {"summary": "Every section, four photos a page", "value": {"report_id": _REPORT}},
        "desk review": {
            "summary": "The scorecard first, two photos a page, PDF/A, GPS removed from the originals",
            "value": {
                "report_id": _REPORT,
                "template": {"photos_per_page": 2, "pdfa": True, "keep_gps": False, "org_name": "Summit Roofing"},
                "sections": ["cover_letter", "scorecard", "photos", "quantities", "methodology"],
                "cover_letter": ["Dear Claims Reviewer,", "Please find the roof packet for claim CLM-1042."],
            },
        },
    }
)

LETTER_BODY = Body(
    openapi_examples={
        "to the desk": {
            "summary": "A cover letter to the carrier's desk reviewer",
            "value": {
                "report_id": _REPORT,
                "carrier": "Acme Mutual",
                "claim_number": "AM-2026-48817",
                "policy_holder": "Dana Whitfield",
                "loss_date": "2026-05-27",
                "sender": {"company": "Summit Roofing", "name": "Marcus Reyes", "title": "Claims Manager"},
            },
        }
    }
)


def packets_router(
    jobs: JobsProvider,
    templates: Callable[[], TemplateStore],
    work: Callable[[], WorkQueue],
    engine: Callable[[], Engine],
    env: Env,
) -> APIRouter:
    router = APIRouter(tags=["Packets"], route_class=JsonRoute)

    def headers(request: Request) -> dict[str, str]:
        return {"X-Request-Id": request_id_of(request)}

    @router.post(
        "/v1/packets",
        status_code=202,
        summary="Render the claim packet (PDF, DOCX, cover letter, photos.zip, manifest) of a report",
        responses=error_responses(*JSON_BODY_ERRORS, 404, 503),
    )
    async def create_packet(request: Request, body: PacketCreate = PACKET_BODY) -> JSONResponse:
        org = org_id_of(request, env)
        view = await asyncio.to_thread(service.create, org, body, jobs(), work(), templates())
        return JSONResponse(view, status_code=202, headers=headers(request))

    @router.get(
        "/v1/packets/{packet_id}",
        summary="A packet: its state and progress, and download URLs of its files when done",
        responses=error_responses(404, 422),
    )
    async def get_packet(request: Request, packet_id: str) -> JSONResponse:
        org = org_id_of(request, env)
        store = jobs()
        record = await asyncio.to_thread(store.record, org, packet_id)
        return JSONResponse(await asyncio.to_thread(store.view, record), headers=headers(request))

    @router.get(
        "/v1/packets/{packet_id}/stream",
        summary="A packet's progress as Server-Sent Events, then its files",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "SSE events"},
            **error_responses(404, 422),
        },
    )
    async def follow_packet(request: Request, packet_id: str) -> StreamingResponse:
        org, request_id = org_id_of(request, env), request_id_of(request)
        store = jobs()
        await asyncio.to_thread(store.record, org, packet_id)  # 404 before the stream starts
        return sse_response(_follow(store, org, packet_id, request_id), request_id)

    @router.post(
        "/v1/packets/cover-letter",
        response_model=CoverLetter,
        summary="Draft the packet's cover letter from the report (edit it, then send it with the packet)",
        responses=AI_ERRORS | error_responses(404),
    )
    async def draft_letter(
        request: Request, body: CoverLetterRequest = LETTER_BODY, mode: Mode | None = MODE_QUERY
    ) -> JSONResponse:
        call, ask = await _letter(request, body, mode)
        return ai_json(await engine().generate(call, ask))

    @router.post(
        "/v1/packets/cover-letter/stream",
        summary="Draft the packet's cover letter (stream)",
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "SSE events"},
            **AI_ERRORS,
            **error_responses(404),
        },
    )
    async def draft_letter_stream(
        request: Request, body: CoverLetterRequest = LETTER_BODY, mode: Mode | None = MODE_QUERY
    ) -> StreamingResponse:
        call, ask = await _letter(request, body, mode)
        after = (lambda: engine().flush_records()) if env == "aws" else None
        return sse_response(await engine().start_stream(call, ask), call.request_id, after)

    @router.put(
        "/v1/orgs/me/packet-templates/{name}",
        summary="Save a packet template: its sections in order, photos per page, paper, PDF/A, GPS",
        responses=error_responses(*JSON_BODY_ERRORS, 404),
    )
    async def save_template(request: Request, name: str, body: PacketTemplate) -> JSONResponse:
        await asyncio.to_thread(templates().save, org_id_of(request, env), check_name(name), body)
        return JSONResponse({"name": name, **body.model_dump(mode="json")}, headers=headers(request))

    @router.get("/v1/orgs/me/packet-templates", summary="The org's packet templates, by name")
    async def list_templates(request: Request) -> JSONResponse:
        names = await asyncio.to_thread(templates().names, org_id_of(request, env))
        return JSONResponse({"templates": names}, headers=headers(request))

    @router.get(
        "/v1/orgs/me/packet-templates/{name}", summary="One packet template", responses=error_responses(404, 422)
    )
    async def get_template(request: Request, name: str) -> JSONResponse:
        org = org_id_of(request, env)
        found = await asyncio.to_thread(templates().template, org, check_name(name))
        has_docx = await asyncio.to_thread(templates().has_docx, org, name)
        body = {"name": name, **found.model_dump(mode="json"), "docx": has_docx}
        return JSONResponse(body, headers=headers(request))

    @router.put(
        "/v1/orgs/me/packet-templates/{name}/docx",
        summary="The org's Word document (.docx) the template's DOCX files start from: styles, header, logo",
        responses=error_responses(404, 413, 415, 422),
        openapi_extra={"requestBody": {"content": {DOCX: {"schema": {"type": "string", "format": "binary"}}}}},
    )
    async def save_template_docx(request: Request, name: str) -> JSONResponse:
        org = org_id_of(request, env)
        sent = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if sent not in (DOCX, "application/octet-stream"):
            raise UnsupportedMediaType(f"Send the Word document's bytes as {DOCX}.")
        data = await read_body(request, MAX_DOCX_BYTES)
        await asyncio.to_thread(templates().save_docx, org, check_name(name), data)
        return JSONResponse({"name": name, "docx": True, "bytes": len(data)}, headers=headers(request))

    async def _letter(request: Request, body: CoverLetterRequest, mode: Mode | None) -> tuple[CallContext, Any]:
        call = CallContext(org_id_of(request, env), request_id_of(request), FUNCTION)
        _, report, _ = await asyncio.to_thread(jobs().report, call.org_id, body.report_id)
        return call, cover_letter_request(report, body, mode)

    return router


async def _follow(jobs: PacketJobs, org: str, packet_id: str, request_id: str) -> AsyncIterator[StreamEvent]:
    started = time.monotonic()
    yield MetaEvent(request_id, model="none", mode="none", cache="bypass", simulated=False)
    last: tuple[str | None, float] | None = None
    while True:
        record = await asyncio.to_thread(jobs.record, org, packet_id)
        now = (record.text("stage"), float(record.attributes.get("fraction", 0) or 0))
        if now != last and record.status in ("queued", "running"):
            yield ProgressEvent(now[0] or record.status, now[1])
            last = now
        if record.status == "done":
            yield ProgressEvent("done", 1.0)
            yield ResultEvent(await asyncio.to_thread(jobs.view, record))
            latency = (time.monotonic() - started) * 1000
            yield DoneEvent(0, 0, 0, 0.0, None, None, round(latency, 1))
            return
        if record.status == "failed":
            yield ErrorEvent("packet_failed", record.reason or "The packet failed.", request_id)
            return
        if time.monotonic() - started > STREAM_BUDGET_S:
            message = "The packet is still rendering; follow it again or GET it."
            yield ErrorEvent("still_running", message, request_id)
            return
        await asyncio.sleep(POLL_S)


def _jobs(clients: Clients) -> JobsProvider:
    return clients.job_store(PacketJobs)


def _templates(clients: Clients) -> Callable[[], TemplateStore]:
    return once(lambda: S3TemplateStore(clients.s3(), clients.settings.dominus_bucket))


def routers(clients: Clients) -> list[APIRouter]:
    env = clients.settings.dominus_env
    return [packets_router(_jobs(clients), _templates(clients), clients.work, clients.engine, env)]


def work_handler(clients: Clients) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The packet a `POST /v1/packets` handed to this function's own invocation."""
    jobs, templates = _jobs(clients), _templates(clients)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        task = event["work"]
        status = service.render(str(task["org_id"]), str(task["packet_id"]), jobs(), templates())
        return {"status": status, "packet_id": task["packet_id"]}

    return handler


SPEC = FunctionSpec(
    "packets", "Packets", routers, max_body_bytes=MAX_BODY_BYTES, streaming=True, work=Work(work_handler)
)
