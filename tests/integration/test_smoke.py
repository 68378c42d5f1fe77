"""`dominus smoke` against the dev server as `make run` serves it (embedded defaults: Memory store,
embedded moto, the simulated model), through the command line and over real HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dominus_dev.cli import main
from dominus_dev.local import LocalRuntime
from tests.support.dev_server import running_dev_server

pytestmark = pytest.mark.integration

CHECKS = (
    "healthz",
    "analyze (first)",
    "analyze (again)",
    "analyze stream",
    "vision upload offer",
    "vision upload post",
    "vision job",
)


@pytest.fixture(scope="module")
def dev_server() -> Iterator[tuple[str, LocalRuntime]]:
    with running_dev_server() as server:
        yield server


def test_every_smoke_check_passes_against_the_dev_server(
    dev_server: tuple[str, LocalRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = dev_server
    code = main(["smoke", url, "--org", f"smoke-{uuid.uuid4().hex[:8]}"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0, "\n".join(lines)
    results = {line[6:26].strip(): line[:4].strip() for line in lines[1:-1]}  # "ok    <name>  <status> ..."
    assert results == dict.fromkeys(CHECKS, "ok")
    assert lines[-1] == f"{len(CHECKS)} of {len(CHECKS)} checks passed"


def test_a_failing_check_makes_the_exit_code_non_zero(
    dev_server: tuple[str, LocalRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = dev_server
    code = main(["smoke", url, "--org", "not a valid org id"])  # every org-scoped route answers 400
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert lines[1].startswith("ok    healthz")
    assert lines[2].split()[:4] == ["FAIL", "analyze", "(first)", "400"]
    assert "bad_request: org id must be" in lines[2]
    assert lines[-1].startswith("1 of 4 checks passed; failed: analyze (first), analyze stream, vision upload offer")
