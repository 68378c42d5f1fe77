"""Domain errors and the one place that maps them to HTTP.

Code raises a class, never an HTTP status; `error_response` turns any exception into the contract's
JSON shape `{"error": {"code", "message", "request_id"}}`. Unknown exceptions become a generic 500:
their text may hold internals, so it is logged by the caller, never returned.

Every error body is small and strict JSON whatever the input was: `error_body` bounds the message and
the details (strings cut short, control characters replaced, a total budget; bytes, NaN and numbers
JSON cannot carry never reach the encoder). A message that quotes input can therefore never echo more
than a short excerpt of it.
"""

from __future__ import annotations

import math
import re
from http import HTTPStatus
from typing import Any, ClassVar

from pydantic import BaseModel, Field


class DominusError(Exception):
    """Base of every error a client may see. `code` is stable; `message` says what to fix."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may refine its class's code
        self.details = details


class BadRequest(DominusError):
    status, code = 400, "bad_request"


class Unauthorized(DominusError):
    status, code = 401, "unauthorized"


class Forbidden(DominusError):
    status, code = 403, "forbidden"


class InsufficientBalance(Forbidden):
    code = "insufficient_balance"


class NotFound(DominusError):
    status, code = 404, "not_found"


class Conflict(DominusError):
    """The request clashes with the state of what it names (a job that has not finished, say)."""

    status, code = 409, "conflict"


class PayloadTooLarge(DominusError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(DominusError):
    status, code = 415, "unsupported_media_type"


class InvalidInput(DominusError):
    status, code = 422, "invalid_input"


class ModelRefused(DominusError):
    """The model declined to answer; nothing is cached."""

    status, code = 422, "model_refused"


class UpstreamError(DominusError):
    """The model answered, but not with something we can use (rejected request, invalid output)."""

    status, code = 502, "upstream_error"


class UpstreamUnavailable(DominusError):
    """The model could not be reached or kept failing within the retry budget."""

    status, code = 503, "upstream_unavailable"


class ServiceNotConfigured(DominusError):
    status, code = 503, "not_configured"


class UpstreamTimeout(DominusError):
    status, code = 504, "upstream_timeout"


MAX_MESSAGE_CHARS = 500
MAX_DETAIL_CHARS = 200  # each string in `details`
DETAILS_BUDGET = 3_000  # characters in all of `details`: past it, items are left off
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LARGEST_INT = 2**63


def _text(value: str, limit: int) -> str:
    """At most `limit` characters, control characters replaced (JSON would escape each as six)."""
    cut = value if len(value) <= limit else value[: limit - 1] + "…"
    return _CONTROL.sub("\ufffd", cut)


class _Budget:
    """Details made strict JSON within a number of characters: items past the budget are left off."""

    def __init__(self, chars: int) -> None:
        self.left = chars

    def bounded(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return value if -_LARGEST_INT < value < _LARGEST_INT else "out of range"
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, str):
            return self._charge(_text(value, MAX_DETAIL_CHARS))
        if depth >= 3 or isinstance(value, bytes | bytearray | memoryview):
            return self._charge(type(value).__name__)
        if isinstance(value, dict):
            pairs = ((self.bounded(str(k)), self.bounded(v, depth + 1)) for k, v in value.items())
            return dict(self._within(pairs))
        if isinstance(value, list | tuple):
            return list(self._within(self.bounded(v, depth + 1) for v in value))
        return self._charge(_text(str(value), MAX_DETAIL_CHARS))

    def _charge(self, text: str) -> str:
        self.left -= len(text) + 2
        return text

    def _within(self, items: Any) -> Any:
        for item in items:
            if self.left < 0:
                return
            yield item


def bounded_details(details: Any) -> Any:
    """`details` as strict JSON of at most about `DETAILS_BUDGET` characters."""
    return _Budget(DETAILS_BUDGET).bounded(details)


def error_body(code: str, message: str, request_id: str, details: Any = None) -> dict[str, Any]:
    """The contract's error JSON; message and details bounded (see the module's docstring)."""
    error: dict[str, Any] = {"code": code, "message": _text(message, MAX_MESSAGE_CHARS), "request_id": request_id}
    if details is not None:
        error["details"] = bounded_details(details)
    return {"error": error}


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, for programs: e.g. invalid_input, payload_too_large")
    message: str = Field(description="for people: what to fix")
    request_id: str
    details: Any = Field(None, description="when there is more to say: e.g. each invalid field and why")


class ErrorEnvelope(BaseModel):
    """`error_body`'s shape, for the OpenAPI document."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=` for the errors it returns, each with the error envelope's schema."""
    return {status: {"model": ErrorEnvelope, "description": HTTPStatus(status).phrase} for status in statuses}


def error_response(exc: BaseException, request_id: str) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for any exception; the only mapping from errors to HTTP."""
    if isinstance(exc, DominusError):
        return exc.status, error_body(exc.code, exc.message, request_id, exc.details)
    return 500, error_body("internal_error", "An internal error occurred; it has been logged.", request_id)
