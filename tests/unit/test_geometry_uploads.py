"""Geometry's upload jobs without I/O: the upload keys and which function takes them, the job's record
keeping on the in-memory repository, its progress, the heartbeat that moves it, the job's limits, and
the input hash an upload shares with a synchronous request."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from geometry import points
from geometry.jobs import STAGE_PERCENT, UPLOADS, GeometryJobs, Progress
from geometry.limits import (
    JOB_BUDGET,
    JOB_FUNCTION_MEMORY_MB,
    JOB_FUNCTION_TIMEOUT_S,
    JOB_LIMITS,
    READER_MAX_CELLS,
    READER_MAX_POINTS,
    SYNC_LIMITS,
    InputSize,
    admit,
)
from geometry.service import Hashed, hashed_input_sha256, input_sha256, upload_resolution, with_heartbeat
from shared.deployment import Deployment, FunctionSpec, Uploads
from shared.errors import InvalidInput, PayloadTooLarge
from shared.forms import Part
from shared.job_events import MemoryEvents
from shared.jobs import JobTags, MemoryJobRepository
from shared.objects import object_created_event
from shared.uploads import UploadRef, safe_name
from shared.workers import MB
from tests.support.job_contract import ORG, vision_record
from vision.jobs import UPLOADS as VISION_UPLOADS

JOB = "0123456789abcdef" * 2


# --- keys: whose upload, and which function takes it -------------------------------------------------


def test_a_geometry_upload_key_names_its_org_job_and_file_and_nothing_else_is_one() -> None:
    assert UPLOADS.key("acme", JOB, "../../orgs/other/Site 2.tif") == f"geometry-uploads/acme/{JOB}/Site-2.tif"
    assert UPLOADS.parse(f"geometry-uploads/acme/{JOB}/site.tif") == UploadRef("acme", JOB, "site.tif")
    for key in (
        f"uploads/acme/{JOB}/site.tif",  # vision's
        f"geometry-uploads/acme/{JOB}",
        f"geometry-uploads/acme/{JOB}/a/b.tif",
        f"geometry-uploads/acme/{JOB[:-1]}/site.tif",
        f"geometry-uploads/a:b/{JOB}/site.tif",  # not an org id
        f"xgeometry-uploads/acme/{JOB}/site.tif",
    ):
        assert UPLOADS.parse(key) is None, key
    assert VISION_UPLOADS.parse(f"geometry-uploads/acme/{JOB}/site.tif") is None
    assert safe_name("...", "upload") == "upload" and safe_name("C:\\scans\\roof.laz") == "roof.laz"


def test_the_two_upload_prefixes_are_apart() -> None:
    prefixes = [UPLOADS.prefix, VISION_UPLOADS.prefix]
    assert all(p.endswith("/") for p in prefixes)
    assert not any(a != b and a.startswith(b) for a in prefixes for b in prefixes)


def _spec(taken: list[dict[str, Any]]) -> FunctionSpec:
    def handler_factory(clients: Any) -> Any:
        def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            taken.append(event)
            return {"jobs": [r["s3"]["object"]["key"] for r in event["Records"]]}

        return handler

    return FunctionSpec("x", "X", lambda clients: [], uploads=Uploads(handler_factory, "x-uploads/", max_bytes=10))


def test_a_deployment_hands_its_upload_handler_only_the_records_under_its_prefix() -> None:
    taken: list[dict[str, Any]] = []
    deployment = Deployment(_spec(taken), cast("Any", None), after_response=lambda: None)
    # Another function's object: its handler is never even built
    assert deployment.handler(object_created_event("b", f"uploads/acme/{JOB}/r.jpg", "e", 1), None) == {"jobs": []}
    assert taken == []
    # A mixed event (never sent by the template's filters, but harmless): its own records only
    mixed = object_created_event("b", f"x-uploads/acme/{JOB}/a b.tif", "e", 1)
    mixed["Records"] += object_created_event("b", f"uploads/acme/{JOB}/r.jpg", "e", 1)["Records"]
    assert deployment.handler(mixed, None) == {"jobs": [f"x-uploads/acme/{JOB}/a+b.tif"]}
    assert Uploads(lambda c: cast("Any", None), "x-uploads/", 1).takes("x-uploads/acme/a") is True


# --- the job's record keeping ----------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _jobs(records: MemoryJobRepository, clock: Clock, events: MemoryEvents | None = None) -> GeometryJobs:
    return GeometryJobs(records, cast("Any", None), "bucket", clock=clock, retention_days=30, events=events)  # no S3


def test_an_upload_job_goes_from_its_offer_through_queued_and_running_to_failed() -> None:
    records, clock, events = MemoryJobRepository(), Clock(), MemoryEvents()
    jobs = _jobs(records, clock, events)
    # Given an offer
    job_id = jobs.open(ORG, "../site plan.tif", JobTags(claim_id="C-1"))
    created = clock.now
    record = jobs.record(ORG, job_id)
    assert record is not None and jobs.is_upload_job(record)
    assert record.text("upload_key") == f"geometry-uploads/{ORG}/{job_id}/site-plan.tif"
    assert jobs.view(record) == {
        "job_id": job_id,
        "status": "awaiting_upload",
        "name": "site-plan.tif",
        "progress": {
            "stage": "awaiting_upload",
            "percent": 0,
            "stages": [{"stage": "awaiting_upload", "at": created.isoformat(timespec="milliseconds")}],
        },
        "tags": {"claim_id": "C-1"},
        "created_at": created.isoformat(timespec="milliseconds"),
        "updated_at": created.isoformat(timespec="milliseconds"),
    }
    # When its upload arrives (its object without the tags: they are the offer's), runs and fails
    clock.now += timedelta(minutes=2)
    progress = jobs.queue(UploadRef(ORG, job_id, "site-plan.tif"), JobTags())
    assert progress is not None and progress.stage == "queued"
    clock.now += timedelta(seconds=1)
    progress = progress.enter("reading", clock.now)
    jobs.progress(ORG, job_id, progress)
    running = jobs.record(ORG, job_id)
    assert running is not None and running.status == "running"
    clock.now += timedelta(seconds=1)
    jobs.fail(ORG, job_id, "x" * 600)
    # Then it shows its creation and tags, the stage it failed in, and a bounded reason
    failed = jobs.record(ORG, job_id)
    assert failed is not None
    view = jobs.view(failed)
    assert (view["status"], view["reason"], view["tags"]) == ("failed", "x" * 500, {"claim_id": "C-1"})
    assert view["created_at"] == created.isoformat(timespec="milliseconds")
    assert view["updated_at"] == clock.now.isoformat(timespec="milliseconds")
    assert (view["progress"]["stage"], view["progress"]["percent"]) == ("reading", 10)
    assert [s["stage"] for s in view["progress"]["stages"]] == ["queued", "reading"]
    assert "report" not in view
    # and its failure is announced with its claim and reason
    (event,) = events.recent(ORG, 10)
    assert (event.kind, event.status, event.claim_id, event.reason) == ("geometry", "failed", "C-1", "x" * 500)
    # Another org does not find it
    assert jobs.record("other-org", job_id) is None


def test_an_upload_without_an_offer_is_queued_as_a_new_job_but_never_over_another_kinds() -> None:
    records, clock = MemoryJobRepository(), Clock()
    jobs = _jobs(records, clock)
    progress = jobs.queue(UploadRef(ORG, JOB, "site.tif"), JobTags(structure="2"))
    assert progress is not None
    record = jobs.record(ORG, JOB)
    assert record is not None and record.status == "queued" and record.tags == {"structure": "2"}
    vision = vision_record()
    records.create(vision)
    assert jobs.queue(UploadRef(ORG, vision.job_id, "site.tif"), JobTags()) is None
    assert records.get(ORG, vision.job_id) == vision


# --- progress --------------------------------------------------------------------------------------


def test_progress_keeps_when_each_stage_began_and_never_goes_back() -> None:
    at = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    progress = Progress.start("queued", at)
    for stage in ("reading", "analysing"):
        at += timedelta(seconds=5)
        progress = progress.enter(stage, at)
    assert (progress.stage, progress.percent) == ("analysing", STAGE_PERCENT["analysing"])
    assert progress.advanced(55).percent == 55
    assert progress.advanced(55).advanced(40).percent == 55, "never backwards"
    assert progress.advanced(400).percent == STAGE_PERCENT["storing"] - 1, "never into the next stage"
    assert progress.as_json() == {
        "stage": "analysing",
        "percent": 30,
        "stages": [
            {"stage": "queued", "at": "2026-05-01T09:00:00.000+00:00"},
            {"stage": "reading", "at": "2026-05-01T09:00:05.000+00:00"},
            {"stage": "analysing", "at": "2026-05-01T09:00:10.000+00:00"},
        ],
    }
    assert list(STAGE_PERCENT.values()) == sorted(STAGE_PERCENT.values())
    assert progress.enter("done", at).percent == 100


@pytest.mark.anyio
async def test_the_heartbeat_beats_while_the_work_runs_and_never_after_it() -> None:
    beats: list[float] = []
    two = asyncio.Event()

    async def beat(elapsed_s: float) -> None:
        beats.append(elapsed_s)
        if len(beats) >= 2:
            two.set()

    async def work() -> str:
        await two.wait()
        return "done"

    assert await with_heartbeat(work(), beat, 0.01) == "done"
    assert len(beats) >= 2 and beats == sorted(beats)
    after = len(beats)
    await asyncio.sleep(0.05)
    assert len(beats) == after


@pytest.mark.anyio
async def test_the_work_raises_through_the_heartbeat() -> None:
    async def beat(elapsed_s: float) -> None:
        pass

    async def work() -> str:
        raise InvalidInput("bad roof")

    with pytest.raises(InvalidInput, match="bad roof"):
        await with_heartbeat(work(), beat, 0.01)


# --- the job's limits --------------------------------------------------------------------------------


def test_a_4000_by_4000_dsm_is_admitted_as_a_job_and_anything_larger_is_refused_saying_why() -> None:
    admit("site.tif", InputSize(shape=(4000, 4000)), JOB_LIMITS)
    with pytest.raises(PayloadTooLarge) as refused:
        admit("site.tif", InputSize(shape=(4001, 4000)), JOB_LIMITS)
    assert refused.value.code == "work_budget_exceeded"
    assert refused.value.message == (
        "site.tif is 4,001 x 4,000 = 16,004,000 cells, about 384 s of analysis: over the 16,000,000 cells an "
        "analysis reads at most; a job analyses at most 16,000,000 cells (a 4000 x 4000 DSM) within its budget, "
        "so crop the input to the buildings you need or resample it to a coarser pixel (10 cm is plenty for a "
        "roof) and upload it again."
    )
    admit("scan.laz", InputSize(points=5_000_000), JOB_LIMITS)
    with pytest.raises(PayloadTooLarge, match="over the 5,000,000 points an analysis reads at most"):
        admit("scan.laz", InputSize(points=5_000_001), JOB_LIMITS)
    # The synchronous limits are unchanged by the readers' bounds
    assert (SYNC_LIMITS.max_cells, SYNC_LIMITS.max_points) == (1_000_000, 3_000_000)


def test_the_job_budget_fits_the_job_function_and_buys_what_the_readers_take() -> None:
    assert (READER_MAX_CELLS, READER_MAX_POINTS) == (points.MAX_CELLS, points.MAX_POINTS)
    # The whole 4000 x 4000 at the measured worst costs, within the budget
    assert JOB_LIMITS.budget_cells >= READER_MAX_CELLS
    assert JOB_LIMITS.estimate_s(InputSize(shape=(4000, 4000))) <= JOB_BUDGET.seconds * 0.7
    assert READER_MAX_CELLS * JOB_LIMITS.bytes_per_cell <= JOB_BUDGET.memory_bytes * 0.8
    # Time around the work (the download, the forkserver, storing) and memory beside the worker
    assert JOB_BUDGET.seconds + 120 <= JOB_FUNCTION_TIMEOUT_S
    assert JOB_BUDGET.memory_bytes + 1024 * MB <= JOB_FUNCTION_MEMORY_MB * MB


# --- the input hash ----------------------------------------------------------------------------------


def test_an_upload_hashed_as_it_streams_is_the_same_input_as_the_same_file_in_a_request() -> None:
    data = b"\x93NUMPY" + bytes(range(256)) * 10
    tags = JobTags(claim_id="C-1")
    streamed = Hashed("site.npy", hashlib.sha256(data).digest())
    sent = input_sha256(Part("file", "site.npy", data), None, 0.25, tags)
    assert hashed_input_sha256(streamed, None, 0.25, tags) == sent
    assert hashed_input_sha256(streamed, None, 0.3, tags) != sent


def test_the_resolution_an_upload_carries() -> None:
    assert upload_resolution("site.npy", {"resolution": "0.25", "claim-id": "C-1"}) == 0.25
    assert upload_resolution("site.tif", {}) is None
    with pytest.raises(InvalidInput, match=r"site\.npy: its `resolution` \('a quarter'\) is not a number"):
        upload_resolution("site.npy", {"resolution": "a quarter"})


def test_job_tags_travel_as_s3_metadata() -> None:
    tags = JobTags(claim_id="CLM-7", structure="1")
    assert tags.metadata() == {"claim-id": "CLM-7", "structure": "1"}
    assert JobTags.from_metadata({**tags.metadata(), "resolution": "0.25"}) == tags
    with pytest.raises(ValueError, match="claim_id"):
        JobTags.from_metadata({"claim-id": "not a claim"})
