"""CHEAP / SMART / AUTO: which model a call runs on.

Rules, in order:
1. the mode is the request's if it asks for one, else the org's default; an org whose default is
   CHEAP has set a cost ceiling, so a request cannot raise it to SMART or AUTO;
2. CHEAP -> the cheap model, SMART -> the smart model, AUTO -> the smart model unless the org's
   balance is below the AUTO threshold;
3. never a model the balance cannot pay for: when the worst case of the call on the chosen model
   exceeds the balance, the cheap model is used instead; when even that does not fit the call is
   refused with `insufficient_balance` (cache hits are still served: they cost nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from shared.catalog import PriceTable, Usage


class Mode(StrEnum):
    CHEAP = "cheap"
    SMART = "smart"
    AUTO = "auto"

    @classmethod
    def parse(cls, value: str) -> Mode:
        try:
            return cls(value.strip().lower())
        except ValueError:
            choices = ", ".join(m.value for m in cls)
            raise ValueError(f"mode must be one of {choices}, not {value!r}") from None

    def effective(self, requested: Mode | None) -> Mode:
        """The mode a call runs in when the org's default is `self` and the request asks `requested`."""
        if requested is None:
            return self
        if self is Mode.CHEAP:
            return Mode.CHEAP
        return requested


@dataclass(frozen=True, slots=True)
class ModelPair:
    cheap: str
    smart: str


@dataclass(frozen=True, slots=True)
class ModelChoice:
    mode: Mode
    model: str
    affordable: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Billing:
    """Turns USD into the org's balance tokens (the CRM's unit) and back."""

    prices: PriceTable
    usd_per_token: float

    def tokens_for(self, model: str, usage: Usage) -> int:
        """Balance tokens a call with `usage` costs: at least 1 for any billed call, rounded up."""
        usd = self.prices.billable_usd(model, usage)
        return max(1, math.ceil(usd / self.usd_per_token - 1e-9))


def select_model(
    *,
    org_mode: Mode,
    requested: Mode | None,
    balance: int,
    worst_case: Usage,
    models: ModelPair,
    billing: Billing,
    auto_threshold: int,
) -> ModelChoice:
    mode = org_mode.effective(requested)
    if mode is Mode.CHEAP:
        model, reason = models.cheap, "cheap mode"
    elif mode is Mode.SMART:
        model, reason = models.smart, "smart mode"
    elif balance < auto_threshold:
        model, reason = models.cheap, f"auto: balance {balance} below {auto_threshold}"
    else:
        model, reason = models.smart, "auto: balance allows the smart model"

    if billing.tokens_for(model, worst_case) <= balance:
        return ModelChoice(mode, model, True, reason)
    if model != models.cheap and billing.tokens_for(models.cheap, worst_case) <= balance:
        return ModelChoice(mode, models.cheap, True, f"{reason}; balance {balance} only covers the cheap model")
    return ModelChoice(mode, models.cheap, False, f"balance {balance} cannot cover this call")
