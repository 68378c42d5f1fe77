"""The analytics API on raw perf records: where its time goes, and what roll-ups save.

1. **moto** (the local DynamoDB), 5k records of one org written by the engine's own sink: one raw
   7-day answer (`metrics.performance.answer`, grouped by function), its wall time, the queries
   (pages) it made, and this process's CPU time. The rest of the wall time is moto's: moto 5.2
   serializes every attribute value of a reply through its shape model, tens of microseconds each
   (10k records take it 50-100 s, hence 5k here; 10k and 100k are timed in memory below).
2. **in memory**, 10k and 100k records: `MemoryDynamo` answers the same queries from memory and
   hands each page through botocore's own response parser, as a real client parses a real reply, so
   the time is ours alone (parsing, reading the items, aggregating), with the serving time left out.
   Raw answers by function and by day (by function only at 100k), then the roll-up of every closed
   hour, then the same answers from roll-ups (day items for whole days, hour items at the edges, the
   open hour raw): checked equal. Real DynamoDB adds its network time per 1 MB page (the page count is printed).
"""

from __future__ import annotations

import bisect
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
from botocore.config import Config

from bench.common import fmt, median, note, print_table, rss_mb, services
from metrics.aggregate import GroupBy
from metrics.performance import Window, answer, window
from metrics.records import PerfLog
from metrics.rollup import HOUR, Rollups, floor_hour, run_rollup
from shared.perf import FUNCTION_INDEX, FUNCTION_KEY, HOUR_INDEX, HOUR_KEY, DynamoPerfSink
from tests.support.perf_records import random_perf_records

MOTO_RECORDS = 2_000  # moto serves ~5 s per 1,000 raw records: 10k and 100k are timed in memory
SIZES = (10_000, 100_000)
RUNS = 3  # median of 3, except 100k raw answers (once: seconds each)
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
SPAN = timedelta(days=7)
PERF, ROLLUP = "PerfLogTable", "RollupTable"
PAGE_BYTES = 1_000_000  # DynamoDB's page: 1 MB of items (read before any projection)
KEYS: dict[tuple[str, str | None], tuple[str, str]] = {
    (PERF, None): ("org_id", "sk"),
    (PERF, FUNCTION_INDEX): (FUNCTION_KEY, "sk"),
    (PERF, HOUR_INDEX): (HOUR_KEY, "sk"),
    (ROLLUP, None): ("org_id", "sk"),
}
Row = tuple[str, str, dict[str, Any]]
CONDITION = re.compile(r"(#?\w+) = (:\w+)(?: AND (#?\w+) BETWEEN (:\w+) AND (:\w+))?")


# ---- an in-memory DynamoDB for the queries the metrics function makes ------------------------------


@dataclass
class MemoryDynamo:
    """Query (tables and GSIs, sk BETWEEN, projection, 1 MB pages), PutItem and GetItem, from memory.
    Each Query reply is JSON parsed by botocore's parser, as the real client's is; `serving_s` is the
    time spent making the replies, `queries` their number."""

    items: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(default_factory=dict)
    serving_s: float = 0.0
    queries: int = 0
    # (table, index) -> partition key -> its items as (sk, org_id, item), sorted; rebuilt after a put
    _indexes: dict[tuple[str, str | None], dict[str, list[Row]]] = field(default_factory=dict)
    _parse: Callable[[bytes], dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        import botocore.session
        from botocore.parsers import create_parser

        service = botocore.session.get_session().get_service_model("dynamodb")
        output = service.operation_model("Query").output_shape
        assert output is not None
        parser = create_parser("json")
        self._parse = lambda body: parser.parse({"body": body, "headers": {}, "status_code": 200}, output)

    def put_item(self, TableName: str, Item: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        pk, sk = KEYS[(TableName, None)]
        self.items.setdefault(TableName, {})[(Item[pk]["S"], Item[sk]["S"])] = dict(Item)
        self._indexes = {k: v for k, v in self._indexes.items() if k[0] != TableName}
        return {}

    def get_item(self, TableName: str, Key: Mapping[str, Any], **_: Any) -> dict[str, Any]:
        pk, sk = KEYS[(TableName, None)]
        item = self.items.get(TableName, {}).get((Key[pk]["S"], Key[sk]["S"]))
        return {"Item": item} if item else {}

    def query(self, TableName: str, **params: Any) -> dict[str, Any]:
        began = time.perf_counter()
        names = params.get("ExpressionAttributeNames", {})
        values = params["ExpressionAttributeValues"]
        match = CONDITION.fullmatch(params["KeyConditionExpression"])
        assert match, params["KeyConditionExpression"]
        index = params.get("IndexName")
        rows = self._partition(TableName, index, values[match[2]]["S"])
        low, high = (values[match[4]]["S"], values[match[5]]["S"]) if match[3] else ("", "\uffff")
        start = params.get("ExclusiveStartKey")
        first = (
            bisect.bisect_right(rows, (start["sk"]["S"], start["org_id"]["S"]), key=lambda r: r[:2])
            if start
            else bisect.bisect_left(rows, low, key=lambda r: r[0])
        )
        wanted = [names.get(n.strip(), n.strip()) for n in params.get("ProjectionExpression", "").split(",") if n]
        page: list[tuple[str, dict[str, Any]]] = []
        size, last = 0, None
        for sk, _org, item in rows[first:]:
            if sk > high:
                break
            size += _size(item)
            if size > PAGE_BYTES:
                last = page[-1][1]
                break
            page.append((json.dumps({n: item[n] for n in wanted if n in item} if wanted else item), item))
        reply: dict[str, Any] = {"Count": len(page), "ScannedCount": len(page)}
        if last is not None:
            pk, _ = KEYS[(TableName, index)]
            reply["LastEvaluatedKey"] = {k: last[k] for k in {pk, "org_id", "sk"}}
        body = ('{"Items":[' + ",".join(text for text, _ in page) + "]," + json.dumps(reply)[1:]).encode()
        self.serving_s += time.perf_counter() - began
        self.queries += 1
        return self._parse(body)

    def _partition(self, table: str, index: str | None, key: str) -> list[Row]:
        if (table, index) not in self._indexes:
            pk, _ = KEYS[(table, index)]
            partitions: dict[str, list[Row]] = {}
            for item in self.items.get(table, {}).values():
                if pk in item:
                    partitions.setdefault(item[pk]["S"], []).append((item["sk"]["S"], item["org_id"]["S"], item))
            for rows in partitions.values():
                rows.sort(key=lambda r: r[:2])
            self._indexes[(table, index)] = partitions
        return self._indexes[(table, index)].get(key, [])


def _size(item: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB counts it, near enough: names and values in bytes."""
    return sum(len(name) + len(str(next(iter(value.values())))) for name, value in item.items())


# ---- measuring -----------------------------------------------------------------------------------


@dataclass
class Counting:
    """A DynamoDB client that counts its queries."""

    client: Any
    queries: int = 0

    def query(self, **params: Any) -> Any:
        self.queries += 1
        return self.client.query(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def timed_answer(
    org: str,
    span: Window,
    group_by: GroupBy,
    log: PerfLog,
    rollups: Rollups,
    runs: int,
    serving_s: Callable[[], float] = lambda: 0.0,
) -> tuple[float, float, dict[str, Any]]:
    """Median wall and CPU seconds of `answer` (less what `serving_s` counted meanwhile), and the answer."""
    walls, cpus, body = [], [], {}
    for _ in range(runs):
        wall, cpu, served = time.perf_counter(), time.process_time(), serving_s()
        body = answer(org, span, group_by, None, log=log, rollups=rollups)
        walls.append(time.perf_counter() - wall - (serving_s() - served))
        cpus.append(time.process_time() - cpu)
    return median(walls), median(cpus), body


def on_moto() -> None:
    with services() as svc:
        # moto answers slowly: the production client's 3 s read timeout would cut a page short.
        config = Config(read_timeout=600, retries={"max_attempts": 1})
        client = Counting(boto3.client("dynamodb", endpoint_url=svc.aws_endpoint, config=config))
        tables = svc.resource_env
        org = f"org-bench-{uuid.uuid4().hex[:6]}"
        records = random_perf_records(org, MOTO_RECORDS, 7, NOW - SPAN, NOW)
        began, moto_mb = time.perf_counter(), rss_mb(svc.aws_pid)
        DynamoPerfSink(client.client, tables["DOMINUS_PERF_TABLE"], retention_days=90).write(records)
        grown = (rss_mb(svc.aws_pid) - moto_mb) * 1024 / MOTO_RECORDS
        note(
            f"{MOTO_RECORDS:,} perf records written to moto in {time.perf_counter() - began:.0f} s; "
            f"moto's memory grew {grown:.1f} KB per record (it keeps every item, and TTL never expires one)"
        )
        log = PerfLog(cast(Any, client), tables["DOMINUS_PERF_TABLE"])
        rollups = Rollups(cast(Any, client), tables["DOMINUS_ROLLUP_TABLE"])
        wall, cpu, body = timed_answer(org, window(None, None, "function", NOW), "function", log, rollups, 1)
        memory = MemoryDynamo()
        load(memory, records)
        mem_log = PerfLog(cast(Any, memory), PERF)
        mem_rollups = Rollups(cast(Any, memory), ROLLUP)
        span = window(None, None, "function", NOW)
        ours, _, mem_body = timed_answer(org, span, "function", mem_log, mem_rollups, 1, lambda: memory.serving_s)
    assert body["totals"]["calls"] == MOTO_RECORDS
    assert mem_body == body, "the in-memory backend answers as moto does"
    print_table(
        f"Analytics API on moto: a raw 7-day answer over {MOTO_RECORDS:,} records (group_by=function, 1 run)",
        ("where", "queries", "wall s", "this process CPU s", "moto s (wall - CPU)", "ours in memory s"),
        [("moto server", client.queries, fmt(wall), fmt(cpu), fmt(wall - cpu), fmt(ours))],
    )


def load(memory: MemoryDynamo, records: list[Any]) -> None:
    sink = DynamoPerfSink(cast(Any, None), PERF, retention_days=90)
    memory.items[PERF] = {(r.org_id, r.sort_key()): sink.item(r) for r in records}


def in_memory(size: int) -> list[tuple[object, ...]]:
    org = f"org-bench-{size}"
    memory = MemoryDynamo()
    load(memory, random_perf_records(org, size, 7, NOW - SPAN, NOW))
    log, rollups = PerfLog(cast(Any, memory), PERF), Rollups(cast(Any, memory), ROLLUP)
    runs = RUNS if size <= 10_000 else 1

    def ours(group_by: GroupBy, runs: int) -> tuple[float, int, dict[str, Any]]:
        memory.queries = 0
        span = window(None, None, group_by, NOW)
        wall, _, body = timed_answer(org, span, group_by, log, rollups, runs, lambda: memory.serving_s)
        return wall * 1000, memory.queries // runs, body

    groupings: tuple[GroupBy, ...] = ("function", "day") if size <= 10_000 else ("function",)
    raw = {g: ours(g, runs) for g in groupings}
    hours = []
    hour = floor_hour(NOW - SPAN)
    while hour < floor_hour(NOW):
        hours.append(hour)
        hour += HOUR
    memory.serving_s = 0.0
    began = time.perf_counter()
    report = run_rollup(log, rollups, NOW, hours)
    rollup_s = time.perf_counter() - began - memory.serving_s
    rolled = {g: ours(g, RUNS) for g in groupings}
    rows: list[tuple[object, ...]] = []
    for group_by in groupings:
        same = {k: v for k, v in raw[group_by][2].items() if k != "source"} == {
            k: v for k, v in rolled[group_by][2].items() if k != "source"
        }
        rows.append(
            (
                f"{size:,}",
                group_by,
                raw[group_by][1],
                fmt(raw[group_by][0], 0),
                rolled[group_by][1],
                fmt(rolled[group_by][0], 1),
                fmt(raw[group_by][0] / rolled[group_by][0], 0),
                "yes" if same else "NO",
            )
        )
    note(f"{size:,} records: roll-up of {len(report.hours)} hours, {report.items} items, {rollup_s:.1f} s of ours")
    return rows


def run() -> None:
    on_moto()
    rows = [row for size in SIZES for row in in_memory(size)]
    print_table(
        "Analytics API, 7-day window, our time only (in-memory DynamoDB through botocore's parser; "
        f"raw: median of {RUNS} at 10k, 1 run at 100k; roll-ups: median of {RUNS}; ms)",
        ("records", "group_by", "raw queries", "raw ms", "roll-up queries", "roll-ups ms", "speed-up", "same answer"),
        rows,
    )


if __name__ == "__main__":
    run()
