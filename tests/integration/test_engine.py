"""Issue 2's acceptance, each against real Redis, the moto server and the simulated model over HTTP."""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from dominus_dev.simulated_model import SimulatedModel
from shared.engine import CallContext, Engine
from shared.errors import InsufficientBalance, UpstreamTimeout, UpstreamUnavailable
from shared.modes import Mode
from shared.orgs import DynamoOrgRepository
from shared.outcomes import CacheOutcome
from tests.support.aws_fixtures import AwsEnv
from tests.support.engines import engine_settings, make_engine, outcome_counts, worker_generate
from tests.support.fakes import assessment_request
from tests.support.redis_fixtures import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture
def settings_kwargs(aws_env: AwsEnv, simulated_model: SimulatedModel, redis_url: str) -> dict[str, Any]:
    return engine_settings(tables=aws_env.tables, model_base_url=simulated_model.base_url, redis_url=redis_url)


@pytest.fixture
async def engine(settings_kwargs: dict[str, Any], aws_env: AwsEnv) -> AsyncIterator[Engine]:
    built = make_engine(settings_kwargs, aws_env.endpoint_url)
    yield built
    await built.aclose()


def ctx(org: str = "acme", n: int = 1) -> CallContext:
    return CallContext(org, f"req-test-{n:06d}", "analyze")


def perf_records(aws_env: AwsEnv, org: str) -> list[dict[str, Any]]:
    client = aws_env.client("dynamodb")
    pages = client.get_paginator("query").paginate(
        TableName=aws_env.tables["PerfLogTable"],
        KeyConditionExpression="org_id = :o",
        ExpressionAttributeValues={":o": {"S": org}},
    )
    deserializer = TypeDeserializer()
    return [{k: deserializer.deserialize(v) for k, v in item.items()} for page in pages for item in page["Items"]]


def balance(aws_env: AwsEnv, org: str) -> int:
    return (
        DynamoOrgRepository(aws_env.client("dynamodb"), aws_env.tables["OrgSettingsTable"], 10_000)
        .get(org)
        .token_balance
    )


def set_balance(aws_env: AwsEnv, org: str, tokens: int) -> None:
    DynamoOrgRepository(aws_env.client("dynamodb"), aws_env.tables["OrgSettingsTable"], 10_000).set_balance(org, tokens)


async def test_repeat_is_a_hit_with_no_upstream_call_and_each_change_is_a_miss(
    engine: Engine, simulated_model: SimulatedModel, aws_env: AwsEnv
) -> None:
    from shared.requests import ImagePart, Message
    from tests.support.fakes import Assessment

    first = await engine.generate(ctx(n=1), assessment_request())
    second = await engine.generate(ctx(n=2), assessment_request())
    assert (first.meta.cache, second.meta.cache) == (CacheOutcome.MISS, CacheOutcome.HIT)
    assert second.meta.headers()["X-Dominus-Cache"] == "hit"
    assert simulated_model.calls == 1
    assert second.value == first.value

    class Renamed(Assessment):
        pass

    changed = [
        (ctx("globex", 3), assessment_request()),  # another org
        (ctx(n=4), assessment_request(response_model=Renamed)),  # schema (its name is part of it)
        (ctx(n=5), assessment_request(mode=Mode.CHEAP)),  # model
        (ctx(n=6), assessment_request("Assess lead 43")),  # message
        (ctx(n=7), assessment_request(messages=[Message("user", ["roof", ImagePart(b"img-a", "image/png")])])),
        (ctx(n=8), assessment_request(messages=[Message("user", ["roof", ImagePart(b"img-b", "image/png")])])),
    ]
    for call_ctx, request in changed:
        assert (await engine.generate(call_ctx, request)).meta.cache is CacheOutcome.MISS
    assert simulated_model.calls == 1 + len(changed)

    engine.flush_records(5)
    records = perf_records(aws_env, "acme")
    assert sorted(r["cache"] for r in records) == ["hit"] + ["miss"] * 6
    hit = next(r for r in records if r["cache"] == "hit")
    assert hit["saved_cost_usd"] > 0
    assert hit["cost_usd"] == 0


def test_fifty_concurrent_identical_calls_from_four_processes_make_one_upstream_call(
    settings_kwargs: dict[str, Any], aws_env: AwsEnv, simulated_model: SimulatedModel
) -> None:
    simulated_model.configure(latency_ms=2_500)  # long enough that every caller arrives while it is in flight
    start_at = time.time() + 4.0  # every process imported and ready by then
    patient = settings_kwargs | {"dominus_store_timeout_ms": 5_000}  # a busy machine's slow reply is no bypass
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=4, mp_context=spawn) as pool:
        shares = [13, 13, 12, 12]
        futures = [pool.submit(worker_generate, patient, aws_env.env, n, start_at, "fanin") for n in shares]
        results = [item for future in futures for item in future.result(timeout=60)]

    assert len(results) == 50
    assert simulated_model.calls == 1
    assert len({answer for _, answer in results}) == 1
    assert outcome_counts([outcome for outcome, _ in results]) == {"miss": 1, "shared": 49}
    records = perf_records(aws_env, "fanin")
    assert outcome_counts([r["cache"] for r in records]) == {"miss": 1, "shared": 49}


def test_a_waiter_completes_the_call_when_the_leader_is_killed_mid_call(
    settings_kwargs: dict[str, Any], aws_env: AwsEnv, simulated_model: SimulatedModel
) -> None:
    # A lease a busy machine still renews in time (every second), and a follow bound far beyond it.
    short_lease = settings_kwargs | {"dominus_lease_ms": 3_000, "dominus_follow_wait_ms": 120_000}
    simulated_model.fail_next("hang")  # the leader's call hangs until it is killed
    spawn = multiprocessing.get_context("spawn")
    leader = spawn.Process(
        target=worker_generate, args=(short_lease, aws_env.env, 1, time.time(), "killed"), daemon=True
    )
    leader.start()
    try:
        deadline = time.monotonic() + 20
        while simulated_model.stats().in_flight < 1:
            assert time.monotonic() < deadline, "the leader never reached the model"
            time.sleep(0.02)

        async def wait_then_kill() -> Any:
            waiter = make_engine(short_lease, aws_env.endpoint_url)
            follow = asyncio.create_task(waiter.generate(ctx("killed", 9), assessment_request()))
            await asyncio.sleep(0.3)
            assert not follow.done()  # it waits on the leader instead of calling upstream
            leader.kill()
            started = time.monotonic()
            result = await asyncio.wait_for(follow, 90)
            await waiter.aclose()
            return result, time.monotonic() - started

        result, waited = asyncio.run(wait_then_kill())
    finally:
        leader.kill()
        leader.join(5)
    assert result.meta.cache is CacheOutcome.MISS  # it took over and called upstream itself
    assert result.value.score >= 0
    assert waited < 60.0  # the dead leader's lease (3 s) expired; no one waited out the 120 s bound
    assert simulated_model.calls == 2


async def test_redis_stopped_mid_run_marks_calls_bypass_and_nothing_raises(
    engine: Engine, redis_server: RedisServer, simulated_model: SimulatedModel
) -> None:
    assert (await engine.generate(ctx(n=1), assessment_request())).meta.cache is CacheOutcome.MISS
    redis_server.stop()
    try:
        outcomes = [(await engine.generate(ctx(n=2 + i), assessment_request())).meta.cache for i in range(5)]
    finally:
        redis_server.start()
    assert outcomes == [CacheOutcome.BYPASS] * 5
    assert simulated_model.calls == 6
    # back up (an empty Redis): the engine uses it again
    assert (await engine.generate(ctx(n=10), assessment_request())).meta.cache is CacheOutcome.MISS
    assert (await engine.generate(ctx(n=11), assessment_request())).meta.cache is CacheOutcome.HIT


async def test_auto_mode_follows_the_org_balance(engine: Engine, aws_env: AwsEnv) -> None:
    set_balance(aws_env, "low", 150)
    set_balance(aws_env, "rich", 10_000)
    low = await engine.generate(ctx("low"), assessment_request())
    rich = await engine.generate(ctx("rich"), assessment_request())
    engine.flush_records(5)  # debits settle with the perf records, off the request path
    assert (low.meta.model, low.meta.mode) == ("gpt-4o-mini", Mode.AUTO)
    assert (rich.meta.model, rich.meta.mode) == ("gpt-4o", Mode.AUTO)
    assert balance(aws_env, "low") < 150
    assert balance(aws_env, "rich") < 10_000


async def test_a_hundred_concurrent_billed_calls_never_drive_the_balance_negative(
    engine: Engine, aws_env: AwsEnv
) -> None:
    set_balance(aws_env, "tight", 40)
    calls = [engine.generate(ctx("tight", i), assessment_request(f"lead {i}")) for i in range(100)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    refused = [r for r in results if isinstance(r, InsufficientBalance)]
    served = [r for r in results if not isinstance(r, BaseException)]
    assert len(refused) + len(served) == 100, [r for r in results if isinstance(r, BaseException)][:3]
    assert served
    engine.flush_records(10)  # debits settle with the perf records, off the request path
    assert balance(aws_env, "tight") >= 0
    debited = sum(int(r.get("debited_tokens", 0)) for r in perf_records(aws_env, "tight"))
    assert debited == 40 - balance(aws_env, "tight")


@pytest.mark.parametrize(
    ("failures", "error", "code"),
    [
        ([429, 429, 429], UpstreamUnavailable, "upstream_rate_limited"),
        ([500, 500, 500], UpstreamUnavailable, "upstream_unavailable"),
        (["hang", "hang", "hang"], UpstreamTimeout, "upstream_timeout"),
    ],
    ids=["429", "500", "hang"],
)
async def test_upstream_failures_are_retried_within_budget_then_clear_errors_and_nothing_is_cached(
    settings_kwargs: dict[str, Any],
    aws_env: AwsEnv,
    simulated_model: SimulatedModel,
    failures: list[int | str],
    error: type[Exception],
    code: str,
) -> None:
    tight = settings_kwargs | {"dominus_upstream_attempt_timeout_s": 0.4, "dominus_upstream_budget_s": 2.0}
    engine = make_engine(tight, aws_env.endpoint_url)
    simulated_model.fail_next(*failures)
    started = time.monotonic()
    with pytest.raises(error) as caught:
        await engine.generate(ctx(), assessment_request())
    assert caught.value.code == code  # type: ignore[attr-defined]
    # Bounded by the budget (2 s), with slack for a busy machine; the exact arithmetic is in tests/unit/test_llm.py.
    assert time.monotonic() - started < 10.0
    assert simulated_model.calls >= 2  # it did retry
    simulated_model.reset()
    assert (await engine.generate(ctx(n=2), assessment_request())).meta.cache is CacheOutcome.MISS
    await engine.aclose()


async def test_a_transient_429_is_retried_into_a_success(engine: Engine, simulated_model: SimulatedModel) -> None:
    simulated_model.fail_next(429)
    result = await engine.generate(ctx(), assessment_request())
    assert result.meta.cache is CacheOutcome.MISS
    assert simulated_model.calls == 2
