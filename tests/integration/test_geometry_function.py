"""The geometry function over HTTP: through the dev server (as `dominus serve` builds it, real HTTP on a
loopback port, jobs in the embedded moto DynamoDB and S3), and its router and deployed app on the
`aws_env` fixture.

Synthetic roofs with known planes go up as .npy uploads or S3 keys; the real UK LiDAR GeoTIFF goes up
with its roof mask. Bad input comes back as the contract's error shape with a 4xx, never a 500. The
engine's store answers identical input before DynamoDB does, and a store that is down changes nothing
but the speed.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dominus_dev.local import LocalRuntime
from dominus_dev.serving import free_port
from evaluation.geometry.synthetic import SceneSpec, build_scene
from geometry.function import MAX_UPLOAD_BYTES, geometry_router
from geometry.function import SPEC as GEOMETRY
from geometry.jobs import GeometryJobs, JobIndex, preview_key, report_key
from geometry.points import MAX_CELLS
from geometry.service import Analyser, AnalysisInput, bounded, write_input
from geometry.work import Analysed, analyze_files
from shared.deployment import deploy
from shared.errors import BadRequest, UnsupportedMediaType
from shared.forms import MULTIPART_SLACK_BYTES, parse_multipart
from shared.http import install_error_handling
from shared.jobs import DynamoJobRepository
from shared.runtime import Clients
from shared.settings import Settings
from shared.stores.base import GuardedStore
from shared.stores.memory import MemoryStore
from shared.workers import Disconnected
from tests.support.aws_fixtures import AwsEnv
from tests.support.dev_server import running_dev_server
from tests.support.fakes import FailingStore
from tests.support.waiting import eventually

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

pytestmark = pytest.mark.integration

ANALYZE = "/v1/geometry/analyze"
DATA = Path(__file__).resolve().parents[1] / "data" / "geometry"
RESOLUTION = 0.25


def _npy(array: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def gable() -> bytes:
    scene = build_scene(SceneSpec(roof="gable", pitch=6.0, resolution=RESOLUTION, rotation_deg=20.0, seed=3))
    return _npy(scene.grid.z)


@pytest.fixture(scope="module")
def dev_server() -> Iterator[tuple[str, LocalRuntime]]:
    """The dev server on embedded defaults (moto for DynamoDB and S3, Memory store, simulated model)."""
    with running_dev_server() as server:
        yield server


@pytest.fixture(scope="module")
def dev_url(dev_server: tuple[str, LocalRuntime]) -> str:
    return dev_server[0]


@pytest.fixture(scope="module")
def dev_s3(dev_server: tuple[str, LocalRuntime]) -> tuple[S3Client, str]:
    """The dev server's S3 client and data bucket, to put inputs where a client would have uploaded them."""
    runtime = dev_server[1]
    return runtime.aws.client("s3"), runtime.settings.dominus_bucket


@pytest.fixture
def http(dev_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev_url, timeout=60) as client:
        yield client


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


def _upload(
    client: httpx.Client | TestClient,
    org: str,
    file: tuple[str, bytes],
    *,
    resolution: float | None = None,
    mask: tuple[str, bytes] | None = None,
) -> Any:  # an httpx response (TestClient's comes from its own httpx)
    files = {"file": (file[0], file[1], "application/octet-stream")}
    if mask is not None:
        files["mask"] = (mask[0], mask[1], "application/octet-stream")
    data = {"resolution": str(resolution)} if resolution is not None else {}
    return client.post(ANALYZE, files=files, data=data, headers={"X-Org-Id": org})


def _assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["request_id"]
    assert set(error) <= {"code", "message", "request_id", "details"}
    return error


# --- through the dev server ----------------------------------------------------------------------


def test_a_tagged_roof_is_its_claims_job_and_its_finish_is_an_event(http: httpx.Client, gable: bytes) -> None:
    org = _org()
    files = {"file": ("gable.npy", gable, "application/octet-stream")}
    data = {"resolution": str(RESOLUTION), "claim_id": "CLM-42", "structure": "1"}
    created = http.post(ANALYZE, files=files, data=data, headers={"X-Org-Id": org})
    assert created.status_code == 201, created.text
    job_id = created.json()["job_id"]
    assert created.json()["tags"] == {"claim_id": "CLM-42", "structure": "1"}
    assert http.get(f"/v1/geometry/{job_id}", headers={"X-Org-Id": org}).json()["tags"]["claim_id"] == "CLM-42"
    (event,) = http.get("/dev/events", headers={"X-Org-Id": org}).json()["events"]
    assert (event["kind"], event["job_id"], event["status"], event["claim_id"]) == (
        "geometry",
        job_id,
        "done",
        "CLM-42",
    )
    assert http.get("/dev/events", headers={"X-Org-Id": _org()}).json()["events"] == []
    # The same roof for another claim is that claim's own job
    data["claim_id"] = "CLM-43"
    other = http.post(ANALYZE, files=files, data=data, headers={"X-Org-Id": org})
    assert other.status_code == 201 and other.json()["job_id"] != job_id


def test_gable_round_trip_and_tenant_isolation(http: httpx.Client, gable: bytes) -> None:
    org = _org()
    # Given a synthetic 6/12 gable uploaded as .npy with its resolution
    created = _upload(http, org, ("gable.npy", gable), resolution=RESOLUTION)
    # Then a job is created with the two planes of the gable
    assert created.status_code == 201, created.text
    body = created.json()
    job_id, report = body["job_id"], body["report"]
    assert len(job_id) == 32
    assert [plane["pitch"] for plane in report["planes"]] == ["6/12", "6/12"]
    assert report["totals"]["facets"] == 2
    assert report["totals"]["predominant_pitch"] == "6/12"
    # The same org reads it back
    again = http.get(f"/v1/geometry/{job_id}", headers={"X-Org-Id": org})
    assert again.status_code == 200
    assert again.json() == {"job_id": job_id, "tags": {}, "report": report}
    # Another org does not find it
    other = http.get(f"/v1/geometry/{job_id}", headers={"X-Org-Id": _org()})
    _assert_error(other, 404, "not_found")
    # The same input again returns the same job, without a new analysis
    repeat = _upload(http, org, ("gable.npy", gable), resolution=RESOLUTION)
    assert repeat.status_code == 200
    assert repeat.json()["job_id"] == job_id
    assert repeat.headers["X-Dominus-Cache"] == "hit"
    # ... but in another org it is a job of that org
    elsewhere = _upload(http, _org(), ("gable.npy", gable), resolution=RESOLUTION)
    assert elsewhere.status_code == 201
    assert elsewhere.json()["job_id"] != job_id
    # A different resolution is a different input
    rescaled = _upload(http, org, ("gable.npy", gable), resolution=0.3)
    assert rescaled.status_code == 201
    assert rescaled.json()["job_id"] != job_id


def test_unknown_and_malformed_job_ids_are_not_found(http: httpx.Client) -> None:
    for job_id in (uuid.uuid4().hex, "not-a-job", "input%23" + "0" * 64):
        _assert_error(http.get(f"/v1/geometry/{job_id}", headers={"X-Org-Id": _org()}), 404, "not_found")


def test_text_file_is_unsupported(http: httpx.Client) -> None:
    response = _upload(http, _org(), ("notes.txt", b"Dear adjuster,\nplease find the roof attached.\n"))
    _assert_error(response, 415, "unsupported_media_type")


def test_all_nodata_is_invalid(http: httpx.Client) -> None:
    response = _upload(http, _org(), ("empty.npy", _npy(np.full((40, 40), np.nan))), resolution=RESOLUTION)
    error = _assert_error(response, 422, "invalid_input")
    assert "nodata" in error["message"]


def test_a_flat_dsm_is_a_result_that_says_why_it_has_no_planes(http: httpx.Client) -> None:
    lawn = np.random.default_rng(4).normal(100.0, 0.02, (80, 80))
    response = _upload(http, _org(), ("lawn.npy", _npy(lawn)), resolution=RESOLUTION)
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["planes"] == [] and [w["code"] for w in report["warnings"]] == ["flat"]


def test_npy_without_resolution_is_invalid(http: httpx.Client, gable: bytes) -> None:
    error = _assert_error(_upload(http, _org(), ("gable.npy", gable)), 422, "invalid_input")
    assert "resolution" in error["message"]


def test_missing_file_field_and_wrong_content_type(http: httpx.Client) -> None:
    org = {"X-Org-Id": _org()}
    missing = http.post(ANALYZE, files={"other": ("x.npy", b"abc")}, headers=org)
    _assert_error(missing, 422, "invalid_input")
    as_json = http.post(ANALYZE, json={"file": "abc"}, headers=org)
    error = _assert_error(as_json, 422, "invalid_input")
    assert "s3_key" in error["message"]
    as_text = http.post(ANALYZE, content=b"x y z\n", headers=org | {"Content-Type": "text/plain"})
    assert "s3_key" in _assert_error(as_text, 415, "unsupported_media_type")["message"]
    bad_resolution = _upload(http, _org(), ("g.npy", b"\x93NUMPY"), resolution=None)
    assert 400 <= bad_resolution.status_code < 500


def test_real_geotiff_with_its_mask(http: httpx.Client) -> None:
    tif = (DATA / "thurso_elevation.tif").read_bytes()
    mask = (DATA / "thurso_roof_mask.tif").read_bytes()
    response = _upload(http, _org(), ("thurso_elevation.tif", tif), mask=("thurso_roof_mask.tif", mask))
    assert response.status_code == 201, response.text
    report = response.json()["report"]
    assert report["totals"]["facets"] >= 1
    assert report["totals"]["area_sqft"] > 0


# --- S3 keys and previews, through the dev server ------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _put(dev_s3: tuple[S3Client, str], key: str, data: bytes) -> None:
    client, bucket = dev_s3
    client.put_object(Bucket=bucket, Key=key, Body=data)


def test_s3_key_round_trip_with_its_preview(http: httpx.Client, dev_s3: tuple[S3Client, str], gable: bytes) -> None:
    org = _org()
    headers = {"X-Org-Id": org}
    key = f"orgs/{org}/uploads/2026/gable.npy"
    # Given a gable DSM the CRM uploaded under the org's prefix
    _put(dev_s3, key, gable)
    # When it is analysed by its key
    created = http.post(ANALYZE, json={"s3_key": key, "resolution": RESOLUTION}, headers=headers)
    # Then a job is created with the gable's two planes
    assert created.status_code == 201, created.text
    assert created.headers["X-Dominus-Cache"] == "miss"
    job_id, report = created.json()["job_id"], created.json()["report"]
    assert [plane["pitch"] for plane in report["planes"]] == ["6/12", "6/12"]
    # and its preview is stored beside the report and served to the same org as a PNG
    preview = http.get(f"/v1/geometry/{job_id}/preview.png", headers=headers)
    assert preview.status_code == 200, preview.text
    assert preview.headers["content-type"] == "image/png"
    assert preview.content.startswith(PNG_SIGNATURE)
    client, bucket = dev_s3
    assert client.get_object(Bucket=bucket, Key=preview_key(org, job_id))["Body"].read() == preview.content
    assert client.head_object(Bucket=bucket, Key=report_key(org, job_id))["ContentLength"] > 0
    # Another org gets neither the job nor its preview
    for path in (f"/v1/geometry/{job_id}", f"/v1/geometry/{job_id}/preview.png"):
        _assert_error(http.get(path, headers={"X-Org-Id": _org()}), 404, "not_found")
    # The same key as a form field (multipart or url-encoded) is the same input: the same job, a hit
    for form in (
        {"files": {"s3_key": (None, key), "resolution": (None, str(RESOLUTION))}},
        {"data": {"s3_key": key, "resolution": str(RESOLUTION)}},
    ):
        again = http.post(ANALYZE, headers=headers, **form)
        assert (again.status_code, again.json()["job_id"], again.headers["X-Dominus-Cache"]) == (200, job_id, "hit")
    # and so are the same bytes uploaded under the same kind of name
    uploaded = _upload(http, org, ("gable.npy", gable), resolution=RESOLUTION)
    assert (uploaded.status_code, uploaded.json()["job_id"]) == (200, job_id)


def test_preview_of_unknown_and_malformed_jobs_is_not_found(http: httpx.Client) -> None:
    for job_id in (uuid.uuid4().hex, "not-a-job", "input%23" + "0" * 64):
        reply = http.get(f"/v1/geometry/{job_id}/preview.png", headers={"X-Org-Id": _org()})
        error = _assert_error(reply, 404, "not_found")
        assert "No geometry job" in error["message"]


def test_another_orgs_key_is_refused_without_saying_whether_it_exists(
    http: httpx.Client, dev_s3: tuple[S3Client, str], gable: bytes
) -> None:
    owner, caller = _org(), _org()
    existing = f"orgs/{owner}/uploads/gable.npy"
    _put(dev_s3, existing, gable)
    refusals = []
    for key in (
        existing,  # another org's object that exists
        f"orgs/{owner}/uploads/missing.npy",  # and one that does not
        f"orgs/{caller}/../{owner}/uploads/gable.npy",  # path tricks from the caller's own prefix
        f"orgs/{caller}/uploads/../../{owner}/uploads/gable.npy",
        f"orgs/{caller}-x/uploads/gable.npy",
        f"/orgs/{caller}/uploads/gable.npy",
    ):
        response = http.post(ANALYZE, json={"s3_key": key, "resolution": RESOLUTION}, headers={"X-Org-Id": caller})
        error = _assert_error(response, 403, "forbidden")
        assert f"orgs/{caller}/" in error["message"]
        refusals.append(error["message"])
    # The same answer whether or not the object exists
    assert len(set(refusals)) == 1
    # A form field is held to the same rule
    form = http.post(ANALYZE, files={"s3_key": (None, existing)}, headers={"X-Org-Id": caller})
    _assert_error(form, 403, "forbidden")


def test_missing_key_in_the_own_org_is_404(http: httpx.Client) -> None:
    org = _org()
    key = f"orgs/{org}/uploads/nothing-here.tif"
    error = _assert_error(http.post(ANALYZE, json={"s3_key": key}, headers={"X-Org-Id": org}), 404, "not_found")
    assert key in error["message"]


def test_a_body_never_names_the_tenant_and_names_one_input(
    http: httpx.Client, dev_s3: tuple[S3Client, str], gable: bytes
) -> None:
    org, other = _org(), _org()
    key = f"orgs/{other}/uploads/gable.npy"
    _put(dev_s3, key, gable)
    # An org_id in the body is not a field: 422, and the key stays the other org's
    tenant = http.post(ANALYZE, json={"s3_key": key, "org_id": other}, headers={"X-Org-Id": org})
    assert "org_id" in _assert_error(tenant, 422, "invalid_input")["message"]
    # A file and a key at once: 422
    both = http.post(
        ANALYZE,
        files={"file": ("gable.npy", gable), "s3_key": (None, f"orgs/{org}/uploads/gable.npy")},
        headers={"X-Org-Id": org},
    )
    assert "not both" in _assert_error(both, 422, "invalid_input")["message"]
    # An empty object is invalid input
    empty = f"orgs/{org}/uploads/empty.npy"
    _put(dev_s3, empty, b"")
    _assert_error(http.post(ANALYZE, json={"s3_key": empty}, headers={"X-Org-Id": org}), 422, "invalid_input")


# --- the router and the deployed app, on the aws_env fixture --------------------------------------


class CountingJobs(GeometryJobs):
    """Job storage that counts DynamoDB index lookups."""

    def __init__(self, aws_env: AwsEnv) -> None:
        super().__init__(_records(aws_env), aws_env.client("s3"), aws_env.buckets["DataBucket"])
        self.finds = 0

    def find(self, org_id: str, input_sha256: str) -> str | None:
        self.finds += 1
        return super().find(org_id, input_sha256)


def _records(aws_env: AwsEnv) -> DynamoJobRepository:
    return DynamoJobRepository(aws_env.client("dynamodb"), aws_env.tables["JobsTable"])


def _router_app(
    jobs: GeometryJobs, store: Any = None, *, max_upload_bytes: int = MAX_UPLOAD_BYTES, analyse: Analyser | None = None
) -> FastAPI:
    """The geometry routes on `jobs`, with the engine's store guarding `store` (Memory by default)."""
    guarded = GuardedStore(store if store is not None else MemoryStore(), timeout_s=0.25, cooldown_s=30.0)
    index = JobIndex(guarded, lease_ms=2_000, wait_ms=5_000)
    app = FastAPI()
    install_error_handling(app, max_body_bytes=max_upload_bytes + MULTIPART_SLACK_BYTES)
    app.include_router(
        geometry_router(lambda: jobs, "local", index=lambda: index, max_upload_bytes=max_upload_bytes, analyse=analyse)
    )
    return app


class CountingAnalyser:
    """The bounded analysis (a worker process, as deployed), counting the inputs it analysed."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._bounded = bounded()

    async def __call__(self, source: AnalysisInput, gone: Disconnected) -> Analysed:
        self.names.append(source.name)
        return await self._bounded(source, gone)


@pytest.fixture
def analyses() -> CountingAnalyser:
    return CountingAnalyser()


async def in_process(source: AnalysisInput, gone: Disconnected) -> Analysed:
    """The analysis in this process (a test double: what it runs can be patched here)."""
    with tempfile.TemporaryDirectory() as folder:
        files = write_input(source, Path(folder))
        return await anyio.to_thread.run_sync(analyze_files, files, MAX_CELLS)


def test_upload_and_s3_object_over_the_limit_are_413_with_the_limit(aws_env: AwsEnv) -> None:
    jobs = GeometryJobs(_records(aws_env), aws_env.client("s3"), aws_env.buckets["DataBucket"])
    org = _org()
    key = f"orgs/{org}/uploads/big.npy"
    aws_env.client("s3").put_object(Bucket=aws_env.buckets["DataBucket"], Key=key, Body=b"\0" * 5_000)
    downloads: list[str] = []
    event, hook = "before-parameter-build.s3.GetObject", "count-geometry-downloads"
    jobs.s3.meta.events.register(event, lambda params, **_: downloads.append(params["Key"]), unique_id=hook)
    try:
        with TestClient(_router_app(jobs, max_upload_bytes=1_000)) as client:
            uploaded = _upload(client, org, ("big.npy", b"\0" * 5_000), resolution=RESOLUTION)
            by_key = client.post(ANALYZE, json={"s3_key": key}, headers={"X-Org-Id": org})
        assert downloads == [], "the size comes from a HEAD; nothing is downloaded"
        aws_env.client("s3").put_object(Bucket=jobs.bucket, Key=f"{key}.small", Body=b"\0" * 1_000)
        assert jobs.read_input(org, f"{key}.small", 1_000) == b"\0" * 1_000  # at the limit: read
        assert downloads == [f"{key}.small"]
    finally:
        jobs.s3.meta.events.unregister(event, unique_id=hook)
    assert "1,000 bytes" in _assert_error(uploaded, 413, "payload_too_large")["message"]
    assert "1,000 bytes" in _assert_error(by_key, 413, "payload_too_large")["message"]


def test_identical_input_is_served_from_the_store_without_the_dynamodb_index(
    aws_env: AwsEnv, gable: bytes, analyses: CountingAnalyser
) -> None:
    jobs = CountingJobs(aws_env)
    org = _org()
    with TestClient(_router_app(jobs, analyse=analyses)) as client:
        # Given one analysis of a gable (the store misses, so the DynamoDB index is asked once)
        first = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
        assert first.status_code == 201, first.text
        assert jobs.finds == 1
        # When the same input comes again, twice
        repeats = [_upload(client, org, ("gable.npy", gable), resolution=RESOLUTION) for _ in range(2)]
    # Then the store answers: the same job, a hit, no new analysis and no DynamoDB index lookup
    for repeat in repeats:
        assert (repeat.status_code, repeat.headers["X-Dominus-Cache"]) == (200, "hit")
        assert repeat.json() == first.json()
    assert jobs.finds == 1
    assert analyses.names == ["gable.npy"]


@pytest.mark.anyio
@pytest.mark.parametrize("store", [MemoryStore, FailingStore], ids=["store-up", "store-down"])
async def test_concurrent_identical_uploads_analyse_once(
    aws_env: AwsEnv,
    gable: bytes,
    analyses: CountingAnalyser,
    store: type[MemoryStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The analysis waits until all four requests have missed the store: each then joins the flight in
    # the same step of the event loop, before the analysis can finish, however slow the machine is.
    looked_up = 0
    real_lookup = JobIndex.lookup

    async def counted_lookup(self: JobIndex, org_id: str, input_sha256: str) -> str | None:
        nonlocal looked_up
        found = await real_lookup(self, org_id, input_sha256)
        looked_up += 1
        return found

    async def overlapping(source: AnalysisInput, gone: Disconnected) -> Analysed:
        async def all_looked_up() -> bool:
            return looked_up == 4

        await eventually(all_looked_up, "all four requests looked the input up")
        return await analyses(source, gone)

    monkeypatch.setattr(JobIndex, "lookup", counted_lookup)
    jobs = CountingJobs(aws_env)
    org = _org()
    transport = httpx.ASGITransport(app=_router_app(jobs, store(), analyse=overlapping))
    async with httpx.AsyncClient(transport=transport, base_url="http://geometry", timeout=60) as client:
        # When four identical uploads arrive together (with the store up, or down)
        replies = await asyncio.gather(
            *(
                client.post(
                    ANALYZE,
                    files={"file": ("gable.npy", gable)},
                    data={"resolution": str(RESOLUTION)},
                    headers={"X-Org-Id": org},
                )
                for _ in range(4)
            )
        )
    # Then one analysis answers all four: one new job, three sharing it
    assert analyses.names == ["gable.npy"]
    assert sorted((r.status_code, r.headers["X-Dominus-Cache"]) for r in replies) == [
        (200, "shared"),
        (200, "shared"),
        (200, "shared"),
        (201, "miss"),
    ]
    assert len({r.json()["job_id"] for r in replies}) == 1
    assert all(r.json()["report"] == replies[0].json()["report"] for r in replies)


def test_a_store_that_is_down_falls_back_to_the_dynamodb_index(
    aws_env: AwsEnv, gable: bytes, analyses: CountingAnalyser
) -> None:
    jobs = CountingJobs(aws_env)
    org = _org()
    with TestClient(_router_app(jobs, FailingStore(), analyse=analyses)) as client:
        first = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
        again = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
    assert (first.status_code, first.headers["X-Dominus-Cache"]) == (201, "miss")
    assert (again.status_code, again.headers["X-Dominus-Cache"]) == (200, "hit")
    assert again.json()["job_id"] == first.json()["job_id"]
    assert jobs.finds == 2, "with the store down, DynamoDB's index answers"
    assert analyses.names == ["gable.npy"]


def test_a_preview_that_fails_does_not_fail_the_job(
    aws_env: AwsEnv, gable: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geometry import preview

    def broken(analysis: Any, **_: Any) -> bytes:
        raise RuntimeError("the preview could not be drawn")

    monkeypatch.setattr(preview, "render_preview", broken)
    jobs = CountingJobs(aws_env)
    org = _org()
    with TestClient(_router_app(jobs, analyse=in_process)) as client:
        created = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
        assert created.status_code == 201, created.text
        job_id = created.json()["job_id"]
        assert client.get(f"/v1/geometry/{job_id}", headers={"X-Org-Id": org}).status_code == 200
        missing = client.get(f"/v1/geometry/{job_id}/preview.png", headers={"X-Org-Id": org})
    assert "no preview" in _assert_error(missing, 404, "not_found")["message"]
    key = {"org_id": {"S": org}, "job_id": {"S": job_id}}
    item = aws_env.client("dynamodb").get_item(TableName=aws_env.tables["JobsTable"], Key=key)["Item"]
    assert "preview_key" not in item


def _deployed_settings(aws_env: AwsEnv, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "dominus_env": "local",
        "dominus_jobs_table": aws_env.tables["JobsTable"],
        "dominus_bucket": aws_env.buckets["DataBucket"],
        "redis_url": None,
        "upstash_redis_rest_url": None,
        "upstash_redis_rest_token": None,
        "dominus_upstash_token_secret_arn": None,
    }
    return Settings(**(values | overrides))


def _deployed_app(settings: Settings) -> FastAPI:
    """The app GeometryFunction serves, on clients made from `settings` (boto3 reaches moto)."""
    return deploy(GEOMETRY, Clients.from_settings(settings)).app


def test_deployed_app_stores_job_record_report_and_preview(aws_env: AwsEnv, gable: bytes) -> None:
    org = _org()
    with TestClient(_deployed_app(_deployed_settings(aws_env))) as client:
        assert client.get("/healthz").json() == {"status": "ok", "function": "geometry"}
        response = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
        again = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
        png = client.get(f"/v1/geometry/{response.json()['job_id']}/preview.png", headers={"X-Org-Id": org})
    assert response.status_code == 201, response.text
    assert (again.status_code, again.headers["X-Dominus-Cache"]) == (200, "hit")
    job_id = response.json()["job_id"]
    item = aws_env.client("dynamodb").get_item(
        TableName=aws_env.tables["JobsTable"], Key={"org_id": {"S": org}, "job_id": {"S": job_id}}
    )["Item"]
    assert item["status"] == {"S": "done"}
    assert item["input_name"] == {"S": "gable.npy"}
    assert item["facets"] == {"N": "2"}
    assert item["predominant_pitch"] == {"S": "6/12"}
    assert item["report_key"] == {"S": report_key(org, job_id)}
    assert item["preview_key"] == {"S": preview_key(org, job_id)}
    assert len(item["input_sha256"]["S"]) == 64
    s3, bucket = aws_env.client("s3"), aws_env.buckets["DataBucket"]
    stored = s3.get_object(Bucket=bucket, Key=report_key(org, job_id))
    assert json.loads(stored["Body"].read()) == response.json()["report"]
    preview_object = s3.get_object(Bucket=bucket, Key=preview_key(org, job_id))
    assert preview_object["ContentType"] == "image/png"
    assert preview_object["Body"].read() == png.content
    assert png.content.startswith(PNG_SIGNATURE)


def test_deployed_app_with_a_dead_redis_still_serves(aws_env: AwsEnv, gable: bytes) -> None:
    # Given the store configured at a Redis that nobody listens on
    settings = _deployed_settings(aws_env, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    org = _org()
    with TestClient(_deployed_app(settings)) as client:
        first = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
        again = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
    # Then the analysis runs and identical input is still found (through DynamoDB)
    assert (first.status_code, first.headers["X-Dominus-Cache"]) == (201, "miss")
    assert (again.status_code, again.headers["X-Dominus-Cache"]) == (200, "hit")
    assert again.json()["job_id"] == first.json()["job_id"]


# --- the multipart parser -------------------------------------------------------------------------


def test_multipart_parts_keep_their_bytes() -> None:
    payload = bytes(range(256)) * 8 + b"\r\n--not-the-boundary\r\n\r\n"
    request = httpx.Request("POST", "http://x/", files={"file": ("a.bin", payload)}, data={"resolution": "0.5"})
    body = request.read()
    parts = parse_multipart(request.headers["content-type"], body, "multipart please")
    by_name = {part.name: part for part in parts}
    assert by_name["file"].data == payload
    assert by_name["file"].filename == "a.bin"
    assert by_name["resolution"].data == b"0.5"
    with pytest.raises(UnsupportedMediaType):
        parse_multipart("application/json", body, "multipart please")
    with pytest.raises(BadRequest):
        parse_multipart(request.headers["content-type"], body[:-10], "multipart please")
