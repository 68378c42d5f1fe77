"""Roll-ups over days, on moto's DynamoDB: perf records written by the engine's own sink, with times
spread over three days, answered from raw records and from roll-ups (day items for whole days, hour
items at the edges, raw for partial hours), identically, for every grouping."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from metrics.aggregate import GROUP_BY
from metrics.performance import answer, window
from metrics.records import PerfLog
from metrics.rollup import Rollups, run_rollup
from shared.perf import DynamoPerfSink
from tests.support.aws_fixtures import AwsEnv
from tests.support.perf_records import random_perf_records

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 20, 21, 17, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 9, 40, tzinfo=UTC)


def test_roll_ups_over_days_answer_exactly_as_the_raw_records(aws_env: AwsEnv) -> None:
    dynamodb = aws_env.client("dynamodb")
    sink = DynamoPerfSink(dynamodb, aws_env.tables["PerfLogTable"], retention_days=90)
    org, other = f"org-{uuid.uuid4().hex[:8]}", f"org-{uuid.uuid4().hex[:8]}"
    sink.write(random_perf_records(org, 600, 1, START, NOW))
    sink.write(random_perf_records(other, 200, 2, START, NOW))
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
