"""template.yaml translates (aws-sam-translator) and lints (cfn-lint) offline, and says what we rely on."""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cfnlint.api import ManualArgs, lint
from fastapi.routing import APIRoute
from samtranslator.translator.transform import transform

from dominus_dev.functions import SPECS
from dominus_dev.serving import free_port
from dominus_dev.template import (
    DEFAULT_TEMPLATE,
    TemplateError,
    dynamodb_tables,
    env_var_for_bucket,
    env_var_for_table,
    load_template,
    parse_rate,
    schedule_rates,
    upload_prefixes,
)
from geometry.limits import (
    API_GATEWAY_S,
    FUNCTION_MEMORY_MB,
    JOB_BUDGET,
    JOB_FUNCTION_MEMORY_MB,
    JOB_FUNCTION_TIMEOUT_S,
    MAX_JOB_UPLOAD_BYTES,
)
from shared.deployment import FunctionSpec
from shared.runtime import Clients
from shared.settings import Settings
from tests.support.waiting import PATIENCE_S

pytestmark = pytest.mark.infra

SAMCONFIG = DEFAULT_TEMPLATE.parent / "samconfig.toml"
PLACEHOLDER_BUCKET = "dominus-placeholder-artifacts"
REGION = "us-east-1"
PLACEHOLDER_IMAGE_REPO = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/dominus-placeholder"


class _NoNetwork(RuntimeError):
    pass


_LOOPBACK = {None, "localhost", "127.0.0.1", "::1", b"localhost", b"127.0.0.1"}


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    """Translation and linting must work without network: a non-loopback connection fails the test.

    Loopback stays allowed so servers other fixtures run in background threads keep working.
    """
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and address[0] not in _LOOPBACK:
            raise _NoNetwork(f"network access attempted: connect {address!r}")
        real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK:
            raise _NoNetwork(f"network access attempted: resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", connect)
        mp.setattr(socket, "getaddrinfo", getaddrinfo)
        mp.setenv("AWS_DEFAULT_REGION", REGION)  # SAM derives the partition from the region
        yield


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


class _OfflinePolicyLoader:
    """Stands in for samtranslator's ManagedPolicyLoader (which lists policies through IAM).

    SAM bundles the AWS managed policy names it knows; this fallback knows none, so a policy name
    SAM cannot resolve offline stays unresolved rather than calling AWS.
    """

    def load(self) -> dict[str, str]:
        return {}


def _as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """What `sam package` would hand to the transform: local artifact paths replaced by S3 URIs, and
    image functions given the ECR image URI `sam deploy` writes after pushing the image."""
    packaged = copy.deepcopy(template)
    artifact_props = {
        "AWS::Serverless::Function": ("CodeUri",),
        "AWS::Serverless::LayerVersion": ("ContentUri",),
        "AWS::Serverless::Api": ("DefinitionUri",),
        "AWS::Serverless::HttpApi": ("DefinitionUri",),
        "AWS::Serverless::StateMachine": ("DefinitionUri",),
    }
    scopes: list[tuple[str, str, dict[str, Any]]] = [
        (logical_id, resource["Type"], resource.setdefault("Properties", {}))
        for logical_id, resource in packaged["Resources"].items()
    ]
    globals_function = (packaged.get("Globals") or {}).get("Function")
    if isinstance(globals_function, dict):
        scopes.append(("Globals", "AWS::Serverless::Function", globals_function))
    for logical_id, resource_type, props in scopes:
        for prop in artifact_props.get(resource_type, ()):
            value = props.get(prop)
            if isinstance(value, str) and not value.startswith("s3://"):
                props[prop] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
    for logical_id, resource in packaged["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and props.get("PackageType") == "Image":
            tag = resource.get("Metadata", {}).get("DockerTag", "latest")
            props.setdefault("ImageUri", f"{PLACEHOLDER_IMAGE_REPO}:{logical_id.lower()}-{tag}")
    return packaged


@pytest.fixture(scope="module")
def translated(offline: None, template: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = transform(_as_packaged(template), {}, _OfflinePolicyLoader())
    return result


def _resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def _findings(text: str, **config: Any) -> dict[str, list[str]]:
    matches = lint(text, config=ManualArgs(regions=[REGION], include_checks=["I"], **config))
    by_level: dict[str, list[str]] = {"E": [], "W": [], "I": []}
    for match in matches:
        level = match.rule.id[0]
        by_level.setdefault(level, []).append(f"{match.rule.id} line {match.linenumber}: {match.message}")
    return by_level


# --- translation and lint ------------------------------------------------------------------------


def test_template_lints_clean(offline: None) -> None:
    # Given the template as written
    # When cfn-lint checks it (SAM-aware: Globals merged, SAM resource schemas)
    findings = _findings(DEFAULT_TEMPLATE.read_text(encoding="utf-8"))
    # Then it finds no errors
    assert not findings["E"], "cfn-lint errors:\n" + "\n".join(
        findings["E"] + ["-- warnings/info:"] + findings["W"] + findings["I"]
    )


def test_translated_template_lints_clean(translated: dict[str, Any]) -> None:
    # Given the CloudFormation the SAM transform produces offline
    # When cfn-lint checks it as plain CloudFormation (the generated RestApi, Stage, Deployment, ...)
    # W2001 (unused parameter) is left out: Globals reach the output only through functions, and
    # the source-template lint above already checks parameter use with Globals counted.
    findings = _findings(json.dumps(translated, indent=1), ignore_checks=["W2001"])
    # Then it finds no errors either
    assert not findings["E"], "cfn-lint errors in the translated template:\n" + "\n".join(
        findings["E"] + ["-- warnings/info:"] + findings["W"] + findings["I"]
    )


def test_translation_keeps_the_resources(translated: dict[str, Any]) -> None:
    types = {resource["Type"] for resource in translated["Resources"].values()}
    assert {
        "AWS::Lambda::LayerVersion",
        "AWS::DynamoDB::Table",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Stage",
        "AWS::ApiGateway::Deployment",
        "AWS::Lambda::Function",
        "AWS::Lambda::Permission",
        "AWS::IAM::Role",
        "AWS::IAM::ManagedPolicy",
        "AWS::Logs::LogGroup",
    } <= types
    assert "Transform" not in translated


# --- tables --------------------------------------------------------------------------------------


def test_perf_table_keys_indexes_and_ttl(template: dict[str, Any]) -> None:
    props = template["Resources"]["PerfLogTable"]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "org_id", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]} == {
        "org_id": "S",
        "sk": "S",
        "org_function": "S",
        "hour": "S",
    }
    gsis = {gsi["IndexName"]: gsi for gsi in props["GlobalSecondaryIndexes"]}
    assert set(gsis) == {"by_function", "by_hour"}
    assert gsis["by_function"]["KeySchema"] == [
        {"AttributeName": "org_function", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert gsis["by_hour"]["KeySchema"] == [
        {"AttributeName": "hour", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert all(gsi["Projection"] == {"ProjectionType": "ALL"} for gsi in gsis.values())
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}


def test_org_settings_table_key(template: dict[str, Any]) -> None:
    props = template["Resources"]["OrgSettingsTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "org_id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "org_id", "AttributeType": "S"}]
    # Balances live here: the table survives stack deletion and replacement.
    assert template["Resources"]["OrgSettingsTable"]["DeletionPolicy"] == "Retain"
    assert template["Resources"]["OrgSettingsTable"]["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("logical_id", ["PerfLogTable", "OrgSettingsTable", "JobsTable"])
def test_tables_on_demand_with_pitr_and_encryption(template: dict[str, Any], logical_id: str) -> None:
    props = template["Resources"][logical_id]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert "TableName" not in props, "CloudFormation names tables; code reads the name from the environment"


def test_table_specs_come_from_the_template(template: dict[str, Any]) -> None:
    specs = dynamodb_tables(template)
    assert set(specs) == {"PerfLogTable", "OrgSettingsTable", "JobsTable", "IdempotencyTable", "RollupTable"}
    assert specs["JobsTable"].ttl_attribute == "expires_at"
    assert specs["PerfLogTable"].ttl_attribute == "expires_at"
    assert [g["IndexName"] for g in specs["PerfLogTable"].global_secondary_indexes] == ["by_function", "by_hour"]
    assert specs["OrgSettingsTable"].ttl_attribute is None
    kwargs = specs["PerfLogTable"].create_table_kwargs("t")
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in kwargs


# --- functions: globals, layer, environment ------------------------------------------------------


def test_function_globals(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Architectures"] == ["x86_64"]
    assert function["Timeout"] <= 29, "API Gateway REST integrations give up at 29 s"
    assert function["Tracing"] == "Active"
    # SAM refuses Runtime, Handler and Layers on an Image function, and a Global cannot be unset
    # per function: the zip functions name them themselves (next test).
    assert not {"Runtime", "Handler", "Layers", "CodeUri", "PackageType"} & set(function)


def test_every_zip_function_names_the_runtime_and_the_shared_layer(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    functions = _serverless_functions(template)
    zips = {lid: p for lid, p in functions.items() if p.get("PackageType", "Zip") == "Zip"}
    images = {lid: p for lid, p in functions.items() if p.get("PackageType") == "Image"}
    assert set(images) == {"GeometryFunction", "GeometryJobsFunction", "VisionFunction"}
    assert len(zips) >= 7  # authorizer + 3 buffered + 3 streaming
    for logical_id, props in zips.items():
        assert props["Runtime"] == "python3.12", logical_id
        assert props["CodeUri"].startswith("functions/"), logical_id
        assert "Handler" in props, logical_id
        # The shared layer first (the streaming deployments add the Web Adapter after it).
        assert props["Layers"][0] == {"Ref": "SharedLayer"}, logical_id
        assert props["Layers"].count({"Ref": "SharedLayer"}) == 1, logical_id
    [shared_layer] = _resources_of_type(translated, "AWS::Lambda::LayerVersion")
    for logical_id in zips:
        function = translated["Resources"][logical_id]["Properties"]
        assert function.get("PackageType", "Zip") == "Zip", logical_id
        assert function["Runtime"] == "python3.12", logical_id
        assert function["Layers"][0] == {"Ref": shared_layer}, logical_id
    for logical_id in images:
        function = translated["Resources"][logical_id]["Properties"]
        assert function["PackageType"] == "Image"
        assert not {"Runtime", "Handler", "Layers"} & set(function), logical_id
        assert function["Code"]["ImageUri"].startswith(PLACEHOLDER_IMAGE_REPO)
        # The other Globals reach the image function as they reach the zip ones.
        assert function["Architectures"] == ["x86_64"]
        assert function["TracingConfig"] == {"Mode": "Active"}
        assert function["Environment"]["Variables"]["DOMINUS_JOBS_TABLE"] == {"Ref": "JobsTable"}


def test_environment_references_the_tables(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["DOMINUS_PERF_TABLE"] == {"Ref": "PerfLogTable"}
    assert variables["DOMINUS_ORG_TABLE"] == {"Ref": "OrgSettingsTable"}
    assert variables["DOMINUS_JOBS_TABLE"] == {"Ref": "JobsTable"}
    assert variables["DOMINUS_BUCKET"] == {"Ref": "DataBucket"}
    assert env_var_for_table(template) == {
        "PerfLogTable": "DOMINUS_PERF_TABLE",
        "OrgSettingsTable": "DOMINUS_ORG_TABLE",
        "JobsTable": "DOMINUS_JOBS_TABLE",
        "IdempotencyTable": "DOMINUS_IDEMPOTENCY_TABLE",
        "RollupTable": "DOMINUS_ROLLUP_TABLE",
    }
    assert env_var_for_bucket(template) == {"DataBucket": "DOMINUS_BUCKET", "UploadsBucket": "DOMINUS_UPLOAD_BUCKET"}
    assert variables["DOMINUS_ENV"] == "aws"
    assert variables["DOMINUS_CHEAP_MODEL"] == {"Ref": "CheapModel"}
    assert variables["DOMINUS_SMART_MODEL"] == {"Ref": "SmartModel"}
    assert variables["UPSTASH_REDIS_REST_URL"] == {"Ref": "UpstashUrl"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "dominus"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "Dominus"


def test_secrets_never_in_parameters_or_environment(template: dict[str, Any]) -> None:
    # Secret-looking parameters are ARNs of Secrets Manager secrets, never the values.
    for name, parameter in template["Parameters"].items():
        if re.search(r"key|token|secret|password", name, re.IGNORECASE):
            assert name.endswith("Arn"), f"{name} looks like a plain-text secret parameter"
            assert "secretsmanager" in parameter["AllowedPattern"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert "OPENAI_API_KEY" not in variables
    assert "UPSTASH_REDIS_REST_TOKEN" not in variables
    assert "{{resolve:" not in json.dumps(template), "a dynamic reference would copy a secret into config"
    # The read permission covers exactly the two secrets.
    statement = template["Resources"]["SecretsReadPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement == [
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": [{"Ref": "OpenAISecretArn"}, {"Ref": "UpstashTokenSecretArn"}],
        }
    ]


def test_parameters(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert parameters["Stage"]["AllowedValues"] == ["dev", "prod"]
    assert parameters["CheapModel"]["Default"] == "gpt-4o-mini"
    assert parameters["SmartModel"]["Default"] == "gpt-4o"
    assert {"JwtIssuer", "JwtAudience", "JwksUrl", "LogRetentionDays", "UpstashUrl"} <= set(parameters)


def test_shared_layer(template: dict[str, Any], translated: dict[str, Any]) -> None:
    layer = template["Resources"]["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layer/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    assert layer["Metadata"]["BuildMethod"] == "python3.12"
    [generated] = _resources_of_type(translated, "AWS::Lambda::LayerVersion").values()
    assert generated["Properties"]["CompatibleRuntimes"] == ["python3.12"]


# --- API -----------------------------------------------------------------------------------------


def test_api_stage_tracing_throttling_logging(translated: dict[str, Any]) -> None:
    [stage] = _resources_of_type(translated, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["StageName"] == {"Ref": "Stage"}
    assert props["TracingEnabled"] is True
    [setting] = props["MethodSettings"]
    assert {"ThrottlingBurstLimit", "ThrottlingRateLimit", "LoggingLevel", "MetricsEnabled"} <= set(setting)
    assert setting["DataTraceEnabled"] is False
    assert props["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}


def test_api_body_binary_types_healthz_and_error_shape(translated: dict[str, Any]) -> None:
    [api] = _resources_of_type(translated, "AWS::ApiGateway::RestApi").values()
    body = api["Properties"]["Body"]
    assert body["x-amazon-apigateway-binary-media-types"] == [
        "image/*",
        "multipart/form-data",
        "application/octet-stream",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",  # an org's Word template
    ]
    integration = body["paths"]["/healthz"]["get"]["x-amazon-apigateway-integration"]
    assert integration["type"] == "mock"
    assert json.loads(integration["responses"]["default"]["responseTemplates"]["application/json"]) == {"status": "ok"}
    responses = body["x-amazon-apigateway-gateway-responses"]
    for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
        mapping = responses[kind]["responseTemplates"]["application/json"]
        # $context.error.messageString is already a quoted JSON string; the rest sit inside quotes.
        rendered = json.loads(mapping.replace("$context.error.messageString", '"Unauthorized"'))
        assert rendered == {
            "error": {
                "code": "$context.error.responseType",
                "message": "Unauthorized",
                "request_id": "$context.requestId",
            }
        }


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {"ApiUrl", "PerfLogTableName", "OrgSettingsTableName", "SharedLayerArn"} <= set(outputs)
    assert outputs["PerfLogTableName"]["Value"] == {"Ref": "PerfLogTable"}
    assert outputs["OrgSettingsTableName"]["Value"] == {"Ref": "OrgSettingsTable"}
    assert outputs["SharedLayerArn"]["Value"] == {"Ref": "SharedLayer"}


# --- the AI functions: two deployments each, routes, authorizer, permissions, logs ----------------

# Function folder (functions/<name>/, holding package <name>) -> its buffered routes; each also at /stream.
AI_ROUTES = {
    "analyze": ["/v1/analyze"],
    "video": ["/v1/video/script", "/v1/video/storyboard"],
    "smart_actions": [
        "/v1/smart-actions/carrier-email",
        "/v1/smart-actions/summary",
        "/v1/smart-actions/recommendations",
    ],
}
LWA_LAYER = {"Fn::Sub": "arn:aws:lambda:${AWS::Region}:753240598075:layer:LambdaAdapterLayerX86:27"}
LWA_ENVIRONMENT = {
    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap",
    "AWS_LWA_INVOKE_MODE": "response_stream",
    "PORT": "8080",
    "AWS_LWA_READINESS_CHECK_PATH": "/healthz",
}
AUTHORIZER = "JwtAuthorizer"
REST_TIMEOUT_S = 29
STREAM_MAX_S = 15 * 60  # API Gateway streams a response for at most 15 minutes
ROOT = DEFAULT_TEMPLATE.parent


def _serverless_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _deployments(template: dict[str, Any], name: str) -> tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]:
    """(buffered, streaming) deployments of functions/<name>/, as (logical id, properties)."""
    found = [(lid, p) for lid, p in _serverless_functions(template).items() if p.get("CodeUri") == f"functions/{name}/"]
    buffered = [(lid, p) for lid, p in found if p["Handler"] == f"{name}.app.handler"]
    streaming = [(lid, p) for lid, p in found if p["Handler"] == "run.sh"]
    assert len(found) == 2 and len(buffered) == 1 and len(streaming) == 1, f"functions/{name}/: {found}"
    return buffered[0], streaming[0]


def _events(props: dict[str, Any]) -> set[tuple[str, str, str | None]]:
    events = set()
    for spec in props.get("Events", {}).values():
        assert spec["Type"] == "Api"
        event = spec["Properties"]
        assert event["RestApiId"] == {"Ref": "Api"}, "every route lives on the one REST API"
        events.add((event["Path"], event["Method"].lower(), event.get("ResponseTransferMode")))
    return events


def _body(translated: dict[str, Any]) -> dict[str, Any]:
    [api] = _resources_of_type(translated, "AWS::ApiGateway::RestApi").values()
    body: dict[str, Any] = api["Properties"]["Body"]
    return body


def _defines(module: Path, name: str) -> bool:
    """Whether a module defines `name` at top level (def or assignment), read without importing it."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names = [t for target in targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
        if any(isinstance(target, ast.Name) and target.id == name for target in names):
            return True
    return False


def test_each_ai_function_is_deployed_buffered_and_streaming_from_one_code_base(template: dict[str, Any]) -> None:
    ai = {
        lid
        for lid, props in _serverless_functions(template).items()
        if any(props.get("CodeUri") == f"functions/{name}/" for name in AI_ROUTES)
    }
    assert len(ai) == 6
    for name in AI_ROUTES:
        (_, buffered), (_, streaming) = _deployments(template, name)
        assert buffered["CodeUri"] == streaming["CodeUri"]


@pytest.mark.parametrize("name", AI_ROUTES)
def test_buffered_and_stream_routes_go_to_their_deployment(template: dict[str, Any], name: str) -> None:
    (_, buffered), (_, streaming) = _deployments(template, name)
    assert _events(buffered) == {(path, "post", None) for path in AI_ROUTES[name]}
    assert _events(streaming) == {(f"{path}/stream", "post", "RESPONSE_STREAM") for path in AI_ROUTES[name]}


def test_every_ai_route_is_on_the_rest_api_with_its_transfer_mode(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    paths = _body(translated)["paths"]
    expected = {"/healthz"} | {route for routes in AI_ROUTES.values() for r in routes for route in (r, f"{r}/stream")}
    assert expected <= set(paths)
    for name, routes in AI_ROUTES.items():
        (buffered_id, _), (streaming_id, streaming) = _deployments(template, name)
        for route in routes:
            # Buffered: the classic Invoke API, API Gateway's default (buffered) transfer mode.
            assert set(paths[route]) == {"post"}
            integration = paths[route]["post"]["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy"
            assert integration.get("responseTransferMode", "BUFFERED") == "BUFFERED"
            assert integration["uri"] == {
                "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
                f"${{{buffered_id}.Arn}}/invocations"
            }
            assert integration.get("timeoutInMillis", REST_TIMEOUT_S * 1000) <= REST_TIMEOUT_S * 1000
            # Streaming: InvokeWithResponseStream, transfer mode STREAM, a timeout covering the function's.
            assert set(paths[f"{route}/stream"]) == {"post"}
            integration = paths[f"{route}/stream"]["post"]["x-amazon-apigateway-integration"]
            assert integration["type"] == "aws_proxy"
            assert integration["responseTransferMode"] == "STREAM"
            assert integration["uri"] == {
                "Fn::Sub": "arn:aws:apigateway:${AWS::Region}:lambda:path/2021-11-15/functions/"
                f"${{{streaming_id}.Arn}}/response-streaming-invocations"
            }
            assert integration["timeoutInMillis"] == streaming["Timeout"] * 1000


@pytest.mark.parametrize("name", AI_ROUTES)
def test_timeouts(template: dict[str, Any], name: str) -> None:
    (_, buffered), (_, streaming) = _deployments(template, name)
    # Buffered: the Globals' 29 s, like the REST integration that calls it.
    assert "Timeout" not in buffered
    assert template["Globals"]["Function"]["Timeout"] == REST_TIMEOUT_S
    # Streaming: longer (API Gateway streams up to 15 minutes without a quota increase), and the
    # engine gives up upstream before Lambda would cut the stream.
    assert REST_TIMEOUT_S < streaming["Timeout"] <= STREAM_MAX_S
    budget = float(streaming["Environment"]["Variables"]["DOMINUS_UPSTREAM_BUDGET_S"])
    assert budget < streaming["Timeout"]


@pytest.mark.parametrize("name", AI_ROUTES)
def test_streaming_deployment_runs_behind_lambda_web_adapter(
    template: dict[str, Any], translated: dict[str, Any], name: str
) -> None:
    _, (streaming_id, streaming) = _deployments(template, name)
    # The shared layer first, then the adapter.
    assert streaming["Layers"] == [{"Ref": "SharedLayer"}, LWA_LAYER]
    function = translated["Resources"][streaming_id]["Properties"]
    [shared_layer] = _resources_of_type(translated, "AWS::Lambda::LayerVersion")
    assert function["Layers"] == [{"Ref": shared_layer}, LWA_LAYER]
    assert function["Handler"] == "run.sh"
    assert LWA_ENVIRONMENT.items() <= function["Environment"]["Variables"].items()
    # The engine's configuration reaches the streaming deployment as it reaches the buffered one.
    assert function["Environment"]["Variables"]["DOMINUS_PERF_TABLE"] == {"Ref": "PerfLogTable"}


def test_every_ai_route_is_behind_the_authorizer_and_healthz_is_open(translated: dict[str, Any]) -> None:
    body = _body(translated)
    for path, methods in body["paths"].items():
        for method, operation in methods.items():
            if path == "/healthz" or path.startswith("/dev/ai-metrics"):  # no data: a page and its assets
                assert AUTHORIZER not in json.dumps(operation.get("security", [])), f"{path} stays open"
            else:
                assert operation["security"] == [{AUTHORIZER: []}], f"{method.upper()} {path}"
    scheme = body["components"]["securitySchemes"][AUTHORIZER]
    assert scheme["x-amazon-apigateway-authtype"] == "custom"
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    authorizer = scheme["x-amazon-apigateway-authorizer"]
    assert authorizer["type"] == "token"
    assert authorizer["authorizerResultTtlInSeconds"] == 300
    assert {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]} in authorizer["authorizerUri"]["Fn::Sub"][1].values()
    # API Gateway itself turns away a header that is not a bearer JWT (401 without an invocation).
    pattern = re.compile(authorizer["identityValidationExpression"])
    assert pattern.match("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln")
    assert pattern.match("bearer a-b_c.d.e")
    for bad in ("Basic dXNlcjpwYXNz", "Bearer", "Bearer abc", "Bearer a.b.c extra", "a.b.c"):
        assert not pattern.match(bad), bad
    # API Gateway may invoke the authorizer.
    permissions = _resources_of_type(translated, "AWS::Lambda::Permission")
    assert any(
        p["Properties"]["FunctionName"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]} for p in permissions.values()
    )


def test_authorizer_function(template: dict[str, Any]) -> None:
    props = template["Resources"]["AuthorizerFunction"]["Properties"]
    assert props["CodeUri"] == "functions/authorizer/"
    assert props["Handler"] == "authorizer.app.handler"
    assert props["Timeout"] <= 10
    assert props["Environment"]["Variables"] == {
        "DOMINUS_JWKS_URL": {"Ref": "JwksUrl"},
        "DOMINUS_JWT_ISSUER": {"Ref": "JwtIssuer"},
        "DOMINUS_JWT_AUDIENCE": {"Ref": "JwtAudience"},
        "DOMINUS_JWT_ORG_CLAIM": {"Ref": "JwtOrgClaim"},
    }
    assert template["Parameters"]["JwtOrgClaim"]["Default"] == "org_id"
    auth = template["Resources"]["Api"]["Properties"]["Auth"]
    assert auth["DefaultAuthorizer"] == AUTHORIZER
    authorizer = auth["Authorizers"][AUTHORIZER]
    assert authorizer["FunctionArn"] == {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]}
    assert authorizer["FunctionPayloadType"] == "TOKEN"
    assert authorizer["Identity"]["Header"] == "Authorization"
    assert authorizer["Identity"]["ReauthorizeEvery"] == 300


def test_handlers_point_at_the_function_packages(template: dict[str, Any]) -> None:
    # The packages arrive with their own changes: the path pattern always holds; where the module
    # already exists it must define what the template runs.
    for logical_id, props in _serverless_functions(template).items():
        if props.get("PackageType") == "Image":
            continue  # the image's CMD names its handler (tests/infra/test_geometry_image.py)
        code_root = ROOT / props["CodeUri"]
        folder = Path(props["CodeUri"]).name
        module = code_root / folder / "app.py"
        if props["Handler"] == "run.sh":
            assert (code_root / "run.sh").is_file(), logical_id
            if module.is_file():
                assert _defines(module, "app"), f"{module} defines no `app` for uvicorn"
        else:
            package, app, name = props["Handler"].split(".")
            assert (package, app) == (folder, "app"), logical_id
            assert name.endswith("handler"), logical_id
            if module.is_file():
                assert _defines(module, name), f"{module} defines no `{name}`"
    assert (ROOT / "functions/authorizer/authorizer/app.py").is_file()
    assert _defines(ROOT / "functions/authorizer/authorizer/app.py", "handler")


@pytest.mark.parametrize("name", AI_ROUTES)
def test_run_sh_starts_uvicorn_on_the_app(name: str) -> None:
    script = ROOT / "functions" / name / "run.sh"
    assert script.stat().st_mode & 0o111 == 0o111, "Lambda runs the handler script directly: it must be executable"
    text = script.read_text(encoding="utf-8")
    assert text.startswith("#!/bin/sh\n")
    assert f'exec python -m uvicorn {name}.app:app --host 127.0.0.1 --port "${{PORT:-8080}}" --no-access-log' in text
    # POSIX sh (dash where there is one, the strictest shell at hand).
    shell = shutil.which("dash") or "/bin/sh"
    subprocess.run([shell, "-n", str(script)], check=True)


@pytest.mark.parametrize("name", AI_ROUTES)
def test_run_sh_serves_the_package_from_the_task_root(name: str, tmp_path: Path) -> None:
    # Given a task root holding a stand-in package with the function's name (as Lambda unpacks it)
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "app.py").write_text(
        "async def app(scope, receive, send):\n"
        "    assert scope['type'] in ('http', 'lifespan')\n"
        "    if scope['type'] == 'lifespan':\n"
        "        while (await receive())['type'] != 'lifespan.shutdown':\n"
        "            await send({'type': 'lifespan.startup.complete'})\n"
        "        await send({'type': 'lifespan.shutdown.complete'})\n"
        "        return\n"
        f"    body = b'{name}:' + scope['path'].encode()\n"
        "    await send({'type': 'http.response.start', 'status': 200, 'headers': []})\n"
        "    await send({'type': 'http.response.body', 'body': body})\n"
    )
    port = free_port()
    env = {
        **os.environ,
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # When the Web Adapter would start it
    process = subprocess.Popen(
        [str(ROOT / "functions" / name / "run.sh")],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # Then the readiness path answers on $PORT, from the task root's package
        deadline = time.monotonic() + PATIENCE_S  # a cold Python start on a busy machine
        while True:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "run.sh did not start uvicorn"
                time.sleep(0.05)
        assert reply.status_code == 200
        assert reply.text == f"{name}:/healthz"
    finally:
        process.terminate()
        process.wait(timeout=10)


AI_POLICIES = [{"Ref": "SecretsReadPolicy"}, {"Ref": "AiTablesPolicy"}]
# What SAM attaches to every function role: logs, and X-Ray for `Tracing: Active`.
LAMBDA_BASICS = {
    f"arn:aws:iam::aws:policy/{name}" for name in ("service-role/AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess")
}


def test_ai_functions_may_touch_only_the_two_tables_and_the_secrets(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    statements = template["Resources"]["AiTablesPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    grants = {
        json.dumps(s["Resource"], sort_keys=True): (s["Effect"], sorted(s["Action"]))
        for s in statements
        if "Condition" not in s
    }
    assert grants == {
        json.dumps({"Fn::GetAtt": ["PerfLogTable", "Arn"]}): ("Allow", ["dynamodb:BatchWriteItem", "dynamodb:PutItem"]),
        json.dumps({"Fn::GetAtt": ["OrgSettingsTable", "Arn"]}): ("Allow", ["dynamodb:GetItem", "dynamodb:UpdateItem"]),
    }
    assert len(statements) == 2
    for name in AI_ROUTES:
        for logical_id, props in _deployments(template, name):
            assert props["Policies"] == AI_POLICIES, logical_id
            role = translated["Resources"][f"{logical_id}Role"]["Properties"]
            assert "Policies" not in role, f"{logical_id}: no inline grants besides the two managed policies"
            managed = role["ManagedPolicyArns"]
            assert all(p in managed for p in AI_POLICIES)
            assert {p for p in managed if p not in AI_POLICIES} <= LAMBDA_BASICS


def test_the_authorizer_reads_no_table_and_no_secret(template: dict[str, Any], translated: dict[str, Any]) -> None:
    assert "Policies" not in template["Resources"]["AuthorizerFunction"]["Properties"]
    role = translated["Resources"]["AuthorizerFunctionRole"]["Properties"]
    assert "Policies" not in role
    assert set(role["ManagedPolicyArns"]) <= LAMBDA_BASICS


def test_every_function_has_a_log_group_with_retention(template: dict[str, Any]) -> None:
    groups = {
        json.dumps(r["Properties"]["LogGroupName"]): r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Logs::LogGroup"
    }
    functions = _serverless_functions(template)
    assert len(functions) >= 8  # authorizer + 3 buffered + 3 streaming + geometry
    for logical_id in functions:
        group = groups.get(json.dumps({"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"}))
        assert group is not None, f"{logical_id} has no /aws/lambda/<name> log group"
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
        assert group["DeletionPolicy"] == "Delete"


# --- samconfig -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_samconfig_profiles(env: str) -> None:
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    deploy = config[env]["deploy"]["parameters"]
    assert deploy["stack_name"] == f"dominus-{env}"
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert deploy["resolve_s3"] is True
    # `sam deploy` pushes the image functions to ECR repositories it creates and keeps.
    assert deploy["resolve_image_repos"] is True
    assert f"Stage={env}" in deploy["parameter_overrides"].split()
    assert deploy["confirm_changeset"] is (env == "prod")


# --- geometry: its own function, job table and data bucket ---------------------------------------


def test_jobs_table_keys_and_ttl(template: dict[str, Any]) -> None:
    props = template["Resources"]["JobsTable"]["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": "org_id", "KeyType": "HASH"},
        {"AttributeName": "job_id", "KeyType": "RANGE"},
    ]
    assert props["AttributeDefinitions"] == [
        {"AttributeName": "org_id", "AttributeType": "S"},
        {"AttributeName": "job_id", "AttributeType": "S"},
        {"AttributeName": "claim_key", "AttributeType": "S"},
        {"AttributeName": "created_at", "AttributeType": "S"},
    ]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    (index,) = props["GlobalSecondaryIndexes"]
    assert index == {
        "IndexName": "by_claim",
        "KeySchema": [
            {"AttributeName": "claim_key", "KeyType": "HASH"},
            {"AttributeName": "created_at", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }


def test_data_bucket_is_private_and_encrypted(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["DataBucket"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    props = bucket["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert "BucketName" not in props, "CloudFormation names the bucket; code reads DOMINUS_BUCKET"
    [statement] = template["Resources"]["DataBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_geometry_function_routes_dependencies_and_grants(template: dict[str, Any], translated: dict[str, Any]) -> None:
    resource = template["Resources"]["GeometryFunction"]
    props = resource["Properties"]
    # A container image: the shared layer and OpenCV/numpy together exceed a zip's 250 MB.
    assert props["PackageType"] == "Image"
    assert not {"CodeUri", "Handler", "Runtime", "Layers", "ImageUri"} & set(props)
    assert resource["Metadata"] == {
        "DockerContext": ".",
        "Dockerfile": "functions/geometry/Dockerfile",
        "DockerTag": "python3.12-v1",
    }
    assert (ROOT / resource["Metadata"]["DockerContext"] / resource["Metadata"]["Dockerfile"]).is_file()
    assert props["MemorySize"] >= 2048
    # The synchronous analysis's budget is sized to this memory and API Gateway's 29 s (geometry.limits)
    assert props["MemorySize"] == FUNCTION_MEMORY_MB
    assert "Timeout" not in props and template["Globals"]["Function"]["Timeout"] == API_GATEWAY_S
    routes = [
        ("/v1/geometry/analyze", "post"),
        ("/v1/geometry/uploads", "post"),
        ("/v1/geometry/{job_id}", "get"),
        ("/v1/geometry/{job_id}/preview.png", "get"),
    ]
    assert _events(props) == {(path, method, None) for path, method in routes}
    requirements = {
        line.split(">")[0].split("=")[0].split("[")[0].strip().lower()
        for line in (ROOT / "functions/geometry/requirements.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {"numpy", "opencv-python-headless", "tifffile", "laspy"} <= requirements
    # Least privilege: its job records, reading org-prefixed objects (GetObject also allows HEAD),
    # writing only its results, presigning uploads under geometry-uploads/ only (a presigned POST is
    # signed with its role), the store's token and its finished events; no OpenAI key, no listing.
    events, policy = props["Policies"]
    assert events == {"Ref": "JobEventsPolicy"}
    grants = {json.dumps(s["Resource"], sort_keys=True): sorted(s["Action"]) for s in policy["Statement"]}
    assert grants == {
        json.dumps({"Fn::GetAtt": ["JobsTable", "Arn"]}): ["dynamodb:GetItem", "dynamodb:PutItem"],
        json.dumps({"Fn::Sub": "${DataBucket.Arn}/orgs/*"}): ["s3:GetObject"],
        json.dumps({"Fn::Sub": "${DataBucket.Arn}/orgs/*/geometry/*"}): ["s3:PutObject"],
        json.dumps({"Fn::Sub": f"{UPLOADS_ARN}/geometry-uploads/*"}): ["s3:PutObject"],
        json.dumps({"Ref": "UpstashTokenSecretArn"}): ["secretsmanager:GetSecretValue"],
    }
    upload_bucket = template["Resources"]["UploadsBucket"]["Properties"]["BucketName"]
    assert props["Environment"]["Variables"] == {"DOMINUS_UPLOAD_BUCKET": upload_bucket}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    role = translated["Resources"]["GeometryFunctionRole"]["Properties"]
    managed = [arn for arn in role["ManagedPolicyArns"] if arn != {"Ref": "JobEventsPolicy"}]
    assert set(managed) <= LAMBDA_BASICS
    # Every route reaches it through the REST API, behind the authorizer (checked for every path above).
    paths = _body(translated)["paths"]
    for path, method in routes:
        assert set(paths[path]) == {method}
        integration = paths[path][method]["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert "GeometryFunction.Arn" in json.dumps(integration["uri"])


UPLOADS_ARN = "arn:${AWS::Partition}:s3:::dominus-uploads-${Stage}-${AWS::AccountId}-${AWS::Region}"


def test_geometry_jobs_run_on_a_second_deployment_of_the_image_sized_for_the_job_budget(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    resource = template["Resources"]["GeometryJobsFunction"]
    props = resource["Properties"]
    # The same image and handler as GeometryFunction: one code base, two sizes.
    assert props["PackageType"] == "Image"
    assert resource["Metadata"] == template["Resources"]["GeometryFunction"]["Metadata"]
    assert not {"CodeUri", "Handler", "Runtime", "Layers", "ImageUri"} & set(props)
    # Sized for the job's budget (geometry.limits), with time and memory left around the worker.
    assert props["MemorySize"] == JOB_FUNCTION_MEMORY_MB <= 10240
    assert props["Timeout"] == JOB_FUNCTION_TIMEOUT_S <= 900
    assert JOB_BUDGET.seconds + 120 <= JOB_FUNCTION_TIMEOUT_S
    assert JOB_BUDGET.memory_bytes + 1024 * 1024 * 1024 <= JOB_FUNCTION_MEMORY_MB * 1024 * 1024
    # /tmp holds the whole upload, with room to spare
    assert props["EphemeralStorage"]["Size"] * 1024 * 1024 >= 2 * MAX_JOB_UPLOAD_BYTES
    assert props["EventInvokeConfig"] == {"MaximumRetryAttempts": 1}
    # Only S3 events under geometry-uploads/, never a route: nothing reaches it but the jobs.
    (event,) = props["Events"].values()
    assert event["Type"] == "S3"
    assert event["Properties"]["Bucket"] == {"Ref": "UploadsBucket"}
    assert event["Properties"]["Events"] == "s3:ObjectCreated:*"
    assert event["Properties"]["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "geometry-uploads/"}]
    # The bucket named by its formula (a reference would be a cycle through its notification).
    without_events = {k: v for k, v in props.items() if k != "Events"}
    assert "UploadsBucket" not in json.dumps(without_events)
    assert props["Environment"]["Variables"] == {
        "DOMINUS_UPLOAD_BUCKET": template["Resources"]["UploadsBucket"]["Properties"]["BucketName"],
        "DOMINUS_IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
    }
    # Least privilege: its records (updated as the job runs), the idempotency records, reading its own
    # uploads and org-prefixed objects (an earlier job of the same input), writing only its results.
    events, policy = props["Policies"]
    assert events == {"Ref": "JobEventsPolicy"}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    grants = {json.dumps(s["Resource"], sort_keys=True): sorted(s["Action"]) for s in policy["Statement"]}
    assert grants == {
        json.dumps({"Fn::GetAtt": ["JobsTable", "Arn"]}): [
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
        json.dumps({"Fn::GetAtt": ["IdempotencyTable", "Arn"]}): [
            "dynamodb:DeleteItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ],
        json.dumps({"Fn::Sub": "${DataBucket.Arn}/orgs/*"}): ["s3:GetObject"],
        json.dumps({"Fn::Sub": "${DataBucket.Arn}/orgs/*/geometry/*"}): ["s3:PutObject"],
        json.dumps({"Fn::Sub": f"{UPLOADS_ARN}/geometry-uploads/*"}): ["s3:GetObject"],
    }
    role = translated["Resources"]["GeometryJobsFunctionRole"]["Properties"]
    managed = [arn for arn in role["ManagedPolicyArns"] if arn != {"Ref": "JobEventsPolicy"}]
    assert set(managed) <= LAMBDA_BASICS
    function = translated["Resources"]["GeometryJobsFunction"]["Properties"]
    assert (function["MemorySize"], function["Timeout"]) == (JOB_FUNCTION_MEMORY_MB, JOB_FUNCTION_TIMEOUT_S)
    assert function["EphemeralStorage"] == props["EphemeralStorage"]


def test_finished_jobs_go_to_the_event_bus_with_put_events_only(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    assert resources["JobEventBus"]["Type"] == "AWS::Events::EventBus"
    assert template["Globals"]["Function"]["Environment"]["Variables"]["DOMINUS_EVENT_BUS"] == {"Ref": "JobEventBus"}
    [statement] = resources["JobEventsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["events:PutEvents"]
    assert statement["Resource"] == {"Fn::GetAtt": ["JobEventBus", "Arn"]}
    for name in ("GeometryFunction", "GeometryJobsFunction", "VisionFunction"):
        assert {"Ref": "JobEventsPolicy"} in resources[name]["Properties"]["Policies"], name


def test_uploads_start_vision_jobs_without_a_circular_dependency(
    template: dict[str, Any], translated: dict[str, Any]
) -> None:
    """The upload bucket's notification depends on the function, so the function may name the bucket
    only by its formula, never by a reference (cfn-lint above also checks for cycles)."""
    vision = template["Resources"]["VisionFunction"]["Properties"]
    event = vision["Events"]["PhotoUploaded"]
    assert event["Type"] == "S3"
    assert event["Properties"]["Bucket"] == {"Ref": "UploadsBucket"}
    assert event["Properties"]["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "uploads/"}]
    without_events = {k: v for k, v in vision.items() if k != "Events"}
    assert "UploadsBucket" not in json.dumps(without_events)
    name = template["Resources"]["UploadsBucket"]["Properties"]["BucketName"]
    assert vision["Environment"]["Variables"]["DOMINUS_UPLOAD_BUCKET"] == name
    notified = [
        (logical_id, props)
        for logical_id, props in _serverless_functions(template).items()
        if any(event["Type"] == "S3" for event in props.get("Events", {}).values())
    ]
    assert {logical_id for logical_id, _ in notified} == {"VisionFunction", "GeometryJobsFunction"}
    for logical_id, props in notified:
        assert "UploadsBucket" not in json.dumps({k: v for k, v in props.items() if k != "Events"}), logical_id


def test_each_upload_prefix_notifies_its_own_function_only(translated: dict[str, Any]) -> None:
    """One bucket, two notifications: S3 refuses two on one event type whose prefixes overlap, and an
    object must start one job, of the function whose prefix it is under."""
    bucket = translated["Resources"]["UploadsBucket"]["Properties"]
    configs = bucket["NotificationConfiguration"]["LambdaConfigurations"]
    targets = {}
    for config in configs:
        assert config["Event"] == "s3:ObjectCreated:*"
        [rule] = config["Filter"]["S3Key"]["Rules"]
        assert rule["Name"].lower() == "prefix"
        targets[rule["Value"]] = config["Function"]
    assert targets == {
        "uploads/": {"Fn::GetAtt": ["VisionFunction", "Arn"]},
        "geometry-uploads/": {"Fn::GetAtt": ["GeometryJobsFunction", "Arn"]},
    }
    for one in targets:
        assert not any(other != one and other.startswith(one) for other in targets), "overlapping prefixes"


# --- the deployment specs and the template agree -------------------------------------------------


def _code_roots(template: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """The template's functions that run functions/<name>/ (a zip's CodeUri, or an image's context)."""
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        image = resource.get("Metadata", {}).get("Dockerfile", "")
        if props.get("CodeUri") == f"functions/{name}/" or image == f"functions/{name}/Dockerfile":
            found[logical_id] = props
    return found


def _routes(spec: FunctionSpec) -> set[tuple[str, str]]:
    clients = Clients.from_settings(Settings(dominus_env="aws"))  # builds nothing: clients are lazy
    return {
        (route.path, method.lower())
        for router in spec.routers(clients)
        for route in router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods or ()
    }


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_each_spec_is_deployed_with_its_routes_events_and_handler(template: dict[str, Any], spec: FunctionSpec) -> None:
    deployed = _code_roots(template, spec.name)
    assert deployed, f"functions/{spec.name}/ is not deployed"
    api_events = {
        (event["Properties"]["Path"], event["Properties"]["Method"].lower())
        for props in deployed.values()
        for event in props.get("Events", {}).values()
        if event["Type"] == "Api"
    }
    assert _routes(spec) <= api_events, f"{spec.name}: routes the template does not deploy"
    assert any(p.get("Handler") == "run.sh" for p in deployed.values()) == spec.streaming
    schedules = {
        json.loads(event["Properties"]["Input"])["schedule"]
        for props in deployed.values()
        for event in props.get("Events", {}).values()
        if event["Type"] == "Schedule"
    }
    assert schedules == {schedule.name for schedule in spec.schedules}
    for props in deployed.values():
        assert props.get("Handler") in (None, "run.sh", f"{spec.name}.app.handler")


def test_each_spec_takes_the_uploads_the_template_sends_it(template: dict[str, Any]) -> None:
    """The dev server hands an upload to the specs whose prefix its key starts with (shared.deployment
    .Uploads); deployed, the template's S3 filters decide: the two must agree."""
    taken = {spec.name: {spec.uploads.prefix} for spec in SPECS if spec.uploads is not None}
    assert upload_prefixes(template) == taken
    assert taken == {"vision": {"uploads/"}, "geometry": {"geometry-uploads/"}}


def test_the_dev_server_runs_every_schedule_of_every_spec_at_the_templates_rate(template: dict[str, Any]) -> None:
    rates = schedule_rates(template)
    assert set(rates) == {(spec.name, schedule.name) for spec in SPECS for schedule in spec.schedules}
    assert rates[("metrics", "rollup")] == timedelta(minutes=15)


@pytest.mark.parametrize(
    ("expression", "every"),
    [("rate(1 minute)", timedelta(minutes=1)), ("rate(2 hours)", timedelta(hours=2)), ("rate(1 day)", timedelta(1))],
)
def test_rate_expressions(expression: str, every: timedelta) -> None:
    assert parse_rate(expression) == every


@pytest.mark.parametrize("expression", ["cron(0 12 * * ? *)", "rate(0 minutes)", "rate(5 weeks)"])
def test_a_schedule_the_dev_server_cannot_run_is_named(expression: str) -> None:
    with pytest.raises(TemplateError, match="rate"):
        parse_rate(expression)
