"""Reading the engine's perf records (PerfLogTable) back: one org over a time range, or every org in
one hour (for the roll-up).

Keys as shared/perf.py writes them. A range [start, end) is the sk range from `start`'s timestamp
to `end`'s: `...Z#id` sorts after `...Z`, so a record at exactly `end` is outside, as a half-open
range wants.

A window is one query (paged), read in one pass. Reading 100k records is mostly the client's work
per attribute (botocore parses every attribute value through its shape model), so a query asks only
for the attributes an aggregate reads (`FIELDS`), and items are read off the wire as plain values
(`plain`) rather than through boto3's TypeDeserializer: strings, flags, and numbers as the decimal
text DynamoDB holds (what `int`, `float` and `Decimal` read exactly). The timestamp and the request
id come from the sort key.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.perf import FUNCTION_INDEX, FUNCTION_KEY, HOUR_INDEX, HOUR_KEY, org_function_key, perf_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Record = dict[str, Any]

# What an aggregate, its group keys and its recent errors read (metrics.aggregate, metrics.rollup).
FIELDS = (
    "sk",
    "function",
    "operation",
    "model",
    "mode",
    "cache",
    "status",
    "stream",
    "latency_ms",
    "ttft_ms",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "cost_usd",
    "saved_cost_usd",
    "error_code",
)


def plain(item: Mapping[str, Mapping[str, Any]]) -> Record:
    """A wire item (`{"S": ...}`, `{"N": ...}`, `{"BOOL": ...}` values) as plain values, with the
    timestamp and request id its sort key holds."""
    record = {name: next(iter(value.values())) for name, value in item.items()}
    record["timestamp"], _, record["request_id"] = str(record["sk"]).partition("#")
    return record


class PerfLog:
    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb = dynamodb
        self.table = table

    def org_records(self, org_id: str, start: datetime, end: datetime, function: str | None = None) -> Iterator[Record]:
        """This org's records with start <= timestamp < end (of one function, if given)."""
        if end <= start:
            return iter(())
        if function is None:
            return self._query("org_id = :pk AND sk BETWEEN :a AND :b", org_id, start, end)
        condition = f"{FUNCTION_KEY} = :pk AND sk BETWEEN :a AND :b"
        return self._query(condition, org_function_key(org_id, function), start, end, FUNCTION_INDEX)

    def hour_records(self, hour: str) -> Iterator[Record]:
        """Every org's records of one hour (`YYYY-MM-DDTHH`)."""
        yield from self._pages(
            {
                "KeyConditionExpression": "#h = :h",
                "ExpressionAttributeValues": {":h": {"S": hour}},
                "IndexName": HOUR_INDEX,
            },
            {"#h": HOUR_KEY},
            ("org_id",),
        )

    def _query(
        self, condition: str, pk: str, start: datetime, end: datetime, index: str | None = None
    ) -> Iterator[Record]:
        params: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": {
                ":pk": {"S": pk},
                ":a": {"S": perf_timestamp(start)},
                ":b": {"S": perf_timestamp(end)},
            },
        }
        if index is not None:
            params["IndexName"] = index
        return self._pages(params)

    def _pages(
        self, params: dict[str, Any], names: dict[str, str] | None = None, extra: tuple[str, ...] = ()
    ) -> Iterator[Record]:
        """The query's items, page after page, with only `FIELDS` (and `extra`) read."""
        projected = {f"#f{i}": name for i, name in enumerate((*FIELDS, *extra))}
        params = {
            **params,
            "ProjectionExpression": ", ".join(projected),
            "ExpressionAttributeNames": {**(names or {}), **projected},
        }
        start_key: dict[str, Any] | None = None
        while True:
            if start_key:
                params = {**params, "ExclusiveStartKey": start_key}
            page = self.dynamodb.query(TableName=self.table, **params)
            for item in page.get("Items", []):
                yield plain(item)
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return
