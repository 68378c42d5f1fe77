"""Miss overhead: `engine.generate` on a cache miss vs the same call made directly with the openai SDK.

Every call carries a distinct message, so every engine call goes upstream; the simulated model answers
at once (latency 0), so the difference is what the engine adds. Rows with one more collaborator
replaced (constructor injection) say where the milliseconds go:

- perf sink off (`PerfRecorder([])`): the DynamoDB BatchWriteItem of the perf record;
- balance hold a no-op: the DynamoDB UpdateItem that holds the call's worst case before it goes upstream
  (its settlement runs with the perf record, off the request path);
- Memory store instead of Redis: the Redis round trips (lookup, lease, then one write that admits, publishes, frees).

Calls are interleaved (one of each per round, in a shuffled order), so drift on a busy machine hits every row alike, and
each engine call is followed (untimed) by `flush_records`, as a Lambda handler does before returning,
so one row's background perf write never lands in the next row's timing. What that flush waits is
reported too. Target: engine p50 - direct p50 under 5 ms, on Redis with the production wiring.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from bench.common import Services, Stats, StoreKind, call_context, fmt, nonce, note, print_table, services, verdict
from shared.catalog import PriceTable
from shared.engine import Engine, EngineConfig
from shared.llm import ChatModel, ModelCall
from shared.modes import Billing, ModelPair
from shared.orgs import (
    CachedOrgSettings,
    Debit,
    DynamoOrgRepository,
    Hold,
    OrgRepository,
    OrgSettings,
    new_hold_id,
)
from shared.outcomes import CacheOutcome
from shared.perf import PerfRecorder
from shared.runtime import build_chat_model, build_store, dynamodb_client
from shared.schemas import schema_name, strict_schema
from tests.support.fakes import Assessment, assessment_request

CALLS = 100
WARMUP = 20
TARGET_OVERHEAD_MS = 5.0
MODEL = "gpt-4o"  # what AUTO picks for an org with the default balance
COUNTED_MISSES = 20


class NoBalance:
    """An org repository whose hold, settlement and debit do nothing: the engine's balance steps minus DynamoDB."""

    def __init__(self, inner: OrgRepository) -> None:
        self._inner = inner

    def get(self, org_id: str) -> OrgSettings:
        return self._inner.get(org_id)

    def reserve(self, org_id: str, tokens: int) -> Hold | None:
        return Hold(org_id, new_hold_id(), tokens, 1_000_000)

    def settle(self, hold: Hold, tokens: int) -> Debit:
        return Debit(tokens, 1_000_000, 0)

    def debit(self, org_id: str, tokens: int) -> Debit:
        return Debit(tokens, 1_000_000, 0)


def engine_without_balance(svc: Services, store: StoreKind) -> Engine:
    """`build_engine`'s wiring with a no-op perf recorder and no-op balance steps."""
    settings = svc.settings(store)
    dynamo = DynamoOrgRepository(
        dynamodb_client(svc.aws_endpoint), settings.dominus_org_table, settings.dominus_default_balance
    )
    return Engine(
        store=build_store(settings),
        orgs=CachedOrgSettings(NoBalance(dynamo), settings.dominus_org_settings_ttl_s),
        chat=build_chat_model(settings),
        billing=Billing(
            PriceTable.with_overrides(settings.dominus_prices_json), settings.dominus_usd_per_balance_token
        ),
        recorder=PerfRecorder([]),
        config=EngineConfig(
            models=ModelPair(cheap=settings.dominus_cheap_model, smart=settings.dominus_smart_model),
            auto_threshold=settings.dominus_auto_threshold,
            lease_ms=settings.dominus_lease_ms,
            follow_wait_ms=settings.dominus_follow_wait_ms,
        ),
    )


Call = Callable[[str, int], Awaitable[CacheOutcome]]  # (org, i) -> how the call was served


@dataclass
class Row:
    label: str
    call: Call
    engine: Engine | None = None  # flushed after each call, closed at the end
    targeted: bool = False
    seconds: list[float] = field(default_factory=list)
    flush_seconds: list[float] = field(default_factory=list)
    not_miss: int = 0

    @property
    def stats(self) -> Stats:
        return Stats.of(self.seconds)


def request_text(org: str, i: int) -> str:
    return f"Assess lead {org}-{i}"  # distinct per call and per org: always a miss


def engine_row(label: str, engine: Engine, *, targeted: bool = False) -> Row:
    async def call(org: str, i: int) -> CacheOutcome:
        result = await engine.generate(call_context(org, i), assessment_request(request_text(org, i)))
        return result.meta.cache

    return Row(label, call, engine, targeted)


def direct_row(client: Any) -> Row:
    """The engine's upstream request (same messages, model, response_format), made with the SDK alone."""
    schema = strict_schema(Assessment)
    json_schema = {"name": schema_name(Assessment), "schema": schema, "strict": True}

    async def call(org: str, i: int) -> CacheOutcome:
        await client.chat.completions.create(
            model=MODEL,
            messages=[m.to_openai() for m in assessment_request(request_text(org, i)).messages],
            temperature=0.2,
            max_completion_tokens=1_500,
            response_format={"type": "json_schema", "json_schema": json_schema},
        )
        return CacheOutcome.MISS

    return Row("direct openai.AsyncOpenAI call", call)


def chat_model_row(chat: ChatModel) -> Row:
    """The engine's model client alone (shared.llm: timeouts, retry budget, error mapping)."""
    schema = strict_schema(Assessment)

    async def call(org: str, i: int) -> CacheOutcome:
        messages = [m.to_openai() for m in assessment_request(request_text(org, i)).messages]
        await chat.complete(ModelCall(MODEL, messages, schema_name(Assessment), schema, 0.2, 1_500))
        return CacheOutcome.MISS

    return Row("shared.llm chat model alone", call)


def rows(svc: Services, client: Any, chat: ChatModel) -> dict[str, Row]:
    """Every row by key, in table order; each engine ablation removes one more collaborator."""
    return {
        "direct": direct_row(client),
        "chat": chat_model_row(chat),
        "production": engine_row("engine, Redis (production wiring)", svc.engine("redis"), targeted=True),
        "no sink": engine_row("  - perf sink (no-op recorder)", svc.engine("redis", recorder=PerfRecorder([]))),
        "no balance": engine_row("  - balance hold (no-op)", engine_without_balance(svc, "redis")),
        "memory": engine_row("  - Redis (Memory store)", engine_without_balance(svc, "memory")),
        "upstash": engine_row("engine, Upstash-REST (info)", svc.engine("upstash")),
    }


async def one_call(row: Row, org: str, i: int) -> None:
    """One call of `row`; timed and kept when `i` >= 0 (negative: warm-up)."""
    started = time.perf_counter()
    outcome = await row.call(org, i)
    elapsed = time.perf_counter() - started
    flush_started = time.perf_counter()
    if row.engine is not None:
        row.engine.flush_records(10)
    flush = time.perf_counter() - flush_started
    if i >= 0:
        row.seconds.append(elapsed)
        row.flush_seconds.append(flush)
        row.not_miss += outcome is not CacheOutcome.MISS


async def measure(svc: Services) -> dict[str, Row]:
    import openai

    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=svc.model_base_url, max_retries=0)
    chat = build_chat_model(svc.settings())
    table = rows(svc, client, chat)
    run = nonce()
    shuffler = random.Random(42)
    try:
        for i in range(-WARMUP, CALLS):
            order = list(table.items())
            shuffler.shuffle(order)  # no row always follows the same one
            for key, row in order:
                await one_call(row, f"miss-{run}-{key.replace(' ', '-')}", i)
    finally:
        await client.close()
        await chat.aclose()
        for row in table.values():
            if row.engine is not None:
                await row.engine.aclose()
    return table


async def redis_commands_per_miss(svc: Services) -> dict[str, float]:
    """The Redis commands one miss sends, from the server's own command statistics."""
    engine = svc.engine("redis")
    org = f"miss-count-{nonce()}"
    await engine.generate(call_context(org, 0), assessment_request(f"Assess lead {org}-warm"))
    with redis.Redis.from_url(svc.redis.url) as client:
        client.config_resetstat()
        for i in range(COUNTED_MISSES):
            await engine.generate(call_context(org, i), assessment_request(f"Assess lead {org}-{i}"))
        stats: dict[str, dict[str, Any]] = client.info("commandstats")
    await engine.aclose()
    engine.flush_records(10)
    counts = {name.removeprefix("cmdstat_"): int(v["calls"]) / COUNTED_MISSES for name, v in stats.items()}
    return {name: count for name, count in counts.items() if name not in ("info", "config|resetstat")}


def breakdown(table: dict[str, Row]) -> list[tuple[str, float, str]]:
    """Where the engine's p50 overhead goes: (what, ms, how it was obtained)."""
    p50 = {key: row.stats.p50 for key, row in table.items()}
    return [
        ("perf sink (not awaited)", p50["production"] - p50["no sink"], "production - perf sink off"),
        ("balance hold (DynamoDB)", p50["no sink"] - p50["no balance"], "perf sink off - balance no-op"),
        ("Redis round trips", p50["no balance"] - p50["memory"], "balance no-op - Memory store"),
        ("pipeline CPU, thread hop", p50["memory"] - p50["chat"], "Memory store - chat model alone"),
        ("shared.llm wrapper", p50["chat"] - p50["direct"], "chat model alone - direct"),
        ("Upstash-REST instead of Redis", p50["upstash"] - p50["production"], "Upstash row - production row"),
    ]


def report(table: dict[str, Row], commands: dict[str, float]) -> None:
    direct = table["direct"].stats
    lines = []
    for row in table.values():
        stats = row.stats
        overhead = stats.p50 - direct.p50
        baseline = row is table["direct"]
        lines.append(
            [
                row.label,
                stats.n,
                fmt(stats.mean),
                fmt(stats.p50),
                fmt(stats.p95),
                "" if baseline else fmt(overhead),
                "" if baseline else f"{stats.p50 / direct.p50:.2f}x",
                f"< {TARGET_OVERHEAD_MS:g} ms" if row.targeted else "",
                verdict(overhead < TARGET_OVERHEAD_MS and row.not_miss == 0) if row.targeted else "",
            ]
        )
    print_table(
        f"miss: a cache miss through the engine vs a direct SDK call (model latency 0; {CALLS} calls each, ms)",
        ["call", "n", "mean", "p50", "p95", "p50 - direct", "p50 ratio", "target", ""],
        lines,
    )
    note("where the engine's p50 overhead goes:")
    for what, ms, how in breakdown(table):
        note(f"  {what:<30} {ms:6.2f} ms  ({how})")
    flush = Stats.of(table["production"].flush_seconds)
    note(f"perf flush after a call (what a Lambda handler waits before returning): p50 {flush.p50:.2f} ms")
    listed = ", ".join(f"{name} {count:g}" for name, count in sorted(commands.items()))
    note(f"Redis commands per miss: {listed} (the commands an eval script runs count too)")
    note(f"engine calls that were not misses: {sum(row.not_miss for row in table.values())}")


def run() -> None:
    with services() as svc:
        svc.sim.configure(latency_ms=0)
        table = asyncio.run(measure(svc))
        commands = asyncio.run(redis_commands_per_miss(svc))
    report(table, commands)


if __name__ == "__main__":
    run()
