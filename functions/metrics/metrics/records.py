"""Reading the engine's perf records (PerfLogTable) back: one org over a time range, or every org in
one hour (for the roll-up).

Keys (shared/perf.py): pk `org_id`, sk `<timestamp ISO, ms, Z>#<request id>`; GSI `by_function`
(`<org>#<function>`, sk) and GSI `by_hour` (`YYYY-MM-DDTHH`, sk). A range [start, end) is the sk
range from `start`'s ISO to `end`'s: `...Z#id` sorts after `...Z`, so a record at exactly `end` is
outside, as a half-open range wants.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Record = dict[str, Any]


def iso(moment: datetime) -> str:
    """The perf table's timestamp form: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def hour_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


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
        return self._query(
            "org_function = :pk AND sk BETWEEN :a AND :b", f"{org_id}#{function}", start, end, "by_function"
        )

    def hour_records(self, hour: str) -> Iterator[Record]:
        """Every org's records of one hour (`YYYY-MM-DDTHH`)."""
        yield from self._pages(
            {
                "KeyConditionExpression": "#h = :h",
                "ExpressionAttributeNames": {"#h": "hour"},
                "ExpressionAttributeValues": {":h": {"S": hour}},
                "IndexName": "by_hour",
            }
        )

    def _query(
        self, condition: str, pk: str, start: datetime, end: datetime, index: str | None = None
    ) -> Iterator[Record]:
        params: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":a": {"S": iso(start)}, ":b": {"S": iso(end)}},
        }
        if index is not None:
            params["IndexName"] = index
        return self._pages(params)

    def _pages(self, params: dict[str, Any]) -> Iterator[Record]:
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        start_key: dict[str, Any] | None = None
        while True:
            if start_key:
                params = {**params, "ExclusiveStartKey": start_key}
            page = self.dynamodb.query(TableName=self.table, **params)
            for item in page.get("Items", []):
                yield {name: deserializer.deserialize(value) for name, value in item.items()}
            start_key = page.get("LastEvaluatedKey")
            if not start_key:
                return
