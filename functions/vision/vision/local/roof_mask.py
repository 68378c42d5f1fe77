"""Which pixels of the small copy show shingles: the shingles' look (texture, texture across the
courses, colour; `vision.local.appearance`) and courses in phase with the fitted course field.

The course field predicts the phase of the shadow lines at every pixel, so demodulating the
dark-line image by it and averaging over about a course measures how much course pattern the
field explains there. Brick (courses every 2 2/3 inches), leaves and lawns have none; a wall beside
the roof has its own period and phase.

Pixels with both, connected to most of the shingles the field was fitted on, are the roof's core.
It grows over the pixels that look like shingles and touch it: where the field's perspective is off
or the courses are faint, the look still holds. The look asked for follows the field's period
(`ShingleLook.pixels_like`): the far roof of a grazing view, its courses crowded, and the near
roof, its granules coarse, are shingles as much as the centre. Small holes in it (a torn-off tab, a vent, a
hail-bared patch) are filled, large ones (a chimney, a skylight) are not.
"""

from __future__ import annotations

import cv2
import numpy as np

from vision.local.appearance import TEXTURE_SIGMA, Appearance, ShingleLook
from vision.local.image_ops import F32, Mask

MIN_COURSES = 0.3  # course amplitude in phase with the field, in units of the shingles' median
MAX_FILLED_HOLE_FT2 = 4.0  # holes up to this many square feet are roof (a torn-off tab, a vent)


def shingle_mask(
    look: Appearance, shingles: ShingleLook, courses: F32, core: Mask, ppi: float, period: F32 | None = None
) -> Mask:
    """The roof on the small copy: pixels that look like `shingles` and carry the course field's
    courses (`courses`: the demodulated amplitude), in the part connected to most of `core`
    (certain shingles); `ppi` (pixels per inch at the centre) sizes the holes to fill, and
    `period` (the field's course period per pixel, when known) eases the growth where it is short."""
    h, w = courses.shape
    looks = shingles.pixels_like(look)
    like = looks & (courses >= MIN_COURSES * float(np.median(courses[core])))
    like = cv2.morphologyEx(like.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    # The roof is the part connected to most of the certain shingles (a window fitted on a wall
    # beside the roof does not bring the wall in).
    _, labels = cv2.connectedComponents(like.astype(np.uint8), connectivity=4)
    votes = np.bincount(labels[core & like], minlength=int(labels.max()) + 1)
    votes[0] = 0
    if not votes.any():
        return np.zeros((h, w), bool)
    roof = labels == int(np.argmax(votes))
    if period is not None and core.any():
        looks = shingles.pixels_like(look, (period / float(np.median(period[core]))).astype(np.float32))
    roof = _grown(roof, looks)
    roof = _fill_small_holes(roof, MAX_FILLED_HOLE_FT2 * 144.0 * ppi * ppi)
    # Texture is measured over TEXTURE_SIGMA: a smooth gutter or sky within that of the roof still
    # borrows some of its texture, so the edge is pulled in by as much.
    shrink = 2 * round(TEXTURE_SIGMA) + 1
    return np.asarray(cv2.erode(roof.astype(np.uint8), np.ones((shrink, shrink), np.uint8)) > 0, np.bool_)


def _grown(roof: Mask, like: Mask) -> Mask:
    """`roof` grown over the pixels that look like its shingles and touch it. Where the course field
    is off (the far roof and the foreground of a grazing view, whose periods the field's
    perspective misses) or the course lines are faint (overcast, a hard shadow's other side), the
    courses fail but the look holds; a closing bridges the course lines the look itself leaves out."""
    square = np.ones((3, 3), np.uint8)
    closed = cv2.morphologyEx(like.astype(np.uint8), cv2.MORPH_CLOSE, square)
    loose = np.asarray(cv2.morphologyEx(closed, cv2.MORPH_OPEN, square) > 0, np.bool_) | roof
    _, labels = cv2.connectedComponents(loose.astype(np.uint8), connectivity=4)
    touching = np.zeros(int(labels.max()) + 1, bool)
    touching[labels[roof]] = True
    touching[0] = False
    return np.asarray(touching[labels] & (like | roof), np.bool_)


def _fill_small_holes(mask: Mask, largest: float) -> Mask:
    """`mask` with its holes of at most `largest` pixels filled (a hole touching the border is the
    outside, not a hole)."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    h, w = mask.shape
    x, y, bw, bh, area = (stats[:, i] for i in range(5))
    inside = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    fill = inside & (area <= largest)
    fill[0] = False  # label 0: the mask itself
    return np.asarray(mask | fill[labels], np.bool_)
