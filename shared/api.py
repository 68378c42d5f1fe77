"""What every AI function's HTTP surface is made of.

One `AIRoute` gives two routes: `POST <path>` (the validated JSON result with the X-Dominus-* headers)
and `POST <path>/stream` (the contract's SSE events). A `Function` bundles its routes into a router
and declares its deployment spec (shared.deployment builds the app, served by Mangum buffered or by
Lambda Web Adapter streaming: one app, two deployments, no second code path).

No `from __future__ import annotations` here: FastAPI reads the route functions' annotations, and
they name classes only known when a route is built.
"""

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar

import anyio
from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from shared.deployment import FunctionSpec
from shared.engine import CallContext, Engine
from shared.errors import DominusError, error_responses
from shared.events import StreamEvent, to_sse
from shared.http import JSON_BODY_ERRORS, JsonRoute, ai_json, org_id_of, request_id_of
from shared.modes import Mode
from shared.requests import AIRequest
from shared.runtime import Clients

logger = logging.getLogger(__name__)

B = TypeVar("B", bound=BaseModel)
EngineProvider = Callable[[], Engine]
Env = Literal["local", "aws"]

MODE_QUERY = Query(
    None, description="cheap, smart or auto; the org's default applies when absent (an org's cheap is a ceiling)"
)
# What an AI route answers besides its result, with the error envelope (the app builder declares what
# any route may answer: shared.http.ROUTE_ERRORS).
AI_ERRORS = error_responses(403, *JSON_BODY_ERRORS, 502, 503, 504)
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no", "Connection": "keep-alive"}


@dataclass(frozen=True)
class AIRoute(Generic[B]):
    """One AI operation over HTTP."""

    path: str
    body: type[B]
    response_model: type[BaseModel]
    build: Callable[[B, Mode | None], AIRequest[Any]]
    summary: str
    description: str = ""
    examples: dict[str, Any] = field(default_factory=dict)  # OpenAPI examples of the body, by name


def sse_response(
    events: AsyncIterator[StreamEvent], request_id: str, after: Callable[[], object] | None = None
) -> StreamingResponse:
    """SSE frames; `after` runs once the last frame is out (or the client left), off the event loop."""

    async def frames() -> AsyncIterator[str]:
        try:
            async for event in events:
                yield to_sse(event)
        finally:
            if after is not None:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(after)

    headers = SSE_HEADERS | {"X-Request-Id": request_id}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)


class Function:
    """A capability: its name (in perf records), its routes, and its limits."""

    def __init__(self, name: str, title: str, routes: Sequence[AIRoute[Any]], *, max_body_bytes: int = 64_000) -> None:
        self.name = name
        self.title = title
        self.routes = list(routes)
        self.max_body_bytes = max_body_bytes

    def router(self, engine: EngineProvider, env: Env, *, flush_after_stream: bool = False) -> APIRouter:
        """The routes. `flush_after_stream`: write a stream's records as it ends (a Lambda Web Adapter
        sandbox may be frozen once the response is over)."""
        router = APIRouter(tags=[self.title], route_class=JsonRoute)
        for route in self.routes:
            self._add(router, route, engine, env, flush_after_stream)
        return router

    def _add(
        self, router: APIRouter, route: AIRoute[Any], engine: EngineProvider, env: Env, flush_after_stream: bool
    ) -> None:
        body_type = route.body
        annotated_body = Annotated[body_type, Body(openapi_examples=route.examples or None)]  # type: ignore[valid-type]
        function = self.name

        def context(request: Request) -> CallContext:
            return CallContext(org_id_of(request, env), request_id_of(request), function)

        async def buffered(request: Request, body: annotated_body, mode: Mode | None = MODE_QUERY) -> JSONResponse:
            result = await engine().generate(context(request), route.build(body, mode))
            return ai_json(result)

        async def stream(request: Request, body: annotated_body, mode: Mode | None = MODE_QUERY) -> StreamingResponse:
            call = context(request)
            after = (lambda: engine().flush_records()) if flush_after_stream else None
            # What fails before the first event (the balance, the settings) is an HTTP error with its
            # status, as for the buffered route; later failures are `error` events.
            try:
                events = await engine().start_stream(call, route.build(body, mode))
            except DominusError:
                if after is not None:
                    await anyio.to_thread.run_sync(after)
                raise
            return sse_response(events, call.request_id, after)

        router.add_api_route(
            route.path,
            buffered,
            methods=["POST"],
            response_model=route.response_model,
            responses=AI_ERRORS,
            summary=route.summary,
            description=route.description,
            operation_id=f"{function}_{route.path.strip('/').replace('/', '_').replace('-', '_')}",
        )
        router.add_api_route(
            route.path + "/stream",
            stream,
            methods=["POST"],
            summary=route.summary + " (stream)",
            description=(
                "Server-Sent Events: `meta`, then `delta` repeated, then `result` and `done`; or `error`."
                " A cached answer replays at once; identical streams in flight share one upstream call."
            ),
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}}, "description": "SSE events"}, **AI_ERRORS},
            operation_id=f"{function}_{route.path.strip('/').replace('/', '_').replace('-', '_')}_stream",
        )

    def spec(self) -> FunctionSpec:
        """The deployment spec: a buffered deployment and its streaming twin, on the clients' engine.
        In AWS a stream's records are written as it ends (a Lambda Web Adapter sandbox may be frozen
        once the response is over)."""

        def routers(clients: Clients) -> list[APIRouter]:
            env = clients.settings.dominus_env
            return [self.router(clients.engine, env, flush_after_stream=env == "aws")]

        return FunctionSpec(self.name, self.title, routers, max_body_bytes=self.max_body_bytes, streaming=True)
