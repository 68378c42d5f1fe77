"""Model prices and the cost of a call.

Prices are data (USD per 1M tokens), overridable through settings. A model the table does not know is
*unpriced*: its cost is `None`, never 0, so reports cannot mistake it for free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

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
