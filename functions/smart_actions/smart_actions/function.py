"""The smart-actions capability: its routes, examples and limits."""

from __future__ import annotations

from typing import Any

from shared.api import AIRoute, Function
from smart_actions.models import (
    CarrierEmail,
    CarrierEmailRequest,
    ClaimSummary,
    Recommendations,
    RecommendationsRequest,
    SummaryRequest,
)
from smart_actions.prompt import carrier_email_request, recommendations_request, summary_request

EXAMPLE_LEAD: dict[str, Any] = {
    "homeowner": {"name": "Dana Whitfield", "preferred_contact": "text"},
    "property": {"address": "4187 Cedar Ridge Dr", "city": "Plano", "state": "TX", "postal_code": "75024"},
    "roof": {"material": "architectural_shingle", "age_years": 11, "stories": 2, "squares": 32},
    "loss": {"date": "2026-10-02", "type": "hail", "description": "1.25 in hail reported by NWS, 20 min"},
    "insurance": {"carrier": "State Farm", "claim_number": "SF-48-7731-K02", "claim_status": "denied"},
    "inspection_notes": "Bruising on south and west slopes, 9-12 hits per test square; dented gutters and vents.",
    "photo_findings": [
        {"type": "hail_hit", "count": 11, "max_severity": 3, "slope": "S", "test_square": True},
        {"type": "granule_loss", "count": 4, "max_severity": 2, "slope": "W"},
    ],
    "notes": "Ceiling stain in the upstairs bedroom; homeowner wants to appeal the denial.",
}

EXAMPLE_EVENTS: list[dict[str, Any]] = [
    {"date": "2026-10-06", "event": "Contractor inspection; test squares photographed on S and W slopes"},
    {"date": "2026-10-08", "event": "Claim filed with State Farm"},
    {"date": "2026-10-21", "event": "Adjuster inspection (J. Moreno); contractor not present"},
    {"date": "2026-11-03", "event": "Denial letter: damage attributed to wear and tear"},
]

EXAMPLE_CARRIER_EMAIL: dict[str, Any] = {
    "claim": {
        "carrier": "State Farm",
        "claim_number": "SF-48-7731-K02",
        "policy_number": "83-BC-4471-9",
        "policy_holder": "Dana Whitfield",
        "property": {"address": "4187 Cedar Ridge Dr", "city": "Plano", "state": "TX", "postal_code": "75024"},
        "loss_date": "2026-10-02",
        "loss_type": "hail",
        "claim_status": "denied",
        "adjuster": {"name": "Jordan Moreno", "email": "jordan.moreno@example.com"},
    },
    "purpose": "dispute_denial",
    "facts": [
        "Denial letter of 2026-11-03 attributes the damage to wear and tear",
        "Test squares on the S and W slopes show 9-12 hail hits each with bruised mat",
        "NWS storm report: 1.25 in hail over the property on 2026-10-02 for about 20 minutes",
        "Soft-metal dents on gutters, downspouts and two roof vents",
        "The contractor was not present at the adjuster inspection on 2026-10-21",
    ],
    "attachments": [
        {"name": "Inspection photos 2026-10-06 (42)", "kind": "photos"},
        {"name": "NWS hail report 2026-10-02", "kind": "weather_report"},
        {"name": "Xactimate estimate v1", "kind": "estimate"},
        {"name": "Signed contingency agreement", "kind": "authorization"},
    ],
    "tone": "firm",
    "sender": {
        "company": "Lone Star Roofing",
        "name": "Marcus Reyes",
        "title": "Claims Manager",
        "phone": "(972) 555-0148",
        "email": "marcus@lonestarroofing.example",
    },
}

FUNCTION = Function(
    "smart_actions",
    "Smart actions",
    [
        AIRoute(
            path="/v1/smart-actions/carrier-email",
            body=CarrierEmailRequest,
            response_model=CarrierEmail,
            build=carrier_email_request,
            summary="Draft an email to the insurance carrier",
            description=(
                "Dominus drafts an email to the carrier about one claim, for its purpose (inspection, supplement,"
                " denial dispute, status, documentation, reinspection), from the facts given only; it picks the"
                " attachments to include and when to follow up."
            ),
            examples={"dispute a denial": {"summary": "A firm reply to a denial", "value": EXAMPLE_CARRIER_EMAIL}},
        ),
        AIRoute(
            path="/v1/smart-actions/summary",
            body=SummaryRequest,
            response_model=ClaimSummary,
            build=summary_request,
            summary="Summarise a lead or claim",
            description=(
                "Dominus summarises the lead or claim for the team, the carrier or the homeowner: a headline,"
                " the summary, key facts, a dated timeline and the open items."
            ),
            examples={
                "for the team": {
                    "summary": "An internal summary of a denied claim",
                    "value": {"lead": EXAMPLE_LEAD, "events": EXAMPLE_EVENTS, "audience": "internal"},
                },
                "for the homeowner": {
                    "summary": "A brief summary for the homeowner",
                    "value": {
                        "lead": EXAMPLE_LEAD,
                        "events": EXAMPLE_EVENTS,
                        "audience": "homeowner",
                        "length": "brief",
                    },
                },
            },
        ),
        AIRoute(
            path="/v1/smart-actions/recommendations",
            body=RecommendationsRequest,
            response_model=Recommendations,
            build=recommendations_request,
            summary="Recommend the next actions",
            description=(
                "Dominus recommends up to 10 prioritised actions with their rationale, owner, due date and"
                " dependencies, and rates the job's overall risk. Give `as_of` for due dates, else days from now."
            ),
            examples={
                "denied claim": {
                    "summary": "What to do after a denial",
                    "value": {
                        "lead": EXAMPLE_LEAD,
                        "stage": "denied",
                        "events": EXAMPLE_EVENTS,
                        "constraints": ["Homeowner travelling until 2026-12-03", "Crew booked through 2026-12-10"],
                        "as_of": "2026-11-24",
                    },
                }
            },
        ),
    ],
)
SPEC = FUNCTION.spec()
