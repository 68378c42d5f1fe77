"""A simulated OpenAI-compatible model server (Chat Completions API only).

`make run` serves it when no OPENAI_API_KEY is set, and every test and benchmark that needs "OpenAI" talks
to it through the official SDK, so the code under test is the code that runs against OpenAI. Answers are
deterministic for a request, valid against the requested JSON schema, and say they are simulated.
Latency and failures are injected through `SimulationConfig`, changeable at run time in process
(`SimulatedModel`) or over HTTP (`/_sim/*`), so tests in other processes can steer and observe it too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import math
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.types import Receive, Scope, Send

from dominus_dev.serving import ServerThread
from shared.catalog import image_tokens

SIMULATED_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini")
RECENT_REQUESTS = 50
# A schema that nests deeper than this has no finite instance (or is not worth one).
HARD_DEPTH = 40

FailureMode = Literal["hang", "truncate", "disconnect", "refuse", "invalid_json"]
Failure = Annotated[int, Field(ge=400, le=599)] | FailureMode
_FAILURES: TypeAdapter[list[Failure]] = TypeAdapter(list[Failure])


class Scripted(BaseModel):
    """A given answer, for tests that need the model to say something in particular."""

    model_config = ConfigDict(extra="forbid")

    match: str = Field(min_length=1, description="a substring of the request's user text")
    content: Any = Field(description="the answer's JSON value (valid against the request's schema)")


class SimulationConfig(BaseModel):
    """Run-time behaviour. Every field can be changed while the server runs (`PUT /_sim/config`)."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(0, ge=0, description="total time of a non-streamed answer")
    ttft_ms: float = Field(0, ge=0, description="time to the first streamed chunk")
    chunk_interval_ms: float = Field(0, ge=0, description="pause between streamed chunks")
    chunk_chars: int = Field(12, ge=1, description="about this many characters per streamed chunk")
    fail_next: list[Failure] = Field(
        default_factory=list,
        description=(
            "consumed one per chat-completion call: an HTTP status (OpenAI error body), 'hang', 'truncate' "
            "(half the content, finish_reason 'length'), 'disconnect' (a stream stops mid-way without "
            "finish_reason or [DONE]; non-streamed acts as 'truncate'), 'refuse', 'invalid_json'"
        ),
    )
    scripted: list[Scripted] = Field(
        default_factory=list,
        description=(
            "given answers: a call whose user text contains `match` gets `content` (as JSON) instead of a "
            "sampled answer; the first match wins, and it answers every such call until reset"
        ),
    )
    refuse: bool = Field(False, description="refuse every call (message.refusal set, content null)")
    invalid_json: bool = Field(False, description="every JSON answer is cut short, so it does not parse")
    hang_s: float = Field(60, gt=0, description="how long a 'hang' lasts; far beyond any client timeout")
    retry_after_ms: int = Field(1, ge=0, description="retry-after-ms on a 429; 0 lets the SDK back off")


class SimulationStats(BaseModel):
    """What the server has seen since start or the last reset; `GET /_sim/stats` serves the same fields.

    Fields read as attributes (`stats.calls`) or, like the JSON, as keys (`stats["calls"]`).
    """

    model_config = ConfigDict(frozen=True)

    calls: int
    streams: int
    by_model: dict[str, int]
    in_flight: int
    injected: int

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)


class SchemaError(ValueError):
    """The response schema cannot be satisfied by the generator (bad $ref, infinitely deep)."""


# ---------------------------------------------------------------------------------------------------
# Shared state: mutated on the server's event-loop thread, read from the test thread, hence the lock.


class _Simulator:
    def __init__(self, config: SimulationConfig) -> None:
        self._default = config.model_copy(deep=True)
        self._config = config.model_copy(deep=True)
        self._lock = threading.Lock()
        self._calls = 0
        self._streams = 0
        self._in_flight = 0
        self._injected = 0
        self._by_model: Counter[str] = Counter()
        self._requests: deque[Any] = deque(maxlen=RECENT_REQUESTS)
        # Set before the server stops, so hangs and slow streams end instead of blocking shutdown.
        self.closing = threading.Event()

    def begin(self, body: Any) -> tuple[SimulationConfig, Failure | None]:
        """Count an incoming call and take its failure injection, atomically."""
        with self._lock:
            self._calls += 1
            self._in_flight += 1
            self._requests.append(body)
            if isinstance(body, dict):
                self._by_model[str(body.get("model"))] += 1
                self._streams += body.get("stream") is True
            failure = self._config.fail_next.pop(0) if self._config.fail_next else None
            self._injected += failure is not None
            return self._config.model_copy(deep=True), failure

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def calls(self) -> int:
        with self._lock:
            return self._calls

    @property
    def config(self) -> SimulationConfig:
        with self._lock:
            return self._config.model_copy(deep=True)

    def stats(self) -> SimulationStats:
        with self._lock:
            return SimulationStats(
                calls=self._calls,
                streams=self._streams,
                by_model=dict(self._by_model),
                in_flight=self._in_flight,
                injected=self._injected,
            )

    def requests(self) -> list[Any]:
        with self._lock:
            return list(self._requests)

    def reset(self) -> None:
        """Zero the counters and restore the config the server was created with.

        `in_flight` is left alone: calls still running will decrement it when they end.
        """
        with self._lock:
            self._calls = self._streams = self._injected = 0
            self._by_model.clear()
            self._requests.clear()
            self._config = self._default.model_copy(deep=True)

    def configure(self, **fields: Any) -> SimulationConfig:
        with self._lock:
            self._config = SimulationConfig.model_validate({**self._config.model_dump(), **fields})
            return self._config.model_copy(deep=True)

    def add_failures(self, items: Sequence[Any]) -> SimulationConfig:
        failures = _FAILURES.validate_python(list(items))
        with self._lock:
            self._config.fail_next.extend(failures)
            return self._config.model_copy(deep=True)

    async def pause(self, seconds: float, request: Request | None = None) -> bool:
        """Sleep in small steps; False when cut short by shutdown or by the client going away."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.closing.is_set() or (request is not None and await request.is_disconnected()):
                return False
            await asyncio.sleep(min(left, 0.05))
        return True


# ---------------------------------------------------------------------------------------------------
# Request parsing and token accounting.


class ChatRequest(BaseModel):
    """The subset of OpenAI's request the simulation reads; other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    response_format: dict[str, Any] | None = None
    temperature: float | None = Field(None, ge=0, le=2)

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.get("include_usage"))

    @property
    def schema_format(self) -> tuple[str, dict[str, Any] | None]:
        """('text' | 'json_object' | 'json_schema', the schema when there is one)."""
        fmt = self.response_format or {"type": "text"}
        kind = fmt.get("type")
        if kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise ValueError("response_format.json_schema.schema must be an object")
            return kind, spec["schema"]
        if kind in ("text", "json_object"):
            return str(kind), None
        raise ValueError(f"unsupported response_format type {kind!r}")

    @property
    def schema_name(self) -> str:
        spec = (self.response_format or {}).get("json_schema") or {}
        return str(spec.get("name") or "response")


def _tokens(text: str) -> int:
    """About four characters per token, like OpenAI's rule of thumb; never 0 for real text."""
    return math.ceil(len(text) / 4)


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [p for p in content if isinstance(p, dict)]
    return []


def _text_of(message: Mapping[str, Any]) -> str:
    return " ".join(str(p.get("text", "")) for p in _parts(message.get("content")) if p.get("type") == "text")


def _prompt_tokens(req: ChatRequest, schema: dict[str, Any] | None) -> int:
    total = 3  # every reply is primed with a few tokens
    for message in req.messages:
        total += 4 + _tokens(str(message.get("role", ""))) + _tokens(_text_of(message))
        for part in _parts(message.get("content")):
            if part.get("type") == "image_url":
                total += _image_tokens(req.model, part.get("image_url") or {})
    if schema is not None:  # OpenAI bills the response schema as prompt
        total += _tokens(json.dumps(schema, sort_keys=True))
    return total


def _image_tokens(model: str, image_url: Mapping[str, Any]) -> int:
    """What OpenAI bills the image, by its documented per-model formula, from its decoded size."""
    detail = image_url.get("detail", "auto")
    width = height = None
    url = str(image_url.get("url", ""))
    if url.startswith("data:") and "," in url:
        try:
            from PIL import Image  # the dev extra's; only needed once images are sent

            with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as image:
                width, height = image.size
        except Exception:  # an unreadable image is billed as the worst case, as OpenAI would refuse it
            width = height = None
    return image_tokens(model, width, height, detail if detail in ("low", "high") else "auto")


def _usage(prompt_tokens: int, content: str) -> dict[str, Any]:
    completion = _tokens(content)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _seed(req: ChatRequest) -> str:
    """Same model, messages and format -> same answer; temperature is ignored on purpose."""
    canonical = json.dumps([req.model, req.messages, req.response_format], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _quote(messages: Sequence[Mapping[str, Any]], limit: int = 48) -> str:
    """A short excerpt of the last user message, so answers visibly relate to the request."""
    users = [m for m in messages if m.get("role") == "user"] or list(messages)
    text = " ".join(_text_of(users[-1]).split()) if users else ""
    if not text:
        return "the request"
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "..."


# ---------------------------------------------------------------------------------------------------
# Values from a JSON schema: one small function per schema kind, all deterministic per path.


@dataclass(frozen=True)
class _Ctx:
    root: Mapping[str, Any]
    seed: str
    quote: str


@dataclass(frozen=True)
class _At:
    """Where a value sits: property name (for wording), path (for hashing), nesting and $refs entered."""

    name: str
    path: str
    depth: int = 0
    refs: tuple[str, ...] = ()

    @property
    def lean(self) -> bool:
        """Inside a recursion (a $ref entered twice): only what is required, so the document stays finite."""
        return len(set(self.refs)) < len(self.refs)

    def child(self, name: str, step: str) -> _At:
        if self.depth >= HARD_DEPTH:
            raise SchemaError(f"schema nests deeper than {HARD_DEPTH} levels at {self.path}")
        return _At(name, self.path + step, self.depth + 1, self.refs)


def sample_from_schema(schema: Mapping[str, Any], *, seed: str = "", quote: str = "", name: str = "response") -> Any:
    """A deterministic, plausible value that validates against `schema` (JSON Schema 2020-12 subset)."""
    return _value(schema, _Ctx(schema, seed, quote or "the request"), _At(name, name))


def _hash(ctx: _Ctx, at: _At) -> int:
    """A number derived from the request and the value's place in the document, not traversal order."""
    return int.from_bytes(hashlib.sha256(f"{ctx.seed}|{at.path}".encode()).digest()[:8], "big")


def _value(schema: Mapping[str, Any], ctx: _Ctx, at: _At) -> Any:
    schema, refs = _resolve(schema, ctx)
    at = replace(at, refs=at.refs + refs) if refs else at
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        options = [o for o in schema["enum"] if o is not None] or list(schema["enum"])
        return options[_hash(ctx, at) % len(options)]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            rest = {k: v for k, v in schema.items() if k != key}
            return _value({**rest, **_branch(schema[key], ctx, at)}, ctx, at)
    if "allOf" in schema:
        return _value(_merge_all(schema, ctx), ctx, at)
    return _GENERATORS[_type_of(schema, at)](schema, ctx, at)


def _resolve(schema: Mapping[str, Any], ctx: _Ctx) -> tuple[Mapping[str, Any], tuple[str, ...]]:
    """Follow local $refs; keywords beside a $ref win over the target's, as the SDK's strict mode does."""
    followed: tuple[str, ...] = ()
    while (ref := schema.get("$ref")) is not None:
        if len(followed) > HARD_DEPTH:
            raise SchemaError("$ref chain too long")
        followed += (str(ref),)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**_pointer(ctx.root, str(ref)), **rest}
    return schema, followed


def _pointer(root: Mapping[str, Any], ref: str) -> Mapping[str, Any]:
    if not ref.startswith("#"):
        raise SchemaError(f"only local $refs are supported, got {ref!r}")
    node: Any = root
    for raw in [p for p in ref[1:].split("/") if p]:
        key = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            raise SchemaError(f"$ref {ref!r} does not resolve")
        node = node[key]
    if not isinstance(node, Mapping):
        raise SchemaError(f"$ref {ref!r} does not name a schema")
    return node


def _is_null(schema: Mapping[str, Any], ctx: _Ctx) -> bool:
    return _resolve(schema, ctx)[0].get("type") == "null"


def _branch(options: Sequence[Mapping[str, Any]], ctx: _Ctx, at: _At) -> Mapping[str, Any]:
    """The first non-null branch (a filled-in Optional reads better), or null inside a recursion."""
    nulls = [o for o in options if _is_null(o, ctx)]
    if at.lean and nulls:
        return nulls[0]
    return next((o for o in options if not _is_null(o, ctx)), options[0])


def _merge_all(schema: Mapping[str, Any], ctx: _Ctx) -> dict[str, Any]:
    merged = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        for key, value in _resolve(part, ctx)[0].items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _type_of(schema: Mapping[str, Any], at: _At) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        if at.lean and "null" in declared:
            return "null"
        return next((str(t) for t in declared if t != "null"), "null")
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "string"


def _object(schema: Mapping[str, Any], ctx: _Ctx, at: _At) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    # Optional properties are filled too (reads better), but dropped under maxProperties or in a recursion.
    optional = [k for k in properties if k not in required and not at.lean]
    optional = optional[: max(schema.get("maxProperties", len(properties)) - len(required), 0)]
    keys = [k for k in properties if k in required or k in optional]
    out = {key: _value(properties[key], ctx, at.child(key, f".{key}")) for key in keys}
    extra = schema.get("additionalProperties", True)
    if not properties and extra is not False:  # a map, e.g. dict[str, int]
        value_schema = extra if isinstance(extra, Mapping) else {}
        for i in range(1, max(schema.get("minProperties", 0), 0 if at.lean else 2) + 1):
            key = f"simulated_{_singular(at.name)}_{i}".replace(" ", "_")
            out[key] = _value(value_schema, ctx, at.child(key, f".{key}"))
    return out


def _array(schema: Mapping[str, Any], ctx: _Ctx, at: _At) -> list[Any]:
    prefix: Sequence[Mapping[str, Any]] = schema.get("prefixItems", [])
    items = schema.get("items", {})
    count = int(schema.get("minItems", 0))
    if not at.lean:  # two items show a list is a list
        count = max(count, len(prefix), 2)
    if items is False:  # a closed tuple
        count = min(count, len(prefix))
    count = min(count, int(schema.get("maxItems", count)))
    unique = bool(schema.get("uniqueItems"))
    values: list[Any] = []
    seen: set[str] = set()
    # uniqueItems: draw extra candidates and keep distinct ones (enums may repeat otherwise).
    for i in range(count * 4 if unique else count):
        if len(values) == count:
            break
        sub = prefix[i] if i < len(prefix) else (items if isinstance(items, Mapping) else {})
        value = _value(sub, ctx, at.child(f"{_singular(at.name)} {i + 1}", f"[{i}]"))
        key = json.dumps(value, sort_keys=True)
        if not unique or key not in seen:
            seen.add(key)
            values.append(value)
    return values


_PHRASES = (
    'Simulated {label} of "{quote}"',
    'Simulated {label} for "{quote}"',
    'Simulated {label} about "{quote}"',
)


def _string(schema: Mapping[str, Any], ctx: _Ctx, at: _At) -> str:
    h, label = _hash(ctx, at), _label(at.name)
    maker = _FORMATS.get(str(schema.get("format")))
    text = maker(h, label) if maker else _PHRASES[h % len(_PHRASES)].format(label=label, quote=ctx.quote)
    return _fit(text, int(schema.get("minLength", 0)), schema.get("maxLength"))


def _fit(text: str, min_length: int, max_length: int | None) -> str:
    if len(text) < min_length:
        text += (" simulated" * (min_length // 10 + 1))[: min_length - len(text)]
    return text if max_length is None else text[: int(max_length)]


def _label(name: str) -> str:
    """'carrierEmail_subject' -> 'carrier email subject'."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).replace("_", " ").replace("-", " ")
    return " ".join(spaced.lower().split()) or "value"


def _singular(name: str) -> str:
    label = _label(name)
    if label.endswith("ies") and len(label) > 4:
        return label[:-3] + "y"
    if label.endswith("s") and not label.endswith("ss") and len(label) > 3:
        return label[:-1]
    return label


def _date(h: int) -> str:
    return f"2024-{h % 12 + 1:02d}-{h // 12 % 28 + 1:02d}"


def _time(h: int) -> str:
    return f"{h % 10 + 8:02d}:{h // 10 % 4 * 15:02d}:00"


_FORMATS: dict[str, Callable[[int, str], str]] = {
    "date": lambda h, _: _date(h),
    "date-time": lambda h, _: f"{_date(h)}T{_time(h)}Z",
    "time": lambda h, _: f"{_time(h)}Z",
    "duration": lambda h, _: f"PT{h % 8 + 1}H",
    "email": lambda h, label: f"simulated.{label.replace(' ', '.')}@example.com",
    "uri": lambda h, label: f"https://example.com/simulated/{label.replace(' ', '-')}",
    "url": lambda h, label: f"https://example.com/simulated/{label.replace(' ', '-')}",
    "hostname": lambda h, _: "simulated.example.com",
    "ipv4": lambda h, _: f"192.0.2.{h % 254 + 1}",
    "ipv6": lambda h, _: f"2001:db8::{h % 65535 + 1:x}",
    "uuid": lambda h, _: str(uuid.UUID(int=h << 64 | h, version=4)),
}


def _int_bounds(schema: Mapping[str, Any]) -> tuple[int | None, int | None]:
    lows = [math.ceil(schema["minimum"])] if "minimum" in schema else []
    highs = [math.floor(schema["maximum"])] if "maximum" in schema else []
    if "exclusiveMinimum" in schema:
        lows.append(math.floor(schema["exclusiveMinimum"]) + 1)
    if "exclusiveMaximum" in schema:
        highs.append(math.ceil(schema["exclusiveMaximum"]) - 1)
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _integer(schema: Mapping[str, Any], ctx: _Ctx, at: _At) -> int:
    low, high = _int_bounds(schema)
    # Open-ended ranges get a small window so counts look like counts.
    if low is None:
        low = min(1, high) if high is not None else 1
    if high is None:
        high = low + 9
    multiple = schema.get("multipleOf", 1)
    step = int(multiple) if float(multiple).is_integer() and multiple >= 1 else 1
    first = math.ceil(low / step) * step
    choices = max((high - first) // step + 1, 1)
    return first + _hash(ctx, at) % choices * step


def _number(schema: Mapping[str, Any], ctx: _Ctx, at: _At) -> float:
    low = max(float(schema.get(k, -math.inf)) for k in ("minimum", "exclusiveMinimum"))
    high = min(float(schema.get(k, math.inf)) for k in ("maximum", "exclusiveMaximum"))
    if not math.isfinite(low):
        low = 0.0 if high > 0 else high - 10
    if not math.isfinite(high):
        high = low + 10
    h = _hash(ctx, at)
    if "multipleOf" in schema:  # a multiple on an exclusive bound is possible but rare enough to ignore
        step = float(schema["multipleOf"])
        first, last = math.ceil(low / step), math.floor(high / step)
        return round((first + h % max(last - first + 1, 1)) * step, 10)
    # Strictly inside, which satisfies inclusive and exclusive bounds alike; two decimals read well.
    value = round(low + (high - low) * (0.1 + 0.8 * (h % 1000) / 1000), 2)
    return value if low < value < high else (low + high) / 2


def _boolean(schema: Mapping[str, Any], ctx: _Ctx, at: _At) -> bool:
    return _hash(ctx, at) % 2 == 0


def _null(schema: Mapping[str, Any], ctx: _Ctx, at: _At) -> None:
    return None


_GENERATORS: dict[str, Callable[[Mapping[str, Any], _Ctx, _At], Any]] = {
    "object": _object,
    "array": _array,
    "string": _string,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "null": _null,
}


# ---------------------------------------------------------------------------------------------------
# Answers.

_FILLER = (
    "A real model would weigh the roof's age, pitch and recent storm history here.",
    "Set OPENAI_API_KEY to get genuine answers; until then every reply is a placeholder.",
    "The same request always gets this same answer, so caches and tests stay predictable.",
    "Treat any figures or recommendations in this reply as illustrative only.",
    "No photos, measurements or claim documents were actually examined.",
)


@dataclass(frozen=True)
class _Answer:
    content: str | None
    refusal: str | None
    finish_reason: str | None


def _compose(req: ChatRequest, scripted: Sequence[Scripted] = ()) -> str:
    text = " ".join(_text_of(m) for m in req.messages if m.get("role") == "user")
    given = next((s for s in scripted if s.match in text), None)
    if given is not None:
        return json.dumps(given.content, ensure_ascii=False)
    kind, schema = req.schema_format
    seed, quote = _seed(req), _quote(req.messages)
    if schema is not None:
        value = sample_from_schema(schema, seed=seed, quote=quote, name=req.schema_name)
        return json.dumps(value, ensure_ascii=False)
    if kind == "json_object":
        return json.dumps({"simulated": True, "model": req.model, "answer": f'Simulated answer to "{quote}"'})
    h, n = int(seed[:8], 16), len(_FILLER)
    first, second = h % n, (h % n + 1 + h // n % (n - 1)) % n  # two different sentences
    return (
        f"This is a simulated answer from the Dominus simulated model ({req.model}), not from OpenAI. "
        f'You asked about "{quote}". {_FILLER[first]} {_FILLER[second]}'
    )


def _answer(req: ChatRequest, config: SimulationConfig, failure: Failure | None) -> _Answer:
    if failure == "refuse" or config.refuse:
        return _Answer(None, "I'm sorry, I can't help with that. (simulated refusal)", "stop")
    content = _compose(req, config.scripted)
    if (failure == "invalid_json" or config.invalid_json) and req.schema_format[0] != "text":
        return _Answer(content[: len(content) // 2], None, "stop")
    if failure in ("truncate", "disconnect"):
        return _Answer(content[: max(len(content) // 2, 1)], None, "length" if failure == "truncate" else None)
    limit = req.token_limit
    if limit is not None and _tokens(content) > limit:
        return _Answer(content[: limit * 4], None, "length")
    return _Answer(content, None, "stop")


def _chunks(text: str, size: int) -> list[str]:
    """Pieces of about `size` characters, cut after whitespace where possible, like token deltas."""
    pieces: list[str] = []
    current = ""
    for word in re.findall(r"\S+\s*|\s+", text):
        current += word
        while len(current) >= 2 * size:  # a long run without spaces still streams in pieces
            pieces.append(current[:size])
            current = current[size:]
        if len(current) >= size:
            pieces.append(current)
            current = ""
    if current or not pieces:
        pieces.append(current)
    return pieces


# OpenAI's error `type` and `code` per status; the SDK maps the status to its exception class.
_ERROR_KINDS = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_denied", "permission_denied"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def _error(status: int, message: str) -> JSONResponse:
    default = ("server_error", "server_error") if status >= 500 else ("invalid_request_error", "simulated")
    kind, code = _ERROR_KINDS.get(status, default)
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers={"x-simulated": "true"})


def _injected_error(status: int, config: SimulationConfig) -> JSONResponse:
    response = _error(status, f"Simulated error {status} (injected by the Dominus simulated model).")
    if status == 429:
        # Small but non-zero: the SDK honours it instead of its own 0.5 s+ backoff.
        response.headers["retry-after-ms"] = str(config.retry_after_ms)
        response.headers["retry-after"] = str(config.retry_after_ms // 1000)
    return response


def _headers(call_id: str) -> dict[str, str]:
    # x-request-id is what the SDK exposes as `._request_id`, for logs that correlate calls.
    return {"x-simulated": "true", "x-request-id": call_id.replace("chatcmpl-", "req_")}


def _completion(req: ChatRequest, answer: _Answer, prompt_tokens: int, call_id: str) -> dict[str, Any]:
    return {
        "id": call_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.model,
        "system_fingerprint": "fp_simulated",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": answer.content,
                    "refusal": answer.refusal,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": answer.finish_reason or "length",  # a non-streamed 'disconnect' truncates
            }
        ],
        "usage": _usage(prompt_tokens, answer.content or answer.refusal or ""),
    }


class _SSEResponse(StreamingResponse):
    """Closes the generator and reports the end of the call however the stream ends (done or dropped)."""

    def __init__(self, body: AsyncGenerator[str, None], on_close: Callable[[], None], call_id: str) -> None:
        super().__init__(body, media_type="text/event-stream", headers=_headers(call_id))
        self._body = body
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._body.aclose()
            self._on_close()


async def _sse(
    sim: _Simulator,
    req: ChatRequest,
    answer: _Answer,
    config: SimulationConfig,
    prompt_tokens: int,
    call_id: str,
    dropped: bool,
) -> AsyncGenerator[str, None]:
    created = int(time.time())
    field = "refusal" if answer.refusal is not None else "content"
    text = answer.refusal if answer.refusal is not None else answer.content or ""

    def event(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> str:
        chunk: dict[str, Any] = {
            "id": call_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": req.model,
            "system_fingerprint": "fp_simulated",
            "service_tier": "default",
            "choices": choices,
        }
        if req.include_usage:
            chunk["usage"] = usage  # null on every chunk but the last, as OpenAI does
        return f"data: {json.dumps(chunk, separators=(',', ':'))}\n\n"

    def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    if not await sim.pause(config.ttft_ms / 1000):
        return
    yield event(choice({"role": "assistant", "content": "", "refusal": None}))
    pieces = _chunks(text, config.chunk_chars)
    for i, piece in enumerate(pieces):
        if i and not await sim.pause(config.chunk_interval_ms / 1000):
            return
        last = i == len(pieces) - 1
        yield event(choice({field: piece}, answer.finish_reason if last else None))
    if dropped:  # the connection just ends: no finish_reason, no usage, no [DONE]
        return
    if req.include_usage:
        yield event([], _usage(prompt_tokens, text))
    yield "data: [DONE]\n\n"


# ---------------------------------------------------------------------------------------------------
# The app.


def _build_app(config: SimulationConfig | None) -> tuple[FastAPI, _Simulator]:
    sim = _Simulator(config or SimulationConfig())
    app = FastAPI(title="Dominus simulated OpenAI-compatible model", docs_url=None, redoc_url=None)
    app.state.simulator = sim

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        config, failure = sim.begin(body)
        handed_off = False
        try:
            try:
                req = ChatRequest.model_validate(body)
                _, schema = req.schema_format  # a bad response_format fails before any waiting
            except (ValidationError, ValueError) as exc:
                return _error(400, f"Invalid request: {exc}")
            if isinstance(failure, int):
                return _injected_error(failure, config)
            if failure == "hang" and not await sim.pause(config.hang_s, request):
                return _error(503, "Simulated hang ended: the server is shutting down.")
            try:
                answer = _answer(req, config, failure)
                prompt_tokens = _prompt_tokens(req, schema)
            except SchemaError as exc:
                return _error(400, f"Invalid schema for response_format: {exc}")
            call_id = f"chatcmpl-sim{uuid.uuid4().hex[:24]}"
            if req.stream:
                events = _sse(sim, req, answer, config, prompt_tokens, call_id, failure == "disconnect")
                handed_off = True
                return _SSEResponse(events, on_close=sim.end, call_id=call_id)
            if not await sim.pause(config.latency_ms / 1000, request):
                return _error(503, "Simulated call interrupted.")
            return JSONResponse(_completion(req, answer, prompt_tokens, call_id), headers=_headers(call_id))
        finally:
            if not handed_off:
                sim.end()

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "dominus-simulated"} for m in SIMULATED_MODELS]
        return {"object": "list", "data": data}

    @app.get("/_sim/stats")
    async def stats() -> SimulationStats:
        return sim.stats()

    @app.get("/_sim/requests")
    async def recent_requests() -> list[Any]:
        return sim.requests()

    @app.post("/_sim/reset")
    async def reset() -> SimulationStats:
        sim.reset()
        return sim.stats()

    @app.get("/_sim/config")
    async def get_config() -> SimulationConfig:
        return sim.config

    @app.put("/_sim/config", response_model=None)
    async def put_config(fields: Annotated[dict[str, Any], Body()]) -> SimulationConfig | JSONResponse:
        try:
            return sim.configure(**fields)
        except ValidationError as exc:
            return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, 422)

    @app.post("/_sim/fail_next", response_model=None)
    async def fail_next(items: Annotated[list[Any], Body()]) -> SimulationConfig | JSONResponse:
        try:
            return sim.add_failures(items)
        except ValidationError as exc:
            return JSONResponse({"detail": exc.errors(include_url=False, include_context=False)}, 422)

    return app, sim


def create_app(config: SimulationConfig | None = None) -> FastAPI:
    """The simulated model as an ASGI app; its state is `app.state.simulator`.

    Whoever serves it should call `app.state.simulator.closing.set()` before stopping the server, as
    `SimulatedModel.stop()` does, or uvicorn's graceful shutdown waits for an injected 'hang' to end.
    """
    return _build_app(config)[0]


class SimulatedModel:
    """The simulated model on a loopback port in this process, with direct access to its state.

    `base_url` is what OPENAI_BASE_URL should be set to.
    """

    def __init__(self, config: SimulationConfig | None = None, host: str = "127.0.0.1", port: int | None = None):
        self.app, self._sim = _build_app(config)
        self._server = ServerThread(self.app, host=host, port=port)

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def base_url(self) -> str:
        return f"{self._server.url}/v1"

    @property
    def calls(self) -> int:
        return self._sim.calls

    @property
    def config(self) -> SimulationConfig:
        return self._sim.config

    def start(self) -> SimulatedModel:
        self._server.start()
        return self

    def stop(self) -> None:
        self._sim.closing.set()  # ends hangs, so uvicorn's graceful shutdown does not wait for them
        self._server.stop()

    def stats(self) -> SimulationStats:
        return self._sim.stats()

    def requests(self) -> list[Any]:
        """The most recent request bodies (up to 50), oldest first."""
        return self._sim.requests()

    def reset(self) -> None:
        self._sim.reset()

    def configure(self, **fields: Any) -> SimulationConfig:
        """Change some config fields (validated); the rest stay as they are."""
        return self._sim.configure(**fields)

    def fail_next(self, *items: int | str) -> SimulationConfig:
        """Queue failure injections, consumed one per call: statuses, or 'hang', 'truncate', ..."""
        return self._sim.add_failures(items)

    def __enter__(self) -> SimulatedModel:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
