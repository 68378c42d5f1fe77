"""HTTP glue every function's FastAPI app shares: tenant, request id, JSON bodies, body limit, errors,
AI headers.

Tenant rule: in AWS the org id comes only from the authorizer's context. The buffered deployment reads
it from the Lambda event Mangum hands us; the streaming one from the `x-amzn-request-context` header
Lambda Web Adapter adds. LWA builds that header from the event itself and replaces any header of that
name the client sent: `Adapter::fetch_response` in awslabs/aws-lambda-web-adapter src/lib.rs (v0.9.1,
commit 003bbe20, lines 341 and 356-362: `req_headers.insert(...)`, and `http::HeaderMap::insert`
removes every earlier value of the name; lines 385-388 copy the map into an empty request). We do not
rely on that alone: a request whose context is ambiguous (the header twice, a header beside a Lambda
event, JSON that does not parse or repeats a key) is refused, and only the authorizer's `org_id` is
read (docs/DEPLOY.md, "Who the caller is"). Locally the `X-Org-Id` header names the org. A body
field never does.

JSON bodies are read strictly (`read_json`): UTF-8, and numbers JSON can carry faithfully; NaN,
Infinity, 1e999 or a 30-digit integer is a 422 that names the field, as a field of the wrong type is.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from email.message import Message as MediaType
from typing import Any, Literal, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.cache_keys import check_org_id
from shared.errors import (
    BadRequest,
    DominusError,
    InvalidInput,
    Unauthorized,
    UnsupportedMediaType,
    error_body,
    error_response,
)
from shared.requests import AIResult

logger = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)

ORG_HEADER = "x-org-id"
LOCAL_DEFAULT_ORG = "demo"
USER_HEADER = "x-user-id"
LOCAL_USER = "local-user"
PLATFORM_CONTEXT_HEADER = "x-amzn-request-context"  # Lambda Web Adapter's copy of the event's context
NO_ORG = "No org in the caller's credentials."
DEFAULT_MAX_BODY_BYTES = 1_000_000
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{8,128}$")
# An invalid body is answered with its fields and messages, bounded: never the values it held.
MAX_INVALID_FIELDS = 10
MAX_FIELD_CHARS = 100
MAX_MESSAGE_CHARS = 200
_SUMMARISED_FIELDS = 3
_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed"}
# What any route may answer whatever it does: a malformed org id (400, locally), no org in the
# credentials (401, in AWS), a body over the limit (413; the limit applies to every request).
ROUTE_ERRORS = (400, 401, 413)
# And a route that reads a JSON body: not JSON (415), not valid (422).
JSON_BODY_ERRORS = (415, 422)


# ---- the tenant and the request id ----------------------------------------------------------------


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("a key is repeated")
    return dict(pairs)


def _platform_context(request: Request) -> dict[str, Any]:
    """The API Gateway request context, strictly: the Lambda event's (Mangum), else the one
    `x-amzn-request-context` header Lambda Web Adapter set. 400 or 401 when it is missing or
    ambiguous; never a guess."""
    forwarded = request.headers.getlist(PLATFORM_CONTEXT_HEADER)
    event = request.scope.get("aws.event")
    if isinstance(event, dict):
        if forwarded:  # no platform sets this header on a Lambda event: the client did
            raise BadRequest(f"The `{PLATFORM_CONTEXT_HEADER}` header is the platform's; do not send it.")
        context = event.get("requestContext")
        if not isinstance(context, dict):
            raise Unauthorized(NO_ORG)
        return context
    if len(forwarded) > 1:
        raise BadRequest(f"The request carries {len(forwarded)} `{PLATFORM_CONTEXT_HEADER}` headers; it may carry one.")
    if not forwarded:
        raise Unauthorized(NO_ORG)
    try:
        parsed = json.loads(forwarded[0], object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):
        raise Unauthorized(NO_ORG) from None
    if not isinstance(parsed, dict):
        raise Unauthorized(NO_ORG)
    return parsed


def request_id_of(request: Request) -> str:
    """API Gateway's request id when there is one, else the caller's `X-Request-Id` when it looks like
    an id, else a new one; the same for the whole request."""
    cached = getattr(request.state, "request_id", None)
    if isinstance(cached, str):
        return cached
    try:
        candidate = _platform_context(request).get("requestId")
    except DominusError:  # no context (locally) or a refused one: the refusal still needs an id
        candidate = None
    if not isinstance(candidate, str):
        candidate = request.headers.get("x-request-id") or ""
    request_id = candidate if _REQUEST_ID.match(candidate) else uuid.uuid4().hex
    request.state.request_id = request_id
    return request_id


def org_id_of(request: Request, env: Literal["local", "aws"]) -> str:
    if env == "aws":
        authorizer = _platform_context(request).get("authorizer")
        org_id = authorizer.get("org_id") if isinstance(authorizer, dict) else None
        if not isinstance(org_id, str) or not org_id:
            raise Unauthorized(NO_ORG)
        return check_org_id(org_id)
    return check_org_id(request.headers.get(ORG_HEADER) or LOCAL_DEFAULT_ORG)


def user_of(request: Request, env: Literal["local", "aws"]) -> str:
    """Who is calling, for a record a person's act leaves (a reviewer's verdict): the token's subject
    in AWS; locally the `X-User-Id` header, else "local-user"."""
    if env == "aws":
        authorizer = _platform_context(request).get("authorizer")
        sub = authorizer.get("sub") if isinstance(authorizer, dict) else None
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("No subject in the caller's credentials.")
        return sub[:128]
    return (request.headers.get(USER_HEADER) or LOCAL_USER)[:128]


def ai_json(result: AIResult[Any]) -> JSONResponse:
    """A structured AI result with the X-Dominus-* headers."""
    return JSONResponse(result.value.model_dump(mode="json"), headers=result.meta.headers())


# ---- JSON bodies ----------------------------------------------------------------------------------


def invalid_fields(errors: Iterable[Mapping[str, Any]], *, skip: int = 0) -> list[dict[str, str]]:
    """`[{"field", "message"}]` of pydantic's errors: where and what, never the input (a key or a value
    may be megabytes, bytes or an infinity). `skip`: leading location parts to drop (FastAPI's `body`)."""
    fields = []
    for error in list(errors)[:MAX_INVALID_FIELDS]:
        fields.append({"field": _field_name(tuple(error["loc"][skip:])), "message": str(error["msg"])})
    return fields


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def invalid_input(fields: list[dict[str, str]]) -> InvalidInput:
    """The one 422 `invalid_input` of a request that does not validate, however it was parsed."""
    bounded = [
        {"field": f["field"][:MAX_FIELD_CHARS], "message": f["message"][:MAX_MESSAGE_CHARS]}
        for f in fields[:MAX_INVALID_FIELDS]
    ]
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in bounded[:_SUMMARISED_FIELDS])
    return InvalidInput(f"The request is not valid: {summary}", details=bounded)


class _Unfaithful:
    """A JSON number that cannot be carried faithfully, in place while the document is parsed."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


_NOT_FINITE = _Unfaithful("must be a finite number (NaN and Infinity are not JSON numbers)")
_TOO_LARGE = _Unfaithful("is too large a number: beyond ±1.7e308")
_OUT_OF_RANGE = _Unfaithful("is out of range: integers must be within ±9.2e18 (64 bits)")
_LARGEST_INT = 2**63


def _float(text: str) -> float | _Unfaithful:
    value = float(text)
    return value if math.isfinite(value) else _TOO_LARGE


def _int(text: str) -> int | _Unfaithful:
    if len(text) > 20:  # checked before converting: Python refuses integers of 4,300 digits or more
        return _OUT_OF_RANGE
    value = int(text)
    return value if -_LARGEST_INT < value < _LARGEST_INT else _OUT_OF_RANGE


def _unfaithful_numbers(document: Any) -> list[dict[str, str]]:
    """Where the document holds a number JSON cannot carry, as `invalid_input` fields."""
    found: list[dict[str, str]] = []
    pending: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while pending and len(found) < MAX_INVALID_FIELDS:
        node, loc = pending.pop()
        if isinstance(node, _Unfaithful):
            found.append({"field": _field_name(loc)[:MAX_FIELD_CHARS], "message": node.why})
        elif isinstance(node, dict):
            pending += [(value, (*loc, key)) for key, value in reversed(node.items())]
        elif isinstance(node, list):
            pending += [(value, (*loc, i)) for i, value in reversed(list(enumerate(node)))]
    return found


def read_json(raw: bytes) -> Any:
    """A JSON body, strictly: UTF-8, and only numbers a JSON reader anywhere reads the same (finite,
    integers within 64 bits); else the 422 `invalid_input` naming where."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_input([{"field": "body", "message": f"Invalid JSON: not UTF-8 (byte {exc.start})"}]) from None
    try:
        document = json.loads(text, parse_constant=lambda _name: _NOT_FINITE, parse_float=_float, parse_int=_int)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise invalid_input([{"field": "body", "message": f"Invalid JSON: {exc.msg} at {where}"}]) from None
    except RecursionError:
        raise invalid_input([{"field": "body", "message": "Invalid JSON: nested too deeply"}]) from None
    unfaithful = _unfaithful_numbers(document)
    if unfaithful:
        raise invalid_input(unfaithful)
    return document


def is_json(content_type: str | None) -> bool:
    """`application/json` or `application/<something>+json`, whatever its parameters."""
    if not content_type:
        return False
    media = MediaType()
    media["content-type"] = content_type
    subtype = media.get_content_subtype()
    return media.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def require_json(content_type: str | None) -> None:
    """415 unless the body is declared JSON."""
    if not is_json(content_type):
        raise UnsupportedMediaType("Send the body as JSON, with `Content-Type: application/json`.")


def parse_json_body(model: type[M], raw: bytes) -> M:
    """A raw JSON body as `model`, or the 422 FastAPI's own validation gives (for routes that read
    their body themselves: a size limit first, or a choice between JSON and multipart)."""
    document = read_json(raw)
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise invalid_input(invalid_fields(exc.errors(include_url=False, include_input=False))) from None


class JsonRoute(APIRoute):
    """A route whose JSON body FastAPI validates is read as `read_json` reads it first: a body that is
    not declared JSON is 415, one that does not parse or holds a number JSON cannot carry is 422 (by
    itself FastAPI would answer 400 "There was an error parsing the body", or take NaN for a number).
    Every router of a deployed app uses it (`APIRouter(route_class=JsonRoute)`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            raw = await request.body()  # kept by the request: FastAPI reads the same bytes next
            if raw:
                require_json(request.headers.get("content-type"))
                read_json(raw)
            return await handler(request)

        return strict


# ---- the body limit and the error contract --------------------------------------------------------


class BodyLimit:
    """413 for a body over the limit, whether it declares its length or streams it (API Gateway's own
    limit is 10 MB; ours is smaller and says so)."""

    def __init__(self, app: ASGIApp, max_bytes: int | Callable[[Scope], int]) -> None:
        self.app = app
        self.limit_for: Callable[[Scope], int] = max_bytes if callable(max_bytes) else (lambda _scope: max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) > limit:
                await self._reject(send, limit)
                return
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): read up to the limit here, then replay the body to the app.
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # a disconnect: let the app see it
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > limit:
                await self._reject(send, limit)
                return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send, limit: int) -> None:
        request_id = uuid.uuid4().hex
        message = f"The request body is larger than the {limit:,}-byte limit."
        body = json.dumps(error_body("payload_too_large", message, request_id)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"x-request-id", request_id.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install_error_handling(
    app: FastAPI, *, max_body_bytes: int | Callable[[Scope], int] = DEFAULT_MAX_BODY_BYTES
) -> None:
    """Every error leaves as the contract's JSON shape with the right status; never a stack trace."""

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        request_id = request_id_of(request)
        status, body = error_response(exc, request_id)
        if status >= 500:
            logger.error("request failed: %s", type(exc).__name__, exc_info=status == 500)
        return JSONResponse(body, status_code=status, headers={"X-Request-Id": request_id})

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        invalid = invalid_input(invalid_fields(exc.errors(), skip=1))  # skip FastAPI's `body` or `query`
        return await on_error(request, invalid)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        request_id = request_id_of(request)
        code = _STATUS_CODES.get(exc.status_code, "http_error")
        body = error_body(code, str(exc.detail), request_id)  # bounded there, as every message is
        # Starlette's own headers stay (a 405's `Allow` says which methods the path takes).
        headers = {**(exc.headers or {}), "X-Request-Id": request_id}
        return JSONResponse(body, status_code=exc.status_code, headers=headers)

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(DominusError, on_error)  # handled in place
    app.add_exception_handler(Exception, on_error)  # last resort: a generic 500, logged
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
