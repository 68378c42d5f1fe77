"""The store under bursts and restarts (issue 13), against real Redis, the moto server and the simulated model.

The store keeps its production timeout (250 ms) and cool-down (2 s): what failed was a healthy Redis
blamed for a busy event loop, and that only shows at the production timeout. Its busy cap (the bound
when the process is too busy to tell) is the tests' patience instead, so a loaded machine makes these
tests slower, never red. Bypasses are counted, never milliseconds.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from dominus_dev.simulated_model import SimulatedModel
from shared.engine import CallContext, Engine
from shared.events import ErrorEvent, MetaEvent
from shared.runtime import build_engine, dynamodb_client
from shared.settings import Settings
from shared.stores.base import GuardedStore
from shared.stores.redis_store import RedisStore
from tests.support.aws_fixtures import AwsEnv
from tests.support.clock import FakeClock
from tests.support.engines import engine_settings
from tests.support.fakes import assessment_request
from tests.support.redis_fixtures import RedisServer
from tests.support.waiting import PATIENCE_S

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

BURST = 100
STORE_TIMEOUT_MS, STORE_COOLDOWN_MS = 250, 2_000  # production's


@pytest.fixture
def settings(aws_env: AwsEnv, simulated_model: SimulatedModel, redis_url: str) -> Settings:
    kwargs = engine_settings(tables=aws_env.tables, model_base_url=simulated_model.base_url, redis_url=redis_url)
    kwargs |= {
        "dominus_store_timeout_ms": STORE_TIMEOUT_MS,
        "dominus_store_cooldown_ms": STORE_COOLDOWN_MS,
        "dominus_store_busy_cap_ms": int(PATIENCE_S * 1000),
    }
    return Settings(**kwargs)


@pytest.fixture
async def engine(settings: Settings, aws_env: AwsEnv) -> AsyncIterator[Engine]:
    built = build_engine(settings, dynamodb=dynamodb_client(aws_env.endpoint_url))
    yield built
    await built.aclose()
    built.flush_records(PATIENCE_S)  # written while moto still runs


def ctx(i: int) -> CallContext:
    return CallContext("acme", f"req-burst-{i:06d}", "analyze")


async def stream_outcome(engine: Engine, i: int) -> str:
    """The cache outcome of one stream, read to its end; an error's code instead."""
    outcome = "no meta"
    async for event in engine.stream(ctx(i), assessment_request(f"Assess lead {i}")):
        if isinstance(event, MetaEvent):
            outcome = event.cache
        elif isinstance(event, ErrorEvent):
            return f"error {event.code}"
    return outcome


async def burst_of_streams(engine: Engine) -> Counter[str]:
    return Counter(await asyncio.gather(*(stream_outcome(engine, i) for i in range(BURST))))


async def test_a_hundred_concurrent_streams_then_the_same_hundred_again_every_repeat_is_a_hit(
    engine: Engine, simulated_model: SimulatedModel
) -> None:
    # Given a model that streams small chunks fast, so a hundred streams keep the event loop busy
    simulated_model.configure(ttft_ms=50, chunk_interval_ms=5, chunk_chars=4)
    # When a hundred different streams run at once, Then each is a miss (none bypassed the store)
    assert await burst_of_streams(engine) == {"miss": BURST}
    # And every answer was cached: the same hundred again are hits, with no upstream call
    assert await burst_of_streams(engine) == {"hit": BURST}
    assert simulated_model.calls == BURST


async def generate_outcomes(engine: Engine, indices: range) -> Counter[str]:
    calls = [engine.generate(ctx(i), assessment_request(f"Assess lead {i}")) for i in indices]
    return Counter(result.meta.cache.value for result in await asyncio.gather(*calls))


async def test_after_a_redis_restart_the_pooled_connections_reconnect_without_a_second_bypass_window(
    settings: Settings, aws_env: AwsEnv, redis_server: RedisServer, redis_url: str
) -> None:
    # Given an engine whose store has a hundred pooled connections open (a burst opened them)
    clock = FakeClock()  # the cool-down's: it ends when the test says so
    store = GuardedStore(
        RedisStore.from_url(redis_url, busy_cap_s=PATIENCE_S),
        timeout_s=STORE_TIMEOUT_MS / 1000,
        cooldown_s=STORE_COOLDOWN_MS / 1000,
        busy_cap_s=PATIENCE_S,
        clock=clock,
    )
    engine = build_engine(settings, dynamodb=dynamodb_client(aws_env.endpoint_url), store=store)
    try:
        assert await generate_outcomes(engine, range(BURST)) == {"miss": BURST}
        # When Redis stops, Then the first call fails over to upstream and the cool-down skips the store
        await asyncio.to_thread(redis_server.stop)
        assert await generate_outcomes(engine, range(BURST, BURST + 3)) == {"bypass": 3}
        # When it is back (empty: no persistence) and the cool-down is over
        await asyncio.to_thread(redis_server.start)
        clock.advance(STORE_COOLDOWN_MS / 1000)
        # Then a burst finds the store working: no call meets a connection the restart left dead
        assert await generate_outcomes(engine, range(BURST)) == {"miss": BURST}
        assert await generate_outcomes(engine, range(BURST)) == {"hit": BURST}
    finally:
        await engine.aclose()
        engine.flush_records(PATIENCE_S)
