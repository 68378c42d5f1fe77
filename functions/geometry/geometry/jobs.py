"""Geometry jobs: a DynamoDB record per analysis, the report JSON in S3, and a content-hash index.

Table (JobsTable, pk `org_id`, sk `job_id`):
- a job: `{org_id, job_id, status "done", created_at, input_sha256, input_name, facets, area_sqft,
  squares, predominant_pitch, report_key, expires_at}`;
- an index item per distinct input: sk `input#<sha256>` -> `job_id`, so identical input for the same
  org returns the existing job, across instances, without a scan.
Bucket: the report at `orgs/<org_id>/geometry/<job_id>/report.json`.

Every key includes the org: another org's job is simply not found. Job ids are uuid4 hex; anything
else (an index item's sk, say) is never looked up.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.cache_keys import check_org_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from mypy_boto3_s3 import S3Client

_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
INDEX_PREFIX = "input#"
DEFAULT_RETENTION_DAYS = 365


def is_job_id(value: str) -> bool:
    return bool(_JOB_ID.fullmatch(value))


def report_key(org_id: str, job_id: str) -> str:
    return f"orgs/{check_org_id(org_id)}/geometry/{job_id}/report.json"


def _number(value: Any) -> AttributeValueTypeDef:
    return {"N": repr(float(value))} if value is not None else {"NULL": True}


class GeometryJobs:
    """Job records and reports of one deployment (thread-safe: boto3 clients are)."""

    def __init__(
        self,
        dynamodb: DynamoDBClient,
        s3: S3Client,
        table: str,
        bucket: str,
        *,
        retention_days: int = DEFAULT_RETENTION_DAYS,
    ) -> None:
        self.dynamodb = dynamodb
        self.s3 = s3
        self.table = table
        self.bucket = bucket
        self.retention_days = retention_days

    def find(self, org_id: str, input_sha256: str) -> str | None:
        """The job id of an earlier analysis of the same input in this org, if any."""
        if not _SHA256.fullmatch(input_sha256):
            raise ValueError("input_sha256 must be 64 lowercase hex digits")
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"org_id": {"S": check_org_id(org_id)}, "job_id": {"S": INDEX_PREFIX + input_sha256}},
            ConsistentRead=True,
        ).get("Item")
        target = (item or {}).get("target", {}).get("S")
        return target if target and is_job_id(target) else None

    def create(self, org_id: str, *, input_sha256: str, input_name: str, report: dict[str, Any]) -> str:
        """Store a finished analysis; returns its job id. If a concurrent request stored the same input
        first, its job id wins (the index keeps one answer per input)."""
        check_org_id(org_id)
        job_id = uuid.uuid4().hex
        key = report_key(org_id, job_id)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(report, separators=(",", ":")).encode(),
            ContentType="application/json",
        )
        totals = report.get("totals", {})
        expires_at = {"N": str(int(time.time()) + self.retention_days * 86_400)}
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                "org_id": {"S": org_id},
                "job_id": {"S": job_id},
                "status": {"S": "done"},
                "created_at": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
                "input_sha256": {"S": input_sha256},
                "input_name": {"S": input_name[:200] or "upload"},
                "facets": {"N": str(int(totals.get("facets", 0)))},
                "area_sqft": _number(totals.get("area_sqft")),
                "squares": _number(totals.get("squares")),
                "predominant_pitch": (
                    {"S": str(totals["predominant_pitch"])} if totals.get("predominant_pitch") else {"NULL": True}
                ),
                "report_key": {"S": key},
                "expires_at": expires_at,
            },
        )
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    "org_id": {"S": org_id},
                    "job_id": {"S": INDEX_PREFIX + input_sha256},
                    "target": {"S": job_id},
                    "expires_at": expires_at,
                },
                ConditionExpression="attribute_not_exists(job_id)",
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            existing = self.find(org_id, input_sha256)
            if existing is not None:
                return existing
        return job_id

    def get(self, org_id: str, job_id: str) -> dict[str, Any] | None:
        """The report of this org's job, or None (unknown id, another org's job, not a job id)."""
        if not is_job_id(job_id):
            return None
        item = self.dynamodb.get_item(
            TableName=self.table,
            Key={"org_id": {"S": check_org_id(org_id)}, "job_id": {"S": job_id}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        key = item.get("report_key", {}).get("S") or report_key(org_id, job_id)
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        report: dict[str, Any] = json.loads(body)
        return report
