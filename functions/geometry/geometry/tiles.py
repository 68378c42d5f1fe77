"""Tiles with many buildings: each building is found on the whole tile, then segmented and measured
on its own window, and the results are joined into one report.

Why: segmentation and measurement run many per-plane steps over their whole grid (assigning cells,
connected components, dilations). On a tile of many buildings that is planes x cells, which grows
with the square of the tile; on one building's window it is that building's planes x its own cells,
so the tile costs the sum of its buildings.

A building: the cells standing above the ground estimate of the whole tile (the segmentation's own
rule), joined across gaps under `JOIN_M` (a chimney, a dormer and their roof are one building); its
window adds `MARGIN_M` of ground around it, for its eave heights. Each window is measured with the
building's cells as its roof mask, so it sees the roof cells the whole tile would have. Facets are
lettered, and structures numbered, by area over the whole tile, as for a single building.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import cv2
import numpy as np

from geometry.edges import EDGE_KINDS, RoofEdge
from geometry.grid import HeightGrid
from geometry.measure import Facet, RoofReport, letters, measure
from geometry.quality import roof_warnings
from geometry.segment import Segmentation, roof_cells, segment
from geometry.structures import Structure

SPLIT_CELLS = 1_000_000  # below this a tile is measured whole (the split would save little)
JOIN_M = 1.5
MARGIN_M = 3.0


Refine = Callable[[Segmentation, HeightGrid], Segmentation]  # e.g. planes refitted on a cloud's points


def analyze_tile(grid: HeightGrid, refine: Refine | None = None) -> RoofReport:
    """The roof report of a grid: building by building when it is large and holds several.
    `refine` may change a segmentation's planes before it is measured (given the grid or window)."""

    def measured(window: HeightGrid) -> RoofReport:
        segmentation = segment(window)
        return measure(segmentation if refine is None else refine(segmentation, window), window)

    if grid.mask is not None or grid.z.size < SPLIT_CELLS:
        return measured(grid)
    windows = building_windows(grid)
    if len(windows) <= 1:
        return measured(grid)
    parts = [(rows, cols, measured(grid.crop(rows, cols, mask))) for rows, cols, mask in windows]
    report = joined(parts, grid)
    if not report.facets:  # rare (trees, walls): the whole grid's result says why there is no roof
        return measured(grid)
    return report


def building_windows(grid: HeightGrid) -> list[tuple[slice, slice, np.ndarray]]:
    """Each building's window (rows, cols) and its roof cells there."""
    roof = roof_cells(grid, np.isfinite(grid.z))
    pixel = min(grid.dx, grid.dy)
    reach = max(1, math.ceil(JOIN_M / 2 / pixel))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))
    joined_roof = cv2.dilate(roof.astype(np.uint8), kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined_roof, connectivity=8)
    margin = max(1, math.ceil(MARGIN_M / pixel))
    rows_n, cols_n = grid.shape
    windows = []
    for k in range(1, count):
        left, top, width, height = (int(v) for v in stats[k, :4])
        rows = slice(max(0, top - margin), min(rows_n, top + height + margin))
        cols = slice(max(0, left - margin), min(cols_n, left + width + margin))
        mask = roof[rows, cols] & (labels[rows, cols] == k)
        if mask.any():
            windows.append((rows, cols, mask))
    return windows


def joined(parts: list[tuple[slice, slice, RoofReport]], grid: HeightGrid) -> RoofReport:
    """The buildings' reports as one: facets ranked by area over the tile, structures numbered by
    area, labels, lines and penetrations renumbered to match."""
    entries = [(p, f) for p, (_, _, report) in enumerate(parts) for f in report.facets]
    order = sorted(range(len(entries)), key=lambda i: -entries[i][1].area_m2)
    rank = {(entries[i][0], entries[i][1].label): r for r, i in enumerate(order)}
    structures = _structures(parts, rank)
    of_facet = {r: s.id for s in structures for r in s.facets}
    facets: list[Facet] = []
    for r, i in enumerate(order):
        _, facet = entries[i]
        facets.append(replace(facet, id=letters(r), label=r, structure=of_facet[r]))
    labels = np.full(grid.shape, -1, dtype=np.int32)
    edges: list[RoofEdge] = []
    penetrations = []
    for p, (rows, cols, report) in enumerate(parts):
        lookup = np.array([rank[p, f.label] for f in report.facets] + [-1], dtype=np.int32)
        local = report.labels
        window = labels[rows, cols]
        window[local >= 0] = lookup[local[local >= 0]]
        for edge in report.edges:
            first, second = (rank[p, i] if i >= 0 else -1 for i in edge.facets)
            pair = (first, second) if second < 0 else (min(first, second), max(first, second))
            edges.append(RoofEdge(edge.kind, pair, edge.start, edge.end))
        penetrations += [replace(x, facet=rank[p, x.facet]) for x in report.penetrations]
    edges.sort(key=lambda edge: (EDGE_KINDS.index(edge.kind), edge.facets))
    resolution = min(grid.dx, grid.dy)
    warnings = roof_warnings(facets, [list(f.review_reasons) for f in facets], resolution)
    return RoofReport(facets, labels, edges, structures, resolution, grid.georeference, penetrations, warnings)


def _structures(parts: list[tuple[slice, slice, RoofReport]], rank: dict[tuple[int, int], int]) -> list[Structure]:
    found = [
        (sum(report.facets[i].area_m2 for i in s.facets), tuple(sorted(rank[p, i] for i in s.facets)), s)
        for p, (_, _, report) in enumerate(parts)
        for s in report.structures
    ]
    found.sort(key=lambda item: (-item[0], item[1]))
    return [replace(s, id=str(n), facets=ranks) for n, (_, ranks, s) in enumerate(found, start=1)]
