"""`dominus smoke URL`: check a deployment (or the dev server) the way the CRM uses it.

Checks, in order, one line each (ok/fail, HTTP status, latency, what was seen):

1. `GET /healthz` answers `{"status": "ok"}`.
2. `POST /v1/analyze` with the example lead, made unique to this run so it is a real model call
   (`miss`), then the same body again, which must be a `hit`.
3. `POST /v1/analyze/stream` with another unique lead: SSE events `meta`, `delta`..., `result`, `done`.
4. A vision upload: `POST /v1/vision/uploads`, the photo posted to the presigned form it returns, then
   `GET /v1/vision/{job_id}` polled until `done` or `failed`, within a deadline.

Deployed, every route but /healthz needs the CRM's JWT (`--token`), and the org comes from it. Locally
there is no authorizer: `--org` names the org in the `X-Org-Id` header. Each run costs two model calls
and one photo's analysis on the org's balance, as a user's would.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urljoin

import httpx

from analyze.function import EXAMPLE_LEAD

STREAM_ORDER: Final = ("meta", "delta", "result", "done")
# API Gateway cuts a buffered request at 29 s; a stream may run 120 s (template.yaml).
BUFFERED_TIMEOUT_S: Final = 35.0
STREAM_TIMEOUT_S: Final = 130.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    status: int | None
    latency_ms: float
    detail: str = ""

    def line(self) -> str:
        status = "-" if self.status is None else str(self.status)
        verdict = "ok" if self.ok else "FAIL"
        return f"{verdict:<4}  {self.name:<20} {status:>3} {self.latency_ms:>7.0f} ms  {self.detail}"


class CheckFailed(Exception):
    """What a check saw instead of what it expected."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


@dataclass(frozen=True, slots=True)
class Seen:
    """What a check that passed saw."""

    status: int
    detail: str = ""


@dataclass
class Smoke:
    """The checks against one base URL. `client` carries the base URL and the caller's credentials;
    `uploads` posts presigned forms, which carry their own (S3 refuses a second Authorization)."""

    client: httpx.Client
    uploads: httpx.Client
    photo: Callable[[], bytes]
    clock: Callable[[], float] = time.perf_counter
    sleep: Callable[[float], None] = time.sleep
    job_deadline_s: float = 120.0
    poll_interval_s: float = 1.0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def run(self) -> Iterator[Check]:
        """Each check as it finishes; a step that later ones need stops its sequence when it fails."""
        yield self._timed("healthz", self._healthz)
        body = lead(f"smoke {self.run_id} buffered")
        first = self._timed("analyze (first)", lambda: self._analyze(body, expect="miss"))
        yield first
        if first.ok:
            yield self._timed("analyze (again)", lambda: self._analyze(body, expect="hit"))
        yield self._timed("analyze stream", lambda: self._stream(lead(f"smoke {self.run_id} stream")))
        yield from self._vision()

    def _timed(self, name: str, check: Callable[[], Seen]) -> Check:
        began = self.clock()
        try:
            seen = check()
        except CheckFailed as exc:
            return Check(name, False, exc.status, self._ms_since(began), exc.detail)
        except httpx.HTTPError as exc:
            return Check(name, False, None, self._ms_since(began), f"{type(exc).__name__}: {exc}")
        except (KeyError, TypeError, ValueError) as exc:  # an answer without the contract's shape
            return Check(name, False, None, self._ms_since(began), f"unexpected answer ({type(exc).__name__}: {exc})")
        return Check(name, True, seen.status, self._ms_since(began), seen.detail)

    def _ms_since(self, began: float) -> float:
        return (self.clock() - began) * 1000

    # --- the checks ---------------------------------------------------------------------------------

    def _healthz(self) -> Seen:
        reply = expect_status(self.client.get("/healthz"), 200)
        health = reply_json(reply)
        if health.get("status") != "ok":
            raise CheckFailed(f"status is {health.get('status')!r}, not 'ok'", reply.status_code)
        # The dev server says what it runs on; deployed, /healthz is API Gateway's own answer.
        extra = {k: health[k] for k in ("store", "model") if k in health}
        return Seen(reply.status_code, " ".join(f"{k}={v}" for k, v in extra.items()))

    def _analyze(self, body: dict[str, Any], *, expect: str) -> Seen:
        reply = expect_status(self.client.post("/v1/analyze", json=body, timeout=BUFFERED_TIMEOUT_S), 200)
        cache = reply.headers.get("X-Dominus-Cache")
        if cache != expect:
            raise CheckFailed(f"X-Dominus-Cache is {cache!r}, expected {expect!r}", reply.status_code)
        score = reply_json(reply).get("lead_score")
        if not isinstance(score, int):
            raise CheckFailed(f"no lead score in the answer: {reply.text[:120]}", reply.status_code)
        return Seen(reply.status_code, f"cache={cache} {ai_headers(reply)} score={score}")

    def _stream(self, body: dict[str, Any]) -> Seen:
        began = self.clock()
        first_delta_ms: float | None = None
        names: list[str] = []
        seen: dict[str, Any] = {}
        with self.client.stream("POST", "/v1/analyze/stream", json=body, timeout=STREAM_TIMEOUT_S) as reply:
            if reply.status_code != 200:
                reply.read()
                expect_status(reply, 200)
            for name, data in sse_events(reply.iter_lines()):
                names.append(name)
                if name == "error":
                    raise CheckFailed(f"error event: {data.get('code')}: {data.get('message')}", reply.status_code)
                if name == "delta" and first_delta_ms is None:
                    first_delta_ms = self._ms_since(began)
                if name == "meta":
                    seen["cache"] = data.get("cache")
                if name == "done":
                    seen.update(data)
            problem = stream_order_problem(names)
            if problem:
                raise CheckFailed(problem, reply.status_code)
            return Seen(
                reply.status_code,
                f"cache={seen.get('cache')} events={len(names)} first delta {first_delta_ms:.0f} ms "
                f"tokens={seen.get('input_tokens')}/{seen.get('output_tokens')} cost={seen.get('cost_usd')}",
            )

    def _vision(self) -> Iterator[Check]:
        offer: dict[str, Any] = {}

        def create() -> Seen:
            name = f"smoke-{self.run_id}.jpg"
            reply = expect_status(
                self.client.post("/v1/vision/uploads", json={"name": name, "content_type": "image/jpeg"}), 201
            )
            offer.update(reply_json(reply))
            return Seen(reply.status_code, f"job {offer.get('job_id')}")

        def upload() -> Seen:
            form = offer["upload"]
            url = urljoin(str(self.client.base_url), form["url"])
            try:
                photo = self.photo()
            except ImportError as exc:  # Pillow comes with the vision extra
                raise CheckFailed(f"cannot draw the test photo ({exc}): pip install -e '.[vision]'") from None
            files = {"file": (form["fields"]["key"].rsplit("/", 1)[-1], photo, "image/jpeg")}
            reply = self.uploads.post(url, data=form["fields"], files=files, timeout=BUFFERED_TIMEOUT_S)
            if not reply.is_success:
                raise CheckFailed(f"the presigned POST was refused: {reply.text[:200]}", reply.status_code)
            return Seen(reply.status_code, f"{len(photo)} bytes")

        def job() -> Seen:
            deadline = self.clock() + self.job_deadline_s
            while True:
                reply = expect_status(self.client.get(f"/v1/vision/{offer['job_id']}"), 200)
                state = reply_json(reply)
                status = state.get("status")
                if status == "done":
                    result = state.get("result") or {}
                    found = len(result.get("detections") or [])
                    return Seen(reply.status_code, f"done model={result.get('model')} detections={found}")
                if status == "failed":
                    raise CheckFailed(f"job failed: {state.get('reason')}", reply.status_code)
                if self.clock() >= deadline:
                    raise CheckFailed(f"still {status!r} after {self.job_deadline_s:.0f} s", reply.status_code)
                self.sleep(self.poll_interval_s)

        for name, step in (("vision upload offer", create), ("vision upload post", upload), ("vision job", job)):
            check = self._timed(name, step)
            yield check
            if not check.ok:
                return


# --- helpers ----------------------------------------------------------------------------------------


def lead(note: str) -> dict[str, Any]:
    """The example lead with `note` in its notes: another note is another cache key."""
    return {**EXAMPLE_LEAD, "notes": f"{EXAMPLE_LEAD['notes']} ({note})"}


def expect_status(reply: httpx.Response, status: int) -> httpx.Response:
    if reply.status_code != status:
        raise CheckFailed(f"expected {status}: {error_text(reply)}", reply.status_code)
    return reply


def error_text(reply: httpx.Response) -> str:
    """The contract's error as `code: message`, or the start of whatever came back."""
    try:
        error = reply.json()["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return reply.text[:200] or "(empty body)"


def reply_json(reply: httpx.Response) -> dict[str, Any]:
    try:
        data = reply.json()
    except ValueError:
        raise CheckFailed(f"not JSON: {reply.text[:120]}", reply.status_code) from None
    if not isinstance(data, dict):
        raise CheckFailed(f"not a JSON object: {reply.text[:120]}", reply.status_code)
    return data


def ai_headers(reply: httpx.Response) -> str:
    headers = reply.headers
    simulated = " simulated" if headers.get("X-Dominus-Simulated") == "true" else ""
    return (
        f"model={headers.get('X-Dominus-Model')} mode={headers.get('X-Dominus-Mode')} "
        f"cost={headers.get('X-Dominus-Cost-Usd')}{simulated}"
    )


def sse_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event name, JSON data) per Server-Sent Events frame; a blank line ends a frame, and a frame's
    data lines are joined with newlines, as the SSE standard says."""
    name, data = "message", list[str]()
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
    if data:
        yield name, json.loads("\n".join(data))


def stream_order_problem(names: list[str]) -> str | None:
    """What is wrong with the events' order (meta, delta..., result, done), or None."""
    collapsed = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    if tuple(collapsed) != STREAM_ORDER:
        return f"events {' '.join(collapsed) or '(none)'}; expected meta, delta..., result, done"
    return None


def synthetic_photo(width: int = 640, height: int = 480) -> bytes:
    """A small JPEG drawn in memory: shingle courses, some dark marks. Pillow is the vision extra's."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (96, 92, 88))
    draw = ImageDraw.Draw(image)
    for top in range(0, height, 24):
        draw.line([(0, top), (width, top)], fill=(40, 38, 36), width=3)
        for left in range((top // 24) % 2 * 30, width, 60):
            draw.line([(left, top), (left, top + 24)], fill=(60, 58, 55), width=2)
    for x, y in ((120, 100), (300, 220), (480, 340), (200, 400)):
        draw.ellipse([(x - 6, y - 6), (x + 6, y + 6)], fill=(20, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def auth_headers(token: str | None, org: str | None) -> dict[str, str]:
    """Deployed, the token names the org; locally (no authorizer) the X-Org-Id header does."""
    if token:
        return {"Authorization": f"Bearer {token}"}
    return {"X-Org-Id": org} if org else {}


def smoke(url: str, *, token: str | None = None, org: str | None = None, out: Callable[[str], None] = print) -> int:
    """Run every check against `url`, print a line per check, and return the exit code (1 on any failure)."""
    headers = auth_headers(token, org)
    with (
        httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=BUFFERED_TIMEOUT_S) as client,
        httpx.Client() as uploads,
    ):
        checks = []
        out(f"smoke: {url}" + (" (with a token)" if token else f" (X-Org-Id: {org})" if org else ""))
        for check in Smoke(client, uploads, synthetic_photo).run():
            out(check.line())
            checks.append(check)
    failed = [c.name for c in checks if not c.ok]
    summary = f"{len(checks) - len(failed)} of {len(checks)} checks passed"
    out(f"{summary}; failed: {', '.join(failed)}" if failed else summary)
    return 1 if failed else 0
