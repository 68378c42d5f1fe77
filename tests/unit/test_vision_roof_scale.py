"""The roof mask and the shingle scale on house scenes (tests/support/roof_scenes: a slope with sky
above, a gutter and a siding or brick wall below, trees and shadows; drawn independently of both
photo generators, with exact truth).

- The mask stays off the sky, the gutter, the wall and the trees where detections could land: the
  share of the mask eroded by 0.75 inch (what the detectors look at) that is off the true roof.
- The scale (pixels per inch at the centre, an area scale) is within 5% where courses are visible,
  the style is told (3-tab from its keyway lattice, laminated otherwise), the perspective gradient
  predicts the scale a quarter of the photo away, and the stated uncertainty covers the error.

None of these scenes was used to choose a threshold: they were fixed before being run (the
figures on the families generator's held-out families are in `python -m bench vision_roof`).
"""

from __future__ import annotations

import dataclasses
import math
from functools import cache

import cv2
import numpy as np
import pytest

from evaluation.vision.synthetic import PhotoSpec, render
from tests.support.roof_scenes import Scene, ScenePhoto, homography, ppi_at, render_scene
from vision.local.image_ops import Mask
from vision.local.roof import estimate_roof
from vision.local.scale import Scale, course_scale
from vision.photo_scale import PhotoScale

SKY_SIDING_3TAB = Scene(
    seed=1,
    width=960,
    height=720,
    style="three_tab",
    blend="charcoal",
    sky="blue",
    wall="siding",
    tilt_deg=20,
    span_in=110,
)
OVERCAST_BRICK_TREE_SHADOW = Scene(
    seed=2,
    width=960,
    height=720,
    style="laminate",
    blend="autumn_red",
    sky="overcast",
    wall="brick",
    tree=True,
    shadow=True,
    tilt_deg=25,
)
WHITE_ROOF_OVERCAST_RAKE = Scene(
    seed=3,
    width=960,
    height=720,
    style="three_tab_metric",
    blend="white",
    sky="overcast",
    wall="siding",
    rake=True,
    tilt_deg=10,
    yaw_deg=15,
)
GREY_LAMINATE_SIDING = Scene(
    seed=4,
    width=960,
    height=720,
    style="laminate",
    blend="estate_grey",
    sky="blue",
    wall="siding",
    tilt_deg=15,
    span_in=100,
)
GREEN_LAMINATE_BRICK_TREE = Scene(
    seed=5,
    width=960,
    height=720,
    style="laminate",
    blend="hunter_green",
    sky="blue",
    wall="brick",
    tree=True,
    tilt_deg=20,
    span_in=120,
)
BROWN_3TAB_SHADOW = Scene(
    seed=6,
    width=960,
    height=720,
    style="three_tab",
    blend="weathered_wood",
    sky="none",
    wall="siding",
    shadow=True,
    tilt_deg=5,
    span_in=90,
)
SCENES = (
    SKY_SIDING_3TAB,
    OVERCAST_BRICK_TREE_SHADOW,
    WHITE_ROOF_OVERCAST_RAKE,
    GREY_LAMINATE_SIDING,
    GREEN_LAMINATE_BRICK_TREE,
    BROWN_3TAB_SHADOW,
)
MAX_OFF_ROOF = 0.002  # of the eroded mask


@cache
def measured(scene: Scene) -> tuple[ScenePhoto, Scale, Mask]:
    photo = render_scene(scene)
    scale = course_scale(photo.pixels)
    assert scale is not None, scene.name
    return photo, scale, estimate_roof(photo.pixels, scale)


def off_roof_share(photo: ScenePhoto, scale: Scale, mask: Mask) -> float:
    """The share of the mask, eroded by 0.75 inch as the detectors erode it, that is not roof."""
    r = max(1, round(0.75 * scale.ppi))
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
    return float((eroded & ~photo.roof).sum() / max(1, eroded.sum()))


def iou(a: Mask, b: Mask) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize(
    "scene", [SKY_SIDING_3TAB, WHITE_ROOF_OVERCAST_RAKE, GREY_LAMINATE_SIDING], ids=lambda s: s.name
)
def test_the_mask_stays_off_the_sky_gutter_and_siding(scene: Scene) -> None:
    photo, scale, mask = measured(scene)
    assert off_roof_share(photo, scale, mask) <= MAX_OFF_ROOF
    assert iou(mask, photo.roof) >= 0.85


@pytest.mark.parametrize(
    "scene", [OVERCAST_BRICK_TREE_SHADOW, GREEN_LAMINATE_BRICK_TREE, BROWN_3TAB_SHADOW], ids=lambda s: s.name
)
def test_the_mask_stays_off_brick_and_trees_and_keeps_the_shadowed_roof(scene: Scene) -> None:
    photo, scale, mask = measured(scene)
    assert off_roof_share(photo, scale, mask) <= MAX_OFF_ROOF
    assert iou(mask, photo.roof) >= 0.8


def test_the_mask_hugs_the_roof_edge() -> None:
    """Within about an inch: the mask grown by an inch covers nearly all the roof, and the roof
    grown by an inch covers all the mask."""
    photo, scale, mask = measured(GREY_LAMINATE_SIDING)
    inch = max(1, round(scale.ppi))
    kernel = np.ones((2 * inch + 1, 2 * inch + 1), np.uint8)
    grown_mask = cv2.dilate(mask.astype(np.uint8), kernel) > 0
    grown_roof = cv2.dilate(photo.roof.astype(np.uint8), kernel) > 0
    assert (photo.roof & ~grown_mask).sum() <= 0.03 * photo.roof.sum()
    assert (mask & ~grown_roof).sum() == 0


@pytest.mark.parametrize(
    "scene",
    [SKY_SIDING_3TAB, WHITE_ROOF_OVERCAST_RAKE, GREY_LAMINATE_SIDING, GREEN_LAMINATE_BRICK_TREE, BROWN_3TAB_SHADOW],
    ids=lambda s: s.name,
)
def test_the_scale_is_within_5_percent_and_the_uncertainty_covers_the_error(scene: Scene) -> None:
    photo, scale, _ = measured(scene)
    error = abs(scale.ppi / photo.ppi - 1)
    assert error <= 0.05
    assert error <= 2.5 * scale.uncertainty


@pytest.mark.parametrize(
    ("scene", "style"),
    [
        (SKY_SIDING_3TAB, "three_tab"),
        (WHITE_ROOF_OVERCAST_RAKE, "three_tab"),
        (BROWN_3TAB_SHADOW, "three_tab"),
        (GREY_LAMINATE_SIDING, "laminated"),
        (GREEN_LAMINATE_BRICK_TREE, "laminated"),
        (OVERCAST_BRICK_TREE_SHADOW, "laminated"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.name,
)
def test_the_shingle_style_is_told(scene: Scene, style: str) -> None:
    _, scale, _ = measured(scene)
    assert scale.shingle == style
    assert scale.photo_scale().shingle == style


def test_a_laminated_roof_states_the_exposure_it_assumed_and_its_ambiguity() -> None:
    _, scale, _ = measured(GREY_LAMINATE_SIDING)
    # 5 5/8 or 5 7/8: a laminate's exposure is not read from the photo, so it is taken between them.
    assert scale.exposure_in == pytest.approx(math.sqrt(5.625 * 5.875))
    assert scale.uncertainty >= 0.025


def test_a_square_on_3_tab_roof_tells_imperial_from_metric() -> None:
    _, scale, _ = measured(BROWN_3TAB_SHADOW)  # 5 degrees off square-on: the tab/exposure ratio is measured
    assert scale.exposure_in == pytest.approx(5.0)
    assert scale.uncertainty <= 0.03


def test_the_perspective_gradient_predicts_the_scale_a_quarter_of_the_photo_away() -> None:
    """A plane of pixels per foot (PhotoScale's) cannot follow a perspective's curve exactly; a
    quarter of the photo away it stays within 10% of the truth's change."""
    photo, scale, _ = measured(SKY_SIDING_3TAB)  # tilted 20 degrees: the eave side is nearer
    h = homography(SKY_SIDING_3TAB)
    for dy in (-photo.pixels.shape[0] / 4, photo.pixels.shape[0] / 4):
        y = scale.cy + dy
        predicted = float(scale.photo_scale().at(scale.cx, y)) / 12
        truth = ppi_at(h, scale.cx, y)
        assert predicted / truth == pytest.approx(scale.ppi / photo.ppi, rel=0.1)


def test_the_roof_is_surveyed_again_when_the_scale_carries_no_survey() -> None:
    photo, scale, mask = measured(GREY_LAMINATE_SIDING)
    again = estimate_roof(photo.pixels, dataclasses.replace(scale, survey=None))
    assert np.array_equal(again, mask)


def test_a_photo_without_a_roof_has_no_shingle_scale() -> None:
    photo = render(PhotoSpec(width=960, height=720, seed=3, view="none"))
    assert course_scale(photo.pixels) is None


def test_the_scale_json_names_the_style_only_when_told() -> None:
    told = PhotoScale(
        pixels_per_foot=100.0, cx=0.0, cy=0.0, source="shingle_courses", uncertainty=0.03, shingle="three_tab"
    )
    assert told.as_json()["shingle"] == "three_tab"
    untold = dataclasses.replace(told, shingle=None)
    assert "shingle" not in untold.as_json()
