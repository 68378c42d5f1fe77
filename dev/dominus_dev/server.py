"""The dev server: every function's routes on one local port, plus /healthz, /docs, /openapi.json.

Functions register here as they are built: each contributes the router its own Lambda app serves,
made with the local engine, so local and deployed paths are the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from analyze.function import FUNCTION as ANALYZE
from dominus_dev.local import LocalRuntime
from shared.api import Function
from shared.http import install_error_handling

# Every AI function, in the order of the API reference.
FUNCTIONS: list[Function] = [ANALYZE]


def create_dev_app(runtime: LocalRuntime) -> FastAPI:
    engine = runtime.engine
    assert engine is not None, "start the runtime first"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.aclose()

    app = FastAPI(
        title="Dominus (local)",
        version="0.1.0",
        description="The AI back end of the roofing CRM, served locally on embedded defaults.",
        lifespan=lifespan,
    )
    # The dev server takes the largest body any function accepts; each function's own limit is
    # enforced by its deployed app, and by the route's models here.
    install_error_handling(app, max_body_bytes=max(f.max_body_bytes for f in FUNCTIONS))

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "env": runtime.settings.dominus_env,
            "store": engine.store_name,
            "store_reachable": await engine.store_healthy(),
            "model": "simulated" if engine.simulated else "openai",
            "models": {"cheap": runtime.settings.dominus_cheap_model, "smart": runtime.settings.dominus_smart_model},
        }

    for function in FUNCTIONS:
        app.include_router(function.router(lambda: engine, runtime.settings.dominus_env))
    return app
