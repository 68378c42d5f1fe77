"""The API reference: /docs (Swagger UI) and /redoc served without a CDN, and the OpenAPI request bodies
of routes that read their body themselves.

FastAPI's own /docs and /redoc pages load their scripts from a CDN, so they are blank on a machine
without internet. `install_docs` puts pages with the same content in their place, with the scripts
and styles from the `fastapi-offline` package (swagger-ui 5, which renders OpenAPI 3.1; a runtime
dependency, so in the layer: it adds ~3 MB). Only its static files are used, by path: the tests
fetch every asset a page names, so a release that moves them fails there.

Routes that take multipart uploads or must read their body within a limit take the raw `Request`,
and FastAPI then cannot describe the body: `request_body` declares it (`openapi_extra=`), with JSON
schemas taken from the routes' own pydantic models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
ASSETS_PATH = "/docs/assets"
ASSETS_PACKAGE = ("fastapi_offline", "static")  # the package's folder of assets
SWAGGER_JS, SWAGGER_CSS = "swagger-ui-bundle.js", "swagger-ui.css"
REDOC_JS, FAVICON = "redoc.standalone.js", "favicon.png"


def install_docs(app: FastAPI) -> None:
    """Serve /docs and /redoc, and their assets under /docs/assets, from the installed package,
    replacing FastAPI's CDN pages (the OpenAPI document itself is unchanged)."""
    if app.openapi_url is None:  # no document, nothing to show (FastAPI adds no pages either)
        return
    cdn_pages = {app.docs_url, app.redoc_url} - {None}
    app.router.routes[:] = [route for route in app.router.routes if getattr(route, "path", None) not in cdn_pages]
    app.docs_url, app.redoc_url = DOCS_PATH, REDOC_PATH
    app.mount(ASSETS_PATH, StaticFiles(packages=[ASSETS_PACKAGE]), name="docs_assets")

    def urls(request: Request) -> tuple[str, str]:
        """(OpenAPI document, assets folder) under the app's root path, as FastAPI's own pages do."""
        root = request.scope.get("root_path", "").rstrip("/")
        return f"{root}{app.openapi_url}", f"{root}{ASSETS_PATH}"

    @app.get(DOCS_PATH, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/{SWAGGER_JS}",
            swagger_css_url=f"{assets}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{assets}/{FAVICON}",
            oauth2_redirect_url=app.swagger_ui_oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    @app.get(REDOC_PATH, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        openapi_url, assets = urls(request)
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{assets}/{REDOC_JS}",
            redoc_favicon_url=f"{assets}/{FAVICON}",
            with_google_fonts=False,
        )


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, self-contained: nested models are written in place, because an
    inline schema's `#/$defs/...` references would resolve against the whole OpenAPI document."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            siblings = {key: value for key, value in node.items() if key != "$ref"}
            return inline({**defs[ref.removeprefix("#/$defs/")], **siblings})
        return {key: inline(value) for key, value in node.items()}

    resolved: dict[str, Any] = inline(schema)
    return resolved


def form_fields(*models: type[BaseModel], **files: str) -> dict[str, Any]:
    """A multipart/form-data schema: a binary part for each of `files` (name=description), and a text
    part for each field of `models`. None is marked required: the route says which it needs."""
    properties: dict[str, Any] = {
        name: {"type": "string", "format": "binary", "description": description} for name, description in files.items()
    }
    for model in models:
        properties.update(schema_of(model)["properties"])
    return {"type": "object", "properties": properties}


def request_body(
    content: Mapping[str, type[BaseModel] | Mapping[str, Any]], *, required: bool = True
) -> dict[str, Any]:
    """`openapi_extra` declaring a body the route reads itself: each media type it accepts, with a
    pydantic model (its JSON schema) or a schema such as `form_fields(...)`."""
    return {
        "requestBody": {
            "required": required,
            "content": {
                media_type: {"schema": schema_of(schema) if isinstance(schema, type) else dict(schema)}
                for media_type, schema in content.items()
            },
        }
    }
