"""The geometry function's HTTP surface: `POST /v1/geometry/analyze` and `GET /v1/geometry/{job_id}`.

`POST` takes multipart/form-data: `file` (a DSM GeoTIFF or `.npy`, or a point cloud: x y z text,
LAS/LAZ), optional `mask` (a roof mask on the DSM's grid) and optional `resolution` (metres per
pixel; required for `.npy`). The analysis runs in a worker thread; the report is stored (job record +
S3 JSON) and returned with its job id, 201. The same input (file, mask and resolution) in the same org
returns the existing job, 200. `GET` returns a job to its own org only; any other caller gets 404.

The multipart body is parsed here (a few lines, lossless for binary parts) rather than through
python-multipart, which neither the shared layer nor this function otherwise needs.

No `from __future__ import annotations`: FastAPI reads the route functions' annotations.
"""

import hashlib
import logging
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from pathlib import Path
from typing import Any, Literal

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from geometry.jobs import GeometryJobs
from shared.errors import BadRequest, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from shared.http import org_id_of, request_id_of

logger = logging.getLogger(__name__)

Env = Literal["local", "aws"]
JobsProvider = Callable[[], GeometryJobs]

MAX_UPLOAD_BYTES = 50 * 1024 * 1024  # the whole multipart body
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$")


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    data: bytes


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 (naming the limit) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    too_large = PayloadTooLarge(f"The upload is larger than the {_megabytes(limit)} limit ({limit:,} bytes).")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def parse_multipart(content_type: str, body: bytes) -> list[Part]:
    """The parts of a multipart/form-data body (RFC 7578), their bytes untouched."""
    header = HeaderParser().parsestr(f"Content-Type: {content_type}\r\n\r\n")
    if header.get_content_type() != "multipart/form-data":
        raise UnsupportedMediaType(
            "Send the upload as multipart/form-data with a `file` field (and optional `mask`, `resolution`)."
        )
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not _BOUNDARY.fullmatch(boundary):
        raise BadRequest("The multipart/form-data Content-Type has no valid boundary.")
    delimiter = b"\r\n--" + boundary.encode("ascii")
    sections = (b"\r\n" + body).split(delimiter)
    parts: list[Part] = []
    closed = False
    for section in sections[1:]:  # sections[0] is the preamble
        if section.startswith(b"--"):
            closed = True
            break
        head, sep, data = section.partition(b"\r\n\r\n")
        if not sep:
            raise BadRequest("A multipart part has no header/body separator.")
        headers: Message = HeaderParser().parsestr(head.lstrip(b" \t").removeprefix(b"\r\n").decode("utf-8", "replace"))
        if headers.get_content_disposition() != "form-data":
            raise BadRequest("Every multipart part needs `Content-Disposition: form-data; name=...`.")
        name = headers.get_param("name", header="content-disposition")
        if not isinstance(name, str) or not name:
            raise BadRequest("A multipart part has no field name.")
        parts.append(Part(name, headers.get_filename(), data))
    if not closed:
        raise BadRequest("The multipart body is cut short (no closing boundary).")
    return parts


def _field(parts: list[Part], name: str) -> Part | None:
    found = [p for p in parts if p.name == name]
    if len(found) > 1:
        raise BadRequest(f"The form field `{name}` is given {len(found)} times; send it once.")
    return found[0] if found else None


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


def analyze_upload(file: Part, mask: Part | None, resolution: float | None) -> dict[str, Any]:
    """The contract report for an upload (blocking: run it in a worker thread)."""
    from geometry.analysis import analyze_file  # numpy/OpenCV: loaded on the first analysis

    with tempfile.TemporaryDirectory(prefix="dominus-geometry-") as folder:
        path = Path(folder) / f"input{_suffix(file.filename)}"
        path.write_bytes(file.data)
        mask_path = None
        if mask is not None:
            mask_path = Path(folder) / f"mask{_suffix(mask.filename)}"
            mask_path.write_bytes(mask.data)
        report: dict[str, Any] = analyze_file(path, resolution=resolution, mask=mask_path).report.to_json()
        return report


def geometry_router(jobs: JobsProvider, env: Env, *, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> APIRouter:
    router = APIRouter(tags=["Geometry"])

    @router.post(
        "/v1/geometry/analyze",
        status_code=201,
        summary="Roof planes, pitches and areas from a DSM or point cloud upload",
        description=(
            "multipart/form-data: `file` (GeoTIFF or .npy DSM, x y z text, LAS/LAZ), optional `mask` (roof "
            f"mask on the DSM's grid), optional `resolution` (metres per pixel; required for .npy). At most "
            f"{_megabytes(max_upload_bytes)}. 201 with a new job; 200 with the existing job for identical input."
        ),
        operation_id="geometry_analyze",
        responses={200: {"description": "The same input was analysed before: its job"}},
    )
    async def analyze(request: Request) -> JSONResponse:
        org_id = org_id_of(request, env)
        request_id = request_id_of(request)
        parts = parse_multipart(request.headers.get("content-type", ""), await read_body(request, max_upload_bytes))
        file = _field(parts, "file")
        if file is None or not file.data:
            raise InvalidInput("The form field `file` (the DSM or point cloud) is missing or empty.")
        mask = _field(parts, "mask")
        if mask is not None and not mask.data:
            mask = None
        resolution = _resolution(_field(parts, "resolution"))
        sha = input_sha256(file, mask, resolution)
        store = jobs()
        headers = {"X-Request-Id": request_id}

        existing = await anyio.to_thread.run_sync(store.find, org_id, sha)
        if existing is not None:
            report = await anyio.to_thread.run_sync(store.get, org_id, existing)
            if report is not None:
                return JSONResponse({"job_id": existing, "report": report}, 200, headers | {"X-Dominus-Cache": "hit"})

        report = await anyio.to_thread.run_sync(analyze_upload, file, mask, resolution)
        name = Path(file.filename or "upload").name

        def create() -> str:
            return store.create(org_id, input_sha256=sha, input_name=name, report=report)

        job_id = await anyio.to_thread.run_sync(create)
        logger.info("geometry job %s: %s facets", job_id, report.get("totals", {}).get("facets"))
        return JSONResponse({"job_id": job_id, "report": report}, 201, headers | {"X-Dominus-Cache": "miss"})

    @router.get(
        "/v1/geometry/{job_id}",
        summary="A geometry job's report (the caller's org only)",
        operation_id="geometry_job",
    )
    async def job(request: Request, job_id: str) -> JSONResponse:
        org_id = org_id_of(request, env)
        report = await anyio.to_thread.run_sync(jobs().get, org_id, job_id)
        if report is None:
            raise NotFound("No geometry job with that id in this org.")
        return JSONResponse({"job_id": job_id, "report": report}, headers={"X-Request-Id": request_id_of(request)})

    return router
