"""The behaviour every `JobRepository` backend owes its callers, as one suite: the unit tests run it
against `MemoryJobRepository`, the integration tests against `DynamoJobRepository` on moto, so the
backend unit tests rely on behaves as the deployed one does.

Subclass `JobRepositoryContract` (named `Test...`) and give it a `repository` fixture.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.jobs import JobConflict, JobNotFound, JobRecord, JobRepository, Scalar

ORG, OTHER_ORG = "acme", "globex"
SHA = "ab" * 32
CREATED = datetime(2026, 3, 1, 12, 30, 15, 123_456, tzinfo=UTC)
LATER = CREATED + timedelta(minutes=5)
EXPIRES = 1_900_000_000


def job_id() -> str:
    return uuid.uuid4().hex


def vision_record(job: str | None = None, **changes: object) -> JobRecord:
    record = JobRecord(
        ORG,
        job or job_id(),
        "awaiting_upload",
        CREATED,
        EXPIRES,
        kind="vision",
        updated_at=CREATED,
        name="south.jpg",
        tags={"claim_id": "c-1", "test_square": True},
        attributes={"source_key": "uploads/acme/x/south.jpg"},
    )
    return replace(record, **changes)  # type: ignore[arg-type]


def geometry_record(job: str | None = None) -> JobRecord:
    attributes: dict[str, Scalar] = {"input_sha256": SHA, "facets": 2, "area_sqft": 1234.5, "predominant_pitch": None}
    return JobRecord(ORG, job or job_id(), "done", CREATED, EXPIRES, attributes=attributes)


class JobRepositoryContract:
    @pytest.fixture
    def repository(self) -> JobRepository:
        raise NotImplementedError("a backend's test class gives its repository")

    # --- create and get ---------------------------------------------------------------------------

    @pytest.mark.parametrize("make", [vision_record, geometry_record], ids=["vision", "geometry"])
    def test_a_created_job_reads_back_as_it_was_stored(
        self, repository: JobRepository, make: Callable[[], JobRecord]
    ) -> None:
        record = make()
        repository.create(record)
        found = repository.get(ORG, record.job_id)
        assert found == record
        assert found is not None and found.created_at == CREATED.replace(microsecond=123_000)  # milliseconds kept

    def test_an_id_is_created_once(self, repository: JobRepository) -> None:
        first = vision_record()
        repository.create(first)
        with pytest.raises(JobConflict):
            repository.create(replace(first, status="done", name="other.jpg"))
        assert repository.get(ORG, first.job_id) == first

    def test_a_job_is_found_in_its_own_org_only_and_by_job_id_only(self, repository: JobRepository) -> None:
        record = vision_record()
        repository.create(record)
        repository.put_input(ORG, SHA, record.job_id, EXPIRES)
        assert repository.get(OTHER_ORG, record.job_id) is None
        assert repository.get(ORG, job_id()) is None
        for not_a_job_id in ("input#" + SHA, record.job_id.upper(), "", record.job_id + "0"):
            assert repository.get(ORG, not_a_job_id) is None

    # --- upsert -----------------------------------------------------------------------------------

    def test_an_upsert_creates_a_job_that_is_not_there(self, repository: JobRepository) -> None:
        record = vision_record(status="queued")
        repository.upsert(record)
        assert repository.get(ORG, record.job_id) == record

    def test_an_upsert_keeps_what_the_job_was_made_with(self, repository: JobRepository) -> None:
        # Given a job handed out for an upload, that later failed with a reason and has a result key
        made = vision_record()
        repository.create(made)
        failed = {"model": "m"}
        repository.update(ORG, made.job_id, status="failed", updated_at=CREATED, reason="too dark", attributes=failed)
        # When its upload arrives again, as another tool would name it
        arrived = vision_record(
            made.job_id,
            status="queued",
            created_at=LATER,
            updated_at=LATER,
            expires_at=EXPIRES + 1,
            name="renamed.jpg",
            tags={},
            attributes={"source_key": "uploads/acme/y/renamed.jpg"},
        )
        repository.upsert(arrived)
        # Then its state and attributes are the new ones; its creation, name, tags and expiry stay
        found = repository.get(ORG, made.job_id)
        assert found == replace(
            made,
            status="queued",
            updated_at=LATER,
            reason="too dark",
            attributes={"source_key": "uploads/acme/y/renamed.jpg", "model": "m"},
        )

    def test_an_upsert_never_takes_over_another_kinds_job(self, repository: JobRepository) -> None:
        geometry = geometry_record()
        repository.create(geometry)
        with pytest.raises(JobConflict):
            repository.upsert(vision_record(geometry.job_id, status="queued"))
        assert repository.get(ORG, geometry.job_id) == geometry
        with pytest.raises(ValueError, match="kind"):
            repository.upsert(replace(vision_record(), kind=None))

    # --- update -----------------------------------------------------------------------------------

    def test_an_update_sets_state_and_attributes_and_a_reason_only_while_given(self, repository: JobRepository) -> None:
        record = vision_record()
        repository.create(record)
        repository.update(ORG, record.job_id, status="failed", updated_at=LATER, reason="The photo is blank.")
        failed = repository.get(ORG, record.job_id)
        assert failed == replace(record, status="failed", updated_at=LATER, reason="The photo is blank.")
        done_at = LATER + timedelta(seconds=1)
        results: dict[str, Scalar] = {"result_key": "r.json", "detections": 3, "score": 0.25, "heatmap_key": None}
        repository.update(ORG, record.job_id, status="done", updated_at=done_at, attributes=results)
        done = repository.get(ORG, record.job_id)
        assert done == replace(record, status="done", updated_at=done_at, attributes={**record.attributes, **results})
        assert done is not None and done.reason is None

    def test_an_update_of_a_job_that_is_not_there_changes_nothing(self, repository: JobRepository) -> None:
        record = vision_record()
        repository.create(record)
        with pytest.raises(JobNotFound):
            repository.update(ORG, job_id(), status="running", updated_at=LATER)
        with pytest.raises(JobNotFound):  # the same id, another org
            repository.update(OTHER_ORG, record.job_id, status="running", updated_at=LATER)
        assert repository.get(OTHER_ORG, record.job_id) is None
        assert repository.get(ORG, record.job_id) == record

    def test_attributes_never_overwrite_the_records_own_fields(self, repository: JobRepository) -> None:
        record = vision_record()
        repository.create(record)
        with pytest.raises(ValueError, match="kind"):
            repository.update(ORG, record.job_id, status="done", updated_at=LATER, attributes={"kind": "geometry"})
        with pytest.raises(ValueError, match="status"):
            replace(record, attributes={"status": "done"})
        assert repository.get(ORG, record.job_id) == record

    # --- the input index --------------------------------------------------------------------------

    def test_an_input_is_indexed_once_per_org(self, repository: JobRepository) -> None:
        first, second = job_id(), job_id()
        assert repository.find_input(ORG, SHA) is None
        assert repository.put_input(ORG, SHA, first, EXPIRES) is True
        assert repository.put_input(ORG, SHA, second, EXPIRES) is False
        assert repository.find_input(ORG, SHA) == first
        assert repository.find_input(OTHER_ORG, SHA) is None
        assert repository.put_input(OTHER_ORG, SHA, second, EXPIRES) is True
        assert repository.find_input(OTHER_ORG, SHA) == second

    def test_the_index_takes_hashes_and_job_ids_only(self, repository: JobRepository) -> None:
        with pytest.raises(ValueError, match="sha256"):
            repository.find_input(ORG, SHA.upper())
        with pytest.raises(ValueError, match="sha256"):
            repository.put_input(ORG, "ab", job_id(), EXPIRES)
        with pytest.raises(ValueError, match="job id"):
            repository.put_input(ORG, SHA, "input#" + SHA, EXPIRES)

    # --- the claim index --------------------------------------------------------------------------

    def test_a_claims_jobs_of_every_kind_list_oldest_first_in_their_own_org_only(
        self, repository: JobRepository
    ) -> None:
        claim = f"claim-{uuid.uuid4().hex[:8]}"
        photo = vision_record(tags={"claim_id": claim}, created_at=LATER)
        roof = replace(geometry_record(), tags={"claim_id": claim, "structure": "1"})
        report = replace(geometry_record(), kind="report", tags={"claim_id": claim}, created_at=LATER + timedelta(1))
        other_claim = vision_record(tags={"claim_id": claim + "-b"})
        untagged = geometry_record()
        elsewhere = replace(vision_record(tags={"claim_id": claim}), org_id=OTHER_ORG)
        for record in (photo, roof, report, other_claim, untagged, elsewhere):
            repository.create(record)
        listed = repository.claim_jobs(ORG, claim)
        assert [r.job_id for r in listed] == [roof.job_id, photo.job_id, report.job_id]
        assert listed[1] == photo
        assert [r.job_id for r in repository.claim_jobs(OTHER_ORG, claim)] == [elsewhere.job_id]
        assert repository.claim_jobs(ORG, "no-such-claim") == []

    def test_a_claim_survives_an_upsert_and_an_update(self, repository: JobRepository) -> None:
        claim = f"claim-{uuid.uuid4().hex[:8]}"
        record = vision_record(tags={"claim_id": claim})
        repository.create(record)
        repository.upsert(replace(record, status="queued", tags={"claim_id": "another"}))
        repository.update(ORG, record.job_id, status="done", updated_at=LATER, attributes={"detections": 3})
        (listed,) = repository.claim_jobs(ORG, claim)
        assert listed.status == "done" and listed.claim_id == claim

    def test_a_claim_id_is_checked(self, repository: JobRepository) -> None:
        with pytest.raises(ValueError, match="claim id"):
            repository.claim_jobs(ORG, "a claim with spaces")
        with pytest.raises(ValueError, match="claim id"):
            vision_record(tags={"claim_id": "x" * 65})
