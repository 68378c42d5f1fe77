"""Per-facet measures in the contract's JSON (ARCHITECTURE.md, "Geometry CLI and JSON").

Roofing conventions: pitch rise = 12 tan(angle) ("6/12" is the nearest whole rise); azimuth is the
direction the facet faces (its downslope), clockwise from north, 0 for a flat facet; sloped area =
footprint / cos(angle); one square is 100 sq ft. Facets are lettered A, B, C... by sloped area.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from geometry.diagnosis import ResultWarning, why_no_planes
from geometry.dormers import fit_dormers, host_labels, with_dormers
from geometry.edges import EDGE_KINDS, FLAT_PITCH_DEG, EdgeKind, RoofEdge, edge_totals_m, roof_edges
from geometry.grid import Georeference, HeightGrid
from geometry.outline import FacetOutline, outline_facets
from geometry.penetrations import Penetration, find_penetrations
from geometry.quality import review_reasons, roof_warnings, support_per_sqft
from geometry.segment import IntGrid, Plane, Segmentation
from geometry.structures import Structure, group_structures
from geometry.units import FT_PER_M, SQFT_PER_M2

FRAME = "metres; x east, y north from the grid's top-left corner; z as the heights"
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


@dataclass(frozen=True)
class Facet:
    id: str
    label: int
    plane: Plane
    outline: FacetOutline
    count: int  # cells
    structure: str = "1"
    review_reasons: tuple[str, ...] = ()  # why a person should look at it (geometry.quality); none: trusted

    @property
    def footprint_m2(self) -> float:
        return self.outline.area_m2

    @property
    def pitch_deg(self) -> float:
        return self.plane.pitch_deg

    @property
    def pitch_rise(self) -> float:
        return 12.0 * math.tan(math.radians(self.pitch_deg))

    @property
    def pitch(self) -> str:
        return f"{round(self.pitch_rise)}/12"

    @property
    def flat(self) -> bool:
        return self.pitch_deg < FLAT_PITCH_DEG

    @property
    def azimuth_deg(self) -> float:
        if self.flat:
            return 0.0
        # Downslope is minus the gradient (a, b) = (dz/dx east, dz/dy north); clockwise from north.
        return math.degrees(math.atan2(-self.plane.a, -self.plane.b)) % 360.0

    @property
    def facing(self) -> str:
        return "flat" if self.flat else COMPASS[round(self.azimuth_deg / 45.0) % 8]

    @property
    def area_m2(self) -> float:
        return self.footprint_m2 / math.cos(math.radians(self.pitch_deg))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "pitch_deg": round(self.pitch_deg, 2),
            "pitch_rise": round(self.pitch_rise, 2),
            "pitch": self.pitch,
            "azimuth_deg": round(self.azimuth_deg, 1),
            "facing": self.facing,
            "area_sqft": round(self.area_m2 * SQFT_PER_M2, 1),
            "footprint_sqft": round(self.footprint_m2 * SQFT_PER_M2, 1),
            "squares": round(self.area_m2 * SQFT_PER_M2 / 100.0, 2),
            "normal": [round(v, 4) for v in self.plane.normal],
            "plane": [round(self.plane.a, 6), round(self.plane.b, 6), round(self.plane.c, 4)],
            "rms_m": round(self.plane.rms, 3),
            "count": self.count,
            "support_per_sqft": round(support_per_sqft(self), 2),
            "needs_review": bool(self.review_reasons),
            "review_reasons": list(self.review_reasons),
            "structure": self.structure,
            "outline": ring_json(self.outline.outer.vertices) if self.outline.outer is not None else None,
            "holes": [ring_json(hole.vertices) for hole in self.outline.holes],
        }


def ring_json(vertices: np.ndarray) -> list[list[float]]:
    """A polygon's corners as [x east, y north] in metres, on the grid's own frame (the top-left
    corner of its first cell at 0, 0)."""
    return [[round(float(x), 2), round(float(y), 2)] for x, y in vertices]


@dataclass(frozen=True)
class RoofReport:
    facets: list[Facet]
    labels: IntGrid  # the facets' labels (their position in `facets`), -1 for no roof plane
    edges: list[RoofEdge]  # facets by their position in `facets`
    structures: list[Structure]
    resolution_m: float  # the grid's cell size
    georeference: Georeference | None = None
    penetrations: list[Penetration] = field(default_factory=list)  # facets by their rank
    warnings: list[ResultWarning] = field(default_factory=list)  # what a reader must know about the result

    def edge_totals_m(self) -> dict[EdgeKind, float]:
        return edge_totals_m(self.edges)

    def to_json(self) -> dict[str, Any]:
        area = sum(f.area_m2 for f in self.facets) * SQFT_PER_M2
        return {
            "planes": [f.to_json() for f in self.facets],
            "totals": {
                "area_sqft": round(area, 1),
                "squares": round(area / 100.0, 2),
                "predominant_pitch": predominant_pitch(self.facets),
                "facets": len(self.facets),
            },
            "edges": [edge_json(edge, self.facets) for edge in self.edges],
            "edge_totals_ft": {kind: round(metres * FT_PER_M, 1) for kind, metres in self.edge_totals_m().items()},
            "structures": [s.to_json([f.id for f in self.facets]) for s in self.structures],
            "penetrations": [p.to_json([f.id for f in self.facets]) for p in self.penetrations],
            "warnings": [w.to_json() for w in self.warnings],
            "source": {
                "resolution_m": round(self.resolution_m, 4),
                "frame": FRAME,
                **(self.georeference.to_json() if self.georeference is not None else {}),
            },
        }


def edge_json(edge: RoofEdge, facets: list[Facet]) -> dict[str, Any]:
    return {
        "kind": edge.kind,
        "facets": [facets[i].id for i in edge.facets if i >= 0],
        "length_ft": round(edge.length_m * FT_PER_M, 1),
        "start": [round(v, 2) for v in edge.start],
        "end": [round(v, 2) for v in edge.end],
    }


def letters(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, like spreadsheet columns."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def predominant_pitch(facets: list[Facet]) -> str | None:
    """The whole x/12 pitch that covers the most sloped area."""
    by_pitch: dict[str, float] = defaultdict(float)
    for facet in facets:
        by_pitch[facet.pitch] += facet.area_m2
    return max(by_pitch, key=lambda pitch: by_pitch[pitch]) if by_pitch else None


def renumber(pair: tuple[int, int], mapping: IntGrid) -> tuple[int, int]:
    """An edge's facets by their rank: a crease's in order, an outline edge's facet then -1."""
    first, second = int(mapping[pair[0]]), int(mapping[pair[1]])
    return (first, second) if second < 0 else (min(first, second), max(first, second))


def measure(segmentation: Segmentation, grid: HeightGrid) -> RoofReport:
    segmentation, dormers = fit_dormers(segmentation, grid)
    planes = segmentation.planes
    outlines = with_dormers(outline_facets(host_labels(segmentation.labels, dormers), planes, grid), planes, dormers)
    labelled = segmentation.labels[segmentation.labels >= 0]
    counts = np.bincount(labelled, minlength=len(planes)).tolist()
    order = sorted(range(len(planes)), key=lambda i: -outlines[i].area_m2 / math.cos(math.radians(planes[i].pitch_deg)))
    mapping = np.full(len(order) + 1, -1, dtype=np.int32)  # old index -> rank; the last entry maps -1
    facets = []
    for rank, index in enumerate(order):
        mapping[index] = rank
        facets.append(Facet(letters(rank), rank, planes[index], outlines[index], counts[index]))
    edges = [
        RoofEdge(edge.kind, renumber(edge.facets, mapping), edge.start, edge.end)
        for edge in roof_edges(outlines, planes)
    ]
    edges.sort(key=lambda edge: (EDGE_KINDS.index(edge.kind), edge.facets))
    labels = mapping[segmentation.labels]
    structures = group_structures(labels, [f.area_m2 for f in facets], edges, grid)
    of_facet = {rank: s.id for s in structures for rank in s.facets}
    facets = [replace(f, structure=of_facet[f.label]) for f in facets]
    penetrating = find_penetrations(outlines, planes, segmentation.labels, grid)
    found = [replace(p, facet=int(mapping[p.facet])) for p in penetrating]
    resolution = min(grid.dx, grid.dy)
    reasons = review_reasons(facets, resolution)
    facets = [replace(f, review_reasons=tuple(r)) for f, r in zip(facets, reasons, strict=True)]
    warnings = roof_warnings(facets, reasons, resolution) if facets else [why_no_planes(grid, segmentation)]
    return RoofReport(facets, labels, edges, structures, resolution, grid.georeference, found, warnings)
