"""The smart-actions function over HTTP, on an engine of in-memory fakes (no I/O)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

import smart_actions.prompt
from shared.requests import AIRequest
from smart_actions.function import EXAMPLE_CARRIER_EMAIL, EXAMPLE_EVENTS, EXAMPLE_LEAD, FUNCTION
from smart_actions.models import (
    CarrierEmail,
    CarrierEmailRequest,
    ClaimSummary,
    Recommendations,
    RecommendationsRequest,
    SummaryRequest,
)
from smart_actions.prompt import carrier_email_request, recommendations_request, summary_request
from tests.support.functions import (
    assert_rejected,
    cache_key,
    kit_and_client,
)

EMAIL, SUMMARY, RECOMMENDATIONS = (
    "/v1/smart-actions/carrier-email",
    "/v1/smart-actions/summary",
    "/v1/smart-actions/recommendations",
)
PATHS = [EMAIL, SUMMARY, RECOMMENDATIONS]
RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    EMAIL: CarrierEmail,
    SUMMARY: ClaimSummary,
    RECOMMENDATIONS: Recommendations,
}
BODIES: dict[str, dict[str, Any]] = {
    EMAIL: EXAMPLE_CARRIER_EMAIL,
    SUMMARY: {"lead": EXAMPLE_LEAD, "events": EXAMPLE_EVENTS, "audience": "carrier"},
    RECOMMENDATIONS: {"lead": EXAMPLE_LEAD, "stage": "denied", "as_of": "2026-11-24"},
}


def user_text(request: AIRequest[Any]) -> str:
    content = request.messages[1].content
    assert isinstance(content, str)
    return content


def test_the_three_operations_cache_apart() -> None:
    kit, client = kit_and_client(FUNCTION)
    summary: dict[str, Any] = {"lead": EXAMPLE_LEAD, "events": EXAMPLE_EVENTS}
    assert client.post(SUMMARY, json=summary).headers["X-Dominus-Cache"] == "miss"
    assert client.post(RECOMMENDATIONS, json={**summary, "stage": "denied"}).headers["X-Dominus-Cache"] == "miss"
    assert client.post(SUMMARY, json={**summary, "audience": "homeowner"}).headers["X-Dominus-Cache"] == "miss"
    assert [call.schema_name for call in kit.chat.calls] == ["ClaimSummary", "Recommendations", "ClaimSummary"]


@pytest.mark.parametrize(
    ("path", "change", "field"),
    [
        (EMAIL, {"purpose": "threaten_lawsuit"}, "purpose"),
        (EMAIL, {"tone": "angry"}, "tone"),
        (EMAIL, {"facts": []}, "facts"),
        (EMAIL, {"facts": ["x" * 501]}, "facts.0"),
        (EMAIL, {"attachments": [{"name": "photos"}] * 21}, "attachments"),
        (EMAIL, {"claim": {**EXAMPLE_CARRIER_EMAIL["claim"], "claim_number": ""}}, "claim.claim_number"),
        (EMAIL, {"claim": {**EXAMPLE_CARRIER_EMAIL["claim"], "loss_type": "meteor"}}, "claim.loss_type"),
        (EMAIL, {"claim": {**EXAMPLE_CARRIER_EMAIL["claim"], "adjuster": {"email": "nope"}}}, "claim.adjuster.email"),
        (EMAIL, {"sender": {"company": "Lone Star Roofing"}}, "sender.name"),
        (EMAIL, {"org_id": "globex"}, "org_id"),  # unknown fields are refused, never ignored
        (SUMMARY, {"audience": "press"}, "audience"),
        (SUMMARY, {"length": "epic"}, "length"),
        (SUMMARY, {"lead": {**EXAMPLE_LEAD, "notes": "x" * 4_001}}, "lead.notes"),
        (SUMMARY, {"lead": {**EXAMPLE_LEAD, "roof": {"material": "straw"}}}, "lead.roof.material"),
        (SUMMARY, {"events": [{"date": "soon", "event": "claim filed"}]}, "events.0.date"),
        (SUMMARY, {"events": [{"date": "2026-10-08", "event": "x" * 301}]}, "events.0.event"),
        (RECOMMENDATIONS, {"stage": "haggling"}, "stage"),
        (RECOMMENDATIONS, {"constraints": ["busy"] * 11}, "constraints"),
        (RECOMMENDATIONS, {"as_of": "2026-13-01"}, "as_of"),
    ],
)
def test_bad_input_is_422_naming_the_field(path: str, change: dict[str, Any], field: str) -> None:
    kit, client = kit_and_client(FUNCTION)
    reply = client.post(path, json={**BODIES[path], **change})
    assert_rejected(reply, field, kit)


def test_input_strings_are_stripped() -> None:
    body = CarrierEmailRequest.model_validate({**EXAMPLE_CARRIER_EMAIL, "facts": ["  NWS hail report  "]})
    assert body.facts == ["NWS hail report"]


BUILDS: dict[str, Callable[[], AIRequest[Any]]] = {
    "CARRIER_EMAIL_VERSION": lambda: carrier_email_request(CarrierEmailRequest.model_validate(BODIES[EMAIL])),
    "SUMMARY_VERSION": lambda: summary_request(SummaryRequest.model_validate(BODIES[SUMMARY])),
    "RECOMMENDATIONS_VERSION": lambda: recommendations_request(
        RecommendationsRequest.model_validate(BODIES[RECOMMENDATIONS])
    ),
}


@pytest.mark.parametrize("constant", BUILDS)
def test_each_prompt_version_is_in_its_cache_key(constant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    before = BUILDS[constant]()
    assert before.version == getattr(smart_actions.prompt, constant)
    key = cache_key(before)
    monkeypatch.setattr(smart_actions.prompt, constant, "test-bump")
    after = BUILDS[constant]()
    assert after.version == "test-bump"
    assert cache_key(after) != key


def test_a_version_bump_makes_the_same_request_a_new_upstream_call(monkeypatch: pytest.MonkeyPatch) -> None:
    kit, client = kit_and_client(FUNCTION)
    client.post(SUMMARY, json=BODIES[SUMMARY])
    monkeypatch.setattr(smart_actions.prompt, "SUMMARY_VERSION", "test-bump")
    assert client.post(SUMMARY, json=BODIES[SUMMARY]).headers["X-Dominus-Cache"] == "miss"
    assert len(kit.chat.calls) == 2


def test_the_operations_have_their_own_names_and_versions() -> None:
    requests = [build() for build in BUILDS.values()]
    assert len({r.operation for r in requests}) == 3
    assert all(r.operation.startswith("smart_actions.") for r in requests)


def test_the_model_reads_only_what_the_caller_sent() -> None:
    """A field left out is unknown: the model never sees its default as if it were a fact."""
    bare = summary_request(SummaryRequest.model_validate({"lead": {"property": {"address": "1 Main St"}}}))
    text = user_text(bare)
    assert "architectural_shingle" not in text and "not_filed" not in text
    assert "Audience: internal" in text and "Length: standard" in text  # the request's own choices are said
    given = summary_request(SummaryRequest.model_validate(BODIES[SUMMARY]))
    assert "architectural_shingle" in user_text(given) and "Audience: carrier" in user_text(given)

    email = user_text(carrier_email_request(CarrierEmailRequest.model_validate(BODIES[EMAIL])))
    assert "Purpose: dispute_denial" in email and "Tone: firm" in email
    assert "Signed contingency agreement" in email and "SF-48-7731-K02" in email

    dated = user_text(recommendations_request(RecommendationsRequest.model_validate(BODIES[RECOMMENDATIONS])))
    undated = {**BODIES[RECOMMENDATIONS], "as_of": None}
    assert "As of: 2026-11-24" in dated
    assert "As of: not given" in user_text(recommendations_request(RecommendationsRequest.model_validate(undated)))


def test_the_same_facts_in_another_order_read_the_same() -> None:
    reordered = {key: BODIES[SUMMARY][key] for key in reversed(list(BODIES[SUMMARY]))}
    reordered["lead"] = dict(reversed(list(EXAMPLE_LEAD.items())))
    a = summary_request(SummaryRequest.model_validate(BODIES[SUMMARY]))
    b = summary_request(SummaryRequest.model_validate(reordered))
    assert user_text(a) == user_text(b)


def action(priority: int, *depends_on: int) -> dict[str, Any]:
    return {
        "priority": priority,
        "action": f"step {priority}",
        "rationale": "r",
        "owner": "contractor",
        "due_date": None,
        "due_in_days": 3,
        "depends_on": list(depends_on),
    }


def test_recommendations_are_renumbered_one_to_n_with_dependencies_following() -> None:
    answer = Recommendations.model_validate(
        {
            "actions": [action(7, 2), action(2), action(7, 9, 7), action(4, 2, 4)],
            "overall_risk": "high",
            "risk_summary": "denial",
        }
    )
    ranked = [(a.action, a.priority, a.depends_on) for a in answer.actions]
    # ties keep the model's order (a tied priority names the first of the tie); unknown priorities and
    # self-dependencies are dropped
    assert ranked == [("step 2", 1, []), ("step 4", 2, [1]), ("step 7", 3, [1]), ("step 7", 4, [3])]


def test_dates_in_answers_are_iso_dates() -> None:
    summary = ClaimSummary.model_validate(
        {
            "headline": "h",
            "summary": "s",
            "key_facts": ["k"],
            "timeline": [{"date": "2026-10-02", "event": "hail storm"}],
            "open_items": [],
        }
    )
    assert summary.timeline[0].date == datetime.date(2026, 10, 2)
    assert summary.model_dump(mode="json")["timeline"][0]["date"] == "2026-10-02"


def test_answers_clip_over_long_text_instead_of_failing() -> None:
    email = CarrierEmail.model_validate(
        {
            "subject": "s",
            "body": "x" * 5_000,
            "claim_references": {"claim_number": "SF-1", "policy_number": None},
            "attachments_to_include": [],
            "tone": "firm",
            "follow_up_in_days": 5,
        }
    )
    assert len(email.body) == 4_000 and email.body.endswith("…")
