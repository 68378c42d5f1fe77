"""The OpenAI-compatible chat model: one client however many first calls arrive together, and one retry budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import openai
import pytest

from shared.errors import UpstreamTimeout, UpstreamUnavailable
from shared.llm import OpenAIChatModel, RetryPolicy, retrying

pytestmark = pytest.mark.anyio


async def test_concurrent_first_calls_share_one_client() -> None:
    # Given a model whose client is made on the first upstream call
    model = OpenAIChatModel(api_key=lambda: "sk-test", base_url="http://127.0.0.1:9", policy=RetryPolicy())

    # When twenty first calls ask for it at once (building it awaits a thread, so they interleave)
    clients = await asyncio.gather(*(model._sdk() for _ in range(20)))

    # Then they all get the same client: none is made and left unclosed
    assert len({id(client) for client in clients}) == 1
    await model.aclose()
    assert clients[0].is_closed()


# --- the retry budget, on a clock that moves only as the attempts and the backoff say --------------

HANG = "hang"  # the attempt runs out its time, then times out


class Attempts:
    """Each attempt plays the next outcome: an error, a hang, or items to yield (a failure among them)."""

    def __init__(self, *outcomes: Exception | str | list[str | Exception]) -> None:
        self.outcomes = list(outcomes)
        self.now, self.timeouts, self.pauses = 0.0, list[float](), list[float]()

    async def attempt(self, seconds: float) -> AsyncGenerator[str]:
        self.timeouts.append(seconds)
        outcome = self.outcomes.pop(0)
        if outcome == HANG:
            self.now += seconds
            raise TimeoutError
        for item in outcome if isinstance(outcome, list) else [outcome]:
            if isinstance(item, Exception):
                raise item
            yield item

    async def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    async def collect(self, received: list[str], policy: RetryPolicy | None = None) -> None:
        async for item in retrying(self.attempt, policy or RetryPolicy(), clock=lambda: self.now, sleep=self.sleep):
            received.append(item)


def response(status: int, **headers: str) -> Any:  # Any: the SDK's httpx flavour varies with its version
    return httpx.Response(status, headers=headers, request=httpx.Request("POST", "http://model.test/v1"))


def rate_limited(retry_after: str) -> openai.RateLimitError:
    return openai.RateLimitError("slow down", response=response(429, **{"retry-after": retry_after}), body=None)


def server_error() -> openai.InternalServerError:
    return openai.InternalServerError("boom", response=response(500), body=None)


async def test_a_rate_limited_call_waits_what_retry_after_asks_then_answers() -> None:
    attempts, received = Attempts(rate_limited("1.5"), "answer"), list[str]()
    await attempts.collect(received)
    assert received == ["answer"]
    assert attempts.pauses == [1.5]
    assert attempts.timeouts == [12.0, 12.0]


async def test_persistent_failures_stop_after_three_attempts() -> None:
    attempts = Attempts(server_error(), server_error(), server_error(), "answer")
    with pytest.raises(UpstreamUnavailable):
        await attempts.collect([])
    assert len(attempts.timeouts) == 3 and len(attempts.pauses) == 2


async def test_hangs_are_cut_at_twelve_seconds_and_the_last_attempt_gets_what_is_left_of_25() -> None:
    attempts = Attempts(HANG, HANG, HANG, "answer")
    with pytest.raises(UpstreamTimeout):
        await attempts.collect([], RetryPolicy(max_attempts=10))  # the budget stops it, not the count
    assert attempts.timeouts[:2] == [12.0, 12.0]
    assert len(attempts.timeouts) == 3 and 0 < attempts.timeouts[2] < 1
    assert attempts.now <= 25.0


async def test_a_stream_is_retried_before_its_first_delta_but_never_after() -> None:
    received: list[str] = []
    await Attempts(server_error(), ["{", "}"]).collect(received)
    assert received == ["{", "}"]

    attempts, received = Attempts(["{", TimeoutError()], ["{", "}"]), []
    with pytest.raises(UpstreamTimeout):
        await attempts.collect(received)
    assert received == ["{"]  # a retry would have sent it twice
    assert len(attempts.timeouts) == 1
