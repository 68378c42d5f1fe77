"""The after-response flush against a local stand-in for Lambda's Extensions API (its HTTP protocol)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dominus_dev.serving import ServerThread
from shared.lambda_extension import AfterResponseFlush
from tests.support.waiting import PATIENCE_S, wait_until

pytestmark = pytest.mark.integration


@dataclass
class ExtensionsApi:
    """Register and long-poll `next`, as Lambda serves them; records when each `next` arrived."""

    events: queue.Queue[dict[str, object]] = field(default_factory=queue.Queue)
    registered: list[dict[str, object]] = field(default_factory=list)
    next_calls: list[float] = field(default_factory=list)

    def app(self) -> Starlette:
        async def register(request: Request) -> Response:
            self.registered.append(
                {"name": request.headers["lambda-extension-name"], **json.loads(await request.body())}
            )
            return JSONResponse({"functionName": "analyze"}, headers={"Lambda-Extension-Identifier": "ext-1"})

        def next_event(request: Request) -> Response:  # sync: Starlette runs it in a thread, so it may block
            assert request.headers["lambda-extension-identifier"] == "ext-1"
            self.next_calls.append(time.monotonic())
            return JSONResponse(self.events.get(timeout=30))

        return Starlette(
            routes=[
                Route("/2020-01-01/extension/register", register, methods=["POST"]),
                Route("/2020-01-01/extension/event/next", next_event),
            ]
        )


@pytest.fixture
def api() -> Iterator[tuple[ExtensionsApi, str]]:
    fake = ExtensionsApi()
    server = ServerThread(fake.app()).start()
    yield fake, f"{server.host}:{server.port}"
    fake.events.put({"eventType": "INVOKE", "deadlineMs": 0})  # release a pending long poll
    server.stop()


def invoke_event() -> dict[str, object]:
    return {"eventType": "INVOKE", "deadlineMs": int((time.time() + 30) * 1000), "requestId": "r-1"}


def test_records_are_flushed_after_the_response_and_before_the_sandbox_may_freeze(
    api: tuple[ExtensionsApi, str],
) -> None:
    fake, address = api
    flushed: list[float] = []
    flushing, release = threading.Event(), threading.Event()

    def slow_flush(timeout_s: float) -> None:
        flushing.set()
        release.wait(PATIENCE_S)  # a DynamoDB write that no client should wait for
        flushed.append(time.monotonic())

    extension = AfterResponseFlush(address, slow_flush)
    assert extension.start()
    assert fake.registered == [{"name": "dominus-perf-flush", "events": ["INVOKE"]}]

    # Given an invocation the extension has been told of
    fake.events.put(invoke_event())
    wait_until(fake.events.empty, "the extension took the INVOKE event")
    assert not flushing.is_set()  # the invocation is still running: nothing is written yet
    # When the handler returns its response
    extension.invocation_done()
    # Then the flush starts, and the handler did not wait for it: the write is still under way
    assert flushing.wait(PATIENCE_S)
    assert flushed == []
    # And Lambda hears "done" (the next `next`) only once the records are out
    assert len(fake.next_calls) == 1
    release.set()
    wait_until(lambda: len(fake.next_calls) == 2, "the extension asked for its next event")
    assert len(flushed) == 1
    assert fake.next_calls[1] >= flushed[0]


def test_outside_lambda_there_is_no_extension() -> None:
    assert AfterResponseFlush.from_environment(lambda timeout_s: None) is None


def test_an_unreachable_api_means_no_extension_and_the_handler_flushes_inline() -> None:
    assert AfterResponseFlush("127.0.0.1:9", lambda timeout_s: None).start() is False
