"""Fan-in: N concurrent identical calls, a fresh cache key per N, the simulated model taking 200 ms.

Single-flight should turn each burst into one upstream call, every other caller sharing its result.
Reported per N: upstream calls (the simulated model's call counter, before and after), the outcomes,
and p50/p95 latency of the burst's calls. Each N runs twice on fresh keys: the first burst also opens
the Redis connections N concurrent callers need (its p95 is shown), the second is measured.
Then the same across processes: 4 processes x 25 calls (multiprocessing spawn), each building its
own engine and firing at a shared start time.
Target: exactly one upstream call per burst.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from bench.common import Services, Stats, call_context, fmt, nonce, note, print_table, services, timed, verdict
from shared.engine import Engine
from tests.support.engines import worker_generate
from tests.support.fakes import assessment_request

BURSTS = (1, 10, 50, 100)
MODEL_LATENCY_MS = 200
PROCESSES = 4
CALLS_PER_PROCESS = 25
START_DELAY_S = 6.0  # every spawned process imported and its engine built by then


def burst_row(
    label: str, outcomes: list[str], answers: set[str], upstream: int, stats: Stats | None, first: Stats | None
) -> list[object]:
    """A table row; the burst passes when one upstream call served every caller the same answer."""
    counts = " ".join(f"{name} {count}" for name, count in sorted(Counter(outcomes).items()))
    latency = [fmt(stats.p50, 1), fmt(stats.p95, 1), fmt(first.p95, 1)] if stats and first else ["-", "-", "-"]
    ok = upstream == 1 and len(answers) == 1
    return [label, len(outcomes), upstream, counts, len(answers), *latency, "upstream 1", verdict(ok)]


async def burst(engine: Engine, n: int, key: str) -> tuple[list[float], list[str], set[str]]:
    """`n` identical calls at once (one org, one request): latencies, outcomes, distinct answers."""
    request = assessment_request(f"Assess lead {key}")
    timings = await asyncio.gather(*(timed(engine.generate(call_context("fanin", i), request)) for i in range(n)))
    results = [result for _, result in timings]
    answers = {result.value.model_dump_json() for result in results}
    return [seconds for seconds, _ in timings], [result.meta.cache.value for result in results], answers


async def in_process(svc: Services) -> list[list[object]]:
    engine = svc.engine("redis")
    run = nonce()
    rows: list[list[object]] = []
    try:
        await engine.generate(call_context("fanin", 0), assessment_request(f"warm-up {run}"))  # imports openai
        for n in BURSTS:
            first, _, _ = await burst(engine, n, f"{run}-n{n}-first")  # grows the Redis pool to n connections
            before = svc.sim.calls
            seconds, outcomes, answers = await burst(engine, n, f"{run}-n{n}")
            upstream = svc.sim.calls - before
            row = burst_row(f"1 process x {n}", outcomes, answers, upstream, Stats.of(seconds), Stats.of(first))
            rows.append(row)
    finally:
        await engine.aclose()
        engine.flush_records(10)
    return rows


def across_processes(svc: Services) -> tuple[list[object], float]:
    """The burst split over spawned processes; (table row, ms from the shared start to the last answer)."""
    org = f"fanin-mp-{nonce()}"  # keys are org-scoped: a fresh org is a fresh key
    before = svc.sim.calls
    start_at = time.time() + START_DELAY_S
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=PROCESSES, mp_context=spawn) as pool:
        args = (svc.settings_kwargs("redis"), svc.env, CALLS_PER_PROCESS, start_at, org)
        futures = [pool.submit(worker_generate, *args) for _ in range(PROCESSES)]
        results = [item for future in futures for item in future.result(timeout=120)]
    wall_ms = (time.time() - start_at) * 1000
    upstream = svc.sim.calls - before
    outcomes = [outcome for outcome, _ in results]
    answers = {answer for _, answer in results}
    label = f"{PROCESSES} processes x {CALLS_PER_PROCESS}"
    return burst_row(label, outcomes, answers, upstream, None, None), wall_ms


def run() -> None:
    with services() as svc:
        svc.sim.configure(latency_ms=MODEL_LATENCY_MS)
        rows = asyncio.run(in_process(svc))
        row, wall_ms = across_processes(svc)
        rows.append(row)
    print_table(
        f"fanin: N concurrent identical calls, model latency {MODEL_LATENCY_MS} ms, fresh key per N (ms)",
        ["burst", "calls", "upstream", "outcomes", "answers", "p50", "p95", "first burst p95", "target", ""],
        rows,
    )
    note("each N runs twice on fresh keys; the first burst (its p95 shown) also opens the Redis connections it needs")
    note(f"{PROCESSES} processes: {wall_ms:.0f} ms from the shared start to the last answer; the processes are fresh,")
    note("so the leader's first upstream call also imports openai (on a worker thread) while the others wait")


if __name__ == "__main__":
    run()
