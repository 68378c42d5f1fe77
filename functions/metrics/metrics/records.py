"""Reading the engine's perf records (PerfLogTable) back: one org over a time range, or every org in
one hour (for the roll-up).

Keys as shared/perf.py writes them. A range [start, end) is the sk range from `start`'s timestamp
to `end`'s: `...Z#id` sorts after `...Z`, so a record at exactly `end` is outside, as a half-open
range wants.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.perf import FUNCTION_INDEX, FUNCTION_KEY, HOUR_INDEX, HOUR_KEY, org_function_key, perf_timestamp

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Record = dict[str, Any]


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
                "ExpressionAttributeNames": {"#h": HOUR_KEY},
                "ExpressionAttributeValues": {":h": {"S": hour}},
                "IndexName": HOUR_INDEX,
            }
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
