"""shared/docs.py and the error envelope's schema: every deployed app serves its API reference from the
package (no CDN), inline body schemas are self-contained, and the declared envelope is error_body's."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dominus_dev.functions import SPECS
from shared.deployment import function_app
from shared.docs import install_docs, schema_of
from shared.errors import ErrorEnvelope, error_body, error_responses
from shared.runtime import Clients
from shared.settings import Settings
from vision.function import KeyRequest

ASSET = re.compile(r"""(?:src|href)="([^"]+)\"""")


LAZY_CLIENTS = Clients.from_settings(Settings(dominus_env="aws"))  # the reference pages build none of them
DEPLOYED_APPS: dict[str, Callable[[], FastAPI]] = {
    spec.name: partial(function_app, spec, LAZY_CLIENTS) for spec in SPECS
}


@pytest.mark.parametrize("name", sorted(DEPLOYED_APPS))
def test_each_deployed_app_serves_its_reference_from_the_package(name: str) -> None:
    with TestClient(DEPLOYED_APPS[name]()) as client:
        for page in ("/docs", "/redoc"):
            html = client.get(page).text
            assert "http://" not in html and "https://" not in html and "//cdn" not in html, page
            assets = ASSET.findall(html)
            assert any(url.endswith(".js") for url in assets), page
            for url in assets:
                assert client.get(url).status_code == 200, url


def test_the_pages_follow_the_root_path_a_proxy_mounts_the_app_under() -> None:
    app = FastAPI()
    install_docs(app)
    with TestClient(app, root_path="/stage") as client:
        html = client.get("/docs").text
        assert "url: '/stage/openapi.json'" in html
        assert 'src="/stage/docs/assets/swagger-ui-bundle.js"' in html


@pytest.mark.parametrize("own_pages", [True, False])
def test_install_docs_replaces_fastapis_cdn_pages_and_nothing_else(own_pages: bool) -> None:
    app = FastAPI() if own_pages else FastAPI(docs_url=None, redoc_url=None)
    before = {getattr(route, "path", None) for route in app.router.routes}
    install_docs(app)
    paths = [getattr(route, "path", None) for route in app.router.routes]
    assert paths.count("/docs") == 1 and paths.count("/redoc") == 1
    assert before <= set(paths)  # the document, and FastAPI's inline OAuth2 redirect page when it has one
    assert ("/docs/oauth2-redirect" in paths) is own_pages


def test_an_inline_body_schema_has_its_nested_models_in_place() -> None:
    schema = schema_of(KeyRequest)

    def references(node: Any) -> list[str]:
        if isinstance(node, dict):
            return [k for k in node if k in ("$ref", "$defs")] + [r for v in node.values() for r in references(v)]
        if isinstance(node, list):
            return [r for v in node for r in references(v)]
        return []

    assert references(schema) == []
    tags = schema["properties"]["tags"]
    assert tags["properties"]["slope"]["anyOf"][0]["maxLength"] == 8  # the nested model's constraints


@pytest.mark.parametrize("details", [None, [{"field": "s3_key", "message": "Field required"}]])
def test_the_declared_error_envelope_is_what_error_body_returns(details: Any) -> None:
    body = error_body("invalid_input", "The request is not valid.", "req-12345678", details)
    assert ErrorEnvelope.model_validate(body).model_dump(exclude_none=True) == body


def test_error_responses_name_each_status_with_the_envelope() -> None:
    declared = error_responses(413, 422)
    assert set(declared) == {413, 422}
    assert all(response["model"] is ErrorEnvelope and response["description"] for response in declared.values())


ERROR_ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def declared_statuses(name: str) -> list[tuple[str, str, dict[str, Any], set[int]]]:
    document = DEPLOYED_APPS[name]().openapi()
    return [
        (method.upper(), path, operation, {int(status) for status in operation["responses"]})
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize("name", sorted(DEPLOYED_APPS))
def test_every_operation_declares_the_statuses_it_can_return(name: str) -> None:
    """What the shared plumbing answers for any route, and what reading a body or parameters adds."""
    operations = declared_statuses(name)
    assert operations, name
    for method, path, operation, statuses in operations:
        expected = {400, 401, 413}  # a malformed org id, no org in the credentials, the body limit
        if "requestBody" in operation:
            expected |= {415, 422}  # not JSON (or not a form it takes); not valid
        if operation.get("parameters"):
            expected.add(422)
        if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
            expected.add(404)  # a path names an object of the caller's org, or nothing
        assert expected <= statuses, f"{method} {path} leaves out {sorted(expected - statuses)}"


@pytest.mark.parametrize("name", sorted(DEPLOYED_APPS))
def test_every_declared_error_has_the_error_envelope(name: str) -> None:
    document = DEPLOYED_APPS[name]().openapi()
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's 422, which we never send
    for method, path, operation, statuses in declared_statuses(name):
        for status in sorted(s for s in statuses if s >= 400):
            schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
            assert schema == ERROR_ENVELOPE, f"{method} {path} {status}"


def test_an_ai_route_declares_the_engines_failures_too() -> None:
    statuses = {f"{method} {path}": s for method, path, _, s in declared_statuses("analyze")}
    for path in ("/v1/analyze", "/v1/analyze/stream"):
        assert {403, 502, 503, 504} <= statuses[f"POST {path}"]
