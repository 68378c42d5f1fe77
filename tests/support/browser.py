"""Pytest plugin: headless Chromium (Debian's `chromium` package) driven by Playwright for Python.

Playwright's own browser download (`playwright install`) cannot run here, so it drives the system
Chromium through `executable_path`; the `playwright` wheel ships its driver, so pip is all it needs.

- `browser` (module): one Chromium per test module. Not per session: Playwright's sync API keeps an
  event loop running in this thread while it is open, and async tests after it could not start theirs.
- `page` (function): a fresh context and page; uncaught script errors in it fail the test.
- `artifacts_dir`: test-artifacts/ (gitignored), for screenshots.

A missing Chromium fails the tests that need it, loudly: CI must not go green on a skipped suite.
`.ci/run` installs it; `DOMINUS_CHROMIUM` names another binary.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = (
    "Chromium is missing: install Debian's package (apt-get update && apt-get install -y chromium), "
    "or set DOMINUS_CHROMIUM to a Chromium binary. The e2e tests fail rather than skip without it."
)
# Per the machine notes: without the background-networking flags Chromium keeps trying to reach
# Google's hosts, which this closed network refuses; the sandbox needs privileges CI (root) lacks.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
]


def chromium_path() -> str | None:
    """The Chromium binary to drive: DOMINUS_CHROMIUM, else /usr/bin/chromium, else `chromium` on PATH."""
    named = os.environ.get("DOMINUS_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    if Path(DEFAULT_CHROMIUM).is_file():
        return DEFAULT_CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: pip install -e '.[dev]'", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context (no shared cookies or cache); uncaught page errors fail the test."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """test-artifacts/ at the repository root (gitignored): screenshots and other things to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
