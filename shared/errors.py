"""Domain errors and the one place that maps them to HTTP.

Code raises a class, never an HTTP status; `error_response` turns any exception into the contract's
JSON shape `{"error": {"code", "message", "request_id"}}`. Unknown exceptions become a generic 500:
their text may hold internals, so it is logged by the caller, never returned.
"""

from __future__ import annotations

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


def error_body(code: str, message: str, request_id: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        error["details"] = details
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
