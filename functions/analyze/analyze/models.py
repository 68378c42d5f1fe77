"""Dominus's assessment of a roofing lead (the lead itself is `shared.leads.Lead`).

Answers clip over-long text instead of failing, since strict structured outputs cannot bound a
string's length (`shared.schemas.Clip`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from shared.leads import DamageType, Lead
from shared.schemas import Clip

__all__ = ["Lead", "LeadAnalysis"]


Short = Annotated[str, Clip(240)]
Sentence = Annotated[str, Clip(400)]


class ScoreReason(BaseModel):
    factor: Annotated[str, Clip(80)]
    effect: Literal["raises", "lowers"]
    detail: Sentence


class LikelyDamage(BaseModel):
    type: DamageType
    likelihood: Literal["confirmed", "likely", "possible"]
    evidence: Sentence


class ClaimViability(BaseModel):
    rating: Literal["strong", "moderate", "weak", "not_viable"]
    rationale: Annotated[str, Clip(600)]
    deadline_risk: Short = Field(description="filing or inspection deadlines at risk, or 'none known'")


class NextStep(BaseModel):
    action: Short
    owner: Literal["contractor", "homeowner", "adjuster", "carrier"]
    due_within_days: int = Field(ge=0, le=90)


class LeadAnalysis(BaseModel):
    """Dominus's assessment of a lead."""

    lead_score: int = Field(ge=0, le=100, description="0 = not worth pursuing, 100 = close it today")
    score_reasons: list[ScoreReason] = Field(min_length=1, max_length=8)
    urgency: Literal["critical", "high", "medium", "low"]
    urgency_reason: Sentence
    likely_damage: list[LikelyDamage] = Field(max_length=8)
    claim_viability: ClaimViability
    next_steps: list[NextStep] = Field(min_length=1, max_length=8, description="in the order to do them")
    talking_points: list[Short] = Field(max_length=6, description="for the conversation with the homeowner")
    risks: list[Short] = Field(max_length=6)
    missing_information: list[Short] = Field(max_length=8)
    summary: Annotated[str, Clip(600)]
