"""Why a height grid gave no roof planes, in words a person can act on: a result with no planes says
which of these it is, never just an empty list.

- `no_data`: the grid holds (almost) no heights: a wrong nodata value, or a tile off the data.
- `flat`: nothing stands a building's height above the ground: an empty lot, or a crop inside a
  roof with no ground around it to measure against.
- `too_small`: what stands above the ground is smaller than the smallest facet measured.
- `no_plane`: raised cells enough for a roof, but no planar surface among them (a wall, trees, or
  heights too noisy to fit a plane).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from geometry.grid import HeightGrid
from geometry.segment import MIN_BUILDING_HEIGHT_M, MIN_FACET_AREA_M2, Segmentation
from geometry.units import SQFT_PER_M2

MIN_VALID_SHARE = 0.01
Code = Literal["no_data", "flat", "too_small", "no_plane"]


@dataclass(frozen=True)
class ResultWarning:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


def why_no_planes(grid: HeightGrid, segmentation: Segmentation) -> ResultWarning:
    valid = np.isfinite(grid.z)
    if valid.sum() < max(4, MIN_VALID_SHARE * valid.size):
        return ResultWarning(
            "no_data",
            f"No roof planes: {int(valid.sum())} of {valid.size} cells hold a height. Check the file's nodata "
            "value and that the tile covers the building.",
        )
    raised_m2 = float(segmentation.roof.sum()) * grid.cell_area
    if raised_m2 == 0.0:
        low, high = np.nanpercentile(grid.z[valid], [1, 99])
        return ResultWarning(
            "flat",
            f"No roof planes: nothing stands {MIN_BUILDING_HEIGHT_M:g} m above the ground (heights span "
            f"{high - low:.1f} m). An empty lot, or a crop inside a roof: include the ground around the "
            "building, or send a roof mask.",
        )
    if raised_m2 < 4 * MIN_FACET_AREA_M2:
        return ResultWarning(
            "too_small",
            f"No roof planes: what stands above the ground covers {raised_m2 * SQFT_PER_M2:,.0f} sq ft, too small "
            "for a roof facet.",
        )
    return ResultWarning(
        "no_plane",
        f"No roof planes: {raised_m2 * SQFT_PER_M2:,.0f} sq ft stand above the ground, but no planar surface was "
        f"found on them (a wall, trees, or heights noisier than {segmentation.noise_m:.2f} m allows).",
    )
