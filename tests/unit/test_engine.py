"""The engine's pipeline with in-memory collaborators: cache, de-duplication, modes, failures, stream."""

import asyncio
import json
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from shared.catalog import Usage
from shared.errors import InsufficientBalance, ModelRefused, UpstreamError
from shared.events import DeltaEvent, DoneEvent, MetaEvent, ResultEvent, StreamEvent
from shared.llm import Completion
from shared.modes import Mode
from shared.orgs import OrgSettings
from shared.outcomes import CacheOutcome
from shared.stores.memory import MemoryStore
from tests.support.fakes import (
    GOOD_ANSWER,
    CountingStore,
    FailingStore,
    ScriptedChatModel,
    assessment_request,
    ctx,
    engine_kit,
)

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_a_repeated_call_is_a_hit_with_no_upstream_call_and_no_cost() -> None:
    kit = engine_kit()

    async def twice():
        first = await kit.engine.generate(ctx(), assessment_request())
        second = await kit.engine.generate(ctx(request_id="req-00000002"), assessment_request())
        return first, second

    first, second = run(twice())
    assert (first.meta.cache, second.meta.cache) == (CacheOutcome.MISS, CacheOutcome.HIT)
    assert len(kit.chat.calls) == 1
    assert second.value == first.value
    assert second.meta.cost_usd == 0.0
    assert second.meta.saved_cost_usd == first.meta.cost_usd > 0
    assert second.meta.headers()["X-Dominus-Cache"] == "hit"
    hit = kit.records()[1]
    assert (hit.cache, hit.input_tokens, hit.debited_tokens) == (CacheOutcome.HIT, 0, 0)


def test_another_org_never_sees_the_first_orgs_answer() -> None:
    kit = engine_kit()

    async def two_orgs():
        await kit.engine.generate(ctx("acme"), assessment_request())
        return await kit.engine.generate(ctx("globex"), assessment_request())

    assert run(two_orgs()).meta.cache is CacheOutcome.MISS
    assert len(kit.chat.calls) == 2


def test_concurrent_identical_calls_in_one_process_make_one_upstream_call() -> None:
    kit = engine_kit(chat=ScriptedChatModel(delay_s=0.05))

    async def ten():
        return await asyncio.gather(*(kit.engine.generate(ctx(), assessment_request()) for _ in range(10)))

    results = run(ten())
    assert len(kit.chat.calls) == 1
    assert sorted(r.meta.cache for r in results) == [CacheOutcome.MISS] + [CacheOutcome.SHARED] * 9
    assert len({r.value.model_dump_json() for r in results}) == 1


@pytest.mark.parametrize(
    ("completion", "error"),
    [
        (Completion("", "I can't help with that.", "stop", Usage(10, 0, 5)), ModelRefused),
        (Completion(GOOD_ANSWER[:20], None, "length", Usage(10, 0, 5)), UpstreamError),
        (Completion('{"score": 900, "summary": "x", "reasons": []}', None, "stop", Usage(10, 0, 5)), UpstreamError),
    ],
    ids=["refused", "truncated", "schema-invalid"],
)
def test_unusable_answers_are_errors_billed_but_never_cached(completion: Completion, error: type) -> None:
    kit = engine_kit(chat=ScriptedChatModel(answer=lambda call: completion))

    async def twice() -> None:
        for _ in range(2):
            with pytest.raises(error):
                await kit.engine.generate(ctx(), assessment_request())

    run(twice())
    assert len(kit.chat.calls) == 2  # nothing was cached between them
    records = kit.records()
    assert kit.orgs.get("acme").token_balance < 10_000
    assert [r.status for r in records] == ["error", "error"]
    assert all(r.input_tokens == 10 and r.cost_usd and r.debited_tokens == 1 for r in records)


def test_a_failing_store_turns_calls_into_bypass_and_nothing_raises() -> None:
    kit = engine_kit(store=FailingStore())
    result = run(kit.engine.generate(ctx(), assessment_request()))
    assert result.meta.cache is CacheOutcome.BYPASS
    assert result.value.score == 72


def test_cache_and_dedupe_off_is_bypass_every_time() -> None:
    kit = engine_kit()
    kit.orgs.put(OrgSettings(org_id="acme", token_balance=5_000, cache_enabled=False, dedupe_enabled=False))

    async def twice():
        return [await kit.engine.generate(ctx(), assessment_request()) for _ in range(2)]

    assert [r.meta.cache for r in run(twice())] == [CacheOutcome.BYPASS, CacheOutcome.BYPASS]
    assert len(kit.chat.calls) == 2


def test_auto_mode_follows_the_balance_and_the_call_is_debited() -> None:
    kit = engine_kit()
    kit.orgs.put(OrgSettings(org_id="low", token_balance=150))
    kit.orgs.put(OrgSettings(org_id="rich", token_balance=10_000))
    low = run(kit.engine.generate(ctx("low"), assessment_request()))
    rich = run(kit.engine.generate(ctx("rich"), assessment_request()))
    kit.records()  # debits are settled off the request path, with the records
    assert (low.meta.model, low.meta.mode) == ("gpt-4o-mini", Mode.AUTO)
    assert rich.meta.model == "gpt-4o"
    assert kit.orgs.get("rich").token_balance == 10_000 - 5  # 1000 in + 200 out on gpt-4o = $0.0045
    assert kit.orgs.get("low").token_balance == 149


def test_an_empty_balance_refuses_new_calls_but_still_serves_cached_ones() -> None:
    kit = engine_kit()
    run(kit.engine.generate(ctx("acme"), assessment_request(mode=Mode.CHEAP)))
    kit.records()  # its debit is settled
    kit.orgs.put(OrgSettings(org_id="acme", token_balance=0))
    assert run(kit.engine.generate(ctx("acme"), assessment_request(mode=Mode.CHEAP))).meta.cache is CacheOutcome.HIT
    with pytest.raises(InsufficientBalance):
        run(kit.engine.generate(ctx("acme"), assessment_request("something new")))
    assert len(kit.chat.calls) == 1


def test_an_answer_cached_on_the_smart_model_is_found_when_the_balance_falls_back_to_the_cheap_one() -> None:
    kit = engine_kit()
    first = run(kit.engine.generate(ctx("acme"), assessment_request()))  # auto at 10,000: the smart model
    kit.records()
    kit.orgs.put(OrgSettings(org_id="acme", token_balance=3))  # auto now falls to the cheap model
    for mode in (None, Mode.AUTO, Mode.SMART):
        again = run(kit.engine.generate(ctx("acme"), assessment_request(mode=mode)))
        assert (again.meta.cache, again.meta.model) == (CacheOutcome.HIT, first.meta.model)
    assert [r.model for r in kit.records()[1:]] == [first.meta.model] * 3  # recorded as served
    fresh = run(kit.engine.generate(ctx("acme"), assessment_request("new lead")))
    assert fresh.meta.model == "gpt-4o-mini"  # what the balance pays for, when nothing is cached
    assert len(kit.chat.calls) == 2


def test_a_call_holds_its_worst_case_while_it_runs_and_settles_to_its_cost() -> None:
    kit = engine_kit(chat=ScriptedChatModel(delay_s=0.05))
    kit.orgs.put(OrgSettings(org_id="acme", token_balance=1_000))

    async def watch() -> int:
        call = asyncio.create_task(kit.engine.generate(ctx("acme"), assessment_request()))
        await kit.chat.called.wait()
        during = kit.orgs.get("acme").token_balance
        await call
        return during

    during = run(watch())
    assert during < 1_000 - 5  # the worst case (the whole output budget) is held, not the real cost
    kit.records()
    assert kit.orgs.get("acme").token_balance == 1_000 - 5  # settled: 1000 in + 200 out on gpt-4o
    assert not kit.orgs.holds


def test_a_call_that_fails_or_is_cancelled_gives_its_hold_back() -> None:
    failing = engine_kit(chat=ScriptedChatModel(answer=lambda call: Completion("", None, "stop", Usage())))
    with pytest.raises(UpstreamError):
        run(failing.engine.generate(ctx("acme"), assessment_request()))
    failing.records()
    assert failing.orgs.get("acme").token_balance == 10_000 and not failing.orgs.holds

    slow = engine_kit(chat=ScriptedChatModel(delay_s=5))

    async def leave() -> None:
        call = asyncio.create_task(slow.engine.generate(ctx("acme"), assessment_request()))
        await slow.chat.called.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    run(leave())
    assert [r.status for r in slow.records()] == ["cancelled"]
    assert slow.orgs.get("acme").token_balance == 10_000 and not slow.orgs.holds


def test_a_stream_the_balance_cannot_cover_fails_before_its_first_event() -> None:
    kit = engine_kit()
    kit.orgs.put(OrgSettings(org_id="acme", token_balance=0))

    async def start() -> None:
        await kit.engine.start_stream(ctx("acme"), assessment_request())

    with pytest.raises(InsufficientBalance):
        run(start())
    events = collect(kit)
    assert [type(e).__name__ for e in events] == ["ErrorEvent"]
    assert not kit.chat.calls
    assert [r.error_code for r in kit.records()] == ["insufficient_balance"] * 2


def collect(kit, request_id: str = "req-00000001") -> list[StreamEvent]:
    async def go() -> list[StreamEvent]:
        return [event async for event in kit.engine.stream(ctx(request_id=request_id), assessment_request())]

    return run(go())


def test_a_stream_emits_meta_deltas_result_done_and_a_repeat_replays_from_cache() -> None:
    kit = engine_kit()
    first = collect(kit)
    assert isinstance(first[0], MetaEvent) and first[0].cache == "miss"
    assert isinstance(first[-2], ResultEvent) and isinstance(first[-1], DoneEvent)
    deltas = [e.text for e in first if isinstance(e, DeltaEvent)]
    assert len(deltas) > 1 and json.loads("".join(deltas)) == json.loads(GOOD_ANSWER)
    assert first[-1].ttft_ms is not None and first[-1].output_tokens == 200

    again = collect(kit, "req-00000002")
    assert isinstance(again[0], MetaEvent) and again[0].cache == "hit"
    assert again[-2] == first[-2]
    assert len(kit.chat.calls) == 1
    assert [r.stream for r in kit.records()] == [True, True]


def test_a_stream_abandoned_midway_is_recorded_cancelled_and_not_cached() -> None:
    kit = engine_kit(chat=ScriptedChatModel(delay_s=0.05))

    async def leave_early() -> None:
        events = kit.engine.stream(ctx(), assessment_request())
        async for event in events:
            if isinstance(event, DeltaEvent):
                break
        await events.aclose()  # what a disconnecting client does to the generator

    run(leave_early())
    assert kit.records()[0].status == "cancelled"
    meta = collect(kit, "req-00000002")[0]
    assert isinstance(meta, MetaEvent)
    assert meta.cache == "miss"


def test_a_leaders_failure_reaches_its_followers_without_more_upstream_calls() -> None:
    refusal = Completion("", "no", "stop", Usage(10, 0, 5))
    kit = engine_kit(chat=ScriptedChatModel(answer=lambda call: refusal, delay_s=0.05))

    async def five():
        calls = [kit.engine.generate(ctx(request_id=f"req-0000000{i}"), assessment_request()) for i in range(5)]
        return await asyncio.gather(*calls, return_exceptions=True)

    assert all(isinstance(r, ModelRefused) for r in run(five()))
    assert len(kit.chat.calls) == 1
    assert sorted(r.cache for r in kit.records()) == [CacheOutcome.MISS] + [CacheOutcome.SHARED] * 4


def test_org_settings_are_read_once_then_shared_through_the_store() -> None:
    store = MemoryStore()
    first, second = engine_kit(store=store, org_settings_ttl_s=30), engine_kit(store=store, org_settings_ttl_s=30)
    run(first.engine.generate(ctx(), assessment_request()))
    run(first.engine.generate(ctx(), assessment_request("again")))
    run(second.engine.generate(ctx(), assessment_request()))  # another instance, same org
    assert (first.orgs.reads, second.orgs.reads) == (1, 0)


def test_a_call_joins_an_identical_call_in_this_process_without_asking_the_store() -> None:
    store = CountingStore()
    kit = engine_kit(chat=ScriptedChatModel(delay_s=0.05), store=store)

    async def three():
        first = asyncio.create_task(kit.engine.generate(ctx(), assessment_request()))
        await asyncio.sleep(0.01)  # the first is now waiting on the model
        gets_before = store.gets
        rest = await asyncio.gather(*(kit.engine.generate(ctx(), assessment_request()) for _ in range(2)))
        return gets_before, [await first, *rest]

    gets_before, results = run(three())
    assert store.gets == gets_before
    assert [r.meta.cache for r in results] == [CacheOutcome.MISS, CacheOutcome.SHARED, CacheOutcome.SHARED]
