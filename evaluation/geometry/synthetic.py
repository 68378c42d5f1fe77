"""Synthetic roofs with exact ground truth: a DSM to analyse and the answers to grade it against.

A roof is a set of *parts*. A part is a convex outline (the roof as seen from above, overhang
included) and a few planes; inside it the roof is the lower envelope (min) of its planes, which gives
ridges and hips. Parts combine by max, which gives the valleys of an L and the dormers standing on a
facet. Walls are the vertical drops at the outlines; outside every outline is the ground. A chimney
(a box) and a tree (a bumpy canopy, not a plane) may stand on top, and Gaussian noise goes on last.

The truth is computed from polygons, not from pixels: each facet's region is its part's outline
clipped by the half-planes where its plane is the lowest (Sutherland-Hodgman), minus the regions of
other parts that stand higher (a difference of convex polygons, as disjoint convex pieces). Areas are
exact; edges are the boundaries between those pieces, classified by probing either side.

Coordinates follow `geometry.grid`: x east, y north, z up, with the grid's north-west corner at the
origin, so cell centres sit at x = (col + 0.5) * dx, y = -(row + 0.5) * dy. Azimuths are degrees
clockwise from north of the direction a facet faces (downslope); the building is rotated clockwise
(seen from above) by `rotation_deg` about its centre, which adds `rotation_deg` to every azimuth.

Conventions worth knowing:
- `eave_height` is the roof's height above the wall line (ground at the building's centre is 0); the
  overhang then continues each plane outward and down, so the drip edge the DSM sees is a little lower.
- A facet's `footprint_area_m2` is the full facet, as a roofer measures it (under a chimney or tree
  too); `visible_area_m2` counts only the cells where that facet is the visible surface.
- Edge kinds: ridge (horizontal convex crease), hip (sloping convex crease), valley (concave crease),
  eave (horizontal outline edge on the low side of its facet) and rake (any other outline edge: the
  sloping gable ends, and the high side of a shed or low-slope roof). Where a part stands on a lower
  facet (a dormer's front and cheeks), the upper part's boundary is an outline edge and the wall's
  base on the lower facet is no edge at all.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Literal, get_args

import cv2
import numpy as np
import numpy.typing as npt

from geometry.grid import HeightGrid

RoofType = Literal["gable", "hip", "pyramid", "shed", "flat", "cross_gable", "hip_dormers", "two_buildings"]
ROOF_TYPES: tuple[RoofType, ...] = get_args(RoofType)
EdgeKind = Literal["ridge", "hip", "valley", "eave", "rake"]
EDGE_KINDS: tuple[EdgeKind, ...] = get_args(EdgeKind)

FloatArray = npt.NDArray[np.float64]
IntGrid = npt.NDArray[np.int32]
Point3 = tuple[float, float, float]
Polygon2 = tuple[tuple[float, float], ...]

FT_PER_M = 1.0 / 0.3048
SQFT_PER_M2 = FT_PER_M**2

CHIMNEY_SIZE_M = 0.8
CHIMNEY_HEIGHT_M = 1.2
TREE_OVERHANG_M = 1.5

_EPS = 1e-9  # metres: geometric tolerance of the polygon work
_TINY_AREA = 1e-8  # m^2: pieces smaller than this are clipping slivers


# ---------------------------------------------------------------------------------------------------
# Public types


@dataclass(frozen=True)
class SceneSpec:
    """What to build. Lengths in metres, pitch as rise per 12 (ignored by the flat roof).

    `length` runs along the main ridge and `width` across it (a pyramid is `width` square). The
    cross-gable's wing is 0.75 * width wide and reaches 0.5 * length past the main wing's wall; the
    dormered hip carries two 1.6 m gable dormers on one long facet; two_buildings is a hip-roofed
    house and a 6 x 6 m gable garage 3 m east of it, at another pitch and a lower eave.
    """

    roof: RoofType = "gable"
    pitch: float = 6.0
    length: float = 12.0
    width: float = 9.0
    eave_height: float = 3.0
    overhang: float = 0.4
    rotation_deg: float = 0.0
    resolution: float = 0.25
    noise_sigma: float = 0.0
    chimney: bool = False
    tree: bool = False
    ground_slope: float = 0.0  # rise per run of the ground (0.03 = 3 %), in a direction drawn from the seed
    drainage: float = 0.25  # the flat roof's drainage slope, rise per 12 (0 = dead flat)
    margin: float = 3.0  # ground around the buildings (and the tree)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.roof not in ROOF_TYPES:
            raise ValueError(f"unknown roof type {self.roof!r}; one of {', '.join(ROOF_TYPES)}")
        checks = [
            ("pitch", self.pitch, 0.5, 24.0, self.roof != "flat"),
            ("length", self.length, 3.0, 60.0, True),
            ("width", self.width, 3.0, 40.0, True),
            ("eave_height", self.eave_height, 2.0, 30.0, True),
            ("overhang", self.overhang, 0.0, 1.0, True),
            ("resolution", self.resolution, 0.01, 2.0, True),
            ("noise_sigma", self.noise_sigma, 0.0, 0.5, True),
            ("ground_slope", self.ground_slope, 0.0, 0.15, True),
            ("drainage", self.drainage, 0.0, 1.0, True),
            ("margin", self.margin, 0.0, 50.0, True),
        ]
        for name, value, low, high, applies in checks:
            if applies and not low <= value <= high:
                raise ValueError(f"{name}={value} is outside [{low}, {high}]")

    @property
    def name(self) -> str:
        """A short readable id, e.g. for test parameters: `hip-8in12-rot37-0.25m-n2cm-chimney`."""
        pitch = f"{self.drainage:g}in12" if self.roof == "flat" else f"{self.pitch:g}in12"
        extras = "".join(f"-{flag}" for flag, on in (("chimney", self.chimney), ("tree", self.tree)) if on)
        noise = f"n{self.noise_sigma * 100:g}cm"
        return f"{self.roof}-{pitch}-rot{self.rotation_deg:.0f}-{self.resolution:g}m-{noise}{extras}"


DORMER_WIDTH_M = 1.6  # a dormer's width between its cheeks: the narrowest feature a scene holds
RoofSpec = SceneSpec  # the same thing under the other name people reach for


@dataclass(frozen=True)
class TruthFacet:
    """One roof plane, exactly. The plane is `normal . (x, y, z) = offset` in grid world coordinates."""

    id: int  # the value of `truth_labels` on its cells
    building: int  # 0 = the house; 1 = the garage of two_buildings
    name: str  # e.g. "house south", "wing east", "dormer 2 west" (sides before rotation)
    normal: Point3  # unit, z up
    offset: float
    pitch_deg: float
    pitch_rise: float  # rise per 12
    azimuth_deg: float  # direction it faces, clockwise from north; 0 when level
    footprint_area_m2: float  # the whole facet seen from above (under a chimney or tree too)
    visible_area_m2: float  # cells where this facet is the visible surface, times the cell area
    polygons: tuple[Polygon2, ...]  # the facet's region as disjoint convex pieces, world x y

    @property
    def sloped_area_m2(self) -> float:
        return self.footprint_area_m2 / math.cos(math.radians(self.pitch_deg))

    @property
    def footprint_sqft(self) -> float:
        return self.footprint_area_m2 * SQFT_PER_M2

    @property
    def area_sqft(self) -> float:
        """Sloped (true) area in square feet."""
        return self.sloped_area_m2 * SQFT_PER_M2

    @property
    def squares(self) -> float:
        return self.area_sqft / 100.0

    @property
    def feature_width_m(self) -> float | None:
        """The width of the narrow feature the facet belongs to (a dormer), if it is one."""
        return DORMER_WIDTH_M if self.name.startswith("dormer") else None

    def height_at(self, x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
        nx, ny, nz = self.normal
        return (self.offset - nx * np.asarray(x, dtype=np.float64) - ny * np.asarray(y, dtype=np.float64)) / nz


@dataclass(frozen=True)
class TruthEdge:
    """A roof line in 3-D between two facets (ids), or between a facet and the outline (-1)."""

    kind: EdgeKind
    start: Point3
    end: Point3
    facets: tuple[int, int]

    @property
    def length_m(self) -> float:
        return math.dist(self.start, self.end)

    @property
    def length_ft(self) -> float:
        return self.length_m * FT_PER_M


@dataclass(frozen=True)
class Scene:
    spec: SceneSpec
    grid: HeightGrid  # the DSM (noise included)
    truth_labels: IntGrid  # facet id of the visible roof plane at each cell centre; -1 elsewhere
    roof_mask: npt.NDArray[np.bool_]  # cells inside any roof outline (under a chimney or tree too)
    facets: list[TruthFacet]
    edges: list[TruthEdge]
    outline_area_m2: float  # area of the union of the roof outlines, from the outlines alone

    def edge_lengths_m(self) -> dict[EdgeKind, float]:
        """Total length per edge kind, every kind present (0.0 when there is none)."""
        totals = dict.fromkeys(EDGE_KINDS, 0.0)
        for edge in self.edges:
            totals[edge.kind] += edge.length_m
        return totals

    def edges_of(self, kind: EdgeKind) -> list[TruthEdge]:
        return [edge for edge in self.edges if edge.kind == kind]


# ---------------------------------------------------------------------------------------------------
# Planes, parts and convex polygons (private)


@dataclass(frozen=True)
class _Plane:
    """z = gx * x + gy * y + c."""

    gx: float
    gy: float
    c: float

    def at(self, x: FloatArray, y: FloatArray) -> FloatArray:
        return self.gx * x + self.gy * y + self.c

    def z(self, x: float, y: float) -> float:
        return float(self.gx * x + self.gy * y + self.c)


@dataclass(frozen=True)
class _Part:
    outline: FloatArray  # (k, 2), convex, counter-clockwise
    planes: tuple[_Plane, ...]
    names: tuple[str, ...]
    building: int


_HalfPlane = tuple[float, float, float]  # a * x + b * y <= c


def _area(poly: FloatArray) -> float:
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _tidy(points: list[FloatArray]) -> FloatArray:
    """Drop repeated vertices; an empty array when nothing with area is left."""
    kept: list[FloatArray] = []
    for p in points:
        if not kept or np.hypot(*(p - kept[-1])) > _EPS:
            kept.append(p)
    while len(kept) > 1 and np.hypot(*(kept[0] - kept[-1])) <= _EPS:
        kept.pop()
    poly = np.array(kept, dtype=np.float64).reshape(-1, 2)
    return poly if abs(_area(poly)) > _TINY_AREA else np.empty((0, 2))


def _clip(poly: FloatArray, half: _HalfPlane) -> FloatArray:
    """Sutherland-Hodgman: the part of a convex polygon where a * x + b * y <= c."""
    a, b, c = half
    norm = math.hypot(a, b)
    if len(poly) == 0:
        return poly
    if norm < 1e-12:  # the constraint is constant over the plane: all or nothing
        return poly if c >= -_EPS else np.empty((0, 2))
    values = (poly @ np.array([a, b]) - c) / norm
    out: list[FloatArray] = []
    for i in range(len(poly)):
        p, q, vp, vq = poly[i - 1], poly[i], values[i - 1], values[i]
        if (vp <= _EPS) != (vq <= _EPS):
            out.append(p + (vp / (vp - vq)) * (q - p))
        if vq <= _EPS:
            out.append(q)
    return _tidy(out)


def _half_planes(poly: FloatArray) -> list[_HalfPlane]:
    """The half-planes whose intersection is a convex counter-clockwise polygon."""
    halves: list[_HalfPlane] = []
    for p, q in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        a, b = float(q[1] - p[1]), float(p[0] - q[0])
        halves.append((a, b, a * float(p[0]) + b * float(p[1])))
    return halves


def _subtract(piece: FloatArray, hole: FloatArray) -> list[FloatArray]:
    """piece minus hole (both convex) as disjoint convex pieces."""
    out: list[FloatArray] = []
    rest = piece
    for a, b, c in _half_planes(hole):
        outside = _clip(rest, (-a, -b, -c))
        if len(outside):
            out.append(outside)
        rest = _clip(rest, (a, b, c))
        if not len(rest):
            break
    return out


def _lower_region(part: _Part, index: int) -> FloatArray:
    """Where plane `index` is the lowest of its part's planes, inside the part's outline."""
    region = part.outline
    own = part.planes[index]
    for other in part.planes[:index] + part.planes[index + 1 :]:
        region = _clip(region, (own.gx - other.gx, own.gy - other.gy, other.c - own.c))
    return region


def _inside(poly: FloatArray, x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
    mask = np.ones(x.shape, dtype=bool)
    for a, b, c in _half_planes(poly):
        mask &= a * x + b * y <= c
    return mask


# ---------------------------------------------------------------------------------------------------
# Roof builders: each returns parts in a local frame (x along the main ridge, y across it, metres)


def _rect(x0: float, y0: float, x1: float, y1: float) -> FloatArray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


_SIDES = {"S": (0.0, 1.0, "south"), "N": (0.0, -1.0, "north"), "W": (1.0, 0.0, "west"), "E": (-1.0, 0.0, "east")}


def _rect_roof(
    walls: tuple[float, float, float, float],
    outline: tuple[float, float, float, float],
    *,
    eave: float,
    slope: float,
    sides: str,
    building: int,
    name: str,
) -> _Part:
    """A rectangle whose planes rise at `slope` (tan) from the named wall lines, `eave` high there.

    sides "SN" is a gable with its ridge along x, "WE" one along y, "SNWE" a hip, "S" a shed.
    """
    x0, y0, x1, y1 = walls
    wall_at = {"S": (x0, y0), "N": (x0, y1), "W": (x0, y0), "E": (x1, y0)}
    planes: list[_Plane] = []
    names: list[str] = []
    for side in sides:
        ux, uy, label = _SIDES[side]
        px, py = wall_at[side]
        gx, gy = slope * ux, slope * uy
        planes.append(_Plane(gx, gy, eave - gx * px - gy * py))
        names.append(f"{name} {label}")
    return _Part(_rect(*outline), tuple(planes), tuple(names), building)


def _house(spec: SceneSpec, sides: str, *, slope: float | None = None, name: str = "house") -> _Part:
    half_l, half_w, o = spec.length / 2, spec.width / 2, spec.overhang
    return _rect_roof(
        (-half_l, -half_w, half_l, half_w),
        (-half_l - o, -half_w - o, half_l + o, half_w + o),
        eave=spec.eave_height,
        slope=spec.pitch / 12 if slope is None else slope,
        sides=sides,
        building=0,
        name=name,
    )


def _gable(spec: SceneSpec) -> list[_Part]:
    return [_house(spec, "SN")]


def _hip(spec: SceneSpec) -> list[_Part]:
    return [_house(spec, "SNWE")]


def _pyramid(spec: SceneSpec) -> list[_Part]:
    side = spec.width
    o = spec.overhang
    return [
        _rect_roof(
            (-side / 2, -side / 2, side / 2, side / 2),
            (-side / 2 - o, -side / 2 - o, side / 2 + o, side / 2 + o),
            eave=spec.eave_height,
            slope=spec.pitch / 12,
            sides="SNWE",
            building=0,
            name="house",
        )
    ]


def _shed(spec: SceneSpec) -> list[_Part]:
    return [_house(spec, "S")]


def _flat(spec: SceneSpec) -> list[_Part]:
    return [_house(spec, "S", slope=spec.drainage / 12)]


def _cross_gable(spec: SceneSpec) -> list[_Part]:
    """An L: the main gable, and a narrower wing at its west end running north.

    The wing's part starts at the main ridge line, so the wing only shows where it stands higher than
    the main wing's north facet: two valleys, one from the inner corner, one from the west wall line.
    """
    main = _house(spec, "SN")
    half_l, half_w, o = spec.length / 2, spec.width / 2, spec.overhang
    wing_w, reach = 0.75 * spec.width, 0.5 * spec.length
    x0, x1, y1 = -half_l, -half_l + wing_w, half_w + reach
    wing = _rect_roof(
        (x0, 0.0, x1, y1),
        (x0 - o, 0.0, x1 + o, y1 + o),
        eave=spec.eave_height,
        slope=spec.pitch / 12,
        sides="WE",
        building=0,
        name="wing",
    )
    return [main, wing]


def _hip_dormers(spec: SceneSpec) -> list[_Part]:
    """A hip roof with two gable dormers on its south facet.

    Each dormer is 1.6 m between its cheeks (plus 0.2 m overhang), its front wall 0.5 m behind the
    house's wall line, its eave 0.6 m above the facet at that front and its pitch the house's. Its part
    ends where its ridge runs into the facet, so the dormer meets the facet in two valleys.
    """
    house = _house(spec, "SNWE")
    slope = spec.pitch / 12
    half_w = spec.width / 2
    half_dormer, dormer_o, setback, cheek = DORMER_WIDTH_M / 2, 0.2, 0.5, 0.6
    front = -half_w + setback
    eave = spec.eave_height + slope * setback + cheek
    back = front + cheek / slope + half_dormer  # where the dormer ridge meets the facet
    outer = half_dormer + dormer_o
    parts = [house]
    south_facet = _lower_region(house, 0)
    for number, xc in enumerate((-(outer + 0.5), outer + 0.5), start=1):
        dormer = _rect_roof(
            (xc - half_dormer, front, xc + half_dormer, back),
            (xc - outer, front, xc + outer, back),
            eave=eave,
            slope=slope,
            sides="WE",
            building=0,
            name=f"dormer {number}",
        )
        fits = _area(_clip_all(dormer.outline, _half_planes(south_facet)))
        if abs(fits - _area(dormer.outline)) > 1e-6:
            raise ValueError(
                f"hip_dormers: the dormers do not fit on a {spec.length:g} x {spec.width:g} m house's facet at "
                f"{spec.pitch:g}/12; use a steeper pitch or a longer house"
            )
        parts.append(dormer)
    return parts


def _two_buildings(spec: SceneSpec) -> list[_Part]:
    """A hip-roofed house and a detached 6 x 6 m gable garage 3 m east, ridge running north-south."""
    house = _house(spec, "SNWE")
    half_l, half_w = spec.length / 2, spec.width / 2
    garage_pitch = 4.0 if spec.pitch >= 6 else spec.pitch + 4
    x0, y0, size, o = half_l + 3.0, -half_w, 6.0, 0.3
    garage = _rect_roof(
        (x0, y0, x0 + size, y0 + size),
        (x0 - o, y0 - o, x0 + size + o, y0 + size + o),
        eave=max(2.2, spec.eave_height - 0.8),
        slope=garage_pitch / 12,
        sides="WE",
        building=1,
        name="garage",
    )
    return [house, garage]


_BUILDERS = {
    "gable": _gable,
    "hip": _hip,
    "pyramid": _pyramid,
    "shed": _shed,
    "flat": _flat,
    "cross_gable": _cross_gable,
    "hip_dormers": _hip_dormers,
    "two_buildings": _two_buildings,
}


def _clip_all(poly: FloatArray, halves: list[_HalfPlane]) -> FloatArray:
    for half in halves:
        poly = _clip(poly, half)
    return poly


# ---------------------------------------------------------------------------------------------------
# Placing: rotate the layout clockwise about its centre


def _rotation(degrees: float) -> FloatArray:
    """Clockwise (seen from above) in x-east / y-north coordinates: north turns towards east."""
    t = math.radians(degrees)
    c, s = round(math.cos(t), 15), round(math.sin(t), 15)  # quarter turns come out exact
    return np.array([[c, s], [-s, c]])


def _place(parts: list[_Part], degrees: float) -> list[_Part]:
    """Parts in a frame centred on the layout's bounding box and rotated by `degrees`."""
    corners = np.vstack([part.outline for part in parts])
    centre = (corners.min(axis=0) + corners.max(axis=0)) / 2
    rot = _rotation(degrees)
    placed: list[_Part] = []
    for part in parts:
        outline = (part.outline - centre) @ rot.T
        planes = []
        for plane in part.planes:
            g = rot @ np.array([plane.gx, plane.gy])
            planes.append(_Plane(float(g[0]), float(g[1]), plane.c + plane.gx * centre[0] + plane.gy * centre[1]))
        placed.append(_Part(outline, tuple(planes), part.names, part.building))
    return placed


# ---------------------------------------------------------------------------------------------------
# Rasterising the roofs, and the exact facet regions


def _roof_surface(parts: list[_Part], x: FloatArray, y: FloatArray) -> tuple[FloatArray, IntGrid]:
    """Height of the roofs and the (global) plane index at each point; -inf and -1 outside them."""
    best = np.full(x.shape, -np.inf)
    label = np.full(x.shape, -1, dtype=np.int32)
    first = 0
    for part in parts:
        heights = np.stack([plane.at(x, y) for plane in part.planes])
        low = heights.min(axis=0)
        wins = _inside(part.outline, x, y) & (low > best)
        best = np.where(wins, low, best)
        label = np.where(wins, first + heights.argmin(axis=0).astype(np.int32), label)
        first += len(part.planes)
    return best, label


def _visible_pieces(parts: list[_Part]) -> list[tuple[int, int, list[FloatArray]]]:
    """(part index, plane index, convex pieces) for every plane: where it is the visible roof."""
    regions = [[_lower_region(part, i) for i in range(len(part.planes))] for part in parts]
    result: list[tuple[int, int, list[FloatArray]]] = []
    for p, part in enumerate(parts):
        for i, own in enumerate(part.planes):
            pieces = [regions[p][i]] if len(regions[p][i]) else []
            for q, other in enumerate(parts):
                if q == p:
                    continue
                for j, higher in enumerate(other.planes):
                    # where the other part's plane j is its surface and stands above ours
                    hole = _clip(regions[q][j], (own.gx - higher.gx, own.gy - higher.gy, higher.c - own.c))
                    if len(hole):
                        pieces = [rest for piece in pieces for rest in _subtract(piece, hole)]
            result.append((p, i, pieces))
    return result


def _union_area(polys: list[FloatArray]) -> float:
    total = 0.0
    for k, poly in enumerate(polys):
        pieces = [poly]
        for earlier in polys[:k]:
            pieces = [rest for piece in pieces for rest in _subtract(piece, earlier)]
        total += sum(_area(piece) for piece in pieces)
    return total


# ---------------------------------------------------------------------------------------------------
# Edges: split every piece boundary at every vertex lying on it, then look across each bit


@dataclass(frozen=True)
class _Facet:
    """A facet in the placed frame while the scene is being built."""

    plane: _Plane
    pieces: list[FloatArray]
    building: int
    name: str


@dataclass(frozen=True)
class _Segment:
    kind: EdgeKind
    facets: tuple[int, int]
    a: FloatArray
    b: FloatArray


def _edges(parts: list[_Part], facets: list[_Facet], label_to_facet: dict[int, int]) -> list[_Segment]:
    vertices = np.vstack([piece for facet in facets for piece in facet.pieces])
    found: list[_Segment] = []
    for f, facet in enumerate(facets):
        for piece in facet.pieces:
            for p, q in zip(piece, np.roll(piece, -1, axis=0), strict=True):
                for a, b in _split(p, q, vertices):
                    segment = _classify(parts, facets, label_to_facet, f, a, b)
                    if segment is not None:
                        found.append(segment)
    return _merge(found)


def _split(p: FloatArray, q: FloatArray, vertices: FloatArray) -> list[tuple[FloatArray, FloatArray]]:
    d = q - p
    length = float(np.hypot(*d))
    if length <= _EPS:
        return []
    u = d / length
    rel = vertices - p
    along = rel @ u
    off = np.abs(rel[:, 0] * u[1] - rel[:, 1] * u[0])
    cuts = np.unique(np.concatenate([[0.0, length], along[(off < 1e-7) & (along > 0) & (along < length)]]))
    return [(p + t0 * u, p + t1 * u) for t0, t1 in itertools.pairwise(cuts) if t1 - t0 > 1e-7]


def _classify(
    parts: list[_Part], facets: list[_Facet], label_to_facet: dict[int, int], f: int, a: FloatArray, b: FloatArray
) -> _Segment | None:
    """What lies across the boundary bit a-b of facet f (its pieces run counter-clockwise)."""
    own = facets[f].plane
    d = b - a
    outward = np.array([d[1], -d[0]]) / np.hypot(*d)
    mid = (a + b) / 2
    probes = np.array([mid + 1e-5 * outward, mid - 1e-5 * outward])
    _, labels = _roof_surface(parts, probes[:, 0], probes[:, 1])
    across = label_to_facet.get(int(labels[0]), -1)
    if across == f:
        return None  # an internal cut between two pieces of the same facet
    horizontal = abs(own.z(*a) - own.z(*b)) <= 1e-6 * float(np.hypot(*d))
    if across >= 0:
        other = facets[across].plane
        if all(abs(own.z(*p) - other.z(*p)) <= 1e-6 for p in (a, b)):
            if across < f:
                return None  # a crease is recorded once, from its lower id
            convex = other.z(*probes[1]) > own.z(*probes[1])
            kind: EdgeKind = ("ridge" if horizontal else "hip") if convex else "valley"
            return _Segment(kind, (f, across), a, b)
        if other.z(*mid) > own.z(*mid):
            return None  # the foot of a wall standing on this facet (a dormer's front or cheek)
    uphill_outward = own.gx * outward[0] + own.gy * outward[1] > 1e-12
    kind = "eave" if horizontal and not uphill_outward else "rake"
    return _Segment(kind, (f, -1), a, b)


def _merge(segments: list[_Segment]) -> list[_Segment]:
    """Join collinear, touching bits of the same kind between the same facets."""
    merged: list[_Segment] = []
    pending = list(segments)
    while pending:
        seg = pending.pop()
        joined = True
        while joined:
            joined = False
            for k, other in enumerate(pending):
                if other.kind == seg.kind and other.facets == seg.facets and _collinear_touching(seg, other):
                    seg = _hull(seg, other)
                    pending.pop(k)
                    joined = True
                    break
        merged.append(seg)
    return merged


def _collinear_touching(s: _Segment, t: _Segment) -> bool:
    d = s.b - s.a
    u = d / np.hypot(*d)
    rel = np.array([t.a - s.a, t.b - s.a])
    if np.any(np.abs(rel[:, 0] * u[1] - rel[:, 1] * u[0]) > 1e-6):
        return False
    lo, hi = sorted(rel @ u)
    return bool(lo <= float(np.hypot(*d)) + 1e-6 and hi >= -1e-6)


def _hull(s: _Segment, t: _Segment) -> _Segment:
    points = np.array([s.a, s.b, t.a, t.b])
    u = (s.b - s.a) / np.hypot(*(s.b - s.a))
    along = (points - s.a) @ u
    return _Segment(s.kind, s.facets, points[int(along.argmin())], points[int(along.argmax())])


# ---------------------------------------------------------------------------------------------------
# Chimney and tree


@dataclass(frozen=True)
class _Chimney:
    outline: FloatArray
    top: float


def _place_chimney(facets: list[_Facet], degrees: float) -> _Chimney:
    """On the house's largest facet that has room for it, at its largest piece's centroid."""
    rot = _rotation(degrees)
    square = (_rect(-0.5, -0.5, 0.5, 0.5) * CHIMNEY_SIZE_M) @ rot.T
    candidates = sorted(
        (piece for facet in facets if facet.building == 0 for piece in facet.pieces), key=_area, reverse=True
    )
    for piece in candidates:
        centre = _centroid(piece)
        outline = square + centre
        # it fits if clipping it by the piece's edges pulled in by 5 cm takes nothing away
        pulled_in = [(a, b, c - 0.05 * math.hypot(a, b)) for a, b, c in _half_planes(piece)]
        if abs(_area(_clip_all(outline, pulled_in)) - _area(outline)) < 1e-9:
            owner = next(facet for facet in facets if any(p is piece for p in facet.pieces))
            return _Chimney(outline, owner.plane.z(*centre) + CHIMNEY_HEIGHT_M)
    raise ValueError("no facet has room for a chimney")


def _centroid(poly: FloatArray) -> FloatArray:
    x, y = poly[:, 0], poly[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = float(cross.sum()) / 2
    moments = [float(((x + np.roll(x, -1)) * cross).sum()), float(((y + np.roll(y, -1)) * cross).sum())]
    return np.array(moments) / (6 * area)


def _blob_sum(blobs: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """Sum of Gaussian blobs, rows of (x, y, sigma, weight), at the points."""
    total = np.zeros(x.shape)
    for bx, by, sigma, weight in blobs:
        total += weight * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * sigma**2))
    return total


_CROWN_EDGE = 0.3  # fraction of the blob sum's peak where the crown ends


@dataclass(frozen=True)
class _Tree:
    """A canopy: a sum of Gaussian blobs thresholded to an irregular crown ~4 m across, with bumps."""

    blobs: FloatArray  # (k, 4): x, y, sigma, weight; shape the crown
    peak: float  # the blob sum's maximum
    rim: float  # height at the crown's edge
    top: float  # height where the blob sum peaks
    bumps: FloatArray  # (m, 4): x, y, sigma, amplitude (+-); roughen the top
    lo: FloatArray  # bounding box of the crown
    hi: FloatArray

    def height(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        level = _blob_sum(self.blobs, x, y) / self.peak
        crown = level >= _CROWN_EDGE
        shape = np.sqrt(np.clip((level - _CROWN_EDGE) / (1 - _CROWN_EDGE), 0.0, 1.0))
        z = self.rim + (self.top - self.rim) * shape + _blob_sum(self.bumps, x, y)
        return z, crown


def _place_tree(facets: list[_Facet], edges: list[_Segment], rng: np.random.Generator) -> _Tree:
    """Over one of the house's longer eaves, reaching TREE_OVERHANG_M in, 2-4 m above the eave."""
    eaves = [e for e in edges if e.kind == "eave" and facets[e.facets[0]].building == 0]
    longest = max(float(np.hypot(*(e.b - e.a))) for e in eaves)
    choices = [e for e in eaves if np.hypot(*(e.b - e.a)) >= 0.6 * longest]
    eave = choices[int(rng.integers(len(choices)))]
    plane = facets[eave.facets[0]].plane
    slope = math.hypot(plane.gx, plane.gy)
    d = eave.b - eave.a
    outward = np.array([d[1], -d[0]]) / np.hypot(*d)

    k = int(rng.integers(5, 9))
    blobs = np.column_stack([rng.normal(0.0, 0.6, (k, 2)), rng.uniform(0.7, 1.0, k), rng.uniform(0.6, 1.0, k)])
    # find the crown's extent on a fine local grid, then slide it so it reaches exactly the overhang
    ticks = np.arange(-4.0, 4.0, 0.02)
    gx, gy = np.meshgrid(ticks, ticks)
    density = _blob_sum(blobs, gx, gy)
    peak = float(density.max())
    crown = density >= _CROWN_EDGE * peak
    reach = float((-(gx * outward[0] + gy * outward[1]))[crown].max())
    anchor = eave.a + rng.uniform(0.3, 0.7) * d + (reach - TREE_OVERHANG_M) * outward
    eave_z = plane.z(*eave.a)
    rim = eave_z + TREE_OVERHANG_M * slope + 0.6  # above the roof it overhangs
    top = max(eave_z + float(rng.uniform(2.0, 4.0)), rim + 0.8)
    m = int(rng.integers(4, 7))
    bumps = np.column_stack(
        [rng.normal(0.0, 1.0, (m, 2)) + anchor, rng.uniform(0.3, 0.6, m), rng.uniform(-0.3, 0.3, m)]
    )
    blobs[:, :2] += anchor
    points = np.column_stack([gx[crown], gy[crown]]) + anchor
    return _Tree(blobs, peak, rim, top, bumps, points.min(axis=0), points.max(axis=0))


# ---------------------------------------------------------------------------------------------------
# The scene


def build_scene(spec: SceneSpec, rng: np.random.Generator | None = None) -> Scene:
    """Build, rasterise and measure one scene. Reproducible from `spec.seed` unless `rng` is given."""
    if rng is None:
        layout_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(2))
    else:
        layout_rng = noise_rng = rng

    parts = _place(_BUILDERS[spec.roof](spec), spec.rotation_deg)
    facets, label_to_facet = _facets(parts)
    segments = _edges(parts, facets, label_to_facet)
    chimney = _place_chimney(facets, spec.rotation_deg) if spec.chimney else None
    tree = _place_tree(facets, segments, layout_rng) if spec.tree else None
    angle = layout_rng.uniform(0.0, 2 * math.pi)
    downhill = np.array([math.sin(angle), math.cos(angle)])

    # the grid: a margin around the outlines and the crown; its north-west corner is the world origin
    boxes = [part.outline for part in parts] + ([np.array([tree.lo, tree.hi])] if tree else [])
    lo, hi = np.vstack(boxes).min(axis=0) - spec.margin, np.vstack(boxes).max(axis=0) + spec.margin
    cols, rows = (int(n) for n in np.ceil((hi - lo) / spec.resolution))
    shift = np.array([-lo[0], -hi[1]])  # placed frame + shift = world
    grid0 = HeightGrid(np.zeros((rows, cols)), spec.resolution, spec.resolution)
    wx, wy = grid0.xy()
    x, y = wx - shift[0], wy - shift[1]

    z = -spec.ground_slope * (downhill[0] * x + downhill[1] * y)
    roof_z, plane_label = _roof_surface(parts, x, y)
    roof = plane_label >= 0
    z = np.where(roof, roof_z, z)
    lookup = np.full(sum(len(p.planes) for p in parts) + 1, -1, dtype=np.int32)
    for plane_index, facet_id in label_to_facet.items():
        lookup[plane_index] = facet_id
    labels = lookup[plane_label]  # -1 indexes the trailing -1
    if chimney is not None:
        stack = _inside(chimney.outline, x, y)
        z = np.where(stack, chimney.top, z)
        labels[stack] = -1
    if tree is not None:
        canopy, crown = tree.height(x, y)
        above = crown & (canopy > z)
        z = np.where(above, canopy, z)
        labels[above] = -1
    if spec.noise_sigma > 0:
        z = z + noise_rng.normal(0.0, spec.noise_sigma, z.shape)

    grid = HeightGrid(z, spec.resolution, spec.resolution)
    truth = [_truth_facet(k, facet, shift, labels, grid.cell_area) for k, facet in enumerate(facets)]
    return Scene(
        spec=spec,
        grid=grid,
        truth_labels=labels,
        roof_mask=roof,
        facets=truth,
        edges=sorted(
            (_truth_edge(segment, facets, shift) for segment in segments),
            key=lambda edge: (EDGE_KINDS.index(edge.kind), edge.facets, edge.start),
        ),
        outline_area_m2=_union_area([part.outline for part in parts]),
    )


def _facets(parts: list[_Part]) -> tuple[list[_Facet], dict[int, int]]:
    """The planes that show anywhere, in part order, and the map from global plane index to facet id."""
    facets: list[_Facet] = []
    label_to_facet: dict[int, int] = {}
    offsets = np.cumsum([0] + [len(part.planes) for part in parts])
    for p, i, pieces in _visible_pieces(parts):
        if pieces:
            label_to_facet[int(offsets[p]) + i] = len(facets)
            part = parts[p]
            facets.append(_Facet(part.planes[i], pieces, part.building, part.names[i]))
    return facets, label_to_facet


def _truth_facet(k: int, facet: _Facet, shift: FloatArray, labels: IntGrid, cell_area: float) -> TruthFacet:
    gx, gy = facet.plane.gx, facet.plane.gy
    c = facet.plane.c - gx * shift[0] - gy * shift[1]  # the plane in world coordinates
    norm = math.sqrt(gx * gx + gy * gy + 1.0)
    normal = (-gx / norm, -gy / norm, 1.0 / norm)
    slope = math.hypot(gx, gy)
    azimuth = math.degrees(math.atan2(-gx, -gy)) % 360.0 if slope > 0 else 0.0
    azimuth = 0.0 if azimuth > 360.0 - 1e-9 else azimuth  # -1e-15 % 360 is 360
    polygons = tuple(tuple((float(px), float(py)) for px, py in piece + shift) for piece in facet.pieces)
    return TruthFacet(
        id=k,
        building=facet.building,
        name=facet.name,
        normal=normal,
        offset=c / norm,
        pitch_deg=math.degrees(math.atan(slope)),
        pitch_rise=12.0 * slope,
        azimuth_deg=azimuth,
        footprint_area_m2=sum(_area(piece) for piece in facet.pieces),
        visible_area_m2=float(np.count_nonzero(labels == k)) * cell_area,
        polygons=polygons,
    )


def _truth_edge(segment: _Segment, facets: list[_Facet], shift: FloatArray) -> TruthEdge:
    plane = facets[segment.facets[0]].plane

    def point(p: FloatArray) -> Point3:
        return (float(p[0] + shift[0]), float(p[1] + shift[1]), plane.z(float(p[0]), float(p[1])))

    return TruthEdge(segment.kind, point(segment.a), point(segment.b), segment.facets)


# ---------------------------------------------------------------------------------------------------
# The acceptance set

_STANDARD_PLAN: tuple[tuple[RoofType, tuple[float, ...]], ...] = (
    ("gable", (2, 4, 6, 9, 12, 14)),
    ("hip", (3, 5, 8, 10, 14)),
    ("pyramid", (4, 7, 12)),
    ("shed", (2, 3, 5, 8)),
    ("flat", (0.125, 0.25, 0.5)),  # drainage, rise per 12
    ("cross_gable", (4, 6, 9, 12)),
    ("hip_dormers", (5, 8, 12)),
    ("two_buildings", (4, 7, 10, 14)),
)
_RESOLUTIONS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
_NOISES = (0.0, 0.02, 0.05, 0.08, 0.03, 0.0, 0.04, 0.06)


def standard_set(seed: int = 0) -> list[SceneSpec]:
    """The synthetic acceptance set of issue 4: 32 scenes, every roof type, pitches 2/12 to 14/12.

    Resolutions cycle 0.1-0.5 m and noise 0-8 cm; rotations are drawn from the seed (one in eight is
    0 degrees, grid-aligned); every third scene has a chimney, every fifth a tree, every fourth sloping
    ground. Houses are 7-10 m wide and 1.5-5.5 m longer than wide (so every hip has a ridge), eaves
    3-7 m, overhangs 0.3-0.5 m; margins 3 m. Scene i has seed `seed * 1000 + i`.
    """
    rng = np.random.default_rng(seed)
    specs: list[SceneSpec] = []
    for roof, values in _STANDARD_PLAN:
        for value in values:
            i = len(specs)
            flat = roof == "flat"
            dormers = roof == "hip_dormers"
            rotation = float(rng.uniform(0.0, 360.0))
            width = float(rng.uniform(8.0, 9.5) if dormers else rng.uniform(7.0, 10.0))
            length = width + float(rng.uniform(3.0, 5.0) if dormers else rng.uniform(1.5, 5.5))
            specs.append(
                SceneSpec(
                    roof=roof,
                    pitch=0.0 if flat else value,
                    drainage=value if flat else 0.25,
                    length=round(length, 2),
                    width=round(width, 2),
                    eave_height=round(float(rng.uniform(3.0, 7.0)), 2),
                    overhang=round(float(rng.uniform(0.3, 0.5)), 2),
                    rotation_deg=0.0 if i % 8 == 0 else round(rotation, 1),
                    resolution=_RESOLUTIONS[i % len(_RESOLUTIONS)],
                    noise_sigma=_NOISES[i % len(_NOISES)],
                    chimney=i % 3 == 1,
                    tree=i % 5 == 2,
                    ground_slope=0.03 if i % 4 == 3 else 0.0,
                    seed=seed * 1000 + i,
                )
            )
    return specs


SAMPLED_SURFACE_M = 0.025  # the render a resampled scene's source samples read


def resampled_scene(
    spec: SceneSpec,
    source: float,
    fine: float,
    *,
    kind: str = "nearest",
    turn_deg: float = 0.0,
    shift: tuple[float, float] = (0.0, 0.0),
    seed: int = 0,
) -> Scene:
    """The scene as a DSM of `source` metre samples resampled onto a `fine` grid, as published DSMs
    cut finer than their LiDAR are: `nearest` makes a staircase of flat blocks, `bilinear` facets
    between the samples. The source lattice may be turned by `turn_deg` against the fine grid (a
    reprojected file) and shifted by `shift` source cells. Each source sample is the true surface
    at its point plus the spec's noise (one draw per sample); the truth is the scene's at the fine grid."""
    truth = build_scene(replace(spec, resolution=fine, noise_sigma=0.0))
    rows, cols = truth.grid.shape
    step = source / fine  # fine cells per source cell
    turn = math.radians(turn_deg)
    along = np.array([math.cos(turn), math.sin(turn)]) * step  # (col, row) of one source column on
    down = np.array([-math.sin(turn), math.cos(turn)]) * step
    origin = np.array([cols / 2, rows / 2]) + shift[0] * along + shift[1] * down
    matrix = np.column_stack([along, down])
    corners = np.array([[0, 0], [cols, 0], [0, rows], [cols, rows]], dtype=np.float64) - origin
    uv = np.linalg.solve(matrix, corners.T).T
    lo, hi = np.floor(uv.min(axis=0)) - 2, np.ceil(uv.max(axis=0)) + 2
    nodes_u, nodes_v = np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1))
    at = origin[:, None, None] + np.tensordot(matrix, np.stack([nodes_u, nodes_v]), axes=1)
    # The samples read a render far finer than either grid, so an eave's sample is the roof or the
    # ground, as a LiDAR return is, not a blend the fine grid's own cells would make.
    exact = build_scene(replace(spec, resolution=SAMPLED_SURFACE_M, noise_sigma=0.0)).grid.z
    z_true = np.nan_to_num(exact, nan=float(np.nanmin(exact)))
    at = (at + 0.5) * fine / SAMPLED_SURFACE_M - 0.5  # fine cells to the render's
    samples = cv2.remap(
        z_true.astype(np.float32),
        at[0].astype(np.float32),
        at[1].astype(np.float32),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    ).astype(np.float64)
    if spec.noise_sigma > 0:
        samples += np.random.default_rng(seed).normal(0.0, spec.noise_sigma, samples.shape)
    cc, rr = np.meshgrid(np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64))
    u, v = np.linalg.solve(matrix, np.stack([cc.ravel() - origin[0], rr.ravel() - origin[1]]))
    u, v = (u - lo[0]).reshape(rows, cols), (v - lo[1]).reshape(rows, cols)
    how = cv2.INTER_NEAREST if kind == "nearest" else cv2.INTER_LINEAR
    if kind == "nearest":  # the sample whose cell holds the centre (a tie goes up, never half to even)
        u, v = np.floor(u + 0.5), np.floor(v + 0.5)
    z = cv2.remap(samples.astype(np.float32), u.astype(np.float32), v.astype(np.float32), how)
    return replace(truth, spec=replace(spec, resolution=fine), grid=HeightGrid(z.astype(np.float64), fine, fine))


def build_standard_set(seed: int = 0) -> list[Scene]:
    return [build_scene(spec) for spec in standard_set(seed)]
