"""How far each facet's numbers can be trusted, said per facet and for the roof, so that nothing the
data cannot support is reported as measured.

Per facet, its support (cells fitted per sq ft of footprint), its fit residual, and `needs_review`
with the reasons:
- low support: fitted on few cells, so its pitch rests on little data;
- fit residual above the noise: the plane misfits its cells well beyond the roof's typical residual,
  or beyond what any roof surface shows (a curved or broken surface, two planes taken for one,
  vegetation);
- resolution too coarse for its size: narrower than a few cells, so its outline (and area) is
  mostly edge pixels;
- occluded: no trustworthy outline, or far fewer cells fitted than its outline holds (trees, a part
  the data lacks);
- implausible pitch: steeper than roofing goes (a wall edge or a tree taken for a roof plane).

For the roof: a warning when the grid is too coarse for it (a quarter of its area or more on facets
narrower than a few cells), and when most of its area rests on facets that need review.
"""

from __future__ import annotations

import math
import statistics
from typing import TYPE_CHECKING

import numpy as np

from geometry.diagnosis import ResultWarning
from geometry.units import SQFT_PER_M2

if TYPE_CHECKING:
    from geometry.measure import Facet

MIN_CELLS = 40
RESIDUAL_FLOOR_M = 0.08
RESIDUAL_TIMES_TYPICAL = 2.5
RESIDUAL_CEILING_M = 0.15  # no roof surface is this rough at any resolution: vegetation, or planes mixed
MIN_WIDTH_CELLS = 4.0
MIN_SEEN_SHARE = 0.6
MAX_RISE = 20.0  # 20/12, 59 degrees: only mansards go steeper, and a wall taken for a roof does
COARSE_SHARE = 0.25  # of the roof's area on facets too narrow for the grid: the grid is too coarse for it
DOUBTFUL_SHARE = 0.5  # of the roof's area on facets that need review


def review_reasons(facets: list[Facet], resolution_m: float) -> list[list[str]]:
    """Each facet's reasons for review (empty: none), in the facets' order."""
    residuals = [f.plane.rms for f in facets if f.count]
    typical = statistics.median(residuals) if residuals else 0.0
    limit = min(max(RESIDUAL_FLOOR_M, RESIDUAL_TIMES_TYPICAL * typical), RESIDUAL_CEILING_M)
    return [_reasons(f, limit, resolution_m) for f in facets]


def _reasons(facet: Facet, residual_limit: float, resolution: float) -> list[str]:
    reasons = []
    if 0 < facet.count < MIN_CELLS:
        reasons.append(f"low support: fitted on {facet.count} cells (under {MIN_CELLS})")
    if facet.plane.rms > residual_limit:
        reasons.append(f"fit residual {facet.plane.rms:.2f} m is above the noise ({residual_limit:.2f} m)")
    outer = facet.outline.outer
    if outer is not None:
        width_m = mean_width_m(outer.vertices)
        if width_m < MIN_WIDTH_CELLS * resolution:
            reasons.append(f"resolution too coarse for its size: {width_m:.1f} m wide at {resolution:g} m per cell")
        cells = facet.footprint_m2 / resolution**2
        if facet.count and cells > 0 and facet.count / cells < MIN_SEEN_SHARE:
            reasons.append(f"occluded: {facet.count / cells:.0%} of its outline was fitted")
    else:
        reasons.append("occluded: no trustworthy outline; its area is counted from its cells")
    if facet.pitch_rise > MAX_RISE:
        reasons.append(f"implausible pitch: {facet.pitch_deg:.0f} degrees")
    return reasons


def support_per_sqft(facet: Facet) -> float:
    """Cells fitted per square foot of its footprint: how much data its plane rests on."""
    footprint_sqft = facet.footprint_m2 * SQFT_PER_M2
    return facet.count / footprint_sqft if footprint_sqft > 0 else 0.0


def mean_width_m(vertices: np.ndarray) -> float:
    """The short side of the rectangle with the polygon's area and perimeter (a 17 m x 5 m facet is
    5 m wide, a square its side); a compact shape whose perimeter is too short for any rectangle
    (nearly round) counts as a square."""
    if len(vertices) < 3:
        return 0.0
    x, y = vertices[:, 0], vertices[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))
    half = 0.5 * float(np.hypot(np.diff(x, append=x[:1]), np.diff(y, append=y[:1])).sum())  # L + W
    spread = half * half - 4.0 * area  # (L - W)²
    return (half - math.sqrt(spread)) / 2.0 if spread > 0 else math.sqrt(area)


def roof_warnings(facets: list[Facet], reasons: list[list[str]], resolution_m: float) -> list[ResultWarning]:
    """What the roof as a whole asks of its reader."""
    if not facets:
        return []
    warnings = []
    area = sum(f.area_m2 for f in facets)
    narrow = [
        f for f, rs in zip(facets, reasons, strict=True) if any(r.startswith("resolution too coarse") for r in rs)
    ]
    if area > 0 and sum(f.area_m2 for f in narrow) / area >= COARSE_SHARE:
        warnings.append(
            ResultWarning(
                "too_coarse",
                f"{len(narrow)} of {len(facets)} facets, most of the roof's area, are narrower than "
                f"{MIN_WIDTH_CELLS:g} cells at {resolution_m:g} m: the input is too coarse for this roof, and its "
                "areas and lines are uncertain (a finer DSM or a point cloud would measure it).",
            )
        )
    doubtful = sum(f.area_m2 for f, rs in zip(facets, reasons, strict=True) if rs)
    if area > 0 and doubtful / area >= DOUBTFUL_SHARE:
        warnings.append(
            ResultWarning(
                "needs_review",
                f"{doubtful / area:.0%} of the roof's area is on facets that need review (see each facet's reasons).",
            )
        )
    return warnings
