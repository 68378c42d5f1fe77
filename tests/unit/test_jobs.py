"""Job records without I/O: the repository contract on the in-memory backend, the record's own
rules, and the geometry and vision jobs' record keeping over it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from geometry.jobs import GeometryJobs
from shared.errors import BadRequest
from shared.jobs import JobRecord, JobRepository, MemoryJobRepository
from shared.uploads import UploadRef
from tests.support.job_contract import CREATED, EXPIRES, ORG, JobRepositoryContract, geometry_record, vision_record
from vision.jobs import PhotoTags, VisionJobs


class TestMemoryJobRepository(JobRepositoryContract):
    @pytest.fixture
    def repository(self) -> JobRepository:
        return MemoryJobRepository()


def test_a_record_holds_a_job_id_of_a_valid_org() -> None:
    with pytest.raises(ValueError, match="job id"):
        JobRecord(ORG, "input#" + "ab" * 32, "done", CREATED, EXPIRES)
    with pytest.raises(BadRequest, match="org id"):
        JobRecord("a:b", "0" * 32, "done", CREATED, EXPIRES)


def test_a_record_is_not_changed_through_the_dict_it_was_made_from() -> None:
    attributes: dict[str, Any] = {"report_key": "orgs/acme/geometry/r.json"}
    record = JobRecord(ORG, "0" * 32, "done", CREATED, EXPIRES, attributes=attributes)
    attributes["report_key"] = "elsewhere"
    assert record.text("report_key") == "orgs/acme/geometry/r.json"
    assert record.text("missing") is None


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _vision(records: MemoryJobRepository, clock: Clock) -> VisionJobs:
    return VisionJobs(records, cast("Any", None), "bucket", clock=clock, retention_days=30)  # no S3 on these paths


def test_an_upload_job_is_queued_without_losing_its_creation_and_tags() -> None:
    # Given a job handed out for an upload
    records, clock = MemoryJobRepository(), Clock()
    jobs = _vision(records, clock)
    tags = PhotoTags(claim_id="c-9", test_square=True)
    job_id = jobs.open(ORG, status="awaiting_upload", name="../south side.jpg", tags=tags)
    created = clock.now
    # When its upload arrives (without the tags: another tool wrote it) and then runs
    clock.now += timedelta(minutes=3)
    jobs.ensure(UploadRef(ORG, job_id, "south-side.jpg"), PhotoTags(), f"uploads/{ORG}/{job_id}/south-side.jpg")
    clock.now += timedelta(seconds=1)
    jobs.mark(ORG, job_id, "failed", reason="x" * 600)
    # Then the job shows its own creation, name and tags, its latest state, and a bounded reason
    view = jobs.view(ORG, job_id)
    assert view == {
        "job_id": job_id,
        "status": "failed",
        "name": "south-side.jpg",
        "created_at": created.isoformat(timespec="milliseconds"),
        "updated_at": clock.now.isoformat(timespec="milliseconds"),
        "tags": {"claim_id": "c-9", "test_square": True},
        "reason": "x" * 500,
    }
    record = records.get(ORG, job_id)
    assert record is not None and record.expires_at == int(created.timestamp()) + 30 * 86_400
    assert record.text("source_key") == f"uploads/{ORG}/{job_id}/south-side.jpg"


def test_each_function_reads_its_own_kind_of_job_only() -> None:
    records = MemoryJobRepository()
    geometry, vision = geometry_record(), vision_record()
    records.create(geometry)
    records.create(vision)
    geometry_jobs = GeometryJobs(records, cast("Any", None), "bucket")
    vision_jobs = _vision(records, Clock())
    assert geometry_jobs.record(ORG, geometry.job_id) == geometry
    assert geometry_jobs.record(ORG, vision.job_id) is None
    assert vision_jobs.record(ORG, vision.job_id) == vision
    assert vision_jobs.record(ORG, geometry.job_id) is None
    assert vision_jobs.view(ORG, geometry.job_id) is None
