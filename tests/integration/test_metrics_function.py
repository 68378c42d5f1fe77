"""AI analytics and org AI settings over HTTP, on perf records written by real engine calls.

The dev server runs on a real Redis store (the engine's cache, single-flight and shared org settings)
and the embedded moto DynamoDB; its simulated model answers. Traffic goes through the AI routes as
clients send it (buffered and streamed, repeats for cache hits, concurrent twins for shared answers,
injected upstream failures for errors, cheap and smart modes), then the analytics API is checked
against an independent recomputation from the raw perf records, before and after the roll-up.
"""

from __future__ import annotations

import concurrent.futures
import copy
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest

from dominus_dev.local import LocalRuntime
from metrics.function import deps_for
from metrics.rollup import WATERMARK_PK, WATERMARK_SK, floor_hour, run_rollup
from metrics.sketch import ALPHA
from tests.support.dev_server import lead_with_notes, new_org, running_dev_server
from tests.support.redis_fixtures import RedisServer
from video.function import EXAMPLE_HOMEOWNER_BRIEF

pytestmark = pytest.mark.integration

PERFORMANCE = "/v1/metrics/ai-performance"
SETTINGS = "/v1/orgs/me/ai-settings"


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[tuple[str, LocalRuntime]]:
    # The store's largest timeout (production: 250 ms), which a busy machine would trip: the traffic's
    # hits and shared twins would then be bypasses.
    with running_dev_server(
        redis_url=redis_server.url, dominus_org_settings_ttl_s=1.0, dominus_store_timeout_ms=5_000
    ) as running:
        yield running


@pytest.fixture
def client(server: tuple[str, LocalRuntime]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=60) as http:
        yield http


def _traffic(client: httpx.Client, runtime: LocalRuntime, org: str) -> None:
    """Misses, hits, shared twins, streams, errors, two functions, two modes."""
    headers = {"X-Org-Id": org}
    for i in range(4):
        assert client.post("/v1/analyze", json=lead_with_notes(f"visit {i}"), headers=headers).status_code == 200
    assert (
        client.post("/v1/analyze", json=lead_with_notes("visit 0"), headers=headers).headers["X-Dominus-Cache"] == "hit"
    )
    assert client.post("/v1/analyze?mode=cheap", json=lead_with_notes("cheap"), headers=headers).status_code == 200
    brief = copy.deepcopy(EXAMPLE_HOMEOWNER_BRIEF)
    assert client.post("/v1/video/script", json=brief, headers=headers).status_code == 200
    assert client.post("/v1/video/script", json=brief, headers=headers).headers["X-Dominus-Cache"] == "hit"
    with client.stream("POST", "/v1/analyze/stream", json=lead_with_notes("streamed"), headers=headers) as stream:
        assert stream.status_code == 200
        assert "event: done" in "".join(stream.iter_text())
    assert runtime.model is not None
    # Twins must overlap to share: the first's call lasts long enough for three threads to send theirs
    # on a busy machine (it costs this once)
    runtime.model.configure(latency_ms=3_000)
    twin = lead_with_notes("twins")
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        outcomes = list(
            pool.map(
                lambda _: client.post("/v1/analyze", json=twin, headers=headers).headers["X-Dominus-Cache"], range(3)
            )
        )
    runtime.model.configure(latency_ms=0)
    assert sorted(outcomes) == ["miss", "shared", "shared"]
    runtime.model.fail_next(500, 500, 500, 500, 500, 500)  # every retry fails: an error the caller sees
    assert client.post("/v1/analyze", json=lead_with_notes("fails"), headers=headers).status_code >= 500
    runtime.model.reset()
    assert runtime.engine is not None
    assert runtime.engine.flush_records(10)


def _raw(runtime: LocalRuntime, org: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    items = runtime.aws.client("dynamodb").query(
        TableName=runtime.settings.dominus_perf_table,
        KeyConditionExpression="org_id = :o",
        ExpressionAttributeValues={":o": {"S": org}},
    )["Items"]
    deserializer = TypeDeserializer()
    return [{k: deserializer.deserialize(v) for k, v in item.items()} for item in items]


def _lower(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values, dtype=float), 100 * q, method="lower"))


def _expected(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The stats, recomputed from raw records without the metrics package."""
    calls = len(records)
    count = {c: sum(1 for r in records if r["cache"] == c) for c in ("hit", "miss", "shared", "bypass")}
    errors = sum(1 for r in records if r["status"] == "error")
    latencies = [float(r["latency_ms"]) for r in records]
    ttfts = [float(r["ttft_ms"]) for r in records if r.get("stream") and r.get("ttft_ms") is not None]
    return {
        "calls": calls,
        "hits": count["hit"],
        "misses": count["miss"],
        "shared": count["shared"],
        "bypass": count["bypass"],
        "errors": errors,
        "hit_rate": round(count["hit"] / calls, 4),
        "error_rate": round(errors / calls, 4),
        "input_tokens": sum(int(r.get("input_tokens", 0)) for r in records),
        "output_tokens": sum(int(r.get("output_tokens", 0)) for r in records),
        "cost_usd": round(sum(float(r.get("cost_usd", 0) or 0) for r in records), 6),
        "saved_cost_usd": round(sum(float(r.get("saved_cost_usd", 0) or 0) for r in records), 6),
        "latency": {q: _lower(latencies, p) for q, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        "ttft": {q: _lower(ttfts, p) for q, p in (("p50", 0.5), ("p95", 0.95))} if ttfts else None,
    }


def _assert_matches(stats: dict[str, Any], records: list[dict[str, Any]]) -> None:
    want = _expected(records)
    for field in ("calls", "hits", "misses", "shared", "bypass", "errors", "hit_rate", "error_rate"):
        assert stats[field] == want[field], field
    for field in ("input_tokens", "output_tokens"):
        assert stats[field] == want[field], field
    assert stats["cost_usd"] == pytest.approx(want["cost_usd"], abs=2e-6)
    assert stats["saved_cost_usd"] == pytest.approx(want["saved_cost_usd"], abs=2e-6)
    for q, exact in want["latency"].items():
        assert abs(stats["latency_ms"][q] - exact) <= ALPHA * exact + 0.05, (q, stats["latency_ms"], exact)
    if want["ttft"] is not None:
        for q, exact in want["ttft"].items():
            assert abs(stats["ttft_ms"][q] - exact) <= ALPHA * exact + 0.05, (q, stats["ttft_ms"], exact)


def _window() -> dict[str, str]:
    top = floor_hour(datetime.now(UTC))
    return {"from": (top - timedelta(hours=2)).isoformat(), "to": (top + timedelta(hours=1)).isoformat()}


def _ask(client: httpx.Client, org: str, **params: str) -> dict[str, Any]:
    reply = client.get(PERFORMANCE, params={**_window(), **params}, headers={"X-Org-Id": org})
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def test_the_api_matches_a_recomputation_from_the_raw_records_per_group(
    server: tuple[str, LocalRuntime], client: httpx.Client
) -> None:
    org, runtime = new_org(), server[1]
    _traffic(client, runtime, org)
    records = _raw(runtime, org)
    assert {r["function"] for r in records} == {"analyze", "video"}
    for group_by, field in (("function", "function"), ("operation", "operation"), ("model", "model"), ("mode", "mode")):
        body = _ask(client, org, group_by=group_by)
        assert {g["key"] for g in body["groups"]} == {str(r[field]) for r in records}
        for group in body["groups"]:
            _assert_matches(group, [r for r in records if str(r[field]) == group["key"]])
    body = _ask(client, org, group_by="hour")
    for group in body["groups"]:
        _assert_matches(group, [r for r in records if r["hour"] == group["key"]])
    _assert_matches(body["totals"], records)
    assert body["totals"]["shared"] == 2 and body["totals"]["hits"] >= 2 and body["totals"]["errors"] == 1
    assert body["totals"]["ttft_ms"]["streams"] == 1
    assert [e["error_code"] for e in body["recent_errors"]] == [
        next(r for r in records if r["status"] == "error")["error_code"]
    ]
    only_video = _ask(client, org, group_by="function", function="video")
    assert [g["key"] for g in only_video["groups"]] == ["video"]


def test_the_rollup_is_idempotent_and_the_api_answers_the_same_before_and_after_it(
    server: tuple[str, LocalRuntime], client: httpx.Client
) -> None:
    org, runtime = new_org(), server[1]
    deps = deps_for(runtime.clients())
    log, rollups = deps.log(), deps.rollups()
    previous = rollups.watermark()  # another test in this process may have run the schedule
    _delete_watermark(runtime)
    try:
        _traffic(client, runtime, org)
        before = {g: _ask(client, org, group_by=g) for g in ("function", "model", "hour", "day")}
        assert all(b["source"]["rollup_hours"] == 0 for b in before.values())

        # The current hour is still open: roll it as the schedule would two hours from now.
        later = datetime.now(UTC) + timedelta(hours=2)
        first = run_rollup(log, rollups, later)
        items = _rollup_items(runtime, org)
        second = run_rollup(log, rollups, later)
        assert first.items == second.items and _rollup_items(runtime, org) == items  # the same numbers

        after = {g: _ask(client, org, group_by=g) for g in ("function", "model", "hour", "day")}
        for group_by in before:
            assert after[group_by]["source"]["rollup_hours"] == 3
            assert _without_source(after[group_by]) == _without_source(before[group_by]), group_by

        # A record written after the roll-up: seen once the next run rolls its hour again.
        assert client.post("/v1/analyze", json=lead_with_notes("late"), headers={"X-Org-Id": org}).status_code == 200
        assert runtime.engine is not None and runtime.engine.flush_records(10)
        assert _ask(client, org, group_by="function")["totals"]["calls"] == before["function"]["totals"]["calls"]
        run_rollup(log, rollups, later)
        assert _ask(client, org)["totals"]["calls"] == before["function"]["totals"]["calls"] + 1
    finally:  # the open hour goes back to being read raw, for the other tests
        if previous is None:
            _delete_watermark(runtime)
        else:
            rollups.set_watermark(previous)


def _delete_watermark(runtime: LocalRuntime) -> None:
    runtime.aws.client("dynamodb").delete_item(
        TableName=runtime.settings.dominus_rollup_table,
        Key={"org_id": {"S": WATERMARK_PK}, "sk": {"S": WATERMARK_SK}},
    )


def _rollup_items(runtime: LocalRuntime, org: str) -> list[tuple[str, str, str]]:
    items = runtime.aws.client("dynamodb").query(
        TableName=runtime.settings.dominus_rollup_table,
        KeyConditionExpression="org_id = :o",
        ExpressionAttributeValues={":o": {"S": org}},
    )["Items"]
    return sorted((i["sk"]["S"], i["aggregate"]["S"], i["errors"]["S"]) for i in items)


def _without_source(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "source"}


def test_another_orgs_records_never_appear(server: tuple[str, LocalRuntime], client: httpx.Client) -> None:
    org, other, runtime = new_org(), new_org(), server[1]
    assert client.post("/v1/analyze", json=lead_with_notes("mine"), headers={"X-Org-Id": org}).status_code == 200
    assert runtime.engine is not None and runtime.engine.flush_records(10)
    assert _ask(client, org)["totals"]["calls"] == 1
    body = _ask(client, other)
    assert body["totals"]["calls"] == 0 and body["groups"] == [] and body["org_id"] == other
    assert client.get(PERFORMANCE, params={"org_id": org}, headers={"X-Org-Id": other}).json()["totals"]["calls"] == 0


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"from": "2026-11-24T00:00:00Z", "to": "2026-11-23T00:00:00Z"}, 400, "before"),
        ({"from": "yesterday"}, 400, "ISO 8601"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}, 400, "93 days"),
        ({"from": "2026-09-01T00:00:00Z", "to": "2026-11-01T00:00:00Z", "group_by": "hour"}, 400, "group_by=day"),
        ({"group_by": "weekday"}, 422, "group_by"),
    ],
)
def test_a_bad_window_says_what_to_fix(client: httpx.Client, params: dict[str, str], status: int, says: str) -> None:
    reply = client.get(PERFORMANCE, params=params, headers={"X-Org-Id": new_org()})
    assert reply.status_code == status, reply.text
    assert says in reply.text


def test_settings_are_read_changed_and_seen_by_the_engine_within_a_minute(
    server: tuple[str, LocalRuntime], client: httpx.Client
) -> None:
    org, runtime = new_org(), server[1]
    headers = {"X-Org-Id": org}
    settings = client.get(SETTINGS, headers=headers).json()
    assert settings["mode_default"] == "auto" and settings["token_balance"] == runtime.settings.dominus_default_balance
    assert settings["limits"]["cache_ttl_s"] == {"min": 60, "max": 2592000}

    changed = client.put(SETTINGS, json={"mode_default": "cheap", "cache_ttl_s": 3600}, headers=headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["mode_default"] == "cheap" and changed.json()["cache_enabled"] is True
    assert client.get(SETTINGS, headers=headers).json()["cache_ttl_s"] == 3600
    # The engine holds org settings for its TTL (1 s here, 30 s by default), then reads the new ones.
    deadline = time.monotonic() + 60
    while True:
        reply = client.post("/v1/analyze?mode=smart", json=lead_with_notes("after the change"), headers=headers)
        if reply.headers.get("X-Dominus-Mode") == "cheap" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert reply.headers["X-Dominus-Mode"] == "cheap"  # an org's cheap is a ceiling


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"cache_ttl_s": 5}, "cache_ttl_s"),
        ({"mode_default": "turbo"}, "mode_default"),
        ({"token_balance": 10**9}, "balance is shown here, never set"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_settings_are_refused_and_change_nothing(client: httpx.Client, body: dict[str, Any], says: str) -> None:
    org = new_org()
    reply = client.put(SETTINGS, json=body, headers={"X-Org-Id": org})
    assert reply.status_code == 422, reply.text
    assert says in reply.json()["error"]["message"]
    assert client.get(SETTINGS, headers={"X-Org-Id": org}).json()["mode_default"] == "auto"
