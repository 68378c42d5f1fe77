"""The geometry function's HTTP surface: `POST /v1/geometry/analyze`, `GET /v1/geometry/{job_id}` and
`GET /v1/geometry/{job_id}/preview.png`.

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

The multipart body is parsed by shared.forms (lossless for binary parts).

No `from __future__ import annotations`: FastAPI reads the route functions' annotations.
"""

import logging
from collections.abc import Callable
from typing import Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from geometry import work
from geometry.jobs import NO_JOB, GeometryJobs, JobIndex
from geometry.limits import SYNC_LIMITS
from geometry.service import (
    Analyser,
    Analysis,
    AnalysisInput,
    S3Fields,
    S3Input,
    analysis_input,
    body_limit,
    bounded,
    serve,
)
from shared.deployment import FunctionSpec
from shared.docs import form_fields, request_body
from shared.errors import NotFound, error_responses
from shared.forms import MULTIPART_SLACK_BYTES, read_body
from shared.http import JsonRoute, org_id_of, request_id_of
from shared.jobs import DynamoJobRepository, JobTags
from shared.objects import megabytes
from shared.runtime import Clients, once
from shared.workers import ClientGone, preload

logger = logging.getLogger(__name__)

Env = Literal["local", "aws"]
JobsProvider = Callable[[], GeometryJobs]
IndexProvider = Callable[[], JobIndex]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the whole multipart body, or the S3 object
CLIENT_CLOSED = 499  # nginx's status for a request whose client left first: logged, never read


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
) -> APIRouter:
    """The routes. `index` gives the engine's store; without it (or while it cannot be built), identical
    input is found through DynamoDB only, and shared within this process only. `analyse` runs an
    analysis (by default in a worker process under the synchronous budget)."""
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

    @router.get(
        "/v1/geometry/{job_id}",
        summary="A geometry job's report (the caller's org only)",
        operation_id="geometry_job",
        responses=error_responses(404, 422),
    )
    async def job(request: Request, job_id: str) -> JSONResponse:
        org_id = org_id_of(request, env)
        store = await anyio.to_thread.run_sync(jobs)
        record = await anyio.to_thread.run_sync(store.record, org_id, job_id)
        report = await anyio.to_thread.run_sync(store.get, org_id, job_id) if record is not None else None
        if record is None or report is None:
            raise NotFound(NO_JOB)
        body = {"job_id": job_id, "tags": dict(record.tags or {}), "report": report}
        return JSONResponse(body, headers={"X-Request-Id": request_id_of(request)})

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


def routers(clients: Clients) -> list[APIRouter]:
    """The routes on the jobs table and data bucket, with the engine's store in front of the index."""
    settings = clients.settings
    records = DynamoJobRepository(clients.dynamodb, settings.dominus_jobs_table)
    jobs = once(lambda: GeometryJobs(records, clients.s3(), settings.dominus_bucket, events=clients.events()))
    index = once(lambda: JobIndex.configured(clients.store(), settings))
    return [geometry_router(jobs, settings.dominus_env, index=index)]


SPEC = FunctionSpec("geometry", "Geometry", routers, max_body_bytes=MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES)
