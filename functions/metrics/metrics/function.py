"""The metrics function's HTTP surface: the org's AI analytics and its AI settings.

- `GET /v1/metrics/ai-performance?from=&to=&group_by=&function=`: the caller's org only (the org
  comes from the authorizer, never the query).
- `GET /v1/orgs/me/ai-settings` and `PUT` (any subset of the fields; the balance is shown, never
  set). A change is written to DynamoDB and over the engine's shared copy in the store, so every
  instance sees it within its in-memory TTL (30 s by default): well within a minute.

No `from __future__ import annotations`: FastAPI reads the route functions' annotations.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from metrics.aggregate import GroupBy
from metrics.dashboard import dashboard_router
from metrics.performance import answer, window
from metrics.records import PerfLog
from metrics.rollup import Rollups, run_rollup
from shared.cache_keys import org_settings_key
from shared.deployment import FunctionSpec, Handler, Schedule
from shared.docs import request_body
from shared.errors import InvalidInput, error_responses
from shared.http import JSON_BODY_ERRORS, JsonRoute, org_id_of, parse_json_body, request_id_of, require_json
from shared.modes import Mode
from shared.orgs import MAX_CACHE_TTL_S, MIN_CACHE_TTL_S, DynamoOrgRepository, OrgPreferences, OrgSettings
from shared.runtime import Clients, once
from shared.stores.base import GuardedStore, StoreUnavailable

Env = Literal["local", "aws"]

FROM_QUERY = Query(None, alias="from", description="ISO 8601 start (default: 7 days before `to`)")
TO_QUERY = Query(None, alias="to", description="ISO 8601 end, exclusive (default: now)")
GROUP_QUERY = Query("function", description="function, operation, model, mode, hour or day")
FUNCTION_QUERY = Query(None, max_length=64, pattern=r"^[a-z_]+$", description="only this function's calls")


@dataclass(frozen=True)
class MetricsDeps:
    """What the routes read and write, each built on first use."""

    log: Callable[[], PerfLog]
    rollups: Callable[[], Rollups]
    orgs: Callable[[], DynamoOrgRepository]
    store: Callable[[], GuardedStore | None]  # the engine's store, for its shared copy of org settings
    settings_ttl_ms: int
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class SettingsUpdate(BaseModel):
    """Any subset of an org's AI preferences; what is left out stays as it is."""

    model_config = ConfigDict(extra="forbid")

    mode_default: Mode | None = None
    cache_enabled: bool | None = None
    cache_ttl_s: int | None = Field(None, ge=MIN_CACHE_TTL_S, le=MAX_CACHE_TTL_S)
    dedupe_enabled: bool | None = None
    vision_local_when_cheap: bool | None = None


def settings_json(settings: OrgSettings) -> dict[str, Any]:
    return {
        **settings.model_dump(mode="json"),
        "limits": {"cache_ttl_s": {"min": MIN_CACHE_TTL_S, "max": MAX_CACHE_TTL_S}},
    }


def parse_update(raw: bytes, content_type: str | None) -> SettingsUpdate:
    """The update in a JSON body; an empty body changes nothing."""
    if not raw:
        return SettingsUpdate()
    require_json(content_type)
    try:
        return parse_json_body(SettingsUpdate, raw)
    except InvalidInput as exc:
        if any(field["field"] == "token_balance" for field in exc.details):
            raise InvalidInput("The token balance is shown here, never set: billing tops it up.") from None
        raise


def metrics_router(deps: MetricsDeps, env: Env) -> APIRouter:
    router = APIRouter(tags=["Metrics"], route_class=JsonRoute)

    @router.get(
        "/v1/metrics/ai-performance",
        summary="AI cost, cache and latency analytics for the caller's org",
        responses=error_responses(400, 422),  # 400: a window that cannot be served
    )
    async def ai_performance(
        request: Request,
        since: str | None = FROM_QUERY,
        until: str | None = TO_QUERY,
        group_by: GroupBy = GROUP_QUERY,
        function: str | None = FUNCTION_QUERY,
    ) -> JSONResponse:
        org = org_id_of(request, env)
        span = window(since, until, group_by, deps.clock())
        body = await asyncio.to_thread(answer, org, span, group_by, function, log=deps.log(), rollups=deps.rollups())
        return JSONResponse(body, headers={"X-Request-Id": request_id_of(request), "Cache-Control": "no-store"})

    @router.get("/v1/orgs/me/ai-settings", summary="The org's AI settings and balance")
    async def get_settings(request: Request) -> JSONResponse:
        org = org_id_of(request, env)
        settings = await asyncio.to_thread(deps.orgs().get, org)
        return JSONResponse(settings_json(settings), headers={"X-Request-Id": request_id_of(request)})

    @router.put(
        "/v1/orgs/me/ai-settings",
        summary="Change the org's AI settings (any subset of them)",
        responses=error_responses(*JSON_BODY_ERRORS),
        openapi_extra=request_body({"application/json": SettingsUpdate}, required=False),
    )
    async def put_settings(request: Request) -> JSONResponse:
        org = org_id_of(request, env)
        update = parse_update(await request.body(), request.headers.get("content-type"))
        orgs = deps.orgs()
        current = await asyncio.to_thread(orgs.get, org)
        changes = update.model_dump(exclude_none=True)
        prefs = OrgPreferences.model_validate(
            {**current.model_dump(include=set(OrgPreferences.model_fields)), **changes}
        )
        await asyncio.to_thread(orgs.save_preferences, org, prefs)
        settings = OrgSettings(org_id=org, token_balance=current.token_balance, **prefs.model_dump())
        await share(settings, deps)
        return JSONResponse(settings_json(settings), headers={"X-Request-Id": request_id_of(request)})

    return router


async def share(settings: OrgSettings, deps: MetricsDeps) -> None:
    """Write the new settings over the engine's shared copy, so no instance reads the old one again;
    a store that is down only delays the change to the engines' own TTL."""
    store = deps.store()
    if store is None or deps.settings_ttl_ms <= 0:
        return
    try:
        await store.set(org_settings_key(settings.org_id), settings.model_dump_json(), deps.settings_ttl_ms)
    except StoreUnavailable:
        return


def deps_for(clients: Clients) -> MetricsDeps:
    settings = clients.settings
    return MetricsDeps(
        log=once(lambda: PerfLog(clients.dynamodb(), settings.dominus_perf_table)),
        rollups=once(lambda: Rollups(clients.dynamodb(), settings.dominus_rollup_table)),
        orgs=once(
            lambda: DynamoOrgRepository(clients.dynamodb, settings.dominus_org_table, settings.dominus_default_balance)
        ),
        store=clients.store,
        settings_ttl_ms=int(settings.dominus_org_settings_ttl_s * 1000),
    )


def routers(clients: Clients) -> list[APIRouter]:
    return [metrics_router(deps_for(clients), clients.settings.dominus_env), dashboard_router()]


def rollup_handler(clients: Clients) -> Handler:
    """The schedule's run: the closed hours due, their days, the watermark."""
    deps = deps_for(clients)

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        report = run_rollup(deps.log(), deps.rollups(), deps.clock())
        return {"hours": report.hours, "orgs": report.orgs, "items": report.items, "watermark": report.watermark}

    return handler


SPEC = FunctionSpec(
    "metrics",
    "Metrics",
    routers,
    max_body_bytes=16_000,
    schedules=(
        Schedule("rollup", rollup_handler, "roll the closed hours of the perf log into hourly and daily roll-ups"),
    ),
)
