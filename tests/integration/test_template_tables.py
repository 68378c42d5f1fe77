"""The tables created from template.yaml in the embedded moto server take the access patterns we use."""

from __future__ import annotations

import os

import boto3
import pytest
from boto3.dynamodb.conditions import Key

from dominus_dev.template import EmbeddedAws
from tests.support.aws_fixtures import AwsEnv

pytestmark = pytest.mark.integration

ORG = "org-1"
SK = "2026-03-04T10:15:30.123456+00:00#req-1"


def _perf_record(org: str = ORG, sk: str = SK, function: str = "analyze") -> dict[str, object]:
    return {
        "org_id": org,
        "sk": sk,
        "org_function": f"{org}#{function}",
        "hour": sk[:13],
        "function": function,
        "latency_ms": 120,
        "expires_at": 1_900_000_000,
    }


def test_env_names_the_created_tables(aws_env: AwsEnv) -> None:
    assert aws_env.env["DOMINUS_PERF_TABLE"] == aws_env.tables["PerfLogTable"]
    assert aws_env.env["DOMINUS_ORG_TABLE"] == aws_env.tables["OrgSettingsTable"]
    # ... and the process environment carries them for the test
    assert os.environ["DOMINUS_PERF_TABLE"] == aws_env.tables["PerfLogTable"]
    assert os.environ["AWS_ENDPOINT_URL"] == aws_env.endpoint_url
    client = aws_env.client("dynamodb")
    names = client.list_tables()["TableNames"]
    assert set(aws_env.tables.values()) <= set(names)
    ttl = client.describe_time_to_live(TableName=aws_env.tables["PerfLogTable"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_perf_table_base_key_and_both_indexes(aws_env: AwsEnv) -> None:
    # Given records of two orgs, two functions and two hours (via the resource API, which reads the
    # endpoint, region and credentials from the environment the fixture set)
    table = boto3.resource("dynamodb").Table(aws_env.env["DOMINUS_PERF_TABLE"])
    with table.batch_writer() as batch:
        batch.put_item(Item=_perf_record())
        batch.put_item(Item=_perf_record(sk="2026-03-04T10:59:00.000000+00:00#req-2", function="vision"))
        batch.put_item(Item=_perf_record(sk="2026-03-04T11:00:01.000000+00:00#req-3"))
        batch.put_item(Item=_perf_record(org="org-2", sk="2026-03-04T10:30:00.000000+00:00#req-4"))

    # When querying the base key: one org, time-ordered, narrowed by a time prefix
    base = table.query(KeyConditionExpression=Key("org_id").eq(ORG) & Key("sk").begins_with("2026-03-04T10"))
    # Then only that org's records of that hour come back, oldest first
    assert [item["sk"] for item in base["Items"]] == [SK, "2026-03-04T10:59:00.000000+00:00#req-2"]

    # When querying by_function: one org's calls of one function
    by_function = table.query(IndexName="by_function", KeyConditionExpression=Key("org_function").eq(f"{ORG}#analyze"))
    assert [item["sk"] for item in by_function["Items"]] == [SK, "2026-03-04T11:00:01.000000+00:00#req-3"]

    # When querying by_hour: one hour across all orgs (the roll-up)
    by_hour = table.query(IndexName="by_hour", KeyConditionExpression=Key("hour").eq("2026-03-04T10"))
    assert sorted((item["org_id"], item["sk"]) for item in by_hour["Items"]) == [
        ("org-1", SK),
        ("org-1", "2026-03-04T10:59:00.000000+00:00#req-2"),
        ("org-2", "2026-03-04T10:30:00.000000+00:00#req-4"),
    ]
    # projection ALL: index items carry every attribute
    assert by_hour["Items"][0]["latency_ms"] == 120


def test_org_settings_table_put_get_and_conditional_debit(aws_env: AwsEnv) -> None:
    client = aws_env.client("dynamodb")
    table_name = aws_env.env["DOMINUS_ORG_TABLE"]
    client.put_item(TableName=table_name, Item={"org_id": {"S": ORG}, "balance": {"N": "100"}})
    client.update_item(
        TableName=table_name,
        Key={"org_id": {"S": ORG}},
        UpdateExpression="SET balance = balance - :cost",
        ConditionExpression="balance >= :cost",
        ExpressionAttributeValues={":cost": {"N": "30"}},
    )
    item = client.get_item(TableName=table_name, Key={"org_id": {"S": ORG}})["Item"]
    assert item["balance"] == {"N": "70"}
    with pytest.raises(client.exceptions.ConditionalCheckFailedException):
        client.update_item(
            TableName=table_name,
            Key={"org_id": {"S": ORG}},
            UpdateExpression="SET balance = balance - :cost",
            ConditionExpression="balance >= :cost",
            ExpressionAttributeValues={":cost": {"N": "500"}},
        )


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_with_empty_tables(aws_env: AwsEnv, run: int) -> None:
    client = aws_env.client("dynamodb")
    for table_name in aws_env.tables.values():
        assert client.scan(TableName=table_name, Select="COUNT")["Count"] == 0
    client.put_item(TableName=aws_env.tables["OrgSettingsTable"], Item={"org_id": {"S": f"left-by-{run}"}})


def test_creating_resources_again_is_harmless(embedded_aws: EmbeddedAws, aws_env: AwsEnv) -> None:
    assert embedded_aws.create_resources() == {
        "DOMINUS_PERF_TABLE": "PerfLogTable",
        "DOMINUS_ORG_TABLE": "OrgSettingsTable",
        "DOMINUS_JOBS_TABLE": "JobsTable",
        "DOMINUS_IDEMPOTENCY_TABLE": "IdempotencyTable",
        "DOMINUS_ROLLUP_TABLE": "RollupTable",
        "DOMINUS_BUCKET": "data-bucket",
        "DOMINUS_UPLOAD_BUCKET": "uploads-bucket",
    }
