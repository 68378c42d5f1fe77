"""Hail spots in the local stage on drawn roofs (the 3-tab courses of test_vision_wind): a spot's
shape is judged on the roof plane, and no spot amid another material is a hail candidate."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from tests.unit.test_vision_wind import PPI, as_work, drawn_roof
from vision.detections import Box
from vision.local.hail import hail_candidates
from vision.local.missing import appearance_distance
from vision.local.spots import _elongation


def ellipse(width: int, height: int) -> npt.NDArray[np.bool_]:
    mask = np.zeros((80, 160), np.uint8)
    cv2.ellipse(mask, (80, 40), (width // 2, height // 2), 0, 0, 360, 1, -1)
    return mask > 0


def test_a_round_bruise_seen_at_a_slant_is_round_on_the_plane() -> None:
    # Courses run across the photo (direction pi/2: down the slope is down): seen at a slant, a
    # round bruise is three times wider than tall.
    slanted = ellipse(60, 20)
    assert _elongation(slanted, math.pi / 2, 3.0) < 1.15
    assert _elongation(slanted, math.pi / 2, 1.0) > 2.5
    # A streak along the courses stays elongated once the slant is taken out.
    assert _elongation(ellipse(120, 8), math.pi / 2, 3.0) > 3.0


def disc(img: npt.NDArray[np.float64], x: int, y: int, value: float) -> None:
    cv2.circle(img, (x, y), round(0.6 * PPI), value, -1)


def near(boxes: list[Box], x: int, y: int) -> bool:
    return any(b[0] - 4 <= x <= b[2] + 4 and b[1] - 4 <= y <= b[3] + 4 for b in boxes)


def test_a_dark_disc_amid_another_material_is_not_a_hail_candidate() -> None:
    img = drawn_roof()
    side = round(8 * PPI)  # a pipe's flashing: 8 in of light metal, its open pipe a dark disc
    img[200 : 200 + side, 100 : 100 + side] = 225.0
    disc(img, 100 + side // 2, 200 + side // 2, 30.0)
    disc(img, 470, 260, 45.0)  # a bruise on the shingles
    work = as_work(img)
    with_material = [c.box for c in hail_candidates(work, appearance_distance(work))]
    without = [c.box for c in hail_candidates(work)]
    assert near(without, 100 + side // 2, 200 + side // 2)  # the spot detector sees it...
    assert not near(with_material, 100 + side // 2, 200 + side // 2)  # ...and it is set aside
    assert near(with_material, 470, 260)
