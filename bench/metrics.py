"""The analytics API's latency for a 7-day window: from 100k raw perf records, and from roll-ups.

100,000 perf records for one org (several functions, models, modes, outcomes, streams and errors)
are written by the engine's own sink (`DynamoPerfSink`) to moto's DynamoDB server over HTTP, spread
over the 7 days before a fixed "now". The API's answer (`metrics.performance.answer`, grouped by
function and by day) is timed first with no roll-ups (every record read raw), then
after the roll-up of every closed hour (day items for whole days, hour items at the edges, the
open hour raw), median of 3. The two answers are checked equal. Note that moto answers DynamoDB queries in
Python from memory; DynamoDB's own latency per page differs, but the ratio (how many items are
read) carries over.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config

from bench.common import fmt, median, note, print_table, services
from metrics.performance import answer, window
from metrics.records import PerfLog
from metrics.rollup import HOUR, Rollups, floor_hour, run_rollup
from shared.perf import DynamoPerfSink
from tests.support.perf_records import random_perf_records

RECORDS = 100_000
RUNS = 3  # answers from roll-ups; the raw path is timed once (over moto it takes minutes)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SPAN = timedelta(days=7)


def run() -> None:
    with services() as svc:
        # moto reads a query's partition in Python, page after page: far slower per page than
        # DynamoDB, so the production client's 3 s read timeout would cut the raw path short here.
        dynamodb = boto3.client(
            "dynamodb", endpoint_url=svc.aws_endpoint, config=Config(read_timeout=300, retries={"max_attempts": 1})
        )
        tables = svc.resource_env
        log = PerfLog(dynamodb, tables["DOMINUS_PERF_TABLE"])
        rollups = Rollups(dynamodb, tables["DOMINUS_ROLLUP_TABLE"])
        org = f"org-bench-{uuid.uuid4().hex[:6]}"
        began = time.perf_counter()
        records = random_perf_records(org, RECORDS, 7, NOW - SPAN, NOW)
        DynamoPerfSink(dynamodb, tables["DOMINUS_PERF_TABLE"], retention_days=90).write(records)
        note(f"{RECORDS:,} perf records written in {time.perf_counter() - began:.0f} s")
        span = window(None, None, "day", NOW)

        def timed(group_by: str, runs: int) -> tuple[float, dict[str, object]]:
            times, body = [], {}
            for _ in range(runs):
                start = time.perf_counter()
                body = answer(org, span, group_by, None, log=log, rollups=rollups)  # type: ignore[arg-type]
                times.append(time.perf_counter() - start)
            return median(times) * 1000, body

        raw = {g: timed(g, 1) for g in ("function", "day")}
        note(f"raw answers: {raw['function'][0] / 1000:.0f} s and {raw['day'][0] / 1000:.0f} s")
        hours, hour = [], floor_hour(NOW - SPAN)
        while hour < floor_hour(NOW):
            hours.append(hour)
            hour += HOUR
        began = time.perf_counter()
        report = run_rollup(log, rollups, NOW, hours)
        rollup_s = time.perf_counter() - began
        rolled = {g: timed(g, RUNS) for g in ("function", "day")}
        rows = []
        for group_by in ("function", "day"):
            same = {k: v for k, v in raw[group_by][1].items() if k != "source"} == {
                k: v for k, v in rolled[group_by][1].items() if k != "source"
            }
            rows.append(
                (
                    group_by,
                    fmt(raw[group_by][0], 0),
                    fmt(rolled[group_by][0], 0),
                    fmt(raw[group_by][0] / rolled[group_by][0], 1),
                    "yes" if same else "NO",
                )
            )
        print_table(
            f"Analytics API, 7-day window, {RECORDS:,} raw records (raw: 1 run; roll-ups: median of {RUNS})",
            ("group_by", "raw ms", "roll-ups ms", "speed-up", "same answer"),
            rows,
        )
        note(f"roll-up of {len(report.hours)} hours: {report.items} items in {rollup_s:.0f} s")
