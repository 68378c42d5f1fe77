"""The dev server's API reference: /docs and /redoc load nothing from another host, and the OpenAPI
document describes every request body and the error envelope of the routes that read their body
themselves (multipart uploads, JSON read within a limit)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from tests.support.dev_server import running_dev_server

pytestmark = pytest.mark.integration

ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[^\s'"<>)]+""")
ASSET_URL = re.compile(r"""(?:src|href)="([^"]+)\"""")
MIN_BYTES = {".js": 100_000, ".css": 10_000}  # the real bundles are ~1.5 MB and ~180 KB
ERROR_ENVELOPE = "#/components/schemas/ErrorEnvelope"


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with running_dev_server() as (url, _runtime), httpx.Client(base_url=url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def openapi(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any], *methods: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in methods:
                yield path, method, operation


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref} points outside the document"
    node: Any = document
    for name in ref.removeprefix("#/").split("/"):
        assert isinstance(node, dict) and name in node, f"{ref} does not resolve"
        node = node[name]
    return node


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_reference_pages_load_only_from_this_server(client: httpx.Client, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    own_host = urlsplit(str(client.base_url)).netloc
    elsewhere = [url for url in ABSOLUTE_URL.findall(html) if urlsplit(url).netloc != own_host]
    assert not elsewhere, f"{page} loads from another host: {elsewhere}"

    assets = ASSET_URL.findall(html)
    scripts = [url for url in assets if url.endswith(".js")]
    assert scripts, f"{page} names no script"
    for url in assets:
        asset = client.get(urljoin(page, url))
        assert asset.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert len(asset.content) >= MIN_BYTES.get(suffix, 100), f"{url}: {len(asset.content)} bytes"


def test_swagger_ui_reads_the_servers_own_openapi_document(client: httpx.Client) -> None:
    html = client.get("/docs").text
    assert '<link type="text/css" rel="stylesheet" href="/docs/assets/swagger-ui.css">' in html
    assert "url: '/openapi.json'" in html


def test_every_post_and_put_describes_its_body(openapi: dict[str, Any]) -> None:
    checked = set()
    for path, method, operation in operations(openapi, "post", "put"):
        content = operation.get("requestBody", {}).get("content", {})
        assert content, f"{method.upper()} {path} has no request body"
        for media_type, described in content.items():
            schema = described.get("schema", {})
            if "json" in media_type:
                assert "$ref" in schema or schema.get("properties"), f"{method.upper()} {path} {media_type}"
        checked.add(f"{method.upper()} {path}")
    # The routes that read their body themselves, and some FastAPI describes from their models.
    assert {
        "POST /v1/geometry/analyze",
        "POST /v1/vision/analyze",
        "PUT /v1/orgs/me/ai-settings",
        "POST /v1/vision/uploads",
        "POST /v1/geometry/uploads",
        "POST /v1/analyze",
        "POST /v1/analyze/stream",
    } <= checked


def test_every_reference_in_the_document_resolves(openapi: dict[str, Any]) -> None:
    found = list(refs(openapi))
    assert ERROR_ENVELOPE in found
    for ref in found:
        resolve(openapi, ref)


def test_geometry_upload_accepts_a_file_a_key_as_json_or_as_a_form(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/v1/geometry/analyze"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json", "application/x-www-form-urlencoded"}
    form = content["multipart/form-data"]["schema"]["properties"]
    assert form["file"]["format"] == "binary" and form["mask"]["format"] == "binary"
    assert {"s3_key", "resolution", "claim_id", "structure"} <= set(form)
    assert content["application/json"]["schema"]["required"] == ["s3_key"]
    assert set(content["application/json"]["schema"]["properties"]) == {"s3_key", "resolution", "tags"}
    assert {"s3_key", "claim_id"} <= set(content["application/x-www-form-urlencoded"]["schema"]["properties"])
    assert {"400", "403", "404", "413", "415", "422"} <= set(operation["responses"])


def test_vision_analyze_takes_a_photo_with_its_tags_or_a_key(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/v1/vision/analyze"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json"}
    form = content["multipart/form-data"]["schema"]["properties"]
    assert form["file"]["format"] == "binary"
    assert {"lead_id", "claim_id", "slope", "test_square"} <= set(form)
    key_request = content["application/json"]["schema"]
    assert key_request["required"] == ["s3_key"]
    assert "lead_id" in key_request["properties"]["tags"]["properties"]  # the nested model, in place


def test_the_settings_update_is_described_and_optional(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/v1/orgs/me/ai-settings"]["put"]
    body = operation["requestBody"]
    assert body["required"] is False  # an empty body changes nothing
    assert "cache_ttl_s" in body["content"]["application/json"]["schema"]["properties"]
    assert {"413", "422"} <= set(operation["responses"])


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/v1/geometry/analyze", "post", "415"),
        ("/v1/vision/analyze", "post", "413"),
        ("/v1/orgs/me/ai-settings", "put", "422"),
    ],
)
def test_declared_errors_have_the_error_envelope(openapi: dict[str, Any], path: str, method: str, status: str) -> None:
    schema = openapi["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    assert schema == {"$ref": ERROR_ENVELOPE}
    detail = resolve(openapi, resolve(openapi, ERROR_ENVELOPE)["properties"]["error"]["$ref"])
    assert {"code", "message", "request_id"} <= set(detail["required"])
