"""The packet's cover letter, drafted through the engine from the claim's report (cached, billed,
streamed like every AI call), for a person to edit before the packet is rendered.

The model sees the report's findings as facts (totals, per-slope counts, the profile and its rule's
outcome, QC), never photos or numbers it could invent, and is told to report findings and counts and
never to interpret the policy. The prompt's version is part of the cache key: change its text, bump it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from packets.requests import JOB_ID
from shared.cache_keys import canonical_json
from shared.modes import Mode
from shared.requests import AIRequest, Message

OPERATION = "packets.cover_letter"
VERSION = "2026-12-03.1"


class Party(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: str | None = Field(None, max_length=120)
    name: str | None = Field(None, max_length=120)
    title: str | None = Field(None, max_length=120)
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)


class CoverLetterRequest(BaseModel):
    """`POST /v1/packets/cover-letter` (and `/stream`)."""

    model_config = ConfigDict(extra="forbid")

    report_id: str = Field(pattern=JOB_ID, description="a report of the caller's org")
    carrier: str | None = Field(None, max_length=120)
    claim_number: str | None = Field(
        None, max_length=64, description="the carrier's; the report's claim id when absent"
    )
    policy_holder: str | None = Field(None, max_length=120)
    property_address: str | None = Field(None, max_length=300)
    loss_date: str | None = Field(None, max_length=32)
    recipient: Party | None = None
    sender: Party | None = None
    instructions: str | None = Field(None, max_length=2000, description="what the sender wants said")


class CoverLetter(BaseModel):
    subject: str = Field(description="starts with the claim number")
    paragraphs: list[str] = Field(description="the letter, greeting to signature, one paragraph each")


SYSTEM = """\
You are Dominus, the claims correspondent of a roofing contractor. Write the cover letter of a claim
packet sent to the insurance carrier's desk reviewer. The packet holds a slope-by-slope roof report
(measurements from height data, damage counted per slope from photos under the carrier profile
named), the photos, the quantity sheet and the method.
- Subject: the claim number first, then the policy holder and the property when given.
- Open with the claim number, the policy holder and the date of loss when given.
- Say what the packet contains and how it is organised (sections in order), in two or three sentences.
- Report the findings as counts: the roof's area and squares, and for each slope its functional hail
  hits, the largest count in a 10 x 10 ft test square, its coverage, and what the profile's rule
  gives, naming the profile. Say "insufficient evidence" where the report does.
- Never interpret the policy, assert or promise coverage, or say what the carrier must pay: the
  carrier applies its own guidelines. Never invent a number, date, name or finding: use only the
  facts given, and a placeholder in square brackets for anything missing the letter needs.
- One clear request: that the reviewer consider the evidence and reply, or reinspect.
- Close with the sender's signature as given. Plain text, short paragraphs, US English."""


def facts(report: dict[str, Any], body: CoverLetterRequest) -> dict[str, Any]:
    """What the letter may say: the report's findings, and what the sender gave."""
    slopes = {
        point: {
            "facets": d["facets"],
            "area_sqft": d["area_sqft"],
            "coverage": d.get("coverage"),
            "functional_hail_hits": d["hail_hits"],
            "hits_per_100sqft": (d.get("hits_per_100sqft") or {}).get("value"),
            "test_square_max": d.get("test_square_max"),
            "wind": d.get("wind") or {},
            "result": d.get("decision") or "counts only",
            "rule": d.get("rule"),
        }
        for point, d in report.get("directional", {}).items()
    }
    given = body.model_dump(mode="json", exclude_none=True, exclude={"report_id", "instructions"})
    return {
        "claim_number": body.claim_number or report.get("claim_id"),
        **given,
        "roof": report.get("totals"),
        "structures": len(report.get("structures", [])),
        "profile": report.get("profile", {}).get("rules"),
        "roof_level": report.get("roof_decision"),
        "slopes": slopes,
        "photos": len(report.get("photos", [])),
        "quality_checks": "all passed" if report.get("qc", {}).get("passed") else "some failed",
    }


def cover_letter_request(
    report: dict[str, Any], body: CoverLetterRequest, mode: Mode | None = None
) -> AIRequest[CoverLetter]:
    lines = [f"Facts:\n{canonical_json(facts(report, body))}"]
    if body.instructions:
        lines.append(f"Sender's instructions:\n{body.instructions}")
    return AIRequest(
        operation=OPERATION,
        version=VERSION,
        messages=[Message("system", SYSTEM), Message("user", "\n\n".join(lines))],
        response_model=CoverLetter,
        temperature=0.3,
        max_output_tokens=1_800,
        mode=mode,
    )
