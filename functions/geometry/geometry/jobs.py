"""Geometry jobs: a DynamoDB record per analysis, the report JSON and preview PNG in S3, a
content-hash index, the engine's store in front of that index, and the presigned uploads that start
jobs of inputs too large for a request.

Records (JobsTable, through shared.jobs' repository):
- a job: `{org_id, job_id, status, created_at, expires_at}` and its attributes `input_sha256,
  input_name, facets, area_sqft, squares, predominant_pitch, report_key, preview_key` (when one was
  stored); geometry's records carry no `kind`. A synchronous analysis is stored straight as `done`;
- an upload's job also has `updated_at`, `name` (the file's), `reason` (failed) and the attributes
  `upload_key` (which marks it as one) and `progress` (`Progress`, as JSON); its status goes
  `awaiting_upload` (the presigned POST was handed out) -> `queued` (the object arrived) -> `running`
  -> `done` | `failed`;
- the input index: (org, sha256) -> job id, so identical input for the same org returns the
  existing job, across instances, without a scan.
Bucket: the report at `orgs/<org_id>/geometry/<job_id>/report.json`, the preview beside it as
`preview.png`; inputs may be read from anywhere under the caller's own `orgs/<org_id>/`. Upload
bucket: uploads at `geometry-uploads/<org_id>/<job_id>/<name>` (an object created there starts its
job), the resolution and tags as the object's user metadata.
Store (`JobIndex`): `dominus:v1:<org>:cache:geometry:<sha256>` -> `job_id`, checked before DynamoDB,
and a single-flight so identical concurrent requests analyse once.

Every key includes the org: another org's job is simply not found. Job ids are uuid4 hex; anything
else (an index item's sk, say) is never looked up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shared.cache_keys import KeySpace, check_org_id
from shared.errors import DominusError, NotFound
from shared.job_events import JobFinished
from shared.jobs import JobConflict, JobRecord, JobStatus, JobStore, JobTags, Scalar, expiry, is_job_id, iso_ms
from shared.objects import is_missing, org_prefix, read_input, read_object, too_large
from shared.singleflight import FollowTimeout, SingleFlight
from shared.stores.base import GuardedStore, StoreUnavailable
from shared.stores.nothing import NothingShared
from shared.uploads import UploadKeys, UploadRef, presigned_post, safe_name

if TYPE_CHECKING:
    from shared.settings import Settings

logger = logging.getLogger(__name__)

STORE_OPERATION = "geometry"
STORE_TTL_MS = 7 * 86_400_000  # the store is a fast path; DynamoDB keeps the index for the job's life
NO_JOB = "No geometry job with that id in this org."
NO_PREVIEW = "This geometry job has no preview image: it could not be rendered or stored when the job ran."
UPLOADS = UploadKeys("geometry-uploads/")
UPLOAD_CONTENT_TYPE = "application/octet-stream"  # the form's; the readers go by content, not by type
RESOLUTION_METADATA = "resolution"  # x-amz-meta-resolution: metres per pixel, as the offer said
GONE = "The uploaded file was deleted before it could be analysed; upload it again."
_CHUNK_BYTES = 8 * 1024 * 1024

Stage = Literal["awaiting_upload", "queued", "reading", "analysing", "storing", "done"]
# Where each stage starts, in percent. The analysis itself moves from 30 towards 90 by its estimate.
STAGE_PERCENT: dict[Stage, int] = {
    "awaiting_upload": 0,
    "queued": 0,
    "reading": 10,
    "analysing": 30,
    "storing": 90,
    "done": 100,
}


@dataclass(frozen=True)
class Progress:
    """An upload job's progress as its record keeps it (attribute `progress`, JSON) and the API shows it:
    the stage it is in and a percent, and when each stage began. A failed job keeps the stage it failed
    in. Written by the job's own run only (one at a time: idempotency), so no write races another."""

    stage: Stage
    percent: int
    began: tuple[tuple[Stage, str], ...] = ()  # (stage, ISO time), in order

    @classmethod
    def start(cls, stage: Stage, at: datetime) -> Progress:
        return cls(stage, STAGE_PERCENT[stage], ((stage, iso_ms(at)),))

    def enter(self, stage: Stage, at: datetime) -> Progress:
        return Progress(stage, STAGE_PERCENT[stage], (*self.began, (stage, iso_ms(at))))

    def advanced(self, percent: int) -> Progress:
        """Further within this stage: never backwards, never to the next stage's start."""
        stages = list(STAGE_PERCENT)
        following = STAGE_PERCENT[stages[stages.index(self.stage) + 1]] if self.stage != "done" else 100
        return Progress(self.stage, max(self.percent, min(percent, following - 1)), self.began)

    def as_json(self) -> dict[str, Any]:
        stages = [{"stage": stage, "at": at} for stage, at in self.began]
        return {"stage": self.stage, "percent": self.percent, "stages": stages}

    def text(self) -> str:
        return json.dumps(self.as_json(), separators=(",", ":"))


def report_key(org_id: str, job_id: str) -> str:
    return f"{org_prefix(org_id)}geometry/{job_id}/report.json"


def preview_key(org_id: str, job_id: str) -> str:
    return f"{org_prefix(org_id)}geometry/{job_id}/preview.png"


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


def job_attributes(input_sha256: str, input_name: str, report: dict[str, Any], report_at: str) -> dict[str, Scalar]:
    """The record's own attributes: the input, the report's totals, where the report is."""
    totals = report.get("totals", {})
    return {
        "input_sha256": input_sha256,
        "input_name": input_name[:200] or "upload",
        "facets": int(totals.get("facets", 0)),
        "area_sqft": _number(totals.get("area_sqft")),
        "squares": _number(totals.get("squares")),
        "predominant_pitch": str(totals["predominant_pitch"]) if totals.get("predominant_pitch") else None,
        "report_key": report_at,
    }


class GeometryJobs(JobStore):
    """Job records (through the repository), reports, previews and inputs of one deployment
    (thread-safe: boto3 clients are)."""

    def find(self, org_id: str, input_sha256: str) -> str | None:
        """The job id of an earlier analysis of the same input in this org, if any."""
        return self.records.find_input(org_id, input_sha256)

    def read_input(self, org_id: str, key: str, limit: int) -> bytes:
        """The bytes of an object under the org's own prefix: 403 outside it, 404 when missing, 413 over
        `limit` (from a HEAD, before any of it is downloaded)."""
        return read_input(self.s3, self.bucket, org_id, key, limit)

    def create(
        self,
        org_id: str,
        *,
        input_sha256: str,
        input_name: str,
        report: dict[str, Any],
        preview: bytes | None = None,
        tags: JobTags | None = None,
    ) -> str:
        """Store a finished analysis; returns its job id. If a concurrent request stored the same input
        first, its job id wins (the index keeps one answer per input). A preview that cannot be stored
        is logged and left out: the job stands without it."""
        check_org_id(org_id)
        job_id = uuid.uuid4().hex
        attributes = self._store(org_id, job_id, input_sha256, input_name, report, preview)
        now = self.clock()
        expires_at = expiry(now, self.retention_days)
        stored_tags = tags.stored() if tags is not None else {}
        record = JobRecord(org_id, job_id, "done", now, expires_at, tags=stored_tags or None, attributes=attributes)
        self.records.create(record)
        if not self.records.put_input(org_id, input_sha256, job_id, expires_at):
            existing = self.find(org_id, input_sha256)
            if existing is not None:
                return existing
        self._announce(org_id, job_id, "done", record.claim_id)
        return job_id

    def _store(
        self,
        org_id: str,
        job_id: str,
        input_sha256: str,
        input_name: str,
        report: dict[str, Any],
        preview: bytes | None,
    ) -> dict[str, Scalar]:
        """The report and its preview in the bucket; the record's attributes that say where."""
        key = report_key(org_id, job_id)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(report, separators=(",", ":")).encode(),
            ContentType="application/json",
        )
        attributes = job_attributes(input_sha256, input_name, report, key)
        stored_preview = self._put_preview(org_id, job_id, preview) if preview is not None else None
        if stored_preview is not None:
            attributes["preview_key"] = stored_preview
        return attributes

    def _announce(
        self,
        org_id: str,
        job_id: str,
        status: Literal["done", "failed"],
        claim_id: str | None,
        reason: str | None = None,
    ) -> None:
        if self.events is not None:
            url = f"/v1/geometry/{job_id}"
            self.events.publish(JobFinished("geometry", org_id, job_id, status, self.clock(), url, claim_id, reason))

    def _put_preview(self, org_id: str, job_id: str, png: bytes) -> str | None:
        key = preview_key(org_id, job_id)
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=png, ContentType="image/png")
        except Exception:  # the preview is a convenience: the job is stored without it
            logger.warning("geometry job %s: could not store its preview", job_id, exc_info=True)
            return None
        return key

    def record(self, org_id: str, job_id: str) -> JobRecord | None:
        """This org's geometry job record, or None (unknown id, another org's, another kind's)."""
        record = self.records.get(org_id, job_id)
        return record if record is not None and record.kind is None else None  # vision's say `vision`

    def _object(self, key: str, max_bytes: int | None = None) -> bytes | None:
        return read_object(self.s3, self.bucket, key, max_bytes)

    def get(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        """The report of this org's job, or None (unknown id, another org's job, not a job id)."""
        record = self.record(org_id, job_id)
        if record is None:
            return None
        body = self._object(record.text("report_key") or report_key(org_id, job_id))
        if body is None:
            return None
        report: dict[str, Any] = json.loads(body)
        return report

    def preview(self, org_id: str, job_id: str) -> bytes:
        """The PNG preview of this org's job; NotFound (saying which) for no such job or no preview."""
        record = self.record(org_id, job_id)
        if record is None:
            raise NotFound(NO_JOB)
        png = self._preview_of(record)
        if png is None:
            raise NotFound(NO_PREVIEW)
        return png

    def _preview_of(self, record: JobRecord) -> bytes | None:
        key = record.text("preview_key")
        return self._object(key) if key else None

    def earlier(self, org_id: str, input_sha256: str) -> tuple[str, dict[str, Any], bytes | None] | None:
        """An earlier job of the same input in this org: its id, report and preview; None if there is
        none (or its report is no longer stored)."""
        job_id = self.find(org_id, input_sha256)
        record = self.record(org_id, job_id) if job_id is not None else None
        report = self.get(org_id, record.job_id) if record is not None and record.status == "done" else None
        if record is None or report is None:
            return None
        return record.job_id, report, self._preview_of(record)

    # ---- upload jobs --------------------------------------------------------------------------------

    @staticmethod
    def is_upload_job(record: JobRecord) -> bool:
        return record.text("upload_key") is not None

    def _upload_record(self, ref: UploadRef, status: JobStatus, tags: JobTags, progress: Progress) -> JobRecord:
        now = self.clock()
        attributes: dict[str, Scalar] = {
            "upload_key": UPLOADS.key(ref.org_id, ref.job_id, ref.name),
            "input_name": ref.name,
            "progress": progress.text(),
        }
        stored = tags.stored() or None
        expires_at = expiry(now, self.retention_days)
        return JobRecord(
            ref.org_id,
            ref.job_id,
            status,
            now,
            expires_at,
            updated_at=now,
            name=ref.name,
            tags=stored,
            attributes=attributes,
        )

    def open(self, org_id: str, name: str, tags: JobTags) -> str:
        """A job awaiting its upload; returns its id."""
        ref = UploadRef(check_org_id(org_id), uuid.uuid4().hex, safe_name(name, UPLOADS.fallback))
        progress = Progress.start("awaiting_upload", self.clock())
        self.records.create(self._upload_record(ref, "awaiting_upload", tags, progress))
        return ref.job_id

    def presigned_upload(
        self, org_id: str, job_id: str, name: str, *, resolution: float | None, tags: JobTags, max_bytes: int
    ) -> dict[str, Any]:
        """A presigned POST for exactly this job's key, at most `max_bytes`, the resolution and tags as
        the object's metadata (the form must send them unchanged)."""
        metadata = tags.metadata()
        if resolution is not None:
            metadata[RESOLUTION_METADATA] = repr(float(resolution))
        key = UPLOADS.key(org_id, job_id, name)
        return presigned_post(
            self.s3, self.upload_bucket, key, max_bytes=max_bytes, content_type=UPLOAD_CONTENT_TYPE, metadata=metadata
        )

    def upload_metadata(self, key: str) -> tuple[int, dict[str, str]] | None:
        """An uploaded object's size and user metadata; None when it is gone."""
        try:
            head = self.s3.head_object(Bucket=self.upload_bucket, Key=key)
        except Exception as exc:
            if is_missing(exc, self.s3.exceptions):
                return None
            raise
        return int(head["ContentLength"]), dict(head.get("Metadata", {}))

    def download_upload(self, key: str, path: Path, limit: int) -> bytes:
        """The uploaded object written to `path` as it streams in (never held whole: it may be hundreds
        of MB); the SHA-256 digest of its bytes. A DominusError, for the job's reason, when it is gone
        or over `limit` (replaced since its size was read)."""
        try:
            body = self.s3.get_object(Bucket=self.upload_bucket, Key=key)["Body"]
        except Exception as exc:
            if is_missing(exc, self.s3.exceptions):
                raise DominusError(GONE, code="upload_missing") from None
            raise
        digest, written = hashlib.sha256(), 0
        with contextlib.closing(body), path.open("wb") as out:
            for chunk in body.iter_chunks(_CHUNK_BYTES):
                written += len(chunk)
                if written > limit:
                    raise too_large("The uploaded file", limit)
                digest.update(chunk)
                out.write(chunk)
        return digest.digest()

    def queue(self, ref: UploadRef, tags: JobTags) -> Progress | None:
        """The job of an upload that arrived, made `queued`: its offer's record, or one made now for an
        object written under the prefix without an offer. None when the id holds another kind's job."""
        progress = Progress.start("queued", self.clock())
        try:
            self.records.create(self._upload_record(ref, "queued", tags, progress))
            return progress
        except JobConflict:
            pass
        record = self.records.get(ref.org_id, ref.job_id)
        if record is None or record.kind is not None:
            return None
        attributes = {"progress": progress.text(), "upload_key": UPLOADS.key(ref.org_id, ref.job_id, ref.name)}
        self.records.update(ref.org_id, ref.job_id, status="queued", updated_at=self.clock(), attributes=attributes)
        return progress

    def progress(self, org_id: str, job_id: str, progress: Progress) -> None:
        """The job is running, at `progress` (its updated_at moves too: a job that stalls shows it)."""
        attributes = {"progress": progress.text()}
        self.records.update(org_id, job_id, status="running", updated_at=self.clock(), attributes=attributes)

    def fail(self, org_id: str, job_id: str, reason: str) -> None:
        """The job failed, with a reason a person can act on; announced. Its progress stays where it
        failed."""
        reason = reason[:500]
        self.records.update(org_id, job_id, status="failed", updated_at=self.clock(), reason=reason)
        record = self.records.get(org_id, job_id)
        self._announce(org_id, job_id, "failed", record.claim_id if record is not None else None, reason)

    def finish(
        self,
        org_id: str,
        job_id: str,
        *,
        input_sha256: str,
        input_name: str,
        report: dict[str, Any],
        preview: bytes | None,
        progress: Progress,
    ) -> None:
        """Store an upload job's report and preview as `create` stores a synchronous one's, mark it
        done, index its input (unless an earlier job of the same input is indexed already), announce it."""
        attributes = self._store(org_id, job_id, input_sha256, input_name, report, preview)
        attributes["progress"] = progress.text()
        self.records.update(org_id, job_id, status="done", updated_at=self.clock(), attributes=attributes)
        record = self.records.get(org_id, job_id)
        expires_at = record.expires_at if record is not None else expiry(self.clock(), self.retention_days)
        self.records.put_input(org_id, input_sha256, job_id, expires_at)
        self._announce(org_id, job_id, "done", record.claim_id if record is not None else None)

    def view(self, record: JobRecord) -> dict[str, Any]:
        """An upload job as the API shows it: its state and progress, its tags, and its report once done."""
        progress = record.text("progress")
        job: dict[str, Any] = {
            "job_id": record.job_id,
            "status": record.status,
            "name": record.name,
            "progress": json.loads(progress) if progress else None,
            "tags": dict(record.tags or {}),
            "created_at": iso_ms(record.created_at),
            "updated_at": iso_ms(record.updated_at) if record.updated_at is not None else None,
        }
        if record.status == "failed":
            job["reason"] = record.reason or ""
        if record.status == "done":
            job["report"] = self.get(record.org_id, record.job_id)
        return job


class JobIndex:
    """The engine's store in front of the DynamoDB index: (org, input sha256) -> job id, and one
    analysis at a time per input, in this process and (through the store's leases) across instances.

    The store is an optimisation, never a dependency: when it fails, lookups miss, nothing is
    remembered, and the caller falls back to DynamoDB; identical requests in this process still share
    one analysis.
    """

    def __init__(self, store: GuardedStore, *, lease_ms: int, wait_ms: int, ttl_ms: int = STORE_TTL_MS) -> None:
        self.store = store
        self._ttl_ms = ttl_ms
        self._shared = SingleFlight(store, lease_ms=lease_ms, wait_ms=wait_ms)
        self._local = SingleFlight(NothingShared(), lease_ms=lease_ms, wait_ms=wait_ms)

    @classmethod
    def configured(cls, store: GuardedStore, settings: Settings) -> JobIndex:
        """With the engine's single-flight timing (lease, longest wait)."""
        return cls(store, lease_ms=settings.dominus_lease_ms, wait_ms=settings.dominus_follow_wait_ms)

    @classmethod
    def process_only(cls) -> JobIndex:
        """No shared store: in-process single-flight, and DynamoDB answers every lookup."""
        return cls(GuardedStore(NothingShared(), timeout_s=1.0, cooldown_s=0.0), lease_ms=5_000, wait_ms=1_000)

    @staticmethod
    def keys(org_id: str, input_sha256: str) -> KeySpace:
        return KeySpace(org_id, STORE_OPERATION, input_sha256)

    async def lookup(self, org_id: str, input_sha256: str) -> str | None:
        try:
            job_id = await self.store.get(self.keys(org_id, input_sha256).cache)
        except StoreUnavailable:
            return None
        return job_id if job_id is not None and is_job_id(job_id) else None

    async def remember(self, org_id: str, input_sha256: str, job_id: str) -> None:
        with contextlib.suppress(StoreUnavailable):
            await self.store.set(self.keys(org_id, input_sha256).cache, job_id, self._ttl_ms)

    async def once(self, org_id: str, input_sha256: str, produce: Callable[[], Awaitable[str]]) -> str:
        """`produce()`'s job id; identical concurrent calls share one `produce()`."""
        keys = self.keys(org_id, input_sha256)

        async def across_instances() -> str:
            try:
                job_id, _ = await self._shared.run(keys, produce)
            except (StoreUnavailable, FollowTimeout):  # `produce` did not run: the store failed, or the
                # leader in another instance took longer than the wait bound
                return await produce()
            return job_id

        # The process-local flight first: with the store down, identical requests here still share.
        job_id, _ = await self._local.run(keys, across_instances)
        return job_id
