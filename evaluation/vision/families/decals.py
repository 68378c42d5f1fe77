"""Things painted onto the rendered roof at a place on its plane (a leaf, a lichen spot, a hail hit):
the image window a plane rectangle projects to, the roof pixels in it with their plane coordinates
and footprints, and writes that blend a change into the renderer's buffers by coverage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from evaluation.vision.families.scene import Hits, Surface
from evaluation.vision.families.shingles import CourseLayout, FieldInputs, FieldShade, RidgeCap
from evaluation.vision.families.surroundings import Buffers
from evaluation.vision.families.truth import PlaneScale
from vision.detections import Box

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

ON_ROOF = (int(Surface.SHINGLES), int(Surface.RIDGE_CAP))


@dataclass
class Slope:
    """The front slope as rendered, for what is painted on it afterwards: its pixels (flat indices),
    their plane coordinates and footprints (`inp`), the course and piece each falls on (`shade`),
    the layout of courses, the ridge cap, the plane's scale, and each pixel's position in these
    arrays (`pos`, -1 off the slope)."""

    index: I64
    inp: FieldInputs
    shade: FieldShade
    layout: CourseLayout
    cap: RidgeCap | None
    scale: PlaneScale
    pos: npt.NDArray[np.int32]
    _cdf: npt.NDArray[np.float64] | None = None

    def area_sqft(self) -> float:
        return float(np.sum(self.inp.fu.astype(np.float64) * self.inp.fs) / 144.0)

    def sample(self, rng: np.random.Generator, n: int) -> I64:
        """Positions (into the slope's arrays) of `n` points spread evenly over the slope's area."""
        if n <= 0 or self.index.size == 0:
            return np.zeros(0, np.int64)
        if self._cdf is None:
            self._cdf = np.cumsum((self.inp.fu * self.inp.fs).astype(np.float64))
        cdf = self._cdf
        return np.asarray(np.searchsorted(cdf, rng.uniform(0, cdf[-1], n)), np.int64).clip(0, self.index.size - 1)

    def coarse(self, field: Callable[[F32, F32], F32], factor: int = 4) -> F32:
        """A smooth field of plane coordinates, evaluated on a grid `factor` times coarser than the
        photo and interpolated back to the slope's pixels (a field whose features span many pixels
        needs no more; it costs 1 / factor^2)."""
        h, w = self.pos.shape
        gh, gw = -(-h // factor), -(-w // factor)
        gy, gx = (np.mgrid[0:gh, 0:gw].astype(np.float64) + 0.5) * factor  # block centres
        g = self.scale.inverse
        d = g[2, 0] * gx + g[2, 1] * gy + g[2, 2]
        d = np.where(np.abs(d) < 1e-9, 1e-9, d)
        # Grid points whose ray misses the plane (behind the camera) get far-off, finite coordinates.
        u = np.clip((g[0, 0] * gx + g[0, 1] * gy + g[0, 2]) / d, -1e6, 1e6).astype(np.float32)
        s = np.clip((g[1, 0] * gx + g[1, 1] * gy + g[1, 2]) / d, -1e6, 1e6).astype(np.float32)
        grid = np.ascontiguousarray(field(u, s), np.float32)
        full = cv2.resize(grid, (gw * factor, gh * factor), interpolation=cv2.INTER_LINEAR)
        return np.asarray(full[:h, :w].ravel()[self.index], np.float32)


@dataclass
class Patch:
    """The roof pixels of one window: flat indices into the photo, plane coordinates (u, s) and
    footprints (fu, fs), and `pos`, their position in the roof's per-pixel arrays (course, piece)."""

    idx: I64
    u: F32
    s: F32
    fu: F32
    fs: F32
    pos: I64
    width: int

    @property
    def footprint(self) -> F32:
        return np.asarray(np.sqrt(self.fu * self.fs), np.float32)

    def box(self, alpha: F32, threshold: float = 0.25) -> Box | None:
        """The bounding box (x1, y1 exclusive) of the pixels the change reaches."""
        hit = self.idx[alpha > threshold]
        if hit.size == 0:
            return None
        ys, xs = np.divmod(hit, self.width)
        return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def patch(
    hits: Hits,
    scale: PlaneScale,
    roof_pos: npt.NDArray[np.int32],
    u0: float,
    s0: float,
    u1: float,
    s1: float,
    labels: tuple[int, ...] = ON_ROOF,
) -> Patch | None:
    """The roof pixels whose plane point lies in [u0, u1] x [s0, s1]."""
    corners = np.array([[u0, s0, 1.0], [u1, s0, 1.0], [u0, s1, 1.0], [u1, s1, 1.0]]).T
    q = scale.homography @ corners
    if np.any(q[2] <= 1e-6):
        return None
    xs, ys = q[0] / q[2], q[1] / q[2]
    h, w = hits.label.shape
    x0, x1 = max(0, int(np.floor(xs.min())) - 1), min(w, int(np.ceil(xs.max())) + 2)
    y0, y1 = max(0, int(np.floor(ys.min())) - 1), min(h, int(np.ceil(ys.max())) + 2)
    if x1 <= x0 or y1 <= y0:
        return None
    labels_win = hits.label[y0:y1, x0:x1]
    inside = np.isin(labels_win, labels)
    if not inside.any():
        return None
    u = hits.a[y0:y1, x0:x1][inside]
    s = hits.b[y0:y1, x0:x1][inside]
    keep = (u >= u0) & (u <= u1) & (s >= s0) & (s <= s1)
    if not keep.any():
        return None
    yy, xx = np.nonzero(inside)
    yy, xx = yy[keep] + y0, xx[keep] + x0
    idx = (yy.astype(np.int64) * w + xx).astype(np.int64)
    fu, fs = scale.footprints(xx + 0.5, yy + 0.5)
    return Patch(idx, u[keep], s[keep], fu, fs, roof_pos.ravel()[idx].astype(np.int64), w)


def unobstructed(
    hits: Hits, scale: PlaneScale, u0: float, s0: float, u1: float, s1: float, labels: tuple[int, ...] = ON_ROOF
) -> bool:
    """Whether every pixel that looks at the plane rectangle [u0, u1] x [s0, s1] sees it (and it is
    one of `labels`): nothing stands in front of it (a pipe, a branch) and nothing sits on it."""
    corners = np.array([[u0, s0, 1.0], [u1, s0, 1.0], [u0, s1, 1.0], [u1, s1, 1.0]]).T
    q = scale.homography @ corners
    if np.any(q[2] <= 1e-6):
        return False
    xs, ys = q[0] / q[2], q[1] / q[2]
    h, w = hits.label.shape
    x0, x1 = max(0, int(np.floor(xs.min()))), min(w, int(np.ceil(xs.max())) + 1)
    y0, y1 = max(0, int(np.floor(ys.min()))), min(h, int(np.ceil(ys.max())) + 1)
    if x1 <= x0 or y1 <= y0:
        return False
    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
    g = scale.inverse
    d = g[2, 0] * gx + g[2, 1] * gy + g[2, 2]
    u = (g[0, 0] * gx + g[0, 1] * gy + g[0, 2]) / d
    s = (g[1, 0] * gx + g[1, 1] * gy + g[1, 2]) / d
    looks = (d > 0) & (u >= u0) & (u <= u1) & (s >= s0) & (s <= s1)
    return bool(np.isin(hits.label[y0:y1, x0:x1][looks], labels).all())


def roof_positions(shape: tuple[int, int], index: I64) -> npt.NDArray[np.int32]:
    """Per pixel, its position in the roof's gathered arrays (-1 off the front slope)."""
    pos = np.full(shape, -1, np.int32)
    pos.ravel()[index] = np.arange(index.size, dtype=np.int32)
    return pos


def blend_albedo(buf: Buffers, p: Patch, colour: F32, alpha: F32) -> None:
    """Albedo towards `colour` ((n, 3) or (3,)) by `alpha` (n,)."""
    flat = buf.albedo.reshape(-1, 3)
    current = flat[p.idx]
    flat[p.idx] = current + (np.asarray(colour, np.float32) - current) * alpha[:, None]


def scale_albedo(buf: Buffers, p: Patch, factor: F32) -> None:
    flat = buf.albedo.reshape(-1, 3)
    flat[p.idx] = flat[p.idx] * np.asarray(factor, np.float32).reshape(-1, 1 if np.ndim(factor) == 1 else 3)


def blend_scalar(values: F32, p: Patch, target: F32 | float, alpha: F32) -> None:
    flat = values.ravel()
    flat[p.idx] = flat[p.idx] + (target - flat[p.idx]) * alpha


def disc_alpha(p: Patch, cu: float, cs: float, radius: F32 | float, wobble: F32 | None = None) -> tuple[F32, F32]:
    """(coverage of a disc of `radius` inches at (cu, cs), normalised radius) per pixel, the disc's
    edge box-filtered by the pixel footprint; `wobble` (per pixel, relative) makes it irregular."""
    du, ds = p.u - cu, p.s - cs
    r = np.hypot(du, ds).astype(np.float32)
    rad = np.asarray(radius, np.float32) * (1.0 + (wobble if wobble is not None else 0.0))
    alpha = np.clip((rad - r) / np.maximum(p.footprint, 1e-4) + 0.5, 0, 1).astype(np.float32)
    return alpha, np.asarray(r / np.maximum(rad, 1e-6), np.float32)


def angular_wobble(p: Patch, cu: float, cs: float, rng: np.random.Generator, amount: float) -> F32:
    """A few random harmonics of the angle round (cu, cs): an outline that is round but not a circle."""
    angle = np.arctan2(p.s - cs, p.u - cu)
    out = np.zeros(p.u.shape, np.float32)
    for k in (2, 3, 5):
        out += (amount / k) * rng.uniform(0.4, 1.0) * np.cos(k * angle + rng.uniform(0, 2 * np.pi)).astype(np.float32)
    return out
