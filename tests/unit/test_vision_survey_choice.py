"""Which reference window the survey grows from, on constructed images and FITTING photos: a comb
of thin dark lines is explained in phase by its own period (and a harmonic), not by a multiple
of it nor by noise; a vent box whose sides won the central windows' support gives way to the
shingles' courses on the same roof (three_tab_ridge:19 at 1280 x 960: the scale was 4.6 times the
truth); a chimney's flat top is not surveyed as the roof (dirty_old_roof:7)."""

from __future__ import annotations

import numpy as np

from evaluation.vision.families import render
from evaluation.vision.families.scene import Surface
from vision.local.phase_lock import demodulate
from vision.local.roof import estimate_roof
from vision.local.scale import course_scale
from vision.local.slope_plane import CourseField

SHAPE = (240, 320)


def _field(period: float) -> CourseField:
    """Horizontal courses every `period` pixels, no perspective."""
    h, w = SHAPE
    norm = max(h, w) / 2
    return CourseField(0.0, norm / period, 0.0, 0.0, w / 2, h / 2, norm, 0.0, 1, ((0.0,) * 4,) * 4)


def _comb(period: int) -> np.ndarray:
    dark = np.zeros(SHAPE, np.float32)
    dark[::period, :] = 1.0
    return dark


def _median_coherence(dark: np.ndarray, period: float) -> float:
    return float(np.median(demodulate(dark, _field(period)).coherence))


def test_thin_lines_are_explained_by_their_period_and_a_harmonic_not_a_multiple() -> None:
    dark = _comb(12)
    assert _median_coherence(dark, 12.0) >= 0.9
    assert _median_coherence(dark, 6.0) >= 0.9  # a harmonic explains them as well: the support decides
    assert _median_coherence(dark, 24.0) <= 0.2  # every other line is out of phase


def test_noise_is_not_explained_by_any_period() -> None:
    dark = np.abs(np.random.default_rng(3).normal(size=SHAPE)).astype(np.float32)
    for period in (6.0, 12.0, 24.0):
        assert _median_coherence(dark, period) <= 0.35


def test_a_vent_box_beside_the_central_windows_is_not_taken_for_the_courses() -> None:
    photo = render("three_tab_ridge", 19, (1280, 960))
    scale = course_scale(photo.pixels)
    assert scale is not None
    assert abs(scale.ppi / (photo.pixels_per_foot / 12.0) - 1.0) <= 0.1


def test_a_flat_chimney_top_is_never_the_roof() -> None:
    # A ridge view over a chimney's flat, noisy top: its noise made weak combs that used to grow
    # the field over it (mask precision 0.01, scale -72%). No roof is better than that one.
    photo = render("dirty_old_roof", 7, (1280, 960))
    scale = course_scale(photo.pixels)
    if scale is not None:
        mask = estimate_roof(photo.pixels, scale)
        assert (mask & photo.roof).sum() >= 0.9 * mask.sum()
    chimney = photo.surfaces == int(Surface.CHIMNEY)
    assert chimney.mean() > 0.3  # the photo still shows the plane
