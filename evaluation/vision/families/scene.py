"""The house in 3-D and the ray cast that finds, per pixel, the surface the camera sees.

A gable roof: the front slope (the one photographed; its eave along X at `eave_in`, rising towards
+Y at the pitch), the back slope beyond the ridge, the fascia with its drip edge, a gutter hung in
front of the eave, the soffit and the wall under the overhang, gable walls at the house's ends, the
ground, tree canopies (a leafy layer at one height, which both hides what is under it from the
camera and shades the roof), and objects standing on the front slope (box vents, pipe boots, a
chimney, the side wall of a dormer). Everything else is sky.

The cast returns what a shader needs: each pixel's surface label, its depth and its coordinates on
that surface (roof: u along the eave and s up the slope, inches).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from evaluation.vision.families.geometry import (
    F32,
    FAR,
    Camera,
    Frame,
    Rays,
    Vec,
    box_corners,
    box_hit,
    cylinder_hit,
    plane_hit,
    project_bounds,
    roof_frame,
)
from evaluation.vision.families.noise import fbm

I8 = npt.NDArray[np.int8]
U8 = npt.NDArray[np.uint8]


class Surface(IntEnum):
    """What a pixel shows. The first group is off the roof; the second is the roof."""

    SKY = 0
    GROUND = 1
    WALL = 2
    SOFFIT = 3
    FASCIA = 4
    GUTTER = 5
    TREE = 6
    CHIMNEY = 7
    SHINGLES = 10  # the front slope's field of shingles
    BACK_SLOPE = 11
    RIDGE_CAP = 12
    FLASHING = 13  # valley metal, step flashing, chimney flashing
    VENT = 14  # box vents and pipe boots with their bases
    DRIP_EDGE = 15


ROOF_SURFACES: tuple[Surface, ...] = (
    Surface.SHINGLES,
    Surface.BACK_SLOPE,
    Surface.RIDGE_CAP,
    Surface.FLASHING,
    Surface.VENT,
    Surface.DRIP_EDGE,
)

ObjectKind = Literal["box_vent", "pipe", "chimney"]
WORLD = Frame((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))


@dataclass(frozen=True)
class RoofObject:
    """A thing standing on the front slope. A box vent is a box in the slope's frame (lo/hi: u, s on
    the plane, n up from it). A chimney is plumb: a box in world inches (`upright`), from below the
    roof to its top. A pipe is a plumb cylinder of `radius` at (u, s) = lo[:2], `hi[2]` tall above
    the roof at its axis."""

    kind: ObjectKind
    lo: Vec
    hi: Vec
    radius: float = 0.0
    upright: bool = False

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.lo[0] + self.hi[0]) / 2, (self.lo[1] + self.hi[1]) / 2)

    def frame(self, house: House) -> Frame:
        return WORLD if self.upright else house.front

    def footprint(self, house: House) -> tuple[tuple[float, float], tuple[float, float]]:
        """((u0, s0), (u1, s1)): where it meets the front slope, in the slope's coordinates."""
        if self.kind == "pipe":
            u, s = self.lo[0], self.lo[1]
            return (u - self.radius, s - self.radius), (u + self.radius, s + self.radius)
        if not self.upright:
            return (self.lo[0], self.lo[1]), (self.hi[0], self.hi[1])
        c = math.cos(house.pitch_rad)
        return (self.lo[0], self.lo[1] / c), (self.hi[0], self.hi[1] / c)

    def height_over_roof(self, house: House) -> float:
        if not self.upright:
            return self.hi[2]
        (_, s0), _ = self.footprint(house)
        return self.hi[2] - house.front.point(0.0, s0)[2]

    def pipe_axis(self, house: House) -> tuple[Vec, float]:
        base = house.front.point(self.lo[0], self.lo[1])
        return base, base[2] + self.hi[2]


@dataclass(frozen=True)
class Canopy:
    """Tree canopies: round masses (x, y, radius in inches, world) of leaves in a layer at height z."""

    z: float
    blobs: tuple[tuple[float, float, float], ...]
    seed: int
    leafiness: float = 0.35  # how ragged the edges are and how many gaps the leaves leave


@dataclass(frozen=True)
class House:
    eave_in: float  # eave height above the ground
    pitch_rad: float
    slope_in: float  # eave to ridge along the slope
    x_range: tuple[float, float]  # the roof's extent along the eave (rake to rake)
    overhang_in: float = 16.0
    fascia_in: float = 7.0  # fascia board height
    gutter: tuple[float, float] | None = (5.0, 5.0)  # (depth, height) of a K-style gutter, or none
    objects: tuple[RoofObject, ...] = ()
    canopy: Canopy | None = None

    @property
    def front(self) -> Frame:
        return roof_frame(self.eave_in, self.pitch_rad)

    @property
    def back(self) -> Frame:
        return roof_frame(self.eave_in, self.pitch_rad, eave_y=2 * self.slope_in * math.cos(self.pitch_rad), facing=-1)

    @property
    def ridge_z(self) -> float:
        return self.eave_in + self.slope_in * math.sin(self.pitch_rad)

    def wall_y(self) -> float:
        return self.overhang_in


@dataclass
class Hits:
    """The cast's answer, per pixel: label (Surface), depth, coordinates on the surface (a, b: roof
    u and s; wall x and z; ground x and y; objects their own u, s, n in c too), the entry face of a
    box (signed axis), and which object (index into House.objects, -1 none)."""

    label: U8
    t: F32
    a: F32
    b: F32
    c: F32
    face: I8
    obj: I8
    rays: Rays
    extras: dict[str, F32] = field(default_factory=dict)

    def take(self, where: npt.NDArray[np.bool_], label: Surface, t: F32, a: F32, b: F32, c: F32 | float = 0.0) -> None:
        self.label[where] = label
        self.t[where] = t[where]
        self.a[where] = a[where]
        self.b[where] = b[where]
        self.c[where] = c[where] if isinstance(c, np.ndarray) else c


def _window_take(
    hits: Hits, rows: slice, cols: slice, t: F32, label: Surface, coords: tuple[F32, F32, F32], face: I8, obj: int
) -> None:
    closer = t < hits.t[rows, cols]
    for name, values in (("a", coords[0]), ("b", coords[1]), ("c", coords[2])):
        getattr(hits, name)[rows, cols][closer] = values[closer]
    hits.t[rows, cols][closer] = t[closer]
    hits.label[rows, cols][closer] = label
    hits.face[rows, cols][closer] = face[closer]
    hits.obj[rows, cols][closer] = obj


def cast(house: House, camera: Camera) -> Hits:
    """The nearest surface along every pixel's ray."""
    rays = Rays.of(camera)
    shape = rays.dx.shape
    zeros = np.zeros(shape, np.float32)
    hits = Hits(
        label=np.full(shape, Surface.SKY, np.uint8),
        t=np.full(shape, FAR, np.float32),
        a=zeros.copy(),
        b=zeros.copy(),
        c=zeros.copy(),
        face=np.zeros(shape, np.int8),
        obj=np.full(shape, -1, np.int8),
        rays=rays,
    )
    x0, x1 = house.x_range
    cos_p = math.cos(house.pitch_rad)
    depth_y = 2 * house.slope_in * cos_p

    # Ground (z = 0), then the walls and the eave's parts, then the roof: each takes the pixels it is nearer on.
    t, gx, gy = plane_hit(rays, WORLD)
    hits.take(t < FAR, Surface.GROUND, t, gx, gy)

    wall = Frame((0.0, house.wall_y(), 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 1.0), (0.0, -1.0, 0.0))
    t, wx, wz = plane_hit(rays, wall)
    ok = (t < hits.t) & (wx >= x0 + house.overhang_in) & (wx <= x1 - house.overhang_in) & (wz <= house.eave_in)
    hits.take(ok, Surface.WALL, t, wx, wz)
    for end, normal in ((x0 + house.overhang_in, -1.0), (x1 - house.overhang_in, 1.0)):
        gable = Frame((end, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (normal, 0.0, 0.0))
        t, gy2, gz = plane_hit(rays, gable)
        roofline = house.eave_in + np.minimum(gy2, depth_y - gy2) * math.tan(house.pitch_rad) - house.fascia_in
        ok = (t < hits.t) & (gy2 >= house.wall_y()) & (gy2 <= depth_y - house.wall_y()) & (gz <= roofline)
        hits.take(ok, Surface.WALL, t, gy2, gz)

    soffit_z = house.eave_in - house.fascia_in
    soffit = Frame((0.0, 0.0, soffit_z), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, -1.0))
    t, sx, sy = plane_hit(rays, soffit)
    ok = (t < hits.t) & (sx >= x0) & (sx <= x1) & (sy >= 0) & (sy <= house.wall_y())
    hits.take(ok, Surface.SOFFIT, t, sx, sy)

    _cast_box(hits, camera, WORLD, (x0, -1.0, soffit_z), (x1, 0.0, house.eave_in), Surface.FASCIA, -1)
    if house.gutter is not None:
        gd, gh = house.gutter
        top = house.eave_in - 1.0
        _cast_box(hits, camera, WORLD, (x0, -1.0 - gd, top - gh), (x1, -1.0, top), Surface.GUTTER, -1)

    for frame, label in ((house.front, Surface.SHINGLES), (house.back, Surface.BACK_SLOPE)):
        t, u, s = plane_hit(rays, frame)
        ok = (t < hits.t) & (u >= x0) & (u <= x1) & (s >= 0) & (s <= house.slope_in)
        hits.take(ok, label, t, u, s)

    for index, obj in enumerate(house.objects):
        if obj.kind == "pipe":
            _cast_pipe(hits, camera, house, obj, index)
        else:
            label = Surface.CHIMNEY if obj.kind == "chimney" else Surface.VENT
            _cast_box(hits, camera, obj.frame(house), obj.lo, obj.hi, label, index)

    if house.canopy is not None:
        _cast_canopy(hits, house.canopy)
    return hits


def _cast_box(hits: Hits, camera: Camera, frame: Frame, lo: Vec, hi: Vec, label: Surface, index: int) -> None:
    window = project_bounds(camera, box_corners(frame, lo, hi))
    if window is None:
        return
    rows, cols = window
    sub = _sub_rays(hits.rays, rows, cols)
    t, face = box_hit(sub, frame, lo, hi)
    c = frame.local(sub.origin)
    coords = tuple(
        np.asarray(c[i] + t * sub.along(axis), np.float32) for i, axis in enumerate((frame.eu, frame.es, frame.en))
    )
    _window_take(hits, rows, cols, t, label, (coords[0], coords[1], coords[2]), face, index)


def _cast_pipe(hits: Hits, camera: Camera, house: House, obj: RoofObject, index: int) -> None:
    base, top_z = obj.pipe_axis(house)
    r = obj.radius
    corners = np.array(
        [(base[0] + dx, base[1] + dy, z) for dx in (-r, r) for dy in (-r, r) for z in (base[2] - 2 * r, top_z)]
    )
    window = project_bounds(camera, corners)
    if window is None:
        return
    rows, cols = window
    sub = _sub_rays(hits.rays, rows, cols)
    t, on_top = cylinder_hit(sub, base[0], base[1], r, top_z)
    px, py, pz = sub.at(t)
    angle = np.arctan2(py - base[1], px - base[0]).astype(np.float32)
    face = np.where(on_top, 3, 1).astype(np.int8)
    height = np.asarray(pz - base[2], np.float32)
    _window_take(hits, rows, cols, t, Surface.VENT, (angle, height, angle), face, index)


def _cast_canopy(hits: Hits, canopy: Canopy) -> None:
    rays = hits.rays
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(np.abs(rays.dz) > 1e-9, (canopy.z - rays.origin[2]) / rays.dz, FAR).astype(np.float32)
    t = np.where(t > 0, t, FAR).astype(np.float32)
    near = t < hits.t
    if not near.any():
        return
    x, y, _ = rays.at(t)
    density = np.zeros(t.shape, np.float32)
    density[near] = canopy_density(canopy, x[near], y[near])
    leafy = density > 0.0
    hits.take(leafy, Surface.TREE, t, np.asarray(x, np.float32), np.asarray(y, np.float32))
    hits.extras["canopy_density"] = density


def canopy_density(canopy: Canopy, x: F32, y: F32) -> F32:
    """Leaf density at points of the canopy layer: > 0 is leaves (the edge at 0), larger is denser."""
    core = np.full(x.shape, -1.0, np.float32)
    for bx, by, radius in canopy.blobs:
        core = np.maximum(core, 1.0 - np.hypot(x - bx, y - by).astype(np.float32) / radius)
    ragged = fbm(x, y, 30.0, canopy.seed, octaves=4) + 0.6 * fbm(x, y, 5.0, canopy.seed + 1, octaves=2)
    return np.asarray(core + canopy.leafiness * ragged - 0.15, np.float32)


def _sub_rays(rays: Rays, rows: slice, cols: slice) -> Rays:
    return Rays(rays.origin, rays.dx[rows, cols], rays.dy[rows, cols], rays.dz[rows, cols])
