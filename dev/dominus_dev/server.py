"""The dev server: every function's routes on one local port, plus /healthz, /docs, /openapi.json.

Functions register here as they are built: each contributes an APIRouter made from the engine, the
same router its Lambda app serves, so local and deployed paths are the same.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI

from dominus_dev.local import LocalRuntime
from shared.engine import Engine
from shared.http import install_error_handling

RouterFactory = Callable[[Engine], APIRouter]

# One entry per function package, in the order of the API reference.
FUNCTION_ROUTERS: list[RouterFactory] = []


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
    install_error_handling(app)

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

    for make_router in FUNCTION_ROUTERS:
        app.include_router(make_router(engine))
    return app
