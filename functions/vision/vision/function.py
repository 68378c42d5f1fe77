"""The vision function's HTTP surface.

- `POST /v1/vision/uploads` (JSON: file name, content type, tags): a job in `awaiting_upload` and a
  presigned POST for exactly its key under `uploads/<org_id>/`, an image content type and the size
  limit; the object's arrival starts the job (an S3 event; the dev server calls the same handler).
- `POST /v1/vision/analyze`: one photo, synchronously: multipart/form-data `file` (JPEG, PNG, WebP
  or HEIC) with optional tag fields, or JSON `{"s3_key", "tags"}` naming an object of the caller's
  org; 201 with the job and its detections, and the X-Dominus-* headers of the model's calls.
  Query: `mode` (cheap / smart / auto), `offline` (the local stage only).
- `GET /v1/vision/{job_id}` and `GET /v1/vision/{job_id}/heatmap.png`: to the same org only.

No `from __future__ import annotations`: FastAPI reads the route functions' annotations.
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from shared.deployment import FunctionSpec, Handler, Uploads
from shared.docs import form_fields, request_body
from shared.engine import CallContext, Engine
from shared.errors import InvalidInput, NotFound, error_responses
from shared.forms import MULTIPART_SLACK_BYTES, form_field, form_tags, parse_multipart, read_body
from shared.http import JSON_BODY_ERRORS, JsonRoute, org_id_of, parse_json_body, request_id_of
from shared.modes import Mode
from shared.objects import MAX_KEY_LENGTH, megabytes, read_input
from shared.runtime import Clients
from shared.uploads import UPLOAD_EXPIRES_S
from vision.detect import Detected, combined_outcome
from vision.jobs import NO_JOB, UPLOADS, PhotoTags, VisionJobs
from vision.service import FUNCTION, MAX_PHOTO_BYTES, analyze, run_upload

Env = Literal["local", "aws"]
JobsProvider = Callable[[], VisionJobs]
EngineProvider = Callable[[], Engine | None]

MAX_REFERENCE_BYTES = 16_000
MAX_FORM_BYTES = MAX_PHOTO_BYTES + MULTIPART_SLACK_BYTES  # a photo with its form around it
UPLOAD_TYPES = ("image/jpeg", "image/png", "image/webp", "image/heic", "image/heif")
_EXPECTED = (
    "Send multipart/form-data with a `file` field (a JPEG, PNG, WebP or HEIC photo) and optional tag fields "
    "(`lead_id`, `claim_id`, `structure`, `facet`, `facing`, `slope`, `test_square`); or application/json "
    '{"s3_key": ..., "tags": {...}}.'
)
MODE_QUERY = Query(None, description="cheap, smart or auto; the org's default applies when absent")
OFFLINE_QUERY = Query(False, description="the local OpenCV stage only, no model")
NO_HEATMAP = "This vision job has no heatmap yet: it is not done, or its heatmap could not be rendered."


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("photo.jpg", min_length=1, max_length=200, description="the photo's file name")
    content_type: Literal["image/jpeg", "image/png", "image/webp", "image/heic", "image/heif"] = "image/jpeg"
    tags: PhotoTags = Field(default_factory=PhotoTags)


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    s3_key: str = Field(
        min_length=1, max_length=MAX_KEY_LENGTH, description="under orgs/<org_id>/ or uploads/<org_id>/"
    )
    tags: PhotoTags = Field(default_factory=PhotoTags)


def ai_headers(detected: Detected, request_id: str) -> dict[str, str]:
    """The contract's X-Dominus-* headers for a photo: its calls' combined outcome and cost."""
    calls = detected.calls
    cost = sum(c.cost_usd or 0.0 for c in calls)
    headers = {
        "X-Dominus-Cache": combined_outcome(calls).value if calls else "bypass",
        "X-Dominus-Model": detected.result.model,
        "X-Dominus-Mode": detected.mode.value,
        "X-Dominus-Cost-Usd": f"{cost:.6f}",
        "X-Request-Id": request_id,
    }
    if detected.fallback:
        headers["X-Dominus-Fallback"] = detected.fallback[:200]
    return headers


def vision_router(
    jobs: JobsProvider, engine: EngineProvider, env: Env, *, upload_url: Callable[[Request], str] | None = None
) -> APIRouter:
    """`upload_url`: where clients post presigned uploads instead of S3 itself (the dev server, which
    forwards them to its embedded S3 and then runs the job, as S3's event would)."""
    router = APIRouter(tags=["Vision"], route_class=JsonRoute)

    @router.post(
        "/v1/vision/uploads",
        status_code=201,
        summary="A presigned upload that starts a vision job",
        responses=error_responses(*JSON_BODY_ERRORS),
    )
    async def create_upload(request: Request, body: UploadRequest) -> JSONResponse:
        org = org_id_of(request, env)
        store = jobs()
        job_id = await asyncio.to_thread(store.open, org, status="awaiting_upload", name=body.name, tags=body.tags)
        upload = await asyncio.to_thread(
            store.presigned_upload,
            org,
            job_id,
            body.name,
            body.tags,
            max_bytes=MAX_PHOTO_BYTES,
            content_type=body.content_type,
        )
        if upload_url is not None:
            upload["url"] = upload_url(request)
        return JSONResponse(
            {
                "job_id": job_id,
                "status": "awaiting_upload",
                "upload": upload,
                "max_bytes": MAX_PHOTO_BYTES,
                "expires_in_s": UPLOAD_EXPIRES_S,
                "job_url": f"/v1/vision/{job_id}",
            },
            status_code=201,
            headers={"X-Request-Id": request_id_of(request)},
        )

    @router.post(
        "/v1/vision/analyze",
        status_code=201,
        summary="Detect roof damage in one photo, now",
        description=f"{_EXPECTED} Photos up to {megabytes(MAX_PHOTO_BYTES)} and 50 megapixels.",
        responses=error_responses(400, 403, 404, 413, 415, 422),
        openapi_extra=request_body(
            {
                "multipart/form-data": form_fields(PhotoTags, file="the photo: JPEG, PNG, WebP or HEIC"),
                "application/json": KeyRequest,
            }
        ),
    )
    async def analyze_photo(
        request: Request,
        mode: Mode | None = MODE_QUERY,
        offline: bool = OFFLINE_QUERY,
    ) -> JSONResponse:
        org, request_id = org_id_of(request, env), request_id_of(request)
        content_type = request.headers.get("content-type", "")
        store = jobs()
        source_key = None
        if content_type.split(";")[0].strip().lower() == "application/json":
            ref = parse_json_body(KeyRequest, await read_body(request, MAX_REFERENCE_BYTES))
            data = await asyncio.to_thread(
                read_input, store.s3, store.bucket_of(ref.s3_key), org, ref.s3_key, MAX_PHOTO_BYTES, uploads=True
            )
            name, tags, source_key = ref.s3_key.rsplit("/", 1)[-1], ref.tags, ref.s3_key
        else:
            parts = parse_multipart(content_type, await read_body(request, MAX_FORM_BYTES), _EXPECTED)
            file = form_field(parts, "file")
            if file is None:
                raise InvalidInput("The form has no `file` field: attach the photo as `file`.")
            data, name, tags = file.data, file.filename or "photo", form_tags(parts, PhotoTags)
        ctx = CallContext(org, request_id, FUNCTION)
        done = await analyze(
            data,
            name,
            ctx=ctx,
            jobs=store,
            engine=engine(),
            requested=mode,
            tags=tags,
            offline=offline,
            source_key=source_key,
        )
        body = {
            "job_id": done.job_id,
            "status": "done",
            "tags": tags.model_dump(exclude_defaults=True),
            "result": done.detected.result.model_dump(mode="json"),
            "heatmap_url": f"/v1/vision/{done.job_id}/heatmap.png" if done.heatmap else None,
        }
        return JSONResponse(body, status_code=201, headers=ai_headers(done.detected, request_id))

    @router.get(
        "/v1/vision/{job_id}",
        summary="A vision job: its state, and its detections once done",
        responses=error_responses(404, 422),
    )
    async def get_job(request: Request, job_id: str) -> JSONResponse:
        view = await asyncio.to_thread(jobs().view, org_id_of(request, env), job_id)
        if view is None:
            raise NotFound(NO_JOB)
        return JSONResponse(view, headers={"X-Request-Id": request_id_of(request)})

    @router.get(
        "/v1/vision/{job_id}/heatmap.png",
        summary="A vision job's damage heatmap",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}, **error_responses(404, 422)},
    )
    async def get_heatmap(request: Request, job_id: str) -> Response:
        org = org_id_of(request, env)
        store = jobs()
        if await asyncio.to_thread(store.record, org, job_id) is None:
            raise NotFound(NO_JOB)
        png = await asyncio.to_thread(store.heatmap, org, job_id)
        if png is None:
            raise NotFound(NO_HEATMAP)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    return router


def vision_jobs(clients: Clients) -> JobsProvider:
    return clients.job_store(VisionJobs)


def _engine(clients: Clients) -> EngineProvider:
    """The engine when there is a model to call; else photos get the local stage only."""
    return lambda: clients.engine() if clients.has_model else None


def routers(clients: Clients) -> list[APIRouter]:
    env = clients.settings.dominus_env
    return [vision_router(vision_jobs(clients), _engine(clients), env, upload_url=clients.upload_url)]


def upload_handler(clients: Clients) -> Handler:
    """S3 ObjectCreated records under `uploads/`: each photo's job, once (shared.uploads)."""
    from shared.uploads import UploadHandler  # Powertools: loaded with the first upload event

    jobs, engine = vision_jobs(clients), _engine(clients)

    def job(bucket: str, key: str, request_id: str) -> Coroutine[Any, Any, dict[str, Any]]:
        return run_upload(bucket, key, jobs=jobs(), engine=engine(), request_id=request_id)

    table = clients.settings.dominus_idempotency_table
    return UploadHandler(job, table, clients.dynamodb, run=clients.run)


SPEC = FunctionSpec(
    "vision",
    "Vision",
    routers,
    max_body_bytes=MAX_FORM_BYTES,
    uploads=Uploads(upload_handler, UPLOADS.prefix, max_bytes=MAX_PHOTO_BYTES),
)
