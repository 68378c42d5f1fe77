"""template.yaml translates (aws-sam-translator) and lints (cfn-lint) offline, and says what we rely on."""

from __future__ import annotations

import copy
import json
import re
import socket
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from dominus_dev.template import DEFAULT_TEMPLATE, dynamodb_tables, env_var_for_table, load_template
from samtranslator.translator.transform import transform

pytestmark = pytest.mark.infra

SAMCONFIG = DEFAULT_TEMPLATE.parent / "samconfig.toml"
PLACEHOLDER_BUCKET = "dominus-placeholder-artifacts"
REGION = "us-east-1"


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
    """What `sam package` would hand to the transform: local artifact paths replaced by S3 URIs."""
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


@pytest.mark.parametrize("logical_id", ["PerfLogTable", "OrgSettingsTable"])
def test_tables_on_demand_with_pitr_and_encryption(template: dict[str, Any], logical_id: str) -> None:
    props = template["Resources"][logical_id]["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert "TableName" not in props, "CloudFormation names tables; code reads the name from the environment"


def test_table_specs_come_from_the_template(template: dict[str, Any]) -> None:
    specs = dynamodb_tables(template)
    assert set(specs) == {"PerfLogTable", "OrgSettingsTable"}
    assert specs["PerfLogTable"].ttl_attribute == "expires_at"
    assert [g["IndexName"] for g in specs["PerfLogTable"].global_secondary_indexes] == ["by_function", "by_hour"]
    assert specs["OrgSettingsTable"].ttl_attribute is None
    kwargs = specs["PerfLogTable"].create_table_kwargs("t")
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in kwargs


# --- functions: globals, layer, environment ------------------------------------------------------


def test_function_globals(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["x86_64"]
    assert function["Timeout"] <= 29, "API Gateway REST integrations give up at 29 s"
    assert function["Tracing"] == "Active"
    assert function["Layers"] == [{"Ref": "SharedLayer"}]


def test_environment_references_the_tables(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["DOMINUS_PERF_TABLE"] == {"Ref": "PerfLogTable"}
    assert variables["DOMINUS_ORG_TABLE"] == {"Ref": "OrgSettingsTable"}
    assert env_var_for_table(template) == {
        "PerfLogTable": "DOMINUS_PERF_TABLE",
        "OrgSettingsTable": "DOMINUS_ORG_TABLE",
    }
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


# --- samconfig -----------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_samconfig_profiles(env: str) -> None:
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    assert config["version"] == 0.1
    deploy = config[env]["deploy"]["parameters"]
    assert deploy["stack_name"] == f"dominus-{env}"
    assert set(deploy["capabilities"].split()) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert deploy["resolve_s3"] is True
    assert f"Stage={env}" in deploy["parameter_overrides"].split()
    assert deploy["confirm_changeset"] is (env == "prod")
