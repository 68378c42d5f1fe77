"""`dominus serve` stops on SIGTERM with a geometry analysis running: the request's work is cancelled
after the short grace (its worker process killed), instead of the server waiting for it to finish.

The server runs as its own process, as `make run` starts it; its worker is found as a child of its
forkserver (a grandchild of the server) in /proc.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from dominus_dev.serving import free_port
from tests.support.waiting import PATIENCE_S, wait_until

pytestmark = pytest.mark.integration

# What would point the server away from its embedded defaults (a real model, a real store).
_NOT_EMBEDDED = ("OPENAI_", "REDIS_", "UPSTASH_", "DOMINUS_", "AWS_")


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # after the command name, which may hold spaces
        children.setdefault(parent, []).append(int(entry.name))
    return children


def _grandchildren(pid: int) -> list[int]:
    tree = _children()
    return [grandchild for child in tree.get(pid, []) for grandchild in tree.get(child, [])]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith(_NOT_EMBEDDED)}
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "dominus_dev.cli", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield server, f"http://127.0.0.1:{port}"
        finally:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_sigterm_stops_the_server_and_its_running_geometry_work(
    dev_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    server, url = dev_server
    wait_until(lambda: _healthy(url), "the dev server answered /healthz")
    # Given an analysis that takes many seconds (1M cells of noise, inside the synchronous limit)
    buffer = io.BytesIO()
    np.save(buffer, np.random.default_rng(1).normal(5.0, 2.0, (1000, 1000)))
    outcome: list[Any] = []

    def post() -> None:
        try:
            outcome.append(
                httpx.post(
                    f"{url}/v1/geometry/analyze",
                    files={"file": ("surface.npy", buffer.getvalue())},
                    data={"resolution": "0.1"},
                    timeout=PATIENCE_S,
                )
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    client = threading.Thread(target=post, daemon=True)
    client.start()
    wait_until(lambda: bool(_grandchildren(server.pid)), "the analysis started in a worker")
    workers = _grandchildren(server.pid)
    # When the server is told to stop
    server.send_signal(signal.SIGTERM)
    # Then it exits (uvicorn shuts down, then re-raises the signal), its worker is gone, and the request
    # was cut off rather than waited for
    assert server.wait(timeout=PATIENCE_S) in (0, -signal.SIGTERM)
    wait_until(lambda: not any(_alive(pid) for pid in workers), "the worker process ended")
    client.join(PATIENCE_S)
    assert len(outcome) == 1
    # cut off: the connection dropped, or a 503 that says to send it again (never a 500)
    cut_off = outcome[0]
    if not isinstance(cut_off, httpx.HTTPError):
        assert cut_off.status_code == 503, cut_off.text
        assert cut_off.json()["error"]["code"] == "shutting_down"
