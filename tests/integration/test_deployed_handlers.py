"""Each function's deployed handler, invoked as Lambda invokes it: real API Gateway, S3 and schedule
events, against the moto server and the simulated model. When the handler returns, what the call
recorded (its perf record, the org's debit) is already written: a frozen sandbox loses nothing.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr

from dominus_dev.functions import SPECS
from dominus_dev.server import InvocationContext
from dominus_dev.simulated_model import SimulatedModel
from shared.api import AIRoute
from shared.deployment import Deployment, FunctionSpec, deploy
from shared.jobs import DynamoJobRepository, JobRecord, expiry
from shared.objects import object_created_event
from shared.runtime import Clients
from shared.settings import Settings
from tests.support.aws_fixtures import AwsEnv
from tests.support.lambda_events import api_gateway_event, response_headers, response_json

AI_SPECS = [spec for spec in SPECS if spec.streaming]
SPEC = {spec.name: spec for spec in SPECS}
DEFAULT_BALANCE = 10_000


def _org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def settings(aws_env: AwsEnv, simulated_model: SimulatedModel) -> Settings:
    """As deployed (the org from the authorizer), with the simulated model as OpenAI, the store in memory."""
    return Settings(
        dominus_env="aws",
        openai_base_url=simulated_model.base_url,
        openai_api_key=SecretStr("sk-simulated"),
        dominus_openai_secret_arn=None,
        redis_url=None,
        upstash_redis_rest_url=None,
        upstash_redis_rest_token=None,
        dominus_upstash_token_secret_arn=None,
        dominus_default_balance=DEFAULT_BALANCE,
    )


@pytest.fixture
def deployed(settings: Settings) -> dict[str, Deployment]:
    return {spec.name: deploy(spec, Clients.from_settings(settings)) for spec in SPECS}


def _perf_records(aws_env: AwsEnv, org: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = aws_env.client("dynamodb").query(
        TableName=aws_env.tables["PerfLogTable"],
        KeyConditionExpression="org_id = :o",
        ExpressionAttributeValues={":o": {"S": org}},
        ConsistentRead=True,
    )["Items"]
    return items


def _balance(aws_env: AwsEnv, org: str) -> int:
    item = aws_env.client("dynamodb").get_item(
        TableName=aws_env.tables["OrgSettingsTable"], Key={"org_id": {"S": org}}, ConsistentRead=True
    )["Item"]
    return int(item["token_balance"]["N"])


def _first_example(spec: FunctionSpec, org: str = "", aws_env: AwsEnv | None = None) -> tuple[str, dict[str, Any]]:
    from analyze.function import FUNCTION as ANALYZE
    from smart_actions.function import FUNCTION as SMART_ACTIONS
    from video.function import FUNCTION as VIDEO

    if spec.name == "packets":  # its AI call drafts a cover letter from a report of the org's
        assert aws_env is not None
        return "/v1/packets/cover-letter", {"report_id": _stored_report(org, aws_env), "carrier": "Acme Mutual"}
    route: AIRoute[Any] = {f.name: f for f in (ANALYZE, VIDEO, SMART_ACTIONS)}[spec.name].routes[0]
    return route.path, next(iter(route.examples.values()))["value"]


def _stored_report(org: str, aws_env: AwsEnv) -> str:
    """A report of the org's as the reports function stores it: its record and its JSON."""
    report_id = uuid.uuid4().hex
    key = f"orgs/{org}/reports/{report_id}/report.json"
    report = {"report_id": report_id, "claim_id": "CLM-1", "totals": {"area_sqft": 2000.0, "squares": 20.0},
              "profile": {"name": "Acme Mutual", "version": "3", "rules": "counts only"},
              "directional": {}, "photos": [], "structures": [], "qc": {"passed": True}}  # fmt: skip
    aws_env.client("s3").put_object(Bucket=aws_env.buckets["DataBucket"], Key=key, Body=json.dumps(report).encode())
    now = datetime.now(UTC)
    record = JobRecord(org, report_id, "done", now, expiry(now, 1), kind="report", attributes={"report_key": key})
    DynamoJobRepository(aws_env.client("dynamodb"), aws_env.tables["JobsTable"]).create(record)
    return report_id


@pytest.mark.parametrize("spec", AI_SPECS, ids=[spec.name for spec in AI_SPECS])
def test_an_ai_call_is_recorded_and_debited_when_the_handler_returns(
    spec: FunctionSpec, deployed: dict[str, Deployment], aws_env: AwsEnv
) -> None:
    # Given an API Gateway event for the function's first route, from an org the authorizer named
    org = _org()
    path, body = _first_example(spec, org, aws_env)
    event = api_gateway_event("POST", path, org, json_body=body)
    # When Lambda invokes the deployed handler
    response = deployed[spec.name].handler(event, InvocationContext())
    # Then the answer is served, and its record and debit are already in DynamoDB
    assert response["statusCode"] == 200, response["body"][:500]
    assert response_headers(response)["x-dominus-cache"] == "miss"
    records = _perf_records(aws_env, org)
    assert [r["request_id"]["S"] for r in records] == [event["requestContext"]["requestId"]]
    assert records[0]["function"]["S"] == spec.name
    assert int(records[0]["debited_tokens"]["N"]) >= 1
    assert _balance(aws_env, org) == DEFAULT_BALANCE - int(records[0]["debited_tokens"]["N"])


def test_a_tenant_named_by_a_header_is_not_trusted_in_aws(deployed: dict[str, Deployment]) -> None:
    path, body = _first_example(SPEC["analyze"])
    event = api_gateway_event("POST", path, "acme", json_body=body)
    event["requestContext"]["authorizer"] = {}
    event["headers"]["x-org-id"] = "acme"
    response = deployed["analyze"].handler(event, InvocationContext())
    assert response["statusCode"] == 401


def _photo() -> bytes:
    from evaluation.vision.synthetic import PhotoSpec, render
    from vision.images import encode_jpeg

    return encode_jpeg(render(PhotoSpec(width=1200, height=900, seed=11, hail=4)).pixels, quality=90)


def test_a_photo_through_the_api_is_recorded_and_debited_when_the_handler_returns(
    deployed: dict[str, Deployment], aws_env: AwsEnv
) -> None:
    org = _org()
    event = api_gateway_event(
        "POST",
        "/v1/vision/analyze",
        org,
        files={"file": ("roof.jpg", _photo(), "image/jpeg")},
        params={"mode": "smart"},
    )
    response = deployed["vision"].handler(event, InvocationContext())
    assert response["statusCode"] == 201, response["body"][:500]
    records = _perf_records(aws_env, org)
    assert records, "the model's calls were not recorded before the handler returned"
    assert {r["function"]["S"] for r in records} == {"vision"}
    debited = sum(int(r["debited_tokens"]["N"]) for r in records)
    assert debited >= 1
    assert _balance(aws_env, org) == DEFAULT_BALANCE - debited


def test_an_upload_event_runs_its_job_and_is_recorded_and_debited_when_the_handler_returns(
    deployed: dict[str, Deployment], aws_env: AwsEnv
) -> None:
    # Given an upload offer made through the API, and the photo landing in the upload bucket
    org = _org()
    vision = deployed["vision"]
    offer = response_json(
        vision.handler(api_gateway_event("POST", "/v1/vision/uploads", org, json_body={"name": "south.jpg"}), None)
    )
    key, bucket = offer["upload"]["key"], aws_env.buckets["UploadsBucket"]
    s3 = aws_env.client("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=_photo(), ContentType="image/jpeg")
    head = s3.head_object(Bucket=bucket, Key=key)
    # When S3's ObjectCreated event reaches the same handler
    outcome = vision.handler(
        object_created_event(bucket, key, head["ETag"], head["ContentLength"]), InvocationContext()
    )
    # Then the job is done, and its model calls are recorded and paid for already
    assert [job["status"] for job in outcome["jobs"]] == ["done"], outcome
    job = response_json(vision.handler(api_gateway_event("GET", f"/v1/vision/{offer['job_id']}", org), None))
    assert job["status"] == "done"
    records = _perf_records(aws_env, org)
    assert records and {r["function"]["S"] for r in records} == {"vision"}
    assert _balance(aws_env, org) == DEFAULT_BALANCE - sum(int(r["debited_tokens"]["N"]) for r in records)


def test_geometry_analyses_an_object_named_by_key(deployed: dict[str, Deployment], aws_env: AwsEnv) -> None:
    org = _org()
    heights = np.fromfunction(lambda r, c: 5 + 0.5 * np.minimum(c, 79 - c) * 0.25, (60, 80))  # a gable, 6/12
    buffer = io.BytesIO()
    np.save(buffer, heights.astype(np.float32))
    key = f"orgs/{org}/dsm/gable.npy"
    aws_env.client("s3").put_object(Bucket=aws_env.buckets["DataBucket"], Key=key, Body=buffer.getvalue())
    event = api_gateway_event("POST", "/v1/geometry/analyze", org, json_body={"s3_key": key, "resolution": 0.25})
    response = deployed["geometry"].handler(event, InvocationContext())
    assert response["statusCode"] == 201, response["body"][:500]
    job_id = response_json(response)["job_id"]
    again = deployed["geometry"].handler(api_gateway_event("GET", f"/v1/geometry/{job_id}", org), None)
    assert response_json(again)["report"]["totals"]["facets"] == 2
    other = deployed["geometry"].handler(api_gateway_event("GET", f"/v1/geometry/{job_id}", _org()), None)
    assert other["statusCode"] == 404


def test_metrics_serves_settings_and_runs_its_schedule(deployed: dict[str, Deployment]) -> None:
    org = _org()
    reply = deployed["metrics"].handler(api_gateway_event("GET", "/v1/orgs/me/ai-settings", org), None)
    assert reply["statusCode"] == 200
    assert response_json(reply)["token_balance"] == DEFAULT_BALANCE
    report = deployed["metrics"].handler({"schedule": "rollup"}, InvocationContext())
    assert set(report) == {"hours", "orgs", "items", "watermark"}
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert set(deployed["metrics"].handler(scheduled, InvocationContext())) == set(report)
