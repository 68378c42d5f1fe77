"""Hit latency: `engine.generate` for a call already cached, on each store.

Hits run back to back, as in a long-running server (the streaming deployment), so the perf recorder's
background writes overlap the next hits; the "perf sink off" row shows what that costs. The
"Lambda-style" row adds what a buffered Lambda handler waits after each call: `flush_records`.
"store GET" is one read through the same store alone, so "engine - GET" is what the engine adds.
Target: p50 under 3 ms over Redis on loopback. Upstash-REST (HTTP per call) is for information.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from bench.common import Services, Stats, StoreKind, call_context, fmt, nonce, print_table, sample, services, verdict
from shared.engine import Engine
from shared.outcomes import CacheOutcome
from shared.perf import PerfRecorder
from shared.runtime import build_store
from shared.stores.base import GuardedStore
from tests.support.fakes import assessment_request

HITS = 2_000
WARMUP = 200
GETS = 500
TARGET_P50_MS = 3.0


@dataclass(frozen=True)
class Variant:
    label: str
    store: StoreKind
    perf_sink: bool = True
    flush_each: bool = False
    targeted: bool = False
    hits: int = HITS


VARIANTS = (
    Variant("memory", "memory"),
    Variant("redis", "redis", targeted=True),
    Variant("redis, perf sink off", "redis", perf_sink=False),
    Variant("redis, Lambda-style (+ flush)", "redis", flush_each=True, hits=HITS // 4),  # ~7 ms each
    Variant("upstash-rest (info)", "upstash"),
    Variant("upstash-rest, perf sink off (info)", "upstash", perf_sink=False),
)


@dataclass(frozen=True)
class Result:
    hits: Stats
    get: Stats
    not_hits: int


async def store_get(store: GuardedStore, value: str) -> Stats:
    """GETs of a value about the size of a cached answer, through the store alone."""
    key = f"bench:get:{nonce()}"
    await store.set(key, value, 60_000)
    seconds, _ = await sample(lambda _: store.get(key), GETS, WARMUP)
    return Stats.of(seconds)


async def hit(engine: Engine, org: str, i: int, *, flush: bool) -> CacheOutcome:
    result = await engine.generate(call_context(org, i), assessment_request("Assess lead 42 for the hit benchmark"))
    if flush:
        engine.flush_records(10)
    return result.meta.cache


async def measure(svc: Services, variant: Variant) -> Result:
    store = build_store(svc.settings(variant.store))
    recorder = None if variant.perf_sink else PerfRecorder([])
    engine = svc.engine(variant.store, recorder=recorder, guarded=store)
    org = f"hit-{variant.store}-{nonce()}"

    def call(i: int) -> Awaitable[CacheOutcome]:
        return hit(engine, org, i + 1, flush=variant.flush_each)

    try:
        first = await hit(engine, org, 0, flush=True)  # a miss: fills the cache
        assert first is CacheOutcome.MISS, first
        seconds, outcomes = await sample(call, variant.hits, WARMUP)
        get = await store_get(store, "x" * 200)
    finally:
        await engine.aclose()
        engine.flush_records(10)
    return Result(Stats.of(seconds), get, sum(1 for o in outcomes if o is not CacheOutcome.HIT))


def row(variant: Variant, result: Result) -> list[object]:
    stats = result.hits
    passed = stats.p50 < TARGET_P50_MS and result.not_hits == 0
    return [
        variant.label,
        stats.n,
        result.not_hits,
        fmt(stats.mean),
        fmt(stats.p50),
        fmt(stats.p95),
        fmt(result.get.p50),
        fmt(stats.p50 - result.get.p50),
        f"p50 < {TARGET_P50_MS:g} ms" if variant.targeted else "",
        verdict(passed) if variant.targeted else "",
    ]


def run() -> None:
    with services() as svc:
        rows = [row(variant, asyncio.run(measure(svc, variant))) for variant in VARIANTS]
    print_table(
        f"hit: engine.generate on a cached call (n hits after {WARMUP} warm-up each, ms)",
        ["store", "n", "not hit", "mean", "p50", "p95", "store GET p50", "engine - GET", "target", ""],
        rows,
    )


if __name__ == "__main__":
    run()
