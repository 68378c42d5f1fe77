"""A roofing lead as the CRM holds it: the input every text capability shares.

In the layer so that each function (deployed with only its own package and the layer) reads the same
lead. Inputs reject what is out of bounds: a 422 names the field.
"""

from __future__ import annotations

import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class RoofMaterial(StrEnum):
    ASPHALT_3TAB = "asphalt_3tab"
    ARCHITECTURAL_SHINGLE = "architectural_shingle"
    METAL = "metal"
    TILE = "tile"
    SLATE = "slate"
    WOOD_SHAKE = "wood_shake"
    FLAT_MEMBRANE = "flat_membrane"
    OTHER = "other"


class LossType(StrEnum):
    HAIL = "hail"
    WIND = "wind"
    HAIL_AND_WIND = "hail_and_wind"
    TORNADO = "tornado"
    HURRICANE = "hurricane"
    TREE_IMPACT = "tree_impact"
    FIRE = "fire"
    WATER = "water"
    OTHER = "other"


class ClaimStatus(StrEnum):
    NOT_FILED = "not_filed"
    FILED = "filed"
    INSPECTION_SCHEDULED = "inspection_scheduled"
    ADJUSTER_INSPECTED = "adjuster_inspected"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    DENIED = "denied"
    SUPPLEMENT_REQUESTED = "supplement_requested"
    CLOSED = "closed"


class DamageType(StrEnum):
    """The vision capability's detection types."""

    HAIL_HIT = "hail_hit"
    WIND_CREASE = "wind_crease"
    MISSING_SHINGLE = "missing_shingle"
    LIFTED_TAB = "lifted_tab"
    GRANULE_LOSS = "granule_loss"
    BLISTERING = "blistering"
    MECHANICAL = "mechanical"
    FLASHING = "flashing"
    OTHER = "other"


def _calendar_date(value: object) -> object:
    """A date is written as one (ISO 8601, `2026-10-02`): pydantic would also take a number as seconds
    since 1970, so `0` would pass as 1970-01-01."""
    if isinstance(value, int | float):
        raise ValueError("a date is written as YYYY-MM-DD, not a number")
    return value


# A date in a request body.
InputDate = Annotated[datetime.date, BeforeValidator(_calendar_date)]


class InputModel(BaseModel):
    """A request body part: unknown fields are an error, surrounding whitespace is dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Homeowner(InputModel):
    name: str | None = Field(None, max_length=120)
    preferred_contact: Literal["phone", "email", "text"] | None = None


class Property(InputModel):
    address: str = Field(min_length=3, max_length=200)
    city: str | None = Field(None, max_length=100)
    state: str | None = Field(None, max_length=40)
    postal_code: str | None = Field(None, max_length=12)


class Roof(InputModel):
    material: RoofMaterial = RoofMaterial.ARCHITECTURAL_SHINGLE
    age_years: int | None = Field(None, ge=0, le=150)
    stories: int | None = Field(None, ge=1, le=6)
    squares: float | None = Field(None, gt=0, le=1_000, description="roof area in squares (100 sq ft)")


class Loss(InputModel):
    date: InputDate | None = Field(None, description="storm or loss date")
    type: LossType | None = None
    description: str | None = Field(None, max_length=1_000)


class Insurance(InputModel):
    carrier: str | None = Field(None, max_length=120)
    claim_number: str | None = Field(None, max_length=60)
    claim_status: ClaimStatus = ClaimStatus.NOT_FILED
    deductible_usd: float | None = Field(None, ge=0, le=1_000_000)


class PhotoFinding(InputModel):
    """A summary of vision detections, as the CRM stores them after a photo analysis."""

    type: DamageType
    count: int = Field(1, ge=1, le=10_000)
    max_severity: int = Field(3, ge=1, le=5)
    slope: str | None = Field(None, max_length=20, description="slope letter or compass facing, e.g. 'A' or 'SW'")
    test_square: bool = False


class Lead(InputModel):
    """A roofing lead. Only what helps the assessment: the tenant comes from the caller's credentials."""

    homeowner: Homeowner = Field(default_factory=Homeowner)
    property: Property
    roof: Roof = Field(default_factory=Roof)
    loss: Loss = Field(default_factory=Loss)
    insurance: Insurance = Field(default_factory=Insurance)
    inspection_notes: str | None = Field(None, max_length=4_000)
    photo_findings: list[PhotoFinding] = Field(default_factory=list, max_length=50)
    notes: str | None = Field(None, max_length=4_000)
