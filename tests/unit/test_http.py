"""The HTTP glue every function shares: AI headers, tenant rules, the error contract, body limits."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.testclient import TestClient
from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field

from shared.engine import CallContext
from shared.errors import InvalidInput, error_body, error_response
from shared.http import (
    MAX_INVALID_FIELDS,
    JsonRoute,
    ai_json,
    install_error_handling,
    is_json,
    org_id_of,
    parse_json_body,
    read_json,
    request_id_of,
)
from tests.support.fakes import EngineKit, assessment_request, engine_kit


class LeadBody(BaseModel):
    lead: str = Field(min_length=1, max_length=200)
    org_id: str | None = None  # a client may send one; it must never name the tenant


def app_for(kit: EngineKit, env: Literal["local", "aws"] = "local", max_body_bytes: int = 10_000) -> FastAPI:
    app = FastAPI()
    install_error_handling(app, max_body_bytes=max_body_bytes)

    @app.post("/v1/assess")
    async def assess(body: LeadBody, request: Request) -> Any:
        ctx = CallContext(org_id_of(request, env), request_id_of(request), "analyze")
        return ai_json(await kit.engine.generate(ctx, assessment_request(body.lead)))

    @app.post("/v1/assess-raw")  # reads its own body, as routes with a size limit or a choice of forms do
    async def assess_raw(request: Request) -> Any:
        body = parse_json_body(LeadBody, await request.body())
        return {"lead": body.lead}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 in an internal message")

    return app


def test_ai_responses_carry_the_dominus_headers_and_a_repeat_is_a_hit() -> None:
    client = TestClient(app_for(engine_kit()))
    first = client.post("/v1/assess", json={"lead": "roof at 1 Main St"})
    second = client.post("/v1/assess", json={"lead": "roof at 1 Main St"})
    assert first.status_code == 200
    assert first.json()["score"] == 72
    assert first.headers["X-Dominus-Cache"] == "miss"
    assert second.headers["X-Dominus-Cache"] == "hit"
    assert first.headers["X-Dominus-Model"] == "gpt-4o"
    assert first.headers["X-Dominus-Mode"] == "auto"
    assert float(first.headers["X-Dominus-Cost-Usd"]) > 0
    assert float(second.headers["X-Dominus-Cost-Usd"]) == 0
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]


def test_locally_the_org_header_names_the_tenant_and_a_body_field_never_does() -> None:
    kit = engine_kit()
    client = TestClient(app_for(kit))
    client.post("/v1/assess", json={"lead": "x"}, headers={"X-Org-Id": "acme"})
    spoof = client.post("/v1/assess", json={"lead": "x", "org_id": "acme"}, headers={"X-Org-Id": "globex"})
    assert spoof.headers["X-Dominus-Cache"] == "miss"
    assert {r.org_id for r in kit.records()} == {"acme", "globex"}


def api_gateway_event(
    body: dict[str, Any], authorizer: dict[str, Any] | None, headers: dict[str, str]
) -> dict[str, Any]:
    return {
        "resource": "/v1/assess",
        "path": "/v1/assess",
        "httpMethod": "POST",
        "headers": {"content-type": "application/json", **headers},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/v1/assess",
            "httpMethod": "POST",
            "path": "/dev/v1/assess",
            "stage": "dev",
            "requestId": "apigw-request-0001",
            "identity": {"sourceIp": "203.0.113.9"},
            **({"authorizer": authorizer} if authorizer is not None else {}),
        },
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }


class LambdaContext:
    function_name = "analyze"
    aws_request_id = "lambda-0001"


CONTEXT: Any = LambdaContext()  # Mangum reads no more of it than these


def test_in_aws_only_the_authorizer_claims_name_the_tenant() -> None:
    kit = engine_kit()
    handler = Mangum(app_for(kit, env="aws"), lifespan="off")
    event = api_gateway_event({"lead": "x", "org_id": "globex"}, {"org_id": "acme"}, {"X-Org-Id": "globex"})
    reply = handler(event, CONTEXT)
    assert reply["statusCode"] == 200
    assert reply["headers"]["x-request-id"] == "apigw-request-0001"  # API Gateway's own id
    assert [r.org_id for r in kit.records()] == ["acme"]

    unauthenticated = handler(api_gateway_event({"lead": "x"}, None, {"X-Org-Id": "globex"}), CONTEXT)
    assert unauthenticated["statusCode"] == 401
    assert json.loads(unauthenticated["body"])["error"]["code"] == "unauthorized"


def test_bad_input_gets_422_with_the_fields_to_fix() -> None:
    reply = TestClient(app_for(engine_kit())).post("/v1/assess", json={"lead": ""})
    assert reply.status_code == 422
    error = reply.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["details"][0]["field"] == "lead"
    assert "lead" in error["message"]
    assert error["request_id"] == reply.headers["X-Request-Id"]


def test_a_body_parsed_by_the_route_gets_the_same_422_as_one_fastapi_parsed() -> None:
    client = TestClient(app_for(engine_kit()))
    for body in ({"lead": ""}, {}, {"lead": 5}):
        declared = client.post("/v1/assess", json=body)
        raw = client.post("/v1/assess-raw", json=body)
        assert raw.status_code == declared.status_code == 422
        mine, fastapis = raw.json()["error"], declared.json()["error"]
        assert mine.pop("request_id") == raw.headers["X-Request-Id"]
        fastapis.pop("request_id")
        assert mine == fastapis


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("", max_length=20)
    count: int = 0
    ratio: float = Field(0.0, allow_inf_nan=False)


def _invalid(raw: bytes) -> dict[str, Any]:
    with pytest.raises(InvalidInput) as caught:
        parse_json_body(Strict, raw)
    assert caught.value.status == 422
    error: dict[str, Any] = error_body(caught.value.code, caught.value.message, "req-1", caught.value.details)["error"]
    json.dumps(error, allow_nan=False)  # encodable as strict JSON, whatever the body held
    return error


@pytest.mark.parametrize("raw", [b"not json", b"\xff\xfe\x00binary", b"", b'{"name": "unterminated'])
def test_a_body_that_is_not_json_is_invalid_input(raw: bytes) -> None:
    error = _invalid(raw)
    assert error["code"] == "invalid_input"
    assert [f["field"] for f in error["details"]] == ["body"]
    assert error["message"].startswith("The request is not valid: body: Invalid JSON")


def test_the_error_names_fields_and_never_echoes_what_they_held() -> None:
    # A 1 MB value and a 1 MB unknown key
    huge = "x" * 1_000_000
    error = _invalid(json.dumps({"name": huge, huge: 1, "ratio": 0.5}).encode())
    assert len(json.dumps(error)) < 2_000
    assert "xxxxxxxxxx" * 20 not in json.dumps(error)
    fields = {f["field"][:10]: f["message"] for f in error["details"]}
    assert set(fields) == {"name", "x" * 10}
    assert "20 characters" in fields["name"]


def test_a_body_with_countless_errors_lists_a_bounded_number() -> None:
    raw = json.dumps({f"extra_{i}": i for i in range(5_000)}).encode()
    error = _invalid(raw)
    assert len(error["details"]) == MAX_INVALID_FIELDS
    assert len(error["message"]) < 500


def test_an_oversized_body_gets_413_declared_or_streamed() -> None:
    client = TestClient(app_for(engine_kit(), max_body_bytes=100))
    declared = client.post("/v1/assess", json={"lead": "x" * 150})
    assert declared.status_code == 413
    assert "100-byte limit" in declared.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit still holds while streaming
        yield b'{"lead": "'
        yield b"x" * 150
        yield b'"}'

    streamed = client.post("/v1/assess", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413


def test_an_internal_error_is_a_generic_500_without_internals() -> None:
    reply = TestClient(app_for(engine_kit()), raise_server_exceptions=False).get("/boom")
    assert reply.status_code == 500
    assert reply.json()["error"]["code"] == "internal_error"
    assert "hunter2" not in reply.text
    assert "Traceback" not in reply.text


def test_unknown_routes_use_the_error_shape_too() -> None:
    reply = TestClient(app_for(engine_kit())).get("/nope")
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "not_found"


def test_a_method_the_path_does_not_take_is_405_with_allow() -> None:
    app = FastAPI()
    install_error_handling(app)

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        return {}

    reply = TestClient(app).delete("/thing")
    assert reply.status_code == 405
    assert reply.headers["allow"] == "GET"
    assert reply.json()["error"]["code"] == "method_not_allowed"


# ---- strict JSON bodies ---------------------------------------------------------------------------


class Measured(BaseModel):
    """Numbers without bounds: FastAPI alone would take NaN or an infinity for them."""

    model_config = ConfigDict(extra="forbid")

    squares: float | None = None
    count: int | None = None
    tags: list[str] = []


def strict_app(env: Literal["local", "aws"] = "local") -> FastAPI:
    app = FastAPI()
    install_error_handling(app)
    router = APIRouter(route_class=JsonRoute)

    @router.post("/measure")
    async def measure(body: Measured, request: Request) -> dict[str, Any]:
        return {"org": org_id_of(request, env), **body.model_dump()}

    @router.get("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"org": org_id_of(request, env), "request_id": request_id_of(request)}

    app.include_router(router)
    return app


UNFAITHFUL_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1" + "0" * 30, "1" + "0" * 5_000]


@pytest.mark.parametrize("number", UNFAITHFUL_NUMBERS, ids=lambda n: n[:12])
def test_a_number_json_cannot_carry_is_a_422_naming_its_field(number: str) -> None:
    client = TestClient(strict_app())
    for field, raw in [
        ("squares", f'{{"squares": {number}}}'),
        ("count", f'{{"count": {number}}}'),
        ("tags.1", f'{{"tags": ["a", {number}]}}'),
        ("body", number),
    ]:
        reply = client.post("/measure", content=raw.encode(), headers={"content-type": "application/json"})
        assert reply.status_code == 422, (field, reply.text)
        assert [d["field"] for d in reply.json()["error"]["details"]] == [field]
        assert len(reply.content) < 1_000
        with pytest.raises(InvalidInput):
            read_json(raw.encode())


def test_a_body_fastapi_could_not_decode_is_the_same_422_as_any_invalid_json() -> None:
    client = TestClient(strict_app())
    for raw in (b'{"tags": ["\xff\xfe"]}', b"\xef\xbb\xbf{}", b"[" * 30_000 + b"]" * 30_000, b"{"):
        reply = client.post("/measure", content=raw, headers={"content-type": "application/json"})
        assert reply.status_code == 422, reply.text  # FastAPI alone: 400 "There was an error parsing the body"
        error = reply.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["message"].startswith("The request is not valid: body: Invalid JSON")


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_a_json_route_refuses_a_body_of_another_media_type_with_415(content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    reply = TestClient(strict_app()).post("/measure", content=b'{"count": 1}', headers=headers)
    assert reply.status_code == 415, reply.text
    assert "application/json" in reply.json()["error"]["message"]


def test_json_media_types_with_parameters_or_a_suffix_are_json() -> None:
    client = TestClient(strict_app())
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json", "Application/JSON"):
        reply = client.post("/measure", content=b'{"count": 1}', headers={"content-type": content_type})
        assert reply.status_code == 200, (content_type, reply.text)
    assert not is_json("application/jsonp") and not is_json("text/json")


def test_well_formed_numbers_pass_unchanged() -> None:
    document = read_json(b'{"a": -9223372036854775807, "b": 1.5e300, "c": -0.0, "d": 1e-999, "e": [0, 12]}')
    assert document == {"a": -(2**63) + 1, "b": 1.5e300, "c": 0.0, "d": 0.0, "e": [0, 12]}


# ---- bounded error bodies -------------------------------------------------------------------------


def test_an_error_body_is_small_strict_json_whatever_its_details_hold() -> None:
    huge = "y" * 1_000_000
    details = {
        "bytes": b"\xff" * 1_000,
        "nan": float("nan"),
        "infinite": [float("inf"), -float("inf")],
        "big": 10**5_000,
        "text": "\x00" * 10_000,
        huge: [huge] * 1_000,
        "deep": [[[[[["z" * 10_000]]]]]],
    }
    exc = InvalidInput("x" * 1_000_000, details=details)
    status, body = error_response(exc, "req-12345678")
    encoded = json.dumps(body, allow_nan=False)  # what Starlette's JSONResponse does: no NaN, no bytes
    assert status == 422
    assert len(encoded.encode()) < 5_000
    assert "yyyyyyyyyy" * 30 not in encoded and "\\u0000" not in encoded
    assert body["error"]["details"]["nan"] is None and body["error"]["details"]["bytes"] == "bytes"


def test_a_route_raising_with_unencodable_details_still_answers_its_status() -> None:
    app = FastAPI()
    install_error_handling(app)

    @app.get("/odd")
    async def odd() -> None:
        raise InvalidInput("bad", details={"value": float("inf"), "raw": b"\x00\xff"})

    reply = TestClient(app).get("/odd")
    assert reply.status_code == 422
    assert reply.json()["error"]["details"] == {"value": None, "raw": "bytes"}


# ---- the tenant in the streaming deployment (Lambda Web Adapter) ----------------------------------


def lwa_context(authorizer: dict[str, Any] | None = None) -> str:
    """The `x-amzn-request-context` header as Lambda Web Adapter writes it for a REST API event: the
    event's requestContext serialised (lambda_http's ApiGatewayProxyRequestContext, whose authorizer
    map carries the TOKEN authorizer's context fields beside principalId and integrationLatency)."""
    context = {
        "accountId": "123456789012",
        "resourceId": "abc123",
        "stage": "dev",
        "requestId": "apigw-stream-0001",
        "resourcePath": "/v1/analyze/stream",
        "httpMethod": "POST",
        "apiId": "a1b2c3",
        "identity": {"sourceIp": "203.0.113.9", "userAgent": "curl/8"},
        "authorizer": authorizer if authorizer is not None else {"principalId": "user-1", "org_id": "acme"},
    }
    return json.dumps(context)


LWA = "x-amzn-request-context"


def who(headers: list[tuple[str, str]]) -> Any:
    return TestClient(strict_app(env="aws")).get("/who", headers=headers)


def test_the_streaming_deployment_takes_the_org_from_lambda_web_adapters_header() -> None:
    reply = who([("x-amzn-request-context", lwa_context()), ("x-org-id", "globex")])
    assert reply.status_code == 200
    assert reply.json() == {"org": "acme", "request_id": "apigw-stream-0001"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        # LWA replaces a header of that name the client sent (HeaderMap::insert); two of them mean
        # something else sits in between: refused, never a guess at which one is genuine
        (
            [("x-amzn-request-context", lwa_context({"org_id": "globex"})), ("x-amzn-request-context", lwa_context())],
            400,
        ),
        ([], 401),
        ([("x-amzn-request-context", "not json")], 401),
        ([("x-amzn-request-context", "[1, 2]")], 401),
        ([("x-amzn-request-context", '{"authorizer": {"org_id": "acme", "org_id": "globex"}}')], 401),
        ([("x-amzn-request-context", '{"authorizer": {"org_id": "acme"}, "authorizer": {"org_id": "globex"}}')], 401),
        ([("x-amzn-request-context", "[" * 5_000 + "]" * 5_000)], 401),
        ([("x-amzn-request-context", lwa_context({"principalId": "user-1"}))], 401),
        ([("x-amzn-request-context", lwa_context({"org_id": ["acme"]}))], 401),
        ([("x-amzn-request-context", lwa_context({"org_id": "a:b"}))], 400),
        # only the authorizer's fields name the org: not the context's top level, not the identity
        ([("x-amzn-request-context", json.dumps({"org_id": "acme", "identity": {"org_id": "acme"}}))], 401),
        # a look-alike name is another header (no underscore-to-dash folding here)
        ([("x_amzn_request_context", lwa_context())], 401),
    ],
)
def test_an_ambiguous_or_unparseable_context_is_refused(headers: list[tuple[str, str]], status: int) -> None:
    reply = who(headers)
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == {400: "bad_request", 401: "unauthorized"}[status]


def test_a_lambda_event_that_also_carries_the_adapters_header_is_refused() -> None:
    # Mangum hands us the event; API Gateway passes client headers through, so on this path the
    # header can only be the client's.
    kit = engine_kit()
    handler = Mangum(app_for(kit, env="aws"), lifespan="off")
    forged = lwa_context({"org_id": "globex"})
    event = api_gateway_event({"lead": "x"}, {"org_id": "acme"}, {"x-amzn-request-context": forged})
    reply = handler(event, CONTEXT)
    assert reply["statusCode"] == 400
    assert json.loads(reply["body"])["error"]["code"] == "bad_request"
    assert kit.records() == []
