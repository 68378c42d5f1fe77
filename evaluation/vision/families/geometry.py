"""The 3-D scene's geometry: world frame, the frames of surfaces, the camera and its rays, and the
ray intersections the renderer casts (planes, boxes in a surface's frame, vertical cylinders).

World frame, in inches: X along the eave (right when facing the roof), Y horizontal into the house
(from the eave towards the ridge), Z up. Every photo is a ray cast per pixel into this scene: the
nearest surface a pixel's ray meets is what the pixel shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Vec = tuple[float, float, float]

UP: Vec = (0.0, 0.0, 1.0)
FAR = np.float32(1e9)


def vec(values: npt.ArrayLike) -> Vec:
    x, y, z = (float(v) for v in np.asarray(values, np.float64).ravel()[:3])
    return (x, y, z)


def dot(a: Vec, b: Vec) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def cross(a: Vec, b: Vec) -> Vec:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def add(a: Vec, b: Vec, scale: float = 1.0) -> Vec:
    return (a[0] + scale * b[0], a[1] + scale * b[1], a[2] + scale * b[2])


def unit(a: Vec) -> Vec:
    n = math.sqrt(dot(a, a))
    return (a[0] / n, a[1] / n, a[2] / n)


@dataclass(frozen=True)
class Frame:
    """A surface's own frame: `origin`, and unit axes `eu` (along), `es` (across / up the slope) and
    `en` (the outward normal). Surface coordinates (u, s, n) are inches along those axes."""

    origin: Vec
    eu: Vec
    es: Vec
    en: Vec

    def point(self, u: float, s: float, n: float = 0.0) -> Vec:
        return add(add(add(self.origin, self.eu, u), self.es, s), self.en, n)

    def local(self, p: Vec) -> Vec:
        d = add(p, self.origin, -1.0)
        return (dot(d, self.eu), dot(d, self.es), dot(d, self.en))

    def local_dir(self, d: Vec) -> Vec:
        return (dot(d, self.eu), dot(d, self.es), dot(d, self.en))


def roof_frame(eave_height: float, pitch_rad: float, eave_y: float = 0.0, facing: float = 1.0) -> Frame:
    """The frame of a roof plane whose eave runs along X at height `eave_height`: s grows up the
    slope. `facing` +1 is the front slope (falls towards -Y), -1 the back slope (falls towards +Y)."""
    c, s = math.cos(pitch_rad), math.sin(pitch_rad)
    return Frame(
        origin=(0.0, eave_y, eave_height), eu=(1.0, 0.0, 0.0), es=(0.0, facing * c, s), en=(0.0, -facing * s, c)
    )


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: position, unit axes (right, down, forward) and focal length in pixels."""

    position: Vec
    right: Vec
    down: Vec
    forward: Vec
    focal: float
    width: int
    height: int

    @classmethod
    def looking_at(
        cls, position: Vec, target: Vec, up_hint: Vec, fov_deg: float, roll_deg: float, width: int, height: int
    ) -> Camera:
        forward = unit(add(target, position, -1.0))
        right = cross(forward, up_hint)
        if dot(right, right) < 1e-8:  # looking along the hint: any right angle will do
            right = cross(forward, (1.0, 0.0, 0.0))
        right = unit(right)
        down = unit(cross(forward, right))
        r = math.radians(roll_deg)
        right, down = add(right, down, math.tan(r)), add(down, right, -math.tan(r))
        right, down = unit(right), unit(down)
        focal = width / 2 / math.tan(math.radians(fov_deg) / 2)
        return cls(position, right, down, forward, focal, width, height)

    def rotation(self) -> F64:
        """World to camera (rows: right, down, forward)."""
        return np.array([self.right, self.down, self.forward], np.float64)

    def intrinsics(self) -> F64:
        return np.array([[self.focal, 0, self.width / 2], [0, self.focal, self.height / 2], [0, 0, 1]], np.float64)

    def project(self, points: F64) -> tuple[F64, F64]:
        """(pixel xy (n, 2), depth (n,)) of world points (n, 3); depth <= 0 is behind the camera."""
        cam = (np.asarray(points, np.float64) - np.asarray(self.position)) @ self.rotation().T
        depth = cam[:, 2]
        safe = np.where(np.abs(depth) < 1e-9, 1e-9, depth)
        xy = cam[:, :2] / safe[:, None] * self.focal + np.array([self.width / 2, self.height / 2])
        return xy, depth

    def plane_homography(self, frame: Frame) -> F64:
        """Plane coordinates (u, s, 1) of `frame`'s n = 0 plane to homogeneous pixels."""
        cols = np.array([frame.eu, frame.es, add(frame.origin, self.position, -1.0)], np.float64).T
        return np.asarray(self.intrinsics() @ self.rotation() @ cols, np.float64)


@dataclass
class Rays:
    """One ray per pixel centre (or per pixel of a window), direction not normalised."""

    origin: Vec
    dx: F32
    dy: F32
    dz: F32

    @classmethod
    def of(cls, camera: Camera, rows: slice | None = None, cols: slice | None = None) -> Rays:
        r0, r1 = (rows.start, rows.stop) if rows else (0, camera.height)
        c0, c1 = (cols.start, cols.stop) if cols else (0, camera.width)
        xn = ((np.arange(c0, c1, dtype=np.float32) + 0.5 - camera.width / 2) / camera.focal)[None, :]
        yn = ((np.arange(r0, r1, dtype=np.float32) + 0.5 - camera.height / 2) / camera.focal)[:, None]
        r, d, f = camera.right, camera.down, camera.forward
        return cls(
            camera.position,
            np.asarray(r[0] * xn + d[0] * yn + f[0], np.float32),
            np.asarray(r[1] * xn + d[1] * yn + f[1], np.float32),
            np.asarray(r[2] * xn + d[2] * yn + f[2], np.float32),
        )

    def along(self, axis: Vec) -> F32:
        return np.asarray(axis[0] * self.dx + axis[1] * self.dy + axis[2] * self.dz, np.float32)

    def at(self, t: F32) -> tuple[F32, F32, F32]:
        o = self.origin
        return (o[0] + t * self.dx, o[1] + t * self.dy, o[2] + t * self.dz)


def plane_hit(rays: Rays, frame: Frame) -> tuple[F32, F32, F32]:
    """(t, u, s) where each ray meets `frame`'s n = 0 plane; t is FAR where it never does (parallel
    or behind the camera)."""
    c = frame.local(rays.origin)
    dn = rays.along(frame.en)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(np.abs(dn) > 1e-9, -c[2] / dn, FAR).astype(np.float32)
    t = np.where(t > 0, t, FAR).astype(np.float32)
    u = np.asarray(c[0] + t * rays.along(frame.eu), np.float32)
    s = np.asarray(c[1] + t * rays.along(frame.es), np.float32)
    return t, u, s


def box_hit(rays: Rays, frame: Frame, lo: Vec, hi: Vec) -> tuple[F32, npt.NDArray[np.int8]]:
    """(t, face) where rays enter an axis-aligned box of `frame` (lo/hi corners in its coordinates);
    face is the axis crossed on entry, signed (+1/-1 u, +2/-2 s, +3/-3 n: the outward normal), 0 and
    t FAR for a miss."""
    c = frame.local(rays.origin)
    dirs = (rays.along(frame.eu), rays.along(frame.es), rays.along(frame.en))
    t_near = np.full(rays.dx.shape, -FAR, np.float32)
    t_far = np.full(rays.dx.shape, FAR, np.float32)
    face = np.zeros(rays.dx.shape, np.int8)
    for axis in range(3):
        d = dirs[axis]
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(np.abs(d) > 1e-12, 1.0 / d, FAR).astype(np.float32)
        t1 = (lo[axis] - c[axis]) * inv
        t2 = (hi[axis] - c[axis]) * inv
        enter = np.minimum(t1, t2)
        leave = np.maximum(t1, t2)
        # A ray parallel to the slab is inside it for every t, or for none.
        parallel = np.abs(d) <= 1e-12
        inside = (c[axis] >= lo[axis]) & (c[axis] <= hi[axis])
        enter = np.where(parallel, -FAR if inside else FAR, enter)
        leave = np.where(parallel, FAR if inside else -FAR, leave)
        sign = np.where(d > 0, -1, 1).astype(np.int8)  # entering through the face that looks back at the ray
        later = enter > t_near
        face = np.where(later, sign * (axis + 1), face).astype(np.int8)
        t_near = np.maximum(t_near, enter)
        t_far = np.minimum(t_far, leave)
    hit = (t_far >= t_near) & (t_near > 0)
    return np.where(hit, t_near, FAR).astype(np.float32), np.where(hit, face, 0).astype(np.int8)


def cylinder_hit(rays: Rays, x: float, y: float, radius: float, z_top: float) -> tuple[F32, npt.NDArray[np.bool_]]:
    """(t, on_top) where rays meet a vertical cylinder standing at (x, y) up to `z_top` (its lower end
    is wherever the roof cuts it: the roof, nearer, wins the depth test), or its top disc."""
    ox, oy, oz = rays.origin[0] - x, rays.origin[1] - y, rays.origin[2]
    a = rays.dx * rays.dx + rays.dy * rays.dy
    b = 2 * (rays.dx * ox + rays.dy * oy)
    c = ox * ox + oy * oy - radius * radius
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        t_side = np.where((disc >= 0) & (a > 1e-12), (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), FAR)
        z_side = oz + t_side * rays.dz
        t_side = np.where((t_side > 0) & (z_side <= z_top), t_side, FAR)
        t_cap = np.where(np.abs(rays.dz) > 1e-12, (z_top - oz) / rays.dz, FAR)
    cx, cy = ox + t_cap * rays.dx, oy + t_cap * rays.dy
    t_cap = np.where((t_cap > 0) & (cx * cx + cy * cy <= radius * radius), t_cap, FAR)
    on_top = t_cap < t_side
    return np.minimum(t_side, t_cap).astype(np.float32), on_top


def project_bounds(camera: Camera, corners: F64, margin: int = 2) -> tuple[slice, slice] | None:
    """The image window (rows, cols) holding the projection of 3-D `corners`, or None when it is off
    the image; the whole image when a corner is behind the camera (it may wrap round)."""
    xy, depth = camera.project(corners)
    if np.any(depth <= 1.0):
        return slice(0, camera.height), slice(0, camera.width)
    x0, y0 = np.floor(xy.min(axis=0)).astype(int) - margin
    x1, y1 = np.ceil(xy.max(axis=0)).astype(int) + margin
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(camera.width, x1), min(camera.height, y1)
    if x1 <= x0 or y1 <= y0:
        return None
    return slice(int(y0), int(y1)), slice(int(x0), int(x1))


def box_corners(frame: Frame, lo: Vec, hi: Vec) -> F64:
    return np.array(
        [frame.point(u, s, n) for u in (lo[0], hi[0]) for s in (lo[1], hi[1]) for n in (lo[2], hi[2])], np.float64
    )
