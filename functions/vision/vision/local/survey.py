"""The survey of a small copy of the photo: where the shingle courses are and how they run (the
course field, with its perspective), what the shingles look like, and the roof mask.

The central windows agree on the course period there (the photo is aimed at the roof) and show
what the shingles look like; rings of windows further out, each searched near what the field
fitted so far expects and admitted only if it looks like those shingles, grow the field and show
the perspective; the roof mask follows from the field and the shingles' look
(`vision.local.roof_mask`); last, the field is locked onto the courses of the roof's pixels
(`vision.local.phase_lock`), which removes the bias a window's spectrum has where the period
changes across it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vision.local.appearance import MIN_SHINGLE_TEXTURE, Appearance, ShingleLook, appearance, learn_look
from vision.local.course_windows import (
    MIN_POLARITY,
    CourseWindow,
    central_windows,
    fundamental,
    grid_centres,
    line_images,
    local_windows,
    polarity,
    window_size,
)
from vision.local.image_ops import F32, Mask, RGBImage, log_luminance
from vision.local.phase_lock import demodulate, lock
from vision.local.roof_mask import shingle_mask
from vision.local.slope_plane import CourseField, Tilt, fit_course_field, focal_prior, slope_plane, tilt

HARMONICS_SUPPORT = (2, 3, 4, 5)  # a thin shadow line's comb is flat: small windows find any of these
# A period is passed over for one these many times longer that two windows agree on (not twice: a
# laminate's teeth can repeat every other course, so twice the exposure is no proof of a harmonic).
PASSED_OVER = (3, 4, 5)
MULTIPLE_WITHIN = 0.12  # log: how close to the multiple (a vent's louvres or a siding's laps are at no multiple)
TYPICAL_EXPOSURE_IN = 5.3
MIN_ROOF_SHARE = (
    0.01  # of the photo, for there to be a roof  # sizes the holes the mask fills before the style is known
)

MAX_REFERENCES = 3  # distinct reference windows surveyed from
# The median comb strength (over the spectrum's median) of the windows a field grows from, at least:
# shingles' courses give 500 and more (fitting photos at 1280 x 960), a flat plane's noise about 100.
MIN_MEDIAN_COMB = 250.0
BETTER_EXPLAINED = 2.0  # a less supported window's survey must explain the courses this many times as well...
MIN_SHARED_ROOF = 0.8  # ...on a roof this much of which is the best supported one's
# A reference window whose period is this many times the primary survey's at the centre is not
# surveyed: its survey could not be the finer one (the central windows' periods differ by less
# than this with perspective; on the evaluation photos the windows that corrected a period had at
# most 0.94 times it).
NOT_FINER = 1.25
SAME_PLACE, SAME_PERIOD = 0.3, 0.12  # (of the half-diagonal; log) windows closer and more alike saw the same courses

RINGS = (0.2, 0.32, 0.45, 0.6, 0.8, math.inf)  # the field grows outwards: windows within these distances of the centre


def _reference(windows: list[CourseWindow], cx: float, cy: float, norm: float) -> CourseWindow | None:
    """The central window whose course vector the others support best (`_ranked`)."""
    ranked = _ranked(windows, cx, cy, norm)
    return ranked[0][0] if ranked else None


def _ranked(
    windows: list[CourseWindow], cx: float, cy: float, norm: float
) -> list[tuple[CourseWindow, tuple[float, float]]]:
    """The central windows with their support, those whose course vector the others support best
    first (a smaller window first among equals): by agreeing with it in
    direction and period (perspective lets a neighbour's period differ more the further away it
    is), or by having found its second or third harmonic (a laminate's backer edge or a window too
    small for the period favours a harmonic; nothing on a roof repeats at twice the exposure, so a
    harmonic supports the longer period and not the other way round). A period needs the support
    of another window of its own where another window could have seen it, and is passed over when
    two windows agree on three to five times it (a close-up's small
    windows see the granules' or a shadow line's fine structure, the large ones the courses)."""
    if not windows:
        return []
    x = np.array([(w.x - cx) / norm for w in windows])
    y = np.array([(w.y - cy) / norm for w in windows])
    logs = np.log([w.period for w in windows])
    dirs = np.array([w.direction for w in windows])
    longest = np.log([w.size / 3.5 for w in windows])
    owns, harmonics, multiples = [], [], []
    for i in range(len(windows)):
        apart = np.hypot(x - x[i], y - y[i])
        tolerance = 0.1 + 1.2 * apart
        aligned = np.abs(dirs - dirs[i]) < math.radians(8)
        own = aligned & (np.abs(logs - logs[i]) < tolerance)
        near_harmonic = np.minimum(tolerance, 0.3)  # a harmonic must not be mistaken for the next
        harmonic = aligned & ~own
        harmonic &= np.any([np.abs(logs - logs[i] + math.log(m)) < near_harmonic for m in HARMONICS_SUPPORT], axis=0)
        owns.append(own)
        harmonics.append(harmonic)
        multiples.append(
            aligned & np.any([np.abs(logs - logs[i] - math.log(m)) < MULTIPLE_WITHIN for m in PASSED_OVER], axis=0)
        )
    agreed = np.array([int(own.sum()) >= 2 for own in owns])
    scores = []
    for i in range(len(windows)):
        own, harmonic = owns[i], harmonics[i]
        able = int((longest >= logs[i] - 0.05).sum())
        passed_over = bool((multiples[i] & agreed).any())
        first = float(own.sum() >= min(2, able) and not passed_over)
        scores.append((first, float(own.sum() + harmonic.sum()), -0.001 * windows[i].size, -i))
    return [(windows[-score[3]], score[:2]) for score in sorted(scores, reverse=True)]


@dataclass(frozen=True)
class Survey:
    """What the small copy showed: its measurements, the course field and the windows fitted on
    it, the look of the shingles and where they are."""

    small: RGBImage
    factor: float  # small-copy pixels per photo pixel
    look: Appearance
    dark: F32
    field: CourseField
    windows: list[CourseWindow]
    shingles: ShingleLook
    roof: Mask  # where the shingles are (the detectors search it)
    measured: Mask  # its part the courses were measured on: in phase with the field, or like its core
    explained: float = 0.0  # the field's coherence (`Demodulated.coherence`) summed over the roof, per photo pixel


def _inner(shape: tuple[int, int], windows: list[CourseWindow], share: float = 0.3) -> Mask:
    """The middle of each window (`share` of its size either side of its centre)."""
    out = np.zeros(shape, bool)
    for w in windows:
        half = max(2, round(w.size * share))
        out[max(0, round(w.y) - half) : round(w.y) + half, max(0, round(w.x) - half) : round(w.x) + half] = True
    return out


def _fitting(windows: list[CourseWindow], field: CourseField, within: float = 0.06) -> list[CourseWindow]:
    out = []
    for w in windows:
        kx, ky = field.vector(w.x, w.y)
        if math.hypot(w.kx - float(kx), w.ky - float(ky)) / math.hypot(float(kx), float(ky)) <= within:
            out.append(w)
    return out


def survey(small: RGBImage, factor: float) -> Survey | None:
    """The course field and the roof.

    The central windows agree on the course period there and show what the shingles look like.
    Rings of windows further out, each searched near what the field fitted so far expects and
    admitted only if it looks like those shingles, grow the field and show the perspective. The
    roof mask follows from the field and the shingles' look; last, the field is locked onto the
    courses of the roof's pixels (`phase_lock`), which removes the bias a window's spectrum has
    where the period changes across it.

    Where windows elsewhere are as well supported as the best, and the best's own look is no
    shingle's (a lawn's chance comb beside the roof), the survey starts from the next of them. The
    next best supported distinct windows are surveyed too: one whose field, on the same roof,
    explains its courses in phase far better at a shorter period corrects the period (a vent box's
    sides or louvres can win the central windows' support)."""
    first_look = _first_look(small)
    if first_look is None:
        return None
    lum, dark, central, refs = first_look
    h, w = dark.shape
    primary: Survey | None = None
    others: list[Survey] = []
    for ref, tied in refs:
        if primary is not None and ref.period > NOT_FINER * centre_period(primary):
            continue  # a survey from a longer period cannot correct the primary's to a shorter one
        look = appearance(small, lum, ref.direction, ref.period)
        first = learn_look(look, _inner((h, w), [ref]))
        if first is None or not first.plausible:
            continue  # the window sits on a lawn or the sky: its comb is chance
        if tied and primary is None and not others:
            primary = _survey_from(small, factor, dark, central, ref, (look, first))
            if primary is None:
                return None
        elif primary is not None:
            other = _survey_from(small, factor, dark, central, ref, (look, first))
            others += [other] if other is not None else []
    if primary is None:
        return None
    finer = [s for s in others if _finer_on_same_roof(s, primary)]
    return max(finer, key=lambda s: s.explained) if finer else primary


def _finer_on_same_roof(other: Survey, primary: Survey) -> bool:
    """Whether `other` (a survey from a less supported window) corrects `primary`'s period: on
    much the same roof, a shorter period whose field explains the courses at least
    BETTER_EXPLAINED times as well. A vent's louvres or a box's sides, or a period a few times
    the courses', win a central window's support yet explain little of the roof in phase; a
    harmonic of the courses explains about as much as the courses themselves."""
    shared = (other.measured & primary.measured).sum() / max(1, other.measured.sum())
    return bool(
        shared >= MIN_SHARED_ROOF
        and centre_period(other) < centre_period(primary)
        and other.explained >= BETTER_EXPLAINED * primary.explained
    )


def centre_period(found: Survey) -> float:
    """The course period at the copy's centre, in its pixels."""
    h, w = found.dark.shape
    kx, ky = found.field.vector(w / 2, h / 2)
    return 1.0 / math.hypot(float(kx), float(ky))


def _survey_from(
    small: RGBImage,
    factor: float,
    dark: F32,
    central: list[CourseWindow],
    ref: CourseWindow,
    first_look: tuple[Appearance, ShingleLook],
) -> Survey | None:
    """The survey grown from the reference window `ref`, with the photo's measurements for its
    courses and the look of its shingles (`survey`)."""
    h, w = dark.shape
    cx, cy, norm = w / 2, h / 2, max(h, w) / 2
    look, first = first_look
    trend = tilt([c for c in central if first.window_like(look, c.x, c.y, c.size)], ref, cx, cy, norm)
    agreeing = [c for c in _agreeing(central, ref, trend, cx, cy, norm) if first.window_like(look, c.x, c.y, c.size)]
    shingles = learn_look(look, _inner((h, w), agreeing)) or first
    if not shingles.plausible:
        return None  # a lawn's or a hedge's texture, not shingles
    start = trend.start() or (ref.kx * norm, ref.ky * norm, 0.0, 0.0)
    field = fit_course_field(agreeing, cx, cy, norm, start, tolerance=0.45) or _constant(ref, cx, cy, norm)
    n0 = window_size(ref.period)
    centres = [(x, y) for x, y in grid_centres(h, w, n0) if shingles.window_like(look, x, y, n0)]
    distance = [math.hypot((x - ref.x) / norm, (y - ref.y) / norm) for x, y in centres]
    windows: list[CourseWindow] = list(agreeing)
    inner = 0.0
    for outer in RINGS:
        ring = [(x, y) for (x, y), d in zip(centres, distance, strict=True) if inner <= d < outer]
        inner = outer
        # Until the perspective is known, a ring's periods may be further from the centre's.
        slack = 0.22 if field.p or field.q else 0.3
        windows += _measured(dark, field, ring, slack)
        field = _sane(fit_course_field(windows, cx, cy, norm, tuple(field.params), tolerance=slack + 0.05), field, ref)
    if float(np.median([c.strength for c in windows])) < MIN_MEDIAN_COMB:
        return None  # a flat plane's noise (a chimney's top, a tarp) makes combs too, but weak ones
    core = _inner((h, w), _fitting(windows, field))
    shingles = learn_look(look, core) or shingles
    if not shingles.plausible:
        return None  # the field grew over the sky or a lawn: not a roof to measure or search
    demod = demodulate(dark, field)
    amplitude = demod.full_size(demod.amplitude, (h, w))
    ppi = float(slope_plane(field, focal_prior(w, h), TYPICAL_EXPOSURE_IN).pixels_per_inch(cx, cy))
    measured = shingle_mask(look, shingles, amplitude, core, ppi)
    if measured.mean() < MIN_ROOF_SHARE:
        return None  # courses somewhere, but no roof to speak of: nothing to measure or search
    explained = float(np.mean(demod.full_size(demod.coherence, (h, w)) * measured))
    if measured.sum() >= 64:
        locked = lock(dark, field, measured, (ref.x, ref.y), grow=False)
        field = _sane(locked, field, ref)
    # The roof the detectors search also takes the far and near roof whose look the perspective
    # changed; the scale is read on the part measured (there, the field is known to hold).
    roof = shingle_mask(look, shingles, amplitude, core, ppi, _period_map(field, (h, w)))
    return Survey(small, factor, look, dark, field, windows, shingles, roof, measured, explained)


def _period_map(field: CourseField, shape: tuple[int, int], step: int = 4) -> F32:
    """The field's course period (pixels) at every pixel of the small copy; beyond the slope's
    horizon, where the field means nothing, a period longer than any (1e9: finite, so that the
    interpolation next to the horizon stays a number). The field is smooth: it is evaluated every
    `step` pixels and interpolated."""
    h, w = shape
    # Grid point i stands for pixel step * i + (step - 1) / 2: cv2.resize's alignment.
    ys, xs = np.mgrid[0 : -(-h // step), 0 : -(-w // step)].astype(np.float64) * step + (step - 1) / 2
    kx, ky = field.vector(xs, ys)
    period = 1.0 / np.maximum(np.hypot(kx, ky), 1e-9)
    coarse = np.where(field.near_side(xs, ys), period, 1e9).astype(np.float32)
    full = cv2.resize(coarse, (coarse.shape[1] * step, coarse.shape[0] * step), interpolation=cv2.INTER_LINEAR)
    return np.asarray(full[:h, :w], np.float32)


def _first_look(small: RGBImage) -> tuple[F32, F32, list[CourseWindow], list[tuple[CourseWindow, bool]]] | None:
    """(log luminance, dark lines, central windows, reference windows: the best supported
    distinct ones first, each with whether it is as well supported as the best) of the small copy."""
    lum = log_luminance(small)
    dark, bright = line_images(lum)
    h, w = dark.shape
    # Central windows of shingles: textured (not sky or paint), courses of dark lines (not brick).
    central = [c for c in central_windows(dark) if _textured(lum, c) and polarity(dark, bright, c) >= MIN_POLARITY]
    norm = max(h, w) / 2
    refs: list[tuple[CourseWindow, bool]] = []
    ranked = _ranked(central, w / 2, h / 2, norm)
    for window, support in ranked:
        if len(refs) == MAX_REFERENCES:
            break
        if not any(_same_courses(window, other, norm) for other, _ in refs):
            refs.append((window, support == ranked[0][1]))
    if not refs:
        return None
    return lum, dark, central, [(fundamental(dark, ref), tied) for ref, tied in refs]


def _same_courses(a: CourseWindow, b: CourseWindow, norm: float) -> bool:
    """Whether two windows saw the same courses (near each other, alike in direction and period):
    a survey from one would be a survey from the other."""
    apart = math.hypot(a.x - b.x, a.y - b.y) / norm
    return (
        apart < SAME_PLACE
        and abs(a.direction - b.direction) < math.radians(8)
        and abs(math.log(a.period / b.period)) < SAME_PERIOD
    )


def central_period(small: RGBImage) -> float | None:
    """The course period the central windows of the small copy agree on best (its pixels), or
    None: a quick look, a fraction of a survey's work."""
    first_look = _first_look(small)
    return None if first_look is None else first_look[3][0][0].period


def _textured(lum: F32, window: CourseWindow) -> bool:
    """Whether the window has the fine texture of shingles at all (sky and paint do not)."""
    half = window.size // 2
    patch = lum[
        max(0, round(window.y) - half) : round(window.y) + half, max(0, round(window.x) - half) : round(window.x) + half
    ]
    if patch.size < 16:
        return False
    fine = patch[1:-1, 1:-1] - 0.25 * (patch[:-2, 1:-1] + patch[2:, 1:-1] + patch[1:-1, :-2] + patch[1:-1, 2:])
    return bool(float(np.sqrt(np.mean(fine * fine))) >= MIN_SHINGLE_TEXTURE)


def _constant(ref: CourseWindow, cx: float, cy: float, norm: float) -> CourseField:
    return CourseField(ref.kx * norm, ref.ky * norm, 0.0, 0.0, cx, cy, norm, 0.0, 1, ((0.0,) * 4,) * 4)


def _sane(fitted: CourseField | None, previous: CourseField, ref: CourseWindow) -> CourseField:
    """`fitted`, unless it has left the reference window's measurement far behind (a fit that ran
    off on a few stray windows) or put the slope's horizon through the middle of the photo."""
    if fitted is None:
        return previous
    kx, ky = fitted.vector(ref.x, ref.y)
    off = math.hypot(float(kx) - ref.kx, float(ky) - ref.ky) * ref.period
    if off > 0.25 or not fitted.near_side(ref.x, ref.y, 0.3) or math.hypot(fitted.p, fitted.q) > 3.0:
        return previous
    return fitted


def _agreeing(
    windows: list[CourseWindow], ref: CourseWindow, trend: Tilt, cx: float, cy: float, norm: float
) -> list[CourseWindow]:
    """The central windows that agree with the reference in direction and in period as the
    windows' trend down the slope expects it there (a ladder's view: the period doubles within a
    tenth of the photo); the further away, the more it may differ (perspective the trend missed)."""
    out = []
    for w in windows:
        apart = math.hypot(w.x - ref.x, w.y - ref.y) / norm
        expected = trend.period((w.x - cx) / norm, (w.y - cy) / norm)
        if (
            abs(w.direction - ref.direction) < math.radians(8)
            and abs(math.log(w.period / expected)) < 0.1 + 1.2 * apart
        ):
            out.append(w)
    return out or [ref]


def _measured(dark: F32, field: CourseField, centres: list[tuple[float, float]], slack: float) -> list[CourseWindow]:
    """Windows at `centres` sized to the field's local period (grouped by size), each searched
    near the field's vector there."""
    groups: dict[int, list[tuple[float, float, float, float]]] = {}
    for x, y in centres:
        if not field.near_side(x, y, 0.15):
            continue
        kx, ky = field.vector(x, y)
        period = 1.0 / math.hypot(float(kx), float(ky))
        if period < 4.0:
            continue
        groups.setdefault(window_size(period), []).append((x, y, float(kx), float(ky)))
    found: list[CourseWindow] = []
    for n, expected in groups.items():
        found += local_windows(dark, expected, n, slack)
    return found
