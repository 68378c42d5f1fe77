"""The dev server's /docs and /redoc in headless Chromium with every other host cut off, as on a machine
without internet: each page renders the whole API from the server's own assets and OpenAPI document.
Screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.dev_server import running_dev_server

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

pytestmark = pytest.mark.e2e

# ReDoc's attribution logo: its script names it, and hides the image when it cannot be loaded.
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.fixture(scope="module")
def dev_url() -> Iterator[str]:
    with running_dev_server() as (url, _runtime):
        yield url


@pytest.fixture
def offline_page(page: Page, dev_url: str) -> tuple[Page, list[str]]:
    """The page, with requests to any host but the dev server's refused and recorded."""
    own_host = urlsplit(dev_url).netloc
    elsewhere: list[str] = []

    def only_this_server(route: Route) -> None:
        if urlsplit(route.request.url).netloc == own_host:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    return page, elsewhere


def operation_count(dev_url: str) -> int:
    paths = httpx.get(f"{dev_url}/openapi.json", timeout=30).json()["paths"]
    return sum(len(item) for item in paths.values())


def test_swagger_ui_renders_every_operation_offline(
    offline_page: tuple[Page, list[str]], dev_url: str, artifacts_dir: Path
) -> None:
    page, elsewhere = offline_page
    page.goto(f"{dev_url}/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    page.screenshot(path=str(artifacts_dir / "api-reference-swagger.png"))
    assert page.locator(".opblock").count() == operation_count(dev_url)
    assert page.locator(".errors-wrapper").count() == 0  # Swagger UI's box for a document it cannot read
    assert elsewhere == []


def test_redoc_renders_every_operation_offline(
    offline_page: tuple[Page, list[str]], dev_url: str, artifacts_dir: Path
) -> None:
    page, elsewhere = offline_page
    page.goto(f"{dev_url}/redoc")
    page.wait_for_selector("[data-section-id^='operation/']", timeout=20_000)
    page.screenshot(path=str(artifacts_dir / "api-reference-redoc.png"))
    assert page.locator("[data-section-id^='operation/']").count() == operation_count(dev_url)
    assert set(elsewhere) <= {REDOC_LOGO}
    assert page.locator(f"img[src='{REDOC_LOGO}']").count() == 0
