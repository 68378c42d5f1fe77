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
    flushed: list[tuple[float, float]] = []
    flushing = threading.Event()

    def slow_flush(timeout_s: float) -> None:
        started = time.monotonic()
        flushing.set()
        time.sleep(0.3)  # a DynamoDB write that no client should wait for
        flushed.append((started, time.monotonic()))

    extension = AfterResponseFlush(address, slow_flush)
    assert extension.start()
    assert fake.registered == [{"name": "dominus-perf-flush", "events": ["INVOKE"]}]

    fake.events.put(invoke_event())
    time.sleep(0.1)
    assert flushed == []  # the invocation is still running: nothing is written yet
    returned = time.monotonic()
    extension.invocation_done()  # what the handler does as it returns its response
    assert flushing.wait(2)
    assert time.monotonic() - returned < 0.1  # the handler did not wait for the flush

    deadline = time.monotonic() + 5
    while len(fake.next_calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(flushed) == 1
    assert fake.next_calls[1] >= flushed[0][1]  # Lambda hears "done" only once the records are out


def test_outside_lambda_there_is_no_extension() -> None:
    assert AfterResponseFlush.from_environment(lambda timeout_s: None) is None


def test_an_unreachable_api_means_no_extension_and_the_handler_flushes_inline() -> None:
    assert AfterResponseFlush("127.0.0.1:9", lambda timeout_s: None).start() is False
