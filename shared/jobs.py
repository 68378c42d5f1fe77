"""Job records in JobsTable (pk `org_id`, sk `job_id`), as every function that runs jobs reads them.

A job is only ever read under its own org, so another org's job is simply not found; and only a
job id (uuid4 hex) is looked up, never another kind of item the table holds (an index item, say).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from shared.cache_keys import check_org_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID.fullmatch(value))


def job_item(dynamodb: DynamoDBClient, table: str, org_id: str, job_id: str) -> dict[str, Any] | None:
    """This org's job record, or None (not a job id, unknown, or another org's)."""
    if not is_job_id(job_id):
        return None
    item: dict[str, Any] | None = dynamodb.get_item(
        TableName=table,
        Key={"org_id": {"S": check_org_id(org_id)}, "job_id": {"S": job_id}},
        ConsistentRead=True,
    ).get("Item")
    return item
