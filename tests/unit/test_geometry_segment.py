"""Plane segmentation on synthetic scenes whose truth is known cell by cell (evaluation.geometry.synthetic).

Each test names the failure it guards against: a noisy facet scattered between two near-identical
planes, dormers missed because a metre window straddles them, tree canopy taken for a roof plane,
a crease blurred on a noiseless roof.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from evaluation.geometry.synthetic import Scene, build_scene, standard_set
from geometry.grid import HeightGrid
from geometry.segment import Segmentation, segment


def scene_named(name: str, seed: int = 0) -> Scene:
    return build_scene(next(spec for spec in standard_set(seed) if spec.name == name))


def majority(scene: Scene, result: Segmentation, plane: int) -> int:
    """The truth facet most of a plane's cells belong to (-1: most are no roof facet)."""
    truth = scene.truth_labels[result.labels == plane]
    values, counts = np.unique(truth, return_counts=True)
    return int(values[np.argmax(counts)])


def found_facets(scene: Scene, result: Segmentation) -> set[str]:
    """Facets that a plane covers at least half of, with most of that plane's cells on the facet."""
    found = set()
    for facet in scene.facets:
        cells = scene.truth_labels == facet.id
        for plane in range(len(result.planes)):
            overlap = int((cells & (result.labels == plane)).sum())
            if overlap >= 0.5 * cells.sum() and overlap >= 0.5 * int((result.labels == plane).sum()):
                found.add(facet.name)
    return found


def test_a_noisy_low_pitched_pyramid_keeps_each_facet_whole() -> None:
    # 8 cm noise on a 4/12 pyramid: per-cell residuals scattered facets between duplicate planes
    scene = scene_named("pyramid-4in12-rot54-0.3m-n8cm")
    result = segment(scene.grid)
    assert found_facets(scene, result) == {facet.name for facet in scene.facets}
    assert len(result.planes) == 4


def test_gable_dormers_are_found_where_the_data_resolves_them() -> None:
    scene = scene_named("hip_dormers-5in12-rot87-0.3m-n2cm-chimney")  # 1.6 m dormers, 0.3 m cells
    result = segment(scene.grid)
    assert found_facets(scene, result) == {facet.name for facet in scene.facets}
    assert len(result.planes) == len(scene.facets)  # and nothing else: not the chimney


@pytest.mark.parametrize(
    ("name", "seed"),
    [
        ("pyramid-7in12-rot146-0.4m-n3cm-tree", 0),
        ("pyramid-7in12-rot99-0.4m-n3cm-tree", 1),
        ("cross_gable-6in12-rot221-0.15m-n4cm-chimney-tree", 0),
        ("hip_dormers-12in12-rot149-0.5m-n8cm-tree", 0),
    ],
)
def test_tree_canopy_is_no_roof_plane_and_hides_no_facet(name: str, seed: int) -> None:
    scene = scene_named(name, seed)
    result = segment(scene.grid)
    assert all(majority(scene, result, plane) >= 0 for plane in range(len(result.planes)))
    big = {facet.name for facet in scene.facets if facet.sloped_area_m2 >= 9.29}
    assert big <= found_facets(scene, result)


def test_a_canopy_cut_off_by_a_roof_mask_is_no_roof_plane() -> None:
    # inside the mask a canopy's overhang looks like a small plane meeting the roof; past the mask's
    # edge it carries on, where a roof would drop
    scene = scene_named("hip_dormers-12in12-rot149-0.5m-n8cm-tree")
    result = segment(dataclasses.replace(scene.grid, mask=scene.roof_mask))
    assert all(majority(scene, result, plane) >= 0 for plane in range(len(result.planes)))


def test_creases_are_exact_on_a_noiseless_roof() -> None:
    scene = scene_named("hip-8in12-rot0-0.15m-n0cm")  # hips at 45 degrees to the grid
    result = segment(scene.grid)
    x, y = scene.grid.xy()
    for index, plane in enumerate(result.planes):
        cells = result.labels == index
        facet = scene.facets[majority(scene, result, index)]
        other = cells & (scene.truth_labels != facet.id)
        # only cells on the crease itself, where both planes give the same height, may go either way
        assert np.allclose(plane.height(x[other], y[other]), facet.height_at(x[other], y[other]), atol=1e-6)


def test_a_rough_surface_that_is_no_roof_yields_no_planes() -> None:
    rng = np.random.default_rng(1)
    bumps = cv2.GaussianBlur(rng.normal(0.0, 1.0, (200, 200)), (0, 0), 15)
    z = 5.0 + bumps / bumps.std()  # hills a metre high, a few metres across, smooth at any cell
    z[:10, :] = 0.0  # some ground, so there is a ground estimate
    result = segment(HeightGrid(z, 0.1, 0.1))
    assert result.planes == []
