"""Carrier profiles: the rules a carrier judges a slope by, per org, named and versioned.

Carriers differ on what counts (functional hail hits only, or wind damage too), how sure a finding
must be, how many hits in a 10 x 10 ft test square replace a slope (commonly 8, sometimes 10 or
more), how much of a slope must be seen before anything is decided, and roof-level rules (replace
the whole roof when enough slopes qualify). The default profile decides nothing: it reports the
counts, and the report says so.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.http import parse_json_body

HAIL = "hail_hit"
WIND_TYPES = ("wind_crease", "lifted_tab", "missing_shingle")


class ProfileRules(BaseModel):
    """A carrier's rules, as an org saves them under a name (`PUT /v1/orgs/me/carrier-profiles/{name}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    counted_types: tuple[str, ...] = Field((HAIL,), min_length=1, max_length=16)
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)
    hits_per_test_square: float | None = Field(
        None, gt=0.0, description="hits in a 10 x 10 ft square that replace a slope; None decides nothing"
    )
    wind_per_slope: dict[str, int] = Field(
        default_factory=dict,
        description="wind findings of a type on one slope that replace it, e.g. {'missing_shingle': 3}",
    )
    min_coverage_sqft: float = Field(
        100.0, ge=0.0, description="roof area the photos must cover before a slope is decided"
    )
    roof_replace_slopes: int | None = Field(
        None, ge=1, description="slopes to replace before the whole roof is replaced"
    )


class CarrierProfile(ProfileRules):
    """A carrier's rules with their name and version: what a report is decided under, and prints."""

    name: str = Field(min_length=1, max_length=64)
    version: str = Field("1", min_length=1, max_length=16)

    @property
    def decides(self) -> bool:
        return self.hits_per_test_square is not None or bool(self.wind_per_slope)

    def summary(self) -> str:
        if not self.decides:
            return f"{self.name} v{self.version}: reports counts and decides nothing"
        rules = []
        if self.hits_per_test_square is not None:
            kinds = ", ".join(t.replace("_", " ") for t in self.counted_types)
            rules.append(
                f"{self.hits_per_test_square:g}+ hits per 10 x 10 ft test square ({kinds}, "
                f"confidence {self.min_confidence:g}+) replace a slope"
            )
        rules += [f"{n}+ {kind.replace('_', ' ')}s replace a slope" for kind, n in sorted(self.wind_per_slope.items())]
        if self.roof_replace_slopes is not None:
            rules.append(f"{self.roof_replace_slopes}+ slopes to replace replace the roof")
        rules.append(f"a slope needs {self.min_coverage_sqft:g} sq ft seen to be decided")
        return f"{self.name} v{self.version}: " + "; ".join(rules)


DEFAULT_PROFILE = CarrierProfile(name="default", version="1")


def read_profile(raw: bytes) -> CarrierProfile:
    return parse_json_body(CarrierProfile, raw)
