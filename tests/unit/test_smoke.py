"""`dominus smoke`'s checks against a scripted API (httpx.MockTransport, no I/O, an injected clock):
what passes, and that each broken answer fails its check and says why."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from dominus_dev.smoke import Check, Smoke, auth_headers, sse_events, stream_order_problem

BASE = "https://abc123.execute-api.us-east-1.amazonaws.com/dev"
UPLOAD_URL = "https://dominus-uploads-dev.s3.amazonaws.com/"
GOOD_STREAM: list[tuple[str, dict[str, Any]]] = [
    ("meta", {"request_id": "r1", "model": "gpt-4o", "mode": "auto", "cache": "miss", "simulated": False}),
    ("delta", {"text": '{"lead_'}),
    ("delta", {"text": 'score": 80}'}),
    ("result", {"result": {"lead_score": 80}}),
    ("done", {"input_tokens": 1400, "output_tokens": 700, "cost_usd": 0.0105}),
]


def sse(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


@dataclass
class FakeApi:
    """The deployed API as the smoke checks see it; each field scripts one answer."""

    second_cache: str = "hit"
    stream: list[tuple[str, dict[str, Any]]] = field(default_factory=lambda: list(GOOD_STREAM))
    job_states: list[str] = field(default_factory=lambda: ["queued", "running", "done"])
    requests: list[httpx.Request] = field(default_factory=list)
    analyzed: int = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/dev")
        if request.url.host.endswith("s3.amazonaws.com"):
            return httpx.Response(204)
        if path == "/healthz":
            return httpx.Response(200, json={"status": "ok"})
        if path == "/v1/analyze":
            self.analyzed += 1
            cache = "miss" if self.analyzed == 1 else self.second_cache
            return httpx.Response(200, json={"lead_score": 80}, headers={"X-Dominus-Cache": cache})
        if path == "/v1/analyze/stream":
            return httpx.Response(200, text=sse(self.stream), headers={"content-type": "text/event-stream"})
        if path == "/v1/vision/uploads":
            upload = {"url": UPLOAD_URL, "fields": {"key": "uploads/acme/j1/smoke.jpg", "policy": "p"}}
            return httpx.Response(201, json={"job_id": "j1", "status": "awaiting_upload", "upload": upload})
        if path == "/v1/vision/j1":
            status = self.job_states.pop(0) if len(self.job_states) > 1 else self.job_states[0]
            job: dict[str, Any] = {"job_id": "j1", "status": status}
            if status == "done":
                job["result"] = {"model": "gpt-4o", "detections": [{"type": "hail_hit"}]}
            if status == "failed":
                job["reason"] = "The upload is not a JPEG, PNG, WebP or HEIC photo."
            return httpx.Response(200, json=job)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": path, "request_id": "r"}})


class FakeClock:
    """Time that passes only when the checks sleep (or a request is made)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run(api: FakeApi, headers: dict[str, str] | None = None, clock: FakeClock | None = None) -> dict[str, Check]:
    clock = clock or FakeClock()
    transport = httpx.MockTransport(api)
    with (
        httpx.Client(base_url=BASE, transport=transport, headers=headers or {}) as client,
        httpx.Client(transport=transport) as uploads,
    ):
        smoke = Smoke(client, uploads, lambda: b"\xff\xd8 photo", clock=clock, sleep=clock.sleep, run_id="r1")
        return {check.name: check for check in smoke.run()}


def failed(checks: dict[str, Check]) -> dict[str, str]:
    return {name: check.detail for name, check in checks.items() if not check.ok}


def test_a_deployment_that_keeps_the_contract_passes_every_check() -> None:
    checks = run(FakeApi())
    assert list(checks) == [
        "healthz",
        "analyze (first)",
        "analyze (again)",
        "analyze stream",
        "vision upload offer",
        "vision upload post",
        "vision job",
    ]
    assert failed(checks) == {}
    assert "cache=miss" in checks["analyze (first)"].detail
    assert "tokens=1400/700" in checks["analyze stream"].detail
    assert checks["vision job"].detail == "done model=gpt-4o detections=1"


def test_a_second_identical_call_that_is_not_a_hit_fails() -> None:
    checks = run(FakeApi(second_cache="bypass"))
    assert failed(checks) == {"analyze (again)": "X-Dominus-Cache is 'bypass', expected 'hit'"}


def test_the_two_analyze_calls_send_one_body_and_the_stream_another() -> None:
    api = FakeApi()
    run(api)
    bodies = [json.loads(r.content) for r in api.requests if r.url.path.startswith("/dev/v1/analyze")]
    assert bodies[0] == bodies[1] != bodies[2]
    assert "smoke r1" in bodies[0]["notes"]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (GOOD_STREAM[:-1], "events meta delta result; expected meta, delta..., result, done"),
        ([GOOD_STREAM[0], GOOD_STREAM[3], GOOD_STREAM[4]], "events meta result done; expected"),
        (
            [*GOOD_STREAM[:2], ("error", {"code": "upstream_timeout", "message": "The model took too long."})],
            "error event: upstream_timeout: The model took too long.",
        ),
    ],
)
def test_a_stream_out_of_the_contracts_order_fails(events: list[tuple[str, dict[str, Any]]], expected: str) -> None:
    detail = failed(run(FakeApi(stream=events)))["analyze stream"]
    assert detail.startswith(expected)


def test_a_vision_job_that_never_finishes_fails_at_the_deadline() -> None:
    clock = FakeClock()
    checks = run(FakeApi(job_states=["running"]), clock=clock)
    assert failed(checks) == {"vision job": "still 'running' after 120 s"}
    assert sum(clock.slept) == 120


def test_a_failed_vision_job_fails_with_its_reason() -> None:
    checks = run(FakeApi(job_states=["queued", "failed"]))
    assert failed(checks) == {"vision job": "job failed: The upload is not a JPEG, PNG, WebP or HEIC photo."}


def test_a_token_goes_to_the_api_and_never_to_the_presigned_upload() -> None:
    api = FakeApi()
    run(api, headers=auth_headers("header.payload.signature", "ignored-org"))
    to_api = [r for r in api.requests if r.url.host != "dominus-uploads-dev.s3.amazonaws.com"]
    to_s3 = [r for r in api.requests if r.url.host == "dominus-uploads-dev.s3.amazonaws.com"]
    assert all(r.headers["Authorization"] == "Bearer header.payload.signature" for r in to_api)
    assert not any("X-Org-Id" in r.headers for r in api.requests)
    assert len(to_s3) == 1 and "Authorization" not in to_s3[0].headers
    form = to_s3[0].content
    assert form.index(b'name="key"') < form.index(b'name="file"'), "S3 ignores the fields after the file"


def test_without_a_token_the_org_is_the_x_org_id_header() -> None:
    assert auth_headers(None, "acme") == {"X-Org-Id": "acme"}
    assert auth_headers(None, None) == {}


def test_an_error_answer_is_reported_as_the_contracts_code_and_message() -> None:
    class Refusing(FakeApi):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/v1/vision/uploads"):
                error = {"code": "unauthorized", "message": "No org in the caller's credentials.", "request_id": "r"}
                return httpx.Response(401, json={"error": error})
            return super().__call__(request)

    checks = run(Refusing())
    assert failed(checks) == {"vision upload offer": "expected 201: unauthorized: No org in the caller's credentials."}
    assert checks["vision upload offer"].status == 401
    assert "vision job" not in checks  # the steps after a failed one do not run


def test_sse_frames_join_their_data_lines() -> None:
    lines = ["event: result", 'data: {"a":', "data: 1}", "", "event: done", "data: {}", ""]
    assert list(sse_events(lines)) == [("result", {"a": 1}), ("done", {})]


def test_repeated_deltas_are_one_step_of_the_order() -> None:
    assert stream_order_problem(["meta", "delta", "delta", "delta", "result", "done"]) is None
    assert stream_order_problem([]) == "events (none); expected meta, delta..., result, done"
