"""The geometry jobs' work, apart from HTTP: the input (a multipart upload, or an S3 key named by a
form or a JSON body) made into one `AnalysisInput`, its content hash, the analysis, and the
de-duplication that answers identical input with its existing job (the engine's store first, then
the DynamoDB index; identical concurrent requests share one analysis). And the job an upload starts
(`run_upload`, on its S3 event): the same analysis under the job's budget, its progress recorded.

Collaborators come in as parameters (`GeometryJobs` for records and objects, `JobIndex` for the
store, an `Analyser` for the analysis); blocking I/O (hashing, S3 and DynamoDB) runs in worker
threads, and the analysis in a worker process under a budget (`bounded`), stopped when its client
leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import re
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

import anyio
from pydantic import BaseModel, ConfigDict, Field

from geometry.jobs import GONE, RESOLUTION_METADATA, UPLOADS, GeometryJobs, JobIndex, Progress, Stage
from geometry.limits import JOB_LIMITS, MAX_JOB_UPLOAD_BYTES, SYNC_LIMITS, InputSize, Limits, admit
from geometry.work import MODULES, Analysed, InputFiles, analyze_files
from shared.errors import BadRequest, DominusError, InvalidInput
from shared.forms import Part, form_field, form_tags, parse_multipart
from shared.http import parse_json_body
from shared.jobs import JobNotFound, JobTags
from shared.objects import MAX_KEY_LENGTH, too_large
from shared.outcomes import CacheOutcome
from shared.uploads import UploadRef
from shared.workers import Disconnected, WorkerFailed, run_bounded

T = TypeVar("T")

logger = logging.getLogger(__name__)

MAX_REFERENCE_BYTES = 16_000  # a JSON or url-encoded body names an S3 key; it carries no data
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
MEDIA_TYPES = (
    "Send multipart/form-data with a `file` (or `s3_key`) field and optional `mask`, `resolution` and tags "
    "(`claim_id`, `structure`, `lead_id`); "
    'or application/json {"s3_key": ..., "resolution": ..., "tags": {...}} (or the same as a url-encoded form).'
)
_REFERENCES = ("application/json", "application/x-www-form-urlencoded")
NO_TAGS = JobTags()


@dataclass(frozen=True)
class AnalysisInput:
    """What one analysis reads, however it arrived."""

    file: Part
    mask: Part | None
    resolution: float | None
    name: str  # for the job record: the upload's file name, or the S3 key
    tags: JobTags = NO_TAGS


class S3Fields(BaseModel):
    """The fields naming an object, as a form sends them (its tags are fields of their own)."""

    model_config = ConfigDict(extra="forbid")

    s3_key: str = Field(min_length=1, max_length=MAX_KEY_LENGTH, description="an object under orgs/<org_id>/")
    resolution: float | None = Field(None, description="metres per pixel; required for .npy")


class S3Input(S3Fields):
    """The JSON form of `POST /v1/geometry/analyze`. No tenant field: the org comes from the caller."""

    tags: JobTags = Field(default_factory=JobTags)


@dataclass(frozen=True)
class Served:
    job_id: str
    report: dict[str, Any]
    status: int  # 201: a new job; 200: an existing one
    cache: CacheOutcome


# ---- the input ------------------------------------------------------------------------------------


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def body_limit(content_type: str, upload_limit: int) -> int:
    """How much of the body to read: a reference body names a key; a multipart one carries the data."""
    return MAX_REFERENCE_BYTES if media_type(content_type) in _REFERENCES else upload_limit


async def analysis_input(content_type: str, body: bytes, jobs: GeometryJobs, org_id: str, limit: int) -> AnalysisInput:
    """The analysis input from a multipart upload, a form's `s3_key`, or a JSON `s3_key` (the object
    read from the org's own prefix, at most `limit` bytes)."""
    kind = media_type(content_type)
    if kind == "application/json":
        reference = parse_json_body(S3Input, body)
        found = await _from_s3(jobs, org_id, reference.s3_key, None, reference.resolution, limit)
        return replace(found, tags=reference.tags)
    if kind == "application/x-www-form-urlencoded":
        parts = parse_urlencoded(body)
    else:
        parts = parse_multipart(content_type, body, MEDIA_TYPES)
    found = await _from_form(parts, jobs, org_id, limit)
    return replace(found, tags=form_tags(parts, JobTags))


def parse_urlencoded(body: bytes) -> list[Part]:
    """The fields of an application/x-www-form-urlencoded body (a plain HTML form naming `s3_key`)."""
    try:
        fields = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("The form body is not valid application/x-www-form-urlencoded UTF-8.") from None
    return [Part(name, None, value.encode()) for name, value in fields]


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


async def _from_s3(
    jobs: GeometryJobs, org_id: str, key: str, mask: Part | None, resolution: float | None, limit: int
) -> AnalysisInput:
    data = await anyio.to_thread.run_sync(jobs.read_input, org_id, key, limit)
    if not data:
        raise InvalidInput(f"The object at `s3_key` {key!r} is empty.")
    return AnalysisInput(Part("file", key, data), mask, resolution, key)


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


def _suffix(filename: str | None) -> str:
    suffix = Path(filename or "").suffix.lower()
    return suffix if _SUFFIX.fullmatch(suffix) else ""


@dataclass(frozen=True)
class Hashed:
    """A file as the input's hash sees it: its name (for the suffix) and its bytes' SHA-256 digest."""

    filename: str | None
    sha256: bytes

    @classmethod
    def of(cls, part: Part) -> Hashed:
        return cls(part.filename, hashlib.sha256(part.data).digest())


def input_sha256(file: Part, mask: Part | None, resolution: float | None, tags: JobTags = NO_TAGS) -> str:
    """One hash for everything that decides the result: the file's bytes and suffix, the mask, the
    resolution; and the tags, so the same roof sent for another claim is that claim's own job."""
    return hashed_input_sha256(Hashed.of(file), Hashed.of(mask) if mask is not None else None, resolution, tags)


def hashed_input_sha256(file: Hashed, mask: Hashed | None, resolution: float | None, tags: JobTags = NO_TAGS) -> str:
    """`input_sha256` of files already hashed (an upload hashed as it streamed to disk): the same value
    for the same input, however it arrived."""
    digest = hashlib.sha256()
    for label, part in (("file", file), ("mask", mask)):
        digest.update(label.encode() + b"\0")
        if part is not None:
            digest.update(_suffix(part.filename).encode() + b"\0")
            digest.update(part.sha256)
    digest.update(b"resolution\0" + (repr(resolution) if resolution is not None else "-").encode())
    if tags.stored():
        digest.update(b"tags\0" + json.dumps(tags.stored(), sort_keys=True).encode())
    return digest.hexdigest()


# ---- the analysis ---------------------------------------------------------------------------------


def local_name(filename: str | None, fallback: str) -> str:
    """The upload's own name, made safe for a temporary folder, so an error about the file names the
    file the user sent; its suffix is what the readers go by."""
    stem = _UNSAFE.sub("_", Path(filename or "").stem)[:80].strip("._") or fallback
    return f"{stem}{_suffix(filename)}"


def _place(folder: Path, name: str) -> Path:
    """A path in its own folder: the file and the mask may carry the same name."""
    folder.mkdir()
    return folder / name


def write_input(source: AnalysisInput, folder: Path) -> InputFiles:
    """The input and its mask as files in `folder`, under the names the user gave them (so an error
    about a file names it), for the worker to read."""
    path = _place(folder / "input", local_name(source.file.filename, "input"))
    path.write_bytes(source.file.data)
    mask_path = None
    if source.mask is not None:
        mask_path = _place(folder / "mask", local_name(source.mask.filename, "mask"))
        mask_path.write_bytes(source.mask.data)
    return InputFiles(path, mask_path, source.resolution)


class Analyser(Protocol):
    """The analysis of one input; stopped (ClientGone) when `gone()` says its client left."""

    async def __call__(self, source: AnalysisInput, gone: Disconnected) -> Analysed: ...


async def admit_files(files: InputFiles, limits: Limits) -> InputSize:
    """The input's size, read from its header; 413 (`work_budget_exceeded`) when it says the input would
    not fit `limits`, before any worker starts."""
    from geometry.readers import input_size  # numpy: loaded with the first analysis

    size = await anyio.to_thread.run_sync(input_size, files.file)
    admit(files.file.name, size, limits)
    return size


async def run_analysis(files: InputFiles, limits: Limits, gone: Disconnected | None = None) -> Analysed:
    """The analysis in a worker process under `limits.budget` (stopped when `gone()` says so)."""
    return await run_bounded(analyze_files, (files, limits.max_cells), limits.budget, gone=gone, modules=MODULES)


def bounded(limits: Limits = SYNC_LIMITS) -> Analyser:
    """The analysis in a worker process under `limits.budget`; an input whose size (read from its
    header) says it would not fit is refused with 413 before any worker starts."""

    async def analyse(source: AnalysisInput, gone: Disconnected) -> Analysed:
        with tempfile.TemporaryDirectory(prefix="dominus-geometry-") as folder:
            files = await anyio.to_thread.run_sync(write_input, source, Path(folder))
            await admit_files(files, limits)
            return await run_analysis(files, limits, gone)

    return analyse


# ---- one job per input ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Analysis:
    """How this request's input is analysed, and how to tell that its client left."""

    analyse: Analyser
    gone: Disconnected


async def _find_or_analyse(jobs: GeometryJobs, org_id: str, source: AnalysisInput, sha: str, how: Analysis) -> Served:
    """The job of an earlier identical input (the DynamoDB index), else a new analysis stored as a job."""
    existing = await anyio.to_thread.run_sync(jobs.find, org_id, sha)
    if existing is not None:
        report = await anyio.to_thread.run_sync(jobs.get, org_id, existing)
        if report is not None:
            return Served(existing, report, 200, CacheOutcome.HIT)
    analysed = await how.analyse(source, how.gone)

    def create() -> str:
        return jobs.create(
            org_id,
            input_sha256=sha,
            input_name=source.name,
            report=analysed.report,
            preview=analysed.preview,
            tags=source.tags,
        )

    job_id = await anyio.to_thread.run_sync(create)
    logger.info("geometry job %s: %s facets", job_id, analysed.report.get("totals", {}).get("facets"))
    return Served(job_id, analysed.report, 201, CacheOutcome.MISS)


async def serve(jobs: GeometryJobs, index: JobIndex, org_id: str, source: AnalysisInput, how: Analysis) -> Served:
    """The job for this input: from the store, else found or made once for all identical requests.
    Raises ClientGone when the client left while its analysis ran (the analysis is stopped, and an
    identical request waiting on it runs it anew)."""
    # Off the event loop: hashing a 50 MB input takes about a tenth of a second.
    sha = await anyio.to_thread.run_sync(input_sha256, source.file, source.mask, source.resolution, source.tags)
    cached = await index.lookup(org_id, sha)
    if cached is not None:
        report = await anyio.to_thread.run_sync(jobs.get, org_id, cached)
        if report is not None:
            return Served(cached, report, 200, CacheOutcome.HIT)
    mine: list[Served] = []  # set only if this request ran the analysis (or the lookup) itself

    async def produce() -> str:
        served = await _find_or_analyse(jobs, org_id, source, sha, how)
        mine.append(served)
        await index.remember(org_id, sha, served.job_id)
        return served.job_id

    job_id = await index.once(org_id, sha, produce)
    if mine:
        return mine[0]
    report = await anyio.to_thread.run_sync(jobs.get, org_id, job_id)
    if report is None:  # the shared job vanished (expired) in between: find or make it here
        return await _find_or_analyse(jobs, org_id, source, sha, how)
    return Served(job_id, report, 200, CacheOutcome.SHARED)


# ---- the job an upload starts ---------------------------------------------------------------------

HEARTBEAT_S = 10.0  # while it analyses, a job's progress (and updated_at) moves at least this often
INTERNAL = "An internal error stopped the job; it will be retried."
FileAnalyser = Callable[[InputFiles, Limits], Awaitable[Analysed]]


def upload_resolution(name: str, metadata: Mapping[str, str]) -> float | None:
    """The resolution the upload's offer carried (its object's metadata), if any."""
    text = metadata.get(RESOLUTION_METADATA, "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{name}: its `resolution` ({text[:40]!r}) is not a number of metres per pixel.") from None


def worker_failed(name: str) -> str:
    """The reason of a job whose analysis died on something no domain check names (a corrupt file a
    reader did not foresee, say): what to check and do, never the trace (that is in the log)."""
    return (
        f"{name} could not be analysed: the analysis stopped on an unexpected error. Check that it is a DSM "
        "(GeoTIFF or .npy) or a point cloud (x y z text, LAS/LAZ) that opens elsewhere, and upload it again; "
        "if it does, send us the job id."
    )


class _Tracker:
    """One job's progress: each stage written as it begins, the analysis's share as it goes."""

    def __init__(self, jobs: GeometryJobs, ref: UploadRef, progress: Progress) -> None:
        self.jobs, self.ref, self.progress = jobs, ref, progress

    async def enter(self, stage: Stage) -> None:
        self.progress = self.progress.enter(stage, self.jobs.clock())
        await anyio.to_thread.run_sync(self.jobs.progress, self.ref.org_id, self.ref.job_id, self.progress)

    async def analysing(self, elapsed_s: float, estimate_s: float) -> None:
        """Within `analysing` by the share of its estimated time gone (an estimate from the input's size
        at measured costs, which overshoot most roofs: the bar then jumps at the end, never back)."""
        share = min(1.0, elapsed_s / estimate_s) if estimate_s > 0 else 0.0
        self.progress = self.progress.advanced(30 + math.floor(60 * share))
        try:
            await anyio.to_thread.run_sync(self.jobs.progress, self.ref.org_id, self.ref.job_id, self.progress)
        except Exception:  # progress is a courtesy: the analysis goes on without it
            logger.warning("geometry job %s: its progress could not be written", self.ref.job_id, exc_info=True)


async def with_heartbeat(work: Awaitable[T], beat: Callable[[float], Awaitable[None]], every_s: float) -> T:
    """`work`'s result; meanwhile `beat(seconds elapsed)` every `every_s`. A beat under way when the
    work ends is let finish, never cut off, so it cannot land after what the caller writes next."""
    stop, began = asyncio.Event(), time.monotonic()

    async def beating() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
                return
            await beat(time.monotonic() - began)

    beats = asyncio.create_task(beating())
    try:
        return await work
    finally:
        stop.set()
        await beats


async def run_upload(
    bucket: str,
    key: str,
    *,
    jobs: GeometryJobs,
    limits: Limits = JOB_LIMITS,
    analyse: FileAnalyser = run_analysis,
    heartbeat_s: float = HEARTBEAT_S,
) -> dict[str, Any]:
    """The job an object uploaded under `geometry-uploads/` starts (its S3 event): `queued`, then
    `running` through its stages (reading, analysing, storing) to `done`, its report and preview stored
    as a synchronous analysis's are. Input that cannot be analysed (corrupt, too large for `limits`)
    fails the job with a reason a person can act on; no retry could fix it. Anything else marks it
    failed and raises, so Lambda retries the event."""
    ref = UPLOADS.parse(key)
    if ref is None or bucket != jobs.upload_bucket:
        logger.warning("geometry: an object outside the upload layout was ignored")
        return {"status": "ignored"}
    head = await anyio.to_thread.run_sync(jobs.upload_metadata, key)
    if head is None:  # deleted before its event was handled
        with contextlib.suppress(JobNotFound):
            await anyio.to_thread.run_sync(jobs.fail, ref.org_id, ref.job_id, GONE)
        return {"status": "failed", "job_id": ref.job_id}
    size, metadata = head
    try:
        tags = JobTags.from_metadata(metadata)
    except ValueError:
        tags = NO_TAGS  # tags that do not validate are dropped; the roof is still analysed
    progress = await anyio.to_thread.run_sync(jobs.queue, ref, tags)
    if progress is None:
        logger.warning("geometry job %s: the id holds another kind of job; its upload was ignored", ref.job_id)
        return {"status": "ignored", "job_id": ref.job_id}
    tracker = _Tracker(jobs, ref, progress)
    try:
        upload = _Upload(ref, key, size, metadata, tags)
        sha, analysed = await _analyse_upload(upload, jobs, tracker, limits, analyse, heartbeat_s)
        await tracker.enter("storing")
        done = tracker.progress.enter("done", jobs.clock())

        def finish() -> None:
            jobs.finish(
                ref.org_id,
                ref.job_id,
                input_sha256=sha,
                input_name=ref.name,
                report=analysed.report,
                preview=analysed.preview,
                progress=done,
            )

        await anyio.to_thread.run_sync(finish)
    except DominusError as exc:
        await anyio.to_thread.run_sync(jobs.fail, ref.org_id, ref.job_id, exc.message)
        return {"status": "failed", "job_id": ref.job_id}
    except WorkerFailed:  # logged by the worker; the same input would fail the same way again
        await anyio.to_thread.run_sync(jobs.fail, ref.org_id, ref.job_id, worker_failed(ref.name))
        return {"status": "failed", "job_id": ref.job_id}
    except Exception:
        await anyio.to_thread.run_sync(jobs.fail, ref.org_id, ref.job_id, INTERNAL)
        raise
    logger.info("geometry job %s: %s facets", ref.job_id, analysed.report.get("totals", {}).get("facets"))
    return {"status": "done", "job_id": ref.job_id}


@dataclass(frozen=True)
class _Upload:
    """An uploaded object as its event and its HEAD say."""

    ref: UploadRef
    key: str
    size: int
    metadata: Mapping[str, str]
    tags: JobTags


async def _analyse_upload(
    upload: _Upload, jobs: GeometryJobs, tracker: _Tracker, limits: Limits, analyse: FileAnalyser, heartbeat_s: float
) -> tuple[str, Analysed]:
    """The upload's input hash and its analysis: an earlier job's, for the same input in the same org,
    or a new one in a worker under `limits`."""
    ref, key, size, metadata, tags = upload.ref, upload.key, upload.size, upload.metadata, upload.tags
    await tracker.enter("reading")
    if size > MAX_JOB_UPLOAD_BYTES:  # an object put there by other means than the offer's form
        raise too_large(f"The uploaded file {ref.name}", MAX_JOB_UPLOAD_BYTES)
    if size == 0:
        raise InvalidInput(f"The uploaded file {ref.name} is empty.")
    resolution = upload_resolution(ref.name, metadata)
    with tempfile.TemporaryDirectory(prefix="dominus-geometry-job-") as folder:
        path = _place(Path(folder) / "input", local_name(ref.name, "input"))
        digest = await anyio.to_thread.run_sync(jobs.download_upload, key, path, MAX_JOB_UPLOAD_BYTES)
        sha = hashed_input_sha256(Hashed(ref.name, digest), None, resolution, tags)
        earlier = await anyio.to_thread.run_sync(jobs.earlier, ref.org_id, sha)
        if earlier is not None:
            logger.info("geometry job %s: the same input as job %s; its report is reused", ref.job_id, earlier[0])
            return sha, Analysed(earlier[1], earlier[2])
        files = InputFiles(path, None, resolution)
        estimate_s = limits.estimate_s(await admit_files(files, limits)) or limits.budget.seconds
        await tracker.enter("analysing")

        async def beat(elapsed_s: float) -> None:
            await tracker.analysing(elapsed_s, estimate_s)

        return sha, await with_heartbeat(analyse(files, limits), beat, heartbeat_s)
