"""Each facet says how far it can be trusted, and the roof says when its input is too coarse or its
area rests on doubtful facets: nothing the data cannot support is reported as measured."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.geometry.synthetic import SceneSpec, build_scene
from geometry.analysis import analyze_grid
from geometry.grid import HeightGrid
from geometry.quality import mean_width_m
from reports.inputs import Geometry
from reports.report import ReportInput, build_report


def test_a_sound_roof_is_trusted_and_says_how_much_data_each_facet_rests_on() -> None:
    scene = build_scene(SceneSpec(roof="hip", pitch=7.0, resolution=0.1, seed=3, noise_sigma=0.02))
    result = analyze_grid(scene.grid).to_json()
    assert result["warnings"] == []
    for plane in result["planes"]:
        assert plane["needs_review"] is False and plane["review_reasons"] == []
        assert 8.0 <= plane["support_per_sqft"] <= 9.4  # 0.1 m cells: 9.3 a sq ft, less where walls hide


def test_a_tree_canopy_is_flagged_on_every_plane_the_segmentation_takes_from_it() -> None:
    z = 100.0 + np.random.default_rng(0).normal(0.0, 0.02, (120, 120))
    yy, xx = np.mgrid[0:120, 0:120]
    r = np.hypot(xx - 60, yy - 60) * 0.25
    dome = np.clip(25 - r**2, 0, None) ** 0.5  # a 5 m crown
    z = z + np.where(dome > 0, 2.0 + dome + np.random.default_rng(10).normal(0, 0.3, z.shape), 0)
    result = analyze_grid(HeightGrid(z, 0.25, 0.25)).to_json()
    assert result["planes"] and all(p["needs_review"] for p in result["planes"])
    assert "needs_review" in [w["code"] for w in result["warnings"]]


def test_a_grid_too_coarse_for_the_roof_says_so() -> None:
    scene = build_scene(SceneSpec(roof="gable", pitch=7.0, resolution=1.5, seed=2))
    result = analyze_grid(scene.grid).to_json()
    assert "too_coarse" in [w["code"] for w in result["warnings"]]
    assert all(p["needs_review"] for p in result["planes"])  # 4-6 cells across each facet
    assert any(any(r.startswith("resolution too coarse") for r in p["review_reasons"]) for p in result["planes"])


def test_the_mean_width_of_a_long_thin_facet_is_its_short_side() -> None:
    assert abs(mean_width_m(np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 2.0], [0.0, 2.0]])) - 2.0) < 0.05


def test_the_width_of_a_stout_facet_or_a_square_is_its_short_side_not_half_of_it() -> None:
    assert mean_width_m(np.array([[0.0, 0.0], [17.0, 0.0], [17.0, 5.0], [0.0, 5.0]])) == pytest.approx(5.0)
    assert mean_width_m(np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]])) == pytest.approx(4.0)
    hip_end = np.array([[0.0, 0.0], [8.0, 0.0], [4.0, 4.0]])  # a hip's triangle, 8 m at the eave
    assert 2.0 < mean_width_m(hip_end) < 4.0


def test_the_report_prints_the_geometrys_reasons() -> None:
    scene = build_scene(SceneSpec(roof="gable", pitch=7.0, resolution=1.5, seed=2))
    geometry = Geometry.model_validate(analyze_grid(scene.grid).to_json())
    report = build_report(ReportInput(geometry=geometry))
    for facet, plane in zip(report["facets"], geometry.planes, strict=True):
        assert facet["needs_review"] and facet["review_reasons"] == plane.review_reasons
