"""What a function asks of the engine, and what it gets back."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from shared.catalog import Detail, Usage
from shared.modes import Mode
from shared.outcomes import CacheOutcome

T = TypeVar("T", bound=BaseModel)

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image sent inline; the cache key holds its content hash, never its bytes. Its size in pixels,
    when given, prices it exactly before the call; without it the estimate takes the worst case."""

    data: bytes
    media_type: str = "image/jpeg"
    detail: Detail = "auto"
    width: int | None = None
    height: int | None = None
    sha256: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha256", hashlib.sha256(self.data).hexdigest())

    def data_url(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str | Sequence[str | ImagePart]

    def to_openai(self) -> dict[str, Any]:
        return self._render(
            lambda image: {"type": "image_url", "image_url": {"url": image.data_url(), "detail": image.detail}}
        )

    def canonical(self) -> dict[str, Any]:
        """The message as the cache key sees it: images by content hash."""
        return self._render(
            lambda image: {"type": "image", "sha256": image.sha256, "media": image.media_type, "detail": image.detail}
        )

    def _render(self, image: Callable[[ImagePart], dict[str, Any]]) -> dict[str, Any]:
        if isinstance(self.content, str):
            return {"role": self.role, "content": self.content}
        parts = [{"type": "text", "text": part} if isinstance(part, str) else image(part) for part in self.content]
        return {"role": self.role, "content": parts}


@dataclass(frozen=True, slots=True)
class AIRequest(Generic[T]):
    """One structured-output call. `version` names the prompt's version: a prompt change must bump it."""

    operation: str
    version: str
    messages: Sequence[Message]
    response_model: type[T]
    temperature: float = 0.2
    max_output_tokens: int = 1_500
    mode: Mode | None = None


@dataclass(frozen=True, slots=True)
class CallMeta:
    """How a call was served: becomes the X-Dominus-* headers, the SSE `meta`/`done` events, the perf record."""

    request_id: str
    model: str
    mode: Mode
    cache: CacheOutcome
    usage: Usage
    cost_usd: float | None
    saved_cost_usd: float | None
    latency_ms: float
    ttft_ms: float | None
    simulated: bool

    def headers(self) -> dict[str, str]:
        headers = {
            "X-Dominus-Cache": self.cache.value,
            "X-Dominus-Model": self.model,
            "X-Dominus-Mode": self.mode.value,
            "X-Dominus-Cost-Usd": "unpriced" if self.cost_usd is None else f"{self.cost_usd:.6f}",
            "X-Request-Id": self.request_id,
        }
        if self.simulated:
            headers["X-Dominus-Simulated"] = "true"
        return headers


@dataclass(frozen=True, slots=True)
class AIResult(Generic[T]):
    value: T
    meta: CallMeta
