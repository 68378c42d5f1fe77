"""Packet jobs, and what a packet reads: a report and its files, and its photos as uploaded, through
their stored records and objects (the packet imports neither the reports nor the vision package).

Records (JobsTable): a packet is `{org_id, job_id, kind "packet", status, created_at, updated_at,
tags {claim_id}}` with the attributes `report_id`, `request_key`, `stage`, `fraction`, `files`,
`pages`; status `queued` -> `running` -> `done` | `failed` (with a reason). Bucket:
`orgs/<org_id>/packets/<job_id>/` holds `request.json` (what was asked, the cover letter included)
and every file the packet delivers. Reports are kind `report` (`report_key`, `artifacts`), photos
kind `vision` (`original_key`: the photo as uploaded; else `source_key`, the upload itself, which
expires). Every key includes the org.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from packets.bundle import PacketFiles
from packets.photos import Original
from shared.errors import Conflict, NotFound
from shared.job_events import JobFinished
from shared.jobs import JobRecord, JobStore, JobTags, Scalar, expiry, iso_ms
from shared.objects import is_missing, org_prefix, read_object

KIND = "packet"
URL_EXPIRES_S = 3600
MAX_REPORT_BYTES = 20 * 1024 * 1024
MAX_PHOTO_BYTES = 60 * 1024 * 1024
NO_PACKET = "No packet with that id in this org."
CONTENT_TYPES = {
    "packet.pdf": "application/pdf",
    "packet.docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "cover-letter.docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "photos.zip": "application/zip",
    "manifest.json": "application/json",
    "report.json": "application/json",
    "facets.geojson": "application/geo+json",
    "facets.csv": "text/csv; charset=utf-8",
    "quantities.csv": "text/csv; charset=utf-8",
    "measurements.xml": "application/xml",
}
REPORT_FILES = ("facets.svg", "pitch.svg", "lengths.svg", "damage-map.png", "facets.geojson", "facets.csv",
                "quantities.csv", "measurements.xml")  # fmt: skip


def packet_prefix(org_id: str, job_id: str) -> str:
    return f"{org_prefix(org_id)}packets/{job_id}/"


class PacketJobs(JobStore):
    """Packet records and objects, and the reports and photos packets read (thread-safe: boto3
    clients are)."""

    # ---- what packets read --------------------------------------------------------------------

    def report_record(self, org_id: str, report_id: str) -> JobRecord:
        """This org's report's record; NotFound for any other."""
        record = self.records.get(org_id, report_id)
        if record is None or record.kind != "report":
            raise NotFound("No report with that id in this org.")
        return record

    def report(self, org_id: str, report_id: str) -> tuple[JobRecord, dict[str, Any], dict[str, bytes]]:
        """This org's report: its record, its JSON, and its files (report.json included)."""
        record = self.report_record(org_id, report_id)
        key = record.text("report_key")
        raw = read_object(self.s3, self.bucket, key, MAX_REPORT_BYTES) if key else None
        if raw is None:
            raise NotFound(f"The report {report_id} is no longer stored; build it again.")
        prefix = key.rsplit("/", 1)[0] + "/" if key else ""
        files = {"report.json": raw}
        listed = set((record.text("artifacts") or "").split(","))
        for name in REPORT_FILES:
            if name in listed and (body := read_object(self.s3, self.bucket, prefix + name, MAX_REPORT_BYTES)):
                files[name] = body
        return record, json.loads(raw), files

    def original(self, org_id: str, photo_id: str, folder: Path) -> Original:
        """A report's photo as uploaded, spooled into `folder`: kept beside its result, else its
        upload while it lasts; neither (a photo of no vision job of this org's, or expired): none."""
        record = self.records.get(org_id, photo_id)
        if record is None or record.kind != "vision":
            return Original(photo_id)
        path = folder / f"{record.job_id}.original"
        for bucket, key in (
            (self.bucket, record.text("original_key")),
            (self.upload_bucket, record.text("source_key")),
        ):
            if key and self._spool(bucket, key, path):
                return Original(photo_id, path=path)
        return Original(photo_id)

    def _spool(self, bucket: str, key: str, path: Path) -> bool:
        """The object streamed into `path` (at most MAX_PHOTO_BYTES); False when it is missing or larger."""
        try:
            body = self.s3.get_object(Bucket=bucket, Key=key)["Body"]
        except Exception as exc:
            if is_missing(exc, self.s3.exceptions):
                return False
            raise
        written = 0
        with contextlib.closing(body), path.open("wb") as out:
            while chunk := body.read(1 << 20):
                written += len(chunk)
                if written > MAX_PHOTO_BYTES:
                    break
                out.write(chunk)
        if written > MAX_PHOTO_BYTES:
            path.unlink()
            return False
        return True

    # ---- packets ------------------------------------------------------------------------------

    def open(self, org_id: str, report_id: str, request: dict[str, Any], tags: JobTags) -> JobRecord:
        """A queued packet job, its request stored beside it; returns its record."""
        job_id = uuid.uuid4().hex
        key = packet_prefix(org_id, job_id) + "request.json"
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=json.dumps(request).encode(), ContentType="application/json"
        )
        now = self.clock()
        attributes: dict[str, Scalar] = {"report_id": report_id, "request_key": key, "stage": "queued", "fraction": 0}
        record = JobRecord(
            org_id,
            job_id,
            "queued",
            now,
            expiry(now, self.retention_days),
            kind=KIND,
            updated_at=now,
            name=f"packet of report {report_id}",
            tags=tags.stored() or None,
            attributes=attributes,
        )
        self.records.create(record)
        return record

    def record(self, org_id: str, job_id: str) -> JobRecord:
        record = self.records.get(org_id, job_id)
        if record is None or record.kind != KIND:
            raise NotFound(NO_PACKET)
        return record

    def request(self, record: JobRecord) -> dict[str, Any]:
        key = record.text("request_key")
        raw = read_object(self.s3, self.bucket, key) if key else None
        if raw is None:
            raise Conflict("The packet's request is no longer stored; ask for the packet again.")
        document: dict[str, Any] = json.loads(raw)
        return document

    def progress(self, org_id: str, job_id: str, stage: str, fraction: float) -> None:
        attributes: dict[str, Scalar] = {"stage": stage, "fraction": round(fraction, 3)}
        self.records.update(org_id, job_id, status="running", updated_at=self.clock(), attributes=attributes)

    def finish(self, record: JobRecord, made: PacketFiles) -> None:
        prefix = packet_prefix(record.org_id, record.job_id)
        for name, body in made.files.items():
            content_type = CONTENT_TYPES.get(name, "application/octet-stream")
            self.s3.put_object(Bucket=self.bucket, Key=prefix + name, Body=body, ContentType=content_type)
        for name, path in made.spooled.items():  # streamed from disk, in parts when large
            extra = {"ContentType": CONTENT_TYPES.get(name, "application/octet-stream")}
            self.s3.upload_file(str(path), self.bucket, prefix + name, ExtraArgs=extra)
        attributes: dict[str, Scalar] = {
            "stage": "done",
            "fraction": 1,
            "files": ",".join(made.names()),
            "pages": made.pages,
        }
        now = self.clock()
        self.records.update(record.org_id, record.job_id, status="done", updated_at=now, attributes=attributes)
        self._announce(record, "done", now)

    def fail(self, record: JobRecord, reason: str) -> None:
        now = self.clock()
        attributes: dict[str, Scalar] = {"stage": "failed"}
        self.records.update(
            record.org_id, record.job_id, status="failed", updated_at=now, reason=reason[:500], attributes=attributes
        )
        self._announce(record, "failed", now, reason[:500])

    def _announce(self, record: JobRecord, status: str, at: datetime, reason: str | None = None) -> None:
        if self.events is None:
            return
        url = f"/v1/packets/{record.job_id}"
        self.events.publish(
            JobFinished("packet", record.org_id, record.job_id, status, at, url, record.claim_id, reason)  # type: ignore[arg-type]
        )

    def view(self, record: JobRecord) -> dict[str, Any]:
        """The packet as its API shows it: state, progress, and a download link per file when done."""
        files = [n for n in (record.text("files") or "").split(",") if n]
        prefix = packet_prefix(record.org_id, record.job_id)
        return {
            "packet_id": record.job_id,
            "status": record.status,
            "reason": record.reason,
            "report_id": record.text("report_id"),
            "stage": record.text("stage"),
            "fraction": float(record.attributes.get("fraction", 0) or 0),
            "pages": record.attributes.get("pages"),
            "tags": dict(record.tags or {}),
            "created_at": iso_ms(record.created_at),
            "updated_at": iso_ms(record.updated_at) if record.updated_at is not None else None,
            "files": {name: self._url(prefix + name, name) for name in files},
            "urls_expire_in_s": URL_EXPIRES_S if files else None,
        }

    def _url(self, key: str, name: str) -> str:
        url: str = self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": f'attachment; filename="{name}"'},
            ExpiresIn=URL_EXPIRES_S,
        )
        return url
