"""The geometry function's HTTP surface: `POST /v1/geometry/analyze`, `GET /v1/geometry/{job_id}` and
`GET /v1/geometry/{job_id}/preview.png`.

`POST` takes either multipart/form-data: `file` (a DSM GeoTIFF or `.npy`, or a point cloud: x y z
text, LAS/LAZ) or `s3_key` (an object under the caller's own `orgs/<org_id>/`), optional `mask` (a
roof mask on the DSM's grid) and optional `resolution` (metres per pixel; required for `.npy`); or
JSON `{"s3_key": ..., "resolution": ...}` (or those two fields as a url-encoded form). A key outside
the org's prefix is 403 (decided from the key alone), a missing object 404, one over the limit 413.

The analysis runs in a worker thread; the report and a preview PNG are stored (job record + S3) and
returned with its job id, 201. A preview that fails is logged and left out; the job stands. The same
input (content, mask and resolution) in the same org returns the existing job, 200: found through the
engine's store, else the DynamoDB index; identical concurrent requests share one analysis. `GET`
returns a job, or its preview, to its own org only; any other caller gets 404.

The multipart body is parsed by shared.forms (lossless for binary parts).

No `from __future__ import annotations`: FastAPI reads the route functions' annotations.
"""

import hashlib
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl

import anyio
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geometry.jobs import NO_JOB, GeometryJobs, JobIndex
from shared.deployment import FunctionSpec
from shared.docs import form_fields, request_body
from shared.errors import BadRequest, InvalidInput, NotFound, error_responses
from shared.forms import MULTIPART_SLACK_BYTES, Part, form_field, parse_multipart, read_body
from shared.http import org_id_of, request_id_of
from shared.objects import MAX_KEY_LENGTH, megabytes
from shared.outcomes import CacheOutcome
from shared.runtime import Clients, once

if TYPE_CHECKING:
    from geometry.analysis import RoofAnalysis

logger = logging.getLogger(__name__)

Env = Literal["local", "aws"]
JobsProvider = Callable[[], GeometryJobs]
IndexProvider = Callable[[], JobIndex]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the whole multipart body, or the S3 object
MAX_REFERENCE_BYTES = 16_000  # a JSON or url-encoded body names an S3 key; it carries no data
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
_MEDIA_TYPES = (
    "Send multipart/form-data with a `file` (or `s3_key`) field and optional `mask` and `resolution`; "
    'or application/json {"s3_key": ..., "resolution": ...} (or the same as a url-encoded form).'
)


def _resolution(part: Part | None) -> float | None:
    if part is None:
        return None
    text = part.data.decode("utf-8", "replace").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"`resolution` must be a number of metres per pixel, not {text[:40]!r}.") from None


def _local_name(filename: str | None, fallback: str) -> str:
    """The upload's own name, made safe for a temporary folder, so an error about the file names the
    file the user sent; its suffix is what the readers go by."""
    stem = _UNSAFE.sub("_", Path(filename or "").stem)[:80].strip("._") or fallback
    return f"{stem}{_suffix(filename)}"


def _place(folder: Path, name: str) -> Path:
    """A path in its own folder: the file and the mask may carry the same name."""
    folder.mkdir()
    return folder / name


def _suffix(filename: str | None) -> str:
    suffix = Path(filename or "").suffix.lower()
    return suffix if _SUFFIX.fullmatch(suffix) else ""


def input_sha256(file: Part, mask: Part | None, resolution: float | None) -> str:
    """One hash for everything that decides the result: the file's bytes and suffix, the mask, the
    resolution."""
    digest = hashlib.sha256()
    for label, part in (("file", file), ("mask", mask)):
        digest.update(label.encode() + b"\0")
        if part is not None:
            digest.update(_suffix(part.filename).encode() + b"\0")
            digest.update(hashlib.sha256(part.data).digest())
    digest.update(b"resolution\0" + (repr(resolution) if resolution is not None else "-").encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class AnalysisInput:
    """What one analysis reads, however it arrived."""

    file: Part
    mask: Part | None
    resolution: float | None
    name: str  # for the job record: the upload's file name, or the S3 key


class S3Input(BaseModel):
    """The JSON form of `POST /v1/geometry/analyze`. No tenant field: the org comes from the caller."""

    model_config = ConfigDict(extra="forbid")

    s3_key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH, description="an object under orgs/<org_id>/")
    resolution: float | None = Field(None, description="metres per pixel; required for .npy")


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _s3_input(body: bytes) -> S3Input:
    try:
        return S3Input.model_validate_json(body)
    except ValidationError as exc:
        # The shared handler words validation errors; it expects FastAPI's `body` location first.
        raise RequestValidationError([{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]) from None


async def _from_s3(
    jobs: GeometryJobs, org_id: str, key: str, mask: Part | None, resolution: float | None, limit: int
) -> AnalysisInput:
    data = await anyio.to_thread.run_sync(jobs.read_input, org_id, key, limit)
    if not data:
        raise InvalidInput(f"The object at `s3_key` {key!r} is empty.")
    return AnalysisInput(Part("file", key, data), mask, resolution, key)


def parse_urlencoded(body: bytes) -> list[Part]:
    """The fields of an application/x-www-form-urlencoded body (a plain HTML form naming `s3_key`)."""
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form body is not valid application/x-www-form-urlencoded UTF-8.") from None
    return [Part(name, None, value.encode()) for name, value in fields]


async def read_input(request: Request, jobs: GeometryJobs, org_id: str, limit: int) -> AnalysisInput:
    """The analysis input from a multipart upload, a form's `s3_key`, or a JSON `s3_key`."""
    content_type = request.headers.get("content-type", "")
    media_type = _media_type(content_type)
    if media_type == "application/json":
        body = _s3_input(await read_body(request, MAX_REFERENCE_BYTES))
        return await _from_s3(jobs, org_id, body.s3_key, None, body.resolution, limit)
    if media_type == "application/x-www-form-urlencoded":
        parts = parse_urlencoded(await read_body(request, MAX_REFERENCE_BYTES))
    else:
        parts = parse_multipart(content_type, await read_body(request, limit), _MEDIA_TYPES)
    return await _from_form(parts, jobs, org_id, limit)


async def _from_form(parts: list[Part], jobs: GeometryJobs, org_id: str, limit: int) -> AnalysisInput:
    file, key = form_field(parts, "file"), form_field(parts, "s3_key")
    mask = form_field(parts, "mask")
    mask = mask if mask is not None and mask.data else None
    resolution = _resolution(form_field(parts, "resolution"))
    if key is not None:
        if file is not None:
            raise InvalidInput("Send either the form field `file` or `s3_key`, not both.")
        return await _from_s3(jobs, org_id, key.data.decode("utf-8", "replace").strip(), mask, resolution, limit)
    if file is None or not file.data:
        raise InvalidInput("The form field `file` (the DSM or point cloud) or `s3_key` is missing or empty.")
    return AnalysisInput(file, mask, resolution, Path(file.filename or "upload").name)


@dataclass(frozen=True)
class Analysed:
    report: dict[str, Any]
    preview: bytes | None  # None when it could not be rendered


def preview_png(analysis: "RoofAnalysis") -> bytes | None:
    """The preview PNG, or None: a preview that fails is logged and never fails the job."""
    try:
        from geometry import preview  # OpenCV drawing: loaded with the first analysis

        return preview.render_preview(analysis)
    except Exception:
        logger.warning("geometry preview failed; the job is stored without one", exc_info=True)
        return None


def analyze_input(source: AnalysisInput) -> Analysed:
    """The contract report and its preview (blocking: run it in a worker thread)."""
    from geometry.analysis import analyze_file  # numpy/OpenCV: loaded on the first analysis

    with tempfile.TemporaryDirectory(prefix="dominus-geometry-") as folder:
        path = _place(Path(folder) / "input", _local_name(source.file.filename, "input"))
        path.write_bytes(source.file.data)
        mask_path = None
        if source.mask is not None:
            mask_path = _place(Path(folder) / "mask", _local_name(source.mask.filename, "mask"))
            mask_path.write_bytes(source.mask.data)
        analysis = analyze_file(path, resolution=source.resolution, mask=mask_path)
    return Analysed(analysis.report.to_json(), preview_png(analysis))


@dataclass(frozen=True)
class Served:
    job_id: str
    report: dict[str, Any]
    status: int  # 201: a new job; 200: an existing one
    cache: CacheOutcome


async def _find_or_analyse(jobs: GeometryJobs, org_id: str, source: AnalysisInput, sha: str) -> Served:
    """The job of an earlier identical input (the DynamoDB index), else a new analysis stored as a job."""
    existing = await anyio.to_thread.run_sync(jobs.find, org_id, sha)
    if existing is not None:
        report = await anyio.to_thread.run_sync(jobs.get, org_id, existing)
        if report is not None:
            return Served(existing, report, 200, CacheOutcome.HIT)
    analysed = await anyio.to_thread.run_sync(analyze_input, source)

    def create() -> str:
        return jobs.create(
            org_id, input_sha256=sha, input_name=source.name, report=analysed.report, preview=analysed.preview
        )

    job_id = await anyio.to_thread.run_sync(create)
    logger.info("geometry job %s: %s facets", job_id, analysed.report.get("totals", {}).get("facets"))
    return Served(job_id, analysed.report, 201, CacheOutcome.MISS)


async def serve(jobs: GeometryJobs, index: JobIndex, org_id: str, source: AnalysisInput) -> Served:
    """The job for this input: from the store, else found or made once for all identical requests."""
    # Off the event loop: hashing a 50 MB input takes about a tenth of a second.
    sha = await anyio.to_thread.run_sync(input_sha256, source.file, source.mask, source.resolution)
    cached = await index.lookup(org_id, sha)
    if cached is not None:
        report = await anyio.to_thread.run_sync(jobs.get, org_id, cached)
        if report is not None:
            return Served(cached, report, 200, CacheOutcome.HIT)
    mine: list[Served] = []  # set only if this request ran the analysis (or the lookup) itself

    async def produce() -> str:
        served = await _find_or_analyse(jobs, org_id, source, sha)
        mine.append(served)
        await index.remember(org_id, sha, served.job_id)
        return served.job_id

    job_id = await index.once(org_id, sha, produce)
    if mine:
        return mine[0]
    report = await anyio.to_thread.run_sync(jobs.get, org_id, job_id)
    if report is None:  # the shared job vanished (expired) in between: find or make it here
        return await _find_or_analyse(jobs, org_id, source, sha)
    return Served(job_id, report, 200, CacheOutcome.SHARED)


def geometry_router(
    jobs: JobsProvider,
    env: Env,
    *,
    index: IndexProvider | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
) -> APIRouter:
    """The routes. `index` gives the engine's store; without it (or while it cannot be built), identical
    input is found through DynamoDB only, and shared within this process only."""
    router = APIRouter(tags=["Geometry"])
    process_only = JobIndex.process_only()

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
            "the org's prefix is 403; a missing object 404; one over the limit 413."
        ),
        operation_id="geometry_analyze",
        responses={
            200: {"description": "The same input was analysed before: its job"},
            **error_responses(400, 403, 404, 413, 415, 422),
        },
        openapi_extra=request_body(
            {
                "multipart/form-data": form_fields(
                    S3Input,
                    file="a DSM (GeoTIFF or .npy), x y z text or LAS/LAZ; or name an object with `s3_key` instead",
                    mask="optional: a roof mask on the DSM's grid",
                ),
                "application/json": S3Input,
                "application/x-www-form-urlencoded": S3Input,
            }
        ),
    )
    async def analyze(request: Request) -> JSONResponse:
        org_id = org_id_of(request, env)
        store = await anyio.to_thread.run_sync(jobs)
        source = await read_input(request, store, org_id, max_upload_bytes)
        served = await serve(store, await job_index(), org_id, source)
        headers = {"X-Request-Id": request_id_of(request), "X-Dominus-Cache": served.cache.value}
        return JSONResponse({"job_id": served.job_id, "report": served.report}, served.status, headers)

    @router.get(
        "/v1/geometry/{job_id}",
        summary="A geometry job's report (the caller's org only)",
        operation_id="geometry_job",
    )
    async def job(request: Request, job_id: str) -> JSONResponse:
        org_id = org_id_of(request, env)
        store = await anyio.to_thread.run_sync(jobs)
        report = await anyio.to_thread.run_sync(store.get, org_id, job_id)
        if report is None:
            raise NotFound(NO_JOB)
        return JSONResponse({"job_id": job_id, "report": report}, headers={"X-Request-Id": request_id_of(request)})

    @router.get(
        "/v1/geometry/{job_id}/preview.png",
        summary="A geometry job's preview: facets, letters and pitches over a hillshade (the caller's org only)",
        operation_id="geometry_preview",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "The preview PNG"}},
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
    jobs = once(
        lambda: GeometryJobs(clients.dynamodb(), clients.s3(), settings.dominus_jobs_table, settings.dominus_bucket)
    )
    index = once(lambda: JobIndex.configured(clients.store(), settings))
    return [geometry_router(jobs, settings.dominus_env, index=index)]


SPEC = FunctionSpec("geometry", "Geometry", routers, max_body_bytes=MAX_UPLOAD_BYTES + MULTIPART_SLACK_BYTES)
