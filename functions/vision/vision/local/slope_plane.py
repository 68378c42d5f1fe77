"""The roof slope as a plane seen through a pinhole camera, from how the courses change across the
photo, and the plane's metric scale at every pixel.

Courses are the lines v = const of the slope (v: inches down it). Through a camera, a plane's
coordinates are a projective function of the pixel, so the course phase (v over the exposure, in
cycles) is, in centred pixel coordinates X, Y divided by `norm`,

    phase = (alpha X + beta Y) / (1 + p X + q Y),

and the course vector the windows measure is its gradient. `1 + p X + q Y = 0` is the slope's
horizon (its vanishing line): far from the photo on a square-on view, close on an oblique one.
Fitted to the windows, it gives the perspective. The horizon and a focal length give the plane's
normal, hence its foreshortening; the course spacing (exposure) gives its size. A photo's scale is
the plane's *area* scale (pixels per inch as the square root of the Jacobian's determinant), which
the course period alone cannot give on an oblique view: there courses are squeezed down the slope
but not along it. The focal length is not in the pixels, so a prior is used (`FOCAL_PRIOR`), and its
spread is part of the uncertainty; a 3-tab roof's keyways measure the scale along the courses and
remove that dependence (`vision.local.shingle_style`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.local.course_windows import CourseWindow

F64 = npt.NDArray[np.float64]

# Horizontal field of view of the long side (phone main cameras and drones: 26 to 28 mm equivalent,
# 63 to 72 degrees): the focal length, in units of the long side, and its relative spread.
FOV_PRIOR_DEG = 66.0
FOCAL_SPREAD = 0.15
HORIZON_PRIOR = 2.0  # a weak pull of (p, q) to 0 (square-on), in units of their plausible range
MIN_WINDOWS_FOR_PERSPECTIVE = 4
OUTLIER_FLOOR = 0.04  # relative misfit a window may have whatever the others' spread


def focal_prior(width: int, height: int) -> float:
    """The focal length in pixels a photo of this size most likely has."""
    return max(width, height) / 2 / math.tan(math.radians(FOV_PRIOR_DEG / 2))


@dataclass(frozen=True)
class CourseField:
    """The fitted course phase field (see the module docstring), about (cx, cy), coordinates in
    units of `norm` pixels."""

    alpha: float
    beta: float
    p: float
    q: float
    cx: float
    cy: float
    norm: float
    misfit: float  # robust relative spread of the windows' course vectors about the field
    used: int  # windows that fit it
    covariance: tuple[tuple[float, ...], ...]  # of (alpha, beta, p, q)

    @property
    def params(self) -> F64:
        return np.array([self.alpha, self.beta, self.p, self.q])

    def vector(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[F64, F64]:
        """The course vector (cycles per pixel) at pixels (x, y)."""
        gx, gy = _gradient(
            self.params,
            (np.asarray(x, np.float64) - self.cx) / self.norm,
            (np.asarray(y, np.float64) - self.cy) / self.norm,
        )
        return gx / self.norm, gy / self.norm

    def phase(self, x: npt.ArrayLike, y: npt.ArrayLike) -> F64:
        """The course phase (cycles) at pixels (x, y); meaningful on the near side of the horizon."""
        xx = (np.asarray(x, np.float64) - self.cx) / self.norm
        yy = (np.asarray(y, np.float64) - self.cy) / self.norm
        w = 1.0 + self.p * xx + self.q * yy
        return np.asarray((self.alpha * xx + self.beta * yy) / np.where(np.abs(w) < 1e-6, 1e-6, w), np.float64)

    def near_side(self, x: npt.ArrayLike, y: npt.ArrayLike, margin: float = 0.1) -> npt.NDArray[np.bool_]:
        """Pixels on the camera's side of the slope's horizon (with a margin: near the horizon the
        courses are too fine to see)."""
        xx = (np.asarray(x, np.float64) - self.cx) / self.norm
        yy = (np.asarray(y, np.float64) - self.cy) / self.norm
        return np.asarray(1.0 + self.p * xx + self.q * yy > margin, np.bool_)


def _gradient(params: F64, x: F64, y: F64) -> tuple[F64, F64]:
    alpha, beta, p, q = params
    w = 1.0 + p * x + q * y
    num = alpha * x + beta * y
    w2 = np.where(np.abs(w) < 1e-6, 1e-6, w) ** 2
    return (alpha * w - p * num) / w2, (beta * w - q * num) / w2


def _residuals(params: F64, x: F64, y: F64, kx: F64, ky: F64, weight: F64) -> F64:
    gx, gy = _gradient(params, x, y)
    size = np.hypot(kx, ky)
    rel = np.concatenate([(gx - kx) / size * weight, (gy - ky) / size * weight])
    prior = params[2:] / HORIZON_PRIOR * 0.05  # weak: a misfit of 5% per unit of the horizon's pull
    return np.concatenate([rel, prior])


def _solve(params: F64, x: F64, y: F64, kx: F64, ky: F64, weight: F64, perspective: bool) -> tuple[F64, F64]:
    """Levenberg-Marquardt on the relative misfit; returns the parameters and J^T J."""
    free = 4 if perspective else 2
    lam = 1e-3
    jtj = np.eye(free)
    for _ in range(15):
        r = _residuals(params, x, y, kx, ky, weight)
        jac = np.empty((len(r), free))
        for j in range(free):
            step = np.zeros(4)
            step[j] = 1e-6 * max(1.0, abs(params[j]))
            jac[:, j] = (_residuals(params + step, x, y, kx, ky, weight) - r) / step[j]
        jtj = jac.T @ jac
        delta = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-12), -jac.T @ r)
        trial = params.copy()
        trial[:free] += delta
        if (1.0 + trial[2] * x + trial[3] * y).min() <= 0.05:  # every window stays on the near side
            lam *= 10
            continue
        if np.sum(_residuals(trial, x, y, kx, ky, weight) ** 2) < np.sum(r**2):
            params, lam = trial, lam * 0.3
            if np.abs(delta).max() < 1e-5:
                break
        else:
            lam *= 10
            if lam > 1e6:
                break
    return params, jtj


@dataclass(frozen=True)
class CourseSamples:
    """Course vectors measured at image points (cycles per pixel), with weights."""

    x: F64
    y: F64
    kx: F64
    ky: F64
    weight: F64

    @classmethod
    def of_windows(cls, windows: list[CourseWindow]) -> CourseSamples:
        def arr(values: list[float]) -> F64:
            return np.asarray(values, np.float64)

        return cls(
            arr([w.x for w in windows]),
            arr([w.y for w in windows]),
            arr([w.kx for w in windows]),
            arr([w.ky for w in windows]),
            arr([math.sqrt(min(w.strength, 200.0) / 200.0) for w in windows]),
        )


def fit_course_field(
    samples: CourseSamples | list[CourseWindow],
    cx: float,
    cy: float,
    norm: float,
    start: tuple[float, ...],
    tolerance: float = 0.25,
) -> CourseField | None:
    """The course field that fits the samples' course vectors, starting from `start` (alpha, beta,
    p, q): samples more than `tolerance` (relative) off the start, and then more than 3.5 robust
    spreads off the fit (another pattern's comb: siding, brick, a harmonic), are left out.
    Perspective (p, q) is fitted only when enough samples spread over the photo to show it."""
    if isinstance(samples, list):
        if not samples:
            return None
        samples = CourseSamples.of_windows(samples)
    x = (samples.x - cx) / norm
    y = (samples.y - cy) / norm
    kx = samples.kx * norm
    ky = samples.ky * norm
    weight = np.sqrt(samples.weight / max(float(samples.weight.max()), 1e-12))
    params = np.array(start, np.float64)
    keep = _misfit(params, x, y, kx, ky) <= tolerance
    if keep.sum() < 1:
        return None
    misfit = 0.0
    jtj = np.eye(4)
    for _ in range(4):
        params, jtj = _fit(params, x, y, kx, ky, weight, keep)
        err = _misfit(params, x, y, kx, ky)
        misfit = 1.4826 * float(np.median(err[keep]))
        now = err <= max(3.5 * misfit, OUTLIER_FLOOR)
        if now.sum() < 1 or np.array_equal(now, keep):
            break
        keep = now
    free = jtj.shape[0]
    dof = max(1, 2 * int(keep.sum()) - free)
    r = _residuals(params, x[keep], y[keep], kx[keep], ky[keep], weight[keep])
    sigma2 = float(np.sum(r[: 2 * int(keep.sum())] ** 2)) / dof
    cov = np.zeros((4, 4))
    cov[:free, :free] = np.linalg.pinv(jtj) * sigma2
    return CourseField(
        alpha=float(params[0]),
        beta=float(params[1]),
        p=float(params[2]),
        q=float(params[3]),
        cx=cx,
        cy=cy,
        norm=norm,
        misfit=misfit,
        used=int(keep.sum()),
        covariance=tuple(tuple(float(v) for v in row) for row in cov),
    )


def _misfit(params: F64, x: F64, y: F64, kx: F64, ky: F64) -> F64:
    gx, gy = _gradient(params, x, y)
    return np.asarray(np.hypot(kx - gx, ky - gy) / np.hypot(gx, gy), np.float64)


def _fit(params: F64, x: F64, y: F64, kx: F64, ky: F64, weight: F64, keep: npt.NDArray[np.bool_]) -> tuple[F64, F64]:
    perspective = bool(keep.sum() >= MIN_WINDOWS_FOR_PERSPECTIVE and np.ptp(x[keep]) + np.ptp(y[keep]) > 0.25)
    start = params.copy()
    if not perspective:
        start[2:] = 0.0
    return _solve(start, x[keep], y[keep], kx[keep], ky[keep], weight[keep], perspective)


# ---------------------------------------------------------------------------------------------------
# The plane in 3-D: its normal from the horizon and a focal length, its metric from the exposure


@dataclass(frozen=True)
class SlopePlane:
    """The slope as a plane n . X = 1 in camera coordinates (pixels centred on (cx, cy), focal f),
    with unit axes along the courses (eu) and down the slope (ev), and `inches` per unit of the
    plane's coordinates."""

    normal: F64
    eu: F64
    ev: F64
    focal: float
    cx: float
    cy: float
    inches: float

    def _point(self, x: F64, y: F64) -> F64:
        ray = np.stack([x - self.cx, y - self.cy, np.full_like(x, self.focal)], axis=-1)
        return np.asarray(ray / (ray @ self.normal)[..., None], np.float64)

    def plane_coordinates(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[F64, F64]:
        """(u, v) in inches of image points on the near side of the horizon."""
        pts = self._point(np.asarray(x, np.float64), np.asarray(y, np.float64))
        return pts @ self.eu * self.inches, pts @ self.ev * self.inches

    def pixels_per_inch(self, x: npt.ArrayLike, y: npt.ArrayLike) -> F64:
        """The plane's area scale at image points: the square root of |d(x, y) / d(u, v)|."""
        xs, ys = np.asarray(x, np.float64), np.asarray(y, np.float64)
        d = 0.5
        pu = self._point(xs + d, ys) - self._point(xs - d, ys)
        pv = self._point(xs, ys + d) - self._point(xs, ys - d)
        det = (pu @ self.eu) * (pv @ self.ev) - (pu @ self.ev) * (pv @ self.eu)
        return np.asarray(2 * d / (self.inches * np.sqrt(np.abs(det))), np.float64)

    def image_point(self, u: npt.ArrayLike, v: npt.ArrayLike) -> tuple[F64, F64]:
        """Image points (x, y) of plane points (u, v) in inches (inverse of plane_coordinates)."""
        uu = np.asarray(u, np.float64) / self.inches
        vv = np.asarray(v, np.float64) / self.inches
        # A point of the plane: the normal's foot (n / |n|^2) plus the in-plane offsets.
        foot = self.normal / float(self.normal @ self.normal)
        foot_u, foot_v = float(foot @ self.eu), float(foot @ self.ev)
        pts = foot + (uu - foot_u)[..., None] * self.eu + (vv - foot_v)[..., None] * self.ev
        z = np.where(np.abs(pts[..., 2]) < 1e-12, 1e-12, pts[..., 2])
        return self.focal * pts[..., 0] / z + self.cx, self.focal * pts[..., 1] / z + self.cy


def slope_plane(field: CourseField, focal: float, exposure_in: float) -> SlopePlane:
    """The plane the course field shows for a camera of focal length `focal` (pixels of the field's
    image), sized so that the course period at the centre is `exposure_in` inches."""
    p, q = field.p / field.norm, field.q / field.norm  # horizon: p x + q y + 1 = 0 (centred pixels)
    normal = np.array([focal * p, focal * q, 1.0])
    kx, ky = field.vector(field.cx, field.cy)
    d = np.array([-float(ky), float(kx)])  # the course line's direction in the image at the centre
    eu = np.array([d[0], d[1], -focal * (p * d[0] + q * d[1])])
    eu /= np.linalg.norm(eu)
    ev = np.cross(normal / np.linalg.norm(normal), eu)
    ev /= np.linalg.norm(ev)
    plane = SlopePlane(normal, eu, ev, focal, field.cx, field.cy, 1.0)
    # Size: across the courses at the centre, the plane's v must change by one exposure per period.
    pts = plane._point(
        np.array([field.cx - 0.5, field.cx + 0.5, field.cx, field.cx]),
        np.array([field.cy, field.cy, field.cy - 0.5, field.cy + 0.5]),
    )
    grad_v = np.hypot((pts[1] - pts[0]) @ ev, (pts[3] - pts[2]) @ ev)  # plane units per pixel
    inches = exposure_in * math.hypot(float(kx), float(ky)) / grad_v
    return SlopePlane(normal, eu, ev, focal, field.cx, field.cy, inches)


# ---------------------------------------------------------------------------------------------------
# A first guess of the perspective from how the period grows down the slope


MIN_ALONG = 0.08  # windows closer than this (units of `norm`) along the course vector give no slope
MAX_RATIO = 3.0  # periods further apart than this from the reference's are no part of its trend
TREND_SHARE = 0.6  # of the windows' slopes that must agree with their median for a trend


@dataclass(frozen=True)
class Tilt:
    """The course period's trend down the slope about a reference window: the square root of the
    period grows linearly with the distance along the course vector (the field's denominator
    1 + pX + qY, squared, is what the period is proportional to along that line), by `slope` per
    unit of `norm`, from `root` at the reference."""

    ex: float  # unit course vector (across the courses)
    ey: float
    x0: float  # the reference, in units of `norm` about the centre
    y0: float
    root: float  # square root of the reference's period (pixels)
    slope: float
    norm: float

    def period(self, x: float, y: float) -> float:
        """The period (pixels) the trend expects at (x, y) (units of `norm` about the centre)."""
        along = (x - self.x0) * self.ex + (y - self.y0) * self.ey
        return max(self.root + self.slope * along, 1e-3) ** 2

    def start(self) -> tuple[float, float, float, float] | None:
        """Field parameters (alpha, beta, p, q) whose course vector at the reference is the
        reference's and whose period grows down the slope as the trend says; None when the trend
        puts the slope's horizon on the centre's side."""
        root_centre = self.root - self.slope * (self.x0 * self.ex + self.y0 * self.ey)
        if root_centre <= 0.0:
            return None
        lean = self.slope / root_centre  # the denominator's gradient along the course vector
        p, q = lean * self.ex, lean * self.ey
        depth = 1.0 + p * self.x0 + q * self.y0
        if depth <= 0.05:
            return None
        # The course vector at the reference, k = (a depth - (p, q)(a . X)) / depth^2, is linear in
        # a = (alpha, beta): solve for it.
        k = np.array([self.ex, self.ey]) * self.norm / self.root**2  # cycles per unit of `norm`
        m = depth * np.eye(2) - np.outer([p, q], [self.x0, self.y0])
        a = np.linalg.solve(m, k * depth**2)
        return float(a[0]), float(a[1]), p, q


def tilt(windows: list[CourseWindow], ref: CourseWindow, cx: float, cy: float, norm: float) -> Tilt:
    """The trend of the windows' periods down the slope about `ref`: the median of the slopes of
    the aligned windows within MAX_RATIO of its period, when they agree (`_consistent`)."""
    ex, ey = math.cos(ref.direction), math.sin(ref.direction)
    x0, y0 = (ref.x - cx) / norm, (ref.y - cy) / norm
    root = math.sqrt(ref.period)
    slopes = []
    for w in windows:
        along = ((w.x - cx) / norm - x0) * ex + ((w.y - cy) / norm - y0) * ey
        if (
            abs(along) >= MIN_ALONG
            and abs(w.direction - ref.direction) < math.radians(8)
            and abs(math.log(w.period / ref.period)) < math.log(MAX_RATIO)
        ):
            slopes.append((math.sqrt(w.period) - root) / along)
    return Tilt(ex, ey, x0, y0, root, _consistent(slopes), norm)


def _consistent(slopes: list[float]) -> float:
    """The median slope when most slopes agree with it (within a factor of two) and none of any
    size says the opposite; else none (a close-up's windows that saw other periods than the
    courses give slopes of any sign and size)."""
    if len(slopes) < 3:
        return 0.0
    values = np.asarray(slopes)
    mid = float(np.median(values))
    if mid == 0.0:
        return 0.0
    ratio = values / mid
    agree = int(((ratio >= 0.5) & (ratio <= 2.0)).sum())
    if agree < max(3, TREND_SHARE * len(slopes)) or bool((ratio <= -0.5).any()):
        return 0.0
    return mid
