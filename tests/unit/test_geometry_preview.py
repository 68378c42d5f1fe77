"""The preview PNG: a hillshade with each facet tinted, lettered and outlined, and a legend."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dominus_dev.cli import main
from evaluation.geometry.synthetic import Scene, SceneSpec, build_scene
from geometry.analysis import RoofAnalysis, analyze_grid
from geometry.grid import HeightGrid
from geometry.measure import RoofReport
from geometry.preview import ALPHA, colour, hillshade, render_image, render_preview


@pytest.fixture(scope="module")
def gable() -> tuple[Scene, RoofAnalysis]:
    scene = build_scene(SceneSpec(roof="gable", pitch=6, rotation_deg=0, resolution=0.2, seed=3))
    return scene, RoofAnalysis(analyze_grid(scene.grid), scene.grid)


def decode(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


@pytest.mark.parametrize("max_side", [300, 800, 1200])
def test_png_fits_within_max_side(gable: tuple[Scene, RoofAnalysis], max_side: int) -> None:
    _, analysis = gable
    image = decode(render_preview(analysis, max_side=max_side))
    assert max(image.shape[:2]) <= max_side
    assert max(image.shape[:2]) >= 0.9 * max_side  # scaled up, not left at the grid's size
    assert min(image.shape[:2]) >= 2 * min(analysis.grid.shape)


def test_has_many_colours(gable: tuple[Scene, RoofAnalysis]) -> None:
    _, analysis = gable
    image = decode(render_preview(analysis))
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50


def test_tint_appears_where_the_facets_are(gable: tuple[Scene, RoofAnalysis]) -> None:
    _, analysis = gable
    report = analysis.report
    assert len(report.facets) == 2
    image = render_image(analysis).astype(np.int32)
    rows, cols = analysis.grid.shape
    # the picture above the legend is the grid scaled by a whole-pixel-ish factor; map cell centres into it
    scale = image.shape[1] / cols
    for facet in report.facets:
        rr, cc = np.nonzero(report.labels == facet.label)
        # cells well inside the facet: every 4-neighbour also in the facet
        inner = [
            (r, c)
            for r, c in zip(rr, cc, strict=True)
            if 0 < r < rows - 1
            and 0 < c < cols - 1
            and all(report.labels[r + dr, c + dc] == facet.label for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)))
        ]
        assert len(inner) > 50
        b, g, r = (np.array(colour(facet.label)) * ALPHA).tolist()
        hits = 0
        for row, col in inner[:: max(1, len(inner) // 200)]:
            pixel = image[int((row + 0.5) * scale), int((col + 0.5) * scale)]
            # a tint over grey shifts the channels apart by ALPHA times the colour's own differences
            if abs((pixel[0] - pixel[1]) - (b - g)) <= 2 and abs((pixel[2] - pixel[1]) - (r - g)) <= 2:
                hits += 1
        assert hits >= 0.8 * len(inner[:: max(1, len(inner) // 200)])
    # and not on the ground: a ground cell far from the roof is grey
    pixel = image[2, 2]
    assert pixel[0] == pixel[1] == pixel[2]


def test_facet_colours_are_distinct() -> None:
    assert len({colour(i) for i in range(10)}) == 10


def test_hillshade_lights_the_north_west_side() -> None:
    rows, cols = 20, 20
    x = np.arange(cols, dtype=np.float64)[None, :].repeat(rows, axis=0)
    # a plane rising to the east faces west: lit by a north-west sun more than one rising to the west
    faces_west = hillshade(HeightGrid(0.5 * x, 1.0, 1.0))
    faces_east = hillshade(HeightGrid(-0.5 * x, 1.0, 1.0))
    flat = hillshade(HeightGrid(np.zeros((rows, cols)), 1.0, 1.0))
    assert faces_west.mean() > flat.mean() > faces_east.mean()
    assert flat.mean() == pytest.approx(np.sin(np.radians(45.0)))
    z = np.zeros((rows, cols))
    z[5, 5] = np.nan
    assert np.isnan(hillshade(HeightGrid(z, 1.0, 1.0))[5, 5])


def test_empty_report_renders_the_message(gable: tuple[Scene, RoofAnalysis]) -> None:
    scene, _ = gable
    empty = RoofAnalysis(
        RoofReport([], np.full(scene.grid.shape, -1, dtype=np.int32), [], [], scene.grid.dx), scene.grid
    )
    image = decode(render_preview(empty, max_side=600))
    assert max(image.shape[:2]) <= 600
    # white text on the grey hillshade, centred: plenty of pure white pixels in the middle band
    middle = image[image.shape[0] // 2 - 20 : image.shape[0] // 2 + 20]
    assert (middle == 255).all(axis=2).sum() > 200
    assert not (image[: image.shape[0] // 4] == 255).all(axis=2).any()


def test_all_nodata_grid_renders() -> None:
    grid = HeightGrid(np.full((30, 40), np.nan), 0.25, 0.25)
    empty = RoofAnalysis(RoofReport([], np.full(grid.shape, -1, dtype=np.int32), [], [], grid.dx), grid)
    image = decode(render_preview(empty, max_side=400))
    assert image.shape[:2] == (300, 400)


def test_non_square_pixels_keep_the_aspect(gable: tuple[Scene, RoofAnalysis]) -> None:
    scene, _ = gable
    grid = HeightGrid(scene.grid.z, 0.2, 0.4)  # rows twice as long as columns are wide
    analysis = RoofAnalysis(analyze_grid(grid), grid)
    image = render_image(analysis, max_side=1000)
    assert max(image.shape[:2]) <= 1000


def test_cli_writes_the_preview(tmp_path: Path, gable: tuple[Scene, RoofAnalysis]) -> None:
    scene, _ = gable
    raster, out = tmp_path / "gable.npy", tmp_path / "gable.png"
    np.save(raster, scene.grid.z)
    assert main(["geometry", str(raster), "--resolution", "0.2", "--preview", str(out)]) == 0
    image = decode(out.read_bytes())
    assert max(image.shape[:2]) <= 1200
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
