"""The front end's streaming client (clients/dominus-stream.js) in headless Chromium, against the dev server.

The dev server runs in this process, as `dominus serve` builds it (LocalRuntime + create_dev_app), with
the simulated model slowed down (a first-token delay and a pause between chunks) so that a stream that
is really incremental is told apart from one buffered until the end. The page is the server's own
demo page (/dev/stream-demo), which imports the module from /client/dominus-stream.js; the tests run
the module in that page and record each callback with its time.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from analyze.function import EXAMPLE_LEAD
from dominus_dev.local import LocalRuntime
from dominus_dev.simulated_model import SimulatedModel
from tests.support.dev_server import running_dev_server
from tests.support.waiting import PATIENCE_MS, PATIENCE_S, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.e2e

STREAM = "/v1/analyze/stream"
TTFT_MS = 400  # the simulated model's own time to first chunk
CHUNK_INTERVAL_MS = 10  # ... and between chunks: an analysis is ~150 chunks, so ~1.5 s of deltas
MIN_SPREAD_MS = 500  # the first delta reaches the page at least this long before `done`
SLOW_CHUNK_INTERVAL_MS = 40  # ~6 s of deltas, for tests that look at a stream while it is under way

# Runs `streamAI` in the page and records every callback: {name, t (ms since the call), data, text}.
# `cancelAfter`: cancel() once that many deltas have arrived; `lingerMs`: keep listening that long
# after `done` settles (to see that nothing arrives after a cancel). `fetchChunks`: instead of the
# network, a fetchImpl answering 200 with these byte chunks (for the parser's edge cases).
HARNESS = """
async ({ url, body, headers, cancelAfter, lingerMs, fetchChunks }) => {
  const { streamAI } = await import("/client/dominus-stream.js");
  const t0 = performance.now();
  const events = [];
  const note = (name, data, extra = {}) => events.push({ name, t: performance.now() - t0, data, ...extra });
  let fetchImpl;
  if (fetchChunks) {
    fetchImpl = async (_url, init) => {
      const stream = new ReadableStream({
        start(controller) {
          for (const chunk of fetchChunks) controller.enqueue(new Uint8Array(chunk));
          controller.close();
        },
      });
      return new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } });
    };
  }
  let deltas = 0;
  const handle = streamAI(url, body, {
    headers,
    fetchImpl,
    onMeta: (meta) => note("meta", meta),
    onDelta: (delta, text) => {
      note("delta", delta, { text });
      deltas += 1;
      if (cancelAfter && deltas === cancelAfter) handle.cancel();
    },
    onProgress: (progress) => note("progress", progress),
    onResult: (result) => note("result", result),
    onDone: (done, result) => note("done", done, { result }),
    onError: (e) => note("onError", { name: e.name, code: e.code, message: e.message, status: e.status,
                                      requestId: e.requestId }),
  });
  let outcome;
  try {
    outcome = { resolved: await handle.done };
  } catch (e) {
    outcome = { rejected: { name: e.name, code: e.code, message: e.message, status: e.status,
                            requestId: e.requestId } };
  }
  outcome.t = performance.now() - t0;
  if (lingerMs) await new Promise((resolve) => setTimeout(resolve, lingerMs));
  return { events, outcome };
}
"""


@dataclass(frozen=True)
class DevServer:
    url: str
    runtime: LocalRuntime
    model: SimulatedModel


@dataclass(frozen=True)
class Run:
    """One `streamAI` call as the page saw it."""

    events: list[dict[str, Any]]
    outcome: dict[str, Any]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["name"] == name]

    @property
    def names(self) -> list[str]:
        return [e["name"] for e in self.events]

    @property
    def meta(self) -> dict[str, Any]:
        (meta,) = self.named("meta")
        data: dict[str, Any] = meta["data"]
        return data

    @property
    def text(self) -> str:
        return "".join(e["data"]["text"] for e in self.named("delta"))


@pytest.fixture(scope="module")
def dev_server() -> Iterator[DevServer]:
    """The dev server on a free loopback port, on embedded defaults (Memory store, moto, simulated model)."""
    with running_dev_server() as (url, runtime):
        assert runtime.model is not None, "the dev server must run on the simulated model"
        yield DevServer(url, runtime, runtime.model)


@pytest.fixture
def dev(dev_server: DevServer) -> DevServer:
    """The dev server with its simulated model reset and slowed down."""
    dev_server.model.reset()
    dev_server.model.configure(ttft_ms=TTFT_MS, chunk_interval_ms=CHUNK_INTERVAL_MS)
    return dev_server


@pytest.fixture
def org() -> str:
    """A fresh tenant per test: nothing cached by another test can answer for it."""
    return f"e2e-{uuid.uuid4().hex[:12]}"


def open_demo(page: Page, dev: DevServer, org: str) -> None:
    page.goto(f"{dev.url}/dev/stream-demo?org={org}")
    page.wait_for_function("document.getElementById('start') !== null")


def stream(page: Page, org: str, body: Any = EXAMPLE_LEAD, **options: Any) -> Run:
    raw = page.evaluate(HARNESS, {"url": STREAM, "body": body, "headers": {"X-Org-Id": org}, **options})
    return Run(raw["events"], raw["outcome"])


def perf_record(dev: DevServer, org: str, request_id: str, timeout_s: float = PATIENCE_S) -> dict[str, Any]:
    """The engine's perf record of a request, as the PerfLogTable in moto holds it (plain values)."""
    dynamodb = dev.runtime.aws.client("dynamodb")
    table = dev.runtime.settings.dominus_perf_table
    deadline = time.monotonic() + timeout_s
    while True:
        assert dev.runtime.engine is not None
        dev.runtime.engine.flush_records()
        items = dynamodb.query(
            TableName=table,
            KeyConditionExpression="org_id = :org",
            ExpressionAttributeValues={":org": {"S": org}},
        )["Items"]
        for item in items:
            if item["request_id"].get("S") == request_id:
                return {name: next(iter(value.values())) for name, value in item.items()}
        if time.monotonic() > deadline:
            raise AssertionError(f"no perf record for {request_id} within {timeout_s} s; records: {items}")
        time.sleep(0.1)


def test_events_arrive_in_order_and_incrementally(page: Page, dev: DevServer, org: str) -> None:
    # Given the demo page of the dev server, and a tenant with nothing cached
    open_demo(page, dev, org)

    # When the page streams an analysis of the example lead
    run = stream(page, org)

    # Then the events come in the contract's order: meta, deltas, result, done
    assert run.outcome.get("resolved") is not None, run.outcome
    deltas = run.named("delta")
    assert len(deltas) >= 10, f"expected many deltas, got {len(deltas)}"
    assert run.names == ["meta"] + ["delta"] * len(deltas) + ["result", "done"]
    assert run.meta["cache"] == "miss"
    assert run.meta["simulated"] is True

    # ...spread over time: the first delta is shown well before the answer is complete
    first_delta, done = deltas[0]["t"], run.named("done")[0]["t"]
    assert first_delta >= TTFT_MS * 0.9, "a delta came before the model's first token could"
    assert done - first_delta >= MIN_SPREAD_MS, f"deltas bunched up: first at {first_delta:.0f} ms, done at {done:.0f}"
    times = [e["t"] for e in run.events]
    assert times == sorted(times)

    # ...the second argument of onDelta accumulates the text, and the deltas add up to the result
    assert [d["text"] for d in deltas] == [run.text[: len(d["text"])] for d in deltas]
    assert deltas[-1]["text"] == run.text
    result = run.named("result")[0]["data"]
    assert json.loads(run.text) == result
    assert run.outcome["resolved"] == result
    assert run.named("done")[0]["result"] == result  # onDone gets the result too

    # ...and the done event reports what the call used
    done_data = run.named("done")[0]["data"]
    assert done_data["output_tokens"] > 0
    assert done_data["ttft_ms"] >= TTFT_MS


def test_second_identical_stream_is_a_cached_replay(page: Page, dev: DevServer, org: str) -> None:
    # Given an analysis streamed once
    open_demo(page, dev, org)
    first = stream(page, org)
    calls = dev.model.calls

    # When the same request is streamed again
    second = stream(page, org)

    # Then it is a hit, replayed without calling the model, with the same answer
    assert second.meta["cache"] == "hit"
    assert dev.model.calls == calls
    assert second.names == ["meta"] + ["delta"] * len(second.named("delta")) + ["result", "done"]
    assert second.outcome["resolved"] == first.outcome["resolved"]
    assert json.loads(second.text) == second.outcome["resolved"]
    assert second.named("done")[0]["data"]["cost_usd"] == 0
    assert second.named("done")[0]["t"] < first.named("done")[0]["t"]


def test_cancel_stops_the_stream_and_the_server_records_it(page: Page, dev: DevServer, org: str) -> None:
    # Given a stream under way
    open_demo(page, dev, org)

    # When the page cancels it after a few deltas, then listens for longer than the stream would last
    run = stream(page, org, cancelAfter=3, lingerMs=2500)

    # Then the client sees nothing more: no result, no done, and `done` rejects as cancelled
    assert run.names == ["meta", "delta", "delta", "delta"], run.names
    assert run.outcome["rejected"]["code"] == "cancelled"
    assert not run.named("onError"), "cancel() is not an error"

    # ...the server saw the disconnect: the perf record says cancelled
    record = perf_record(dev, org, run.meta["request_id"])
    assert record["status"] == "cancelled"
    assert record["stream"] is True

    # ...the upstream call stopped, and nothing was cached: the same request is not a hit
    wait_until(lambda: dev.model.stats().in_flight == 0, "the upstream call stopped")
    again = stream(page, org)
    assert again.meta["cache"] != "hit"
    assert again.meta["cache"] == "miss"
    assert again.outcome.get("resolved") is not None


def test_error_response_surfaces_code_message_and_status(page: Page, dev: DevServer, org: str) -> None:
    # Given a body the API rejects, and what the API says about it
    open_demo(page, dev, org)
    bad = {"homeowner": {"name": "No property"}}
    expected = httpx.post(f"{dev.url}{STREAM}", json=bad, headers={"X-Org-Id": org}, timeout=PATIENCE_S)
    assert expected.status_code == 422
    error = expected.json()["error"]

    # When the page streams it
    run = stream(page, org, body=bad)

    # Then onError and `done` carry the contract's error: code, message, status, request id
    (reported,) = run.named("onError")
    assert reported["data"]["code"] == error["code"]
    assert reported["data"]["message"] == error["message"]
    assert reported["data"]["status"] == 422
    assert reported["data"]["requestId"]
    assert run.outcome["rejected"]["code"] == error["code"]
    assert run.names == ["onError"]


def test_error_event_mid_stream_rejects(page: Page, dev: DevServer, org: str) -> None:
    # Given a model that declines the next call
    open_demo(page, dev, org)
    dev.model.fail_next("refuse")

    # When the page streams an analysis
    run = stream(page, org)

    # Then the meta event came, then the error event: onError, and `done` rejects with its code
    assert run.names[0] == "meta"
    assert run.names[-1] == "onError"
    assert "result" not in run.names
    assert "done" not in run.names
    reported = run.named("onError")[0]["data"]
    assert reported["code"] == "model_refused"
    assert reported["status"] == 200
    assert reported["requestId"] == run.meta["request_id"]
    assert run.outcome["rejected"]["code"] == "model_refused"


SSE_EDGE_CASES = (
    ": a comment, as a keep-alive\r\n"
    'event: meta\r\ndata: {"request_id":"r-1","model":"gpt-4o","mode":"auto","cache":"miss","simulated":true}\r\n\r\n'
    'event: delta\r\ndata: {"text":\r\ndata: "Schön "}\r\n\r\n'  # data over two lines, joined with "\n"
    'event: delta\ndata:{"text":"dächer ☂"}\n\n'  # no space after the colon; multi-byte characters
    ": a comment, then a blank line: no event\n\n"
    'event: delta\rdata: {"text": "!"}\r\r'  # CR alone ends lines too
    'event: result\ndata: {"result": {"ok": true}}\n\n'
    'event: done\ndata: {"input_tokens":1,"cached_input_tokens":0,"output_tokens":2,"cost_usd":0.1,'
    '"saved_cost_usd":null,"ttft_ms":1.5,"latency_ms":2.5}\n\n'
)


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 8, 13, 64, 10_000])
def test_parser_takes_split_frames_crlf_comments_and_multiline_data(
    page: Page, dev: DevServer, org: str, chunk_bytes: int
) -> None:
    # Given an event stream cut into chunks of a few bytes (frames, lines, CRLF pairs and UTF-8
    # characters split anywhere), served by a stand-in fetch
    open_demo(page, dev, org)
    raw = SSE_EDGE_CASES.encode()
    chunks = [list(raw[i : i + chunk_bytes]) for i in range(0, len(raw), chunk_bytes)]

    # When the client reads it
    run = stream(page, org, fetchChunks=chunks)

    # Then it sees exactly the events sent, in order, with their data intact
    assert run.names == ["meta", "delta", "delta", "delta", "result", "done"]
    assert run.meta["request_id"] == "r-1"
    assert [e["data"]["text"] for e in run.named("delta")] == ["Schön ", "dächer ☂", "!"]
    assert [e["text"] for e in run.named("delta")] == ["Schön ", "Schön dächer ☂", "Schön dächer ☂!"]
    assert run.outcome["resolved"] == {"ok": True}
    assert run.named("done")[0]["data"]["latency_ms"] == 2.5


def test_demo_page_streams_then_replays_then_cancels(page: Page, dev: DevServer, org: str, artifacts_dir: Path) -> None:
    # Given the demo page, and a model slow enough (~6 s a stream) that the test sees a stream under
    # way and cancels one mid-way even when a busy machine is slow to look
    dev.model.configure(chunk_interval_ms=SLOW_CHUNK_INTERVAL_MS)
    open_demo(page, dev, org)

    # When the Analyse button is pressed
    page.click("#start")

    # Then the text streams into the page, then the result and the done line show
    page.wait_for_function("document.getElementById('text').textContent.length > 0", timeout=PATIENCE_MS)
    assert page.text_content("#status") == "streaming..."
    page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=PATIENCE_MS)
    assert "cache: miss" in (page.text_content("#meta") or "")
    result = json.loads(page.text_content("#result") or "null")
    assert json.loads(page.text_content("#text") or "null") == result
    assert "done:" in (page.text_content("#done") or "")
    page.screenshot(path=str(artifacts_dir / "stream-demo.png"), full_page=True)

    # When it is pressed again, Then the same answer replays from the cache
    page.click("#start")
    page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=PATIENCE_MS)
    assert "cache: hit" in (page.text_content("#meta") or "")
    assert json.loads(page.text_content("#result") or "null") == result

    # When another tenant's stream is cancelled with the Cancel button mid-way
    other = f"{org}-b"
    open_demo(page, dev, other)
    page.click("#start")
    page.wait_for_function("document.getElementById('text').textContent.length > 0", timeout=PATIENCE_MS)
    page.click("#cancel")

    # Then the page says so, and shows no result
    page.wait_for_function("document.getElementById('status').textContent === 'cancelled'", timeout=PATIENCE_MS)
    assert page.text_content("#result") == ""
    page.screenshot(path=str(artifacts_dir / "stream-demo-cancelled.png"), full_page=True)


def test_module_and_demo_routes(dev: DevServer) -> None:
    # The module is served as JavaScript, and neither route is in the API reference
    module = httpx.get(f"{dev.url}/client/dominus-stream.js", timeout=PATIENCE_S)
    assert module.status_code == 200
    assert module.headers["content-type"].startswith("application/javascript")
    assert "export function streamAI" in module.text
    demo = httpx.get(f"{dev.url}/dev/stream-demo", timeout=PATIENCE_S)
    assert demo.status_code == 200
    assert "/client/dominus-stream.js" in demo.text
    assert "Dana Whitfield" in demo.text
    paths = httpx.get(f"{dev.url}/openapi.json", timeout=PATIENCE_S).json()["paths"]
    assert "/client/dominus-stream.js" not in paths
    assert "/dev/stream-demo" not in paths
    health = httpx.get(f"{dev.url}/healthz", timeout=PATIENCE_S).json()
    assert health["simulated_model_url"] == dev.model.url
