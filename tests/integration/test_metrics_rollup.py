"""Roll-ups over days, on moto's DynamoDB: perf records written by the engine's own sink, with times
spread over three days, answered from raw records and from roll-ups (day items for whole days, hour
items at the edges, raw for partial hours), identically, for every grouping."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from dominus_dev.local import LocalRuntime
from dominus_dev.server import create_dev_app
from dominus_dev.serving import ServerThread
from metrics.aggregate import GROUP_BY
from metrics.function import deps_for
from metrics.performance import answer, window
from metrics.records import PerfLog
from metrics.rollup import WATERMARK_PK, WATERMARK_SK, Rollups, closed_hour, floor_hour, run_rollup
from shared.perf import DynamoPerfSink, hour_key
from tests.support.aws_fixtures import AwsEnv
from tests.support.dev_server import embedded_defaults
from tests.support.perf_records import random_perf_records
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

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
    try:
        report = run_rollup(log, rollups, NOW, hours[:-1])  # every hour but the open one
        assert report.orgs == 2
        for (i, g, f), raw in before.items():
            rolled = answer(org, spans[i], g, f, log=log, rollups=rollups)
            assert rolled["source"]["rollup_hours"] > 0
            assert _without_source(rolled) == _without_source(raw), (i, g, f)
    finally:  # moto's tables are process-wide: a dev server started later must not inherit it
        _forget_watermark(aws_env.client("dynamodb"), aws_env.tables["RollupTable"])


def _without_source(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "source"}


def _forget_watermark(dynamodb: DynamoDBClient, table: str) -> None:
    dynamodb.delete_item(TableName=table, Key={"org_id": {"S": WATERMARK_PK}, "sk": {"S": WATERMARK_SK}})


def test_the_dev_server_rolls_up_on_its_own_schedule_and_stops_it_on_shutdown() -> None:
    with LocalRuntime(embedded_defaults()) as runtime:
        org = f"org-{uuid.uuid4().hex[:8]}"
        two_hours_ago = datetime.now(UTC) - timedelta(hours=2)  # a closed hour every run rolls again
        dynamodb, perf_table = runtime.aws.client("dynamodb"), runtime.settings.dominus_perf_table
        records = random_perf_records(org, 5, 9, two_hours_ago, two_hours_ago + timedelta(seconds=1))
        DynamoPerfSink(dynamodb, perf_table, 90).write(records)
        rollups = deps_for(runtime.clients()).rollups()
        previous = rollups.watermark()  # moto's tables are process-wide: leave them as found
        rollups.set_watermark(closed_hour(datetime.now(UTC)))  # runs roll the last three hours, no catching up
        hour = hour_key(floor_hour(two_hours_ago))
        try:
            # Every second here (the template's rate is 15 minutes); nothing asks for it over HTTP.
            app = create_dev_app(runtime, schedule_every_s={("metrics", "rollup"): 1.0})
            with ServerThread(app):
                wait_until(lambda: bool(rollups.items(org, "h", hour, hour)), "the scheduled roll-up of the org's hour")
                assert any(t.name == "schedule:metrics/rollup" for t in threading.enumerate())
            assert not any(t.name == "schedule:metrics/rollup" for t in threading.enumerate())
        finally:
            if previous is not None:
                rollups.set_watermark(previous)
            else:
                _forget_watermark(dynamodb, runtime.settings.dominus_rollup_table)
            for record in records:  # nor its records, which a later first run (48 hours) would roll
                dynamodb.delete_item(TableName=perf_table, Key={"org_id": {"S": org}, "sk": {"S": record.sort_key()}})
