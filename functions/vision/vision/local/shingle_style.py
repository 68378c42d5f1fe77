"""Which shingles a roof has, and the second ruler a 3-tab roof carries: its keyways.

The roof is resampled square-on (the slope plane rectified, `RECTIFIED_PX` pixels per exposure), so
courses run straight and evenly. A 3-tab roof's keyways are a staggered lattice there: every tab
width along a course, shifted half a tab from one course to the next, so its spectrum has a peak
at half the course frequency across and one over the tab width along; laminates' teeth are of
random width and have none. The peak's strength tells the style, its position the tab width in
exposures.

What the keyways add: the course period gives the scale across the courses only; the tab gives
it along them. On an oblique photo the rectification rests on an assumed focal length, and the
tab as measured corrects it (`anisotropy`). Tab and exposure come in pairs, 12 x 5 inches
(imperial) and 13 1/4 x 5 5/8 (metric): their ratios differ by 2%, which only a near square-on
photo measures well enough to tell them apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from vision.local.image_ops import F32, Mask
from vision.local.slope_plane import SlopePlane

ShingleKind = Literal["three_tab", "laminated"]

RECTIFIED_PX = 8.0  # pixels per exposure in the rectified patch
PATCH_EXPOSURES = (10, 28)  # the patch's size across and along the courses, in exposures
TAB_RATIO_RANGE = (1.6, 3.6)  # tab width over exposure the search allows (the focal length is a guess)
LATTICE_ROWS = 0.12  # cycles per exposure about half the course frequency where the lattice peak is sought
FLANK_ROWS = 0.3  # and the rows beside it (out to this far from half) that give its background
MIN_LATTICE = 18.0  # the lattice peak (and thrice its mirror) over its flanks: 3-tab (laminates reach 17 on fitting)
MIN_ROOF_SHARE = 0.5  # of the patch, else the style is not judged

# Tab width over exposure: imperial 12 / 5, metric 13 1/4 / 5 5/8.
IMPERIAL = (5.0, 12.0)
METRIC = (5.625, 13.25)


@dataclass(frozen=True)
class Keyways:
    """A 3-tab lattice found in the rectified patch: the tab width in exposures as rectified (the
    focal length's error stretches it) and the lattice peak's strength."""

    tab_exposures: float
    strength: float


def rectified(
    dark: F32, roof: Mask, plane: SlopePlane, at: tuple[float, float], exposures: tuple[float, float] = PATCH_EXPOSURES
) -> tuple[F32, Mask]:
    """The dark-line image resampled square-on about image point `at`: rows down the slope, columns
    along the courses, RECTIFIED_PX pixels per exposure (`plane` sized with a one-inch exposure, so
    that its units are exposures), `exposures` (across, along) big, and where that patch is roof.
    Where the photo has many more pixels per exposure (a close-up), the thin keyway and shadow lines
    are first blurred to the patch's sampling, or the samples would fall between them.
    """
    u0, v0 = plane.plane_coordinates(np.array([at[0]]), np.array([at[1]]))
    rows, cols = (max(8, round(n * RECTIFIED_PX)) for n in exposures)
    vv, uu = np.mgrid[0:rows, 0:cols].astype(np.float64)
    x, y = plane.image_point(
        float(u0[0]) + (uu - cols / 2) / RECTIFIED_PX, float(v0[0]) + (vv - rows / 2) / RECTIFIED_PX
    )
    mx, my = x.astype(np.float32), y.astype(np.float32)
    step = float(plane.pixels_per_inch(np.array([at[0]]), np.array([at[1]]))[0]) / RECTIFIED_PX
    if step > 2.0:
        dark = np.asarray(cv2.GaussianBlur(dark, (0, 0), 0.5 * step), np.float32)
    patch = cv2.remap(dark, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    inside = cv2.remap(roof.astype(np.uint8), mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.asarray(patch, np.float32), np.asarray(inside > 0, np.bool_)


def patch_exposures(plane: SlopePlane, width: int, height: int) -> tuple[float, float]:
    """The rectified patch's size (across, along the courses, in exposures): PATCH_EXPOSURES, or
    less where the photo itself spans less (a close-up of a few feet). Courses run across the photo
    (within 45 degrees), so its width is taken along them and its height across."""
    cx, cy = width / 2, height / 2
    u, v = plane.plane_coordinates(np.array([0.0, width - 1.0, cx, cx]), np.array([cy, cy, 0.0, height - 1.0]))
    along = math.hypot(float(u[1] - u[0]), float(v[1] - v[0]))
    across = math.hypot(float(u[3] - u[2]), float(v[3] - v[2]))
    return min(PATCH_EXPOSURES[0], 0.9 * across), min(PATCH_EXPOSURES[1], 0.9 * along)


def keyways(patch: F32, inside: Mask) -> Keyways | None:
    """The 3-tab keyway lattice in a rectified patch, if there is one: the strongest peak at half
    the course frequency across the courses, one tab over (TAB_RATIO_RANGE exposures) along them,
    with its mirror (the lattice's other vector) there too. Judged on the largest centred part of
    the patch that is roof."""
    part = _roof_part(inside)
    if part is None:
        return None
    patch, inside = patch[part], inside[part]
    rows, cols = patch.shape
    values = np.where(inside, patch, float(np.mean(patch[inside])))
    hann = np.outer(np.hanning(rows), np.hanning(cols)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2((values - values.mean()) * hann))) ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(rows))[:, None] * RECTIFIED_PX  # cycles per exposure
    fx = np.fft.fftshift(np.fft.fftfreq(cols))[None, :] * RECTIFIED_PX
    band = (np.abs(fx) >= 1 / TAB_RATIO_RANGE[1]) & (np.abs(fx) <= 1 / TAB_RATIO_RANGE[0])
    zone = (np.abs(fy - 0.5) <= LATTICE_ROWS) & band
    if not zone.any():
        return None
    i = int(np.argmax(np.where(zone, power, -1.0)))
    r, c = divmod(i, cols)
    # The peak is judged against the same columns just above and below half the course frequency:
    # the spectrum falls off along the courses (more so once blurred), so a typical power taken
    # over the whole zone would favour any peak at its low end.
    flank = (np.abs(fy[:, 0] - 0.5) > LATTICE_ROWS) & (np.abs(fy[:, 0] - 0.5) <= FLANK_ROWS)
    columns = [(c + d) % cols for d in (-1, 0, 1)]
    typical = float(np.median(power[flank][:, columns])) + 1e-12 if flank.any() else float(np.median(power[zone]))
    mirror = float(power[r, (2 * (cols // 2) - c) % cols])  # the same row, the other side along
    strength = min(float(power[r, c]), 3.0 * mirror) / typical
    # The tab along the courses: refine the peak's column by a parabola through log power.
    left, mid, right = (math.log(float(power[r, (c + d) % cols]) + 1e-12) for d in (-1, 0, 1))
    curve = left - 2 * mid + right
    shift = 0.5 * (left - right) / curve if curve < 0 else 0.0
    freq = abs((c - cols // 2 + shift) / cols * RECTIFIED_PX)
    return Keyways(1.0 / freq, strength) if freq > 0 else None


def _roof_part(inside: Mask) -> tuple[slice, slice] | None:
    """The largest centred window of the patch (same shape, shrunk in steps) that is mostly roof,
    and at least a few courses and tabs big."""
    rows, cols = inside.shape
    for share in (1.0, 0.8, 0.64, 0.5, 0.4):
        h, w = round(rows * share), round(cols * share)
        if h < 4 * RECTIFIED_PX or w < 8 * RECTIFIED_PX:
            return None
        part = (slice((rows - h) // 2, (rows + h) // 2), slice((cols - w) // 2, (cols + w) // 2))
        if inside[part].mean() >= MIN_ROOF_SHARE:
            return part
    return None


@dataclass(frozen=True)
class Reading:
    """What the shingles say about the scale: the style (None: not told), the exposure taken, the
    factor the area scale needs beyond the courses with that exposure and the assumed focal length
    (the keyways' correction of the foreshortening along the courses), and the relative
    uncertainty the style leaves (which exposure, which tab)."""

    kind: ShingleKind | None
    exposure_in: float
    correction: float
    ambiguity: float


# Architectural laminates are 5 5/8 or 5 7/8 in, and nothing in a photo tells which: the scale is
# taken between them (within 2.2% of either). Large-format "designer" laminates (8 in) are not.
LAMINATE_EXPOSURE_IN = math.sqrt(5.625 * 5.875)
LAMINATE_AMBIGUITY = 0.025
TAB_SLACK = 0.08  # log: how far a 3-tab's tab may measure from its ratio on a square-on photo
MIN_TABS_EXPOSURES = 14.0  # along the patch (about six 3-tab tabs): fewer, and a missing lattice proves little
FEW_TABS_AMBIGUITY = 0.056  # 5 inches within 2.5 of it from the laminates' 5.75
UNKNOWN_EXPOSURE_IN = 5.3  # between 5 and 5 5/8: within 6% of either
UNKNOWN_AMBIGUITY = 0.06
DECIDED_AMBIGUITY = 0.012  # the keyway peak's position, once imperial or metric is told
TELL_APART = 0.006  # the tab-over-exposure ratio must be known this well (relative) to tell the pairs apart


def read_shingles(found: Keyways | None, judged: bool, anisotropy_spread: float, few_tabs: bool = False) -> Reading:
    """The reading from the keyway lattice (`found`), whether the style could be judged at all
    (enough roof in the rectified patch), and how uncertain the foreshortening along the courses is
    (relative; from the focal length's spread).

    - 3-tab: the tab width measured in exposures is the imperial or metric ratio times the
      rectification's stretch along the courses: a lattice whose tab is further from that than
      the stretch's uncertainty allows is no 3-tab's (a laminate's teeth lined up by chance). The
      pair is told apart when the stretch is known well enough (the tab's misfit to the pair's
      ratio adds to the uncertainty); otherwise the scale is taken between them (within 6% of
      both). Either way the
      measured tab removes the stretch: the area scale is corrected by its square root.
    - laminated (judged, no lattice): between 5 5/8 and 5 7/8 inch exposure; not told when the
      patch spans too few tabs (`few_tabs`: a close-up) to rule a 3-tab roof out, the same
      exposure with room for 5 inches.
    - not judged: 5.3 inches, 6%."""
    ratios = {pair: pair[1] / pair[0] for pair in (IMPERIAL, METRIC)}
    ratio = math.sqrt(ratios[IMPERIAL] * ratios[METRIC])
    if found is not None and found.strength >= MIN_LATTICE and _tab_fits(found, ratio, anisotropy_spread):
        if anisotropy_spread <= TELL_APART:
            pair = min(ratios, key=lambda p: abs(math.log(found.tab_exposures / ratios[p])))
            # How far the tab measured from the pair's ratio shows how well it was measured: the
            # pair told is that much less certain (a 5% misfit: the other pair is as likely).
            misfit = abs(math.log(found.tab_exposures / ratios[pair]))
            stretch = found.tab_exposures / ratios[pair]
            return Reading("three_tab", pair[0], math.sqrt(stretch), math.hypot(DECIDED_AMBIGUITY, misfit))
        # Between the pairs: exposure x tab is 60 or 74.5 square inches; the scale at their middle.
        exposure = math.sqrt(IMPERIAL[0] * METRIC[0])
        spread = 0.5 * math.log((METRIC[0] * METRIC[1]) / (IMPERIAL[0] * IMPERIAL[1])) / 2
        return Reading(
            "three_tab", exposure, math.sqrt(found.tab_exposures / ratio), math.hypot(spread, DECIDED_AMBIGUITY)
        )
    if judged and few_tabs:
        # Too few tabs along the patch for the lattice to rule a 3-tab roof out: the laminates'
        # exposure (a metric 3-tab's too), with room for an imperial 3-tab's 5 inches.
        return Reading(None, LAMINATE_EXPOSURE_IN, 1.0, FEW_TABS_AMBIGUITY)
    if judged:
        return Reading("laminated", LAMINATE_EXPOSURE_IN, 1.0, LAMINATE_AMBIGUITY)
    return Reading(None, UNKNOWN_EXPOSURE_IN, 1.0, UNKNOWN_AMBIGUITY)


def _tab_fits(found: Keyways, ratio: float, anisotropy_spread: float) -> bool:
    """Whether the lattice's tab (in exposures, as rectified) is a 3-tab's: its ratio to the
    exposure, stretched by no more than three spreads of the foreshortening's uncertainty."""
    return abs(math.log(found.tab_exposures / ratio)) <= max(TAB_SLACK, 3.0 * anisotropy_spread)
