"""The measurement half of the report, derived from the geometry's facets and roof lines by formula
only, so every number can be traced back to a facet or a line:

- pitch factor = sqrt(144 + rise^2) / 12 = 1 / cos(angle); the steep band from the whole rise
  (estimating systems charge 7-9/12, 10-12/12 and over 12/12 apart);
- line totals with counts; drip edge = eaves + rakes; ridge cap = ridges + hips; starter = eaves
  (or eaves + rakes, per org);
- ice and water shield: along each eave, (overhang + inside-wall distance) measured level, up the
  slope by that facet's pitch factor; along each valley, the valley sheet's width;
- the waste table: area x (1 + p), in squares rounded up to the next third of a square (shingle
  bundles come three to a square); waste covers field shingles only, never starter or ridge cap.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from reports.inputs import EDGE_KINDS, Edge, EdgeKind, Geometry, Plane
from reports.settings import ReportSettings

SQFT_PER_SQUARE = 100.0
SQFT_PER_M2 = 10.763910416709722
BANDS = ("0-6/12", "7-9/12", "10-12/12", "13+/12")  # steep bands by whole rise


def whole_rise(pitch_deg: float) -> int:
    return round(12.0 * math.tan(math.radians(pitch_deg)))


def pitch_factor(pitch_deg: float) -> float:
    return 1.0 / math.cos(math.radians(pitch_deg))


def steep_band(rise: int) -> str:
    return BANDS[0] if rise < 7 else BANDS[1] if rise <= 9 else BANDS[2] if rise <= 12 else BANDS[3]


def squares(area_sqft: float) -> float:
    return area_sqft / SQFT_PER_SQUARE


def up_to_third(square_count: float) -> float:
    """Squares rounded up to the next third (1.01 -> 1.33); exact thirds stay (a tiny float slack)."""
    return math.ceil(square_count * 3.0 - 1e-9) / 3.0


@dataclass(frozen=True)
class FacetMeasure:
    plane: Plane
    edges_ft: dict[EdgeKind, float]

    @property
    def rise(self) -> int:
        return whole_rise(self.plane.pitch_deg)

    @property
    def band(self) -> str:
        return steep_band(self.rise)

    @property
    def pitch(self) -> str:
        return f"{self.rise}/12"


@dataclass(frozen=True)
class LineTotal:
    ft: float
    count: int


@dataclass(frozen=True)
class Measurements:
    facets: list[FacetMeasure]
    lines: dict[EdgeKind, LineTotal]
    drip_edge_ft: float
    starter_ft: float
    ridge_cap_ft: float
    ice_and_water_sqft: float
    total_sqft: float
    pitches: list[dict[str, object]] = field(default_factory=list)

    @property
    def predominant_pitch(self) -> str | None:
        """The whole x/12 that covers the most sloped area."""
        by_rise = area_by_rise(self.facets)
        return f"{max(by_rise, key=lambda rise: by_rise[rise])}/12" if by_rise else None


def measure(geometry: Geometry, settings: ReportSettings) -> Measurements:
    per_facet: dict[str, dict[EdgeKind, float]] = defaultdict(lambda: dict.fromkeys(EDGE_KINDS, 0.0))
    for edge in geometry.edges:
        for letter in edge.facets:
            per_facet[letter][edge.kind] += edge.length_ft
    facets = [FacetMeasure(plane, dict(per_facet[plane.id])) for plane in geometry.planes]
    lines = {kind: line_total(geometry.edges, kind) for kind in EDGE_KINDS}
    eave, rake = lines["eave"].ft, lines["rake"].ft
    total = sum(f.plane.area_sqft for f in facets)
    return Measurements(
        facets=facets,
        lines=lines,
        drip_edge_ft=eave + rake,
        starter_ft=eave + (rake if settings.starter == "eaves_and_rakes" else 0.0),
        ridge_cap_ft=lines["ridge"].ft + lines["hip"].ft,
        ice_and_water_sqft=ice_and_water(geometry.edges, {f.plane.id: f.plane for f in facets}, settings),
        total_sqft=total,
        pitches=pitch_table(facets, total),
    )


def line_total(edges: list[Edge], kind: EdgeKind) -> LineTotal:
    chosen = [e.length_ft for e in edges if e.kind == kind]
    return LineTotal(sum(chosen), len(chosen))


def ice_and_water(edges: list[Edge], planes: dict[str, Plane], settings: ReportSettings) -> float:
    eave_reach_ft = (settings.overhang_in + settings.inside_wall_in) / 12.0
    area = 0.0
    for edge in edges:
        if edge.kind == "eave" and edge.facets and edge.facets[0] in planes:
            area += edge.length_ft * eave_reach_ft * pitch_factor(planes[edge.facets[0]].pitch_deg)
        elif edge.kind == "valley":
            area += edge.length_ft * settings.valley_width_in / 12.0
    return area


def area_by_rise(facets: list[FacetMeasure]) -> dict[int, float]:
    by_rise: dict[int, float] = defaultdict(float)
    for f in facets:
        by_rise[f.rise] += f.plane.area_sqft
    return by_rise


def pitch_table(facets: list[FacetMeasure], total: float) -> list[dict[str, object]]:
    return [
        {
            "pitch": f"{rise}/12",
            "area_sqft": round(area, 1),
            "share": round(area / total, 4) if total else 0.0,
            "squares": round(squares(area), 2),
        }
        for rise, area in sorted(area_by_rise(facets).items())
    ]


def waste_table(total_sqft: float, percents: tuple[int, ...]) -> list[dict[str, float]]:
    return [
        {
            "percent": p,
            "area_sqft": round(total_sqft * (1 + p / 100.0), 1),
            "squares": round(up_to_third(squares(total_sqft * (1 + p / 100.0))), 2),
        }
        for p in percents
    ]


@dataclass(frozen=True)
class WasteSuggestion:
    percent: int
    reasons: list[str]


def suggested_waste(m: Measurements, percents: tuple[int, ...]) -> WasteSuggestion:
    """A waste percentage from the roof's complexity, the org's nearest column (a tie goes up).

    Cuts are what waste shingles: every hip and valley is cut along its length on both sides, a rake
    on one, and every facet adds starts and ends. From 4%: +1% per foot of hip and valley per square,
    +0.2% per foot of rake per square, +0.5% per facet past two, at most 20%. That gives the usual
    rules of thumb: a gable or shed 5%, a plain hip roof 10-12%, a hip roof with dormers 15%.
    """
    roof_squares = max(squares(m.total_sqft), 1e-9)
    cut = (m.lines["hip"].ft + m.lines["valley"].ft) / roof_squares
    rake = m.lines["rake"].ft / roof_squares
    raw = min(4.0 + 1.0 * cut + 0.2 * rake + 0.5 * max(0, len(m.facets) - 2), 20.0)
    reasons = [
        f"{len(m.facets)} facets",
        f"{cut:.1f} ft of hips and valleys per square",
        f"{rake:.1f} ft of rakes per square",
    ]
    return WasteSuggestion(min(percents, key=lambda p: (abs(p - raw), -p)), reasons)
