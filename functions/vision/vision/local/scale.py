"""Shingle scale: the course period (pixels per exposure) and its direction, from the power
spectrum and projected profiles of windows of a small copy of the photo."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vision.local.image_ops import F32, RGBImage, hessian_min, log_luminance, resize
from vision.photo_scale import PhotoScale

EXPOSURE_IN = 5.3  # typical shingle exposure (3-tab 5", laminated 5 5/8")
# Exposures run from 5" (3-tab) to 5 5/8" (laminated, metric 3-tab): taking 5.3" is within 6% of
# either, the one-sigma relative uncertainty of a scale read from the courses alone.
EXPOSURE_UNCERTAINTY = 0.06
SCALE_SIDE = 640  # the small copy that finds the course period and the roof
MAX_COURSE_TILT_DEG = 35.0


@dataclass(frozen=True)
class Scale:
    """The course period found on the small copy, and how sure we are a shingled roof is there."""

    period_px: float  # in pixels of the original photo
    windows: int  # windows with a clear course peak
    direction: float  # radians: the direction across the courses (up/down the slope) in the image
    gx: float = 0.0  # change of the period per pixel across the photo (perspective), unitless
    gy: float = 0.0
    cx: float = 0.0  # where period_px holds: the photo's centre
    cy: float = 0.0

    @property
    def ppi(self) -> float:
        return self.period_px / EXPOSURE_IN

    def photo_scale(self) -> PhotoScale:
        """The metric scale (pixels per foot) the courses give, with its perspective gradient."""
        per_foot = 12.0 / EXPOSURE_IN
        return PhotoScale(
            pixels_per_foot=self.period_px * per_foot,
            cx=self.cx,
            cy=self.cy,
            source="shingle_courses",
            uncertainty=EXPOSURE_UNCERTAINTY,
            gx=self.gx * per_foot,
            gy=self.gy * per_foot,
            direction=self.direction,
        )


def _window_peak(patch: F32) -> tuple[float, float, float]:
    """(period px, direction, strength) of the strongest comb of a window's dark-line image: the
    fundamental whose first three harmonics carry the most power, among directions within
    `MAX_COURSE_TILT_DEG` of vertical (courses run across a photo, give or take a held tilt)."""
    n = patch.shape[0]
    hann = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2((patch - patch.mean()) * hann))) ** 2
    f = np.fft.fftshift(np.fft.fftfreq(n))
    fy, fx = np.meshgrid(f, f, indexing="ij")
    radius = np.hypot(fx, fy)
    c = n // 2
    band = (radius >= 3.0 / n) & (radius <= 0.2)
    tilt = np.degrees(np.arctan2(np.abs(fx), np.maximum(fy, 1e-9)))
    ys, xs = np.nonzero(band & (fy > 0) & (radius <= 0.1) & (tilt <= MAX_COURSE_TILT_DEG))
    dy, dx = ys - c, xs - c
    total = np.zeros(len(ys))
    for k in (1, 2, 3):
        yy, xx = c + k * dy, c + k * dx
        ok = (yy >= 0) & (yy < n) & (xx >= 0) & (xx < n)
        total[ok] += power[yy[ok], xx[ok]]
    i = int(np.argmax(total))
    fy0, fx0 = float(dy[i]), float(dx[i])
    strongest = power[c + dy[i], c + dx[i]]
    for k in (3, 2):  # a thin line's comb is flat: the best sum may sit on a harmonic
        y, x = round(c + fy0 / k), round(c + fx0 / k)
        if math.hypot(fy0 / k, fx0 / k) >= 2.0 and power[y - 1 : y + 2, x - 1 : x + 2].max() >= 0.25 * strongest:
            fy0, fx0 = fy0 / k, fx0 / k
            break
    return n / math.hypot(fy0, fx0), math.atan2(fy0, fx0), float(total[i] / np.median(power[band]))


def profile_period(patch: F32, direction: float, shortest: float, longest: float) -> tuple[float, float] | None:
    """(period px, autocorrelation there) of a window's dark-line image projected across the courses
    (averaged along them): the first lag whose autocorrelation is near the best. Finer than the
    spectrum's integer bins, and not fooled by a comb that fits the laminated tabs' second line."""
    n = patch.shape[0]
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    hann = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    t = (xx - n / 2) * math.cos(direction) + (yy - n / 2) * math.sin(direction)
    bins = np.round(t + n).astype(np.int64).ravel()
    num = np.bincount(bins, (patch * hann).ravel(), 2 * n + 2)
    den = np.bincount(bins, hann.ravel(), 2 * n + 2)
    idx = np.nonzero(den > 0.3 * den.max())[0]
    prof = (num / np.maximum(den, 1e-6))[idx[0] : idx[-1] + 1]
    prof = prof - prof.mean()
    size = len(prof)
    if size < 16 or not np.any(prof):
        return None
    ac = np.correlate(prof, prof, "full")[size - 1 :] / np.arange(size, 0, -1)
    ac = ac / ac[0]
    top = min(size // 2, int(longest))
    peaks = [
        k for k in range(max(3, int(shortest)), top - 1) if ac[k] > ac[k - 1] and ac[k] >= ac[k + 1] and ac[k] > 0.15
    ]
    if not peaks:
        return None
    best = max(float(ac[k]) for k in peaks)
    k = next(k for k in peaks if ac[k] >= 0.7 * best)
    curve = float(ac[k - 1] - 2 * ac[k] + ac[k + 1])
    shift = 0.5 * float(ac[k - 1] - ac[k + 1]) / curve if curve < 0 else 0.0
    return k + shift, float(ac[k])


def course_scale(pixels: RGBImage, min_strength: float = 300.0) -> Scale | None:
    """The course period and how it changes across the photo (perspective), from a 4 x 4 grid of
    windows of a small copy; None if no window shows a clear comb. Each window's period comes from
    its projected profile; windows in sky or lawn give stray periods, so the largest group of
    windows that agree (within 20%) is kept and a plane period(x, y) fitted to them."""
    factor = min(1.0, SCALE_SIDE / max(pixels.shape[:2]))
    small = resize(pixels, factor)
    _, lines = hessian_min(log_luminance(np.asarray(small, np.uint8)), 1.2)
    flat = np.maximum(lines, 0.0)  # dark lines: shadow lines under the butt edges, keyways
    h, w = flat.shape
    n = min(256, h // 2 * 2, w // 2 * 2)
    if n < 32:
        return None
    found: list[tuple[float, float, float, float, float]] = []  # (x, y, period, direction, weight)
    for fy in (0.25, 0.5, 0.75):
        for fx in (0.25, 0.5, 0.75):
            y0 = int(np.clip(fy * h - n / 2, 0, h - n))
            x0 = int(np.clip(fx * w - n / 2, 0, w - n))
            patch = flat[y0 : y0 + n, x0 : x0 + n]
            period, direction, strength = _window_peak(patch)
            if strength < min_strength:
                continue
            refined = profile_period(patch, direction, 0.45 * period, 1.6 * period)
            if refined is not None:
                found.append((x0 + n / 2, y0 + n / 2, refined[0], direction, refined[1]))
    if not found:
        return None  # (a comb without a clear profile still counts below as a window)
    logs = np.log([f[2] for f in found])
    weights = np.array([f[4] for f in found])
    support = [
        (int((np.abs(logs - lp) < 0.2).sum()), float(weights[np.abs(logs - lp) < 0.2].sum()), i)
        for i, lp in enumerate(logs)
    ]
    centre = logs[max(support)[2]]
    members = [f for f, lp in zip(found, logs, strict=True) if abs(lp - centre) < 0.2]
    xs = np.array([f[0] for f in members]) - w / 2
    ys = np.array([f[1] for f in members]) - h / 2
    periods = np.array([f[2] for f in members])
    gx = gy = 0.0
    base = float(np.median(periods))
    if len(members) >= 6 and np.ptp(xs) > 0 and np.ptp(ys) > 0:
        design = np.column_stack([np.ones(len(members)), xs, ys])
        coef, *_ = np.linalg.lstsq(design, periods, rcond=None)
        base, gx, gy = (float(c) for c in coef)
        if base <= 0:
            base, gx, gy = float(np.median(periods)), 0.0, 0.0
    direction = float(np.median([f[3] % math.pi for f in members]))
    return Scale(base / factor, len(found), direction, gx, gy, pixels.shape[1] / 2, pixels.shape[0] / 2)
