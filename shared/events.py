"""Stream events, in the contract's order: meta, delta... (or progress...), result, done; or error."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from shared.requests import CallMeta


@dataclass(frozen=True, slots=True)
class MetaEvent:
    request_id: str
    model: str
    mode: str
    cache: str
    simulated: bool
    event: Literal["meta"] = "meta"


@dataclass(frozen=True, slots=True)
class DeltaEvent:
    text: str
    event: Literal["delta"] = "delta"


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    stage: str
    fraction: float
    event: Literal["progress"] = "progress"


@dataclass(frozen=True, slots=True)
class ResultEvent:
    result: dict[str, Any]
    event: Literal["result"] = "result"


@dataclass(frozen=True, slots=True)
class DoneEvent:
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float | None
    saved_cost_usd: float | None
    ttft_ms: float | None
    latency_ms: float
    event: Literal["done"] = "done"

    @classmethod
    def from_meta(cls, meta: CallMeta) -> DoneEvent:
        return cls(
            input_tokens=meta.usage.input_tokens,
            cached_input_tokens=meta.usage.cached_input_tokens,
            output_tokens=meta.usage.output_tokens,
            cost_usd=meta.cost_usd,
            saved_cost_usd=meta.saved_cost_usd,
            ttft_ms=meta.ttft_ms,
            latency_ms=meta.latency_ms,
        )


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    code: str
    message: str
    request_id: str
    event: Literal["error"] = "error"


StreamEvent = MetaEvent | DeltaEvent | ProgressEvent | ResultEvent | DoneEvent | ErrorEvent


def to_sse(event: StreamEvent) -> str:
    """One Server-Sent Events frame: `event:` names it, `data:` holds its JSON."""
    data = {key: value for key, value in asdict(event).items() if key != "event"}
    return f"event: {event.event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
