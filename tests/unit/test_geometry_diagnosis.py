"""A height grid with no roof planes says why: no data, flat, too small, or no plane among what
stands above the ground; a roof says nothing of the kind."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.geometry.synthetic import SceneSpec, build_scene
from geometry.analysis import analyze_grid
from geometry.grid import HeightGrid

CELL = 0.25


def grid(z: np.ndarray) -> HeightGrid:
    return HeightGrid(z.astype(np.float64), CELL, CELL)


def ground(n: int = 120, seed: int = 0) -> np.ndarray:
    return 100.0 + np.random.default_rng(seed).normal(0.0, 0.02, (n, n))


def test_a_tile_of_nodata_says_so() -> None:
    result = analyze_grid(grid(np.full((80, 80), np.nan))).to_json()
    assert result["planes"] == [] and [w["code"] for w in result["warnings"]] == ["no_data"]
    assert "nodata" in result["warnings"][0]["message"]


def test_an_empty_lot_is_flat() -> None:
    result = analyze_grid(grid(ground())).to_json()
    assert result["planes"] == [] and result["warnings"][0]["code"] == "flat"
    assert "include the ground around the building" in result["warnings"][0]["message"]


def test_a_post_is_too_small_for_a_roof() -> None:
    z = ground()
    z[60:64, 60:64] += 3.0  # 1 x 1 m, 3 m tall
    result = analyze_grid(grid(z)).to_json()
    assert result["planes"] == [] and result["warnings"][0]["code"] == "too_small"


def test_a_garden_wall_stands_above_the_ground_but_holds_no_plane() -> None:
    z = ground()
    z[40:80, 60:62] += 3.0  # 10 m long, 0.5 m thick, 3 m tall
    result = analyze_grid(grid(z)).to_json()
    assert result["planes"] == [] and result["warnings"][0]["code"] == "no_plane"


@pytest.mark.parametrize("roof", ["gable", "hip"])
def test_a_roof_carries_no_warning(roof: str) -> None:
    scene = build_scene(SceneSpec(roof=roof, pitch=6.0, resolution=CELL, seed=2))  # type: ignore[arg-type]
    result = analyze_grid(scene.grid).to_json()
    assert result["planes"] and result["warnings"] == []
