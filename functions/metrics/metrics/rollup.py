"""Hourly and daily roll-ups of the perf records, per org, and the scheduled run that makes them.

RollupTable: pk `org_id`, sk `<h|d>#<hour or day>#<function>#<operation>#<model>#<mode>`, one item
per org, period and dimension set, holding the period's `Aggregate` (counts, tokens, cost in integer
nano-USD, latency and TTFT sketches) and its ten latest errors. Aggregates merge exactly (integers,
sketch bucket counts), so a day's item is the merge of its hours', and any window answered from
roll-ups equals the same window answered from raw records.

A run (EventBridge, every 15 minutes) rolls each closed hour since the last run, and the last
`LOOKBACK_HOURS` again: a record that arrived late lands in its hour on the next run. A roll-up is
computed from the raw records and written over the old one, so running an hour twice gives the same
items. The watermark (the last hour rolled) is written last: the API reads roll-ups only up to it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from metrics.aggregate import Aggregate
from metrics.records import PerfLog, Record
from shared.perf import hour_key, sort_key_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

HOUR = timedelta(hours=1)
LOOKBACK_HOURS = 3
FIRST_RUN_HOURS = 48  # with no watermark yet, the run starts this far back
GRACE = timedelta(minutes=5)  # an hour is closed this long after it ends: records are written in seconds
RECENT_ERRORS = 10
RETENTION_DAYS = 400
WATERMARK_PK = "__rollup__"
WATERMARK_SK = "watermark"

Dims = tuple[str, str, str, str]  # function, operation, model, mode


@dataclass
class Bucket:
    """One org's aggregate for one period and dimension set, with its latest errors."""

    aggregate: Aggregate = field(default_factory=Aggregate)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: Record) -> None:
        self.aggregate.add(record)
        if record.get("status") == "error":
            self.errors = latest_errors([*self.errors, error_of(record)])

    def merge(self, other: Bucket) -> None:
        self.aggregate.merge(other.aggregate)
        self.errors = latest_errors([*self.errors, *other.errors])


def dims_of(record: Record) -> Dims:
    return (str(record["function"]), str(record["operation"]), str(record["model"]), str(record["mode"]))


def error_of(record: Record) -> dict[str, Any]:
    return {
        "timestamp": sort_key_timestamp(str(record.get("sk", ""))) or str(record.get("timestamp")),
        "function": record["function"],
        "operation": record["operation"],
        "model": record["model"],
        "error_code": record.get("error_code"),
        "request_id": record["request_id"],
        "latency_ms": float(record.get("latency_ms", 0)),
    }


def latest_errors(errors: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The `RECENT_ERRORS` latest, newest first (ties by request id: the same whatever the order)."""
    return sorted(errors, key=lambda e: (e["timestamp"], e["request_id"]), reverse=True)[:RECENT_ERRORS]


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def parse_hour(key: str) -> datetime:
    return datetime.strptime(key, "%Y-%m-%dT%H").replace(tzinfo=UTC)


def closed_hour(now: datetime) -> datetime:
    """The start of the latest hour that is over (with grace for records still being written)."""
    return floor_hour(now - GRACE) - HOUR


class Rollups:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    # ---- writing ------------------------------------------------------------------------------

    def put(self, org_id: str, period: str, key: str, dims: Dims, bucket: Bucket) -> None:
        function, operation, model, mode = dims
        expires = int((datetime.now(UTC) + timedelta(days=RETENTION_DAYS)).timestamp())
        item: dict[str, AttributeValueTypeDef] = {
            "org_id": {"S": org_id},
            "sk": {"S": f"{period}#{key}#{function}#{operation}#{model}#{mode}"},
            "period": {"S": key},
            "function": {"S": function},
            "operation": {"S": operation},
            "model": {"S": model},
            "mode": {"S": mode},
            "aggregate": {"S": bucket.aggregate.to_json()},
            "errors": {"S": json.dumps(bucket.errors, separators=(",", ":"))},
            "expires_at": {"N": str(expires)},
        }
        self.dynamodb.put_item(TableName=self.table, Item=item)

    def watermark(self) -> datetime | None:
        """The last hour rolled up (every org), or None before the first run."""
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"org_id": {"S": WATERMARK_PK}, "sk": {"S": WATERMARK_SK}}, ConsistentRead=True
        ).get("Item")
        return parse_hour(item["hour"]["S"]) if item else None

    def set_watermark(self, hour: datetime) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            Item={"org_id": {"S": WATERMARK_PK}, "sk": {"S": WATERMARK_SK}, "hour": {"S": hour_key(hour)}},
        )

    # ---- reading ------------------------------------------------------------------------------

    def items(self, org_id: str, period: str, first: str, last: str) -> list[tuple[str, Dims, Bucket]]:
        """This org's roll-ups of `period` ("h" or "d") with keys first..last (inclusive)."""
        found: list[tuple[str, Dims, Bucket]] = []
        start_key: dict[str, Any] | None = None
        while True:
            params: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "org_id = :o AND sk BETWEEN :a AND :b",
                "ExpressionAttributeValues": {
                    ":o": {"S": org_id},
                    ":a": {"S": f"{period}#{first}#"},
                    ":b": {"S": f"{period}#{last}#\uffff"},
                },
            }
            if start_key:
                params["ExclusiveStartKey"] = start_key
            page = self.dynamodb.query(**params)
            for item in page.get("Items", []):
                dims = (item["function"]["S"], item["operation"]["S"], item["model"]["S"], item["mode"]["S"])
                bucket = Bucket(Aggregate.from_json(item["aggregate"]["S"]), json.loads(item["errors"]["S"]))
                found.append((item["period"]["S"], dims, bucket))
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return found


@dataclass(frozen=True)
class RunReport:
    hours: list[str]
    orgs: int
    items: int
    watermark: str | None


def roll_hour(log: PerfLog, rollups: Rollups, hour: datetime) -> dict[str, set[Dims]]:
    """Roll one hour for every org from its raw records; the orgs and dimension sets written."""
    buckets: dict[tuple[str, Dims], Bucket] = defaultdict(Bucket)
    for record in log.hour_records(hour_key(hour)):
        buckets[(str(record["org_id"]), dims_of(record))].add(record)
    written: dict[str, set[Dims]] = defaultdict(set)
    for (org_id, dims), bucket in buckets.items():
        rollups.put(org_id, "h", hour_key(hour), dims, bucket)
        written[org_id].add(dims)
    return written


def roll_day(rollups: Rollups, org_id: str, day: str) -> int:
    """One org's day items, merged from its hour items of that day."""
    merged: dict[Dims, Bucket] = defaultdict(Bucket)
    for _, dims, bucket in rollups.items(org_id, "h", f"{day}T00", f"{day}T23"):
        merged[dims].merge(bucket)
    for dims, bucket in merged.items():
        rollups.put(org_id, "d", day, dims, bucket)
    return len(merged)


def hours_to_roll(now: datetime, watermark: datetime | None, lookback: int = LOOKBACK_HOURS) -> list[datetime]:
    last = closed_hour(now)
    first = last - (lookback - 1) * HOUR
    if watermark is None:
        first = last - (FIRST_RUN_HOURS - 1) * HOUR
    elif watermark + HOUR < first:
        first = watermark + HOUR  # a run was missed: catch up from where the last one stopped
    hours = []
    while first <= last:
        hours.append(first)
        first += HOUR
    return hours


def run_rollup(log: PerfLog, rollups: Rollups, now: datetime, hours: Sequence[datetime] | None = None) -> RunReport:
    """Roll the closed hours due (or the given ones), then their days, then move the watermark."""
    watermark = rollups.watermark()
    hours = list(hours) if hours is not None else hours_to_roll(now, watermark)
    days: dict[str, set[str]] = defaultdict(set)  # org -> days touched
    items = 0
    for hour in hours:
        for org_id, dims in roll_hour(log, rollups, hour).items():
            days[org_id].add(hour_key(hour)[:10])
            items += len(dims)
    for org_id, org_days in days.items():
        for day in sorted(org_days):
            items += roll_day(rollups, org_id, day)
    newest = max(hours, default=None)
    if newest is not None and (watermark is None or newest > watermark):
        rollups.set_watermark(newest)
        watermark = newest
    return RunReport([hour_key(h) for h in hours], len(days), items, hour_key(watermark) if watermark else None)
