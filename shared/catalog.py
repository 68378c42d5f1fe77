"""Model prices, what an image costs in tokens, and the cost of a call.

Prices are data (USD per 1M tokens), overridable through settings. A model the table does not know is
*unpriced*: its cost is `None`, never 0, so reports cannot mistake it for free.

Images bill as input tokens by a per-model formula (OpenAI's "calculating costs" for vision):
- tiles (gpt-4o, gpt-4.1, gpt-4o-mini): `detail: low` is a flat base; otherwise the image is fitted
  within 2048 x 2048, then its short side within 768, and each 512 px tile costs the same. gpt-4o-mini
  bills 2833 + 5667 per tile where gpt-4o bills 85 + 170: about 33 times the tokens at 1/17 the price,
  so an image costs *more* on the "cheap" model. A cheap image call sends fewer or smaller images.
- patches (gpt-4.1-mini, gpt-4.1-nano, o4-mini): 32 px patches, at most 1536 (the image is scaled
  down to fit), times a per-model multiplier.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.errors import ServiceNotConfigured


class ModelPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    cached_input: float = Field(ge=0)
    output: float = Field(ge=0)


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-4o": ModelPrice(input=2.50, cached_input=1.25, output=10.00),
    "gpt-4o-mini": ModelPrice(input=0.15, cached_input=0.075, output=0.60),
    "gpt-4.1": ModelPrice(input=2.00, cached_input=0.50, output=8.00),
    "gpt-4.1-mini": ModelPrice(input=0.40, cached_input=0.10, output=1.60),
}

# OpenAI answers with dated snapshots ("gpt-4o-2024-08-06"); they bill as their family.
_SNAPSHOT_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, slots=True)
class TileRule:
    base: int
    per_tile: int


@dataclass(frozen=True, slots=True)
class PatchRule:
    multiplier: float


ImageRule = TileRule | PatchRule
Detail = Literal["low", "high", "auto"]

DEFAULT_IMAGE_RULES: Mapping[str, ImageRule] = {
    "gpt-4o": TileRule(85, 170),
    "gpt-4.1": TileRule(85, 170),
    "gpt-4o-mini": TileRule(2833, 5667),
    "gpt-4.1-mini": PatchRule(1.62),
    "gpt-4.1-nano": PatchRule(2.46),
    "o4-mini": PatchRule(1.72),
}
# A model without a rule is held to the dearest one known, so an estimate never runs short.
_UNKNOWN_IMAGE_RULE = TileRule(2833, 5667)
_WORST_SIZE = (2048, 768)  # the most tiles an image of unknown size can make: 4 x 2 after fitting


def image_tokens(model: str, width: int | None, height: int | None, detail: Detail = "auto") -> int:
    """Input tokens one image costs on `model`; an image of unknown size is held to the worst case."""
    rule = DEFAULT_IMAGE_RULES.get(model) or DEFAULT_IMAGE_RULES.get(_SNAPSHOT_SUFFIX.sub("", model))
    rule = rule or _UNKNOWN_IMAGE_RULE
    w, h = (width, height) if width and height else _WORST_SIZE
    if isinstance(rule, PatchRule):
        return math.ceil(_patches(w, h) * rule.multiplier)
    if detail == "low":
        return rule.base
    return rule.base + rule.per_tile * _tiles(w, h)


def _tiles(width: int, height: int) -> int:
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    return math.ceil(w * scale / 512) * math.ceil(h * scale / 512)


def _patches(width: int, height: int, cap: int = 1536) -> int:
    raw = math.ceil(width / 32) * math.ceil(height / 32)
    if raw <= cap:
        return raw
    shrink = math.sqrt(32 * 32 * cap / (width * height))
    w, h = width * shrink / 32, height * shrink / 32  # in patches
    shrink *= min(math.floor(w) / w, math.floor(h) / h)  # whole patches along the tighter side
    return min(cap, math.ceil(width * shrink / 32) * math.ceil(height * shrink / 32))


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class PriceTable:
    def __init__(self, prices: Mapping[str, ModelPrice] = DEFAULT_PRICES) -> None:
        self._prices = dict(prices)

    @classmethod
    def with_overrides(cls, overrides_json: str | None) -> PriceTable:
        """The default table updated from `DOMINUS_PRICES_JSON` ({"model": {"input", ...}})."""
        prices = dict(DEFAULT_PRICES)
        if overrides_json:
            try:
                prices.update(TypeAdapter(dict[str, ModelPrice]).validate_json(overrides_json))
            except ValidationError as exc:
                raise ServiceNotConfigured(f"DOMINUS_PRICES_JSON is not a valid price table: {exc}") from None
        return cls(prices)

    def price(self, model: str) -> ModelPrice | None:
        return self._prices.get(model) or self._prices.get(_SNAPSHOT_SUFFIX.sub("", model))

    def cost_usd(self, model: str, usage: Usage) -> float | None:
        """Cost of `usage` on `model`; cached input tokens bill at the cached rate. None if unpriced."""
        price = self.price(model)
        if price is None:
            return None
        uncached = max(usage.input_tokens - usage.cached_input_tokens, 0)
        micro = (
            uncached * price.input + usage.cached_input_tokens * price.cached_input + usage.output_tokens * price.output
        )
        return round(micro / 1_000_000, 8)

    def dearest(self) -> ModelPrice:
        """The highest rates known: what an unpriced model is held against the org's balance at."""
        return ModelPrice(
            input=max(p.input for p in self._prices.values()),
            cached_input=max(p.cached_input for p in self._prices.values()),
            output=max(p.output for p in self._prices.values()),
        )

    def billable_usd(self, model: str, usage: Usage) -> float:
        """What the org's balance is charged: the real cost, or the dearest rates when unpriced."""
        cost = self.cost_usd(model, usage)
        if cost is not None:
            return cost
        return PriceTable({model: self.dearest()}).cost_usd(model, usage) or 0.0
