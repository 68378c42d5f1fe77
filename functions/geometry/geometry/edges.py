"""Roof lines from the facets' polygons, classified the way roofers price them.

- A crease between two facets is a ridge (level and convex), a hip (sloping and convex) or a valley
  (concave). Convex means each plane lies below the other's continuation on its own side.
- A facet's side against the outside (or stepping down to a lower facet) is an eave when it is level
  and on the facet's low side, a rake otherwise (a gable's sloping end, a shed's high side). A flat
  facet's outline is all eave: water leaves it everywhere.
- The foot of a wall standing on a facet (a dormer's front seen from the roof below) and the grid's
  border are no roof line.

Lengths are true 3-D lengths in metres, the heights taken from the facet's plane.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from geometry.outline import FacetOutline, Points, Ring, Side, shoelace
from geometry.segment import Plane

EdgeKind = Literal["ridge", "hip", "valley", "eave", "rake"]
EDGE_KINDS: tuple[EdgeKind, ...] = get_args(EdgeKind)
Point3 = tuple[float, float, float]

LEVEL_SLOPE = 0.07  # rise per run along a crease: under this (4 degrees) it is a ridge, not a hip
# An outline side on a facet's low side closer to level than to the fall line is an eave: a clean
# polygon's eaves are level and its rakes run down the fall line, and a side traced along a coarse
# grid's staircase (1 m LiDAR) goes to whichever it follows more.
EAVE_SIN = math.sin(math.radians(45.0))
FLAT_PITCH_DEG = 1.5  # below this a facet is flat: it faces nowhere, and water leaves it on every side
PROBE_M = 0.5  # how far into a facet the convexity test looks


@dataclass(frozen=True)
class RoofEdge:
    kind: EdgeKind
    facets: tuple[int, int]  # the facets either side (their index); -1 for the outside
    start: Point3
    end: Point3

    @property
    def length_m(self) -> float:
        return math.dist(self.start, self.end)


def roof_edges(outlines: list[FacetOutline], planes: list[Plane]) -> list[RoofEdge]:
    """Every roof line once: creases from the lower-numbered facet's side (averaged with the other
    facet's when both traced it), outline edges from their facet."""
    creases: dict[tuple[int, int], list[tuple[Side, float]]] = {}
    edges: list[RoofEdge] = []
    for index, outline in enumerate(outlines):
        for ring, inward in rings_with_inward(outline):
            for side in ring.sides:
                if side.across == "crease":
                    creases.setdefault((min(index, side.other), max(index, side.other)), []).append((side, inward))
                elif side.across == "outline":
                    edges.append(outline_edge(index, side, inward, planes[index]))
    for (first, second), sides in creases.items():
        edges += crease_edges(first, second, sides, planes)
    return [edge for edge in edges if edge.length_m > 0]


def rings_with_inward(outline: FacetOutline) -> list[tuple[Ring, float]]:
    """Each ring with the side of its trace the facet lies on: +1 left, -1 right."""
    if outline.outer is None:
        return []
    found = []
    for ring, is_outer in [(outline.outer, True)] + [(hole, False) for hole in outline.holes]:
        counter_clockwise = shoelace(ring.vertices) > 0
        found.append((ring, 1.0 if counter_clockwise == is_outer else -1.0))
    return found


def left_normal(start: Points, end: Points) -> Points:
    """The unit normal to the left of the way from start to end."""
    d = end - start
    length = float(np.hypot(*d))
    return np.array([-d[1], d[0]]) / length if length > 0 else np.zeros(2)


def point3(plane: Plane, p: Points) -> Point3:
    x, y = float(p[0]), float(p[1])
    return (x, y, plane.a * x + plane.b * y + plane.c)


def outline_edge(index: int, side: Side, inward: float, plane: Plane) -> RoofEdge:
    return RoofEdge(outline_kind(side, inward, plane), (index, -1), point3(plane, side.start), point3(plane, side.end))


def outline_kind(side: Side, inward: float, plane: Plane) -> EdgeKind:
    if plane.pitch_deg < FLAT_PITCH_DEG:
        return "eave"
    gradient = np.array([plane.a, plane.b])
    uphill = gradient / float(np.hypot(*gradient))
    direction = side.end - side.start
    length = float(np.hypot(*direction))
    if length == 0:
        return "rake"
    level = abs(float(uphill @ direction)) / length < EAVE_SIN
    outward = -inward * left_normal(side.start, side.end)
    return "eave" if level and float(uphill @ outward) < 0 else "rake"


def crease_edges(first: int, second: int, sides: list[tuple[Side, float]], planes: list[Plane]) -> list[RoofEdge]:
    """One edge per crease: each facet's pieces along it (a chimney may interrupt it) spanned end to
    end, and the two facets' spans averaged."""
    spans: dict[int, tuple[Points, Points]] = {}
    inward_of: dict[int, float] = {}
    line = sides[0][0].line
    for side, inward in sides:
        facet = first if side.other == second else second
        ends = [side.start, side.end] + ([*spans[facet]] if facet in spans else [])
        along = [float((p - line.point) @ line.direction) for p in ends]
        spans[facet] = (ends[int(np.argmin(along))], ends[int(np.argmax(along))])
        inward_of.setdefault(facet, inward if float((side.end - side.start) @ line.direction) > 0 else -inward)
    start = np.mean([span[0] for span in spans.values()], axis=0)
    end = np.mean([span[1] for span in spans.values()], axis=0)
    facet = min(spans)
    return [crease_edge(facet, second if facet == first else first, (start, end), inward_of[facet], planes)]


def crease_edge(facet: int, other: int, ends: tuple[Points, Points], inward: float, planes: list[Plane]) -> RoofEdge:
    own, across = planes[facet], planes[other]
    start, end = ends
    middle = (start + end) / 2
    probe = middle + PROBE_M * inward * left_normal(start, end)
    convex = own.a * probe[0] + own.b * probe[1] + own.c < across.a * probe[0] + across.b * probe[1] + across.c
    run = float(np.hypot(*(end - start)))
    rise = abs(own.a * (end[0] - start[0]) + own.b * (end[1] - start[1]))
    level = run > 0 and rise / run < LEVEL_SLOPE
    kind: EdgeKind = ("ridge" if level else "hip") if convex else "valley"
    pair = (min(facet, other), max(facet, other))
    return RoofEdge(kind, pair, point3(own, start), point3(own, end))


def edge_totals_m(edges: list[RoofEdge]) -> dict[EdgeKind, float]:
    """Total length per kind, every kind present."""
    totals = dict.fromkeys(EDGE_KINDS, 0.0)
    for edge in edges:
        totals[edge.kind] += edge.length_m
    return totals
