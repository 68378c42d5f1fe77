"""Fixtures for a private redis-server and the Upstash-REST server over it.

Each pytest process (each xdist worker too) runs its own redis-server on a free port, so tests never
share state across processes; within a process, every test gets a flushed database.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from dominus_dev.serving import free_port
from dominus_dev.upstash_rest import serve

INSTALL_HINT = "redis-server is not on PATH; install it (apt-get install redis-server) to run these tests"


class RedisServer:
    """A redis-server subprocess on 127.0.0.1 without persistence; restartable on the same port."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(INSTALL_HINT)
        self._binary = binary
        self.port = port or free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="redis-server-")
        self._log = Path(self._dir.name) / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 60.0) -> RedisServer:
        """Start (or restart, on the same port) and return once it answers PING; no-op if running.

        The timeout is generous: a loaded machine can be slow to exec and schedule a fresh process.
        """
        if self.running:
            return self
        # fmt: off
        args = [
            self._binary,
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            "--dir", self._dir.name, "--logfile", str(self._log),
        ]
        # fmt: on
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while not self._answers_ping():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{self._log_tail()}")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate and wait; the port and data directory are kept for `start()`."""
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def flush(self) -> None:
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5.0) as client:
            client.flushall()

    def close(self) -> None:
        self.stop()
        self._dir.cleanup()

    def _answers_ping(self) -> bool:
        try:
            with redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.2) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    def _log_tail(self) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


@dataclass(frozen=True)
class UpstashServer:
    """Where the Upstash-REST server listens and the token it accepts."""

    url: str
    token: str


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """This process's redis-server, for the whole session (a test may stop it; `redis_url` restarts it)."""
    if shutil.which("redis-server") is None:
        # Fail, not skip: a missing binary must not turn the integration suite silently green.
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = RedisServer()
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A running, empty redis-server's URL (restarted first if an earlier test stopped it)."""
    redis_server.start()
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def upstash_server(redis_server: RedisServer) -> Iterator[UpstashServer]:
    """The Upstash-REST server over this process's redis-server, for the whole session."""
    token = secrets.token_urlsafe(16)
    thread = serve(redis_server.url, token)
    yield UpstashServer(url=thread.url, token=token)
    thread.stop()


@pytest.fixture
def upstash_rest(upstash_server: UpstashServer, redis_url: str) -> tuple[str, str]:
    """`(url, token)` of the Upstash-REST server, with Redis running and flushed."""
    return upstash_server.url, upstash_server.token
