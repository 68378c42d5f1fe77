"""Structures: the buildings a tile holds, each a group of facets, with its eave height and stories.

A report is read per structure (a house and its detached garage are priced apart), and the
high-roof charge applies from two stories up, which the height data shows: the eaves' height above
the ground around the building.

- Facets belong to one structure when their cells touch (within `JOIN_M`, so a one-cell crack of
  noise between two facets does not split a house) or a roof line joins them.
- The ground is a low percentile of the heights in a band around the structure (`GROUND_BAND_M`
  out from its outline): gardens, paths and cars; trees and walls are the high end of that band.
- The eave height is the median height of the structure's eave lines (their mid-points) above that
  ground; a storey is taken as `STOREY_M`, the first one a little more for the floor above grade.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from geometry.edges import RoofEdge
from geometry.grid import HeightGrid
from geometry.segment import IntGrid

JOIN_M = 0.6  # facets whose cells come this close are on one structure
GROUND_BAND_M = (1.0, 4.0)  # the band around a structure its ground is read in
GROUND_PERCENTILE = 10.0
MIN_GROUND_CELLS = 8
STOREY_M = 2.9  # floor to floor
FIRST_STOREY_EXTRA_M = 0.4  # the ground floor sits above grade


@dataclass(frozen=True)
class Structure:
    id: str  # "1", "2", ... by sloped area
    facets: tuple[int, ...]  # facet ranks
    ground_m: float | None  # None: no ground visible around it (the tile is cut at its walls)
    eave_height_m: float | None

    @property
    def stories(self) -> int | None:
        if self.eave_height_m is None:
            return None
        return max(1, math.floor((self.eave_height_m - FIRST_STOREY_EXTRA_M) / STOREY_M + 0.5))

    def to_json(self, letters: list[str]) -> dict[str, Any]:
        return {
            "id": self.id,
            "facets": [letters[i] for i in self.facets],
            "ground_m": None if self.ground_m is None else round(self.ground_m, 2),
            "eave_height_m": None if self.eave_height_m is None else round(self.eave_height_m, 2),
            "stories": self.stories,
        }


def group_structures(labels: IntGrid, areas: list[float], edges: list[RoofEdge], grid: HeightGrid) -> list[Structure]:
    """The structures of facets `0..len(areas)-1` (labels by facet rank, -1 off the roof)."""
    count = len(areas)
    if count == 0:
        return []
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(a: int, b: int) -> None:
        parent[root(a)] = root(b)

    for a, b in _touching(labels, grid):
        join(a, b)
    for edge in edges:
        if edge.facets[1] >= 0:
            join(*edge.facets)
    groups: dict[int, list[int]] = {}
    for i in range(count):
        groups.setdefault(root(i), []).append(i)
    ordered = sorted(groups.values(), key=lambda members: -sum(areas[i] for i in members))
    structures = []
    for number, members in enumerate(ordered, start=1):
        ground = _ground(labels, members, grid)
        structures.append(Structure(str(number), tuple(members), ground, _eave_height(edges, set(members), ground)))
    return structures


def _touching(labels: IntGrid, grid: HeightGrid) -> set[tuple[int, int]]:
    """Pairs of facets whose cells lie within JOIN_M of each other."""
    reach = max(1, math.ceil(JOIN_M / min(grid.dx, grid.dy)))
    padded = np.pad(labels, reach, constant_values=-1)
    rows, cols = labels.shape
    pairs: set[tuple[int, int]] = set()
    for dy in range(reach + 1):
        for dx in range(-reach, reach + 1):
            if dy == 0 and dx <= 0:
                continue
            shifted = padded[reach + dy : reach + dy + rows, reach + dx : reach + dx + cols]
            both = (labels >= 0) & (shifted >= 0) & (labels != shifted)
            if both.any():
                found = np.unique(np.stack([labels[both], shifted[both]], axis=1), axis=0)
                pairs.update((int(a), int(b)) for a, b in found)
    return pairs


def _ground(labels: IntGrid, members: list[int], grid: HeightGrid) -> float | None:
    """A low percentile of the valid heights in the band around the structure's cells."""
    own = np.isin(labels, members).astype(np.uint8)
    near, far = (max(1, round(m / min(grid.dx, grid.dy))) for m in GROUND_BAND_M)
    outer = cv2.dilate(own, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * far + 1, 2 * far + 1))) > 0
    inner = cv2.dilate(own, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * near + 1, 2 * near + 1))) > 0
    band = outer & ~inner & (labels < 0) & np.isfinite(grid.z)
    if int(band.sum()) < MIN_GROUND_CELLS:
        return None
    return float(np.percentile(grid.z[band], GROUND_PERCENTILE))


def _eave_height(edges: list[RoofEdge], members: set[int], ground: float | None) -> float | None:
    if ground is None:
        return None
    heights = [
        (edge.start[2] + edge.end[2]) / 2.0 - ground
        for edge in edges
        if edge.kind == "eave" and edge.facets[0] in members
    ]
    return float(np.median(heights)) if heights else None
