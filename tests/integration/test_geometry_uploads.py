"""Geometry inputs too large for a request, as jobs: `POST /v1/geometry/uploads` hands out a presigned
POST, the file goes to the dev server's S3 (checked against its policy as S3 checks it), the S3 event
runs the deployed handler, and the client polls `GET /v1/geometry/{job_id}` until the job ends. Also
the job run on its own (`run_upload`, on the `aws_env` fixture) where what it is handed is under test:
its progress while it analyses, and how each kind of failure ends.

Every wait polls with a generous deadline (tests.support.waiting): nothing here depends on how fast
the machine is.
"""

from __future__ import annotations

import base64
import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import numpy as np
import pytest

from dominus_dev.local import LocalRuntime
from dominus_dev.server import InvocationContext
from evaluation.geometry.synthetic import SceneSpec, build_scene
from geometry.function import SPEC as GEOMETRY
from geometry.function import geometry_jobs
from geometry.jobs import UPLOADS, GeometryJobs, preview_key
from geometry.limits import MAX_JOB_UPLOAD_BYTES, Limits
from geometry.service import INTERNAL, run_upload
from geometry.work import Analysed, InputFiles
from shared.deployment import Deployment, deploy
from shared.jobs import DynamoJobRepository, JobTags
from shared.objects import object_created_event
from shared.workers import Budget, WorkerFailed
from tests.support.aws_fixtures import AwsEnv
from tests.support.dev_server import running_dev_server
from tests.support.waiting import PATIENCE_S, eventually

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

UPLOADS_ROUTE = "/v1/geometry/uploads"
DATA = Path(__file__).resolve().parents[1] / "data" / "geometry"
RESOLUTION = 0.25
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


def _npy(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gable() -> bytes:
    scene = build_scene(SceneSpec(roof="gable", pitch=6.0, resolution=RESOLUTION, rotation_deg=20.0, seed=3))
    return _npy(scene.grid.z)


@pytest.fixture(scope="module")
def thurso() -> bytes:
    return (DATA / "thurso_elevation.tif").read_bytes()


@pytest.fixture(scope="module")
def dev_server() -> Iterator[tuple[str, LocalRuntime]]:
    """The dev server on embedded defaults (moto for DynamoDB and S3, Memory store, simulated model)."""
    with running_dev_server() as server:
        yield server


@pytest.fixture
def http(dev_server: tuple[str, LocalRuntime]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev_server[0], timeout=60) as client:
        yield client


def _offer(http: httpx.Client, org: str, **body: Any) -> dict[str, Any]:
    reply = http.post(UPLOADS_ROUTE, json=body, headers={"X-Org-Id": org})
    assert reply.status_code == 201, reply.text
    offer: dict[str, Any] = reply.json()
    return offer


def _post(offer: dict[str, Any], name: str, data: bytes, **changed: str) -> httpx.Response:
    """The presigned form as a browser posts it: its fields (some `changed`), then the file."""
    fields = {**offer["upload"]["fields"], **changed}
    return httpx.post(offer["upload"]["url"], data=fields, files={"file": (name, data)}, timeout=60)


def _job(http: httpx.Client, org: str, job_id: str) -> dict[str, Any]:
    reply = http.get(f"/v1/geometry/{job_id}", headers={"X-Org-Id": org})
    assert reply.status_code == 200, reply.text
    job: dict[str, Any] = reply.json()
    return job


def _wait(http: httpx.Client, org: str, job_id: str) -> dict[str, Any]:
    """The job once it has ended (done or failed), polled with a generous deadline."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        job = _job(http, org, job_id)
        if job["status"] in ("done", "failed"):
            return job
        assert time.monotonic() < deadline, f"the job did not end: {job}"
        time.sleep(0.1)


def _events(http: httpx.Client, org: str, job_id: str) -> list[dict[str, Any]]:
    """The job's finished events, once there is one: a job's record is written, then it is announced."""
    deadline = time.monotonic() + PATIENCE_S
    while True:
        events = [
            e for e in http.get("/dev/events", headers={"X-Org-Id": org}).json()["events"] if e["job_id"] == job_id
        ]
        if events:
            return events
        assert time.monotonic() < deadline, "the job's end was not announced"
        time.sleep(0.05)


def _stages(job: dict[str, Any]) -> list[str]:
    return [stage["stage"] for stage in job["progress"]["stages"]]


def _assert_error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["request_id"]
    return str(error["message"])


# --- through the dev server ----------------------------------------------------------------------


def test_a_real_dsm_uploaded_becomes_a_job_that_runs_through_its_stages_to_its_report(
    http: httpx.Client, dev_server: tuple[str, LocalRuntime], thurso: bytes
) -> None:
    org = _org()
    headers = {"X-Org-Id": org}
    # Given an upload offer for a GeoTIFF DSM, tagged with its claim
    offer = _offer(http, org, name="Thurso elevation.tif", tags={"claim_id": "CLM-7", "structure": "1"})
    job_id = offer["job_id"]
    assert offer["status"] == "awaiting_upload"
    assert offer["upload"]["key"] == f"geometry-uploads/{org}/{job_id}/Thurso-elevation.tif"
    assert offer["max_bytes"] == MAX_JOB_UPLOAD_BYTES and offer["expires_in_s"] > 0
    assert offer["job_url"] == f"/v1/geometry/{job_id}"
    waiting = _job(http, org, job_id)
    assert (waiting["status"], waiting["progress"]["stage"], waiting["progress"]["percent"]) == (
        "awaiting_upload",
        "awaiting_upload",
        0,
    )
    assert waiting["tags"] == {"claim_id": "CLM-7", "structure": "1"}
    # When the file is posted to the presigned form
    posted = _post(offer, "Thurso elevation.tif", thurso)
    assert posted.is_success, posted.text
    # Then the job runs to done, through each stage in order, and holds the roof's report
    job = _wait(http, org, job_id)
    assert job["status"] == "done", job
    assert _stages(job) == ["queued", "reading", "analysing", "storing", "done"]
    assert job["progress"]["percent"] == 100 and job["progress"]["stage"] == "done"
    times = [stage["at"] for stage in job["progress"]["stages"]]
    assert times == sorted(times) and job["created_at"] <= times[0] <= job["updated_at"]
    assert job["name"] == "Thurso-elevation.tif" and job["tags"] == {"claim_id": "CLM-7", "structure": "1"}
    report = job["report"]
    assert report["totals"]["facets"] >= 1 and report["totals"]["area_sqft"] > 0
    assert "reason" not in job
    # and its preview beside it, as a synchronous job's
    preview = http.get(f"/v1/geometry/{job_id}/preview.png", headers=headers)
    assert preview.status_code == 200 and preview.content.startswith(PNG_SIGNATURE)
    runtime = dev_server[1]
    s3 = runtime.aws.client("s3")
    assert s3.get_object(Bucket=runtime.settings.dominus_bucket, Key=preview_key(org, job_id))["Body"].read() == (
        preview.content
    )
    # Its finish is announced, with its claim
    events = _events(http, org, job_id)
    assert [(e["kind"], e["status"], e["claim_id"]) for e in events] == [("geometry", "done", "CLM-7")]
    # The same file sent synchronously, with the same tags, is the same input: this job, a hit
    again = http.post(
        "/v1/geometry/analyze",
        files={"file": ("thurso.tif", thurso, "application/octet-stream")},
        data={"claim_id": "CLM-7", "structure": "1"},
        headers=headers,
    )
    assert (again.status_code, again.json()["job_id"], again.headers["X-Dominus-Cache"]) == (200, job_id, "hit")
    assert again.json()["report"] == report
    # Another org finds neither the job nor its preview
    for path in (f"/v1/geometry/{job_id}", f"/v1/geometry/{job_id}/preview.png"):
        _assert_error(http.get(path, headers={"X-Org-Id": _org()}), 404, "not_found")


def test_an_npy_upload_carries_its_resolution_and_the_same_input_again_reuses_the_report(
    http: httpx.Client, gable: bytes
) -> None:
    org = _org()
    # An array has no pixel size: the offer asks for one
    refused = http.post(UPLOADS_ROUTE, json={"name": "gable.npy"}, headers={"X-Org-Id": org})
    assert "resolution" in _assert_error(refused, 422, "invalid_input")
    # Given a .npy DSM offered with its resolution, uploaded and analysed
    first = _offer(http, org, name="gable.npy", resolution=RESOLUTION)
    assert first["upload"]["fields"]["x-amz-meta-resolution"] == repr(RESOLUTION)
    assert _post(first, "gable.npy", gable).is_success
    done = _wait(http, org, first["job_id"])
    assert done["status"] == "done", done
    assert [plane["pitch"] for plane in done["report"]["planes"]] == ["6/12", "6/12"]
    # When the same file is uploaded again as another job
    second = _offer(http, org, name="gable.npy", resolution=RESOLUTION)
    assert _post(second, "gable.npy", gable).is_success
    again = _wait(http, org, second["job_id"])
    # Then that job is done with the same report, and never analysed it again
    assert again["status"] == "done" and again["report"] == done["report"]
    assert _stages(again) == ["queued", "reading", "storing", "done"]


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("roof.tif", "truncated", "roof.tif"),
        (
            "notes.tif",
            b"Dear adjuster, please find the roof attached.\n" * 20,
            "neither a DSM raster nor a point cloud",
        ),
    ],
)
def test_a_file_that_cannot_be_analysed_fails_its_job_with_a_reason(
    http: httpx.Client, thurso: bytes, name: str, content: bytes | str, says: str
) -> None:
    org = _org()
    data = thurso[: len(thurso) // 3] if content == "truncated" else content
    assert isinstance(data, bytes)
    offer = _offer(http, org, name=name, tags={"claim_id": "CLM-9"})
    assert _post(offer, name, data).is_success
    job = _wait(http, org, offer["job_id"])
    assert job["status"] == "failed", job
    assert says in job["reason"] and name in job["reason"]
    assert "Traceback" not in job["reason"] and "report" not in job
    assert job["progress"]["stage"] == "analysing", "the stage it failed in"
    # announced once its record says so (a moment later: two writes)
    events = _events(http, org, offer["job_id"])
    assert [(e["status"], e["claim_id"], e["reason"]) for e in events] == [("failed", "CLM-9", job["reason"])]


def test_the_offer_names_its_key_and_the_form_keeps_to_it(http: httpx.Client, gable: bytes) -> None:
    org = _org()
    headers = {"X-Org-Id": org}
    # A name is only a name: the key stays under the caller's own prefix and job
    offer = _offer(http, org, name="../../orgs/other/x.npy", resolution=RESOLUTION)
    assert offer["upload"]["key"] == f"{UPLOADS.org_prefix(org)}{offer['job_id']}/x.npy"
    # The body never names the tenant
    tenant = http.post(UPLOADS_ROUTE, json={"name": "x.tif", "org_id": "other"}, headers=headers)
    assert "org_id" in _assert_error(tenant, 422, "invalid_input")
    for bad in ({"name": ""}, {"name": "x.tif", "resolution": -1}, {"name": "x.tif", "tags": {"claim_id": "a b"}}):
        _assert_error(http.post(UPLOADS_ROUTE, json=bad, headers=headers), 422, "invalid_input")
    # The policy holds the size to the job's limit and the resolution to what was offered
    policy = json.loads(base64.b64decode(offer["upload"]["fields"]["policy"]))
    assert ["content-length-range", 1, MAX_JOB_UPLOAD_BYTES] in policy["conditions"]
    tampered = _post(offer, "x.npy", gable, **{"x-amz-meta-resolution": "0.5"})
    assert tampered.status_code == 403 and b"Policy Condition failed" in tampered.content
    assert _job(http, org, offer["job_id"])["status"] == "awaiting_upload"


def test_a_duplicate_event_does_nothing(http: httpx.Client, dev_server: tuple[str, LocalRuntime], gable: bytes) -> None:
    org, runtime = _org(), dev_server[1]
    offer = _offer(http, org, name="gable.npy", resolution=0.3)
    assert _post(offer, "gable.npy", gable).is_success
    job = _wait(http, org, offer["job_id"])
    assert job["status"] == "done", job
    # S3 delivers at least once: the same event again returns the stored outcome and changes nothing
    jobs = geometry_jobs(runtime.clients())()
    key = offer["upload"]["key"]
    head = jobs.s3.head_object(Bucket=jobs.upload_bucket, Key=key)
    event = object_created_event(jobs.upload_bucket, key, head["ETag"], head["ContentLength"])
    outcome = deploy(GEOMETRY, runtime.clients()).handler(event, InvocationContext())
    assert outcome == {"jobs": [{"status": "done", "job_id": offer["job_id"]}]}
    assert _job(http, org, offer["job_id"]) == job


def test_each_upload_reaches_its_own_function_only(
    http: httpx.Client, gable: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = _org()
    handed: list[tuple[str, list[str]]] = []
    handler = Deployment.handler

    def recorded(self: Deployment, event: dict[str, Any], context: Any) -> dict[str, Any]:
        keys = [r["s3"]["object"]["key"] for r in event.get("Records", []) if org in r["s3"]["object"]["key"]]
        if keys:
            handed.append((self.spec.name, keys))
        return handler(self, event, context)

    monkeypatch.setattr(Deployment, "handler", recorded)
    # Given a geometry upload and a vision upload (not a photo: it fails, but it is vision's to fail)
    geometry = _offer(http, org, name="gable.npy", resolution=RESOLUTION)
    vision = http.post("/v1/vision/uploads", json={"name": "roof.jpg"}, headers={"X-Org-Id": org}).json()
    assert _post(geometry, "gable.npy", gable).is_success
    posted = httpx.post(vision["upload"]["url"], data=vision["upload"]["fields"], files={"file": ("r.jpg", b"text")})
    assert posted.is_success
    # When both jobs have ended
    assert _wait(http, org, geometry["job_id"])["status"] == "done"
    deadline = time.monotonic() + PATIENCE_S
    while http.get(f"/v1/vision/{vision['job_id']}", headers={"X-Org-Id": org}).json()["status"] != "failed":
        assert time.monotonic() < deadline, "the vision job did not end"
        time.sleep(0.1)
    # Then each event went to its own function's handler, and to no other
    assert sorted(handed) == sorted([("geometry", [geometry["upload"]["key"]]), ("vision", [vision["upload"]["key"]])])


def test_a_deployed_function_drops_the_records_of_another_functions_prefix(
    dev_server: tuple[str, LocalRuntime],
) -> None:
    """Deployed, the template's filters send each function its own prefix; a record of another's that
    reaches it anyway never reaches its handler (nor its idempotency records)."""
    from vision.function import SPEC as VISION

    runtime = dev_server[1]
    bucket = runtime.settings.dominus_upload_bucket or runtime.settings.dominus_bucket
    job = uuid.uuid4().hex
    vision_event = object_created_event(bucket, f"uploads/{_org()}/{job}/roof.jpg", "etag", 10)
    geometry_event = object_created_event(bucket, f"geometry-uploads/{_org()}/{job}/site.tif", "etag", 10)
    geometry, vision = deploy(GEOMETRY, runtime.clients()), deploy(VISION, runtime.clients())
    assert geometry.handler(vision_event, InvocationContext()) == {"jobs": []}
    assert vision.handler(geometry_event, InvocationContext()) == {"jobs": []}


# --- the job run on its own, on the aws_env fixture ------------------------------------------------


def _jobs(aws_env: AwsEnv) -> GeometryJobs:
    records = DynamoJobRepository(aws_env.client("dynamodb"), aws_env.tables["JobsTable"])
    buckets = aws_env.buckets
    return GeometryJobs(records, aws_env.client("s3"), buckets["DataBucket"], upload_bucket=buckets["UploadsBucket"])


def _uploaded(jobs: GeometryJobs, org: str, name: str, data: bytes, **metadata: str) -> tuple[str, str]:
    """A job offered and its file in the upload bucket, as the form would have put it: (job id, key)."""
    job_id = jobs.open(org, name, JobTags())
    key = UPLOADS.key(org, job_id, name)
    s3: S3Client = jobs.s3
    s3.put_object(Bucket=jobs.upload_bucket, Key=key, Body=data, Metadata=metadata)
    return job_id, key


def _view(jobs: GeometryJobs, org: str, job_id: str) -> dict[str, Any]:
    record = jobs.record(org, job_id)
    assert record is not None
    return jobs.view(record)


REPORT: dict[str, Any] = {"planes": [], "totals": {"facets": 0}, "warnings": []}


@pytest.mark.anyio
async def test_an_analysis_under_way_moves_the_jobs_progress(aws_env: AwsEnv, gable: bytes) -> None:
    jobs, org = _jobs(aws_env), _org()
    job_id, key = _uploaded(jobs, org, "gable.npy", gable, resolution=str(RESOLUTION))
    seen: list[dict[str, Any]] = []

    async def progressed() -> bool:
        record = await anyio.to_thread.run_sync(jobs.record, org, job_id)
        assert record is not None
        progress = json.loads(record.text("progress") or "{}")
        seen.append(progress)
        return bool(progress["stage"] == "analysing" and progress["percent"] > 30)

    async def slow(files: InputFiles, limits: Limits) -> Analysed:
        assert files.resolution == RESOLUTION and files.file.read_bytes() == gable
        await eventually(progressed, "the heartbeat moved the analysis's progress")
        return Analysed(REPORT, None)

    outcome = await run_upload(jobs.upload_bucket, key, jobs=jobs, analyse=slow, heartbeat_s=0.05)
    assert outcome == {"status": "done", "job_id": job_id}
    record = jobs.record(org, job_id)
    assert record is not None and record.status == "done"
    assert 30 < seen[-1]["percent"] < 90
    assert json.loads(record.text("progress") or "{}")["percent"] == 100


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (WorkerFailed("The roof analysis failed in its worker: ValueError"), "gable.npy could not be analysed"),
        (RuntimeError("DynamoDB is having a bad day"), INTERNAL),
    ],
    ids=["worker-failed", "internal"],
)
async def test_a_failure_ends_the_job_with_a_reason_and_only_an_internal_one_is_retried(
    aws_env: AwsEnv, gable: bytes, failure: Exception, reason: str
) -> None:
    jobs, org = _jobs(aws_env), _org()
    job_id, key = _uploaded(jobs, org, "gable.npy", gable, resolution=str(RESOLUTION))

    async def failing(files: InputFiles, limits: Limits) -> Analysed:
        raise failure

    if isinstance(failure, WorkerFailed):  # the input's fault: said, and not retried
        assert await run_upload(jobs.upload_bucket, key, jobs=jobs, analyse=failing) == {
            "status": "failed",
            "job_id": job_id,
        }
    else:  # raised again, so Lambda retries the event
        with pytest.raises(RuntimeError):
            await run_upload(jobs.upload_bucket, key, jobs=jobs, analyse=failing)
    view = _view(jobs, org, job_id)
    assert view["status"] == "failed" and reason in view["reason"]
    assert "Traceback" not in view["reason"] and "ValueError" not in view["reason"]


@pytest.mark.anyio
async def test_an_input_too_large_for_the_jobs_budget_fails_saying_its_size_and_the_limit(
    aws_env: AwsEnv, thurso: bytes
) -> None:
    jobs, org = _jobs(aws_env), _org()
    job_id, key = _uploaded(jobs, org, "site.tif", thurso)
    tight = Limits(budget=Budget(seconds=0.24, memory_bytes=1024**3, advice="crop it"))  # 10,000 cells

    async def never(files: InputFiles, limits: Limits) -> Analysed:
        raise AssertionError("an input over the limit is refused before any analysis")

    assert await run_upload(jobs.upload_bucket, key, jobs=jobs, limits=tight, analyse=never) == {
        "status": "failed",
        "job_id": job_id,
    }
    view = _view(jobs, org, job_id)
    assert view["reason"] == (
        "site.tif is 256 x 256 = 65,536 cells, about 2 s of analysis: over the 10,000 cells that fit the "
        "0.24 s budget; crop it."
    )
    assert view["progress"]["stage"] == "reading"


@pytest.mark.anyio
async def test_an_upload_without_an_offer_is_a_job_and_one_deleted_before_its_event_fails(
    aws_env: AwsEnv, gable: bytes
) -> None:
    jobs, org = _jobs(aws_env), _org()
    # Written under the prefix by another tool, with no offer: its key still names the org and the job
    job_id = uuid.uuid4().hex
    key = UPLOADS.key(org, job_id, "gable.npy")
    s3: S3Client = jobs.s3
    s3.put_object(Bucket=jobs.upload_bucket, Key=key, Body=gable, Metadata={"resolution": str(RESOLUTION)})

    async def analysed(files: InputFiles, limits: Limits) -> Analysed:
        return Analysed(REPORT, None)

    assert (await run_upload(jobs.upload_bucket, key, jobs=jobs, analyse=analysed))["status"] == "done"
    assert _view(jobs, org, job_id)["report"] == REPORT
    # An offer whose object is gone by the time its event is handled
    gone_id, gone_key = _uploaded(jobs, org, "gone.npy", gable)
    s3.delete_object(Bucket=jobs.upload_bucket, Key=gone_key)
    assert await run_upload(jobs.upload_bucket, gone_key, jobs=jobs, analyse=analysed) == {
        "status": "failed",
        "job_id": gone_id,
    }
    assert "deleted" in _view(jobs, org, gone_id)["reason"]
    # A key outside the layout, or another bucket, is not a job
    assert await run_upload(jobs.upload_bucket, f"geometry-uploads/{org}/x.npy", jobs=jobs) == {"status": "ignored"}
    assert await run_upload(jobs.bucket, key, jobs=jobs) == {"status": "ignored"}
