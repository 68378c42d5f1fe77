"""Which facets a person should look at before the numbers are priced, and why.

- low support: fitted on few cells, so its pitch rests on little data;
- fit residual above the noise: the plane misfits its cells well beyond the roof's typical residual
  (a curved or broken surface, two planes taken for one, vegetation);
- resolution too coarse for its size: narrower than a few cells, so its outline (and area) is
  mostly edge pixels;
- occluded: no trustworthy outline, or far fewer cells fitted than its outline holds (trees, a
  shadowed part the data lacks);
- implausible pitch: steeper than roofing goes (a wall edge or a tree taken for a roof plane).
"""

from __future__ import annotations

import math
import statistics

from reports.inputs import Geometry, Plane
from reports.measurement import SQFT_PER_M2

MIN_CELLS = 40
RESIDUAL_FLOOR_M = 0.08
RESIDUAL_TIMES_TYPICAL = 2.5
MIN_WIDTH_CELLS = 4.0
MIN_SEEN_SHARE = 0.6
MAX_RISE = 20.0  # 20/12, 59 degrees: only mansards go steeper, and a wall taken for a roof does


def review_reasons(geometry: Geometry) -> dict[str, list[str]]:
    residuals = [p.rms_m for p in geometry.planes if p.count]
    typical = statistics.median(residuals) if residuals else 0.0
    limit = max(RESIDUAL_FLOOR_M, RESIDUAL_TIMES_TYPICAL * typical)
    resolution = geometry.source.resolution_m
    return {p.id: _reasons(p, limit, resolution) for p in geometry.planes}


def _reasons(plane: Plane, residual_limit: float, resolution: float | None) -> list[str]:
    reasons = []
    if 0 < plane.count < MIN_CELLS:
        reasons.append(f"low support: fitted on {plane.count} cells (under {MIN_CELLS})")
    if plane.rms_m > residual_limit:
        reasons.append(f"fit residual {plane.rms_m:.2f} m is above the noise ({residual_limit:.2f} m)")
    if resolution is not None and plane.outline is not None:
        width_m = _mean_width_m(plane.outline)
        if width_m < MIN_WIDTH_CELLS * resolution:
            reasons.append(f"resolution too coarse for its size: {width_m:.1f} m wide at {resolution:g} m per cell")
    if plane.outline is None:
        reasons.append("occluded: no trustworthy outline; its area is counted from its cells")
    elif resolution is not None and plane.count:
        cells = plane.footprint_sqft / SQFT_PER_M2 / resolution**2
        if cells > 0 and plane.count / cells < MIN_SEEN_SHARE:
            reasons.append(f"occluded: {plane.count / cells:.0%} of its outline was fitted")
    if 12.0 * math.tan(math.radians(plane.pitch_deg)) > MAX_RISE:
        reasons.append(f"implausible pitch: {plane.pitch_deg:.0f} degrees")
    return reasons


def _mean_width_m(outline: list[tuple[float, float]]) -> float:
    """Twice the area over the perimeter: a rectangle's short side when it is long and thin."""
    if len(outline) < 3:
        return 0.0
    area = 0.0
    perimeter = 0.0
    for (x0, y0), (x1, y1) in zip(outline, outline[1:] + outline[:1], strict=True):
        area += x0 * y1 - x1 * y0
        perimeter += math.hypot(x1 - x0, y1 - y0)
    return abs(area) / perimeter if perimeter else 0.0
