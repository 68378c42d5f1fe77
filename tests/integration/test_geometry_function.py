"""The geometry function over HTTP: through the dev server (as `dominus serve` builds it, real HTTP on a
loopback port, jobs in the embedded moto DynamoDB and S3), and its deployed app on the `aws_env` fixture.

Synthetic roofs with known planes go up as .npy uploads; the real UK LiDAR GeoTIFF goes up with its
roof mask. Bad input comes back as the contract's error shape with a 4xx, never a 500.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from geometry.function import parse_multipart
from geometry.jobs import GeometryJobs, report_key
from geometry.synthetic import SceneSpec, build_scene
from shared.errors import BadRequest, UnsupportedMediaType
from shared.settings import Settings
from tests.support.aws_fixtures import AwsEnv
from tests.support.dev_server import running_dev_server

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
def dev_url() -> Iterator[str]:
    """The dev server on embedded defaults (moto for DynamoDB and S3, simulated model)."""
    with running_dev_server() as (url, _):
        yield url


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


def _assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["request_id"]
    assert set(error) <= {"code", "message", "request_id", "details"}
    return error


# --- through the dev server ----------------------------------------------------------------------


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
    assert again.json() == {"job_id": job_id, "report": report}
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


def test_npy_without_resolution_is_invalid(http: httpx.Client, gable: bytes) -> None:
    error = _assert_error(_upload(http, _org(), ("gable.npy", gable)), 422, "invalid_input")
    assert "resolution" in error["message"]


def test_missing_file_field_and_wrong_content_type(http: httpx.Client) -> None:
    org = {"X-Org-Id": _org()}
    missing = http.post(ANALYZE, files={"other": ("x.npy", b"abc")}, headers=org)
    _assert_error(missing, 422, "invalid_input")
    as_json = http.post(ANALYZE, json={"file": "abc"}, headers=org)
    _assert_error(as_json, 415, "unsupported_media_type")
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


# --- the deployed app, on the aws_env fixture -----------------------------------------------------


def test_upload_over_the_limit_is_413_with_the_limit(aws_env: AwsEnv) -> None:
    from fastapi import FastAPI

    from geometry.function import geometry_router
    from shared.http import install_error_handling

    jobs = GeometryJobs(
        aws_env.client("dynamodb"), aws_env.client("s3"), aws_env.tables["JobsTable"], aws_env.buckets["DataBucket"]
    )
    app = FastAPI()
    install_error_handling(app, max_body_bytes=10_000_000)
    app.include_router(geometry_router(lambda: jobs, "local", max_upload_bytes=1_000))
    with TestClient(app) as client:
        response = _upload(client, _org(), ("big.npy", b"\0" * 5_000), resolution=RESOLUTION)
    error = _assert_error(response, 413, "payload_too_large")
    assert "1,000 bytes" in error["message"]


def test_deployed_app_stores_job_record_and_report(
    aws_env: AwsEnv, gable: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geometry.app import create_app

    settings = Settings(
        dominus_env="local",
        dominus_jobs_table=aws_env.tables["JobsTable"],
        dominus_bucket=aws_env.buckets["DataBucket"],
        upstash_redis_rest_url=None,
        upstash_redis_rest_token=None,
        dominus_upstash_token_secret_arn=None,
    )
    org = _org()
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").json() == {"status": "ok", "function": "geometry"}
        response = _upload(client, org, ("gable.npy", gable), resolution=RESOLUTION)
    assert response.status_code == 201, response.text
    job_id = response.json()["job_id"]
    item = aws_env.client("dynamodb").get_item(
        TableName=aws_env.tables["JobsTable"], Key={"org_id": {"S": org}, "job_id": {"S": job_id}}
    )["Item"]
    assert item["status"] == {"S": "done"}
    assert item["input_name"] == {"S": "gable.npy"}
    assert item["facets"] == {"N": "2"}
    assert item["predominant_pitch"] == {"S": "6/12"}
    assert item["report_key"] == {"S": report_key(org, job_id)}
    assert len(item["input_sha256"]["S"]) == 64
    stored = aws_env.client("s3").get_object(Bucket=aws_env.buckets["DataBucket"], Key=report_key(org, job_id))
    assert json.loads(stored["Body"].read()) == response.json()["report"]


# --- the multipart parser -------------------------------------------------------------------------


def test_multipart_parts_keep_their_bytes() -> None:
    payload = bytes(range(256)) * 8 + b"\r\n--not-the-boundary\r\n\r\n"
    request = httpx.Request("POST", "http://x/", files={"file": ("a.bin", payload)}, data={"resolution": "0.5"})
    body = request.read()
    parts = parse_multipart(request.headers["content-type"], body)
    by_name = {part.name: part for part in parts}
    assert by_name["file"].data == payload
    assert by_name["file"].filename == "a.bin"
    assert by_name["resolution"].data == b"0.5"
    with pytest.raises(UnsupportedMediaType):
        parse_multipart("application/json", body)
    with pytest.raises(BadRequest):
        parse_multipart(request.headers["content-type"], body[:-10])
