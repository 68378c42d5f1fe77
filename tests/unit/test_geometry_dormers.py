"""Gable dormers fitted as a model (geometry.dormers): recovered where they stand, and nothing else is
taken for one (a chimney is flat-topped, a tree's canopy rough)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.geometry.synthetic import Scene, SceneSpec, build_scene, standard_set
from geometry.dormers import Dormer, fit_dormers
from geometry.measure import measure
from geometry.segment import segment


def scene_named(name: str) -> Scene:
    return build_scene(next(spec for spec in standard_set() if spec.name == name))


def dormers_of(scene: Scene) -> list[Dormer]:
    return fit_dormers(segment(scene.grid), scene.grid)[1]


def truth_ridges(scene: Scene) -> list[float]:
    """The dormers' ridge lengths (the house's ridge is the longest)."""
    ridges = sorted(edge.length_m for edge in scene.edges if edge.kind == "ridge")
    return ridges[:-1]


@pytest.mark.parametrize(
    "spec",
    [
        SceneSpec(roof="hip_dormers", pitch=8, length=13.0, width=9.0, resolution=0.2, noise_sigma=0.02, seed=3),
        SceneSpec(roof="hip_dormers", pitch=10, length=13.0, width=9.0, rotation_deg=33, resolution=0.25, seed=4),
    ],
)
def test_a_gable_dormer_is_recovered_within_tolerances(spec: SceneSpec) -> None:
    scene = build_scene(spec)
    dormers = dormers_of(scene)
    assert len(dormers) == 2
    for dormer in dormers:
        half_width = math.dist(dormer.front_left, dormer.front_right) / 2
        assert half_width == pytest.approx(1.0, abs=0.1)  # 0.8 m to the cheek, 0.2 m overhang
        ridge = math.dist(dormer.front_ridge, dormer.ridge_end)
        assert min(abs(ridge - truth) for truth in truth_ridges(scene)) < 0.15
    report = measure(segment(scene.grid), scene.grid)
    valleys = report.edge_totals_m()["valley"]
    assert valleys == pytest.approx(scene.edge_lengths_m()["valley"], rel=0.08)


def test_a_dormer_meets_its_host_in_two_valleys_under_a_level_ridge() -> None:
    scene = build_scene(SceneSpec(roof="hip_dormers", pitch=9, length=13.0, width=9.0, resolution=0.2, seed=5))
    report = measure(segment(scene.grid), scene.grid)
    kinds = [edge.kind for edge in report.edges]
    assert kinds.count("ridge") == 3  # the house's and one per dormer
    assert kinds.count("valley") == 4
    for edge in report.edges:
        if edge.kind == "ridge":
            assert edge.start[2] == pytest.approx(edge.end[2], abs=1e-6)


@pytest.mark.parametrize("name", ["hip_dormers-8in12-rot211-0.4m-n5cm", "hip_dormers-12in12-rot149-0.5m-n8cm-tree"])
def test_dormers_too_coarse_for_planes_of_their_own_are_still_found(name: str) -> None:
    scene = scene_named(name)
    assert len(dormers_of(scene)) == 2  # not the tree


@pytest.mark.parametrize(
    "name",
    [
        "hip-5in12-rot112-0.1m-n6cm-chimney-tree",
        "cross_gable-6in12-rot221-0.15m-n4cm-chimney-tree",
        "gable-12in12-rot10-0.3m-n3cm-chimney",
        "hip-14in12-rot283-0.25m-n5cm-chimney",
    ],
)
def test_a_chimney_or_a_tree_is_no_dormer(name: str) -> None:
    assert dormers_of(scene_named(name)) == []


def test_the_dormer_cells_are_labelled_with_its_planes() -> None:
    scene = scene_named("hip_dormers-8in12-rot211-0.4m-n5cm")
    segmentation, dormers = fit_dormers(segment(scene.grid), scene.grid)
    for dormer in dormers:
        left, right = (segmentation.labels == dormer.left), (segmentation.labels == dormer.right)
        assert left.sum() >= 3 and right.sum() >= 3
        truth = scene.truth_labels[left | right]
        names = {scene.facets[i].name for i in np.unique(truth[truth >= 0])}
        assert all(name.startswith("dormer") or name == "house south" for name in names)
