"""What a function is, declared once, and the one builder that makes its app and its Lambda handler.

A `FunctionSpec` says what a function is: its name, its routers (built on `Clients`), its body limit,
whether a streaming deployment serves it too, and the events it takes (S3 uploads, work it hands
itself, schedules). From
it `deploy` makes what the template deploys: the FastAPI app (error handling, request ids, the body
limit, `/healthz`, `/docs` served offline) and one handler for every event the function receives (API Gateway through
Mangum, S3 records, work, schedules), which writes the invocation's perf records and balance debits once
the response has gone. The dev server serves the same specs through `build_app`, with local clients:
the local product is the deployed one.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from shared.docs import install_docs
from shared.errors import error_responses
from shared.http import ROUTE_ERRORS, JsonRoute, install_error_handling

if TYPE_CHECKING:
    from shared.runtime import Clients

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
HandlerFactory = Callable[["Clients"], Handler]
DEFAULT_MAX_BODY_BYTES = 64_000
# What the API reference says once: the answers no operation can list (no operation takes the request).
ERRORS = (
    'Every error is `{"error": {"code", "message", "request_id"}}` with its status, and each operation lists '
    "the statuses it can answer. A path the API does not have is 404; a method a path does not take is 405, "
    "with `Allow` naming the methods it does take."
)


@dataclass(frozen=True)
class Uploads:
    """S3 ObjectCreated events from the upload bucket, for the objects under `prefix` (shared.uploads):
    each function that takes uploads owns its prefix. The template filters the function's S3 event by
    it, the dev server hands an upload only to the functions whose prefix its key starts with, and a
    record that reaches a function anyway is dropped before its handler sees it. `max_bytes`: the
    largest object its presigned POSTs allow (the dev server reads a form up to it)."""

    handler: HandlerFactory
    prefix: str
    max_bytes: int

    def takes(self, key: str) -> bool:
        return key.startswith(self.prefix)

    def own(self, event: dict[str, Any]) -> dict[str, Any]:
        """The event with only the records of objects under this prefix (keys arrive URL-encoded)."""
        records = [r for r in event.get("Records", []) if self.takes(_record_key(r))]
        return {**event, "Records": records}


def _record_key(record: dict[str, Any]) -> str:
    key = record.get("s3", {}).get("object", {}).get("key", "")
    return urllib.parse.unquote_plus(key) if isinstance(key, str) else ""


@dataclass(frozen=True)
class Work:
    """Work the function hands to itself (`{"work": task}` events, shared.work)."""

    handler: HandlerFactory


@dataclass(frozen=True)
class Schedule:
    """An EventBridge schedule; the template's rule sends `{"schedule": name}`."""

    name: str
    handler: HandlerFactory
    description: str = ""


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # the package, the perf records' `function`, /healthz
    title: str  # the API reference's section
    routers: Callable[[Clients], Sequence[APIRouter]]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    streaming: bool = False  # a second deployment serves the app under Lambda Web Adapter (run.sh)
    uploads: Uploads | None = None
    work: Work | None = None
    schedules: tuple[Schedule, ...] = field(default=())

    def schedule(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)


class RouteLimits:
    """The body limit of whichever function owns the route a request is for; the smallest for a path
    no route matches (its answer is a 404 or 405, whatever it sends)."""

    def __init__(self) -> None:
        self._routes: list[tuple[BaseRoute, int]] = []

    def add(self, routes: Sequence[BaseRoute], max_bytes: int) -> None:
        self._routes += [(route, max_bytes) for route in routes]

    def __call__(self, scope: Scope) -> int:
        for route, max_bytes in self._routes:
            if route.matches(scope)[0] == Match.FULL:
                return max_bytes
        return min((limit for _, limit in self._routes), default=DEFAULT_MAX_BODY_BYTES)


def build_app(
    specs: Sequence[FunctionSpec],
    clients: Clients,
    *,
    title: str,
    description: str = "",
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    """The specs' routes on one app, each under its own function's body limit."""
    app = FastAPI(title=title, version="1.0.0", description=f"{description}\n\n{ERRORS}".strip(), lifespan=lifespan)
    limits = RouteLimits()
    for spec in specs:
        for router in spec.routers(clients):
            _check_routes(spec, router)
            app.include_router(router, responses=error_responses(*ROUTE_ERRORS))
            limits.add(router.routes, spec.max_body_bytes)
    install_error_handling(app, max_body_bytes=limits)
    install_docs(app)  # /docs and /redoc without a CDN
    app.state.body_limits = limits  # routes added later (the dev server's own) register theirs here
    return app


def _check_routes(spec: FunctionSpec, router: APIRouter) -> None:
    """Every route reads its JSON body strictly (shared.http.JsonRoute): a router made without it would
    answer NaN or undecodable bytes differently from the rest."""
    loose = [route.path for route in router.routes if isinstance(route, APIRoute) and not isinstance(route, JsonRoute)]
    if loose:
        raise TypeError(f"{spec.name}: make its APIRouter with route_class=JsonRoute ({', '.join(loose)})")


def function_app(spec: FunctionSpec, clients: Clients) -> FastAPI:
    """One function's deployed app: its routes and `/healthz`."""
    app = build_app([spec], clients, title=f"Dominus {spec.title}")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "function": spec.name}

    return app


def event_kind(event: dict[str, Any]) -> str:
    """`http` (API Gateway), `uploads` (S3 records), `work` (its own asynchronous invocation) or
    `schedule` (EventBridge)."""
    if isinstance(event.get("work"), dict):
        return "work"
    records = event.get("Records")
    if isinstance(records, list) and records and all(r.get("eventSource") == "aws:s3" for r in records):
        return "uploads"
    if "schedule" in event or event.get("detail-type") == "Scheduled Event":
        return "schedule"
    return "http"


class Deployment:
    """A function as Lambda runs it: `app` (served by Mangum here, or by uvicorn under Lambda Web
    Adapter for the streaming twin) and `handler`, the entry point of every event it takes."""

    def __init__(self, spec: FunctionSpec, clients: Clients, after_response: Callable[[], None]) -> None:
        self.spec = spec
        self.clients = clients
        self._after_response = after_response
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    @cached_property
    def app(self) -> FastAPI:
        """Built on first use: the dev server serves every spec on its own app and only hands events
        to a deployment's handler, so it never needs this one."""
        return function_app(self.spec, self.clients)

    def handler(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        try:
            return self._dispatch(event, context)
        finally:
            self._after_response()

    def _dispatch(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        kind = event_kind(event)
        uploads = self.spec.uploads
        if kind == "uploads" and uploads is not None:
            own = uploads.own(event)
            if not own["Records"]:  # another function's objects: nothing of this one's to run
                return {"jobs": []}
            return self._handler("uploads", lambda: uploads.handler(self.clients))(own, context)
        work = self.spec.work
        if kind == "work" and work is not None:
            return self._handler("work", lambda: work.handler(self.clients))(event, context)
        if kind == "schedule":
            schedule = self._schedule_for(event)
            return self._handler(f"schedule:{schedule.name}", lambda: schedule.handler(self.clients))(event, context)
        return self._handler("http", lambda: _mangum(self.app))(event, context)

    def _schedule_for(self, event: dict[str, Any]) -> Schedule:
        name = event.get("schedule")
        schedule = self.spec.schedule(name) if isinstance(name, str) else None
        if schedule is None and name is None and len(self.spec.schedules) == 1:
            schedule = self.spec.schedules[0]
        if schedule is None:
            raise ValueError(f"{self.spec.name} has no schedule {name!r}")
        return schedule

    def _handler(self, source: str, make: Callable[[], Handler]) -> Handler:
        """Each event source's handler, built on its first event (Mangum and Powertools cost imports)."""
        with self._lock:
            if source not in self._handlers:
                self._handlers[source] = make()
            return self._handlers[source]


def _mangum(app: FastAPI) -> Handler:
    from mangum import Mangum

    adapter = Mangum(app, lifespan="off")

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response: dict[str, Any] = adapter(event, context)
        return response

    return handler


def deploy(spec: FunctionSpec, clients: Clients | None = None) -> Deployment:
    """The deployed function, built during the sandbox's init: settings read, clients made on first use.

    The invocation's perf records and debits are written by an internal extension after the response
    has gone, or inline before returning where there is no Lambda (tests, the dev server)."""
    from shared.lambda_extension import AfterResponseFlush
    from shared.runtime import Clients
    from shared.settings import load_settings

    clients = clients or Clients.from_settings(load_settings())
    after = AfterResponseFlush.from_environment(clients.flush)  # registering is an init-time step
    return Deployment(spec, clients, after.invocation_done if after is not None else clients.flush)
