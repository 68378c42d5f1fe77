"""The vision function over HTTP, as users reach it: through the dev server (real HTTP on a loopback
port, jobs and uploads in the embedded moto DynamoDB and S3, the deployed handler run on an upload as
S3's event would run it), with the simulated model serving as OpenAI where the model's stage is under
test, its classifications given by the test.

Photos are synthetic roof photos (shingle courses, perspective, lighting, hail marks, a missing
shingle) encoded as phones send them.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import SecretStr

from dominus_dev.local import LocalRuntime
from dominus_dev.server import InvocationContext
from dominus_dev.simulated_model import SimulatedModel
from evaluation.vision.synthetic import PhotoSpec, render
from shared.deployment import deploy
from shared.engine import CallContext
from shared.http import install_error_handling
from shared.jobs import DynamoJobRepository
from shared.objects import object_created_event, upload_prefix
from shared.orgs import DynamoOrgRepository, OrgPreferences
from tests.support.aws_fixtures import AwsEnv
from tests.support.dev_server import running_dev_server
from vision.candidates import find_candidates
from vision.function import SPEC as VISION
from vision.function import vision_jobs, vision_router
from vision.images import encode_jpeg, load_photo
from vision.jobs import PhotoTags, VisionJobs
from vision.service import MAX_PHOTO_BYTES, analyze

pytestmark = pytest.mark.integration

ANALYZE = "/v1/vision/analyze"
UPLOADS = "/v1/vision/uploads"


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:12]}"


def _jpeg(pixels: np.ndarray[Any, Any], orientation: int | None = None) -> bytes:
    """A JPEG as a phone writes it: the sensor's pixels, and an EXIF orientation for the viewer."""
    image = Image.fromarray(pixels)
    buffer = io.BytesIO()
    if orientation is None:
        image.save(buffer, "JPEG", quality=92)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x8825] = {2: (51.0, 30.0, 0.0), 1: "N"}  # GPS: must never reach a result
        image.save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def roof_photo() -> bytes:
    return encode_jpeg(render(PhotoSpec(width=1600, height=1200, seed=11, hail=6)).pixels, quality=92)


@pytest.fixture(scope="module")
def local_server() -> Iterator[tuple[str, LocalRuntime]]:
    """Embedded defaults: no OpenAI key, so the local stage answers."""
    with running_dev_server() as server:
        yield server


@pytest.fixture(scope="module")
def model_server(simulated_model_server: SimulatedModel) -> Iterator[tuple[str, LocalRuntime]]:
    """The simulated model as if it were OpenAI: the model's stage runs."""
    with running_dev_server(
        openai_base_url=simulated_model_server.base_url,
        openai_api_key=SecretStr("sk-simulated"),
        dominus_org_settings_ttl_s=0,
    ) as server:
        yield server


def _client(server: tuple[str, LocalRuntime]) -> httpx.Client:
    return httpx.Client(base_url=server[0], timeout=60)


def _analyze(client: httpx.Client, org: str, photo: bytes, name: str = "roof.jpg", **params: Any) -> httpx.Response:
    files = {"file": (name, photo, "image/jpeg")}
    return client.post(ANALYZE, files=files, params=params, headers={"X-Org-Id": org})


def _error(response: httpx.Response, status: int, code: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if code is not None:
        assert error["code"] == code
    assert error["message"] and error["request_id"]
    return str(error["message"])


def _wait(client: httpx.Client, org: str, job_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        job: dict[str, Any] = client.get(f"/v1/vision/{job_id}", headers={"X-Org-Id": org}).json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


# --- without a model: the local stage answers, through every route ----------------------------------


def test_a_photo_analysed_now_is_stored_with_its_heatmap_and_served_to_its_org_only(
    local_server: tuple[str, LocalRuntime], roof_photo: bytes
) -> None:
    org = _org()
    with _client(local_server) as client:
        reply = _analyze(client, org, roof_photo, lead_id=None)
        assert reply.status_code == 201, reply.text
        body = reply.json()
        result = body["result"]
        assert result["model"] == "local-opencv"
        assert "Local detection only" in result["summary"]
        assert result["image"]["width"] == 1600 and result["image"]["height"] == 1200
        assert result["detections"], "the synthetic photo has hail marks and a missing shingle"
        assert reply.headers["X-Dominus-Model"] == "local-opencv"
        assert reply.headers["X-Dominus-Cache"] == "bypass"
        job = client.get(f"/v1/vision/{body['job_id']}", headers={"X-Org-Id": org}).json()
        assert job["status"] == "done" and job["result"] == result
        heatmap = client.get(body["heatmap_url"], headers={"X-Org-Id": org})
        assert heatmap.status_code == 200 and heatmap.headers["content-type"] == "image/png"
        assert heatmap.content.startswith(b"\x89PNG")
        other = _org()
        _error(client.get(f"/v1/vision/{body['job_id']}", headers={"X-Org-Id": other}), 404, "not_found")
        _error(client.get(body["heatmap_url"], headers={"X-Org-Id": other}), 404, "not_found")


def test_a_presigned_upload_runs_its_job_once_however_often_s3_delivers_the_event(
    local_server: tuple[str, LocalRuntime], roof_photo: bytes
) -> None:
    org, runtime = _org(), local_server[1]
    with _client(local_server) as client:
        created = client.post(
            UPLOADS,
            json={"name": "south slope.jpg", "tags": {"lead_id": "L-42", "slope": "S", "test_square": True}},
            headers={"X-Org-Id": org},
        )
        assert created.status_code == 201, created.text
        offer = created.json()
        assert offer["status"] == "awaiting_upload"
        assert offer["upload"]["key"].startswith(upload_prefix(org))
        assert client.get(f"/v1/vision/{offer['job_id']}", headers={"X-Org-Id": org}).json()["status"] == (
            "awaiting_upload"
        )
        form = offer["upload"]["fields"]
        posted = httpx.post(offer["upload"]["url"], data=form, files={"file": ("south slope.jpg", roof_photo)})
        assert posted.is_success, posted.text
        job = _wait(client, org, offer["job_id"])
        assert job["status"] == "done", job
        assert job["tags"] == {"lead_id": "L-42", "slope": "S", "test_square": True}
        assert job["result"]["model"] == "local-opencv"
        finished = job["updated_at"]

        # S3 delivers at least once: the same event again does nothing.
        jobs = vision_jobs(runtime.clients())()
        head = jobs.s3.head_object(Bucket=jobs.upload_bucket, Key=offer["upload"]["key"])
        event = object_created_event(jobs.upload_bucket, offer["upload"]["key"], head["ETag"], head["ContentLength"])
        deploy(VISION, runtime.clients()).handler(event, InvocationContext())
        assert _wait(client, org, offer["job_id"])["updated_at"] == finished


def test_an_upload_that_is_not_a_photo_fails_its_job_with_a_reason(local_server: tuple[str, LocalRuntime]) -> None:
    org = _org()
    with _client(local_server) as client:
        offer = client.post(UPLOADS, json={"name": "notes.jpg"}, headers={"X-Org-Id": org}).json()
        posted = httpx.post(
            offer["upload"]["url"], data=offer["upload"]["fields"], files={"file": ("notes.jpg", b"call the adjuster")}
        )
        assert posted.is_success, posted.text
        job = _wait(client, org, offer["job_id"])
        assert job["status"] == "failed"
        assert "JPEG" in job["reason"] and "not" in job["reason"].lower()


def test_an_upload_offer_keeps_to_image_types_and_the_callers_prefix(local_server: tuple[str, LocalRuntime]) -> None:
    org = _org()
    with _client(local_server) as client:
        _error(
            client.post(UPLOADS, json={"name": "x.pdf", "content_type": "application/pdf"}, headers={"X-Org-Id": org}),
            422,
        )
        _error(client.post(UPLOADS, json={"tags": {"slope": "upward"}}, headers={"X-Org-Id": org}), 422)
        offer = client.post(UPLOADS, json={"name": "../../orgs/other/x.jpg"}, headers={"X-Org-Id": org}).json()
        assert offer["upload"]["key"].startswith(f"{upload_prefix(org)}{offer['job_id']}/")
        assert ".." not in offer["upload"]["key"]


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (b"", 422, "empty_file"),
        (b"roof notes, not a photo", 415, "unsupported_media_type"),
        (b"GIF89a" + b"\x00" * 64, 415, "unsupported_media_type"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, 422, "corrupt_image"),
    ],
)
def test_bad_photos_get_their_documented_status(
    local_server: tuple[str, LocalRuntime], payload: bytes, status: int, code: str
) -> None:
    with _client(local_server) as client:
        message = _error(_analyze(client, _org(), payload), status, code)
        assert "roof.jpg" in message


def test_a_photo_over_50_megapixels_is_refused_before_it_is_decoded(local_server: tuple[str, LocalRuntime]) -> None:
    buffer = io.BytesIO()
    Image.new("L", (9000, 6000), 128).save(buffer, "PNG")  # 54 MP of one grey: a small file
    with _client(local_server) as client:
        message = _error(_analyze(client, _org(), buffer.getvalue(), name="huge.png"), 413, "payload_too_large")
        assert "50 megapixels" in message


def test_s3_keys_are_read_from_the_callers_prefixes_only(
    local_server: tuple[str, LocalRuntime], roof_photo: bytes
) -> None:
    org, runtime = _org(), local_server[1]
    jobs = vision_jobs(runtime.clients())()
    key = f"orgs/{org}/photos/north.jpg"
    jobs.s3.put_object(Bucket=jobs.bucket, Key=key, Body=roof_photo)
    with _client(local_server) as client:
        headers = {"X-Org-Id": org}
        done = client.post(ANALYZE, json={"s3_key": key, "tags": {"claim_id": "C-7"}}, headers=headers)
        assert done.status_code == 201, done.text
        assert done.json()["tags"] == {"claim_id": "C-7"}
        _error(client.post(ANALYZE, json={"s3_key": key}, headers={"X-Org-Id": _org()}), 403, "forbidden")
        _error(client.post(ANALYZE, json={"s3_key": f"orgs/{org}/photos/none.jpg"}, headers=headers), 404, "not_found")


# --- with a model: set-of-mark verification, boxes, tiles, cache -----------------------------------


def _findings(marks: int, added: list[list[int]], kind: str = "hail_hit") -> dict[str, Any]:
    return {
        "marks": [
            {"mark": i, "is_damage": i % 2 == 1, "type": kind, "severity": 3, "confidence": 0.9}
            for i in range(1, marks + 1)
        ],
        "added": [{"type": "missing_shingle", "severity": 4, "confidence": 0.8, "box": box} for box in added],
        "summary": "Hail bruising across the slope and one missing tab.",
    }


def test_the_model_confirms_marks_and_its_added_box_lands_on_the_upright_pixels(
    model_server: tuple[str, LocalRuntime], simulated_model_server: SimulatedModel
) -> None:
    """A phone held sideways: the sensor's pixels with EXIF orientation 6 (rotate 90 clockwise to view).
    The model sees the upright photo; a box it adds must come back in upright pixels."""
    upright = render(PhotoSpec(width=1200, height=1600, seed=5, hail=4)).pixels
    sensor = np.ascontiguousarray(np.rot90(upright, k=1))  # what orientation 6 turns back upright
    simulated_model_server.reset()
    simulated_model_server.configure(
        scripted=[{"match": "the whole photo", "content": _findings(0, [[250, 500, 500, 625]])}]
    )
    with _client(model_server) as client:
        reply = _analyze(client, _org(), _jpeg(sensor, orientation=6), offline="false")
        assert reply.status_code == 201, reply.text
        result = reply.json()["result"]
        assert (result["image"]["width"], result["image"]["height"]) == (1200, 1600)
        assert result["model"] == "gpt-4o" and reply.headers["X-Dominus-Cache"] == "miss"
        added = [d for d in result["detections"] if d["stage"] == "model"]
        assert [(d["type"], d["box"]) for d in added] == [("missing_shingle", [300, 800, 600, 1000])]
        assert result["counts"] == {
            kind: sum(d["type"] == kind for d in result["detections"]) for kind in result["counts"]
        }
        assert result["roof_mask"]["coverage"] > 0.3 and result["scale"]["source"] == "shingle_courses"
        assert "GPS" not in reply.text


def test_the_model_stage_keeps_to_the_roof_and_says_what_it_confirmed_rejected_and_added(
    model_server: tuple[str, LocalRuntime], simulated_model_server: SimulatedModel
) -> None:
    """Sky over the ridge: a box the model adds in the sky is not a detection; every candidate it
    rejected is listed, none counted; a box it adds over a mark it confirmed is that mark, once."""
    jpeg = encode_jpeg(render(PhotoSpec(width=1600, height=1200, seed=21, view="ridge", hail=5)).pixels, quality=92)
    candidates = find_candidates(load_photo(jpeg, name="ridge.jpg").pixels).candidates
    assert len(candidates) >= 4
    first = candidates[0].box  # mark 1, which `_findings` confirms
    again = [round(first[0] / 1.6), round(first[1] / 1.2), round(first[2] / 1.6), round(first[3] / 1.2)]
    findings = _findings(len(candidates), [[400, 20, 460, 120]])  # x 640-736, y 24-144: sky, over the ridge
    findings["added"].append({"type": candidates[0].kind, "severity": 3, "confidence": 0.7, "box": again})
    simulated_model_server.reset()
    simulated_model_server.configure(scripted=[{"match": "the whole photo", "content": findings}])
    with _client(model_server) as client:
        reply = _analyze(client, _org(), jpeg, offline="false")
        assert reply.status_code == 201, reply.text
        result = reply.json()["result"]
    polygons = result["roof_mask"]["polygons"]
    assert result["roof_mask"]["coverage"] > 0.5 and min(y for p in polygons for _, y in p) > 300
    assert all(d["box"][1] >= 300 for d in result["detections"]), "nothing above the ridge"
    assert sorted(tuple(r["box"]) for r in result["rejected"]) == sorted(c.box for c in candidates[1::2])
    assert [d["stage"] for d in result["detections"]] == ["both"] * len(candidates[::2])
    assert sum(d["box"] == list(first) for d in result["detections"]) == 1


def test_a_large_photo_is_tiled_and_each_tiles_boxes_land_in_the_photo(
    model_server: tuple[str, LocalRuntime], simulated_model_server: SimulatedModel
) -> None:
    photo = encode_jpeg(render(PhotoSpec(width=4000, height=3000, seed=8, hail=8)).pixels, quality=90)
    simulated_model_server.reset()
    simulated_model_server.configure(
        scripted=[
            {"match": "tile 4 of 4 (bottom right)", "content": _findings(0, [[500, 500, 600, 600]])},
            {"match": "tile ", "content": _findings(0, [])},
        ]
    )
    with _client(model_server) as client:
        reply = _analyze(client, _org(), photo, mode="smart")
        assert reply.status_code == 201, reply.text
        assert simulated_model_server.stats().calls == 4
        boxes = [d["box"] for d in reply.json()["result"]["detections"] if d["stage"] == "model"]
        # Tile 4 spans x 1840-4000 and y 1380-3000 (2000 x 1500 plus 8 % overlap on its inner edges).
        assert boxes == [[2920, 2190, 3136, 2352]]


def test_the_same_photo_again_is_a_cache_hit_with_no_upstream_call(
    model_server: tuple[str, LocalRuntime], simulated_model_server: SimulatedModel, roof_photo: bytes
) -> None:
    org = _org()
    simulated_model_server.reset()
    with _client(model_server) as client:
        first = _analyze(client, org, roof_photo, mode="cheap")
        assert first.status_code == 201, first.text
        calls = simulated_model_server.stats().calls
        assert calls == 1  # cheap: one view of the whole photo
        again = _analyze(client, org, roof_photo, mode="cheap")
        assert again.status_code == 201
        assert again.headers["X-Dominus-Cache"] == "hit"
        assert simulated_model_server.stats().calls == calls
        assert again.json()["result"] == first.json()["result"]


def test_a_model_that_fails_leaves_the_local_answer_and_says_why(
    model_server: tuple[str, LocalRuntime], simulated_model_server: SimulatedModel, roof_photo: bytes
) -> None:
    simulated_model_server.reset()
    simulated_model_server.configure(refuse=True)
    with _client(model_server) as client:
        reply = _analyze(client, _org(), roof_photo, mode="cheap")
        assert reply.status_code == 201, reply.text
        assert reply.json()["result"]["model"] == "local-opencv"
        assert "model was unavailable" in reply.json()["result"]["summary"]
        assert "X-Dominus-Fallback" in reply.headers


def test_an_org_that_answers_photos_locally_in_cheap_mode_makes_no_model_call(
    model_server: tuple[str, LocalRuntime], simulated_model_server: SimulatedModel, roof_photo: bytes
) -> None:
    org, runtime = _org(), model_server[1]
    orgs = DynamoOrgRepository(runtime.aws.client("dynamodb"), runtime.settings.dominus_org_table, 10_000)
    orgs.save_preferences(org, OrgPreferences(vision_local_when_cheap=True))
    simulated_model_server.reset()
    with _client(model_server) as client:
        cheap = _analyze(client, org, roof_photo, mode="cheap")
        assert cheap.status_code == 201, cheap.text
        assert cheap.json()["result"]["model"] == "local-opencv"
        assert "locally in cheap mode" in cheap.json()["result"]["summary"]
        assert simulated_model_server.stats().calls == 0
        smart = _analyze(client, org, roof_photo, mode="smart")
        assert smart.json()["result"]["model"] == "gpt-4o"
        assert simulated_model_server.stats().calls == 1


class _FailingPuts:
    """The embedded S3, except that writing a key with this ending fails (an S3 outage, say)."""

    def __init__(self, s3: Any, ending: str) -> None:
        self._s3, self._ending = s3, ending

    def put_object(self, **kwargs: Any) -> Any:
        if str(kwargs["Key"]).endswith(self._ending):
            raise ConnectionError("S3 is unreachable")
        return self._s3.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


def _jobs_with(aws_env: AwsEnv, failing: str) -> VisionJobs:
    s3 = _FailingPuts(aws_env.client("s3"), failing)
    return VisionJobs(_records(aws_env), s3, aws_env.buckets["DataBucket"])  # type: ignore[arg-type]


def _records(aws_env: AwsEnv) -> DynamoJobRepository:
    return DynamoJobRepository(aws_env.client("dynamodb"), aws_env.tables["JobsTable"])


def test_a_heatmap_that_cannot_be_stored_leaves_the_job_done_without_it(aws_env: AwsEnv, roof_photo: bytes) -> None:
    jobs = _jobs_with(aws_env, "heatmap.png")
    ctx = CallContext(_org(), "req-1", "vision")
    done = asyncio.run(
        analyze(roof_photo, "roof.jpg", ctx=ctx, jobs=jobs, engine=None, requested=None, tags=PhotoTags(), offline=True)
    )
    assert done.heatmap is False
    job = jobs.view(ctx.org_id, done.job_id)
    assert job is not None and job["status"] == "done" and job["heatmap"] is False
    assert job["result"] == done.detected.result.model_dump(mode="json")


def test_a_result_that_cannot_be_stored_fails_its_job_with_a_reason(aws_env: AwsEnv, roof_photo: bytes) -> None:
    jobs = _jobs_with(aws_env, "detections.json")
    ctx = CallContext(_org(), "req-2", "vision")
    with pytest.raises(ConnectionError):
        asyncio.run(
            analyze(
                roof_photo, "roof.jpg", ctx=ctx, jobs=jobs, engine=None, requested=None, tags=PhotoTags(), offline=True
            )
        )
    [item] = aws_env.client("dynamodb").query(
        TableName=aws_env.tables["JobsTable"],
        KeyConditionExpression="org_id = :o",
        ExpressionAttributeValues={":o": {"S": ctx.org_id}},
    )["Items"]
    assert item["status"]["S"] == "failed"
    assert "could not be stored" in item["reason"]["S"]


def test_with_uploads_in_their_own_bucket_keys_are_read_from_the_right_one(aws_env: AwsEnv, roof_photo: bytes) -> None:
    """Deployed, uploads land in UploadsBucket and results live in DataBucket."""
    s3 = aws_env.client("s3")
    data, uploads = aws_env.buckets["DataBucket"], aws_env.buckets["UploadsBucket"]
    jobs = VisionJobs(_records(aws_env), s3, data, upload_bucket=uploads)
    app = FastAPI()
    install_error_handling(app, max_body_bytes=MAX_PHOTO_BYTES)
    app.include_router(vision_router(lambda: jobs, lambda: None, "local"))
    org = _org()
    uploaded, kept = f"uploads/{org}/{'a' * 32}/south.jpg", f"orgs/{org}/photos/north.jpg"
    s3.put_object(Bucket=uploads, Key=uploaded, Body=roof_photo)
    s3.put_object(Bucket=data, Key=kept, Body=roof_photo)
    with TestClient(app) as client:
        for key in (uploaded, kept):
            reply = client.post(ANALYZE, json={"s3_key": key}, headers={"X-Org-Id": org})
            assert reply.status_code == 201, reply.text
        offer = client.post(UPLOADS, json={"name": "west.jpg"}, headers={"X-Org-Id": org}).json()
        policy = json.loads(base64.b64decode(offer["upload"]["fields"]["policy"]))
        assert {"bucket": uploads} in policy["conditions"]
