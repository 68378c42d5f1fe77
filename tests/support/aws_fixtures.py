"""pytest plugin: an embedded moto server holding the template's DynamoDB tables and S3 buckets.

`embedded_aws` (session): one moto server per test process (so per xdist worker), resources created
from template.yaml the same way `make run` creates them.
`aws_env` (function): the resources recreated if missing and emptied, the process environment set
for the test only (dummy credentials, region, AWS_ENDPOINT_URL, the template's table/bucket env vars),
and an `AwsEnv` describing it all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import pytest

from dominus_dev.template import (
    LOCAL_REGION,
    EmbeddedAws,
    bucket_logical_ids,
    bucket_name,
    dynamodb_tables,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import WriteRequestTypeDef
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

# Physical names are the logical ids ("PerfLogTable"), as under `make run`: one server per process,
# nothing else shares it.
RESOURCE_PREFIX = ""
DUMMY_CREDENTIAL = "testing"


@dataclass(frozen=True)
class AwsEnv:
    """What a test needs to reach the embedded AWS resources."""

    endpoint_url: str
    env: dict[str, str]
    """Everything the fixture put into os.environ: DOMINUS_* resource names, AWS_* region/credentials."""
    tables: dict[str, str]
    """Table logical id -> physical name."""
    buckets: dict[str, str]
    """Bucket logical id -> physical name."""
    aws: EmbeddedAws

    @overload
    def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def client(self, service: str) -> BaseClient: ...
    def client(self, service: str) -> Any:
        return self.aws.client(service)


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator[EmbeddedAws]:
    with EmbeddedAws() as aws:
        aws.create_resources(RESOURCE_PREFIX)
        yield aws


def _empty_table(client: DynamoDBClient, table_name: str) -> None:
    key_names = [k["AttributeName"] for k in client.describe_table(TableName=table_name)["Table"]["KeySchema"]]
    names = {f"#k{i}": name for i, name in enumerate(key_names)}
    for page in client.get_paginator("scan").paginate(
        TableName=table_name, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
    ):
        deletes: list[WriteRequestTypeDef] = [
            {"DeleteRequest": {"Key": {name: item[name] for name in key_names}}} for item in page["Items"]
        ]
        for start in range(0, len(deletes), 25):  # BatchWriteItem takes at most 25 requests
            pending: list[WriteRequestTypeDef] = deletes[start : start + 25]
            while pending:
                unprocessed = client.batch_write_item(RequestItems={table_name: pending})["UnprocessedItems"]
                # Output and input shapes are the same request; only the stubs' TypedDicts differ.
                pending = cast("list[WriteRequestTypeDef]", unprocessed.get(table_name, []))


def _empty_bucket(client: S3Client, bucket: str) -> None:
    for page in client.get_paginator("list_object_versions").paginate(Bucket=bucket):
        objects: list[ObjectIdentifierTypeDef] = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        ]
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})


@pytest.fixture
def aws_env(embedded_aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> AwsEnv:
    # Idempotent, and cheap: puts back anything a `mock_aws` reset elsewhere in the process wiped
    # (moto's backends are process-wide).
    resource_env = embedded_aws.create_resources(RESOURCE_PREFIX)
    template = embedded_aws.template
    tables = {logical_id: f"{RESOURCE_PREFIX}{logical_id}" for logical_id in dynamodb_tables(template)}
    buckets = {logical_id: bucket_name(logical_id, RESOURCE_PREFIX) for logical_id in bucket_logical_ids(template)}

    # Emptying beats delete/recreate: a scan of an empty table is one request.
    dynamodb = embedded_aws.client("dynamodb")
    for table_name in tables.values():
        _empty_table(dynamodb, table_name)
    s3 = embedded_aws.client("s3")
    for bucket in buckets.values():
        _empty_bucket(s3, bucket)

    env = {
        **resource_env,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
        "AWS_SESSION_TOKEN": DUMMY_CREDENTIAL,
        "AWS_DEFAULT_REGION": LOCAL_REGION,
        "AWS_REGION": LOCAL_REGION,
        # botocore honours it for every client: code under test cannot reach real AWS.
        "AWS_ENDPOINT_URL": embedded_aws.endpoint_url,
        # A developer's ~/.aws files (profiles, per-service endpoints) must not leak in.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return AwsEnv(endpoint_url=embedded_aws.endpoint_url, env=env, tables=tables, buckets=buckets, aws=embedded_aws)
