"""Run an ASGI app on a loopback port in a background thread.

The dev server embeds its collaborators (simulated model, Upstash-REST server) this way, and the tests
start the same servers the same way, so what the tests exercise is what `make run` serves.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import error_body


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (bound and released; good enough on loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# Generous: on a loaded machine an app's lifespan startup (imports, an embedded moto) can take a while.
START_TIMEOUT_S = 60.0
# On shutdown (SIGTERM, Ctrl-C, `stop()`), requests still running after this long are cancelled, which
# stops their work (a geometry analysis's worker process is killed): without it uvicorn waits for
# every open connection, however long its work takes.
GRACEFUL_SHUTDOWN_S = 3


def answer_cut_off_requests(app: ASGIApp) -> ASGIApp:
    """A request cancelled by the shutdown's grace before it answered gets a 503 that says to send it
    again (uvicorn would answer its own 500), and the contract's error envelope."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await app(scope, receive, tracked)
        except asyncio.CancelledError:
            if scope["type"] == "http" and not started:
                body = error_body(
                    "shutting_down", "The server is shutting down; send the request again.", uuid.uuid4().hex
                )
                headers = [(b"content-type", b"application/json"), (b"retry-after", b"1")]
                await send({"type": "http.response.start", "status": 503, "headers": headers})
                await send({"type": "http.response.body", "body": json.dumps(body).encode()})
            raise

    return wrapped


class ServerThread:
    """A uvicorn server in a daemon thread; `start()` returns once it accepts connections."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        # Bound here (port 0: the OS picks) and handed to uvicorn, so no other process can take the
        # port between choosing it and serving on it. IPPROTO_TCP named: asyncio turns Nagle's algorithm
        # off (TCP_NODELAY) only on sockets whose protocol says TCP, and with it on, a reply written in
        # two parts (headers, body) waited for the client's delayed ACK: 40 ms per request.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port or 0))
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            answer_cut_off_requests(app),
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"server:{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start within {timeout_s} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)
        self._socket.close()  # uvicorn closes it on shutdown; this covers a server never started

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
