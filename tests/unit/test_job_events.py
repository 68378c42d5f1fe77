"""Job-finished events: what is published when a geometry or vision job ends, the shape EventBridge
gets, and that publishing never fails a job."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from geometry.jobs import GeometryJobs
from shared.job_events import DETAIL_TYPE, SOURCE, EventBridgeEvents, JobFinished, MemoryEvents
from shared.jobs import JobTags, MemoryJobRepository
from vision.jobs import PhotoTags, VisionJobs

AT = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SHA = "cd" * 32
REPORT = {"totals": {"facets": 2, "area_sqft": 10.0, "squares": 0.1, "predominant_pitch": "6/12"}}


class _S3:
    def put_object(self, **_: Any) -> None:
        return None


def _finished(org: str, n: int) -> JobFinished:
    return JobFinished("vision", org, f"{n:032x}", "done", AT, f"/v1/vision/{n:032x}")


def test_memory_keeps_the_latest_events_per_org_newest_first() -> None:
    events = MemoryEvents(capacity=5)
    for n in range(4):
        events.publish(_finished("acme", n))
    events.publish(_finished("globex", 9))
    events.publish(_finished("acme", 4))
    assert [e.job_id[-1] for e in events.recent("acme")] == ["4", "3", "2", "1"]  # the oldest fell out
    assert [e.job_id[-1] for e in events.recent("globex")] == ["9"]
    assert events.recent("nobody") == []


def test_a_new_geometry_job_is_announced_once_with_its_claim() -> None:
    events = MemoryEvents()
    jobs = GeometryJobs(MemoryJobRepository(), cast("Any", _S3()), "bucket", events=events)
    job = jobs.create("acme", input_sha256=SHA, input_name="roof.tif", report=REPORT, tags=JobTags(claim_id="CLM-1"))
    (event,) = events.recent("acme")
    assert (event.kind, event.job_id, event.status, event.claim_id) == ("geometry", job, "done", "CLM-1")
    assert event.url == f"/v1/geometry/{job}"


def test_a_vision_job_is_announced_when_done_and_when_it_fails() -> None:
    events = MemoryEvents()
    jobs = VisionJobs(MemoryJobRepository(), cast("Any", _S3()), "bucket", events=events)
    done = jobs.open("acme", status="running", name="s.jpg", tags=PhotoTags(claim_id="CLM-2", facet="A"))
    result = {"image": {"sha256": "0" * 64}, "detections": [], "model": "local-opencv"}
    jobs.finish("acme", done, result, None)
    failed = jobs.open("acme", status="queued", name="t.jpg", tags=PhotoTags())
    jobs.mark("acme", failed, "running")
    jobs.mark("acme", failed, "failed", reason="not a photo: the upload is a PDF")
    newest, oldest = events.recent("acme")
    assert (oldest.job_id, oldest.status, oldest.claim_id) == (done, "done", "CLM-2")
    assert (newest.job_id, newest.status, newest.reason) == (failed, "failed", "not a photo: the upload is a PDF")


class _Bridge:
    def __init__(self, *, fail: bool = False, refuse: bool = False) -> None:
        self.fail, self.refuse = fail, refuse
        self.sent: list[dict[str, Any]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # boto3's argument name
        if self.fail:
            raise ConnectionError("EventBridge is unreachable")
        self.sent += Entries
        return {"FailedEntryCount": 1 if self.refuse else 0, "Entries": [{}]}


def test_event_bridge_gets_the_source_detail_type_and_the_detail_as_json() -> None:
    bridge = _Bridge()
    EventBridgeEvents(cast("Any", bridge), "dominus-jobs-dev").publish(
        JobFinished("report", "acme", "ab" * 16, "done", AT, "/v1/reports/" + "ab" * 16, "CLM-3")
    )
    (entry,) = bridge.sent
    assert (entry["Source"], entry["DetailType"], entry["EventBusName"]) == (SOURCE, DETAIL_TYPE, "dominus-jobs-dev")
    assert json.loads(entry["Detail"]) == {
        "kind": "report",
        "org_id": "acme",
        "job_id": "ab" * 16,
        "status": "done",
        "at": "2026-12-03T12:00:00.000+00:00",
        "url": "/v1/reports/" + "ab" * 16,
        "claim_id": "CLM-3",
        "reason": None,
    }


@pytest.mark.parametrize("bridge", [_Bridge(fail=True), _Bridge(refuse=True)], ids=["unreachable", "refused"])
def test_an_event_that_cannot_be_sent_is_logged_and_never_raises(bridge: _Bridge, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING):
        EventBridgeEvents(cast("Any", bridge), "bus").publish(_finished("acme", 1))
    assert "finished event" in caplog.text
