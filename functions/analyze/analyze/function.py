"""The lead-analysis capability: its route, examples and limits."""

from __future__ import annotations

from analyze.models import Lead, LeadAnalysis
from analyze.prompt import analysis_request
from shared.api import AIRoute, Function

EXAMPLE_LEAD = {
    "homeowner": {"name": "Dana Whitfield", "preferred_contact": "text"},
    "property": {"address": "4187 Cedar Ridge Dr", "city": "Plano", "state": "TX", "postal_code": "75024"},
    "roof": {"material": "architectural_shingle", "age_years": 11, "stories": 2, "squares": 32},
    "loss": {"date": "2026-10-02", "type": "hail", "description": "1.25 in hail reported by NWS, 20 min"},
    "insurance": {"carrier": "State Farm", "claim_status": "not_filed", "deductible_usd": 2500},
    "inspection_notes": "Bruising on south and west slopes, 9-12 hits per test square; dented gutters and vents.",
    "photo_findings": [
        {"type": "hail_hit", "count": 11, "max_severity": 3, "slope": "S", "test_square": True},
        {"type": "granule_loss", "count": 4, "max_severity": 2, "slope": "W"},
    ],
    "notes": "Homeowner noticed a ceiling stain in the upstairs bedroom last week.",
}

FUNCTION = Function(
    "analyze",
    "Lead analysis",
    [
        AIRoute(
            path="/v1/analyze",
            body=Lead,
            response_model=LeadAnalysis,
            build=analysis_request,
            summary="Analyse a roofing lead",
            description="Dominus scores the lead, judges urgency and claim viability, and lists next steps.",
            examples={"hail lead": {"summary": "A hail lead with photo findings", "value": EXAMPLE_LEAD}},
        )
    ],
)
SPEC = FUNCTION.spec()
