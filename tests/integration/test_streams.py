"""Streaming acceptance over real HTTP: real Redis, the moto server, the simulated model.

Two copies of the analyze app run side by side on one Redis, as two Lambda instances would; identical
streams sent to both share one upstream call.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from analyze.function import EXAMPLE_LEAD
from analyze.function import FUNCTION as ANALYZE
from dominus_dev.serving import ServerThread
from dominus_dev.simulated_model import SimulatedModel
from shared.engine import Engine
from shared.http import install_error_handling
from tests.integration.test_engine import perf_records
from tests.support.aws_fixtures import AwsEnv
from tests.support.engines import engine_settings, make_engine

pytestmark = pytest.mark.integration


@dataclass
class Instance:
    url: str
    engine: Engine


def analyze_app(engine: Engine) -> FastAPI:
    """What the analyze function deploys, on a given engine."""
    app = FastAPI()
    install_error_handling(app, max_body_bytes=ANALYZE.max_body_bytes)
    app.include_router(ANALYZE.router(lambda: engine, "local"))
    return app


@pytest.fixture
def instances(aws_env: AwsEnv, simulated_model: SimulatedModel, redis_url: str) -> Iterator[list[Instance]]:
    kwargs = engine_settings(tables=aws_env.tables, model_base_url=simulated_model.base_url, redis_url=redis_url)
    engines = [make_engine(kwargs, aws_env.endpoint_url) for _ in range(2)]
    servers = [ServerThread(analyze_app(engine)).start() for engine in engines]
    yield [Instance(server.url, engine) for server, engine in zip(servers, engines, strict=True)]
    for server in servers:
        server.stop()


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def stream(url: str, org: str = "acme") -> list[tuple[str, dict[str, Any]]]:
    async with httpx.AsyncClient(timeout=30) as client:
        reply = await client.post(f"{url}/v1/analyze/stream", json=EXAMPLE_LEAD, headers={"X-Org-Id": org})
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        return parse_sse(reply.text)


def test_three_concurrent_identical_streams_make_one_upstream_call(
    instances: list[Instance], simulated_model: SimulatedModel, aws_env: AwsEnv
) -> None:
    simulated_model.configure(ttft_ms=150, chunk_interval_ms=10)

    async def three() -> list[list[tuple[str, dict[str, Any]]]]:
        first = asyncio.create_task(stream(instances[0].url))
        await asyncio.sleep(0.05)  # the first holds the lease; the others join it mid-flight
        # one more here, one in the other instance
        rest = asyncio.gather(stream(instances[0].url), stream(instances[1].url))
        return [await first, *await rest]

    streams = asyncio.run(three())
    assert simulated_model.calls == 1
    names = [[name for name, _ in events] for events in streams]
    for events, order in zip(streams, names, strict=True):
        assert order[0] == "meta"
        assert order[-2:] == ["result", "done"]
        assert set(order[1:-2]) == {"delta"}
        text = "".join(data["text"] for name, data in events if name == "delta")
        assert json.loads(text) == events[-2][1]["result"]  # every chunk, from the start
    assert streams[0][-2] == streams[1][-2] == streams[2][-2]
    assert sorted(events[0][1]["cache"] for events in streams) == ["miss", "shared", "shared"]
    done = next(events[-1][1] for events in streams if events[0][1]["cache"] == "miss")  # the leader's
    assert done["output_tokens"] > 0
    assert done["cost_usd"] > 0
    assert done["ttft_ms"] >= 150
    assert done["latency_ms"] >= done["ttft_ms"]

    for instance in instances:
        instance.engine.flush_records(5)
    records = perf_records(aws_env, "acme")
    assert sorted(r["cache"] for r in records) == ["miss", "shared", "shared"]
    assert all(r["stream"] and r["ttft_ms"] > 0 for r in records)
    assert next(r for r in records if r["cache"] == "miss")["ttft_ms"] >= 150  # the leader waited for the model


def test_a_cached_stream_replays_at_once_without_an_upstream_call(
    instances: list[Instance], simulated_model: SimulatedModel
) -> None:
    asyncio.run(stream(instances[0].url))
    calls = simulated_model.calls
    replay = asyncio.run(stream(instances[1].url))  # how fast: bench/streams.py
    assert simulated_model.calls == calls
    assert replay[0][1]["cache"] == "hit"
    assert replay[-1][0] == "done"


def test_a_client_that_disconnects_caches_nothing_and_is_recorded_cancelled(
    instances: list[Instance], simulated_model: SimulatedModel, aws_env: AwsEnv
) -> None:
    simulated_model.configure(ttft_ms=50, chunk_interval_ms=40)  # a long stream

    async def leave_after_first_delta() -> None:
        async with (
            httpx.AsyncClient(timeout=30) as client,
            client.stream("POST", f"{instances[0].url}/v1/analyze/stream", json=EXAMPLE_LEAD) as reply,
        ):
            async for line in reply.aiter_lines():
                if line == "event: delta":
                    break  # leaving the block closes the connection mid-stream

    asyncio.run(leave_after_first_delta())
    deadline = time.monotonic() + 5
    while simulated_model.stats().in_flight and time.monotonic() < deadline:
        time.sleep(0.02)  # the server notices the disconnect and cancels the upstream call
    assert simulated_model.stats().in_flight == 0
    records: list[dict[str, Any]] = []
    while not records and time.monotonic() < deadline:  # written as the server's stream winds down
        instances[0].engine.flush_records(5)
        records = perf_records(aws_env, "demo")
    assert [r["status"] for r in records] == ["cancelled"]

    simulated_model.configure(chunk_interval_ms=0)
    again = asyncio.run(stream(instances[0].url, org="demo"))
    assert again[0][1]["cache"] == "miss"  # the partial answer was never cached
    assert simulated_model.calls == 2
