"""The simulated model, driven by the official openai SDK over real HTTP, as the engine drives OpenAI."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from enum import StrEnum
from typing import Any, Literal

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from pydantic import BaseModel, Field

from dominus_dev.simulated_model import SimulatedModel
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

MODEL = "gpt-4o-mini"
QUESTION = "Hail hit the north slope of 12 Elm Street last Tuesday; what should the adjuster check first?"


class Slope(StrEnum):
    NORTH = "north"
    SOUTH = "south"
    EAST = "east"
    WEST = "west"


class Damage(BaseModel):
    kind: Literal["hail_hit", "wind_crease", "missing_shingle"]
    slope: Slope
    severity: int = Field(ge=1, le=5)
    confidence: float = Field(ge=0, le=1)
    note: str | None = None


class RoofReport(BaseModel):
    summary: str = Field(min_length=20, max_length=160)
    inspected_on: date
    squares: float = Field(gt=0, lt=100)
    hits_per_square: int = Field(ge=0, le=30)
    damages: list[Damage] = Field(min_length=1, max_length=5)
    tags: list[str]
    follow_up: Damage | None


def client(model: SimulatedModel, **options: Any) -> OpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("timeout", 10.0)
    return OpenAI(base_url=model.base_url, api_key="sk-simulated", **options)


def ask(text: str = QUESTION) -> list[Any]:
    return [{"role": "system", "content": "You are a roofing assistant."}, {"role": "user", "content": text}]


def json_schema_format(schema: dict[str, Any], name: str = "roof_report", strict: bool = False) -> Any:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}


def validate_with_jsonschema(instance: Any, schema: dict[str, Any]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    # The draft's own checker: the generic FormatChecker() checks "time" the draft-3 way.
    validator_class = jsonschema.Draft202012Validator
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]
    assert errors == []


# --- structured output --------------------------------------------------------------------------


def test_json_schema_content_validates_against_the_pydantic_schema(simulated_model: SimulatedModel) -> None:
    # Given the JSON schema pydantic derives (non-strict: defaults, Optional, bounds, enums, $defs)
    schema = RoofReport.model_json_schema()

    # When the SDK asks for it
    completion = client(simulated_model).chat.completions.create(
        model=MODEL, messages=ask(), response_format=json_schema_format(schema)
    )

    # Then the content is a valid RoofReport, says it is simulated and quotes the request
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.refusal is None
    assert choice.message.content is not None
    report = RoofReport.model_validate_json(choice.message.content)
    validate_with_jsonschema(json.loads(choice.message.content), schema)
    assert len(report.damages) == 2
    assert report.follow_up is not None
    assert "simulated" in report.summary.lower()
    assert "Hail hit the north slope" in report.summary
    free_text = [*report.tags, *(d.note or "" for d in report.damages), report.follow_up.note or ""]
    assert all("simulated" in text.lower() for text in free_text)
    assert completion.model == MODEL


def test_parse_with_a_pydantic_model(simulated_model: SimulatedModel) -> None:
    # When the SDK's parse helper sends its strict schema
    completion = client(simulated_model).chat.completions.parse(model=MODEL, messages=ask(), response_format=RoofReport)

    # Then it parses into the model
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, RoofReport)
    assert parsed.damages[0].slope in set(Slope)
    assert 1 <= parsed.damages[0].severity <= 5


def test_hand_written_schema_features_are_honoured(simulated_model: SimulatedModel) -> None:
    # Given a schema with refs, unions, combinators, bounds, formats, tuples, maps and recursion
    schema: dict[str, Any] = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["label", "children"],
                "additionalProperties": False,
            },
            "Money": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.01},
        },
        "type": "object",
        "properties": {
            "kind": {"const": "estimate"},
            "status": {"enum": [None, "open", "closed"]},
            "title": {"type": "string", "minLength": 80, "maxLength": 90},
            "code": {"type": "string", "maxLength": 4},
            "nickname": {"type": ["string", "null"]},
            "when": {"type": "string", "format": "date-time"},
            "at": {"type": "string", "format": "time"},
            "day": {"type": "string", "format": "date"},
            "email": {"type": "string", "format": "email"},
            "link": {"type": "string", "format": "uri"},
            "id": {"type": "string", "format": "uuid"},
            "rate": {"$ref": "#/$defs/Money"},
            "pitch": {"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 6},
            "even": {"type": "integer", "minimum": 11, "maximum": 19, "multipleOf": 4},
            "flag": {"type": "boolean"},
            "nothing": {"type": "null"},
            "choice": {"oneOf": [{"type": "null"}, {"type": "integer", "minimum": 100}]},
            "both": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "string"}}, "required": ["b"]},
                ]
            },
            "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
            "letters": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 3, "uniqueItems": True},
            "one": {"type": "array", "items": {"type": "string"}, "maxItems": 1},
            "counts": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
            "tree": {"$ref": "#/$defs/Node"},
        },
        "required": ["kind", "status", "title", "tree", "rate", "pitch", "letters"],
        "additionalProperties": False,
    }

    # When it is requested
    completion = client(simulated_model).chat.completions.create(
        model=MODEL, messages=ask(), response_format=json_schema_format(schema, name="estimate")
    )

    # Then the answer validates, and the sampler made the readable choices
    assert completion.choices[0].message.content is not None
    value = json.loads(completion.choices[0].message.content)
    validate_with_jsonschema(value, schema)
    assert value["kind"] == "estimate"
    assert value["status"] in ("open", "closed")
    assert value["nickname"] is not None
    assert value["choice"] >= 100
    assert len(value["one"]) == 1
    assert len(value["counts"]) == 2
    assert value["pitch"] in (4, 5)
    assert value["even"] in (12, 16)
    # a recursive schema is expanded once, then only as far as it requires
    assert [child["children"] for child in value["tree"]["children"]] == [[], []]


# --- plain text and JSON mode -------------------------------------------------------------------


def test_plain_text_and_json_object_answers(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)

    plain = sdk.chat.completions.create(model=MODEL, messages=ask())
    text = plain.choices[0].message.content
    json_mode = sdk.chat.completions.create(model=MODEL, messages=ask(), response_format={"type": "json_object"})

    assert text is not None
    assert "simulated" in text
    assert "Hail hit the north slope" in text
    assert plain._request_id is not None
    assert plain._request_id.startswith("req_")
    assert json_mode.choices[0].message.content is not None
    assert json.loads(json_mode.choices[0].message.content)["simulated"] is True


def test_same_request_same_content_and_different_request_different_content(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)
    fmt = json_schema_format(RoofReport.model_json_schema())

    def content(text: str, model: str = MODEL) -> str | None:
        completion = sdk.chat.completions.create(model=model, messages=ask(text), response_format=fmt)
        return completion.choices[0].message.content

    assert content(QUESTION) == content(QUESTION)
    assert content(QUESTION) != content("Wind lifted tabs on the south slope.")
    assert content(QUESTION) != content(QUESTION, model="gpt-4o")


def test_usage_counts_are_consistent(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}
    with_image: list[Any] = [{"role": "user", "content": [{"type": "text", "text": QUESTION}, image]}]

    short = sdk.chat.completions.create(model=MODEL, messages=ask("Hi"))
    long = sdk.chat.completions.create(model=MODEL, messages=ask("Hi " * 200))
    text_only = sdk.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": QUESTION}])
    pictured = sdk.chat.completions.create(model=MODEL, messages=with_image)

    for completion in (short, long, text_only, pictured):
        usage = completion.usage
        assert usage is not None
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        assert usage.prompt_tokens_details is not None
        assert usage.prompt_tokens_details.cached_tokens == 0
        content = completion.choices[0].message.content or ""
        assert abs(usage.completion_tokens - len(content) / 4) <= 1
    assert long.usage is not None
    assert short.usage is not None
    assert long.usage.prompt_tokens > short.usage.prompt_tokens + 100
    assert pictured.usage is not None
    assert text_only.usage is not None
    # A low-detail image on gpt-4o-mini: its base, 2833 tokens (gpt-4o bills 85), by the documented formula.
    assert pictured.usage.prompt_tokens - text_only.usage.prompt_tokens == 2833


def test_max_tokens_cuts_the_answer_with_finish_reason_length(simulated_model: SimulatedModel) -> None:
    completion = client(simulated_model).chat.completions.create(model=MODEL, messages=ask(), max_tokens=5)

    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens <= 5


# --- streaming -----------------------------------------------------------------------------------


def test_stream_with_usage_gives_deltas_then_a_usage_chunk(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)
    fmt = json_schema_format(RoofReport.model_json_schema())

    chunks = list(
        sdk.chat.completions.create(
            model=MODEL, messages=ask(), response_format=fmt, stream=True, stream_options={"include_usage": True}
        )
    )
    buffered = sdk.chat.completions.create(model=MODEL, messages=ask(), response_format=fmt)

    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(deltas) >= 5
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage == buffered.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert "".join(deltas) == buffered.choices[0].message.content
    RoofReport.model_validate_json("".join(deltas))
    assert simulated_model.stats().streams == 1


def test_stream_without_include_usage_has_no_usage_chunk(simulated_model: SimulatedModel) -> None:
    chunks = list(client(simulated_model).chat.completions.create(model=MODEL, messages=ask(), stream=True))

    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_async_client_create_stream_and_concurrent_calls(simulated_model: SimulatedModel) -> None:
    async def scenario() -> tuple[str | None, str, int]:
        sdk = AsyncOpenAI(base_url=simulated_model.base_url, api_key="sk-simulated", max_retries=0, timeout=10)
        async with sdk:
            created = await sdk.chat.completions.create(model=MODEL, messages=ask())
            stream = await sdk.chat.completions.create(model=MODEL, messages=ask(), stream=True)
            streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            many = await asyncio.gather(*(sdk.chat.completions.create(model=MODEL, messages=ask()) for _ in range(5)))
            return created.choices[0].message.content, streamed, len(many)

    created, streamed, many = asyncio.run(scenario())

    assert created == streamed
    assert many == 5
    assert simulated_model.calls == 7
    assert simulated_model.stats().in_flight == 0


def test_counters_are_exact_under_concurrent_threads(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: sdk.chat.completions.create(model=f"m{i % 2}", messages=ask()), range(40)))

    stats = simulated_model.stats()
    assert stats.calls == 40
    assert stats["calls"] == 40  # key access too, like the JSON
    assert stats.by_model == {"m0": 20, "m1": 20}
    assert stats.in_flight == 0


# --- failure injection ---------------------------------------------------------------------------


def test_429_then_success_is_retried_by_the_sdk(simulated_model: SimulatedModel) -> None:
    simulated_model.fail_next(429)

    started = time.monotonic()
    completion = client(simulated_model, max_retries=1).chat.completions.create(model=MODEL, messages=ask())

    assert completion.choices[0].message.content
    assert simulated_model.calls == 2
    assert time.monotonic() - started < 5  # retry-after-ms is honoured, no long backoff


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_injected_status_raises_the_sdk_error(
    simulated_model: SimulatedModel, status: int, error: type[openai.APIStatusError]
) -> None:
    simulated_model.fail_next(status)

    with pytest.raises(error) as raised:
        client(simulated_model).chat.completions.create(model=MODEL, messages=ask())

    assert raised.value.status_code == status
    body = raised.value.body
    assert isinstance(body, dict)
    assert {"message", "type", "code"} <= set(body)
    assert simulated_model.stats().injected == 1
    # the injection is consumed: the next call succeeds
    assert client(simulated_model).chat.completions.create(model=MODEL, messages=ask()).choices


def test_hang_makes_a_short_timeout_raise_and_ends_when_the_client_leaves(simulated_model: SimulatedModel) -> None:
    simulated_model.fail_next("hang")

    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(simulated_model, timeout=0.5).chat.completions.create(model=MODEL, messages=ask())

    assert time.monotonic() - started < 5
    wait_until(lambda: simulated_model.stats().in_flight == 0, "the hung call ended once its client left")


def test_stop_interrupts_a_hang() -> None:
    # Given a private server with a call hanging on it
    model = SimulatedModel().start()
    model.fail_next("hang")
    outcome: list[object] = []
    caller = threading.Thread(
        target=lambda: outcome.append(_call_catching(model)),
        daemon=True,
    )
    caller.start()
    wait_until(lambda: model.stats().in_flight == 1, "the call reached the server")

    # When it stops
    started = time.monotonic()
    model.stop()
    caller.join(5)

    # Then shutdown did not wait for the hang, and the caller got an error
    assert time.monotonic() - started < 3
    assert len(outcome) == 1
    assert isinstance(outcome[0], openai.APIError)


def _call_catching(model: SimulatedModel) -> object:
    try:
        return client(model, timeout=30).chat.completions.create(model=MODEL, messages=ask())
    except openai.APIError as exc:
        return exc


def test_truncate_gives_finish_reason_length(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)
    full = sdk.chat.completions.create(model=MODEL, messages=ask()).choices[0].message.content or ""
    simulated_model.fail_next("truncate", "truncate", "truncate")

    buffered = sdk.chat.completions.create(model=MODEL, messages=ask())
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=ask(), stream=True))
    with pytest.raises(openai.LengthFinishReasonError):
        sdk.chat.completions.parse(model=MODEL, messages=ask(), response_format=RoofReport)

    assert buffered.choices[0].finish_reason == "length"
    assert len(buffered.choices[0].message.content or "") < len(full)
    assert chunks[-1].choices[0].finish_reason == "length"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == buffered.choices[0].message.content


def test_disconnect_ends_a_stream_without_finish_reason_or_usage(simulated_model: SimulatedModel) -> None:
    simulated_model.fail_next("disconnect")

    chunks = list(
        client(simulated_model).chat.completions.create(
            model=MODEL, messages=ask(), stream=True, stream_options={"include_usage": True}
        )
    )

    assert len(chunks) > 1
    assert all(c.choices and c.choices[0].finish_reason is None for c in chunks)
    assert all(c.usage is None for c in chunks)


def test_refuse_sets_refusal_and_no_content(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)
    simulated_model.fail_next("refuse", "refuse")

    buffered = sdk.chat.completions.parse(model=MODEL, messages=ask(), response_format=RoofReport)
    chunks = list(sdk.chat.completions.create(model=MODEL, messages=ask(), stream=True))

    message = buffered.choices[0].message
    assert message.parsed is None
    assert message.content is None
    assert message.refusal is not None
    assert "simulated" in message.refusal
    assert "".join(c.choices[0].delta.refusal or "" for c in chunks) == message.refusal
    assert all(not c.choices[0].delta.content for c in chunks)


def test_refuse_and_invalid_json_toggles_last_until_reset(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)
    fmt = json_schema_format(RoofReport.model_json_schema())
    simulated_model.configure(invalid_json=True)

    contents = [sdk.chat.completions.create(model=MODEL, messages=ask(), response_format=fmt) for _ in range(2)]
    simulated_model.configure(invalid_json=False, refuse=True)
    refused = sdk.chat.completions.create(model=MODEL, messages=ask())
    simulated_model.reset()
    normal = sdk.chat.completions.create(model=MODEL, messages=ask(), response_format=fmt)

    for completion in contents:
        assert completion.choices[0].finish_reason == "stop"
        with pytest.raises(json.JSONDecodeError):
            json.loads(completion.choices[0].message.content or "")
    assert refused.choices[0].message.refusal
    RoofReport.model_validate_json(normal.choices[0].message.content or "")


# --- timing --------------------------------------------------------------------------------------


def test_latency_ttft_and_chunk_interval_are_honoured(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)
    simulated_model.configure(latency_ms=300)
    started = time.monotonic()
    sdk.chat.completions.create(model=MODEL, messages=ask())
    assert time.monotonic() - started >= 0.25

    simulated_model.configure(latency_ms=0, ttft_ms=300, chunk_interval_ms=20)
    started = time.monotonic()
    stream = sdk.chat.completions.create(model=MODEL, messages=ask(), stream=True)
    first_content_at = None
    pieces = 0
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first_content_at = first_content_at or time.monotonic()
            pieces += 1
    finished = time.monotonic()

    assert first_content_at is not None
    assert first_content_at - started >= 0.25
    assert finished - first_content_at >= (pieces - 1) * 0.02 * 0.8


# --- control endpoints ---------------------------------------------------------------------------


def test_control_endpoints_over_http(simulated_model: SimulatedModel) -> None:
    sdk = client(simulated_model)
    with httpx.Client(base_url=simulated_model.url, timeout=5) as http:
        # config: partial update, validation, failure queue
        changed = http.put("/_sim/config", json={"latency_ms": 5, "fail_next": [500]})
        assert changed.status_code == 200
        assert changed.json()["latency_ms"] == 5
        assert changed.json()["ttft_ms"] == 0
        assert http.put("/_sim/config", json={"latency_ms": -1}).status_code == 422
        assert http.put("/_sim/config", json={"no_such_field": 1}).status_code == 422
        assert http.post("/_sim/fail_next", json=["refuse"]).json()["fail_next"] == [500, "refuse"]
        assert http.post("/_sim/fail_next", json=["explode"]).status_code == 422
        assert http.get("/_sim/config").json()["latency_ms"] == 5

        # the queue is consumed in order, and stats see it
        with pytest.raises(openai.InternalServerError):
            sdk.chat.completions.create(model=MODEL, messages=ask())
        assert sdk.chat.completions.create(model=MODEL, messages=ask()).choices[0].message.refusal
        sdk.chat.completions.create(model="gpt-4o", messages=ask(), stream=True, stream_options={"include_usage": True})
        stats = http.get("/_sim/stats").json()
        assert stats == {"calls": 3, "streams": 1, "by_model": {MODEL: 2, "gpt-4o": 1}, "in_flight": 0, "injected": 2}
        assert http.get("/_sim/requests").json()[-1]["stream_options"] == {"include_usage": True}

        # reset zeroes counters and restores the default config
        assert http.post("/_sim/reset").json()["calls"] == 0
        assert http.get("/_sim/config").json() == {**changed.json(), "latency_ms": 0, "fail_next": []}
        assert http.get("/_sim/requests").json() == []

        # the request is validated like OpenAI does, with its error shape
        bad = http.post("/v1/chat/completions", json={"model": MODEL})
        assert bad.status_code == 400
        assert set(bad.json()["error"]) >= {"message", "type", "code"}
        bad_format = http.post(
            "/v1/chat/completions", json={"model": MODEL, "messages": ask(), "response_format": {"type": "xml"}}
        )
        assert bad_format.status_code == 400

    assert {m.id for m in sdk.models.list()} >= {"gpt-4o", "gpt-4o-mini"}
