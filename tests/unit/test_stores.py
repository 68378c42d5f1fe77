"""The guarded store's patience, batched writes and the round trips a miss costs: no I/O.

Time here is either plain numbers (`Patience` is told the time) or the event loop's order of work:
a test that blocks the loop only makes it later, never changes what runs first.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.outcomes import CacheOutcome
from shared.stores.base import Free, GuardedStore, Patience, Push, Put, StoreUnavailable
from shared.stores.memory import MemoryStore
from tests.support.clock import FakeClock
from tests.support.fakes import RoundTrips, assessment_request, ctx, engine_kit

pytestmark = pytest.mark.anyio

TIMEOUT_S, CAP_S = 0.25, 5.0


def quiet_turns_until_over(patience: Patience, now: float, last_reply: float) -> int:
    """Checks on consecutive loop turns at `now` (a store that stays silent): how many until over."""
    turns = 0
    while not patience.over(now, last_reply):
        assert patience.due == now  # the next check is the next loop turn
        turns += 1
    return turns


def test_a_call_to_a_silent_store_is_over_time_after_its_timeout_and_a_few_quiet_turns() -> None:
    patience = Patience(start=100.0, timeout_s=TIMEOUT_S, busy_cap_s=CAP_S)
    assert patience.due == 100.25
    assert quiet_turns_until_over(patience, 100.25, last_reply=0.0) == Patience.QUIET_TURNS


def test_a_store_that_answers_other_calls_is_not_blamed_for_a_late_check() -> None:
    # Given a busy loop: the first check runs 0.75 s late, and the store answered another call at 100.9
    patience = Patience(start=100.0, timeout_s=TIMEOUT_S, busy_cap_s=CAP_S)
    assert not patience.over(101.0, last_reply=100.9)
    assert patience.due == pytest.approx(101.15)  # a timeout after that reply
    # When replies keep coming, Then no verdict
    assert not patience.over(101.2, last_reply=101.1)
    # When the store then goes silent for a timeout, Then the call is over after the quiet turns
    assert patience.due == pytest.approx(101.35)
    assert quiet_turns_until_over(patience, 101.4, last_reply=101.1) == Patience.QUIET_TURNS


def test_a_reply_during_the_quiet_turns_starts_the_count_again() -> None:
    patience = Patience(start=100.0, timeout_s=TIMEOUT_S, busy_cap_s=CAP_S)
    for _ in range(Patience.QUIET_TURNS):
        assert not patience.over(100.3, last_reply=0.0)
    assert not patience.over(100.31, last_reply=100.305)  # a reply read on this turn
    assert quiet_turns_until_over(patience, 100.6, last_reply=100.305) == Patience.QUIET_TURNS


def test_the_busy_cap_ends_the_wait_however_busy_the_store_is() -> None:
    patience = Patience(start=100.0, timeout_s=TIMEOUT_S, busy_cap_s=CAP_S)
    assert not patience.over(104.9, last_reply=104.89)
    assert patience.over(105.0, last_reply=104.99)


class ReplyStore(MemoryStore):
    """`get` answers `reply` once it is set, then reads it over a few loop turns, as a client parses a
    reply that arrived in parts."""

    def __init__(self, reply: asyncio.Future[str], turns: int) -> None:
        super().__init__()
        self._reply, self._turns = reply, turns

    async def get(self, key: str) -> str | None:
        value = await self._reply
        for _ in range(self._turns):
            await asyncio.sleep(0)
        return value


async def test_a_reply_that_arrived_in_time_is_read_though_the_loop_was_busy_past_the_timeout() -> None:
    # Given a store that answers within its timeout, read over a few turns, while another request holds
    # the event loop for four timeouts (a burst of streams)
    timeout_s = 0.05
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[str] = loop.create_future()
    loop.call_later(timeout_s / 2, reply.set_result, "cached answer")
    loop.call_soon(time.sleep, 4 * timeout_s)
    clock = FakeClock()
    store = GuardedStore(ReplyStore(reply, turns=3), timeout_s=timeout_s, cooldown_s=60.0, clock=clock)
    # When the engine asks, Then it gets the answer (a wall-clock timeout failed it and cooled the store down)
    assert await store.get("k") == "cached answer"
    assert await store.get("k") == "cached answer"  # and no cool-down started


class SilentStore(MemoryStore):
    """A store that never answers `get`: a hung Redis."""

    async def get(self, key: str) -> str | None:
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")


async def test_a_silent_store_fails_the_call_then_cools_down() -> None:
    store = GuardedStore(SilentStore(), timeout_s=0.05, cooldown_s=30.0, clock=FakeClock())
    with pytest.raises(StoreUnavailable, match="failed on get: TimeoutError"):
        await store.get("k")
    with pytest.raises(StoreUnavailable, match="cool-down"):
        await store.get("k")


async def test_a_write_applies_its_steps_in_order() -> None:
    store = MemoryStore()
    await store.set_if_absent("lease", "token", 60_000)
    await store.write(
        [
            Put("cache", "answer", 60_000),
            Push("chunks", "c1", 60_000),
            Push("chunks", "c2", 60_000),
            Free("lease", "someone else's token"),
        ]
    )
    assert await store.get_many(["cache", "lease"]) == ["answer", "token"]
    assert await store.read_from("chunks", 0) == ["c1", "c2"]
    await store.write([Free("lease", "token")])
    assert await store.get("lease") is None


async def test_a_miss_costs_three_round_trips_lookup_lease_and_one_write_that_admits_publishes_and_frees() -> None:
    store = RoundTrips(MemoryStore())
    kit = engine_kit(store=store)
    result = await kit.engine.generate(ctx(), assessment_request())
    assert result.meta.cache is CacheOutcome.MISS
    assert store.calls == {"get": 1, "set_if_absent": 1, "write": 1}
    # the one write left the answer cached: a repeat is a hit, one more lookup
    repeat = await kit.engine.generate(ctx(request_id="req-00000002"), assessment_request())
    assert repeat.meta.cache is CacheOutcome.HIT
    assert store.calls == {"get": 2, "set_if_absent": 1, "write": 1}
