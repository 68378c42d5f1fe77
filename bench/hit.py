"""Hit latency: `engine.generate` for a call already cached, on each store, and what recording costs.

Hits run back to back, as in a long-running server, so the perf records' writes overlap the next hits.
Where the records are written:
- "writer process" (the dev server's sink, `shared.perf_writer`): a child process writes them; this
  process only encodes each batch, 25 records (~0.2 ms) at a time.
- "in-process" (Lambda's sink): boto3 in the recorder's thread, competing with the hits for the
  interpreter lock. Lambda itself never overlaps them: it writes after the response, one request at
  a time per sandbox. The "Lambda-style" row adds that wait after each call (`flush_records`).
- "off": records built and delivered to no sink.
"GET p50" is one read through the same store alone, so "engine - GET" is what the engine adds.
Targets, over Redis on loopback with records on (writer process): p50 under 3 ms, p95 at most 1 ms.
Each row flushes its records before the next starts. Upstash-REST (an HTTP call per hit) is for
information, with fewer hits.

"RSS after 50k hits": this process's resident memory before and after 50,000 hits over Redis with
records built and delivered (no sink: the moto server keeps the stored records in its own process;
`python -m bench metrics` measures that), so growth here would be the engine's.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal

from bench.common import (
    Services,
    Stats,
    StoreKind,
    call_context,
    fmt,
    nonce,
    note,
    print_table,
    rss_mb,
    sample,
    services,
    verdict,
)
from shared.engine import Engine
from shared.outcomes import CacheOutcome
from shared.perf import PerfRecorder
from shared.perf_writer import WriterProcess
from shared.runtime import build_store
from shared.stores.base import GuardedStore
from tests.support.fakes import assessment_request

HITS = 2_000
WARMUP = 200
GETS = 500
TARGET_P50_MS = 3.0
TARGET_P95_MS = 1.0
RSS_HITS = 50_000
FLUSH_S = 300.0  # a row's backlog of records, written to moto before the next row

Records = Literal["writer process", "in-process", "off"]


@dataclass(frozen=True)
class Variant:
    label: str
    store: StoreKind
    records: Records = "writer process"
    flush_each: bool = False
    targeted: bool = False
    hits: int = HITS
    warmup: int = WARMUP


VARIANTS = (
    Variant("memory", "memory"),
    Variant("redis", "redis", targeted=True),
    Variant("redis, records in-process", "redis", records="in-process"),
    Variant("redis, records off", "redis", records="off"),
    Variant("redis, Lambda-style (in-process + flush)", "redis", records="in-process", flush_each=True, hits=HITS // 4),
    Variant("upstash-rest (info)", "upstash", hits=200, warmup=20),
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


def engine_for(svc: Services, variant: Variant, store: GuardedStore) -> tuple[Engine, WriterProcess | None]:
    if variant.records == "off":
        return svc.engine(variant.store, recorder=PerfRecorder([]), guarded=store), None
    if variant.records == "in-process":
        return svc.engine(variant.store, guarded=store), None
    writer = svc.perf_writer()
    return svc.engine(variant.store, perf_sink=writer, guarded=store), writer


async def measure(svc: Services, variant: Variant) -> Result:
    store = build_store(svc.settings(variant.store))
    engine, writer = engine_for(svc, variant, store)
    org = f"hit-{variant.store}-{nonce()}"

    def call(i: int) -> Awaitable[CacheOutcome]:
        return hit(engine, org, i + 1, flush=variant.flush_each)

    try:
        first = await hit(engine, org, 0, flush=True)  # a miss: fills the cache
        assert first is CacheOutcome.MISS, first
        seconds, outcomes = await sample(call, variant.hits, variant.warmup)
        get = await store_get(store, "x" * 200)
    finally:
        await engine.aclose()
        engine.flush_records(FLUSH_S)
        if writer is not None:
            writer.close()
    return Result(Stats.of(seconds), get, sum(1 for o in outcomes if o is not CacheOutcome.HIT))


def row(variant: Variant, result: Result) -> list[object]:
    stats = result.hits
    passed = stats.p50 < TARGET_P50_MS and stats.p95 <= TARGET_P95_MS and result.not_hits == 0
    return [
        variant.label,
        variant.records,
        stats.n,
        result.not_hits,
        fmt(stats.mean),
        fmt(stats.p50),
        fmt(stats.p95),
        fmt(stats.p99),
        fmt(result.get.p50),
        fmt(stats.p50 - result.get.p50),
        f"p50 < {TARGET_P50_MS:g}, p95 <= {TARGET_P95_MS:g} ms" if variant.targeted else "",
        verdict(passed) if variant.targeted else "",
    ]


async def rss_after_hits(svc: Services) -> tuple[float, float]:
    """This process's RSS (MB) after a warm-up, and after `RSS_HITS` more hits."""
    store = build_store(svc.settings("redis"))
    engine = svc.engine("redis", recorder=PerfRecorder([]), guarded=store)
    org = f"rss-{nonce()}"
    try:
        await hit(engine, org, 0, flush=True)
        await sample(lambda i: hit(engine, org, i + 1, flush=False), 2_000, 0)
        engine.flush_records(FLUSH_S)
        gc.collect()
        before = rss_mb()
        await sample(lambda i: hit(engine, org, i + 1, flush=False), RSS_HITS, 0)
        engine.flush_records(FLUSH_S)
        gc.collect()
        return before, rss_mb()
    finally:
        await engine.aclose()


def run() -> None:
    with services() as svc:
        results = {variant: asyncio.run(measure(svc, variant)) for variant in VARIANTS}
        before, after = asyncio.run(rss_after_hits(svc))
    print_table(
        f"hit: engine.generate on a cached call (n hits after {WARMUP} warm-up each, ms)",
        ["store", "records", "n", "not hit", "mean", "p50", "p95", "p99", "GET p50", "engine - GET", "target", ""],
        [row(variant, result) for variant, result in results.items()],
    )
    hits = {variant.label: result.hits for variant, result in results.items()}
    off = hits["redis, records off"]
    for label in ("redis", "redis, records in-process"):
        on = hits[label]
        note(f"{label} against records off: p95 {on.p95 - off.p95:+.2f} ms, p99 {on.p99 - off.p99:+.2f} ms")
    print_table(
        f"RSS after {RSS_HITS:,} hits (redis, records built, no sink; this process, MB)",
        ["after warm-up", f"after {RSS_HITS:,} hits", "growth", "per hit"],
        [[fmt(before, 1), fmt(after, 1), fmt(after - before, 1), f"{(after - before) * 1024 * 1024 / RSS_HITS:.0f} B"]],
    )


if __name__ == "__main__":
    run()
