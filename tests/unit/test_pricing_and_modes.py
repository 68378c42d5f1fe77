"""Prices, cost, balance tokens and model selection."""

import pytest

from shared.catalog import ModelPrice, PriceTable, Usage, image_tokens
from shared.errors import ServiceNotConfigured
from shared.modes import Billing, Mode, ModelPair, select_model

MODELS = ModelPair(cheap="gpt-4o-mini", smart="gpt-4o")
BILLING = Billing(PriceTable(), usd_per_token=0.001)
SMALL_CALL = Usage(input_tokens=2_000, output_tokens=1_000)


def test_cost_counts_cached_input_at_the_cached_rate() -> None:
    usage = Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000)
    # 600k uncached at 2.50 + 400k cached at 1.25 + 100k output at 10.00
    assert PriceTable().cost_usd("gpt-4o", usage) == pytest.approx(1.5 + 0.5 + 1.0)


def test_dated_snapshots_bill_as_their_family_and_unknown_models_are_unpriced() -> None:
    prices = PriceTable()
    assert prices.price("gpt-4o-mini-2024-07-18") == prices.price("gpt-4o-mini")
    assert prices.cost_usd("claude-x", SMALL_CALL) is None
    assert prices.billable_usd("claude-x", SMALL_CALL) == PriceTable({"x": prices.dearest()}).cost_usd("x", SMALL_CALL)


def test_price_overrides_replace_and_add_models() -> None:
    prices = PriceTable.with_overrides(
        '{"gpt-4o": {"input": 1, "cached_input": 0.5, "output": 2}, "m": {"input": 3, "cached_input": 3, "output": 3}}'
    )
    assert prices.price("gpt-4o") == ModelPrice(input=1, cached_input=0.5, output=2)
    assert prices.price("m") is not None
    with pytest.raises(ServiceNotConfigured, match="DOMINUS_PRICES_JSON"):
        PriceTable.with_overrides('{"gpt-4o": {"input": -1}}')


def test_balance_tokens_round_up_and_a_billed_call_costs_at_least_one() -> None:
    assert BILLING.tokens_for("gpt-4o", Usage(input_tokens=2_000, output_tokens=1_000)) == 15  # $0.015
    assert BILLING.tokens_for("gpt-4o-mini", Usage(input_tokens=10, output_tokens=1)) == 1


@pytest.mark.parametrize(
    ("org_mode", "requested", "expected"),
    [
        (Mode.AUTO, None, Mode.AUTO),
        (Mode.AUTO, Mode.SMART, Mode.SMART),
        (Mode.SMART, Mode.CHEAP, Mode.CHEAP),
        (Mode.CHEAP, Mode.SMART, Mode.CHEAP),  # an org's cheap default is a ceiling
        (Mode.CHEAP, Mode.AUTO, Mode.CHEAP),
    ],
)
def test_effective_mode(org_mode: Mode, requested: Mode | None, expected: Mode) -> None:
    assert org_mode.effective(requested) is expected


def test_mode_parse_names_the_choices() -> None:
    assert Mode.parse(" SMART ") is Mode.SMART
    with pytest.raises(ValueError, match="cheap, smart, auto"):
        Mode.parse("turbo")


def choose(balance: int, org_mode: Mode = Mode.AUTO, requested: Mode | None = None, worst: Usage = SMALL_CALL):
    return select_model(
        org_mode=org_mode,
        requested=requested,
        balance=balance,
        worst_case=lambda model: worst,
        models=MODELS,
        billing=BILLING,
        auto_threshold=200,
    )


def test_auto_uses_the_cheap_model_below_the_threshold_and_the_smart_one_above() -> None:
    assert choose(150).model == "gpt-4o-mini"
    assert choose(10_000).model == "gpt-4o"
    assert choose(200).model == "gpt-4o"


def test_a_model_the_balance_cannot_cover_is_never_chosen() -> None:
    choice = choose(10, requested=Mode.SMART)  # smart would cost 15 tokens, cheap 1
    assert (choice.model, choice.affordable, choice.mode) == ("gpt-4o-mini", True, Mode.SMART)
    broke = choose(0)
    assert broke.affordable is False


@pytest.mark.parametrize(
    ("model", "width", "height", "detail", "tokens"),
    [
        ("gpt-4o", 1024, 1024, "high", 765),  # OpenAI's examples: 4 tiles
        ("gpt-4o", 2048, 4096, "high", 1105),  # fitted to 1024 x 2048, then 768 x 1536: 6 tiles
        ("gpt-4o", 4096, 8192, "low", 85),
        ("gpt-4o-2024-08-06", 1024, 1024, "auto", 765),  # a snapshot bills as its family
        ("gpt-4o-mini", 1024, 1024, "high", 2833 + 4 * 5667),
        ("gpt-4.1-mini", 1024, 1024, "high", 1659),  # 1024 patches x 1.62
        ("gpt-4.1-mini", 1800, 2400, "high", 2353),  # scaled to 1056 x 1408: 1452 patches x 1.62
    ],
)
def test_image_tokens_follow_each_models_formula(model: str, width: int, height: int, detail: str, tokens: int) -> None:
    assert image_tokens(model, width, height, detail) == tokens  # type: ignore[arg-type]


def test_an_image_of_unknown_size_or_model_is_held_to_the_worst_case() -> None:
    assert image_tokens("gpt-4o", None, None) == 85 + 8 * 170
    assert image_tokens("some-future-model", 512, 512) >= image_tokens("gpt-4o-mini", 512, 512)


def test_cheap_mode_sends_an_image_call_to_the_model_that_costs_less_for_it() -> None:
    """gpt-4o-mini bills an image at ~33x gpt-4o's tokens for 1/17 the price: with two images and a
    short answer, gpt-4o is cheaper (1830 input and 200 output tokens: $0.0066 against $0.0079)."""

    def worst(model: str) -> Usage:
        return Usage(input_tokens=300 + 2 * image_tokens(model, 1024, 768), output_tokens=200)

    choice = select_model(
        org_mode=Mode.CHEAP,
        requested=None,
        balance=10_000,
        worst_case=worst,
        models=MODELS,
        billing=BILLING,
        auto_threshold=200,
    )
    assert choice.model == "gpt-4o"
    assert "gpt-4o costs less" in choice.reason
    assert choose(10_000, org_mode=Mode.CHEAP).model == "gpt-4o-mini"  # text: the cheap model
