"""The AI metrics dashboard (`GET /dev/ai-metrics`) in headless Chromium.

Two servers:
- the dev server as `make run` serves it (embedded defaults, simulated model), after real traffic:
  the issue's acceptance test; it needs `dashboard_router()` and the metrics and settings APIs
  mounted in `create_dev_app`;
- a small app with only `dashboard_router()` and canned answers for the two APIs it reads, to pin
  the page's behaviour: what it asks for, what it shows, empty and error states, live refresh.

Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from analyze.function import EXAMPLE_LEAD
from dominus_dev.local import LocalRuntime
from dominus_dev.serving import ServerThread
from metrics.dashboard import dashboard_router
from shared.http import install_error_handling
from tests.support.dev_server import running_dev_server
from tests.support.waiting import PATIENCE_MS, PATIENCE_S

if TYPE_CHECKING:
    from playwright.sync_api import Page, ViewportSize

pytestmark = pytest.mark.e2e

PAGE = "/dev/ai-metrics"
PERFORMANCE = "/v1/metrics/ai-performance"
SETTINGS = "/v1/orgs/me/ai-settings"
LAPTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
CHARTS = ["chart-cost-time", "chart-cost-function", "chart-cost-model", "chart-outcomes", "chart-latency"]
READY = "body[data-ready=true]"


# ---------------------------------------------------------------------------------------------
# Page helpers


def open_dashboard(page: Page, base_url: str, query: str, timeout_ms: float = PATIENCE_MS) -> None:
    page.goto(f"{base_url}{PAGE}?{query}")
    page.wait_for_selector(READY, state="attached", timeout=timeout_ms)


def kpi(page: Page, name: str) -> tuple[str, str]:
    """(shown text, data-value) of a KPI tile."""
    locator = page.locator(f'[data-testid="kpi-{name}"]')
    return (locator.text_content() or "").strip(), locator.get_attribute("data-value") or ""


def bar_values(page: Page, chart: str, selector: str = "rect.bar") -> list[float]:
    values: list[float] = page.eval_on_selector_all(
        f'svg[data-testid="{chart}"] {selector}', "rects => rects.map(r => Number(r.dataset.value || 0))"
    )
    return values


def renders(page: Page) -> int:
    return int(page.evaluate("Number(document.body.dataset.renders || 0)"))


def wait_for_renders(page: Page, count: int, timeout_ms: float = PATIENCE_MS) -> None:
    page.wait_for_function(f"Number(document.body.dataset.renders || 0) >= {count}", timeout=timeout_ms)


def assert_fits(page: Page, width: int) -> None:
    """Nothing makes the page scroll sideways (wide tables scroll inside their own box)."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"the page is {scroll_width} px wide at a {width} px viewport"


def assert_accessible_charts(page: Page) -> None:
    for chart in CHARTS:
        svg = page.locator(f'svg[data-testid="{chart}"]')
        assert svg.get_attribute("role") == "img"
        labelled = (svg.get_attribute("aria-labelledby") or "").split()
        assert labelled, chart
        for element_id in labelled:
            assert (page.locator(f"#{element_id}").text_content() or "").strip(), f"{chart}: empty {element_id}"
        assert svg.locator("text.axis-title").count() >= 1, f"{chart} has no axis title"


# ---------------------------------------------------------------------------------------------
# Canned answers


def stats(calls: int, hits: int, shared: int, bypass: int, errors: int, cost: float, p50: float) -> dict[str, Any]:
    misses = calls - hits - shared - bypass
    return {
        "calls": calls,
        "hits": hits,
        "misses": misses,
        "shared": shared,
        "bypass": bypass,
        "hit_rate": hits / calls if calls else 0.0,
        "shared_rate": shared / calls if calls else 0.0,
        "bypass_rate": bypass / calls if calls else 0.0,
        "errors": errors,
        "error_rate": errors / calls if calls else 0.0,
        "input_tokens": calls * 900,
        "cached_input_tokens": hits * 900,
        "output_tokens": misses * 300,
        "cost_usd": cost,
        "saved_cost_usd": round(cost * hits / max(1, misses), 6),
        "unpriced_calls": 0,
        "latency_ms": {"p50": p50, "p95": p50 * 2.5, "p99": p50 * 4} if calls else dict.fromkeys(["p50", "p95", "p99"]),
        "ttft_ms": {"p50": p50 / 3 if calls else None, "p95": p50 if calls else None, "streams": calls // 3},
    }


TOTALS = stats(1234, 700, 40, 12, 9, 4.2, 850.0)
BY_FUNCTION = [
    {"key": "analyze", **stats(800, 500, 30, 10, 5, 2.9, 900.0)},
    {"key": "video", **stats(300, 150, 8, 2, 3, 1.1, 1500.0)},
    {"key": "smart_actions", **stats(134, 50, 2, 0, 1, 0.2, 400.0)},
]
BY_MODEL = [
    {"key": "gpt-4o", **stats(400, 200, 10, 2, 4, 3.6, 1400.0)},
    {"key": "gpt-4o-mini", **stats(834, 500, 30, 10, 5, 0.6, 600.0)},
]
DAYS_AGO = [6, 5, 3, 1, 0]  # of the window's last day: some days without calls


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def by_day(to: str) -> list[dict[str, Any]]:
    last = _moment(to).date()
    return [
        {"key": (last - timedelta(days=ago)).isoformat(), **stats(200 + 10 * i, 100, 5, 2, 1, 0.5 + 0.2 * i, 800.0)}
        for i, ago in enumerate(DAYS_AGO)
    ]


def by_hour(to: str) -> list[dict[str, Any]]:
    """Three hours inside the last 24 h before `to`, whatever the time the test runs."""
    last = _moment(to).replace(minute=0, second=0, microsecond=0)
    return [
        {"key": (last - timedelta(hours=ago)).strftime("%Y-%m-%dT%H"), **stats(20, 10, 1, 0, 0, 0.01 * ago, 700.0)}
        for ago in (20, 15, 9)
    ]


RECENT_ERRORS = [
    {
        "timestamp": "2026-11-23T21:55:12.123Z",
        "function": "analyze",
        "operation": "analyze.lead",
        "model": "gpt-4o",
        "error_code": "upstream_unavailable",
        "request_id": "req-0123456789abcdef",
        "latency_ms": 1234.5,
    },
    {
        "timestamp": "2026-11-23T20:01:00.000Z",
        "function": "video",
        "operation": "video.script",
        "model": "gpt-4o-mini",
        "error_code": "upstream_timeout",
        "request_id": "req-fedcba9876543210",
        "latency_ms": 28000.0,
    },
]
SETTINGS_ANSWER = {
    "org_id": "acme",
    "mode_default": "auto",
    "cache_enabled": True,
    "cache_ttl_s": 86_400,
    "dedupe_enabled": True,
    "vision_local_when_cheap": False,
    "token_balance": 125_000,
    "limits": {"cache_ttl_s": {"min": 60, "max": 2_592_000}},
}


@dataclass
class Canned:
    """What the stand-in APIs answer (`scenario`: normal | empty | error) and what they were asked."""

    scenario: str = "normal"
    extra_calls: int = 0
    requests: list[dict[str, Any]] = field(default_factory=list)

    def reset(self) -> None:
        self.scenario, self.extra_calls = "normal", 0
        self.requests.clear()

    def performance(self, params: dict[str, str], org: str) -> dict[str, Any]:
        """As the API answers: `to` defaults to now, `from` to 7 days before `to`."""
        group_by = params.get("group_by", "function")
        to = params.get("to") or datetime.now(UTC).isoformat().replace("+00:00", "Z")
        since = params.get("from") or (_moment(to) - timedelta(days=7)).isoformat().replace("+00:00", "Z")
        self.requests[-1]["answered_to"] = to
        empty = self.scenario == "empty"
        totals = stats(0, 0, 0, 0, 0, 0.0, 0.0) if empty else copy.deepcopy(TOTALS)
        totals["calls"] += self.extra_calls
        groups: list[dict[str, Any]] = []
        if not empty:
            if group_by == "function":
                groups = copy.deepcopy(BY_FUNCTION)
            elif group_by == "model":
                groups = copy.deepcopy(BY_MODEL)
            elif group_by == "day":
                groups = by_day(to)
            elif group_by == "hour":
                groups = by_hour(to)
        return {
            "org_id": org,
            "from": since,
            "to": to,
            "group_by": group_by,
            "function": params.get("function"),
            "source": {"rollup_hours": 150, "raw_hours": 18},
            "totals": totals,
            "groups": groups,
            "recent_errors": [] if empty else RECENT_ERRORS,
            "sketch": {"relative_error": 0.01},
        }


def error_answer(request_id: str) -> JSONResponse:
    error = {"code": "upstream_unavailable", "message": "The perf log is unavailable.", "request_id": request_id}
    body = {"error": error}
    return JSONResponse(body, status_code=503)


def canned_app(canned: Canned) -> FastAPI:
    app = FastAPI()
    install_error_handling(app)
    app.include_router(dashboard_router())

    def note(request: Request, api: str) -> str:
        org = request.headers.get("x-org-id") or "demo"
        canned.requests.append(
            {
                "api": api,
                "params": dict(request.query_params),
                "org": request.headers.get("x-org-id"),
                "authorization": request.headers.get("authorization"),
            }
        )
        return org

    @app.get(PERFORMANCE)
    async def performance(request: Request) -> Any:
        org = note(request, "performance")
        if canned.scenario == "error":
            return error_answer("req-canned-error-1")
        return canned.performance(dict(request.query_params), org)

    @app.get(SETTINGS)
    async def settings(request: Request) -> Any:
        org = note(request, "settings")
        if canned.scenario == "error":
            return error_answer("req-canned-error-2")
        return {**SETTINGS_ANSWER, "org_id": org}

    return app


@pytest.fixture(scope="module")
def canned_server() -> Iterator[tuple[str, Canned]]:
    canned = Canned()
    with ServerThread(canned_app(canned)) as server:
        yield server.url, canned


@pytest.fixture
def canned(canned_server: tuple[str, Canned]) -> tuple[str, Canned]:
    canned_server[1].reset()
    return canned_server


# ---------------------------------------------------------------------------------------------
# The page and its assets (no browser)


def test_page_and_assets_are_served_from_the_package(canned: tuple[str, Canned]) -> None:
    url, _ = canned
    page = httpx.get(f"{url}{PAGE}", timeout=PATIENCE_S)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert 'src="ai-metrics/dashboard.js"' in page.text  # relative: a stage prefix keeps working
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # nothing from elsewhere
    for asset, media_type in [("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")]:
        answer = httpx.get(f"{url}{PAGE}/{asset}", timeout=PATIENCE_S)
        assert answer.status_code == 200, asset
        assert answer.headers["content-type"].startswith(media_type)
        assert answer.headers["cache-control"] == "no-cache"
        assert "//cdn" not in answer.text and "https://" not in answer.text
    for missing in ["dashboard.py", "__init__.py", "nope.js", "..%2Fdashboard.py"]:
        answer = httpx.get(f"{url}{PAGE}/{missing}", timeout=PATIENCE_S)
        assert answer.status_code == 404, missing
        assert answer.json()["error"]["code"] == "not_found"
    paths = httpx.get(f"{url}/openapi.json", timeout=PATIENCE_S).json()["paths"]
    assert not [p for p in paths if p.startswith("/dev/")]


# ---------------------------------------------------------------------------------------------
# The page on canned answers


def test_renders_from_canned_data(page: Page, canned: tuple[str, Canned], artifacts_dir: Path) -> None:
    # Given the APIs' canned answers, When the dashboard opens at laptop width
    url, api = canned
    page.set_viewport_size(LAPTOP)
    open_dashboard(page, url, "org=acme&refresh=0")

    # Then the header shows the org, its mode and its balance
    assert page.locator("body").get_attribute("data-state") == "ready"
    assert page.text_content('[data-testid="org"]') == "acme"
    assert page.get_attribute('[data-testid="mode"]', "data-value") == "auto"
    assert page.get_attribute('[data-testid="balance"]', "data-value") == "125000"
    assert "125,000" in (page.text_content('[data-testid="balance"]') or "")

    # ...the KPI tiles show the totals
    assert kpi(page, "calls") == ("1,234", "1234")
    assert kpi(page, "cost") == ("$4.20", "4.2")
    assert kpi(page, "hit-rate")[1] == str(TOTALS["hit_rate"])
    assert kpi(page, "hit-rate")[0] == f"{round(TOTALS['hit_rate'] * 100)}%"
    assert kpi(page, "error-rate")[0] == f"{TOTALS['error_rate'] * 100:.1f}%"
    assert kpi(page, "p95") == ("2.13 s", "2125")
    assert kpi(page, "ttft")[1] == str(850 / 3)
    assert kpi(page, "saved")[0].startswith("$")

    # ...cost over time has one bar per day of the window, the days without calls at zero
    days = bar_values(page, "chart-cost-time")
    assert len(days) in (7, 8)  # 7 x 24 h from mid-day spans 8 dates
    assert [v for v in days if v > 0] == [g["cost_usd"] for g in by_day(_asked(api, "day")["answered_to"])]
    assert len(_keys(page)) == len(days)

    # ...cost per function and per model: one bar each, longest for the dearest
    assert bar_values(page, "chart-cost-function") == [g["cost_usd"] for g in BY_FUNCTION]
    assert bar_values(page, "chart-cost-model") == [g["cost_usd"] for g in BY_MODEL]
    labels = page.eval_on_selector_all(
        'svg[data-testid="chart-cost-function"] text.category', "t => t.map(x => x.dataset.label)"
    )
    assert labels == ["analyze", "video", "smart_actions"]

    # ...the outcome mix: the totals' row and one per function, hit/shared/bypass/miss segments
    segments = page.eval_on_selector_all(
        'svg[data-testid="chart-outcomes"] rect.seg', "r => r.map(x => [x.dataset.outcome, Number(x.dataset.value)])"
    )
    assert segments[:4] == [["hit", 700], ["shared", 40], ["bypass", 12], ["miss", TOTALS["misses"]]]
    assert len(segments) == 4 + 4 + 4 + 3  # smart_actions had no bypass

    # ...latency percentiles per function, and TTFT in the table
    assert bar_values(page, "chart-latency", "rect.bar.p95") == [g["latency_ms"]["p95"] for g in BY_FUNCTION]
    table = page.locator('[data-testid="latency-table"] tbody tr')
    assert table.count() == len(BY_FUNCTION) + 1
    assert "TTFT p50" in (page.text_content('[data-testid="latency-table"] thead') or "")

    # ...the recent errors
    rows = page.locator('[data-testid="error-row"]')
    assert rows.count() == 2
    assert "upstream_unavailable" in (rows.nth(0).text_content() or "")
    assert "req-0123456789abcdef" in (rows.nth(0).text_content() or "")

    # ...charts are images with a title, a description and axis titles; nothing overflows; no error
    assert_accessible_charts(page)
    assert_fits(page, LAPTOP["width"])
    assert page.locator('[data-testid="error"]').is_hidden()
    assert page.locator('[data-testid="empty"]').is_hidden()
    assert page.text_content('[data-testid="updated"]') != "never"
    page.screenshot(path=str(artifacts_dir / "ai-metrics-dashboard-canned.png"), full_page=True)

    # ...and it asked for the last 7 days by day, by function (unfiltered) and by model, as acme
    asked = {r["params"].get("group_by") for r in api.requests if r["api"] == "performance"}
    assert asked == {"day", "function", "model"}
    assert {r["org"] for r in api.requests} == {"acme"}
    assert all(r["authorization"] is None for r in api.requests)
    for asked in (r["params"] for r in api.requests if r["api"] == "performance"):
        assert "to" not in asked  # the server's now: a browser clock behind it would miss the latest calls
        assert _iso(asked["from"]) == pytest.approx(time.time() - 7 * 24 * 3600, abs=60)

    # When the viewport is a phone's, Then it still fits, in one column
    page.set_viewport_size(PHONE)
    page.wait_for_function(
        "document.querySelector('svg[data-testid=chart-cost-time]').getAttribute('width') <= 390", timeout=PATIENCE_MS
    )
    assert_fits(page, PHONE["width"])
    assert kpi(page, "calls")[1] == "1234"
    page.screenshot(path=str(artifacts_dir / "ai-metrics-dashboard-canned-phone.png"), full_page=True)


def _keys(page: Page) -> set[str]:
    keys: list[str] = page.eval_on_selector_all(
        'svg[data-testid="chart-cost-time"] rect.bar', "r => r.map(x => x.dataset.key)"
    )
    return set(keys)


def _asked(api: Canned, group_by: str) -> dict[str, Any]:
    request: dict[str, Any] = next(r for r in api.requests if r["params"].get("group_by") == group_by)
    return request


def _iso(value: str) -> float:
    return _moment(value).timestamp()


def test_window_and_function_filter_change_the_query(page: Page, canned: tuple[str, Canned]) -> None:
    # Given the dashboard
    url, api = canned
    open_dashboard(page, url, "org=acme&refresh=0")
    first = renders(page)

    # When the window is set to 24 h
    api.requests.clear()
    page.select_option('[data-testid="window"]', "24h")
    wait_for_renders(page, first + 1)

    # Then cost over time is by hour, 24 h wide, one bar per hour
    performance = [r["params"] for r in api.requests if r["api"] == "performance"]
    assert {p["group_by"] for p in performance} == {"hour", "function", "model"}
    assert all(_iso(p["from"]) == pytest.approx(time.time() - 24 * 3600, abs=60) for p in performance)
    assert len(bar_values(page, "chart-cost-time")) in (24, 25)
    assert "Hour (UTC)" in (page.text_content('svg[data-testid="chart-cost-time"]') or "")
    assert "window=24h" in page.url

    # When a function is chosen
    api.requests.clear()
    page.select_option('[data-testid="function"]', "video")
    wait_for_renders(page, first + 2)

    # Then the timeline and the per-model view are filtered, the per-function view is not (it
    # highlights the choice)
    performance = [r["params"] for r in api.requests if r["api"] == "performance"]
    by = {p["group_by"]: p for p in performance}
    assert by["hour"]["function"] == "video"
    assert by["model"]["function"] == "video"
    assert "function" not in by["function"]
    selected = page.eval_on_selector_all(
        'svg[data-testid="chart-cost-function"] rect.bar.selected', "r => r.map(x => x.dataset.key)"
    )
    assert selected == ["video"]
    assert "function=video" in page.url

    # When the page is reloaded, Then the choices stay (they are in the URL)
    page.reload()
    page.wait_for_selector(READY, state="attached")
    assert page.input_value('[data-testid="window"]') == "24h"
    assert page.input_value('[data-testid="function"]') == "video"


def test_bearer_token_is_sent_and_kept_for_the_tab(page: Page, canned: tuple[str, Canned]) -> None:
    # Given the dashboard without ?org= (deployed, the org comes from a JWT)
    url, api = canned
    open_dashboard(page, url, "refresh=0")
    assert all(r["org"] is None for r in api.requests)
    assert page.text_content('[data-testid="org"]') == "demo"
    first = renders(page)

    # When a token is entered
    api.requests.clear()
    page.click("#token-toggle")
    page.fill("#token", "Bearer eyJ.test.token")
    page.click("#token-form button[type=submit]")
    wait_for_renders(page, first + 1)

    # Then every API call carries it, and it is kept in sessionStorage across a reload
    assert api.requests
    assert {r["authorization"] for r in api.requests} == {"Bearer eyJ.test.token"}
    page.reload()
    page.wait_for_selector(READY, state="attached")
    assert api.requests[-1]["authorization"] == "Bearer eyJ.test.token"

    # When it is cleared, Then calls go without it
    api.requests.clear()
    page.click("#token-toggle")
    page.click("#token-clear")
    page.wait_for_function("Number(document.body.dataset.renders) >= 2")
    assert {r["authorization"] for r in api.requests} == {None}


def test_empty_state(page: Page, canned: tuple[str, Canned]) -> None:
    # Given an org with no calls in the window
    url, api = canned
    api.scenario = "empty"

    # When the dashboard opens
    open_dashboard(page, url, "org=new-org&refresh=0")

    # Then it says so, with zeros and no charts of nothing
    assert page.locator("body").get_attribute("data-state") == "empty"
    assert page.locator('[data-testid="empty"]').is_visible()
    assert kpi(page, "calls") == ("0", "0")
    assert kpi(page, "p95")[0] == "–"
    assert "No calls in this window" in (page.text_content("#chart-cost-function") or "")
    assert page.locator('[data-testid="errors-none"]').is_visible()
    assert page.locator('[data-testid="error"]').is_hidden()


def test_error_state_then_recovery(page: Page, canned: tuple[str, Canned], artifacts_dir: Path) -> None:
    # Given APIs that fail
    url, api = canned
    api.scenario = "error"

    # When the dashboard opens
    page.goto(f"{url}{PAGE}?org=acme&refresh=1")

    # Then it shows the API's error code, message and request id, and is not ready
    page.wait_for_selector('[data-testid="error"]:not([hidden])', timeout=PATIENCE_MS)
    error = page.text_content('[data-testid="error"]') or ""
    assert "upstream_unavailable" in error
    assert "The perf log is unavailable." in error
    assert "req-canned-error-1" in error
    assert page.locator("body").get_attribute("data-state") == "error"
    assert page.locator("body").get_attribute("data-ready") == "false"
    page.screenshot(path=str(artifacts_dir / "ai-metrics-dashboard-error.png"), full_page=True)

    # When the APIs recover, Then the next refresh renders and the error goes away
    api.scenario = "normal"
    page.wait_for_selector(READY, state="attached", timeout=PATIENCE_MS)
    assert page.locator('[data-testid="error"]').is_hidden()
    assert kpi(page, "calls")[1] == "1234"


def test_live_refresh_updates_in_place_and_pauses_when_hidden(page: Page, canned: tuple[str, Canned]) -> None:
    # Given the dashboard refreshing every second, on a clock the test moves: the page's timers fire
    # only when the test says time has passed, however slowly a busy machine runs the page
    url, api = canned
    page.clock.install()
    open_dashboard(page, url, "org=acme&refresh=1")
    chart = page.locator('svg[data-testid="chart-cost-function"]')
    chart.evaluate("svg => { svg.dataset.marker = 'original'; }")
    page.evaluate("window.loadedOnce = true")  # a reload would lose it

    # When more calls come in, and a second passes
    api.extra_calls = 5
    page.clock.run_for(1_000)

    # Then the KPI updates without a reload, and charts whose data did not change are left alone
    # (the refresh that rendered it has ended and scheduled the next: both happen in one task)
    page.wait_for_function(
        "document.querySelector('[data-testid=kpi-calls]').dataset.value === '1239'", timeout=PATIENCE_MS
    )
    assert chart.get_attribute("data-marker") == "original"
    assert page.evaluate("window.loadedOnce") is True  # (the fake clock fakes `performance` too)

    # When the tab is hidden, Then it stops asking, however much time passes
    page.evaluate(
        """() => {
            Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
            Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    asked = len(api.requests)
    # (fetch is called in the timer's own task, so the page's count is exact once the clock has run)
    page.evaluate(
        """() => {
            window.fetchCalls = 0;
            const fetch = window.fetch;
            window.fetch = (...args) => { window.fetchCalls += 1; return fetch(...args); };
        }"""
    )
    page.clock.run_for(60_000)
    assert page.evaluate("window.fetchCalls") == 0
    assert len(api.requests) == asked
    assert page.locator("#paused").is_visible()

    # When it is shown again, Then it refreshes at once and goes on
    before = renders(page)
    page.evaluate(
        """() => {
            delete document.hidden;
            delete document.visibilityState;
            document.dispatchEvent(new Event('visibilitychange'));
        }"""
    )
    wait_for_renders(page, before + 1)
    assert page.locator("#paused").is_hidden()
    page.clock.run_for(1_000)
    wait_for_renders(page, before + 2)


# ---------------------------------------------------------------------------------------------
# The dev server after real traffic (the acceptance test)


@dataclass(frozen=True)
class DevServer:
    url: str
    runtime: LocalRuntime


@pytest.fixture(scope="module")
def dev_server() -> Iterator[DevServer]:
    with running_dev_server() as (url, runtime):
        assert runtime.model is not None, "the dev server must run on the simulated model"
        yield DevServer(url, runtime)


def make_traffic(dev: DevServer, org: str) -> dict[str, int]:
    """Analyses of the example lead and of a variant, repeated: misses, then cache hits."""
    variant: dict[str, Any] = copy.deepcopy(EXAMPLE_LEAD)
    variant["roof"]["age_years"] += 7
    outcomes: dict[str, int] = {}
    with httpx.Client(base_url=dev.url, headers={"X-Org-Id": org}, timeout=PATIENCE_S) as client:
        for body in [EXAMPLE_LEAD, EXAMPLE_LEAD, variant, EXAMPLE_LEAD, variant, EXAMPLE_LEAD]:
            answer = client.post("/v1/analyze", json=body)
            assert answer.status_code == 200, answer.text
            cache = answer.headers["X-Dominus-Cache"]
            outcomes[cache] = outcomes.get(cache, 0) + 1
    return outcomes


def performance_totals(dev: DevServer, org: str, calls: int, timeout_s: float = PATIENCE_S) -> dict[str, Any]:
    """The API's totals for the org once its perf records of `calls` calls are all in."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert dev.runtime.engine is not None
        dev.runtime.engine.flush_records()
        answer = httpx.get(
            f"{dev.url}{PERFORMANCE}", params={"group_by": "function"}, headers={"X-Org-Id": org}, timeout=PATIENCE_S
        )
        assert answer.status_code == 200, answer.text
        totals: dict[str, Any] = answer.json()["totals"]
        if totals["calls"] >= calls or time.monotonic() > deadline:
            return totals
        time.sleep(0.2)


def test_dashboard_on_the_dev_server_after_traffic(page: Page, dev_server: DevServer, artifacts_dir: Path) -> None:
    dev = dev_server
    for path in [PAGE, PERFORMANCE, SETTINGS]:
        status = httpx.get(f"{dev.url}{path}", timeout=PATIENCE_S).status_code
        if status == 404:
            pytest.fail(
                f"the dev server does not serve {path}: mount metrics.dashboard.dashboard_router() and the "
                "metrics and settings APIs in dominus_dev.server.create_dev_app",
                pytrace=False,
            )

    # Given a fresh org's traffic: analyses, some repeated (cache hits)
    org = f"e2e-dash-{uuid.uuid4().hex[:10]}"
    outcomes = make_traffic(dev, org)
    assert outcomes.get("hit", 0) >= 2, outcomes
    calls = sum(outcomes.values())
    totals = performance_totals(dev, org, calls)
    assert totals["calls"] == calls, totals
    settings = httpx.get(f"{dev.url}{SETTINGS}", headers={"X-Org-Id": org}, timeout=PATIENCE_S).json()

    # When the dashboard opens at laptop width, refreshing every second
    page.set_viewport_size(LAPTOP)
    open_dashboard(page, dev.url, f"org={org}&refresh=1")

    # Then the numbers are the API's, and the charts have bars
    assert page.text_content('[data-testid="org"]') == org
    assert kpi(page, "calls")[1] == str(totals["calls"])
    assert kpi(page, "calls")[0] == str(totals["calls"])
    assert float(kpi(page, "hit-rate")[1]) == pytest.approx(totals["hit_rate"])
    assert float(kpi(page, "cost")[1]) == pytest.approx(totals["cost_usd"])
    assert page.get_attribute('[data-testid="mode"]', "data-value") == settings["mode_default"]
    assert page.get_attribute('[data-testid="balance"]', "data-value") == str(settings["token_balance"])
    assert any(v > 0 for v in bar_values(page, "chart-cost-time"))
    assert bar_values(page, "chart-cost-function")
    assert page.eval_on_selector_all(
        'svg[data-testid="chart-cost-function"] text.category', "t => t.map(x => x.dataset.label)"
    ) == ["analyze"]
    assert bar_values(page, "chart-cost-model")
    hits = [v for o, v in _segments(page) if o == "hit"]
    assert hits and hits[0] == outcomes["hit"]
    assert any(v > 0 for v in bar_values(page, "chart-latency", "rect.bar.p95"))
    assert_accessible_charts(page)
    assert_fits(page, LAPTOP["width"])
    page.screenshot(path=str(artifacts_dir / "ai-metrics-dashboard.png"), full_page=True)

    # When another call is made, Then the page shows it on its own (live refresh)
    with httpx.Client(base_url=dev.url, headers={"X-Org-Id": org}, timeout=PATIENCE_S) as client:
        assert client.post("/v1/analyze", json=EXAMPLE_LEAD).status_code == 200
    performance_totals(dev, org, calls + 1)
    page.wait_for_function(
        f"document.querySelector('[data-testid=kpi-calls]').dataset.value === '{calls + 1}'", timeout=PATIENCE_MS
    )

    # When it opens on a phone, Then it fits the screen with the same numbers
    page.set_viewport_size(PHONE)
    open_dashboard(page, dev.url, f"org={org}&refresh=1")
    assert kpi(page, "calls")[1] == str(calls + 1)
    assert any(v > 0 for v in bar_values(page, "chart-cost-time"))
    assert_fits(page, PHONE["width"])
    page.screenshot(path=str(artifacts_dir / "ai-metrics-dashboard-phone.png"), full_page=True)


def _segments(page: Page) -> list[tuple[str, float]]:
    raw: list[list[Any]] = page.eval_on_selector_all(
        'svg[data-testid="chart-outcomes"] rect.seg', "r => r.map(x => [x.dataset.outcome, Number(x.dataset.value)])"
    )
    return [(o, v) for o, v in raw]
