"""Report jobs, and what a report reads: geometry and vision results through their stored records and
JSON (the report imports neither function), and a claim's jobs through the claim index.

Records (JobsTable, through shared.jobs' repository): a report is `{org_id, job_id, kind "report",
status "done", created_at, updated_at, tags {claim_id}}` with the attributes `report_key`,
`inputs_key`, `facets`, `qc_passed`, `version` (each reviewer verdict or assignment makes a new
version of the same report). Bucket: `orgs/<org_id>/reports/<job_id>/report.json`, the inputs it was
built from (`inputs.json`: job ids, profile, settings, assignments, reviews), and its artifacts
beside them. Geometry jobs are the records without a kind, their report at `report_key`; vision
jobs are kind `vision`, their result at `result_key` (and a drone photo's pose at `camera_key`).
Every key includes the org.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from reports.inputs import Geometry, Photo, read_geometry, read_photos
from shared.errors import Conflict, NotFound
from shared.job_events import JobFinished
from shared.jobs import JobRecord, JobStore, JobTags, Scalar, expiry, iso_ms
from shared.objects import org_prefix, read_object

KIND = "report"
MAX_RESULT_BYTES = 20 * 1024 * 1024  # a geometry report or a photo's detections
NO_REPORT = "No report with that id in this org."
CONTENT_TYPES = {
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".xml": "application/xml",
}


def report_prefix(org_id: str, job_id: str) -> str:
    return f"{org_prefix(org_id)}reports/{job_id}/"


def kind_of(record: JobRecord) -> str:
    """A job's kind as the API names it: geometry records carry none."""
    return record.kind or "geometry"


_ROUTES = {"geometry": "/v1/geometry/", "vision": "/v1/vision/", KIND: "/v1/reports/", "packet": "/v1/packets/"}


def job_url(record: JobRecord) -> str:
    return _ROUTES.get(kind_of(record), "/v1/jobs/") + record.job_id


class ReportJobs(JobStore):
    """Report records and objects, and the geometry and vision results reports read (thread-safe:
    boto3 clients are)."""

    # ---- what reports read --------------------------------------------------------------------

    def _done(self, org_id: str, job_id: str, kind: str | None) -> JobRecord:
        record = self.records.get(org_id, job_id)
        name = kind or "geometry"
        if record is None or record.kind != kind:
            raise NotFound(f"No {name} job {job_id[:40]} in this org.")
        if record.status != "done":
            raise Conflict(f"The {name} job {job_id} is {record.status}; a report reads finished jobs only.")
        return record

    def _result(self, record: JobRecord, attribute: str) -> bytes:
        key = record.text(attribute)
        body = read_object(self.s3, self.bucket, key, MAX_RESULT_BYTES) if key else None
        if body is None:
            raise NotFound(f"The result of job {record.job_id} is no longer stored; run it again.")
        return body

    def geometry(self, org_id: str, job_id: str) -> Geometry:
        return read_geometry(self._result(self._done(org_id, job_id, None), "report_key"))

    def photo(self, org_id: str, job_id: str) -> Photo:
        """A vision job's result as the report reads it: named by its job id, with the job's tags."""
        record = self._done(org_id, job_id, "vision")
        document = json.loads(self._result(record, "result_key"))
        document["tags"] = dict(record.tags or {})
        if record.text("camera_key"):  # the photo's pose, stored beside its result
            pose = json.loads(self._result(record, "camera_key"))
            document["handheld" if pose.pop("kind", "drone") == "handheld" else "camera"] = pose
        (photo,) = read_photos(json.dumps({**document, "id": job_id}).encode(), job_id)
        return photo

    def claim(self, org_id: str, claim_id: str) -> list[JobRecord]:
        return self.records.claim_jobs(org_id, claim_id)

    # ---- reports ------------------------------------------------------------------------------

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def store(
        self,
        org_id: str,
        job_id: str,
        report: dict[str, Any],
        inputs: dict[str, Any],
        artifacts: dict[str, bytes],
        tags: JobTags,
    ) -> None:
        """Write the report, its inputs and artifacts, then its record (created, or a new version of
        it); announce it."""
        prefix = report_prefix(org_id, job_id)
        for name, body in {**artifacts, "inputs.json": _json(inputs), "report.json": _json(report)}.items():
            content_type = CONTENT_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
            self.s3.put_object(Bucket=self.bucket, Key=prefix + name, Body=body, ContentType=content_type)
        now = self.clock()
        attributes: dict[str, Scalar] = {
            "report_key": prefix + "report.json",
            "inputs_key": prefix + "inputs.json",
            "artifacts": ",".join(sorted(artifacts)),
            "facets": len(report["facets"]),
            "qc_passed": int(bool(report["qc"]["passed"])),
            "version": int(inputs.get("version", 1)),
        }
        record = JobRecord(
            org_id,
            job_id,
            "done",
            now,
            expiry(now, self.retention_days),
            kind=KIND,
            updated_at=now,
            name=f"report {report['summary'][:80]}",
            tags=tags.stored() or None,
            attributes=attributes,
        )
        self.records.upsert(record)
        if self.events is not None:
            finished = JobFinished("report", org_id, job_id, "done", now, f"/v1/reports/{job_id}", tags.claim_id)
            self.events.publish(finished)

    def record(self, org_id: str, job_id: str) -> JobRecord:
        record = self.records.get(org_id, job_id)
        if record is None or record.kind != KIND:
            raise NotFound(NO_REPORT)
        return record

    def report(self, org_id: str, job_id: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self._result(self.record(org_id, job_id), "report_key"))
        return document

    def inputs(self, org_id: str, job_id: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self._result(self.record(org_id, job_id), "inputs_key"))
        return document

    def artifact(self, org_id: str, job_id: str, name: str) -> tuple[bytes, str]:
        record = self.record(org_id, job_id)
        if name not in (record.text("artifacts") or "").split(","):
            raise NotFound(f"This report has no artifact {name[:60]!r}.")
        body = read_object(self.s3, self.bucket, report_prefix(org_id, job_id) + name)
        if body is None:
            raise NotFound(f"The artifact {name[:60]!r} is no longer stored.")
        return body, CONTENT_TYPES.get(name[name.rfind(".") :], "application/octet-stream")


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def job_view(record: JobRecord) -> dict[str, Any]:
    """A job as a claim's listing shows it."""
    return {
        "job_id": record.job_id,
        "kind": kind_of(record),
        "status": record.status,
        "name": record.name,
        "tags": dict(record.tags or {}),
        "created_at": iso_ms(record.created_at),
        "updated_at": iso_ms(record.updated_at) if record.updated_at is not None else None,
        "url": job_url(record),
    }
