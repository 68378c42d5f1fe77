"""Roll-ups over days, on moto's DynamoDB: perf records written by the engine's own sink, with times
spread over three days, answered from raw records and from roll-ups (day items for whole days, hour
items at the edges, raw for partial hours), identically, for every grouping."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from metrics.aggregate import GROUP_BY
from metrics.performance import answer, window
from metrics.records import PerfLog
from metrics.rollup import Rollups, run_rollup
from shared.modes import Mode
from shared.outcomes import CacheOutcome
from shared.perf import DynamoPerfSink, PerfRecord
from tests.support.aws_fixtures import AwsEnv

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 20, 21, 17, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 9, 40, tzinfo=UTC)


def _records(org: str, n: int, seed: int) -> list[PerfRecord]:
    rng = random.Random(seed)
    span = (NOW - START).total_seconds()
    records = []
    for i in range(n):
        cache = rng.choice(
            [CacheOutcome.HIT, CacheOutcome.MISS, CacheOutcome.MISS, CacheOutcome.SHARED, CacheOutcome.BYPASS]
        )
        error = rng.random() < 0.05
        stream = rng.random() < 0.3
        records.append(
            PerfRecord(
                org_id=org,
                request_id=f"req-{seed}-{i:05d}",
                function=rng.choice(["analyze", "video", "vision"]),
                operation=rng.choice(["op.a", "op.b"]),
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
                timestamp=START + timedelta(seconds=rng.uniform(0, span)),
            )
        )
    return records


def test_roll_ups_over_days_answer_exactly_as_the_raw_records(aws_env: AwsEnv) -> None:
    dynamodb = aws_env.client("dynamodb")
    sink = DynamoPerfSink(dynamodb, aws_env.tables["PerfLogTable"], retention_days=90)
    org, other = f"org-{uuid.uuid4().hex[:8]}", f"org-{uuid.uuid4().hex[:8]}"
    sink.write(_records(org, 600, 1))
    sink.write(_records(other, 200, 2))
    log, rollups = PerfLog(dynamodb, aws_env.tables["PerfLogTable"]), Rollups(dynamodb, aws_env.tables["RollupTable"])

    spans = [window(None, None, g, NOW) for g in ("function",)] + [
        window("2026-11-20T22:30:00Z", "2026-11-23T08:10:00Z", "day", NOW)
    ]
    before = {
        (i, g, f): answer(org, span, g, f, log=log, rollups=rollups)
        for i, span in enumerate(spans)
        for g in GROUP_BY
        for f in (None, "vision")
    }
    assert before[(0, "function", None)]["totals"]["calls"] == 600

    hours = [
        START.replace(minute=0) + timedelta(hours=h) for h in range(int((NOW - START).total_seconds() // 3600) + 1)
    ]
    report = run_rollup(log, rollups, NOW, hours[:-1])  # every hour but the open one
    assert report.orgs == 2
    for (i, g, f), raw in before.items():
        rolled = answer(org, spans[i], g, f, log=log, rollups=rollups)
        assert rolled["source"]["rollup_hours"] > 0
        assert {k: v for k, v in rolled.items() if k != "source"} == {k: v for k, v in raw.items() if k != "source"}, (
            i,
            g,
            f,
        )
