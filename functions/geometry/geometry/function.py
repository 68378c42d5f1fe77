"""The geometry function's HTTP surface: `POST /v1/geometry/analyze`, `POST /v1/geometry/uploads`,
`GET /v1/geometry/{job_id}` and `GET /v1/geometry/{job_id}/preview.png`; and its S3 uploads.

`POST` takes either multipart/form-data: `file` (a DSM GeoTIFF or `.npy`, or a point cloud: x y z
text, LAS/LAZ) or `s3_key` (an object under the caller's own `orgs/<org_id>/`), optional `mask` (a
roof mask on the DSM's grid) and optional `resolution` (metres per pixel; required for `.npy`); or
JSON `{"s3_key": ..., "resolution": ..., "tags": {...}}` (or those fields, tags flat, as a url-encoded
form). Tags (`claim_id`, `structure`, `lead_id`; form fields of their own) are stored with the job,
list it under its claim, and are part of what identifies the input. A key outside
the org's prefix is 403 (decided from the key alone), a missing object 404, one over the limit 413.

The input is parsed, hashed, de-duplicated and analysed by `geometry.service`: in a worker process,
under the synchronous budget of `geometry.limits` (an input too large for it is 413 before any work,
and work that outgrows it is stopped and 413), and stopped when the client disconnects. The report
and a preview PNG are stored (job record + S3) and returned with its job id, 201. The same input in the
same org returns the existing job, 200. `GET` returns a job, or its preview, to its own org only;
any other caller gets 404.

`POST /v1/geometry/uploads` (JSON: file name, optional resolution and tags) is the way in for inputs
too large for a request: a job in `awaiting_upload` and a presigned POST for exactly its key under
`geometry-uploads/<org_id>/`, up to 500 MB. The object's arrival starts the job (an S3 event, to
GeometryJobsFunction: this image with more memory and time; the dev server calls the same handler),
analysed under the job's budget with its progress in the job record; `GET /v1/geometry/{job_id}` shows
its status and progress, and its report once done.

The multipart body is parsed by shared.forms (lossless for binary parts).

No `from __future__ import annotations`: FastAPI reads the route functions' annotations.
"""

import logging
from collections.abc import Callable, Coroutine
from pathlib import PurePath
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from geometry import work
from geometry.jobs import NO_JOB, UPLOADS, GeometryJobs, JobIndex
from geometry.limits import JOB_LIMITS, MAX_JOB_UPLOAD_BYTES, SYNC_LIMITS
from geometry.service import (
    Analyser,
    Analysis,
    AnalysisInput,
    S3Fields,
    S3Input,
    analysis_input,
    body_limit,
    bounded,
    run_upload,
    serve,
)
from shared.deployment import FunctionSpec, Handler, Uploads
from shared.docs import form_fields, request_body
from shared.errors import InvalidInput, NotFound, error_responses
from shared.forms import MULTIPART_SLACK_BYTES, read_body
from shared.http import JSON_BODY_ERRORS, JsonRoute, org_id_of, request_id_of
from shared.jobs import JobTags
from shared.objects import megabytes
from shared.runtime import Clients, once
from shared.uploads import UPLOAD_EXPIRES_S, safe_name
from shared.workers import ClientGone, preload

logger = logging.getLogger(__name__)

Env = Literal["local", "aws"]
JobsProvider = Callable[[], GeometryJobs]
IndexProvider = Callable[[], JobIndex]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the whole multipart body, or the S3 object
CLIENT_CLOSED = 499  # nginx's status for a request whose client left first: logged, never read
NPY_RESOLUTION = "`resolution` (metres per pixel) is required for a .npy upload: an array has no pixel size."


class UploadRequest(BaseModel):
    """The offer of a presigned upload. No tenant field: the org comes from the caller."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="the file's name (its suffix: .tif, .npy, .laz, ...)")
    resolution: float | None = Field(None, gt=0, description="metres per pixel; required for .npy")
    tags: JobTags = Field(default_factory=JobTags)


async def read_input(request: Request, jobs: GeometryJobs, org_id: str, limit: int) -> AnalysisInput:
    """The request's body, read up to what its media type may carry, as the analysis input."""
    content_type = request.headers.get("content-type", "")
    body = await read_body(request, body_limit(content_type, limit))
    return await analysis_input(content_type, body, jobs, org_id, limit)


def geometry_router(
    jobs: JobsProvider,
    env: Env,
    *,
    index: IndexProvider | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    analyse: Analyser | None = None,
    upload_url: Callable[[Request], str] | None = None,
) -> APIRouter:
    """The routes. `index` gives the engine's store; without it (or while it cannot be built), identical
    input is found through DynamoDB only, and shared within this process only. `analyse` runs an
    analysis (by default in a worker process under the synchronous budget). `upload_url`: where clients
    post presigned uploads instead of S3 itself (the dev server, which forwards them to its embedded S3
    and then runs the job, as S3's event would)."""
    router = APIRouter(tags=["Geometry"], route_class=JsonRoute)
    process_only = JobIndex.process_only()
    preload(*work.MODULES)  # named before any worker starts: every worker then starts with them
    analyser = analyse or bounded()

    async def job_index() -> JobIndex:
        if index is None:
            return process_only
        try:  # off the event loop: building it may read the Upstash token from Secrets Manager
            return await anyio.to_thread.run_sync(index)
        except Exception:
            logger.warning("geometry: the store could not be built; serving without it", exc_info=True)
            return process_only

    @router.post(
        "/v1/geometry/analyze",
        status_code=201,
        summary="Roof planes, pitches and areas from a DSM or point cloud (an upload or an S3 key)",
        description=(
            "multipart/form-data: `file` (GeoTIFF or .npy DSM, x y z text, LAS/LAZ) or `s3_key` (an object "
            "under the caller's `orgs/<org_id>/`), optional `mask` (roof mask on the DSM's grid), optional "
            "`resolution` (metres per pixel; required for .npy). Or application/json "
            '`{"s3_key": ..., "resolution": ...}`. At most '
            f"{megabytes(max_upload_bytes)}. 201 with a new job; 200 with the existing job for identical input "
            "(`X-Dominus-Cache`: `hit`, or `shared` when an identical request in flight made it). A key outside "
            "the org's prefix is 403; a missing object 404; one over the limit 413. The analysis must fit the "
            f"synchronous budget ({SYNC_LIMITS.max_cells:,} cells, {SYNC_LIMITS.budget.seconds:g} s): a larger "
            "input is 413 `work_budget_exceeded` before any work, and so is one whose analysis outgrows it."
        ),
        operation_id="geometry_analyze",
        responses={
            200: {"description": "The same input was analysed before: its job"},
            **error_responses(400, 403, 404, 413, 415, 422),
        },
        openapi_extra=request_body(
            {
                "multipart/form-data": form_fields(
                    S3Fields,
                    JobTags,
                    file="a DSM (GeoTIFF or .npy), x y z text or LAS/LAZ; or name an object with `s3_key` instead",
                    mask="optional: a roof mask on the DSM's grid",
                ),
                "application/json": S3Input,
                "application/x-www-form-urlencoded": form_fields(S3Fields, JobTags),
            }
        ),
    )
    async def analyze(request: Request) -> Response:
        org_id = org_id_of(request, env)
        store = await anyio.to_thread.run_sync(jobs)
        source = await read_input(request, store, org_id, max_upload_bytes)
        try:
            served = await serve(store, await job_index(), org_id, source, Analysis(analyser, request.is_disconnected))
        except ClientGone:  # its analysis was stopped; nobody is there to read an answer
            return Response(status_code=CLIENT_CLOSED, headers={"X-Request-Id": request_id_of(request)})
        headers = {"X-Request-Id": request_id_of(request), "X-Dominus-Cache": served.cache.value}
        body = {"job_id": served.job_id, "tags": source.tags.stored(), "report": served.report}
        return JSONResponse(body, served.status, headers)

    @router.post(
        "/v1/geometry/uploads",
        status_code=201,
        summary="A presigned upload that starts a geometry job (an input too large for a request)",
        description=(
            "JSON: `name` (the file's name), `resolution` (metres per pixel; required for .npy), `tags`. 201 with "
            "a job in `awaiting_upload` and a presigned POST (`upload`: `url`, `fields`, `key`) for exactly "
            f"`geometry-uploads/<org_id>/<job_id>/<name>`, at most {megabytes(MAX_JOB_UPLOAD_BYTES)}: post the "
            "fields unchanged, with the file as `file`. The upload starts the job; `GET /v1/geometry/{job_id}` "
            "shows its status and progress, and its report once done. The analysis must fit the job's budget "
            f"({JOB_LIMITS.max_cells:,} cells, {JOB_LIMITS.budget.seconds:g} s): else the job fails, saying why."
        ),
        operation_id="geometry_upload",
        responses=error_responses(*JSON_BODY_ERRORS),
    )
    async def create_upload(request: Request, body: UploadRequest) -> JSONResponse:
        org_id = org_id_of(request, env)
        name = safe_name(body.name, UPLOADS.fallback)
        if PurePath(name).suffix.lower() == ".npy" and body.resolution is None:
            raise InvalidInput(NPY_RESOLUTION)
        store = await anyio.to_thread.run_sync(jobs)
        job_id = await anyio.to_thread.run_sync(store.open, org_id, name, body.tags)

        def offer() -> dict[str, Any]:
            return store.presigned_upload(
                org_id, job_id, name, resolution=body.resolution, tags=body.tags, max_bytes=MAX_JOB_UPLOAD_BYTES
            )

        upload = await anyio.to_thread.run_sync(offer)
        if upload_url is not None:
            upload["url"] = upload_url(request)
        reply = {
            "job_id": job_id,
            "status": "awaiting_upload",
            "upload": upload,
            "max_bytes": MAX_JOB_UPLOAD_BYTES,
            "expires_in_s": UPLOAD_EXPIRES_S,
            "job_url": f"/v1/geometry/{job_id}",
        }
        return JSONResponse(reply, status_code=201, headers={"X-Request-Id": request_id_of(request)})

    @router.get(
        "/v1/geometry/{job_id}",
        summary="A geometry job: its report; an upload's job, its status and progress too (the caller's org only)",
        operation_id="geometry_job",
        responses=error_responses(404, 422),
    )
    async def job(request: Request, job_id: str) -> JSONResponse:
        org_id = org_id_of(request, env)
        store = await anyio.to_thread.run_sync(jobs)
        record = await anyio.to_thread.run_sync(store.record, org_id, job_id)
        headers = {"X-Request-Id": request_id_of(request)}
        if record is not None and store.is_upload_job(record):
            return JSONResponse(await anyio.to_thread.run_sync(store.view, record), headers=headers)
        report = await anyio.to_thread.run_sync(store.get, org_id, job_id) if record is not None else None
        if record is None or report is None:
            raise NotFound(NO_JOB)
        body = {"job_id": job_id, "tags": dict(record.tags or {}), "report": report}
        return JSONResponse(body, headers=headers)

    @router.get(
        "/v1/geometry/{job_id}/preview.png",
        summary="A geometry job's preview: facets, letters and pitches over a hillshade (the caller's org only)",
        operation_id="geometry_preview",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "The preview PNG"}, **error_responses(404, 422)},
    )
    async def preview(request: Request, job_id: str) -> Response:
        org_id = org_id_of(request, env)
        store = await anyio.to_thread.run_sync(jobs)
        png = await anyio.to_thread.run_sync(store.preview, org_id, job_id)
        headers = {"X-Request-Id": request_id_of(request), "Cache-Control": "private, max-age=3600"}
        return Response(png, media_type="image/png", headers=headers)

    return router


def geometry_jobs(clients: Clients) -> JobsProvider:
    return clients.job_store(GeometryJobs)


def routers(clients: Clients) -> list[APIRouter]:
    """The routes on the jobs, with the engine's store in front of the index."""
    settings = clients.settings
    index = once(lambda: JobIndex.configured(clients.store(), settings))
    return [geometry_router(geometry_jobs(clients), settings.dominus_env, index=index, upload_url=clients.upload_url)]


def upload_handler(clients: Clients) -> Handler:
    """S3 ObjectCreated records under `geometry-uploads/`: each upload's job, once (shared.uploads)."""
    from shared.uploads import UploadHandler  # Powertools: loaded with the first upload event

    jobs = geometry_jobs(clients)

    def job(bucket: str, key: str, request_id: str) -> Coroutine[Any, Any, dict[str, Any]]:
        return run_upload(bucket, key, jobs=jobs())

    table = clients.settings.dominus_idempotency_table
    return UploadHandler(job, table, clients.dynamodb, run=clients.run)


SPEC = FunctionSpec(
    "geometry",
    "Geometry",
    routers,
    max_body_bytes=MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES,
    uploads=Uploads(upload_handler, UPLOADS.prefix, max_bytes=MAX_JOB_UPLOAD_BYTES),
)
