"""DSMs cut finer than their LiDAR (geometry.resampled): the source lattice is found from the data,
the roof is measured on it, and the labels come back on the grid as given."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from evaluation.geometry.accuracy import score
from evaluation.geometry.synthetic import SceneSpec, build_scene, resampled_scene
from geometry.analysis import analyze_grid
from geometry.grid import HeightGrid
from geometry.resampled import find_lattice, fine_labels, source_grid

GABLE = SceneSpec(roof="gable", pitch=7, rotation_deg=17, noise_sigma=0.03, seed=11)
HIP = SceneSpec(roof="hip", pitch=9, rotation_deg=-31, noise_sigma=0.05, seed=4)


@pytest.mark.parametrize(
    ("source", "fine", "options"),
    [
        (1.0, 0.0862, {}),
        (0.5, 0.1, {}),
        (1.0, 0.25, {"shift": (0.3, 0.6)}),
        (1.0, 0.1, {"turn_deg": 1.3}),  # a reprojected file: the blocks' edges drift
        (1.0, 0.1, {"turn_deg": -4.0, "shift": (0.5, 0.2)}),
        (1.0, 0.1, {"kind": "bilinear"}),
        (0.5, 0.125, {"kind": "bilinear", "shift": (0.25, 0.75)}),
    ],
)
def test_the_source_lattice_is_found_with_its_pitch(source: float, fine: float, options: dict[str, object]) -> None:
    scene = resampled_scene(HIP, source, fine, **options)  # type: ignore[arg-type]
    lattice = find_lattice(scene.grid)
    assert lattice is not None
    assert lattice.kind == options.get("kind", "nearest")
    assert lattice.pitch_m(scene.grid) == pytest.approx((source, source), rel=0.01)
    turn = math.degrees(math.atan2(lattice.along[1], lattice.along[0]))
    assert turn == pytest.approx(float(options.get("turn_deg", 0.0)), abs=0.2)  # type: ignore[arg-type]


def test_a_grid_at_its_own_resolution_has_no_source_lattice() -> None:
    assert find_lattice(build_scene(GABLE).grid) is None
    assert find_lattice(build_scene(replace(GABLE, noise_sigma=0.0)).grid) is None
    rng = np.random.default_rng(0)
    assert find_lattice(HeightGrid(rng.normal(0, 1, (200, 200)), 0.1, 0.1)) is None
    assert find_lattice(HeightGrid(np.full((200, 200), 12.0), 0.1, 0.1)) is None  # one flat block
    # a noiseless turned gable bends only along its edges and ridge, which can fall on a period in one axis
    turned = SceneSpec(roof="gable", pitch=6.0, resolution=0.25, rotation_deg=20.0, seed=3)
    assert find_lattice(build_scene(turned).grid) is None


def test_non_square_pixels_give_each_axis_its_own_step() -> None:
    rng = np.random.default_rng(3)
    source = np.add.outer(np.arange(20) * 0.4, np.arange(24) * 0.3) + rng.normal(0, 0.05, (20, 24))
    rows = (np.arange(284) * 0.0704 / 1.0).astype(int)  # alnwick's pixel: 0.0860 m x 0.0704 m
    cols = (np.arange(279) * 0.0860 / 1.0).astype(int)
    grid = HeightGrid(source[np.ix_(rows, cols)], 0.0860, 0.0704)
    lattice = find_lattice(grid)
    assert lattice is not None
    assert lattice.pitch_m(grid) == pytest.approx((1.0, 1.0), rel=0.01)
    rebuilt = source_grid(grid, lattice)
    # an axis-aligned lattice puts the source grid's cells on the samples: their heights come back exactly
    x, y = rebuilt.xy()
    sample = source[np.floor(-y).astype(int), np.floor(x).astype(int)]
    assert np.isfinite(rebuilt.z).all()
    assert np.allclose(rebuilt.z, sample, atol=1e-5)


@pytest.mark.parametrize("options", [{}, {"kind": "bilinear"}, {"shift": (0.4, 0.1)}])
def test_a_resampled_roof_is_measured_at_its_source_resolution(options: dict[str, object]) -> None:
    scene = resampled_scene(HIP, 1.0, 0.1, **options)  # type: ignore[arg-type]
    report = analyze_grid(scene.grid)
    assert report.warnings[0].code == "resampled"
    assert "1.00 m x 1.00 m" in report.warnings[0].message
    assert report.labels.shape == scene.grid.shape  # labels on the grid as given
    assert report.resolution_m == pytest.approx(1.0, rel=0.01)
    scores = [s for s in score(scene, report) if s.truth_sqft >= 100]
    assert all(s.found for s in scores)
    # 5 cm noise on 1 m samples: a hip end's 25 cells pin its pitch to a degree or two (the bench
    # measures the x/12 rate over the whole set)
    assert max(s.pitch_error_deg or 0.0 for s in scores) < 2.5
    assert sum(bool(s.rise_right) for s in scores) >= len(scores) - 1


def test_a_fine_cell_beside_a_ridge_takes_the_side_it_lies_on() -> None:
    # A gable on 1 m samples with its ridge along the centres of sample row 5 (y = -5.5 m), cut onto
    # a 0.1 m grid: row 5's block is half north face, half south face.
    slope, tilt = 0.5, 0.01  # the tilt along x gives the blocks edges in both directions
    y = -(np.arange(12) + 0.5)
    x = np.arange(12) + 0.5
    source_z = 10.0 - slope * np.abs(y[:, None] + 5.5) + tilt * x[None, :]
    at = (np.arange(120) * 0.1 + 0.05).astype(int)
    grid = HeightGrid(source_z[np.ix_(at, at)], 0.1, 0.1)
    lattice = find_lattice(grid)
    assert lattice is not None
    source = source_grid(grid, lattice)
    _, sy = source.xy()
    labels = np.where(sy >= -5.5, 0, 1).astype(np.int32)  # the ridge's samples went north
    planes = [(tilt, -slope, 10.0 - 5.5 * slope), (tilt, slope, 10.0 + 5.5 * slope)]  # z = a x + b y + c
    fine = fine_labels(labels, planes, source, grid)
    _, fy = grid.xy()
    assert (fine[fy > -5.45] == 0).all()
    assert (fine[fy < -5.55] == 1).all()  # the ridge block's south half too


def test_a_large_tile_finds_its_lattice_from_a_window_at_its_centre() -> None:
    rng = np.random.default_rng(5)
    source = rng.normal(0, 1, (130, 130)).cumsum(axis=0).cumsum(axis=1) * 0.01  # rough terrain, 1 m samples
    at = (np.arange(1300) * 0.1 + 0.05).astype(int)
    grid = HeightGrid(source[np.ix_(at, at)], 0.1, 0.1)  # 1.7 M cells
    lattice = find_lattice(grid)
    assert lattice is not None
    assert lattice.pitch_m(grid) == pytest.approx((1.0, 1.0), rel=1e-3)
    # the lattice is the whole tile's: sample (0, 0) is the first block's centre, 4.5 cells in
    u, v = lattice.of(np.array([4.5]), np.array([4.5]))
    assert abs(u[0] - round(u[0])) < 0.05 and abs(v[0] - round(v[0])) < 0.05


@pytest.mark.parametrize(
    ("source", "fine", "options"),
    [
        (0.5, 0.125, {"kind": "bilinear", "shift": (0.3, 0.8)}),  # samples between cells: no corner cut
        (1.0, 0.1, {"turn_deg": 1.5, "shift": (0.2, 0.6)}),  # cells between samples: an eave stays sharp
    ],
)
def test_a_resampled_roof_keeps_its_eaves_where_they_are(
    source: float, fine: float, options: dict[str, object]
) -> None:
    scene = resampled_scene(GABLE, source, fine, **options)  # type: ignore[arg-type]
    scores = [s for s in score(scene, analyze_grid(scene.grid)) if s.truth_sqft >= 100]
    assert all(s.found for s in scores)
    assert max(s.area_error or 0.0 for s in scores) < 0.05  # a blended eave lost 10-14 % before
