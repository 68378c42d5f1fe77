"""The AI metrics dashboard: `GET /dev/ai-metrics`, a static page for the org's engineers.

The page (dashboard.html, .css, .js beside this module) has no build step and loads nothing from a
CDN: it reads `GET /v1/metrics/ai-performance` and `GET /v1/orgs/me/ai-settings` from the same origin
and draws its charts as hand-written SVG. The files are package data, read through importlib.resources,
so the deployed function serves what the repository holds; they are read on each request (a few kB),
so an edit shows on the next reload of the dev server's page.

The page holds no data of its own: what it shows is what the APIs answer for the caller, whose org
comes from the JWT when deployed (a bearer token the page keeps in sessionStorage) or from `?org=`
(sent as X-Org-Id) locally.
"""

from __future__ import annotations

from importlib import resources
from typing import Final

from fastapi import APIRouter
from fastapi.responses import Response

from shared.errors import NotFound
from shared.http import JsonRoute

PAGE_PATH: Final = "/dev/ai-metrics"
PAGE_FILE: Final = "dashboard.html"

# The page's assets, by the name under /dev/ai-metrics/; nothing else in the package is served.
ASSETS: Final[dict[str, str]] = {
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}
NO_CACHE: Final = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def read_asset(name: str) -> str:
    """The text of one of the page's files, from this package (a wheel, a Lambda zip or the work tree)."""
    return resources.files(__package__ or "metrics").joinpath(name).read_text(encoding="utf-8")


def dashboard_router() -> APIRouter:
    """`GET /dev/ai-metrics` (the page) and `GET /dev/ai-metrics/{asset}` (its CSS and JS); not in the
    API reference."""
    router = APIRouter(include_in_schema=False, route_class=JsonRoute)

    @router.get(PAGE_PATH)
    async def ai_metrics_page() -> Response:
        return Response(read_asset(PAGE_FILE), media_type="text/html; charset=utf-8", headers=NO_CACHE)

    @router.get(PAGE_PATH + "/{asset}")
    async def ai_metrics_asset(asset: str) -> Response:
        media_type = ASSETS.get(asset)
        if media_type is None:
            raise NotFound(f"The dashboard has no file named {asset!r}.")
        return Response(read_asset(asset), media_type=media_type, headers=NO_CACHE)

    return router
