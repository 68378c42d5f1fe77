"""Structures on a tile: facets grouped into buildings, each with its eave height and stories (the
high-roof charge applies from two stories up), and each facet's outline in the JSON."""

from __future__ import annotations

import pytest

from evaluation.geometry.synthetic import SceneSpec, build_scene
from geometry.analysis import analyze_grid


def test_two_buildings_are_two_structures_and_a_house_with_dormers_one() -> None:
    two = analyze_grid(
        build_scene(SceneSpec(roof="two_buildings", pitch=7, rotation_deg=25, resolution=0.25, seed=2)).grid
    )
    assert len(two.structures) == 2
    assert sorted(len(s.facets) for s in two.structures) == [2, 4]
    dormers = analyze_grid(
        build_scene(SceneSpec(roof="hip_dormers", pitch=8, rotation_deg=10, resolution=0.25, seed=2)).grid
    )
    assert len(dormers.structures) == 1
    assert {f.structure for f in dormers.facets} == {"1"}


@pytest.mark.parametrize(("eave_m", "stories"), [(3.0, 1), (5.8, 2), (8.7, 3)])
def test_eave_height_above_the_ground_gives_the_stories(eave_m: float, stories: int) -> None:
    spec = SceneSpec(
        roof="hip", pitch=6, rotation_deg=15, resolution=0.25, eave_height=eave_m, ground_slope=0.02, seed=4
    )
    report = analyze_grid(build_scene(spec).grid).to_json()
    (structure,) = report["structures"]
    assert structure["eave_height_m"] == pytest.approx(eave_m, abs=0.35)
    assert structure["stories"] == stories


def test_each_plane_carries_its_outline_in_metres() -> None:
    scene = build_scene(SceneSpec(roof="gable", pitch=6, rotation_deg=0, resolution=0.25, seed=1))
    report = analyze_grid(scene.grid).to_json()
    for plane in report["planes"]:
        corners = plane["outline"]
        assert len(corners) == 4
        xs, ys = [c[0] for c in corners], [c[1] for c in corners]
        footprint_m2 = (max(xs) - min(xs)) * (max(ys) - min(ys))
        assert footprint_m2 * 10.7639 == pytest.approx(plane["footprint_sqft"], rel=0.02)
    assert report["source"]["resolution_m"] == 0.25
