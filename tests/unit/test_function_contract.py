"""The HTTP contract every AI function keeps, checked for each of them and each of its routes."""

from __future__ import annotations

from typing import Any

import pytest

from analyze.function import FUNCTION as ANALYZE
from shared.api import AIRoute, Function
from smart_actions.function import FUNCTION as SMART_ACTIONS
from tests.support.functions import kit_and_client, sse_events, strict_violations
from video.function import FUNCTION as VIDEO

FUNCTIONS = [ANALYZE, VIDEO, SMART_ACTIONS]
ROUTES = [(function, route) for function in FUNCTIONS for route in function.routes]
ROUTE_IDS = [route.path for _, route in ROUTES]


def first_example(route: AIRoute[Any]) -> dict[str, Any]:
    example: dict[str, Any] = next(iter(route.examples.values()))["value"]
    return example


@pytest.mark.parametrize(("function", "route"), ROUTES, ids=ROUTE_IDS)
def test_a_route_answers_with_its_model_and_a_repeat_is_a_hit(function: Function, route: AIRoute[Any]) -> None:
    kit, client = kit_and_client(function)
    first = client.post(route.path, json=first_example(route))
    second = client.post(route.path, json=first_example(route))
    assert first.status_code == 200, first.text
    route.response_model.model_validate(first.json())
    assert (first.headers["X-Dominus-Cache"], second.headers["X-Dominus-Cache"]) == ("miss", "hit")
    assert second.json() == first.json()
    assert len(kit.chat.calls) == 1


@pytest.mark.parametrize(("function", "route"), ROUTES, ids=ROUTE_IDS)
def test_every_openapi_example_is_a_valid_body(function: Function, route: AIRoute[Any]) -> None:
    _, client = kit_and_client(function)
    assert route.examples
    for name, example in route.examples.items():
        reply = client.post(route.path, json=example["value"])
        assert reply.status_code == 200, (name, reply.text)


@pytest.mark.parametrize(("function", "route"), ROUTES, ids=ROUTE_IDS)
def test_an_oversized_body_is_413(function: Function, route: AIRoute[Any]) -> None:
    kit, client = kit_and_client(function)
    reply = client.post(route.path, json={**first_example(route), "padding": "x" * function.max_body_bytes})
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "payload_too_large"
    assert kit.chat.calls == []


@pytest.mark.parametrize(("function", "route"), ROUTES, ids=ROUTE_IDS)
def test_the_stream_twin_sends_meta_deltas_result_done_then_replays(function: Function, route: AIRoute[Any]) -> None:
    kit, client = kit_and_client(function)
    first = client.post(route.path + "/stream", json=first_example(route))
    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/event-stream")
    events = sse_events(first.text)
    names = [name for name, _ in events]
    assert names[0] == "meta"
    assert names[-2:] == ["result", "done"]
    assert set(names[1:-2]) == {"delta"}
    route.response_model.model_validate(events[-2][1]["result"])
    replay = sse_events(client.post(route.path + "/stream", json=first_example(route)).text)
    assert replay[0][1]["cache"] == "hit"
    assert replay[-2] == events[-2]
    assert len(kit.chat.calls) == 1


@pytest.mark.parametrize(("function", "route"), ROUTES, ids=ROUTE_IDS)
def test_bad_input_to_the_stream_is_422_before_any_event(function: Function, route: AIRoute[Any]) -> None:
    _, client = kit_and_client(function)
    reply = client.post(route.path + "/stream", json={"unknown_field": 1})
    assert reply.status_code == 422
    assert reply.json()["error"]["code"] == "invalid_input"


@pytest.mark.parametrize(("function", "route"), ROUTES, ids=ROUTE_IDS)
def test_the_answer_schema_is_strict(function: Function, route: AIRoute[Any]) -> None:
    from shared.schemas import strict_schema

    assert strict_violations(strict_schema(route.response_model)) == []


@pytest.mark.parametrize("function", FUNCTIONS, ids=[f.name for f in FUNCTIONS])
def test_the_openapi_document_lists_every_route_and_stream_with_examples(function: Function) -> None:
    _, client = kit_and_client(function)
    paths = client.get("/openapi.json").json()["paths"]
    for route in function.routes:
        assert route.path + "/stream" in paths
        assert paths[route.path]["post"]["requestBody"]["content"]["application/json"]["examples"]
