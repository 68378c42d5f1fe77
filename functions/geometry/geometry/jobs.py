"""Geometry jobs: a DynamoDB record per analysis, the report JSON and preview PNG in S3, a
content-hash index, and the engine's store in front of that index.

Records (JobsTable, through shared.jobs' repository):
- a job: `{org_id, job_id, status "done", created_at, expires_at}` and its attributes `input_sha256,
  input_name, facets, area_sqft, squares, predominant_pitch, report_key, preview_key` (when one was
  stored); geometry's records carry no `kind`;
- the input index: (org, sha256) -> job id, so identical input for the same org returns the
  existing job, across instances, without a scan.
Bucket: the report at `orgs/<org_id>/geometry/<job_id>/report.json`, the preview beside it as
`preview.png`; inputs may be read from anywhere under the caller's own `orgs/<org_id>/`.
Store (`JobIndex`): `dominus:v1:<org>:cache:geometry:<sha256>` -> `job_id`, checked before DynamoDB,
and a single-flight so identical concurrent requests analyse once.

Every key includes the org: another org's job is simply not found. Job ids are uuid4 hex; anything
else (an index item's sk, say) is never looked up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from shared.cache_keys import KeySpace, check_org_id
from shared.errors import NotFound
from shared.job_events import JobFinished
from shared.jobs import JobRecord, JobStore, JobTags, Scalar, expiry, is_job_id
from shared.objects import org_prefix, read_input, read_object
from shared.singleflight import FollowTimeout, SingleFlight
from shared.stores.base import GuardedStore, StoreUnavailable
from shared.stores.nothing import NothingShared

if TYPE_CHECKING:
    from shared.settings import Settings

logger = logging.getLogger(__name__)

STORE_OPERATION = "geometry"
STORE_TTL_MS = 7 * 86_400_000  # the store is a fast path; DynamoDB keeps the index for the job's life
NO_JOB = "No geometry job with that id in this org."
NO_PREVIEW = "This geometry job has no preview image: it could not be rendered or stored when the job ran."


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
        now = self.clock()
        expires_at = expiry(now, self.retention_days)
        stored_tags = tags.stored() if tags is not None else {}
        record = JobRecord(org_id, job_id, "done", now, expires_at, tags=stored_tags or None, attributes=attributes)
        self.records.create(record)
        if not self.records.put_input(org_id, input_sha256, job_id, expires_at):
            existing = self.find(org_id, input_sha256)
            if existing is not None:
                return existing
        if self.events is not None:
            url = f"/v1/geometry/{job_id}"
            self.events.publish(JobFinished("geometry", org_id, job_id, "done", now, url, record.claim_id))
        return job_id

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
        key = record.text("preview_key")
        png = self._object(key) if key else None
        if png is None:
            raise NotFound(NO_PREVIEW)
        return png


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
