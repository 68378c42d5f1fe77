"""The dev server is the deployed product with local clients: the same limits, the same upload policy
(S3's checks, which moto does not make), the same tables and buckets."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from dominus_dev.functions import SPECS
from dominus_dev.local import LocalRuntime
from dominus_dev.template import env_var_for_bucket, env_var_for_table
from shared.deployment import FunctionSpec
from shared.runtime import Clients
from shared.settings import Settings
from tests.support.dev_server import running_dev_server

UPLOADS = "/v1/vision/uploads"
FORGED_POLICY = base64.b64encode(b'{"expiration": "2099-01-01T00:00:00Z", "conditions": []}').decode()
LAZY_CLIENTS = Clients.from_settings(Settings(dominus_env="local"))  # builds nothing until used
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64  # enough for S3; the job may then fail on it, which is fine here


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, LocalRuntime]]:
    with running_dev_server() as running:
        yield running


@pytest.fixture
def client(server: tuple[str, LocalRuntime]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=60) as http:
        yield http


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def _offer(client: httpx.Client, org: str, **body: Any) -> dict[str, Any]:
    reply = client.post(UPLOADS, json={"name": "south.jpg", **body}, headers={"X-Org-Id": org})
    assert reply.status_code == 201, reply.text
    offer: dict[str, Any] = reply.json()
    return offer


def _post(offer: dict[str, Any], data: bytes = JPEG, changed: dict[str, str] | None = None) -> httpx.Response:
    fields = offer["upload"]["fields"] | (changed or {})
    return httpx.post(offer["upload"]["url"], data=fields, files={"file": ("south.jpg", data)}, timeout=60)


def _status(client: httpx.Client, org: str, job_id: str) -> str:
    status: str = client.get(f"/v1/vision/{job_id}", headers={"X-Org-Id": org}).json()["status"]
    return status


@pytest.mark.parametrize("spec", [s for s in SPECS if s.max_body_bytes < 1_000_000], ids=lambda s: s.name)
def test_each_function_keeps_its_own_body_limit(client: httpx.Client, spec: FunctionSpec) -> None:
    # Given a body just over the function's deployed limit, to one of its routes
    routes = [route for router in spec.routers(LAZY_CLIENTS) for route in router.routes]
    path = next(r.path for r in routes if isinstance(r, APIRoute) and (r.methods or set()) & {"POST", "PUT"})
    body = b'{"padding": "' + b"x" * spec.max_body_bytes + b'"}'
    # When it is posted to the dev server, which also serves 50 MB uploads for other functions
    method = "PUT" if path.endswith("ai-settings") else "POST"
    reply = client.request(method, path, content=body, headers={"Content-Type": "application/json"})
    # Then it is refused as the function's own Lambda would refuse it
    assert reply.status_code == 413, reply.text[:200]
    assert reply.json()["error"]["code"] == "payload_too_large"
    assert f"{spec.max_body_bytes:,}-byte" in reply.json()["error"]["message"]


def test_uploads_land_in_the_template_upload_bucket_and_every_resource_is_configured(
    server: tuple[str, LocalRuntime], client: httpx.Client
) -> None:
    runtime = server[1]
    template = runtime.aws.template
    configured = runtime.settings.model_dump()
    for logical_id, env in (env_var_for_table(template) | env_var_for_bucket(template)).items():
        assert configured[env.lower()], f"{logical_id} ({env}) is not configured locally"
    assert runtime.settings.dominus_upload_bucket != runtime.settings.dominus_bucket
    policy = json.loads(base64.b64decode(_offer(client, _org())["upload"]["fields"]["policy"]))
    assert {"bucket": runtime.settings.dominus_upload_bucket} in policy["conditions"]


def test_a_valid_presigned_upload_is_stored_and_starts_its_job(client: httpx.Client) -> None:
    org = _org()
    offer = _offer(client, org)
    stored = _post(offer)
    assert stored.status_code == 204, stored.text
    deadline = time.monotonic() + 60
    while _status(client, org, offer["job_id"]) == "awaiting_upload" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _status(client, org, offer["job_id"]) != "awaiting_upload"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"key": "uploads/someone/else.jpg"}, 403, "AccessDenied"),
        ({"Content-Type": "text/html"}, 403, "AccessDenied"),
        ({"x-amz-meta-slope": "N"}, 403, "AccessDenied"),
        (
            {"policy": base64.b64encode(b'{"expiration": "2099-01-01T00:00:00Z", "conditions": []}').decode()},
            403,
            "SignatureDoesNotMatch",
        ),
    ],
    ids=["tampered key", "wrong content type", "changed tag", "forged policy"],
)
def test_a_tampered_presigned_form_is_refused_as_s3_refuses_it(
    client: httpx.Client, change: dict[str, str], status: int, code: str
) -> None:
    org = _org()
    offer = _offer(client, org, tags={"slope": "S"})
    refused = _post(offer, changed=change)
    assert refused.status_code == status, refused.text
    assert f"<Code>{code}" in refused.text
    assert _status(client, org, offer["job_id"]) == "awaiting_upload"


@pytest.mark.parametrize(("data", "code"), [(b"", "EntityTooSmall")], ids=["empty file"])
def test_a_file_outside_the_size_range_is_refused(client: httpx.Client, data: bytes, code: str) -> None:
    org = _org()
    offer = _offer(client, org)
    refused = _post(offer, data)
    assert refused.status_code == 400 and f"<Code>{code}</Code>" in refused.text
    assert _status(client, org, offer["job_id"]) == "awaiting_upload"


def test_another_org_cannot_complete_an_upload_it_was_not_offered(client: httpx.Client) -> None:
    # Given org A waiting for its upload, and org B with an offer of its own
    a, b = _org(), _org()
    offer_a, offer_b = _offer(client, a), _offer(client, b)
    # When B posts its own signed form with A's key
    refused = _post(offer_b, changed={"key": offer_a["upload"]["key"]})
    # Then S3's policy check refuses it, and A's job is untouched
    assert refused.status_code == 403, refused.text
    assert _status(client, a, offer_a["job_id"]) == "awaiting_upload"
    assert _status(client, b, offer_b["job_id"]) == "awaiting_upload"
