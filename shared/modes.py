"""CHEAP / SMART / AUTO: which model a call runs on.

Rules, in order:
1. the mode is the request's if it asks for one, else the org's default; an org whose default is
   CHEAP has set a cost ceiling, so a request cannot raise it to SMART or AUTO;
2. CHEAP -> the model that costs less for this call, SMART -> the smart model, AUTO -> the smart model
   unless the org's balance is below the AUTO threshold, then as CHEAP. For text that is the cheap
   model; for images it can be the smart one (gpt-4o-mini bills an image at ~33x gpt-4o's tokens);
3. never a model the balance cannot pay for: when the worst case of the call on the chosen model
   exceeds the balance, the model that costs less is used instead; when even that does not fit the
   call is refused with `insufficient_balance` (cache hits are still served: they cost nothing).
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
    worst_case: Callable[[str], Usage],
    models: ModelPair,
    billing: Billing,
    auto_threshold: int,
) -> ModelChoice:
    """`worst_case(model)`: the call's usage at most, on that model."""
    mode = org_mode.effective(requested)
    thrifty = cheaper(models, worst_case, billing)
    if settle(mode, balance, auto_threshold) is Mode.SMART:
        model = models.smart
        reason = "smart mode" if mode is Mode.SMART else "auto: balance allows the smart model"
    else:
        model = thrifty
        reason = "cheap mode" if mode is Mode.CHEAP else f"auto: balance {balance} below {auto_threshold}"
        if thrifty != models.cheap:
            reason += f" ({thrifty} costs less for this call)"

    if billing.tokens_for(model, worst_case(model)) <= balance:
        return ModelChoice(mode, model, True, reason)
    if model != thrifty and billing.tokens_for(thrifty, worst_case(thrifty)) <= balance:
        return ModelChoice(mode, thrifty, True, f"{reason}; balance {balance} only covers {thrifty}")
    return ModelChoice(mode, thrifty, False, f"balance {balance} cannot cover this call")


def settle(mode: Mode, balance: int, auto_threshold: int) -> Mode:
    """CHEAP or SMART: AUTO is SMART while the balance is at the threshold or above, else CHEAP."""
    if mode is not Mode.AUTO:
        return mode
    return Mode.SMART if balance >= auto_threshold else Mode.CHEAP


def cheaper(models: ModelPair, worst_case: Callable[[str], Usage], billing: Billing) -> str:
    """The model with the lower worst-case cost for this call; the cheap model on a tie."""
    smart = billing.prices.billable_usd(models.smart, worst_case(models.smart))
    cheap = billing.prices.billable_usd(models.cheap, worst_case(models.cheap))
    return models.smart if smart < cheap else models.cheap
