"""Facet polygons from plane intersections and fitted outlines, not pixel staircases.

A facet's cells give its shape only to within a pixel, and a tree or a chimney hides part of it. So
each facet's boundary is rebuilt as a polygon of straight sides:

1. Trace the facet's region (holes that hold no other facet, such as a chimney's footprint, are
   filled: a roofer measures under a chimney) and, at every step of the trace, look across the
   boundary: another facet, the ground, the grid's border, or something unknown (an occluder
   standing above the plane, such as a tree, or no data).
2. Split the trace into runs by what lies across. A run against another facet whose plane meets this
   one along the run is a crease: its side is the planes' exact intersection line. Every other run
   (the ground, a step up or down to another facet, the border) is split into straight pieces and a
   line is fitted to each through the mid-points of the boundary cracks, which, unlike the boundary
   cells' centres, sit on the true edge on average.
3. Runs that border an occluder get no side: the sides on either side of them are continued until
   they meet, which is where the hidden corner is (a tree over an eave leaves one eave line).
4. The polygon's corners are the intersections of consecutive sides. A side that its neighbours'
   intersection makes inside-out is dropped, and the corners are recomputed.

A polygon that still disagrees with the facet's cells (self-intersecting, or its area far from the
cells') is not trusted: the facet falls back to its cells, and has no sides.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from geometry.grid import BoolGrid, FloatGrid, HeightGrid
from geometry.segment import IntGrid, Plane

Points = npt.NDArray[np.float64]  # (n, 2) world x (east), y (north), metres
Contour = npt.NDArray[np.integer[Any] | np.floating[Any]]  # what cv2.findContours gives, (n, 1, 2) col, row
Across = Literal["crease", "outline", "wall_base", "border"]

GROUND = -1  # across the boundary: no roof
OCCLUDED = -2  # something above the plane (tree, chimney) or no data: the facet may go on under it
BORDER = -3  # the edge of the grid: the data stops, the roof may not

OCCLUDER_ABOVE_M = 0.25  # an unlabelled cell this far above the plane hides the facet
CREASE_PIXELS = 1.5  # a crease's crack mid-points lie within this of the planes' intersection
MIN_RUN = 3  # cracks: shorter runs are a corner's noise
SHORT_SIDE = 6  # cracks: a fitted side this short has no direction worth trusting
SIMPLIFY_PIXELS = 1.5  # Douglas-Peucker tolerance for fitted runs
COLLINEAR_DEG = 8.0  # consecutive fitted sides this alike are one side
PARALLEL_SIN = math.sin(math.radians(12.0))  # sides closer to parallel than this meet in a jog, not a corner
MAX_AREA_DISAGREEMENT = 0.25  # polygon vs cells, relative: more, and the polygon is not trusted
MAX_DROP_PASSES = 6
REFINE_PASSES = 4


@dataclass(frozen=True)
class Line:
    point: Points  # (2,)
    direction: Points  # (2,), unit

    def distance(self, points: Points) -> Points:
        rel = points - self.point
        return np.asarray(np.abs(rel[:, 0] * self.direction[1] - rel[:, 1] * self.direction[0]), dtype=np.float64)

    def project(self, point: Points) -> Points:
        along = float((point - self.point) @ self.direction)
        return np.asarray(self.point + along * self.direction, dtype=np.float64)


@dataclass
class Side:
    """A straight piece of a facet's boundary, and what lies across it."""

    across: Across
    other: int  # the facet across a crease or a step; -1 otherwise
    line: Line
    samples: Points  # the crack mid-points it was built from, in trace order
    start: Points = field(default_factory=lambda: np.zeros(2))
    end: Points = field(default_factory=lambda: np.zeros(2))


@dataclass(frozen=True)
class Ring:
    vertices: Points  # (k, 2), the polygon's corners in trace order
    sides: list[Side]  # the sides, each from its start to its end corner (connectors excluded)

    @property
    def area_m2(self) -> float:
        return abs(shoelace(self.vertices))


@dataclass(frozen=True)
class FacetOutline:
    """A facet's polygon: an outer ring and holes (another facet standing inside it, say a dormer)."""

    outer: Ring | None  # None: no trustworthy polygon, measure the cells
    holes: list[Ring]
    cell_area_m2: float  # the facet's cells with its filled holes, times the cell area
    unshaped_holes_m2: float = 0.0  # holes without a polygon of their own, by their cells

    @property
    def area_m2(self) -> float:
        if self.outer is None:
            return self.cell_area_m2
        return self.outer.area_m2 - sum(hole.area_m2 for hole in self.holes) - self.unshaped_holes_m2

    @property
    def sides(self) -> list[Side]:
        if self.outer is None:
            return []
        return self.outer.sides + [side for hole in self.holes for side in hole.sides]


def shoelace(poly: Points) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def outline_facets(labels: IntGrid, planes: list[Plane], grid: HeightGrid) -> list[FacetOutline]:
    """A polygon per facet (labels index `planes`)."""
    xy = grid.xy()  # once: every facet looks at the same cell centres
    return [outline_facet(index, labels, planes, grid, xy) for index in range(len(planes))]


def outline_facet(
    index: int, labels: IntGrid, planes: list[Plane], grid: HeightGrid, xy: tuple[FloatGrid, FloatGrid]
) -> FacetOutline:
    region = fill_plain_holes(labels == index, labels)
    cell_area = float(region.sum()) * grid.cell_area
    across = across_classes(labels, planes[index], grid, xy)
    contours, hierarchy = cv2.findContours(region.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    if not contours or hierarchy is None:
        return FacetOutline(None, [], cell_area)
    outer_index = max(
        (i for i in range(len(contours)) if hierarchy[0][i][3] < 0), key=lambda i: cv2.contourArea(contours[i])
    )
    outer = build_ring(contours[outer_index], region, across, index, planes, grid)
    holes: list[Ring] = []
    unshaped_m2 = 0.0  # holes too small or ragged for a polygon: their cells
    for i in range(len(contours)):
        if hierarchy[0][i][3] != outer_index:
            continue
        ring = build_ring(contours[i], region, across, index, planes, grid)
        if ring is not None:
            holes.append(ring)
        else:
            inside = np.zeros(region.shape, dtype=np.uint8)
            cv2.drawContours(inside, contours, i, 1, thickness=-1)
            unshaped_m2 += float((inside.astype(bool) & ~region).sum()) * grid.cell_area
    outline = FacetOutline(outer, holes, cell_area, unshaped_m2)
    if outer is None or not trustworthy(outline, region, across, grid):
        return FacetOutline(None, [], cell_area)
    return outline


def fill_plain_holes(region: BoolGrid, labels: IntGrid) -> BoolGrid:
    """The region with its holes filled, except holes that hold another facet's cells."""
    holes = ~region
    count, pieces = cv2.connectedComponents(holes.astype(np.uint8), connectivity=4)
    if count <= 2:  # the outside alone
        return region.copy()
    filled = region.copy()
    border = np.unique(np.concatenate([pieces[0], pieces[-1], pieces[:, 0], pieces[:, -1]]))
    others = np.unique(pieces[(labels >= 0) & holes])
    for piece in range(1, count):
        if piece not in border and piece not in others:
            filled |= pieces == piece
    return filled


def across_classes(labels: IntGrid, plane: Plane, grid: HeightGrid, xy: tuple[FloatGrid, FloatGrid]) -> IntGrid:
    """What each cell is, seen from this facet: a facet label, GROUND or OCCLUDED."""
    x, y = xy
    valid = np.isfinite(grid.z)
    above = valid & (np.where(valid, grid.z, -np.inf) - plane.height(x, y) > OCCLUDER_ABOVE_M)
    classes = labels.copy()
    unlabelled = labels < 0
    classes[unlabelled] = GROUND
    classes[unlabelled & (above | ~valid)] = OCCLUDED
    return classes


_STEPS = ((1, 0), (0, 1), (-1, 0), (0, -1))  # (d col, d row)


def cracks(
    contour: Contour, region: BoolGrid, across: IntGrid, grid: HeightGrid
) -> tuple[Points, npt.NDArray[np.int64]]:
    """The boundary cracks along a traced contour, in trace order: their world mid-points and what lies
    across each. A crack is met once even where the trace passes a cell twice."""
    rows, cols = region.shape
    seen: set[tuple[int, int, int]] = set()
    points: list[tuple[float, float]] = []
    classes: list[int] = []
    for col, row in contour.reshape(-1, 2):
        for step, (dc, dr) in enumerate(_STEPS):
            key = (int(row), int(col), step)
            r, c = row + dr, col + dc
            inside = 0 <= r < rows and 0 <= c < cols
            if (inside and region[r, c]) or key in seen:
                continue
            seen.add(key)
            points.append((float(grid.x_of(col + dc / 2)), float(grid.y_of(row + dr / 2))))
            classes.append(int(across[r, c]) if inside else BORDER)
    return np.array(points, dtype=np.float64).reshape(-1, 2), np.array(classes, dtype=np.int64)


def runs(classes: npt.NDArray[np.int64], *, cyclic: bool = True) -> list[tuple[int, int, int]]:
    """Runs of equal class as (class, start, stop); for a cyclic sequence the indices may pass its end
    (take them modulo its length). Noise runs shorter than MIN_RUN take their neighbours' class where
    both agree, and are otherwise dropped (a corner where two things meet)."""
    found = _raw_runs(classes) if cyclic else _linear_runs(classes)
    if len(found) <= 1:
        return found
    kept: list[tuple[int, int, int]] = []
    for i, (cls, start, stop) in enumerate(found):
        if stop - start >= MIN_RUN or cls == OCCLUDED:
            kept.append((cls, start, stop))
            continue
        if not cyclic and i in (0, len(found) - 1):  # an end: it takes its one neighbour's class
            kept.append((found[1][0] if i == 0 else found[-2][0], start, stop))
            continue
        before, after = found[i - 1][0], found[(i + 1) % len(found)][0]
        if before == after:
            kept.append((before, start, stop))
    merged: list[tuple[int, int, int]] = []
    for cls, start, stop in kept:
        if merged and merged[-1][0] == cls:  # across a dropped corner bit too
            merged[-1] = (cls, merged[-1][1], stop)
        else:
            merged.append((cls, start, stop))
    if (
        cyclic and len(merged) > 1 and merged[0][0] == merged[-1][0]
    ):  # the trace is a loop: the last run goes on into the first
        cls, start, _ = merged.pop()
        merged[0] = (cls, start, merged[0][2] + len(classes))
    return merged


def _linear_runs(classes: npt.NDArray[np.int64]) -> list[tuple[int, int, int]]:
    bounds = [0, *np.flatnonzero(np.diff(classes) != 0) + 1, len(classes)]
    return [(int(classes[a]), int(a), int(b)) for a, b in itertools.pairwise(bounds) if b > a]


def _raw_runs(classes: npt.NDArray[np.int64]) -> list[tuple[int, int, int]]:
    n = len(classes)
    changes = np.flatnonzero(classes != np.roll(classes, 1))
    if changes.size == 0:
        return [(int(classes[0]), 0, n)] if n else []
    shift = int(changes[0])
    rotated = np.roll(classes, -shift)
    bounds = [*np.flatnonzero(rotated != np.roll(rotated, 1)).tolist(), n]
    return [(int(rotated[a]), a + shift, b + shift) for a, b in itertools.pairwise(bounds)]


def build_ring(
    contour: Contour,
    region: BoolGrid,
    across: IntGrid,
    index: int,
    planes: list[Plane],
    grid: HeightGrid,
) -> Ring | None:
    points, classes = cracks(contour, region, across, grid)
    if len(points) < 8:
        return None
    pixel = max(grid.dx, grid.dy)
    sides: list[Side] = []
    n = len(points)
    for cls, start, stop in runs(classes):
        if cls == OCCLUDED:
            continue
        samples = points[np.arange(start, stop) % n]
        sides += sides_of_run(cls, samples, index, planes, pixel)
    sides = merge_collinear(sides, pixel)
    if len(sides) < 3:
        return None
    return close_ring(sides, pixel)


def sides_of_run(cls: int, samples: Points, index: int, planes: list[Plane], pixel: float) -> list[Side]:
    if cls < 0:
        across: Across = "border" if cls == BORDER else "outline"
        return [Side(across, -1, fit_line(piece), piece) for piece in straight_pieces(samples, pixel)]
    crease = intersection(planes[index], planes[cls])
    if crease is None:
        return step_sides(cls, samples, index, planes, pixel)
    # A run along one facet can be part crease and part step (a dormer meets its roof in a valley,
    # then stands on it with a wall): split it where the cracks leave the intersection line.
    on_crease = (crease.distance(samples) <= CREASE_PIXELS * pixel).astype(np.int64)
    sides: list[Side] = []
    for part, start, stop in runs(on_crease, cyclic=False):
        bit = samples[start:stop]
        sides += [Side("crease", cls, crease, bit)] if part else step_sides(cls, bit, index, planes, pixel)
    return sides


def step_sides(cls: int, samples: Points, index: int, planes: list[Plane], pixel: float) -> list[Side]:
    """The sides along a step to another facet: an outline edge from above, a wall's foot from below."""
    x, y = samples[:, 0], samples[:, 1]
    higher = float(np.median(planes[index].height(x, y) - planes[cls].height(x, y)))
    across: Across = "outline" if higher > 0 else "wall_base"
    return [Side(across, cls, fit_line(piece), piece) for piece in straight_pieces(samples, pixel)]


def intersection(first: Plane, second: Plane) -> Line | None:
    """Where two planes meet, seen from above; None when they are (nearly) parallel."""
    na, nb, nc = first.a - second.a, first.b - second.b, first.c - second.c
    norm2 = na * na + nb * nb
    if norm2 < 1e-4:  # gradients within 0.01: parallel, a step, not a crease
        return None
    normal = np.array([na, nb])
    return Line(-nc * normal / norm2, np.array([-nb, na]) / math.sqrt(norm2))


def straight_pieces(samples: Points, pixel: float) -> list[Points]:
    """The run cut at its Douglas-Peucker corners, then each cut moved to where the lines either side
    fit best (a corner's cracks belong to one side or the other, not to a piece of their own)."""
    cuts = douglas_peucker(samples, SIMPLIFY_PIXELS * pixel)
    for _ in range(REFINE_PASSES):
        lines = [fit_line(samples[a : b + 1]) for a, b in itertools.pairwise(cuts)]
        corner = next((j for j in range(1, len(lines) - 1) if at_corner(samples, cuts, lines, j, pixel)), None)
        if corner is not None:  # a piece that is only the corner between its neighbours: let them meet
            middle = (cuts[corner] + cuts[corner + 1]) // 2
            cuts = [*cuts[:corner], middle, *cuts[corner + 2 :]]
            continue
        moved = (
            [cuts[0]]
            + [best_cut(samples, cuts[i - 1], cuts[i + 1], lines[i - 1], lines[i]) for i in range(1, len(cuts) - 1)]
            + [cuts[-1]]
        )
        moved = [c for i, c in enumerate(moved) if i == 0 or c - moved[i - 1] >= MIN_RUN or i == len(moved) - 1]
        if moved == cuts:
            break
        cuts = moved
    return [samples[a : b + 1] for a, b in itertools.pairwise(cuts) if b + 1 - a >= MIN_RUN]


def at_corner(samples: Points, cuts: list[int], lines: list[Line], j: int, pixel: float) -> bool:
    piece = samples[cuts[j] : cuts[j + 1] + 1]
    nearest = np.minimum(lines[j - 1].distance(piece), lines[j + 1].distance(piece))
    return float(nearest.max()) <= pixel


def best_cut(samples: Points, first: int, last: int, before: Line, after: Line) -> int:
    """The index in (first, last) splitting the samples between two lines with the least squared
    distance."""
    span = samples[first : last + 1]
    to_before = np.cumsum(before.distance(span) ** 2)
    to_after = np.cumsum((after.distance(span) ** 2)[::-1])[::-1]
    cost = to_before[:-1] + to_after[1:]  # cut k: samples up to k on `before`, from k + 1 on `after`
    return first + int(cost.argmin())


def douglas_peucker(points: Points, tolerance: float) -> list[int]:
    keep = {0, len(points) - 1}
    stack = [(0, len(points) - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        chord = points[b] - points[a]
        length = float(np.hypot(*chord))
        rel = points[a + 1 : b] - points[a]
        if length < 1e-9:
            dist = np.hypot(rel[:, 0], rel[:, 1])
        else:
            dist = np.abs(rel[:, 0] * chord[1] - rel[:, 1] * chord[0]) / length
        far = int(dist.argmax())
        if dist[far] > tolerance:
            keep.add(a + 1 + far)
            stack += [(a, a + 1 + far), (a + 1 + far, b)]
    return sorted(keep)


def fit_line(samples: Points) -> Line:
    """Total least squares, then once more without the points far off it (a corner's stragglers)."""
    line = _tls(samples)
    dist = line.distance(samples)
    spread = 2.5 * float(np.median(dist)) + 1e-9
    close = samples[dist <= max(spread, 1e-6)]
    return _tls(close) if len(close) >= 2 else line


def _tls(samples: Points) -> Line:
    centre = samples.mean(axis=0)
    _, _, vt = np.linalg.svd(samples - centre, full_matrices=False)
    direction = vt[0] / np.hypot(*vt[0])
    if float((samples[-1] - samples[0]) @ direction) < 0:
        direction = -direction  # along the trace
    return Line(centre, direction)


def merge_collinear(sides: list[Side], pixel: float) -> list[Side]:
    """Join consecutive fitted sides that are one line (noise split it, or an occluder interrupted
    it), and consecutive creases with the same facet; cyclically."""
    changed = True
    while changed and len(sides) > 1:
        changed = False
        for i in range(len(sides)):
            a, b = sides[i], sides[(i + 1) % len(sides)]
            if a.across != b.across or a.other != b.other:
                continue
            if a.across == "crease":
                joined = Side("crease", a.other, a.line, np.vstack([a.samples, b.samples]))
            elif same_line(a, b, pixel):
                samples = np.vstack([a.samples, b.samples])
                joined = Side(a.across, a.other, fit_line(samples), samples)
            else:
                continue
            sides[i] = joined
            del sides[(i + 1) % len(sides)]
            changed = True
            break
    return sides


def same_line(a: Side, b: Side, pixel: float) -> bool:
    """Both on one line; or one is a few cracks (a corner's stragglers, whose direction means little)
    lying along the other."""
    for short, long in ((a, b), (b, a)):
        if len(short.samples) < SHORT_SIDE and len(long.samples) >= SHORT_SIDE:
            return float(np.median(long.line.distance(short.samples))) <= pixel
    cos = abs(float(a.line.direction @ b.line.direction))
    if cos < math.cos(math.radians(COLLINEAR_DEG)):
        return False
    return (
        float(np.median(a.line.distance(b.samples))) <= pixel and float(np.median(b.line.distance(a.samples))) <= pixel
    )


def close_ring(sides: list[Side], pixel: float) -> Ring | None:
    """Corners where consecutive sides meet; a side its neighbours turn inside-out is dropped."""
    for _ in range(MAX_DROP_PASSES):
        vertices = place_corners(sides, pixel)
        backwards = [i for i, side in enumerate(sides) if float((side.end - side.start) @ heading(side)) <= 0]
        if not backwards:
            return Ring(vertices, sides)
        sides = merge_collinear([s for i, s in enumerate(sides) if i not in backwards], pixel)
        if len(sides) < 3:
            return None
    return None  # it would not settle: no polygon


def heading(side: Side) -> Points:
    """The way the trace runs along the side."""
    return np.asarray(side.samples[-1] - side.samples[0], dtype=np.float64)


def place_corners(sides: list[Side], pixel: float) -> Points:
    """Set each side's start and end; the polygon's vertices in order (a jog between parallel sides
    adds two)."""
    vertices: list[Points] = []
    for i, side in enumerate(sides):
        after = sides[(i + 1) % len(sides)]
        corner = meet(side, after, pixel)
        if corner is not None:
            side.end = after.start = corner
            vertices.append(corner)
        else:
            side.end = side.line.project(side.samples[-1])
            after.start = after.line.project(after.samples[0])
            vertices += [side.end, after.start]
    return np.array(vertices, dtype=np.float64)


def meet(first: Side, second: Side, pixel: float) -> Points | None:
    """The corner where two consecutive sides' lines cross, if they are not near parallel and it lies
    about where the trace turns (an occluded gap between them may put it farther along)."""
    u, v = first.line.direction, second.line.direction
    cross = float(u[0] * v[1] - u[1] * v[0])
    if abs(cross) < PARALLEL_SIN:
        return None
    rel = second.line.point - first.line.point
    t = float(rel[0] * v[1] - rel[1] * v[0]) / cross
    corner = first.line.point + t * u
    gap = float(np.hypot(*(second.samples[0] - first.samples[-1])))
    reach = 1.5 * gap + 3.0 * pixel
    if np.hypot(*(corner - first.samples[-1])) > reach or np.hypot(*(corner - second.samples[0])) > reach:
        return None
    return corner


def trustworthy(outline: FacetOutline, region: BoolGrid, across: IntGrid, grid: HeightGrid) -> bool:
    """A simple polygon that covers the facet's cells and, beyond them, little but what was hidden."""
    rings = [outline.outer, *outline.holes] if outline.outer else []
    if any(self_intersecting(ring.vertices) for ring in rings):
        return False
    inside = rasterize(rings, region.shape, grid)
    cells = int(region.sum())
    covered = int((inside & region).sum())
    near = cv2.dilate(region.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # a crease's other side
    extra = int((inside & ~near & (across != OCCLUDED)).sum())
    return cells > 0 and covered >= (1 - MAX_AREA_DISAGREEMENT) * cells and extra <= MAX_AREA_DISAGREEMENT * cells


def rasterize(rings: list[Ring], shape: tuple[int, int], grid: HeightGrid) -> BoolGrid:
    """The cells whose centres the polygon (outer ring minus holes) covers."""
    bits = 4  # cv2.fillPoly's fixed-point fraction bits: sub-cell vertices
    image = np.zeros(shape, dtype=np.uint8)
    for value, ring in zip([1] + [0] * (len(rings) - 1), rings, strict=True):
        cols, rows = grid.col_of(ring.vertices[:, 0]), grid.row_of(ring.vertices[:, 1])
        pts = np.round(np.column_stack([cols, rows]) * (1 << bits)).astype(np.int32)
        cv2.fillPoly(image, [pts], value, lineType=cv2.LINE_8, shift=bits)
    return image.astype(bool)


def self_intersecting(poly: Points) -> bool:
    n = len(poly)
    if n < 4:
        return n < 3
    edges = [(poly[i], poly[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 2, n):
            if i == 0 and j == n - 1:
                continue  # they share the first vertex
            if segments_cross(*edges[i], *edges[j]):
                return True
    return False


def segments_cross(p1: Points, p2: Points, q1: Points, q2: Points) -> bool:
    def orient(a: Points, b: Points, c: Points) -> float:
        return float((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    return (d1 > 0) != (d2 > 0) and (d3 > 0) != (d4 > 0) and d1 * d2 < 0 and d3 * d4 < 0
