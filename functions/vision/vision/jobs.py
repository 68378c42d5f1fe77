"""Vision jobs: a DynamoDB record per photo job, its results in S3, and the presigned upload that
starts one.

Records (JobsTable, shared with geometry, through shared.jobs' repository; `kind` tells them apart):
`{org_id, job_id, kind "vision", status, reason (failed), created_at, updated_at, name, tags,
expires_at}` and the attributes `source_key, image_sha256, detections, model, result_key,
heatmap_key, camera_key, original_key`.
Status: `awaiting_upload` (a presigned upload was handed out) -> `queued` (the object arrived) ->
`running` -> `done` | `failed` (with a reason a person can act on). A synchronous analysis is
stored straight as `done`.
Bucket: uploads at `uploads/<org_id>/<job_id>/<name>` (an object created under `uploads/` starts the
job: the key names the org and the job, so an event carries all the job needs); results at
`orgs/<org_id>/vision/<job_id>/detections.json` and `heatmap.png`, and the photo's pose at
`camera.json` (attribute `camera_key`), which the report reads to tie the photo to the roof, and the
photo as uploaded at `original` (attribute `original_key`), which the claim packet reads.

Every key includes the org: another org's job is simply not found.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Literal

from pydantic import Field

from shared import uploads
from shared.cache_keys import check_org_id
from shared.job_events import JobFinished
from shared.jobs import JobRecord, JobStatus, JobStore, JobTags, Scalar, expiry, iso_ms
from shared.objects import UPLOADS_PREFIX, org_prefix, read_object
from shared.uploads import UploadKeys, UploadRef, presigned_post

logger = logging.getLogger(__name__)

Status = JobStatus
KIND = "vision"
UPLOADS = UploadKeys(UPLOADS_PREFIX, fallback="photo")
NO_JOB = "No vision job with that id in this org."


class PhotoTags(JobTags):
    """What the CRM sends along with a photo (beyond any job's tags): where on the roof it was taken.
    Stored with the job and returned with its result; the report ties the photo to a facet by them."""

    slope: str | None = Field(
        None, max_length=8, pattern=r"^([A-Z]|N|NE|E|SE|S|SW|W|NW)$", description="a facet letter or a compass facing"
    )
    facet: str | None = Field(None, max_length=4, pattern=r"^[A-Z]{1,3}$", description="the facet's letter")
    facing: str | None = Field(None, max_length=2, pattern=r"^(N|NE|E|SE|S|SW|W|NW)$", description="its compass facing")
    test_square: bool = Field(False, description="the photo is of a 10 x 10 ft test square")


def safe_name(name: str) -> str:
    """A photo's file name fit for a key."""
    return uploads.safe_name(name, UPLOADS.fallback)


def upload_key(org_id: str, job_id: str, name: str) -> str:
    return UPLOADS.key(org_id, job_id, name)


def parse_upload_key(key: str) -> UploadRef | None:
    """The org and job an uploaded photo belongs to, or None for a key that is not a photo upload's."""
    return UPLOADS.parse(key)


def result_key(org_id: str, job_id: str) -> str:
    return f"{org_prefix(org_id)}vision/{job_id}/detections.json"


def camera_key(org_id: str, job_id: str) -> str:
    """A photo's pose (a drone's camera, or a handheld photo's position and heading): beside the
    result, never in it (the report reads it)."""
    return f"{org_prefix(org_id)}vision/{job_id}/camera.json"


def original_key(org_id: str, job_id: str) -> str:
    """The photo byte for byte as uploaded (its metadata intact): the claim packet's evidence."""
    return f"{org_prefix(org_id)}vision/{job_id}/original"


def heatmap_key(org_id: str, job_id: str) -> str:
    return f"{org_prefix(org_id)}vision/{job_id}/heatmap.png"


class VisionJobs(JobStore):
    """Job records (through the repository), results and uploads of one deployment (thread-safe:
    boto3 clients are)."""

    def _announce(self, org_id: str, job_id: str, status: Literal["done", "failed"], reason: str | None = None) -> None:
        if self.events is None:
            return
        record = self.records.get(org_id, job_id)
        claim = record.claim_id if record is not None else None
        finished = JobFinished("vision", org_id, job_id, status, self.clock(), f"/v1/vision/{job_id}", claim, reason)
        self.events.publish(finished)

    def bucket_of(self, key: str) -> str:
        """The bucket an org's key lives in: uploads in the upload bucket, the rest in the data bucket."""
        return self.upload_bucket if key.startswith(UPLOADS.prefix) else self.bucket

    # ---- records ------------------------------------------------------------------------------

    def _new(
        self, org_id: str, job_id: str, status: Status, name: str, tags: PhotoTags, source_key: str | None
    ) -> JobRecord:
        now = self.clock()
        return JobRecord(
            org_id,
            job_id,
            status,
            now,
            expiry(now, self.retention_days),
            kind=KIND,
            updated_at=now,
            name=name,
            tags=tags.model_dump(mode="json", exclude_defaults=True),
            attributes={"source_key": source_key} if source_key is not None else {},
        )

    def open(self, org_id: str, *, status: Status, name: str, tags: PhotoTags, source_key: str | None = None) -> str:
        """A new job's record; returns its id."""
        job_id = uuid.uuid4().hex
        self.records.create(self._new(check_org_id(org_id), job_id, status, safe_name(name), tags, source_key))
        return job_id

    def ensure(self, ref: UploadRef, tags: PhotoTags, source_key: str) -> None:
        """The record of an upload's job, made `queued`; created if the upload came without one (an
        object written to the upload prefix by another tool)."""
        self.records.upsert(self._new(ref.org_id, ref.job_id, "queued", ref.name, tags, source_key))

    def mark(self, org_id: str, job_id: str, status: Status, *, reason: str | None = None) -> None:
        reason = reason[:500] if reason is not None else None
        self.records.update(org_id, job_id, status=status, updated_at=self.clock(), reason=reason)
        if status == "failed":
            self._announce(org_id, job_id, "failed", reason)

    def finish(
        self,
        org_id: str,
        job_id: str,
        result: dict[str, Any],
        heatmap: bytes | None,
        camera: dict[str, Any] | None = None,
        original: bytes | None = None,
    ) -> bool:
        """Store the result (and heatmap, and the photo's pose beside it, for the report, and the
        photo as uploaded, for the claim packet: uploads expire, evidence is kept as long as the job)
        and mark the job done; whether a heatmap was stored (one that cannot be is logged and left
        out: the detections stand without it)."""
        key = result_key(org_id, job_id)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(result, separators=(",", ":")).encode(),
            ContentType="application/json",
        )
        attributes: dict[str, Scalar] = {
            "result_key": key,
            "image_sha256": str(result["image"]["sha256"]),
            "detections": len(result["detections"]),
            "model": str(result["model"]),
        }
        if camera is not None:
            pose_key = camera_key(org_id, job_id)
            self.s3.put_object(
                Bucket=self.bucket, Key=pose_key, Body=json.dumps(camera).encode(), ContentType="application/json"
            )
            attributes["camera_key"] = pose_key
        if original is not None:
            kept = original_key(org_id, job_id)
            self.s3.put_object(Bucket=self.bucket, Key=kept, Body=original, ContentType="application/octet-stream")
            attributes["original_key"] = kept
        stored = heatmap is not None and self._put_heatmap(org_id, job_id, heatmap)
        if stored:
            attributes["heatmap_key"] = heatmap_key(org_id, job_id)
        self.records.update(org_id, job_id, status="done", updated_at=self.clock(), attributes=attributes)
        self._announce(org_id, job_id, "done")
        return stored

    def _put_heatmap(self, org_id: str, job_id: str, png: bytes) -> bool:
        try:
            self.s3.put_object(Bucket=self.bucket, Key=heatmap_key(org_id, job_id), Body=png, ContentType="image/png")
        except Exception:  # the heatmap is a view of the detections: the job is stored without it
            logger.warning("vision job %s: could not store its heatmap", job_id, exc_info=True)
            return False
        return True

    def record(self, org_id: str, job_id: str) -> JobRecord | None:
        """This org's vision job record, or None (unknown id, another org's, another kind)."""
        record = self.records.get(org_id, job_id)
        return record if record is not None and record.kind == KIND else None

    def view(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        """The job as the API shows it: state, tags, and the result once done."""
        record = self.record(org_id, job_id)
        if record is None:
            return None
        job: dict[str, Any] = {
            "job_id": job_id,
            "status": record.status,
            "name": record.name,
            "created_at": iso_ms(record.created_at),
            "updated_at": iso_ms(record.updated_at) if record.updated_at is not None else None,
            "tags": dict(record.tags or {}),
        }
        if record.status == "failed":
            job["reason"] = record.reason or ""
        if record.status == "done":
            body = read_object(self.s3, self.bucket, record.text("result_key") or result_key(org_id, job_id))
            job["result"] = json.loads(body) if body is not None else None
            job["heatmap"] = record.text("heatmap_key") is not None
        return job

    def heatmap(self, org_id: str, job_id: str) -> bytes | None:
        record = self.record(org_id, job_id)
        key = record.text("heatmap_key") if record is not None else None
        return read_object(self.s3, self.bucket, key) if key else None

    # ---- uploads ------------------------------------------------------------------------------

    def presigned_upload(
        self, org_id: str, job_id: str, name: str, tags: PhotoTags, *, max_bytes: int, content_type: str
    ) -> dict[str, Any]:
        """A presigned POST for exactly this job's key, an image content type, at most `max_bytes`,
        and the tags as metadata (the form must send them unchanged)."""
        key = upload_key(org_id, job_id, name)
        return presigned_post(
            self.s3,
            self.upload_bucket,
            key,
            max_bytes=max_bytes,
            content_type=content_type,
            content_type_prefix="image/",
            metadata=tags.metadata(),
        )

    def upload_metadata(self, key: str) -> tuple[int, dict[str, str]]:
        """An uploaded object's size and user metadata (the tags)."""
        head = self.s3.head_object(Bucket=self.upload_bucket, Key=key)
        return int(head["ContentLength"]), dict(head.get("Metadata", {}))
