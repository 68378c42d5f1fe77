"""Shingle scale: the photo's metric scale from its shingle courses.

`course_scale` surveys a small copy of the photo (`vision.local.survey`: the course field with its
perspective, the shingles' look, the roof mask), takes the slope as a plane seen through a camera
of a typical focal length (`vision.local.slope_plane`), reads the shingles' style and, on a 3-tab
roof, the keyways as a second ruler (`vision.local.shingle_style`), and gives pixels per inch at
the photo's centre as an area scale, its gradient (perspective), and an honest uncertainty: the
spread of the windows' periods about the fitted field, the focal length's spread where no keyways
measured the foreshortening, and the style's own ambiguity (which exposure).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np
import numpy.typing as npt

from vision.local.image_ops import F32, RGBImage, resize
from vision.local.shingle_style import (
    MIN_TABS_EXPOSURES,
    Reading,
    ShingleKind,
    keyways,
    patch_exposures,
    read_shingles,
    rectified,
)
from vision.local.slope_plane import FOCAL_SPREAD, SlopePlane, focal_prior, slope_plane
from vision.local.survey import Survey, central_period, centre_period, survey
from vision.photo_scale import PhotoScale

EXPOSURE_IN = 5.3  # a typical exposure, between 3-tab's 5" and laminates' 5 5/8" (what detectors size by)
SCALE_SIDE = 640  # the small copy that finds the course field and the roof
# A course period shorter than this on the small copy may be two or three times the true one (the
# true one too fine for the copy's dark-line filter: a yard view's or a drone's courses), so a copy
# twice as large is surveyed too.
FINE_PERIOD = 16.0
FINER = (1.7, 3.5)  # the larger copy's period is taken when the small one's is this many times it


@dataclass(frozen=True)
class Scale:
    """What the courses say about the photo's scale, in photo pixels."""

    period_px: float  # the course period across the courses at the centre
    windows: int  # windows the course field was fitted on
    direction: float  # radians: across the courses (down the slope) in the image
    ppi: float  # pixels per inch of roof at the centre (area scale)
    gx: float = 0.0  # change of ppi per photo pixel along x (perspective)
    gy: float = 0.0
    cx: float = 0.0
    cy: float = 0.0
    uncertainty: float = 0.06  # relative, one standard deviation
    shingle: ShingleKind | None = None
    exposure_in: float = EXPOSURE_IN
    survey: Survey | None = dataclass_field(default=None, compare=False, repr=False)  # what it was measured on

    def photo_scale(self) -> PhotoScale:
        """The metric scale (pixels per foot) at the centre, with its perspective gradient."""
        return PhotoScale(
            pixels_per_foot=self.ppi * 12.0,
            cx=self.cx,
            cy=self.cy,
            source="shingle_courses",
            uncertainty=self.uncertainty,
            gx=self.gx * 12.0,
            gy=self.gy * 12.0,
            direction=self.direction,
            shingle=self.shingle,
        )


def course_scale(pixels: RGBImage) -> Scale | None:
    """The photo's scale from its shingle courses; None when no courses are found (not a roof
    photo, or courses too fine to see)."""
    found = survey_at(pixels, SCALE_SIDE)
    if found is None:
        return None
    if max(pixels.shape[:2]) > SCALE_SIDE and centre_period(found) < FINE_PERIOD:
        # The small copy may have found every second or third course; a copy twice as large shows
        # whether there are courses at a half or a third of that period (it alone could see them).
        fine = _finer_survey(pixels, found)
        if fine is not None and FINER[0] <= _photo_period(found) / _photo_period(fine) <= FINER[1]:
            found = fine
    return _measured(found, pixels)


def _finer_survey(pixels: RGBImage, found: Survey) -> Survey | None:
    """The survey of a copy twice as large, when a first look at its central windows finds
    courses at about a half or a third of `found`'s period (else None: most photos, whose larger
    copy only confirms the period, are spared the full survey)."""
    factor = min(1.0, 2 * SCALE_SIDE / max(pixels.shape[:2]))
    larger = np.asarray(resize(pixels, factor), np.uint8)
    period = central_period(larger)
    # The central windows' period is where their reference sits, not at the centre: a looser band.
    if period is None or not FINER[0] / 1.2 <= _photo_period(found) / (period / factor) <= FINER[1] * 1.2:
        return None
    return survey(larger, factor)


def survey_at(pixels: RGBImage, side: int) -> Survey | None:
    """The survey of a copy of the photo at most `side` pixels on its long side."""
    factor = min(1.0, side / max(pixels.shape[:2]))
    return survey(np.asarray(resize(pixels, factor), np.uint8), factor)


def _photo_period(found: Survey) -> float:
    return centre_period(found) / found.factor


def _measured(found: Survey, pixels: RGBImage) -> Scale:
    """The scale the survey shows, in the photo's pixels."""
    factor = found.factor
    h, w = found.dark.shape
    cx, cy = w / 2, h / 2
    focal = focal_prior(w, h)
    reading = _reading(found, focal)
    plane = slope_plane(found.field, focal, reading.exposure_in)
    ppi = _ppi(plane, cx, cy) * reading.correction
    d = 2.0
    gx = (_ppi(plane, cx + d, cy) - _ppi(plane, cx - d, cy)) / (2 * d) * reading.correction
    gy = (_ppi(plane, cx, cy + d) - _ppi(plane, cx, cy - d)) / (2 * d) * reading.correction
    kx, ky = found.field.vector(cx, cy)
    period = 1.0 / math.hypot(float(kx), float(ky))
    return Scale(
        period_px=period / factor,
        windows=found.field.used,
        direction=math.atan2(float(ky), float(kx)),
        ppi=ppi / factor,
        gx=gx,  # pixels per inch per pixel: the same at any resolution
        gy=gy,
        cx=pixels.shape[1] / 2,
        cy=pixels.shape[0] / 2,
        uncertainty=_uncertainty(found, reading, focal),
        shingle=reading.kind,
        exposure_in=reading.exposure_in,
        survey=found,
    )


def _ppi(plane: SlopePlane, x: float, y: float) -> float:
    return float(plane.pixels_per_inch(np.array([x]), np.array([y]))[0])


def _reading(found: Survey, focal: float) -> Reading:
    """The shingles' reading: keyways looked for on the roof rectified about the centre."""
    h, w = found.dark.shape
    plane = slope_plane(found.field, focal, 1.0)  # plane units of one exposure
    exposures = patch_exposures(plane, w, h)
    patch, inside = rectified(found.dark, found.measured, plane, (w / 2, h / 2), exposures)
    judged = bool(inside.mean() >= 0.25)
    few_tabs = exposures[1] < MIN_TABS_EXPOSURES
    return read_shingles(keyways(patch, inside), judged, _stretch_spread(found, focal), few_tabs)


def _stretch_spread(found: Survey, focal: float) -> float:
    """How much the foreshortening along the courses relative to across them (at the centre)
    changes over the focal length's spread: relative, one standard deviation."""
    values = [_stretch(found, focal * f) for f in (1 - FOCAL_SPREAD, 1 + FOCAL_SPREAD)]
    return abs(math.log(values[1] / values[0])) / 2


def _stretch(found: Survey, focal: float) -> float:
    """Pixels per inch along the courses over pixels per inch across them, at the centre."""
    h, w = found.dark.shape
    plane = slope_plane(found.field, focal, 1.0)
    u, v = plane.plane_coordinates(np.array([w / 2]), np.array([h / 2]))
    x, y = plane.image_point(
        np.array([u[0] - 0.5, u[0] + 0.5, u[0], u[0]]), np.array([v[0], v[0], v[0] - 0.5, v[0] + 0.5])
    )
    along = math.hypot(float(x[1] - x[0]), float(y[1] - y[0]))
    kx, ky = found.field.vector(w / 2, h / 2)
    across = 1.0 / math.hypot(float(kx), float(ky))  # pixels per exposure across the course lines
    return along / across


def _uncertainty(found: Survey, reading: Reading, focal: float) -> float:
    """Relative uncertainty (one standard deviation): the windows' spread about the fitted field
    (their periods' relative misfit, over the square root of how many), the focal length's spread
    where the keyways did not measure the foreshortening, and the style's ambiguity."""
    fit = max(0.005, found.field.misfit / math.sqrt(max(1, found.field.used)))
    focal_part = 0.0
    if reading.kind != "three_tab":
        h, w = found.dark.shape
        values = [
            _ppi(slope_plane(found.field, focal * f, reading.exposure_in), w / 2, h / 2)
            for f in (1 - FOCAL_SPREAD, 1 + FOCAL_SPREAD)
        ]
        focal_part = abs(math.log(values[1] / values[0])) / 2
    return round(math.sqrt(fit**2 + focal_part**2 + reading.ambiguity**2), 4)


def profile_period(patch: F32, direction: float, shortest: float, longest: float) -> tuple[float, float] | None:
    """(period px, autocorrelation there) of a window's dark-line image projected across the courses
    (averaged along them): the first lag whose autocorrelation is near the best. Finer than the
    spectrum's integer bins, and not fooled by a comb that fits the laminated tabs' second line."""
    n = patch.shape[0]
    bins, hann, den = _projection(n, direction)
    num = np.bincount(bins, (patch * hann).ravel(), 2 * n + 2)
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


@functools.lru_cache(maxsize=8)
def _projection(n: int, direction: float) -> tuple[npt.NDArray[np.int64], F32, npt.NDArray[np.float64]]:
    """For an n x n window: each pixel's bin across the courses, the Hann window and its weight per
    bin. The same for every window of a photo's tiling (`courses._local_period` projects hundreds)."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    hann = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)
    t = (xx - n / 2) * math.cos(direction) + (yy - n / 2) * math.sin(direction)
    bins = np.round(t + n).astype(np.int64).ravel()
    den = np.asarray(np.bincount(bins, hann.ravel(), 2 * n + 2), np.float64)
    for array in (bins, hann, den):
        array.setflags(write=False)
    return bins, hann, den
