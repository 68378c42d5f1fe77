"""An Upstash-REST-compatible server over a real redis-server, for `make run` and the tests.

It speaks the subset of the Upstash REST protocol that the `upstash-redis` client uses: `POST /` with a
JSON command array, `POST /pipeline`, `POST /multi-exec`, `Authorization: Bearer <token>` and the
`Upstash-Encoding: base64` reply encoding. Replies are `{"result": ...}` or `{"error": "..."}`.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ExecAbortError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dominus_dev.serving import ServerThread

JSONValue = str | int | None | list["JSONValue"]

MAX_CONNECTIONS = 256  # as many as the engine's own pool (DOMINUS_STORE_CONNECTIONS)


class _BadRequest(Exception):
    """The body is not a command (or list of commands) in Upstash's shape."""


def _error_text(exc: RedisError) -> str:
    # redis-py moves a known error code (ERR, NOSCRIPT, EXECABORT...) from the text into `status_code`
    # and leaves unknown ones (WRONGTYPE) in it; Upstash relays Redis' text verbatim, so put it back.
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return f"{exc.status_code} {text}" if exc.status_code else text


def _encode(value: Any, b64: bool) -> JSONValue:
    """A raw RESP2 reply as Upstash puts it in JSON (`format_response` in the client undoes this)."""
    if isinstance(value, bytes):
        # The client decodes every string from base64 except the status "OK", so Upstash leaves it plain.
        if b64 and value != b"OK":
            return base64.b64encode(value).decode("ascii")
        # JSON strings cannot carry arbitrary bytes; that is what the base64 encoding is for.
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_encode(item, b64) for item in value]
    if isinstance(value, RedisError):  # an error nested in an array reply (e.g. from a script)
        return _error_text(value)
    if value is None or isinstance(value, int):
        return value
    raise TypeError(f"unexpected reply type {type(value).__name__}")


def _command(raw: Any) -> list[bytes]:
    if not isinstance(raw, list) or not raw:
        raise _BadRequest("a command must be a non-empty JSON array")
    args: list[bytes] = []
    for arg in raw:
        # bool is an int subclass, but Redis has no booleans and "True" would be a silent surprise.
        if isinstance(arg, bool) or not isinstance(arg, str | int | float):
            raise _BadRequest(f"command arguments must be strings or numbers, got {arg!r}")
        args.append(arg.encode() if isinstance(arg, str) else str(arg).encode())
    return args


def _commands(raw: Any) -> list[list[bytes]]:
    if not isinstance(raw, list) or not raw:
        raise _BadRequest("a batch must be a non-empty JSON array of commands")
    return [_command(item) for item in raw]


def _item(value: Any, b64: bool) -> dict[str, JSONValue]:
    if isinstance(value, RedisError):
        return {"error": _error_text(value)}
    return {"result": _encode(value, b64)}


def create_app(redis_url: str, token: str) -> Starlette:
    """The REST app; `redis_url` names the backing redis-server, `token` the only accepted bearer."""
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_url,
        # A burst of requests queues for a connection (redis-py's plain pool fails past 100 of them).
        max_connections=MAX_CONNECTIONS,
        timeout=5.0,
        decode_responses=False,
        # RESP2, as Upstash relays it (redis-py 7+ would speak RESP3, whose maps this server cannot relay).
        protocol=2,
        # One immediate retry reconnects a pooled connection that a Redis restart left dead; more
        # retries with backoff would only make a stopped Redis look like a hang to the caller.
        retry=Retry(NoBackoff(), 1),
        socket_connect_timeout=1.0,
        socket_timeout=5.0,
    )
    client = aioredis.Redis(connection_pool=pool)
    # No reply callbacks: the raw RESP2 reply (bytes, int, None, list) is what Upstash relays.
    client.response_callbacks.clear()
    expected = f"Bearer {token}".encode()

    def authorized(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    async def run(request: Request, transaction: bool | None) -> JSONResponse:
        """One command (`transaction` None) or a batch; the batch is MULTI/EXEC when `transaction`."""
        if not authorized(request):
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        b64 = request.headers.get("upstash-encoding", "").lower() == "base64"
        try:
            body = json.loads(await request.body())
            if transaction is None:
                # redis-py leaves execute_command unannotated; its raw reply is what we encode.
                reply = await client.execute_command(*_command(body))  # type: ignore[no-untyped-call]
                return JSONResponse({"result": _encode(reply, b64)})
            pipe = client.pipeline(transaction=transaction)
            for args in _commands(body):
                pipe.execute_command(*args)
            replies = await pipe.execute(raise_on_error=False)
            return JSONResponse([_item(reply, b64) for reply in replies])
        except (_BadRequest, json.JSONDecodeError) as exc:
            return JSONResponse({"error": f"ERR bad request: {exc}"}, status_code=400)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Not an Upstash status, but the client raises UpstashError on any `error` body,
            # which is what a store that fails open needs to see when Redis is down.
            return JSONResponse({"error": f"redis unavailable: {exc}"}, status_code=503)
        except RedisError as exc:
            # A queue-time error aborts the whole transaction; Redis' own EXEC reply says so.
            cause = exc.__cause__ if isinstance(exc.__cause__, ExecAbortError) else exc
            return JSONResponse({"error": _error_text(cause)}, status_code=400)

    async def single(request: Request) -> JSONResponse:
        return await run(request, None)

    async def pipeline(request: Request) -> JSONResponse:
        return await run(request, False)

    async def multi_exec(request: Request) -> JSONResponse:
        return await run(request, True)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    routes = [
        Route("/", single, methods=["POST"]),
        Route("/pipeline", pipeline, methods=["POST"]),
        Route("/multi-exec", multi_exec, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(redis_url: str, token: str, port: int | None = None) -> ServerThread:
    """Serve `create_app(redis_url, token)` on 127.0.0.1 (a free port unless given); returns once up."""
    return ServerThread(create_app(redis_url, token), port=port).start()
