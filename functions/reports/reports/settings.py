"""An org's report settings: what its estimators price and how (defaults fit most US residential work).

- `waste_percents`: the waste table's columns (0 is the measured area, always shown).
- `starter`: starter strip along the eaves only, or eaves and rakes (some shingle makers ask for both).
- Ice and water shield (IRC R905.1.2): from the eave up the slope to `inside_wall_in` inside the
  exterior wall line; the overhang (`overhang_in`, eave to wall line, measured level) comes first.
  Valleys take a sheet `valley_width_in` wide centred on the valley line.
- `line_codes`: the estimating system's code for each quantity (empty: the quantity has no code yet).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

QUANTITY_NAMES = (
    "shingles", "tear_off", "steep_7_9", "steep_10_12", "steep_over_12", "high_roof", "starter",
    "ridge_cap", "drip_edge", "valley_metal", "ice_and_water", "underlayment", "penetration_flashing",
)  # fmt: skip


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    waste_percents: tuple[int, ...] = Field((0, 5, 10, 12, 15, 17, 20), min_length=1, max_length=12)
    starter: Literal["eaves", "eaves_and_rakes"] = "eaves"
    overhang_in: float = Field(12.0, ge=0.0, le=60.0)
    inside_wall_in: float = Field(24.0, ge=0.0, le=120.0)
    valley_width_in: float = Field(36.0, ge=0.0, le=120.0)
    line_codes: dict[str, str] = Field(default_factory=dict, max_length=len(QUANTITY_NAMES))

    @field_validator("waste_percents")
    @classmethod
    def _percents(cls, values: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= v <= 50 for v in values):
            raise ValueError("each waste percent is between 0 and 50")
        return tuple(sorted({0, *values}))

    @field_validator("line_codes")
    @classmethod
    def _codes(cls, codes: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(codes) - set(QUANTITY_NAMES))
        if unknown:
            raise ValueError(
                f"no quantity is named {', '.join(unknown[:3])}; the names are {', '.join(QUANTITY_NAMES)}"
            )
        if any(len(code) > 32 for code in codes.values()):
            raise ValueError("a line code is at most 32 characters")
        return codes
