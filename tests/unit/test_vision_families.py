"""The evaluation families (evaluation.vision.families): every family renders, deterministically,
with truth that holds: boxes in the photo and on the roof, each holding the change its damage made,
a roof mask that leaves out sky, wall and gutter, a scale that matches the courses' measured period,
and a harness that counts finds, false positives, duplicates and detections off the roof.

Photos are small (320 x 240 to 800 x 600) so the file runs in seconds."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest

from evaluation.vision.families import FAMILIES, FITTING, HELD_OUT, RoofPhoto, render, render_scene
from evaluation.vision.families.evaluate import Answer, FamilySummary, Found, score
from evaluation.vision.families.materials import STYLES
from evaluation.vision.families.params import DamagePlan, LightPlan, SceneParams, View, Wear
from evaluation.vision.families.photo import Defects
from evaluation.vision.families.scene import ROOF_SURFACES, Surface

SMALL = (320, 240)
MEDIUM = (800, 600)
OFF_ROOF = (Surface.SKY, Surface.WALL, Surface.GUTTER, Surface.GROUND, Surface.TREE, Surface.SOFFIT, Surface.FASCIA)


@cache
def photo(family: str, index: int, size: tuple[int, int]) -> RoofPhoto:
    return render(family, index, size)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_renders_a_photo_with_its_truth(family: str) -> None:
    shot = photo(family, 0, SMALL)
    assert shot.pixels.shape == (240, 320, 3) and shot.pixels.dtype == np.uint8
    assert shot.roof.shape == (240, 320) and shot.roof.dtype == np.bool_
    assert shot.roof.any()
    assert np.array_equal(shot.roof, np.isin(shot.surfaces, [int(s) for s in ROOF_SURFACES]))
    assert shot.split == FAMILIES[family].split
    assert shot.pixels_per_foot > 0 and shot.exposure_in in (5.0, 5.625, 5.875, 8.0)
    assert shot.pixels.std() > 5  # a photo, not a blank


def test_a_photo_is_the_same_for_the_same_family_and_index_and_differs_across_indices() -> None:
    first = render("three_tab_ridge", 2, SMALL)
    again = render("three_tab_ridge", 2, SMALL)
    other = render("three_tab_ridge", 3, SMALL)
    assert np.array_equal(first.pixels, again.pixels)
    assert first.marks == again.marks and first.distractors == again.distractors
    assert not np.array_equal(first.pixels, other.pixels)


def test_the_split_keeps_fitting_and_held_out_families_apart_and_holds_the_required_kinds() -> None:
    assert set(FITTING).isdisjoint(HELD_OUT)
    assert set(FITTING) | set(HELD_OUT) == set(FAMILIES)
    assert 10 <= len(FAMILIES) <= 14
    held = [FAMILIES[n] for n in HELD_OUT]
    assert any("three_tab" in f.styles and "ladder" in f.views for f in held)  # keyway T-junctions
    assert any(f.damage.creases[1] > 0 for f in held)  # a wind family
    assert any("yard" in f.views and f.gutters == 1.0 for f in held)  # sky, gutter and wall
    fitting_combos = {
        (s, v, li) for f in map(FAMILIES.get, FITTING) if f for s in f.styles for v in f.views for li in f.lights
    }
    for f in held:  # every held-out family has a combination fitting never shows
        combos = {(s, v, li) for s in f.styles for v in f.views for li in f.lights}
        novel = combos - fitting_combos
        assert novel or f.casters != (None,) or f.trees > 0 or "brick" in f.walls, f.name


@pytest.mark.parametrize(
    ("family", "index"),
    [("three_tab_closeup", 0), ("wind_storm_three_tab", 1), ("laminate_drone", 2), ("dirty_old_roof", 1)],
)
def test_truth_boxes_lie_inside_the_photo_and_on_the_roof(family: str, index: int) -> None:
    shot = photo(family, index, MEDIUM)
    assert shot.marks, "the medium-size photo should hold some damage"
    h, w = shot.roof.shape
    for mark in shot.marks:
        x0, y0, x1, y1 = mark.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
        assert mark.on(shot.roof)
        assert shot.roof[y0:y1, x0:x1].mean() > 0.6
        assert mark.size_in > 0


def _quiet(params: SceneParams, damage: DamagePlan) -> SceneParams:
    """The same scene with no sensor noise or JPEG (so only what the damage paints differs)."""
    return dataclasses.replace(params, damage=damage, defects=Defects(noise=0.0, jpeg_quality=100, sharpen=0.0))


@pytest.mark.parametrize("family", ["three_tab_closeup", "wind_storm_laminate"])
def test_each_box_holds_the_change_its_damage_made_and_nothing_changes_far_from_the_boxes(family: str) -> None:
    params = FAMILIES[family].params(1, MEDIUM)
    damaged = render_scene(_quiet(params, dataclasses.replace(params.damage, hail=max(params.damage.hail, 3))))
    clean = render_scene(_quiet(params, DamagePlan()))
    assert damaged.marks and not clean.marks
    diff = np.abs(damaged.pixels.astype(int) - clean.pixels.astype(int)).max(axis=2)
    near = np.zeros(diff.shape, bool)
    for mark in damaged.marks:
        x0, y0, x1, y1 = mark.box
        assert diff[y0:y1, x0:x1].max() >= 8, mark
        near[max(0, y0 - 3) : y1 + 3, max(0, x0 - 3) : x1 + 3] = True
    assert np.percentile(diff[~near], 99.9) <= 3  # metering moves a level or two, nothing more


@pytest.mark.parametrize(("family", "index"), [("sky_gutter_siding", 3), ("sky_gutter_brick_trees", 1)])
def test_the_roof_mask_leaves_out_sky_wall_and_gutter(family: str, index: int) -> None:
    shot = photo(family, index, SMALL)
    labels = shot.surfaces
    for surface in (Surface.SKY, Surface.WALL, Surface.GUTTER):
        assert (labels == surface).any(), f"{surface.name} should be in a yard view"
    off = np.isin(labels, [int(s) for s in OFF_ROOF])
    assert not (shot.roof & off).any()
    assert (labels == Surface.SHINGLES).any() and shot.roof[labels == Surface.SHINGLES].all()


def _measured_period(pixels: np.ndarray) -> float:
    """The course period (px) of a square-on photo: the first lag at which the rows' mean brightness
    correlates with itself nearly as well as at its best (later peaks are multiples of it),
    refined between pixels by a parabola."""
    rows = pixels.astype(float).mean(axis=2)[:, pixels.shape[1] // 6 : -pixels.shape[1] // 6].mean(axis=1)
    rows = rows - rows.mean()
    lags = np.arange(5, 80)
    ac = np.array([np.dot(rows[:-lag], rows[lag:]) / (rows.size - lag) for lag in lags])
    peaks = [i for i in range(1, len(ac) - 1) if ac[i] >= ac[i - 1] and ac[i] >= ac[i + 1]]
    first = next(i for i in peaks if ac[i] >= 0.8 * max(ac[j] for j in peaks))
    a, b, c = ac[first - 1], ac[first], ac[first + 1]
    return float(lags[first] + 0.5 * (a - c) / (a - 2 * b + c))


@pytest.mark.parametrize("style", ["laminate", "three_tab", "three_tab_metric"])
def test_the_scale_truth_matches_the_course_period_measured_on_a_square_on_photo(style: str) -> None:
    base = FAMILIES["laminate_drone"].params(1, (640, 480))
    params = dataclasses.replace(
        base,
        style=STYLES[style],
        view=View("drone", distance_in=150.0, angle_deg=90.0, fov_deg=70.0, target=0.5),
        light=LightPlan("sun", graze_deg=45.0, from_deg=0.0),  # from up the slope: butt shadows
        damage=DamagePlan(),
        wear=Wear(),
        fixtures=dataclasses.replace(base.fixtures, box_vents=0, pipes=0, chimney=False),
    )
    shot = render_scene(params)
    expected = shot.exposure_in * shot.scale.pixels_per_foot_along_slope / 12.0
    assert shot.courses_visible
    assert _measured_period(shot.pixels) == pytest.approx(expected, rel=0.03)
    # Square-on, the area scale and the along-slope scale agree.
    assert shot.pixels_per_foot == pytest.approx(shot.scale.pixels_per_foot_along_slope, rel=0.01)


def test_the_scale_anywhere_is_the_homography_s_pixels_per_foot_there() -> None:
    shot = photo("three_tab_ladder_low_sun", 0, SMALL)
    h = shot.scale.homography
    x, y = 160.0, 150.0
    u, s = shot.scale.plane_point(x, y)
    assert u is not None and s is not None

    def at(uu: float, ss: float) -> np.ndarray:
        q = h @ np.array([uu, ss, 1.0])
        return np.asarray(q[:2] / q[2], np.float64)

    step = 0.25  # inches
    along_slope = np.linalg.norm(at(u, s + step) - at(u, s - step)) / (2 * step) * 12
    along_courses = np.linalg.norm(at(u + step, s) - at(u - step, s)) / (2 * step) * 12
    assert float(shot.scale.along_slope_at(x, y)) == pytest.approx(along_slope, rel=1e-3)
    assert float(shot.scale.along_courses_at(x, y)) == pytest.approx(along_courses, rel=1e-3)
    assert along_slope < 0.7 * along_courses  # a ladder's view foreshortens the slope
    du = at(u + step, s) - at(u - step, s)
    ds = at(u, s + step) - at(u, s - step)
    area = abs(du[0] * ds[1] - du[1] * ds[0]) / (2 * step) ** 2 * 144  # px^2 per sq ft
    assert float(shot.scale.at(x, y)) == pytest.approx(np.sqrt(area), rel=1e-3)


def test_the_harness_counts_finds_duplicates_false_positives_and_detections_off_the_roof() -> None:
    shot = photo("three_tab_closeup", 0, MEDIUM)
    assert shot.marks
    sky = np.argwhere(~shot.roof)
    perfect = Answer(tuple(Found(m.box, m.type) for m in shot.marks), shot.pixels_per_foot * 1.02)
    result = score(shot, perfect)
    assert all(found and typed for _, found, typed in result.marks)
    assert (result.false_positives, result.duplicates, result.off_roof) == (0, 0, 0)
    assert result.scale_error == pytest.approx(0.02, abs=1e-6)

    first = shot.marks[0].box
    twice = Answer((Found(first, shot.marks[0].type), Found(first, "other")))
    assert score(shot, twice).duplicates == 1
    wrong_type = score(shot, Answer((Found(first, "other"),)))
    assert wrong_type.marks[0][1] and not wrong_type.marks[0][2]

    ys, xs = np.nonzero(shot.roof)
    centres = np.array([((m.box[0] + m.box[2]) / 2, (m.box[1] + m.box[3]) / 2) for m in shot.marks])
    nearest = np.min(np.hypot(xs[:, None] - centres[:, 0], ys[:, None] - centres[:, 1]), axis=1)
    far = int(np.argmax(nearest))
    y, x = int(ys[far]), int(xs[far])
    stray = score(shot, Answer((Found((x - 2, y - 2, x + 3, y + 3), "hail_hit"),)))
    assert stray.false_positives == 1 and stray.off_roof == 0
    if sky.size:
        y, x = (int(v) for v in sky[0])
        off = score(shot, Answer((Found((x, y, x + 2, y + 2), "hail_hit"),)))
        assert off.off_roof == 1
    summary = FamilySummary("three_tab_closeup", "fit", (result,))
    assert summary.recall("hail_hit") in (None, 1.0) and summary.fp_per_photo == 0.0


@pytest.mark.parametrize("family", ["wind_storm_laminate", "wind_storm_three_tab"])
def test_wind_families_place_every_kind_of_wind_damage(family: str) -> None:
    shot = photo(family, 1, MEDIUM)
    kinds = {m.type for m in shot.marks}
    assert {"missing_shingle", "lifted_tab", "wind_crease"} <= kinds
    assert {m.detail for m in shot.marks if m.type == "missing_shingle"} <= {"course_below", "felt", "deck"}
