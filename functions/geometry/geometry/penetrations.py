"""Penetrations the height data shows: chimneys and other boxes standing through a roof plane.

A roofer flashes around each one (step and counter flashing by its perimeter, a cricket on its high
side when it is wide) and the report lists them: count, area and perimeter.

Within each facet's outline (its filled holes included: a chimney's footprint is a hole the outline
fills), cells more than `MIN_RISE_M` above the facet's plane form candidate regions. A region is a
penetration when it is small (`MAX_AREA_M2`), compact (it fills most of its rotated bounding box, as
a masonry or framed box does) and level-topped (most of its cells at one height, whatever the pitch
under it; its sides stand straight up): a tree's canopy over the roof domes, rising over the whole of
it, and is left out. Skylights sit nearly flush with the roof and cannot
be told from the height data at these resolutions; they are not found here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from geometry.grid import HeightGrid
from geometry.outline import FacetOutline
from geometry.segment import IntGrid, Plane
from geometry.units import FT_PER_M, SQFT_PER_M2

MIN_RISE_M = 0.4
MIN_AREA_M2 = 0.15
MAX_AREA_M2 = 8.0
MIN_FILL = 0.6  # of its rotated bounding box
TOP_BAND_M = 0.2
MIN_LEVEL_SHARE = 0.7  # of its cells within TOP_BAND_M of its top's median: a box, not a dome


@dataclass(frozen=True)
class Penetration:
    kind: str  # "chimney": a box standing through the roof
    facet: int  # the facet's rank
    centre: tuple[float, float]  # metres on the grid's frame
    area_m2: float
    perimeter_m: float
    height_m: float  # its top above the roof plane

    def to_json(self, letters: list[str]) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "facet": letters[self.facet],
            "centre": [round(v, 2) for v in self.centre],
            "area_sqft": round(self.area_m2 * SQFT_PER_M2, 1),
            "perimeter_ft": round(self.perimeter_m * FT_PER_M, 1),
            "height_ft": round(self.height_m * FT_PER_M, 1),
        }


def find_penetrations(
    outlines: list[FacetOutline], planes: list[Plane], labels: IntGrid, grid: HeightGrid
) -> list[Penetration]:
    """`labels`: each cell's facet (-1 for none); a cell of another facet (a dormer above its host)
    is never a penetration."""
    x, y = grid.xy()
    found: list[Penetration] = []
    claimed = np.zeros(grid.shape, dtype=bool)
    for index, (outline, plane) in enumerate(zip(outlines, planes, strict=True)):
        if outline.outer is None:
            continue
        inside = _filled(outline.outer.vertices, grid)
        rise = grid.z - plane.height(x, y)
        above = inside & ~claimed & (labels < 0) & np.isfinite(grid.z) & (rise > MIN_RISE_M)
        count, regions = cv2.connectedComponents(above.astype(np.uint8), connectivity=8)
        for region in range(1, count):
            cells = regions == region
            box = _penetration(cells, rise, grid, index)
            if box is not None:
                found.append(box)
                claimed |= cells
    return found


def _filled(vertices: np.ndarray, grid: HeightGrid) -> np.ndarray:
    """The cells whose centres the polygon holds (on the grid's frame: x east, y north)."""
    mask = np.zeros(grid.shape, dtype=np.uint8)
    cols, rows = grid.col_of(vertices[:, 0]), grid.row_of(vertices[:, 1])
    points = np.round(np.stack([cols, rows], axis=1) * 16).astype(np.int32)  # 4 fractional bits
    cv2.fillPoly(mask, [points], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _penetration(cells: np.ndarray, rise: np.ndarray, grid: HeightGrid, facet: int) -> Penetration | None:
    area = float(cells.sum()) * grid.cell_area
    if not MIN_AREA_M2 <= area <= MAX_AREA_M2:
        return None
    rows, cols = np.nonzero(cells)
    points = np.stack([grid.x_of(cols), grid.y_of(rows)], axis=1).astype(np.float32)
    (cx, cy), (w, h), _ = cv2.minAreaRect(points)
    # the cells' centres span one cell less than the box they cover
    box_area = (w + grid.dx) * (h + grid.dy)
    if area / box_area < MIN_FILL:
        return None
    tops = grid.z[cells]  # a box's top is level, however steep the roof under it
    level = float(np.mean(np.abs(tops - np.median(tops)) <= TOP_BAND_M))
    if level < MIN_LEVEL_SHARE:
        return None
    heights = rise[cells]
    perimeter = 2.0 * ((w + grid.dx) + (h + grid.dy))
    return Penetration("chimney", facet, (float(cx), float(cy)), area, perimeter, float(np.median(heights)))
