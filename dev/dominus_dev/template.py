"""The SAM template as the single source of the local AWS resources.

`make run` and the tests create DynamoDB tables and S3 buckets in an embedded moto server from
`template.yaml` itself (key schemas, indexes, TTL, and the environment variable that names each
resource), so the local runtime and the deployed stack cannot drift apart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast, overload

import boto3
import yaml

from dominus_dev.serving import free_port

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.literals import (
        BillingModeType,
        KeyTypeType,
        ProjectionTypeType,
        ScalarAttributeTypeType,
    )
    from mypy_boto3_dynamodb.type_defs import (
        AttributeDefinitionTypeDef,
        CreateTableInputTypeDef,
        GlobalSecondaryIndexTypeDef,
        KeySchemaElementTypeDef,
        LocalSecondaryIndexTypeDef,
        ProjectionTypeDef,
        ProvisionedThroughputTypeDef,
    )
    from mypy_boto3_s3 import S3Client

__all__ = [
    "DEFAULT_TEMPLATE",
    "LOCAL_REGION",
    "CfnLoader",
    "EmbeddedAws",
    "TableSpec",
    "TemplateError",
    "bucket_logical_ids",
    "bucket_name",
    "create_local_resources",
    "dynamodb_tables",
    "env_var_for_bucket",
    "env_var_for_table",
    "load_template",
    "parse_rate",
    "schedule_rates",
    "upload_prefixes",
]

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIAL = "testing"

_TABLE_TYPES = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
_BUCKET_TYPE = "AWS::S3::Bucket"


class TemplateError(ValueError):
    """The template lacks, or computes at deploy time, something the local runtime needs literally."""


# --- loading -------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (`!Ref X`) as their long form.

    Dates stay strings (`AWSTemplateFormatVersion: 2010-09-09` is a string to CloudFormation).
    """


# Drop the timestamp resolver on the subclass only (the dict is copied, SafeLoader is untouched).
CfnLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

_FN_TAGS = (
    "Sub",
    "If",
    "Equals",
    "Select",
    "Join",
    "Split",
    "FindInMap",
    "ImportValue",
    "Base64",
    "Not",
    "And",
    "Or",
    "Cidr",
    "GetAZs",
    "Length",
    "ToJsonString",
    "Transform",
)


def _construct_node(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node.tag}", node.start_mark)


def _long_form(key: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {key: _construct_node(loader, node)}

    return construct


def _construct_get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _construct_node(loader, node)
    if isinstance(value, str):
        # "Resource.Attribute.Path": only the first dot separates the resource.
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {"Fn::GetAtt": value}


CfnLoader.add_constructor("!Ref", _long_form("Ref"))
CfnLoader.add_constructor("!Condition", _long_form("Condition"))
CfnLoader.add_constructor("!GetAtt", _construct_get_att)
for _name in _FN_TAGS:
    CfnLoader.add_constructor(f"!{_name}", _long_form(f"Fn::{_name}"))


def load_template(path: Path | None = None) -> dict[str, Any]:
    """The template as plain data, short-form tags in long form (`{"Ref": ...}`, `{"Fn::Sub": ...}`)."""
    source = path or DEFAULT_TEMPLATE
    with source.open(encoding="utf-8") as stream:
        data = yaml.load(stream, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{source}: not a CloudFormation template (no Resources mapping)")
    return cast(dict[str, Any], data)


# --- tables and buckets --------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    """What `create_table` needs for one template table (physical name aside)."""

    logical_id: str
    key_schema: tuple[KeySchemaElementTypeDef, ...]
    attribute_definitions: tuple[AttributeDefinitionTypeDef, ...]
    global_secondary_indexes: tuple[GlobalSecondaryIndexTypeDef, ...] = ()
    local_secondary_indexes: tuple[LocalSecondaryIndexTypeDef, ...] = ()
    billing_mode: BillingModeType = "PAY_PER_REQUEST"
    provisioned_throughput: ProvisionedThroughputTypeDef | None = None
    ttl_attribute: str | None = None

    def create_table_kwargs(self, table_name: str) -> CreateTableInputTypeDef:
        kwargs: CreateTableInputTypeDef = {
            "TableName": table_name,
            "KeySchema": list(self.key_schema),
            "AttributeDefinitions": list(self.attribute_definitions),
            "BillingMode": self.billing_mode,
        }
        if self.global_secondary_indexes:
            kwargs["GlobalSecondaryIndexes"] = list(self.global_secondary_indexes)
        if self.local_secondary_indexes:
            kwargs["LocalSecondaryIndexes"] = list(self.local_secondary_indexes)
        if self.provisioned_throughput is not None:
            kwargs["ProvisionedThroughput"] = self.provisioned_throughput
        return kwargs


def _resources(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    resources = template.get("Resources")
    if not isinstance(resources, dict):
        raise TemplateError("template has no Resources mapping")
    return {name: body for name, body in resources.items() if isinstance(body, dict)}


def _literal(value: Any, where: str) -> Any:
    """`value` itself, refusing intrinsic functions (resolved only at deploy time)."""
    if isinstance(value, dict):
        intrinsic = any(str(k).startswith("Fn::") for k in value) or (
            len(value) == 1 and next(iter(value)) in ("Ref", "Condition")
        )
        if intrinsic:
            raise TemplateError(f"{where}: intrinsic function {value!r}; the local runtime needs a literal")
        return {k: _literal(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_literal(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _str(value: Any, where: str) -> str:
    value = _literal(value, where)
    if not isinstance(value, str) or not value:
        raise TemplateError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _choice(value: Any, where: str, allowed: tuple[str, ...]) -> str:
    text = _str(value, where)
    if text not in allowed:
        raise TemplateError(f"{where}: {text!r} is not one of {allowed}")
    return text


def _list(value: Any, where: str) -> list[Any]:
    value = _literal(value, where)
    if not isinstance(value, list):
        raise TemplateError(f"{where}: expected a list, got {value!r}")
    return value


def _key_schema(value: Any, where: str) -> list[KeySchemaElementTypeDef]:
    elements: list[KeySchemaElementTypeDef] = []
    for i, item in enumerate(_list(value, where)):
        at = f"{where}[{i}]"
        elements.append(
            {
                "AttributeName": _str(item.get("AttributeName"), f"{at}.AttributeName"),
                "KeyType": cast("KeyTypeType", _choice(item.get("KeyType"), f"{at}.KeyType", ("HASH", "RANGE"))),
            }
        )
    if not elements:
        raise TemplateError(f"{where}: empty key schema")
    return elements


def _projection(value: Any, where: str) -> ProjectionTypeDef:
    if not isinstance(value, dict):
        raise TemplateError(f"{where}: expected a Projection mapping")
    projection: ProjectionTypeDef = {
        "ProjectionType": cast(
            "ProjectionTypeType",
            _choice(value.get("ProjectionType", "ALL"), f"{where}.ProjectionType", ("ALL", "KEYS_ONLY", "INCLUDE")),
        )
    }
    if "NonKeyAttributes" in value:
        projection["NonKeyAttributes"] = [
            _str(a, f"{where}.NonKeyAttributes") for a in _list(value["NonKeyAttributes"], where)
        ]
    return projection


def _throughput(value: Any, where: str) -> ProvisionedThroughputTypeDef:
    value = _literal(value, where)
    try:
        return {
            "ReadCapacityUnits": int(value["ReadCapacityUnits"]),
            "WriteCapacityUnits": int(value["WriteCapacityUnits"]),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise TemplateError(f"{where}: invalid ProvisionedThroughput {value!r}") from exc


def _table_spec(logical_id: str, resource: Mapping[str, Any]) -> TableSpec:
    where = f"Resources.{logical_id}.Properties"
    props = resource.get("Properties") or {}
    if resource.get("Type") == "AWS::Serverless::SimpleTable":
        # SAM's SimpleTable: a single String/Number/Binary hash key, default `id` (String).
        key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
        kind = _choice(key.get("Type", "String"), f"{where}.PrimaryKey.Type", ("String", "Number", "Binary"))
        name = _str(key.get("Name"), f"{where}.PrimaryKey.Name")
        billing: BillingModeType = "PROVISIONED" if "ProvisionedThroughput" in props else "PAY_PER_REQUEST"
        return TableSpec(
            logical_id=logical_id,
            key_schema=({"AttributeName": name, "KeyType": "HASH"},),
            attribute_definitions=({"AttributeName": name, "AttributeType": cast("ScalarAttributeTypeType", kind[0])},),
            billing_mode=billing,
            provisioned_throughput=(
                _throughput(props["ProvisionedThroughput"], f"{where}.ProvisionedThroughput")
                if billing == "PROVISIONED"
                else None
            ),
        )

    attributes: list[AttributeDefinitionTypeDef] = []
    for i, item in enumerate(_list(props.get("AttributeDefinitions"), f"{where}.AttributeDefinitions")):
        at = f"{where}.AttributeDefinitions[{i}]"
        attributes.append(
            {
                "AttributeName": _str(item.get("AttributeName"), f"{at}.AttributeName"),
                "AttributeType": cast(
                    "ScalarAttributeTypeType",
                    _choice(item.get("AttributeType"), f"{at}.AttributeType", ("S", "N", "B")),
                ),
            }
        )
    billing = cast(
        "BillingModeType",
        _choice(
            props.get("BillingMode", "PROVISIONED"),
            f"{where}.BillingMode",
            ("PROVISIONED", "PAY_PER_REQUEST"),
        ),
    )
    provisioned = billing == "PROVISIONED"

    gsis: list[GlobalSecondaryIndexTypeDef] = []
    for i, item in enumerate(_list(props.get("GlobalSecondaryIndexes", []), f"{where}.GlobalSecondaryIndexes")):
        at = f"{where}.GlobalSecondaryIndexes[{i}]"
        gsi: GlobalSecondaryIndexTypeDef = {
            "IndexName": _str(item.get("IndexName"), f"{at}.IndexName"),
            "KeySchema": _key_schema(item.get("KeySchema"), f"{at}.KeySchema"),
            "Projection": _projection(item.get("Projection"), f"{at}.Projection"),
        }
        if provisioned:
            gsi["ProvisionedThroughput"] = _throughput(item.get("ProvisionedThroughput"), f"{at}.ProvisionedThroughput")
        gsis.append(gsi)

    lsis: list[LocalSecondaryIndexTypeDef] = []
    for i, item in enumerate(_list(props.get("LocalSecondaryIndexes", []), f"{where}.LocalSecondaryIndexes")):
        at = f"{where}.LocalSecondaryIndexes[{i}]"
        lsis.append(
            {
                "IndexName": _str(item.get("IndexName"), f"{at}.IndexName"),
                "KeySchema": _key_schema(item.get("KeySchema"), f"{at}.KeySchema"),
                "Projection": _projection(item.get("Projection"), f"{at}.Projection"),
            }
        )

    ttl_attribute: str | None = None
    ttl = props.get("TimeToLiveSpecification")
    if ttl is not None:
        ttl = _literal(ttl, f"{where}.TimeToLiveSpecification")
        if ttl.get("Enabled") is True or str(ttl.get("Enabled")).lower() == "true":
            ttl_attribute = _str(ttl.get("AttributeName"), f"{where}.TimeToLiveSpecification.AttributeName")

    return TableSpec(
        logical_id=logical_id,
        key_schema=tuple(_key_schema(props.get("KeySchema"), f"{where}.KeySchema")),
        attribute_definitions=tuple(attributes),
        global_secondary_indexes=tuple(gsis),
        local_secondary_indexes=tuple(lsis),
        billing_mode=billing,
        provisioned_throughput=(
            _throughput(props.get("ProvisionedThroughput"), f"{where}.ProvisionedThroughput") if provisioned else None
        ),
        ttl_attribute=ttl_attribute,
    )


def dynamodb_tables(template: Mapping[str, Any]) -> dict[str, TableSpec]:
    """Every DynamoDB table of the template, by logical id."""
    return {
        logical_id: _table_spec(logical_id, resource)
        for logical_id, resource in _resources(template).items()
        if resource.get("Type") in _TABLE_TYPES
    }


def bucket_logical_ids(template: Mapping[str, Any]) -> list[str]:
    """Logical ids of the template's S3 buckets, in template order."""
    return [name for name, resource in _resources(template).items() if resource.get("Type") == _BUCKET_TYPE]


def _env_refs(template: Mapping[str, Any]) -> dict[str, str]:
    """Logical id -> name of the environment variable whose value is `!Ref <logical id>`, or the same
    `!Sub` formula as the resource's own name (a bucket named by formula, so that its event
    notification can name a function without a circular dependency).

    Globals.Function first (what every function sees), then each function's own variables; the
    first name found wins when one resource is exposed under several names.
    """
    named_by = {
        json.dumps(name, sort_keys=True): logical_id
        for logical_id, resource in _resources(template).items()
        if isinstance(name := resource.get("Properties", {}).get("BucketName"), dict)
    }
    scopes: list[Any] = [(template.get("Globals") or {}).get("Function")]
    scopes += [
        resource.get("Properties", {})
        for resource in _resources(template).values()
        if resource.get("Type") == "AWS::Serverless::Function"
    ]
    refs: dict[str, str] = {}
    for scope in scopes:
        variables = (scope or {}).get("Environment", {}).get("Variables", {}) or {}
        for env_name, value in variables.items():
            if isinstance(value, dict) and set(value) == {"Ref"} and isinstance(value["Ref"], str):
                refs.setdefault(value["Ref"], env_name)
            elif isinstance(value, dict) and json.dumps(value, sort_keys=True) in named_by:
                refs.setdefault(named_by[json.dumps(value, sort_keys=True)], env_name)
    return refs


def env_var_for_table(template: Mapping[str, Any]) -> dict[str, str]:
    """Table logical id -> the environment variable the template sets to its name."""
    tables = dynamodb_tables(template)
    return {logical_id: env for logical_id, env in _env_refs(template).items() if logical_id in tables}


def env_var_for_bucket(template: Mapping[str, Any]) -> dict[str, str]:
    """Bucket logical id -> the environment variable the template sets to its name."""
    buckets = set(bucket_logical_ids(template))
    return {logical_id: env for logical_id, env in _env_refs(template).items() if logical_id in buckets}


# --- schedules ----------------------------------------------------------------------------------

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")


def parse_rate(expression: str) -> timedelta:
    """EventBridge's `rate(15 minutes)` as a duration; TemplateError for anything else (a cron)."""
    match = _RATE.fullmatch(expression.strip())
    if match is None or int(match[1]) < 1:
        raise TemplateError(f"schedule {expression!r}: the local runtime runs rate(<n> <unit>) schedules only")
    unit = match[2].rstrip("s")
    return timedelta(**{f"{unit}s": int(match[1])})


def _function_name(resource: Mapping[str, Any]) -> str | None:
    """The function package a template function runs: functions/<name>/ (a zip's code, an image's)."""
    code = resource.get("Properties", {}).get("CodeUri")
    dockerfile = resource.get("Metadata", {}).get("Dockerfile")
    for path, suffix in ((code, "/"), (dockerfile, "/Dockerfile")):
        if isinstance(path, str) and path.startswith("functions/") and path.endswith(suffix):
            return path.removeprefix("functions/").removesuffix(suffix)
    return None


def schedule_rates(template: Mapping[str, Any]) -> dict[tuple[str, str], timedelta]:
    """(function, schedule) -> how often the template's EventBridge rule runs it; a schedule's name is
    what its rule sends (`Input: '{"schedule": "<name>"}'`)."""
    rates: dict[tuple[str, str], timedelta] = {}
    for logical_id, resource in _resources(template).items():
        if resource.get("Type") != "AWS::Serverless::Function" or (function := _function_name(resource)) is None:
            continue
        for event_id, event in (resource.get("Properties", {}).get("Events") or {}).items():
            if event.get("Type") == "Schedule":
                name, rate = _schedule(event.get("Properties", {}), f"{logical_id}.Events.{event_id}")
                rates[(function, name)] = rate
    return rates


def upload_prefixes(template: Mapping[str, Any]) -> dict[str, set[str]]:
    """Function -> the key prefixes whose S3 ObjectCreated events its deployments take (their S3
    events' prefix filters; "" for an event without one: every key)."""
    prefixes: dict[str, set[str]] = {}
    for resource in _resources(template).values():
        if resource.get("Type") != "AWS::Serverless::Function" or (function := _function_name(resource)) is None:
            continue
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "S3":
                continue
            rules = event.get("Properties", {}).get("Filter", {}).get("S3Key", {}).get("Rules", [])
            found = [rule.get("Value", "") for rule in rules if str(rule.get("Name", "")).lower() == "prefix"]
            prefixes.setdefault(function, set()).update(found or [""])
    return prefixes


def _schedule(props: Mapping[str, Any], where: str) -> tuple[str, timedelta]:
    try:
        name = json.loads(_str(props.get("Input"), f"{where}.Input"))["schedule"]
    except (ValueError, KeyError, TypeError):
        raise TemplateError(f'{where}.Input: expected {{"schedule": "<name>"}}') from None
    return _str(name, f"{where}.Input.schedule"), parse_rate(_str(props.get("Schedule"), f"{where}.Schedule"))


def bucket_name(logical_id: str, prefix: str = "") -> str:
    """A valid S3 bucket name for a logical id: "UploadsBucket" -> "<prefix>uploads-bucket"."""
    kebab = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", logical_id).lower()
    name = re.sub(r"[^a-z0-9.-]+", "-", f"{prefix}{kebab}".lower()).strip("-.")
    if not 3 <= len(name) <= 63:
        raise TemplateError(f"bucket name {name!r} (from {logical_id!r}) must be 3 to 63 characters")
    return name


# --- creating them -------------------------------------------------------------------------------


def _ensure_table(client: DynamoDBClient, spec: TableSpec, table_name: str) -> None:
    with contextlib.suppress(client.exceptions.ResourceInUseException):  # exists already: fine
        client.create_table(**spec.create_table_kwargs(table_name))
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if spec.ttl_attribute is None:
        return
    current = client.describe_time_to_live(TableName=table_name).get("TimeToLiveDescription", {})
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
    )


def _ensure_bucket(client: S3Client, name: str) -> None:
    exists = (client.exceptions.BucketAlreadyOwnedByYou, client.exceptions.BucketAlreadyExists)
    with contextlib.suppress(*exists):
        client.create_bucket(Bucket=name)  # us-east-1: no LocationConstraint


def create_local_resources(
    dynamodb_client: DynamoDBClient,
    s3_client: S3Client,
    prefix: str = "",
    template: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Create the template's tables (with TTL) and buckets; return their environment variables.

    Physical names: `prefix + logical id` for tables ("PerfLogTable"), `bucket_name(logical id,
    prefix)` for buckets. Existing tables and buckets are kept. The result maps each env var the
    template sets (e.g. "DOMINUS_PERF_TABLE") to the physical name, ready for os.environ/settings.
    """
    template = load_template() if template is None else template
    env: dict[str, str] = {}
    table_env = env_var_for_table(template)
    for logical_id, spec in dynamodb_tables(template).items():
        physical = f"{prefix}{logical_id}"
        _ensure_table(dynamodb_client, spec, physical)
        if logical_id in table_env:
            env[table_env[logical_id]] = physical
    bucket_env = env_var_for_bucket(template)
    for logical_id in bucket_logical_ids(template):
        physical = bucket_name(logical_id, prefix)
        _ensure_bucket(s3_client, physical)
        if logical_id in bucket_env:
            env[bucket_env[logical_id]] = physical
    return env


WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def one_dynamodb_request_at_a_time(app: WsgiApp) -> WsgiApp:
    """Moto's DynamoDB is not safe under concurrent requests: a conditional update checks and writes
    without a lock (two can both pass where DynamoDB lets one), and a write can change an item while
    another request copies it (`dictionary changed size during iteration`). DynamoDB serialises the
    writes to an item; the stand-in serialises its DynamoDB requests (S3's stay concurrent)."""
    lock = threading.Lock()

    def serialised(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return serialised


class EmbeddedAws:
    """A moto server on a loopback port in this process, with clients bound to it.

    Moto keeps its state in process-wide backends: anything else in the process using moto
    (e.g. `mock_aws`, which resets them) sees and changes the same data.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        template: Path | None = None,
        *,
        quiet: bool = True,
    ) -> None:
        if quiet:
            # One access-log line per AWS call would bury the dev server's own output.
            access_log = logging.getLogger("werkzeug")
            if access_log.level == logging.NOTSET:
                access_log.setLevel(logging.WARNING)
        self.host = host
        self.port = port or free_port(host)
        self.template_path = template
        self._server = _MotoServer(host, self.port)
        self._session = boto3.session.Session(
            aws_access_key_id=LOCAL_CREDENTIAL,
            aws_secret_access_key=LOCAL_CREDENTIAL,
            aws_session_token=LOCAL_CREDENTIAL,
            region_name=LOCAL_REGION,
        )
        self._started = False
        self._template: dict[str, Any] | None = None
        self._clients: dict[str, Any] = {}

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client_env(self) -> dict[str, str]:
        """What a child process's boto3 needs to reach this server (and only it)."""
        return {
            "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIAL,
            "AWS_SESSION_TOKEN": LOCAL_CREDENTIAL,
            "AWS_DEFAULT_REGION": LOCAL_REGION,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # A developer's ~/.aws files (profiles, per-service endpoints) must not steer it elsewhere.
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }

    def start(self) -> EmbeddedAws:
        if not self._started:
            self._server.start()
            self._started = True
        return self

    @overload
    def client(self, service: Literal["dynamodb"]) -> DynamoDBClient: ...
    @overload
    def client(self, service: Literal["s3"]) -> S3Client: ...
    @overload
    def client(self, service: str) -> BaseClient: ...
    def client(self, service: str) -> Any:
        """A boto3 client for `service` against this server (us-east-1, dummy credentials).

        Built once per service and shared (boto3 clients are thread-safe).
        """
        if service not in self._clients:
            self._clients[service] = self._session.client(  # type: ignore[call-overload]
                service, endpoint_url=self.endpoint_url
            )
        return self._clients[service]

    @property
    def template(self) -> dict[str, Any]:
        """The template the resources come from (read once)."""
        if self._template is None:
            self._template = load_template(self.template_path)
        return self._template

    def create_resources(self, prefix: str = "") -> dict[str, str]:
        """`create_local_resources` against this server (idempotent); returns the env mapping."""
        return create_local_resources(self.client("dynamodb"), self.client("s3"), prefix, self.template)

    def stop(self) -> None:
        if self._started:
            self._server.stop()
            self._started = False

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class _MotoServer:
    """moto's server app on a loopback port, in a thread, with `one_dynamodb_request_at_a_time`."""

    def __init__(self, host: str, port: int) -> None:
        from moto.moto_server.werkzeug_app import (  # heavy import, only when embedding
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        app = one_dynamodb_request_at_a_time(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
