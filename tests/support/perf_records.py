"""Perf records as the engine writes them, drawn at random over a time span: several functions,
operations, models and modes, every cache outcome, streams with a time to first token, a few errors
and unpriced calls. For roll-up tests and the metrics benchmark, where calls must lie in past hours."""

from __future__ import annotations

import random
from datetime import datetime

from shared.modes import Mode
from shared.outcomes import CacheOutcome
from shared.perf import PerfRecord

OUTCOMES = [CacheOutcome.HIT, CacheOutcome.MISS, CacheOutcome.MISS, CacheOutcome.SHARED, CacheOutcome.BYPASS]


def random_perf_records(org: str, n: int, seed: int, start: datetime, end: datetime) -> list[PerfRecord]:
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    records = []
    for i in range(n):
        cache = rng.choice(OUTCOMES)
        error, stream = rng.random() < 0.05, rng.random() < 0.3
        records.append(
            PerfRecord(
                org_id=org,
                request_id=f"req-{seed}-{i:07d}",
                function=rng.choice(["analyze", "video", "smart_actions", "vision"]),
                operation=rng.choice(["op.a", "op.b", "op.c"]),
                model=rng.choice(["gpt-4o", "gpt-4o-mini"]),
                mode=rng.choice([Mode.CHEAP, Mode.SMART, Mode.AUTO]),
                cache=cache,
                status="error" if error else "ok",
                stream=stream,
                latency_ms=rng.lognormvariate(6.5, 0.7),
                ttft_ms=rng.lognormvariate(5.5, 0.5) if stream else None,
                input_tokens=rng.randint(100, 3000),
                output_tokens=rng.randint(50, 900),
                cost_usd=None if rng.random() < 0.02 else rng.uniform(0.0001, 0.02),
                saved_cost_usd=rng.uniform(0.0001, 0.02) if cache in (CacheOutcome.HIT, CacheOutcome.SHARED) else None,
                error_code="upstream_unavailable" if error else None,
                timestamp=start + (end - start) * (rng.uniform(0, span) / span),
            )
        )
    return records
