"""A tile of several buildings is measured building by building, with the same facets, lines and
cells as measuring the whole tile at once, lettered and numbered by area over the tile."""

from __future__ import annotations

from functools import cache

import numpy as np

from evaluation.geometry.synthetic import SceneSpec, build_scene
from geometry.analysis import analyze_grid
from geometry.grid import HeightGrid
from geometry.measure import RoofReport, measure
from geometry.segment import segment
from geometry.tiles import SPLIT_CELLS, building_windows

SIDE = 1000  # at 0.1 m: 100 m, a million cells (the split's threshold)


@cache
def tile() -> HeightGrid:
    """Four houses of different sizes and roofs on one tile."""
    z = np.random.default_rng(1).normal(50.0, 0.02, (SIDE, SIDE))
    houses = [("hip", 10.0, 7.0, (80, 80)), ("gable", 12.0, 9.0, (80, 560)), ("cross_gable", 11.0, 8.0, (560, 120)),
              ("hip", 8.0, 6.0, (600, 620))]  # fmt: skip
    for roof, length, width, (row, col) in houses:
        spec = SceneSpec(roof=roof, length=length, width=width, pitch=7.0, resolution=0.1, seed=row + col)  # type: ignore[arg-type]
        house = build_scene(spec).grid.z
        z[row : row + house.shape[0], col : col + house.shape[1]] = house - np.nanmin(house) + 50.0
    return HeightGrid(z, 0.1, 0.1)


@cache
def split_and_whole() -> tuple[RoofReport, RoofReport]:
    grid = tile()
    return analyze_grid(grid), measure(segment(grid), grid)


def test_a_large_tile_of_four_houses_is_four_windows() -> None:
    assert tile().z.size >= SPLIT_CELLS
    assert len(building_windows(tile())) == 4


def test_building_by_building_gives_what_the_whole_tile_gives() -> None:
    split, whole = split_and_whole()
    assert len(split.facets) == len(whole.facets)
    for a, b in zip(split.facets, whole.facets, strict=True):
        assert a.id == b.id and abs(a.area_m2 - b.area_m2) < 1e-6 and a.pitch == b.pitch
        # Cells fitted differ along the edges (each window estimates its own building's noise, and so
        # its own threshold there): by less than a row of cells around the facet.
        ring = b.outline.outer
        assert ring is not None
        around = np.hypot(*np.diff(np.vstack([ring.vertices, ring.vertices[:1]]), axis=0).T).sum() / 0.1
        assert abs(a.count - b.count) <= around, (a.id, a.count, b.count, around)
    assert sorted((e.kind, round(e.length_m, 6)) for e in split.edges) == sorted(
        (e.kind, round(e.length_m, 6)) for e in whole.edges
    )
    assert abs(int((split.labels >= 0).sum()) - int((whole.labels >= 0).sum())) <= 0.03 * (whole.labels >= 0).sum()
    assert len(split.structures) == len(whole.structures) == 4


def test_letters_structures_and_cells_are_numbered_over_the_tile() -> None:
    split, _ = split_and_whole()
    areas = [f.area_m2 for f in split.facets]
    assert areas == sorted(areas, reverse=True) and [f.label for f in split.facets] == list(range(len(areas)))
    sizes = [sum(split.facets[i].area_m2 for i in s.facets) for s in split.structures]
    assert [s.id for s in split.structures] == ["1", "2", "3", "4"] and sizes == sorted(sizes, reverse=True)
    for facet in split.facets:
        assert (split.labels == facet.label).sum() == facet.count
        assert facet.structure == next(s.id for s in split.structures if facet.label in s.facets)
    document = split.to_json()
    assert {p["structure"] for p in document["planes"]} == {"1", "2", "3", "4"}


def test_a_large_tile_of_garden_walls_still_says_why_it_has_no_roof() -> None:
    z = np.random.default_rng(2).normal(50.0, 0.02, (SIDE, SIDE))
    z[100:200, 100:105] += 3.0  # two walls, 10 m long, far apart
    z[700:800, 700:705] += 3.0
    result = analyze_grid(HeightGrid(z, 0.1, 0.1)).to_json()
    assert result["planes"] == [] and result["warnings"][0]["code"] == "no_plane"
