"""Where each pixel sits within its course: the height above the butt line below it, as a share of
the course period (0 at the butt edge, rising up the slope to 1 at the next butt edge up).

The survey's course field gives the course phase everywhere (with the slope's perspective); its
zero is arbitrary. The butt edges (the thin bright-over-dark edge along the courses, `course_lines`)
repeat once per period, so demodulating them by the field's phase and averaging over about a course
leaves a complex value whose angle is where the butt edge lies, locally: that removes both the
arbitrary zero and the field's slow drift. A wind crease lies an inch or more above a butt line,
between them; a lifted tab's shadow lies on one: the height tells them apart where the lines'
strengths alone do not.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vision.local.image_ops import F32, Mask, blur
from vision.local.work import Work

SMOOTHING_PERIODS = 1.5  # the demodulated butt edges are averaged over about this many periods (sigma)
GRID = 4  # the field's phase is evaluated every this many working pixels


def _field_phase(work: Work, shape: tuple[int, int], origin: tuple[int, int]) -> F32:
    """The course phase (cycles) at every working pixel, increasing up the slope. The field is
    smooth (a ratio of planes): it is evaluated every `GRID` pixels and interpolated."""
    assert work.scale is not None
    h, w = shape
    small = (max(1, -(-h // GRID)), max(1, -(-w // GRID)))
    # Grid point i stands for working pixel GRID * i + (GRID - 1) / 2: cv2.resize's alignment.
    ys, xs = np.mgrid[0 : small[0], 0 : small[1]].astype(np.float32) * GRID + (GRID - 1) / 2
    xs, ys = xs + origin[0], ys + origin[1]
    survey = work.scale.survey
    cos, sin = math.cos(work.direction), math.sin(work.direction)
    if survey is None:  # no field: a constant period along the measured direction
        period = work.scale.period_px * work.factor
        coarse = np.asarray(-(xs * cos + ys * sin) / period, np.float32)
    else:
        to_small = survey.factor / work.factor  # small-copy pixels per working pixel
        phase = survey.field.phase(xs * to_small, ys * to_small)
        cx, cy = w / 2 * to_small, h / 2 * to_small
        step = survey.field.phase([cx, cx + cos], [cy, cy + sin])
        down = float(step[1] - step[0]) > 0  # the phase grows down the slope: turn it round
        coarse = np.asarray(-phase if down else phase, np.float32)
    full = cv2.resize(coarse, (small[1] * GRID, small[0] * GRID), interpolation=cv2.INTER_LINEAR)
    return np.asarray(full[:h, :w], np.float32)


def course_height(work: Work, edge: F32, odd: Mask, origin: tuple[int, int] = (0, 0)) -> F32:
    """Each working pixel's height above the butt line below it, in [0, 1) of the course period.
    The `odd` pixels (anomalies: a crease is a strong edge too) and the strongest edges are kept
    from pulling the butt line towards themselves. `work` may be a crop of the working image
    whose top-left pixel is `origin` (x, y) of the whole."""
    assert work.scale is not None
    phase = _field_phase(work, edge.shape, origin)
    angle = np.float32(2 * math.pi) * phase
    on_roof = edge[work.roof]
    on_roof = on_roof[:: max(1, on_roof.size // 100_000)]  # a percentile of a sample: as good, far cheaper
    cap = float(np.percentile(on_roof, 95)) if on_roof.size else 1.0
    butts = np.clip(edge, 0.0, max(cap, 1e-6)) * (work.roof_wide & ~odd)
    sigma = SMOOTHING_PERIODS * work.scale.period_px * work.factor
    real = blur(np.asarray(butts * np.cos(angle), np.float32), sigma)
    imag = blur(np.asarray(butts * np.sin(angle), np.float32), sigma)
    offset = np.arctan2(imag, real) / np.float32(2 * math.pi)
    return np.asarray(np.mod(phase - offset, 1.0), np.float32)
