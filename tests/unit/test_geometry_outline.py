"""Facet polygons and roof lines: areas from plane intersections and fitted outlines, hidden corners
completed, and each line classified and measured as the synthetic truth has it."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from evaluation.geometry.accuracy import SCORED_EDGES
from evaluation.geometry.synthetic import Scene, SceneSpec, TruthFacet, build_scene
from geometry.edges import EDGE_KINDS
from geometry.measure import RoofReport, measure
from geometry.outline import douglas_peucker, self_intersecting
from geometry.segment import segment
from geometry.units import FT_PER_M


def analyse(spec: SceneSpec) -> tuple[Scene, RoofReport]:
    scene = build_scene(spec)
    return scene, measure(segment(scene.grid), scene.grid)


def matched_area_m2(scene: Scene, report: RoofReport, truth: TruthFacet) -> tuple[float, float]:
    """The sloped area of the facet found on the truth facet's cells, and how many of its cells show."""
    detected = report.labels[scene.truth_labels == truth.id]
    facet = report.facets[int(np.bincount(detected[detected >= 0]).argmax())]
    return facet.area_m2, facet.count * scene.grid.cell_area / math.cos(math.radians(facet.pitch_deg))


@pytest.mark.parametrize(
    ("roof", "kinds"),
    [
        ("gable", {"ridge": 1, "eave": 2, "rake": 4}),
        ("hip", {"ridge": 1, "hip": 4, "eave": 4}),
        ("pyramid", {"hip": 4, "eave": 4}),
        ("shed", {"eave": 1, "rake": 3}),
        ("cross_gable", {"ridge": 2, "valley": 2}),
    ],
)
def test_lines_are_classified_and_measured_like_the_truth(roof: str, kinds: dict[str, int]) -> None:
    # Given a rotated, slightly noisy roof
    spec = SceneSpec(roof=roof, pitch=7, rotation_deg=31, resolution=0.2, noise_sigma=0.02, seed=5)  # type: ignore[arg-type]

    # When it is measured
    scene, report = analyse(spec)

    # Then each kind of line has the truth's count (where the test names it) and total length
    counts: Counter[str] = Counter(edge.kind for edge in report.edges)
    for kind, count in kinds.items():
        assert counts[kind] == count, (kind, counts)
    found, truth = report.edge_totals_m(), scene.edge_lengths_m()
    for kind in SCORED_EDGES:
        assert found[kind] == pytest.approx(truth[kind], rel=0.03, abs=0.05), kind


def test_a_chimney_is_measured_under_not_cut_out() -> None:
    scene, report = analyse(SceneSpec(roof="gable", pitch=8, rotation_deg=17, resolution=0.15, chimney=True, seed=2))
    for truth in scene.facets:
        area, _ = matched_area_m2(scene, report, truth)
        assert area == pytest.approx(truth.sloped_area_m2, rel=0.01)
    # the chimney's facet has a hole in its cells that the polygon closes
    biggest = max(scene.facets, key=lambda t: t.footprint_area_m2 - t.visible_area_m2)
    assert biggest.footprint_area_m2 - biggest.visible_area_m2 > 0.5


def test_a_tree_over_the_eave_hides_cells_but_not_the_facet() -> None:
    scene, report = analyse(SceneSpec(roof="gable", pitch=6, rotation_deg=40, resolution=0.2, tree=True, seed=4))
    hidden = max(scene.facets, key=lambda t: t.footprint_area_m2 - t.visible_area_m2)
    area, cells = matched_area_m2(scene, report, hidden)
    assert cells < 0.95 * hidden.sloped_area_m2  # the tree hides more than 5 % of the cells
    assert area == pytest.approx(hidden.sloped_area_m2, rel=0.03)  # the polygon runs on under it


def test_the_report_lists_lines_with_letters_lengths_and_totals() -> None:
    _, report = analyse(SceneSpec(roof="hip", pitch=6, rotation_deg=12, resolution=0.25, seed=1))
    data = report.to_json()
    letters = {plane["id"] for plane in data["planes"]}
    assert data["edges"]
    for edge in data["edges"]:
        assert edge["kind"] in EDGE_KINDS
        assert set(edge["facets"]) <= letters
        assert len(edge["facets"]) == (1 if edge["kind"] in ("eave", "rake") else 2)
        assert edge["length_ft"] == pytest.approx(math.dist(edge["start"], edge["end"]) * FT_PER_M, abs=0.2)
    assert set(data["edge_totals_ft"]) == set(EDGE_KINDS)
    for kind in EDGE_KINDS:
        listed = sum(e["length_ft"] for e in data["edges"] if e["kind"] == kind)
        assert data["edge_totals_ft"][kind] == pytest.approx(listed, abs=0.5)


def test_no_roof_means_no_lines() -> None:
    flat_ground = build_scene(SceneSpec(roof="flat", resolution=0.5, seed=1)).grid
    empty = measure(segment(type(flat_ground)(np.zeros((40, 40)), 0.5, 0.5)), flat_ground)
    assert empty.edges == []
    assert empty.to_json()["edge_totals_ft"] == dict.fromkeys(EDGE_KINDS, 0.0)


def test_douglas_peucker_keeps_the_corners_of_an_l() -> None:
    run = np.array([[x, 0.0] for x in range(6)] + [[5.0, y] for y in range(1, 6)])
    assert douglas_peucker(run, 0.5) == [0, 5, 10]


def test_a_bow_tie_is_self_intersecting_and_a_square_is_not() -> None:
    square = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    bow_tie = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    assert not self_intersecting(square)
    assert self_intersecting(bow_tie)
