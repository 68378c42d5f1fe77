"""The shingle courses' local spatial frequency in windows of a small copy of the photo.

The shadow line under every butt edge repeats every exposure, so a window's dark-line image has a
comb of sharp peaks in its power spectrum: the fundamental and its harmonics along the direction
across the courses. A window's *course vector* is that fundamental, in cycles per pixel, pointing
down the photo (its length is one over the period, its angle the direction across the courses).
Perspective changes it across the photo; `slope_plane` fits that change.

Two things look like a course comb and are not: a 3-tab roof's keyway lattice (its reciprocal
vectors lean about 40 degrees off the courses' direction), kept out by searching only near the
direction of the photo's dominant lines (the courses' shadow lines are the longest dark lines on a
roof); and the edge of the roof itself (a step's spectrum is a smooth ridge, not a peak), kept out by
asking the comb's strongest harmonic to stand out from its radial neighbours.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.local.image_ops import F32, hessian_min

DARK_LINE_SIGMA = 1.2  # pixels of the small copy: shadow lines under butt edges are a few pixels wide
MAX_COURSE_TILT_DEG = 45.0  # courses run across a photo, give or take the camera's roll
MIN_POLARITY = 0.9  # shingle courses' dark-line amplitude over their bright-line amplitude, at least
MIN_COMB = 8.0  # a window's comb, in units of its spectrum's median power, below which it has no courses
MIN_STANDOUT = 6.0  # a comb's fundamental or second harmonic over its ring's typical power
MIN_PROMINENCE = 1.6  # the strongest harmonic's power over its radial neighbours' (2 bins in and out)
WINDOW_PERIODS = 4.5  # a window sized to the local period spans this many: the fundamental sits at bin 4.5
CENTRAL_SIZES = ((80, 0.75), (144, 0.5), (256, 0.0))  # the first look: window sizes and their grid's spacing
MIN_WINDOW, MAX_WINDOW = 48, 256
MAX_WINDOWS = 64
HARMONICS = (1, 2, 3)


@dataclass(frozen=True)
class CourseWindow:
    """One window's course vector (cycles per small-copy pixel, ky >= 0) and comb strength."""

    x: float  # the window's centre, small-copy pixels
    y: float
    kx: float
    ky: float
    strength: float  # comb power over the spectrum's median
    size: int

    @property
    def period(self) -> float:
        return 1.0 / math.hypot(self.kx, self.ky)

    @property
    def direction(self) -> float:
        return math.atan2(self.ky, self.kx)


def line_images(lum: F32) -> tuple[F32, F32]:
    """Dark and bright thin lines of log luminance: the positive part of the larger Hessian
    eigenvalue (a dark line curves up across itself: shadow lines, keyways) and of minus the
    smaller one (a bright line: mortar between bricks)."""
    small, big = hessian_min(lum, DARK_LINE_SIGMA)
    return np.asarray(np.maximum(big, 0.0), np.float32), np.asarray(np.maximum(-small, 0.0), np.float32)


def dark_lines(lum: F32) -> F32:
    return line_images(lum)[0]


def polarity(dark: F32, bright: F32, window: CourseWindow) -> float:
    """How much more the window's courses are dark lines than bright ones: the amplitudes of the
    two line images at the window's course vector. Shingle courses are shadow lines (dark, thin,
    over wide bright faces); brick courses are mortar joints (bright, thin, between dark faces)."""
    h, w = dark.shape
    half = window.size // 2
    y0, y1 = max(0, round(window.y) - half), min(h, round(window.y) + half)
    x0, x1 = max(0, round(window.x) - half), min(w, round(window.x) + half)
    ay = (2 * np.pi * window.ky * np.arange(y0, y1)).astype(np.float32)
    ax = 2 * np.pi * window.kx * np.arange(x0, x1)
    along_x = np.exp(-1j * ax)

    def amplitude(img: F32) -> float:
        part = img[y0:y1, x0:x1]
        rows = (np.cos(ay) @ part) - 1j * (np.sin(ay) @ part)  # sum over y of img * exp(-i ay), per column
        return abs(complex(rows @ along_x))

    d, b = amplitude(dark), amplitude(bright)
    return d / max(b, 1e-9)


def line_direction(lum: F32) -> float:
    """The direction across the dominant lines of the photo's central half (radians, pointing down
    the photo): the structure tensor's main axis of the luminance gradient."""
    h, w = lum.shape
    centre = lum[h // 4 : h - h // 4, w // 4 : w - w // 4]
    gx = cv2.Sobel(centre, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(centre, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jyy, jxy = float((gx * gx).sum()), float((gy * gy).sum()), float((gx * gy).sum())
    angle = 0.5 * math.atan2(2 * jxy, jxx - jyy)
    return angle + math.pi if angle < 0 else angle


def _spectra(patches: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Power spectra of a stack of square windows (Hann-tapered, mean removed), as the half plane
    ky >= 0: index [i, ky, kx] with kx shifted so that zero sits in the middle column."""
    n = patches.shape[-1]
    hann = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    centred = patches - patches.mean(axis=(1, 2), keepdims=True)
    spec = np.fft.rfft2(centred * hann, axes=(2, 1))  # real transform along y: the half plane ky >= 0
    return np.asarray(np.fft.fftshift(np.abs(spec) ** 2, axes=2), np.float64)


@dataclass(frozen=True)
class _Search:
    """Where a window's fundamental may be: a direction (radians, across the courses) within a
    slack, and a period range in pixels."""

    direction: float
    slack_deg: float
    shortest: float
    longest: float


@functools.cache
def _bins(n: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(ky, kx offset, radius) of every bin of an n-pixel window's half-plane spectrum."""
    fy, fx = np.mgrid[0 : n // 2 + 1, -(n // 2) : n - n // 2].astype(np.float64)
    return fy, fx, np.hypot(fx, fy)


def _candidates(n: int, search: _Search) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Bins (ky, kx offset from the zero column) the fundamental may sit at."""
    fy, fx, radius = _bins(n)
    ex, ey = math.cos(search.direction), math.sin(search.direction)
    off = np.degrees(np.abs(np.arctan2(fx * ey - fy * ex, fx * ex + fy * ey)))
    keep = (radius >= max(2.5, n / search.longest)) & (radius <= n / search.shortest) & (off <= search.slack_deg)
    ys, xs = np.nonzero(keep)
    return ys.astype(np.int64), (xs - n // 2).astype(np.int64)


def _comb(
    power: npt.NDArray[np.float64], ys: npt.NDArray[np.int64], xs: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """For each candidate fundamental (ky, kx offset), the power of its first three harmonics."""
    rows, cols = power.shape
    c = cols // 2
    total = np.zeros(len(ys))
    for m in HARMONICS:
        yy, xx = m * ys, c + m * xs
        ok = (yy < rows) & (xx >= 0) & (xx < cols)
        total[ok] += power[yy[ok], xx[ok]]
    return total


def _value(power: npt.NDArray[np.float64], y: float, x: float) -> float:
    rows, cols = power.shape
    yi, xi = round(y), round(x) + cols // 2
    return float(power[yi, xi]) if 0 <= yi < rows and 0 <= xi < cols else 0.0


def _peak_at(power: npt.NDArray[np.float64], y: float, x: float) -> tuple[float, float, float] | None:
    """The local maximum of `power` within a bin of (y, x) (x from the zero column), refined to a
    fraction of a bin by a parabola through log power along each axis: (y, x, power)."""
    rows, cols = power.shape
    c = cols // 2
    yi, xi = round(y), round(x) + c
    if not (1 <= yi < rows - 1 and 1 <= xi < cols - 1):
        return None
    patch = power[yi - 1 : yi + 2, xi - 1 : xi + 2]
    dy, dx = np.unravel_index(int(np.argmax(patch)), patch.shape)
    yi, xi = yi + int(dy) - 1, xi + int(dx) - 1
    if not (1 <= yi < rows - 1 and 1 <= xi < cols - 1):
        return None
    lp = np.log(power[yi - 1 : yi + 2, xi - 1 : xi + 2] + 1e-12)

    def vertex(a: float, b: float, cc: float) -> float:
        curve = a - 2 * b + cc
        return float(np.clip(0.5 * (a - cc) / curve, -0.5, 0.5)) if curve < 0 else 0.0

    return (
        yi + vertex(lp[0, 1], lp[1, 1], lp[2, 1]),
        xi - c + vertex(lp[1, 0], lp[1, 1], lp[1, 2]),
        float(power[yi, xi]),
    )


def _prominence(power: npt.NDArray[np.float64], y: float, x: float) -> float:
    """A peak's power over the larger of its radial neighbours' 1.5 bins in and out (a comb's peak
    stands out; a straight edge's spectrum falls off smoothly along the same line)."""
    r = math.hypot(x, y)
    inner, outer = (r - 2.0) / r, (r + 2.0) / r
    side = max(_value(power, y * inner, x * inner), _value(power, y * outer, x * outer), 1e-12)
    return _value(power, y, x) / side


def _off_lattice(power: npt.NDArray[np.float64], best: tuple[float, float], search: _Search) -> tuple[float, float]:
    """The course fundamental when the best comb is one of a 3-tab keyway lattice's two mirror
    vectors (a tab along, half an exposure across): their difference, a strong peak of shorter
    period in the search's direction. A staggered lattice's strongest peaks come in such pairs,
    mirrored about the courses' direction (the partner may lie anywhere in the half plane)."""
    fy, fx = best
    r = math.hypot(fy, fx)
    rows, cols = power.shape
    c = cols // 2
    gy, gx = np.mgrid[0:rows, -c : cols - c].astype(np.float64)
    radius = np.hypot(gy, gx)
    angle = np.degrees(np.arccos(np.clip(np.abs(gy * fy + gx * fx) / np.maximum(radius * r, 1e-9), 0.0, 1.0)))
    partner = (np.abs(radius / r - 1.0) <= 0.15) & (angle >= 25.0)
    top = _value(power, fy, fx)
    if not partner.any() or power[partner].max() < 0.3 * top:
        return best
    j = int(np.argmax(np.where(partner, power, -1.0)))
    py, px = float(gy.flat[j]), float(gx.flat[j])
    ex, ey = math.cos(search.direction), math.sin(search.direction)
    for cy, cx in ((fy - py, fx - px), (fy + py, fx + px)):
        if cy < 0:
            cy, cx = -cy, -cx
        size = math.hypot(cy, cx)
        off = math.degrees(math.acos(min(1.0, abs(cx * ex + cy * ey) / max(size, 1e-9))))
        if size > r * 1.1 and off <= search.slack_deg and size <= rows - 2:
            peak = _peak_at(power, cy, cx)
            if peak is not None and peak[2] >= 0.3 * top:
                return cy, cx
    return best


def _whitened(power: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Power over its ring's typical power (geometric mean over the ring of that radius): broad
    low-frequency content (blotches, a laminate's scattered dark gaps) is strong at every angle
    of its ring; a comb's peak stands out of its own."""
    ring, counts = _rings(*power.shape)
    typical = np.bincount(ring, np.log(power.ravel() + 1e-12)) / counts
    return np.asarray(power / np.exp(typical[ring]).reshape(power.shape), np.float64)


@functools.cache
def _rings(rows: int, cols: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Each half-plane bin's ring (rounded radius) and how many bins each ring has."""
    fy, fx = np.mgrid[0:rows, -(cols // 2) : cols - cols // 2]
    ring = np.round(np.hypot(fy, fx)).astype(np.int64).ravel()
    return ring, np.maximum(np.bincount(ring), 1).astype(np.float64)


def _course_vector(power: npt.NDArray[np.float64], n: int, search: _Search) -> tuple[float, float, float] | None:
    """(kx, ky, strength) of a window's course comb: the candidate fundamental whose harmonics
    carry the most power (moved down to a sub-harmonic that is itself a clear peak: a thin line's
    comb is flat, so the best sum may sit on a harmonic), refined from every strong harmonic's
    position; None without a clear, prominent comb."""
    ys, xs = _candidates(n, search)
    if len(ys) == 0:
        return None
    # Broad low-frequency content is strong at every angle of its ring; a comb's fundamental or
    # second harmonic stands out of its own ring.
    white = _whitened(power)
    c = power.shape[1] // 2
    # A fundamental is a peak of the spectrum itself (a comb whose harmonics merely fall near
    # another comb's bins is not).
    peak = power >= cv2.dilate(power.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.float64)
    keep = peak[ys, c + xs]
    ys, xs = ys[keep], xs[keep]
    if len(ys) == 0:
        return None
    standout = white[ys, c + xs]
    twice = (2 * ys < power.shape[0]) & (np.abs(2 * xs) < c)
    standout[twice] = np.maximum(standout[twice], white[2 * ys[twice], c + 2 * xs[twice]])
    total = np.where(standout >= MIN_STANDOUT, _comb(power, ys, xs), 0.0)
    if not total.any():
        return None
    i = int(np.argmax(total))
    fy, fx = float(ys[i]), float(xs[i])
    top = _value(power, fy, fx)
    for m in (3, 2):
        sy, sx = fy / m, fx / m
        lower = _peak_at(power, sy, sx) if math.hypot(sy, sx) * search.longest >= n else None
        if lower is not None and lower[2] >= 0.3 * top and math.hypot(lower[0] - sy, lower[1] - sx) <= 0.75:
            fy, fx = sy, sx
            break
    fy, fx = _off_lattice(power, (fy, fx), search)
    median = float(np.median(power[1:, :])) + 1e-12
    peaks = []
    for m in HARMONICS:
        found = _peak_at(power, m * fy, m * fx)
        if found is not None and math.hypot(found[0] / m - fy, found[1] / m - fx) <= 0.75:
            peaks.append((found[0] / m, found[1] / m, found[2] * m * m, found))  # a harmonic m times as precise
    if not peaks:
        return None
    strongest = max(peaks, key=lambda item: item[3][2])[3]
    if _prominence(power, strongest[0], strongest[1]) < MIN_PROMINENCE:
        return None
    w = np.array([item[2] for item in peaks])
    keep = w >= 0.05 * w.max()
    est = np.array([(item[0], item[1]) for item in peaks])[keep]
    ky, kx = (est * w[keep, None]).sum(axis=0) / w[keep].sum()
    return float(kx) / n, float(ky) / n, float(total[i] / median)


def _measure(dark: F32, corners: list[tuple[int, int]], n: int, searches: list[_Search]) -> list[CourseWindow]:
    patches = np.stack([dark[y : y + n, x : x + n] for y, x in corners])
    found: list[CourseWindow] = []
    for (y, x), power, search in zip(corners, _spectra(patches), searches, strict=True):
        vector = _course_vector(power, n, search)
        if vector is not None and vector[2] >= MIN_COMB:
            found.append(CourseWindow(x + n / 2, y + n / 2, vector[0], vector[1], vector[2], n))
    return found


def _grid(h: int, w: int, n: int, most: int) -> list[tuple[int, int]]:
    """Top-left corners of half-overlapping n-pixel windows covering an h x w image (fewer, further
    apart, if there would be more than `most`)."""
    step = n / 2
    while math.ceil((w - n) / step + 1) * math.ceil((h - n) / step + 1) > most:
        step *= 1.15
    xs = np.linspace(0, w - n, max(1, math.ceil((w - n) / step) + 1)).round().astype(int)
    ys = np.linspace(0, h - n, max(1, math.ceil((h - n) / step) + 1)).round().astype(int)
    return [(int(y), int(x)) for y in ys for x in xs]


def central_windows(dark: F32) -> list[CourseWindow]:
    """A first look before the period is known: windows of several sizes about the centre (a roof
    photo is aimed at the roof), each searched for any period from 5 pixels to a 3.5th of the
    window, courses within MAX_COURSE_TILT_DEG of the photo's horizontal. Small windows sit on a
    grid about the centre (on an oblique photo their periods show the perspective), the largest
    ones see long periods (close-ups), also on a half-size copy for the longest."""
    h, w = dark.shape
    found: list[CourseWindow] = []
    for size, spread in CENTRAL_SIZES:
        found += _central(dark, size, spread, 1)
    half = np.asarray(cv2.resize(dark, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA), np.float32)
    for size, spread in CENTRAL_SIZES[1:]:
        found += _central(half, size, spread, 2)
    return found


def _central(dark: F32, size: int, spread: float, scale: int) -> list[CourseWindow]:
    """Windows of `size` at the centre of `dark` (a copy `scale` times smaller than the small copy)
    and, if `spread`, on a 3 x 3 grid `spread` window sizes apart; in small-copy pixels."""
    h, w = dark.shape
    n = min(size, h // 2 * 2, w // 2 * 2)
    if n < 32:
        return []
    steps = (-spread, 0.0, spread) if spread and n <= min(h, w) / 2 else (0.0,)
    corners = sorted(
        {
            (
                int(np.clip(round(h / 2 + dy * n - n / 2), 0, h - n)),
                int(np.clip(round(w / 2 + dx * n - n / 2), 0, w - n)),
            )
            for dx in steps
            for dy in steps
        }
    )
    search = _Search(math.pi / 2, MAX_COURSE_TILT_DEG, 5.0, n / 3.5)
    return [
        CourseWindow(c.x * scale, c.y * scale, c.kx / scale, c.ky / scale, c.strength, c.size * scale)
        for c in _measure(dark, corners, n, [search] * len(corners))
    ]


def window_size(period: float) -> int:
    return int(np.clip(round(WINDOW_PERIODS * period / 8) * 8, MIN_WINDOW, MAX_WINDOW))


def local_windows(
    dark: F32, expected: list[tuple[float, float, float, float]], n: int, slack: float
) -> list[CourseWindow]:
    """Windows of size n at the given centres, each searched near its expected course vector
    (x, y, kx, ky): its period within `slack` (relative) and its direction within 8 degrees."""
    h, w = dark.shape
    n = min(n, h // 2 * 2, w // 2 * 2)
    corners, searches = [], []
    for x, y, kx, ky in expected:
        period = 1.0 / math.hypot(kx, ky)
        corners.append((int(np.clip(round(y - n / 2), 0, h - n)), int(np.clip(round(x - n / 2), 0, w - n))))
        searches.append(_Search(math.atan2(ky, kx), 8.0, period / (1 + slack), period * (1 + slack)))
    return _measure(dark, corners, n, searches) if corners else []


def fundamental(dark: F32, window: CourseWindow) -> CourseWindow:
    """The window's course vector, or half of it when a window large enough to see
    that longer period finds a clear peak there of a fair share of the found one's power (the
    window had found a harmonic; nothing on a roof repeats at twice the exposure, so a real peak
    there is the courses' fundamental)."""
    h, w = dark.shape
    for m in (2,):  # (a third turned laminates' irregular teeth into false fundamentals)
        n = int(min(MAX_WINDOW * 2, h // 2 * 2, w // 2 * 2))
        if n < 3.2 * m * window.period:
            continue
        n = min(n, max(MIN_WINDOW, int(round(WINDOW_PERIODS * m * window.period / 8) * 8)))
        y0 = int(np.clip(round(window.y - n / 2), 0, h - n))
        x0 = int(np.clip(round(window.x - n / 2), 0, w - n))
        power = _spectra(dark[None, y0 : y0 + n, x0 : x0 + n])[0]
        white = _whitened(power)
        fy, fx = window.ky * n, window.kx * n
        found = _peak_at(power, fy, fx)
        sub = _peak_at(power, fy / m, fx / m)
        if found is None or sub is None or math.hypot(sub[0] - fy / m, sub[1] - fx / m) > 0.5:
            continue
        if sub[2] >= 0.3 * found[2] and _value(white, sub[0], sub[1]) >= 2 * MIN_STANDOUT:
            return CourseWindow(window.x, window.y, window.kx / m, window.ky / m, window.strength, window.size)
    return window


def grid_centres(h: int, w: int, n: int) -> list[tuple[float, float]]:
    """Centres of the half-overlapping n-pixel windows over an h x w image (at most MAX_WINDOWS)."""
    n = min(n, h // 2 * 2, w // 2 * 2)
    return [(x + n / 2, y + n / 2) for y, x in _grid(h, w, n, MAX_WINDOWS)]
