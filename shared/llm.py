"""Chat Completions calls with structured outputs, streaming, a retry budget and one error mapping.

`openai` is imported on the first real upstream call, not at import time: a cold start that is
answered from the cache never pays for it. The SDK's own defaults (600 s timeout, 2 blind retries)
would outlive API Gateway's 29 s, so the SDK does not retry and this module spends one budget:
attempts are bounded, backoff honours Retry-After, and nothing is retried once a stream has started.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from shared.catalog import Usage
from shared.errors import (
    DominusError,
    ServiceNotConfigured,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ModelCall:
    model: str
    messages: list[dict[str, Any]]
    schema_name: str
    schema: dict[str, Any]
    temperature: float
    max_output_tokens: int


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    refusal: str | None
    finish_reason: str | None
    usage: Usage


class ChatModel(Protocol):
    simulated: bool

    async def complete(self, call: ModelCall) -> Completion: ...

    def stream(self, call: ModelCall) -> AsyncIterator[str | Completion]:
        """Text deltas as they arrive, then one `Completion` with the whole content and usage."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    budget_s: float = 25.0
    attempt_timeout_s: float = 12.0
    connect_timeout_s: float = 3.0
    max_attempts: int = 3
    base_backoff_s: float = 0.25
    max_backoff_s: float = 2.0

    def backoff_s(self, attempt: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return min(retry_after_s, self.max_backoff_s * 4)
        ceiling: float = min(self.max_backoff_s, self.base_backoff_s * 2 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    error: DominusError
    retryable: bool
    retry_after_s: float | None = None


def classify(exc: BaseException) -> UpstreamFailure:
    """Every upstream failure as a domain error; the only place that knows the SDK's error classes."""
    import openai

    if isinstance(exc, (TimeoutError, openai.APITimeoutError)):
        return UpstreamFailure(UpstreamTimeout("The model did not answer in time; try again."), True)
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamFailure(UpstreamUnavailable("The model service could not be reached."), True)
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        message = "The model service rejected the API key; check OPENAI_API_KEY."
        return UpstreamFailure(ServiceNotConfigured(message, code="upstream_auth_failed"), False)
    if isinstance(exc, openai.RateLimitError):
        body = exc.body if isinstance(exc.body, dict) else {}
        if body.get("code") == "insufficient_quota":
            return UpstreamFailure(
                UpstreamUnavailable("The model account is out of quota.", code="upstream_quota"), False
            )
        error = UpstreamUnavailable(
            "The model service is rate limiting; try again shortly.", code="upstream_rate_limited"
        )
        return UpstreamFailure(error, True, _retry_after_s(exc.response.headers))
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            message = f"The model service failed ({exc.status_code}); try again."
            return UpstreamFailure(UpstreamUnavailable(message), True, _retry_after_s(exc.response.headers))
        return UpstreamFailure(
            UpstreamError(f"The model service rejected the request ({exc.status_code}).", code="upstream_rejected"),
            False,
        )
    if isinstance(exc, DominusError):
        return UpstreamFailure(exc, False)
    return UpstreamFailure(UpstreamError(f"Unexpected failure calling the model: {type(exc).__name__}"), False)


async def retrying(
    attempt: Callable[[float], AsyncGenerator[T]],
    policy: RetryPolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncIterator[T]:
    """What `attempt(seconds)` yields; a retryable failure is attempted again while the budget lasts,
    unless something already reached the caller (a retry would repeat it)."""
    deadline = clock() + policy.budget_s
    for number in itertools.count(1):
        seconds, delivered = min(policy.attempt_timeout_s, deadline - clock()), False
        try:
            async with contextlib.aclosing(attempt(seconds)) as items:
                async for item in items:
                    delivered = True
                    yield item
            return
        except Exception as exc:
            failure = classify(exc)
            pause = policy.backoff_s(number, failure.retry_after_s)
            out_of_budget = clock() + pause >= deadline - 0.05
            if delivered or not failure.retryable or number >= policy.max_attempts or out_of_budget:
                raise failure.error from exc
            await sleep(pause)


def _retry_after_s(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue
    return None


class OpenAIChatModel:
    """Any OpenAI-compatible server (OPENAI_BASE_URL), through the official SDK."""

    def __init__(
        self,
        *,
        api_key: Callable[[], str | None],
        base_url: str | None,
        policy: RetryPolicy,
        simulated: bool = False,
    ) -> None:
        self.simulated = simulated
        self._api_key = api_key  # resolved on the first upstream call: a cache hit never reads the secret
        self._base_url = base_url
        self._policy = policy
        self._client: Any = None

    async def _sdk(self) -> Any:
        if self._client is None:
            # The first import takes about a second and the key may be a Secrets Manager read: both
            # happen off the event loop, which meanwhile keeps serving requests and renewing leases.
            api_key = await asyncio.to_thread(self._api_key)
            if not api_key and not self._base_url:
                raise ServiceNotConfigured(
                    "OPENAI_API_KEY is not set: set it, or OPENAI_BASE_URL for a compatible server."
                )
            openai = await asyncio.to_thread(importlib.import_module, "openai")
            # Concurrent first calls all get here; the first to resume makes the one client (no await
            # between this check and the assignment), so no other client is left unclosed.
            if self._client is None:
                self._client = openai.AsyncOpenAI(
                    api_key=api_key or "unused-by-this-server",
                    base_url=self._base_url,
                    max_retries=0,
                    timeout=openai.Timeout(self._policy.attempt_timeout_s, connect=self._policy.connect_timeout_s),
                )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _arguments(self, call: ModelCall) -> dict[str, Any]:
        return {
            "model": call.model,
            "messages": call.messages,
            "temperature": call.temperature,
            "max_completion_tokens": call.max_output_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": call.schema_name, "schema": call.schema, "strict": True},
            },
        }

    async def complete(self, call: ModelCall) -> Completion:
        client = await self._sdk()

        async def attempt(seconds: float) -> AsyncGenerator[Completion]:
            async with asyncio.timeout(seconds):
                response = await client.chat.completions.create(**self._arguments(call), timeout=seconds)
            yield _completion(response)

        (completion,) = [item async for item in retrying(attempt, self._policy)]
        return completion

    async def stream(self, call: ModelCall) -> AsyncIterator[str | Completion]:
        client = await self._sdk()

        async def attempt(seconds: float) -> AsyncGenerator[str | Completion]:
            async with asyncio.timeout(seconds) as first_chunk_deadline:
                chunks = await client.chat.completions.create(
                    **self._arguments(call), stream=True, stream_options={"include_usage": True}, timeout=seconds
                )
                parts: list[str] = []
                usage, finish, refusal = Usage(), None, None
                async for chunk in chunks:
                    first_chunk_deadline.reschedule(None)  # from here on, the gap is httpx's read timeout
                    if chunk.usage is not None:
                        usage = _usage(chunk.usage)
                    for choice in chunk.choices:
                        finish = choice.finish_reason or finish
                        refusal = (refusal or "") + choice.delta.refusal if choice.delta.refusal else refusal
                        if choice.delta.content:
                            parts.append(choice.delta.content)
                            yield choice.delta.content
            yield Completion("".join(parts), refusal, finish, usage)

        async for item in retrying(attempt, self._policy):
            yield item


def _usage(raw: Any) -> Usage:
    details = getattr(raw, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) or 0
    return Usage(
        input_tokens=raw.prompt_tokens or 0, cached_input_tokens=cached, output_tokens=raw.completion_tokens or 0
    )


def _completion(response: Any) -> Completion:
    choice = response.choices[0]
    usage = _usage(response.usage) if response.usage is not None else Usage()
    return Completion(choice.message.content or "", choice.message.refusal, choice.finish_reason, usage)
