"""Bursts on a healthy store: how many calls bypass it, and how many round trips a miss costs.

The engine runs in this process with the production store settings (timeout 250 ms, cool-down 2 s);
Redis, the Upstash-REST server, the simulated model and moto run in their own processes. For N = 20,
50 and 100, N different calls run at once (fresh keys), then the same N again:

- bypass: first-burst calls marked `bypass` (the store was skipped), and store calls that failed or
  were skipped during both bursts, counted from the store's own warnings;
- repeat hits: every answer of the first burst should be cached, so the second burst is all hits;
- p50/p95: latency of the first burst's calls (misses) and of the repeat's (hits), ms.

Buffered calls (`generate`, model latency 100 ms) and streams (first token after 200 ms, then a
4-character chunk every 5 ms, so N streams keep the event loop busy relaying chunks). One engine per
store serves every N in turn, so each larger burst also opens the connections it needs. Target: no
bypass and every repeat a hit, on Redis (Upstash-REST rows are information: its dev server is one
Python process sharing this machine). Then the store round trips one miss costs, counted by a wrapper
around the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench.common import Services, Stats, StoreKind, call_context, fmt, nonce, note, print_table, services, verdict
from shared.engine import Engine
from shared.events import ErrorEvent, MetaEvent
from shared.runtime import build_store
from tests.support.fakes import RoundTrips, assessment_request

BURSTS = (20, 50, 100)
BUFFERED_LATENCY_MS = 100
STREAM_TTFT_MS, STREAM_CHUNK_MS, STREAM_CHUNK_CHARS = 200, 5, 4
# Measured by this benchmark on the store before issue 13 (shared/ of commit 705edf4): get, set_if_absent,
# set (admit), set (publish), delete_if_value; a stream: get, set_if_absent, an append per chunk batch,
# set (admit), delete_if_value.
ROUND_TRIPS_BEFORE = {"buffered": "5", "stream": "39, 35 of them appends"}


class StoreFailures(logging.Handler):
    """Counts the store's warnings (a call that failed, which starts the cool-down), by store and error."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.kinds: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == "store %s failed on %s: %s":
            self.count += 1
            self.kinds["{} {}: {}".format(*record.args or ())] += 1


@dataclass
class Burst:
    label: str
    calls: int
    first: list[tuple[float, str]]  # (seconds, outcome)
    repeat: list[tuple[float, str]]
    store_failures: int

    @property
    def bypassed(self) -> int:
        return sum(1 for _, outcome in self.first if outcome == "bypass")

    @property
    def repeat_hits(self) -> int:
        return sum(1 for _, outcome in self.repeat if outcome == "hit")

    @property
    def ok(self) -> bool:
        return self.bypassed == 0 and self.store_failures == 0 and self.repeat_hits == self.calls


Call = Callable[[int], Awaitable[str]]  # i -> the call's cache outcome


def buffered(engine: Engine, run: str) -> Call:
    async def call(i: int) -> str:
        result = await engine.generate(call_context("bursts", i), assessment_request(f"Assess lead {run}-{i}"))
        return result.meta.cache.value

    return call


def streamed(engine: Engine, run: str) -> Call:
    async def call(i: int) -> str:
        outcome = "none"
        async for event in engine.stream(call_context("bursts", i), assessment_request(f"Assess lead {run}-{i}")):
            if isinstance(event, MetaEvent):
                outcome = event.cache
            elif isinstance(event, ErrorEvent):
                return f"error {event.code}"
        return outcome

    return call


async def timed_outcome(call: Call, i: int) -> tuple[float, str]:
    started = time.perf_counter()
    outcome = await call(i)
    return time.perf_counter() - started, outcome


async def burst(label: str, call: Call, n: int, failures: StoreFailures) -> Burst:
    before = failures.count
    first = await asyncio.gather(*(timed_outcome(call, i) for i in range(n)))
    repeat = await asyncio.gather(*(timed_outcome(call, i) for i in range(n)))
    return Burst(label, n, list(first), list(repeat), failures.count - before)


async def bursts(
    svc: Services, store: StoreKind, failures: StoreFailures, sizes: tuple[int, ...] = BURSTS
) -> list[Burst]:
    engine = svc.engine(store)
    rows: list[Burst] = []
    try:
        await engine.generate(call_context("bursts", 0), assessment_request(f"warm-up {nonce()}"))  # imports openai
        for kind, make in (("buffered", buffered), ("stream", streamed)):
            if kind == "buffered":
                svc.sim.configure(latency_ms=BUFFERED_LATENCY_MS)
            else:
                svc.sim.configure(
                    ttft_ms=STREAM_TTFT_MS, chunk_interval_ms=STREAM_CHUNK_MS, chunk_chars=STREAM_CHUNK_CHARS
                )
            for n in sizes:
                rows.append(await burst(f"{store} {kind} x {n}", make(engine, nonce()), n, failures))
                # the row's records and balance settlements written before the next row (and before moto stops)
                await asyncio.to_thread(engine.flush_records, 120)
                await asyncio.sleep(2.5)  # past any cool-down, so one row's failure does not spill into the next
    finally:
        await engine.aclose()
        engine.flush_records(10)
    return rows


async def round_trips(svc: Services) -> dict[str, Counter[str]]:
    """The store calls one miss makes on Redis, buffered and streamed (after a warm-up of each)."""
    guarded = build_store(svc.settings("redis"))
    counted = RoundTrips(guarded.inner)
    guarded.inner = counted
    engine = svc.engine("redis", guarded=guarded)
    svc.sim.configure(latency_ms=0, ttft_ms=0, chunk_interval_ms=STREAM_CHUNK_MS, chunk_chars=STREAM_CHUNK_CHARS)
    found: dict[str, Counter[str]] = {}
    try:
        for kind, make in (("buffered", buffered), ("stream", streamed)):
            call = make(engine, nonce())
            await call(-1)  # org settings, connections, imports
            counted.calls.clear()
            outcome = await call(0)
            assert outcome == "miss", outcome
            found[kind] = Counter(counted.calls)
    finally:
        await engine.aclose()
        engine.flush_records(10)
    return found


def report(rows: list[Burst], trips: dict[str, Counter[str]], failures: StoreFailures) -> None:
    lines = []
    for row in rows:
        first = Stats.of([seconds for seconds, _ in row.first])
        repeat = Stats.of([seconds for seconds, _ in row.repeat])
        outcomes = " ".join(f"{name} {count}" for name, count in sorted(Counter(o for _, o in row.first).items()))
        targeted = row.label.startswith("redis")
        lines.append(
            [
                row.label,
                outcomes,
                f"{row.bypassed} ({row.bypassed / row.calls:.0%})",
                row.store_failures,
                f"{row.repeat_hits}/{row.calls}",
                fmt(first.p50, 0),
                fmt(first.p95, 0),
                fmt(repeat.p50, 1),
                fmt(repeat.p95, 1),
                "no bypass, all hits" if targeted else "(info)",
                verdict(row.ok) if targeted else "",
            ]
        )
    print_table(
        "bursts: N different calls at once on a healthy store, then the same N again (production store settings)",
        [
            "burst",
            "first burst outcomes",
            "bypass",
            "store failures",
            "repeat hits",
            "miss p50",
            "miss p95",
            "hit p50",
            "hit p95",
            "target",
            "",
        ],
        lines,
    )
    note("store failures: store calls that failed (each starts a 2 s cool-down), both bursts (the store's warnings)")
    note(f"buffered: model latency {BUFFERED_LATENCY_MS} ms; streams: first token {STREAM_TTFT_MS} ms, then a")
    note(f"{STREAM_CHUNK_CHARS}-character chunk every {STREAM_CHUNK_MS} ms; latencies in ms")
    if failures.kinds:
        note("store failures by kind: " + ", ".join(f"{kind} x {n}" for kind, n in failures.kinds.most_common()))
    for kind, calls in trips.items():
        listed = ", ".join(f"{name} {count}" for name, count in sorted(calls.items()))
        note(
            f"store round trips per {kind} miss (Redis): {sum(calls.values())} = {listed}"
            f" (before issue 13: {ROUND_TRIPS_BEFORE[kind]})"
        )


def run() -> None:
    failures = StoreFailures()
    logging.getLogger("shared.stores.base").addHandler(failures)
    try:
        with services() as svc:
            rows = asyncio.run(bursts(svc, "redis", failures))
            # Upstash-REST is for information (the dev REST server is one Python process): its smallest
            # burst only, so that the whole `python -m bench` stays within 10 minutes.
            rows += asyncio.run(bursts(svc, "upstash", failures, sizes=BURSTS[:1]))
            trips = asyncio.run(round_trips(svc))
    finally:
        logging.getLogger("shared.stores.base").removeHandler(failures)
    report(rows, trips, failures)


if __name__ == "__main__":
    run()
