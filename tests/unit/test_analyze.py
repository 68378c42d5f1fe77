"""The lead-analysis function over HTTP, on an engine of in-memory fakes (no I/O)."""

from __future__ import annotations

from typing import Any, cast

import pytest

import analyze.prompt
from analyze.function import EXAMPLE_LEAD, FUNCTION
from analyze.models import Lead, LeadAnalysis
from analyze.prompt import analysis_request
from dominus_dev.simulated_model import sample_from_schema
from shared.schemas import strict_schema
from tests.support.functions import (
    assert_rejected,
    cache_key,
    kit_and_client,
)

ANALYZE = "/v1/analyze"


def test_another_lead_is_another_cache_entry() -> None:
    kit, client = kit_and_client(FUNCTION)
    client.post(ANALYZE, json=EXAMPLE_LEAD)
    other = client.post(ANALYZE, json={**EXAMPLE_LEAD, "notes": "No ceiling stain after all."})
    assert other.headers["X-Dominus-Cache"] == "miss"
    assert len(kit.chat.calls) == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"property": None}, "property"),
        ({"property": {"address": "x"}}, "property.address"),
        ({"roof": {"material": "straw"}}, "roof.material"),
        ({"roof": {"stories": 7}}, "roof.stories"),
        ({"homeowner": {"preferred_contact": "fax"}}, "homeowner.preferred_contact"),
        ({"loss": {"date": "the big storm"}}, "loss.date"),
        ({"loss": {"date": 0}}, "loss.date"),  # not 1970-01-01: a number is no date
        ({"loss": {"date": 1_790_000_000.5}}, "loss.date"),
        ({"insurance": {"claim_status": "lost"}}, "insurance.claim_status"),
        ({"notes": "x" * 4_001}, "notes"),
        ({"photo_findings": [{"type": "hail_hit"}] * 51}, "photo_findings"),
        ({"photo_findings": [{"type": "hail_hit", "max_severity": 6}]}, "photo_findings.0.max_severity"),
        ({"org_id": "globex"}, "org_id"),  # unknown fields are refused, never ignored
    ],
)
def test_bad_input_is_422_naming_the_field(change: dict[str, Any], field: str) -> None:
    kit, client = kit_and_client(FUNCTION)
    body = {key: value for key, value in {**EXAMPLE_LEAD, **change}.items() if value is not None}
    reply = client.post(ANALYZE, json=body)
    assert_rejected(reply, field, kit)


def test_input_strings_are_stripped() -> None:
    lead = Lead.model_validate({**EXAMPLE_LEAD, "notes": "  leak upstairs \n"})
    assert lead.notes == "leak upstairs"


def test_the_prompt_version_is_in_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    lead = Lead.model_validate(EXAMPLE_LEAD)
    before = analysis_request(lead)
    assert (before.operation, before.version) == (analyze.prompt.OPERATION, analyze.prompt.VERSION)
    key = cache_key(before)
    monkeypatch.setattr(analyze.prompt, "VERSION", "test-bump")
    after = analysis_request(lead)
    assert after.version == "test-bump"
    assert cache_key(after) != key


def test_a_version_bump_makes_the_same_lead_a_new_upstream_call(monkeypatch: pytest.MonkeyPatch) -> None:
    kit, client = kit_and_client(FUNCTION)
    client.post(ANALYZE, json=EXAMPLE_LEAD)
    monkeypatch.setattr(analyze.prompt, "VERSION", "test-bump")
    assert client.post(ANALYZE, json=EXAMPLE_LEAD).headers["X-Dominus-Cache"] == "miss"
    assert len(kit.chat.calls) == 2


def test_the_same_lead_in_another_order_reads_the_same() -> None:
    reordered = dict(reversed(list(EXAMPLE_LEAD.items())))
    reordered["property"] = dict(reversed(list(cast(dict[str, Any], EXAMPLE_LEAD["property"]).items())))
    a = analysis_request(Lead.model_validate(EXAMPLE_LEAD)).messages
    b = analysis_request(Lead.model_validate(reordered)).messages
    assert a == b


def test_answers_clip_over_long_text_instead_of_failing() -> None:
    document = sample_from_schema(strict_schema(LeadAnalysis), seed="1", quote="x", name="LeadAnalysis")
    document["summary"] = "x" * 2_000
    analysis = LeadAnalysis.model_validate(document)
    assert len(analysis.summary) == 600 and analysis.summary.endswith("…")
