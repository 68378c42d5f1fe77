"""Shared upstream streams: one upstream call for identical streams here and in other instances."""

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

from shared.catalog import Usage
from shared.events import DeltaEvent, DoneEvent, ErrorEvent, MetaEvent, ResultEvent, StreamEvent
from shared.llm import Completion
from shared.outcomes import CacheOutcome
from shared.stores.memory import MemoryStore
from tests.support.fakes import GOOD_ANSWER, EngineKit, ScriptedChatModel, assessment_request, ctx, engine_kit

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def collect(kit: EngineKit, n: int) -> list[StreamEvent]:
    return [e async for e in kit.engine.stream(ctx(request_id=f"req-stream-{n:04d}"), assessment_request())]


def text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, DeltaEvent))


def cache_of(events: list[StreamEvent]) -> str:
    meta = events[0]
    assert isinstance(meta, MetaEvent)
    return meta.cache


def test_three_identical_streams_in_one_process_share_one_upstream_call() -> None:
    kit = engine_kit(chat=ScriptedChatModel(delay_s=0.1))

    async def three() -> list[list[StreamEvent]]:
        return await asyncio.gather(*(collect(kit, i) for i in range(3)))

    streams = run(three())
    assert len(kit.chat.calls) == 1
    for events in streams:
        assert json.loads(text(events)) == json.loads(GOOD_ANSWER)  # every chunk, from the start
        assert isinstance(events[-2], ResultEvent)
        assert isinstance(events[-1], DoneEvent)
    assert sorted(cache_of(e) for e in streams) == ["miss", "shared", "shared"]
    assert sorted(r.cache for r in kit.records()) == [CacheOutcome.MISS, CacheOutcome.SHARED, CacheOutcome.SHARED]


async def leader_then_other(leader: EngineKit, other: EngineKit) -> tuple[list[StreamEvent], list[StreamEvent]]:
    """Two instances on one store: the leader starts the stream, the other asks for it meanwhile."""
    first = asyncio.create_task(collect(leader, 1))
    await asyncio.sleep(0.03)  # the leader holds the lease and is streaming
    second = await collect(other, 2)
    return await first, second


def test_a_stream_in_another_instance_follows_through_the_store() -> None:
    store = MemoryStore()
    leader, other = engine_kit(chat=ScriptedChatModel(delay_s=0.2), store=store), engine_kit(store=store)

    first, second = run(leader_then_other(leader, other))
    assert len(leader.chat.calls) == 1
    assert other.chat.calls == []
    assert cache_of(second) == "shared"
    assert text(second) == text(first)
    assert isinstance(second[-1], DoneEvent)


def test_the_leader_leaving_keeps_the_stream_going_for_a_follower_elsewhere() -> None:
    store = MemoryStore()
    leader, other = engine_kit(chat=ScriptedChatModel(delay_s=0.3), store=store), engine_kit(store=store)

    async def leader_leaves() -> list[StreamEvent]:
        events = leader.engine.stream(ctx(request_id="req-leader-01"), assessment_request())
        follower = None
        async for event in events:
            if isinstance(event, DeltaEvent):
                follower = asyncio.create_task(collect(other, 2))
                await asyncio.sleep(0.05)  # the follower is reading (and watching)
                break
        await events.aclose()  # the leader's client disconnects
        assert follower is not None
        return await follower

    followed = run(leader_leaves())
    assert json.loads(text(followed)) == json.loads(GOOD_ANSWER)
    assert leader.chat.cancelled == 0
    assert [r.status for r in leader.records()] == ["cancelled"]
    assert leader.records()[0].debited_tokens > 0  # the upstream call it led is billed on its record


def test_the_upstream_call_is_cancelled_when_nobody_follows_and_nothing_is_cached() -> None:
    kit = engine_kit(chat=ScriptedChatModel(delay_s=0.3))

    async def leave() -> None:
        events = kit.engine.stream(ctx(), assessment_request())
        async for event in events:
            if isinstance(event, DeltaEvent):
                break
        await events.aclose()

    run(leave())
    assert kit.chat.cancelled == 1
    assert kit.records()[0].status == "cancelled"
    assert cache_of(run(collect(kit, 2))) == "miss"


def test_a_follower_takes_over_when_the_leader_vanished_before_sending_anything() -> None:
    store = MemoryStore()
    kit = engine_kit(store=store, lease_ms=300)

    async def orphaned_lease() -> list[StreamEvent]:
        request = assessment_request()
        plan = await kit.engine._plan(ctx(), request)
        await store.set_if_absent(plan.keys.lease, "a-leader-that-died", 300)
        return await collect(kit, 3)

    events = run(orphaned_lease())
    assert isinstance(events[-1], DoneEvent)
    assert len(kit.chat.calls) == 1


def test_a_leaders_error_reaches_every_follower() -> None:
    store = MemoryStore()
    cut_off = Completion(GOOD_ANSWER[:60], None, "length", Usage(5, 0, 1))  # streams for ~0.12 s
    failing = ScriptedChatModel(delay_s=0.2, answer=lambda call: cut_off)
    leader, other = engine_kit(chat=failing, store=store), engine_kit(store=store)

    async def both() -> tuple[list[StreamEvent], list[StreamEvent]]:
        first = asyncio.create_task(collect(leader, 1))
        await asyncio.sleep(0.03)
        second = await collect(other, 2)
        return await first, second

    first, second = run(both())
    assert isinstance(first[-1], ErrorEvent)
    assert isinstance(second[-1], ErrorEvent)
    assert first[-1].code == second[-1].code == "incomplete_output"
    assert other.chat.calls == []


class FirstAppendFails(MemoryStore):
    """A store that refuses the first chunk batch (a blip), then takes everything."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def append(self, key: str, value: str, ttl_ms: int) -> int:
        if not self.refused:
            self.refused += 1
            raise ConnectionError("blip")
        return await super().append(key, value, ttl_ms)


def test_a_chunk_batch_the_store_refused_goes_out_with_the_next_so_a_follower_elsewhere_reads_it_all() -> None:
    store = FirstAppendFails()
    leader, other = engine_kit(chat=ScriptedChatModel(delay_s=0.2), store=store), engine_kit(store=store)

    first, second = run(leader_then_other(leader, other))
    assert store.refused == 1
    assert cache_of(second) == "shared"
    assert text(second) == text(first)  # no gap where the refused batch was
    assert json.loads(text(second)) == json.loads(GOOD_ANSWER)
