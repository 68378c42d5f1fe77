"""The deployed metrics functions: the HTTP app (MetricsFunction, Mangum: the analytics API, the org's
AI settings and the dashboard page) and the scheduled roll-up (RollupFunction, EventBridge).

Settings, boto3 clients and the store are built on first use, once per sandbox.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI

from metrics.dashboard import dashboard_router
from metrics.function import MetricsDeps, metrics_router
from metrics.records import PerfLog
from metrics.rollup import Rollups, run_rollup
from shared.http import install_error_handling
from shared.orgs import DynamoOrgRepository
from shared.runtime import build_store, dynamodb_client, once
from shared.settings import Settings, load_settings


def deps_for(settings: Settings) -> MetricsDeps:
    dynamodb = once(dynamodb_client)
    return MetricsDeps(
        log=once(lambda: PerfLog(dynamodb(), settings.dominus_perf_table)),
        rollups=once(lambda: Rollups(dynamodb(), settings.dominus_rollup_table)),
        orgs=once(
            lambda: DynamoOrgRepository(dynamodb(), settings.dominus_org_table, settings.dominus_default_balance)
        ),
        store=once(lambda: build_store(settings)),
        settings_ttl_ms=int(settings.dominus_org_settings_ttl_s * 1000),
    )


def create_app(deps: MetricsDeps, settings: Settings) -> FastAPI:
    app = FastAPI(title="Dominus Metrics", version="1.0.0")
    install_error_handling(app, max_body_bytes=16_000)
    app.include_router(metrics_router(deps, settings.dominus_env))
    app.include_router(dashboard_router())

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "function": "metrics"}

    return app


_settings = once(load_settings)
_deps = once(lambda: deps_for(_settings()))


def _mangum() -> Any:
    from mangum import Mangum

    return Mangum(create_app(_deps(), _settings()), lifespan="off")


_adapter = once(_mangum)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response: dict[str, Any] = _adapter()(event, context)
    return response


def rollup_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The schedule's run: the closed hours due, their days, the watermark."""
    deps = _deps()
    report = run_rollup(deps.log(), deps.rollups(), datetime.now(UTC))
    return {"hours": report.hours, "orgs": report.orgs, "items": report.items, "watermark": report.watermark}
