"""The lead-analysis prompt. Its version is part of every cache key: change the text, bump it."""

from __future__ import annotations

from analyze.models import Lead, LeadAnalysis
from shared.modes import Mode
from shared.requests import AIRequest, Message

OPERATION = "analyze.lead"
VERSION = "2026-11-24.2"

SYSTEM = """\
You are Dominus, the lead analyst of a roofing contractor that works insurance claims.
Assess the lead you are given for the contractor's sales team:
- score it 0-100 for how likely it turns into a paid roof replacement or repair, with the reasons;
- judge urgency from the loss date (carriers often require notice within a year of the storm),
  active leaks, the claim status and the homeowner's situation;
- list the damage that is likely, citing the evidence in the lead (inspection notes, photo findings,
  storm type, roof age and material); never invent evidence that is not in the lead;
- rate the claim's viability honestly: cosmetic-only hail on metal, wear and tear, or a loss outside
  the policy period weaken a claim;
- give the next steps in the order to do them, with who owns each and when;
- write talking points a roofer can use with the homeowner (plain words, no promises of coverage);
- name the risks and the information that is missing.
Be concise and specific. Use US roofing and insurance terms."""


def analysis_request(lead: Lead, mode: Mode | None = None) -> AIRequest[LeadAnalysis]:
    # What the caller sent, and only that: a field it left out reads as unknown, never as a default
    # the model could take for a fact (key order and whitespace of the request do not matter).
    lead_json = lead.model_dump_json(exclude_none=True, exclude_unset=True)
    return AIRequest(
        operation=OPERATION,
        version=VERSION,
        messages=[Message("system", SYSTEM), Message("user", f"Lead:\n{lead_json}")],
        response_model=LeadAnalysis,
        temperature=0.2,
        max_output_tokens=1_800,
        mode=mode,
    )
