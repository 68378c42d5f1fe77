"""The real UK LiDAR GeoTIFFs in tests/data/geometry (see its README) read as documented.

They are PackBits-compressed, tiled float32 DSMs with non-square pixels, GDAL_NODATA "-9999", and int16
roof masks on the same grid: the tags and layout a GDAL-made file has in practice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geometry.grid import HeightGrid
from geometry.readers import open_input, read_dsm, read_height_grid

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data" / "geometry"

# name: (dx, dy) metres, nodata cells, roof cells, height range in metres
EXPECTED = {
    "alnwick": ((0.0860, 0.0704), 429, 37110, (74.0, 84.0)),
    "thurso": ((0.0977, 0.1016), 2608, 20554, (29.0, 39.0)),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_dsm_reads_with_its_documented_grid(name: str) -> None:
    (dx, dy), nodata_cells, _, (low, high) = EXPECTED[name]
    grid = read_dsm(DATA / f"{name}_elevation.tif")
    assert grid.shape == (256, 256)
    assert (grid.dx, grid.dy) == pytest.approx((dx, dy), abs=5e-5)
    assert grid.dx != grid.dy  # non-square pixels survive
    assert grid.z.dtype == np.float64
    assert int(np.isnan(grid.z).sum()) == nodata_cells  # -9999 became NaN
    assert not (grid.z == -9999).any()
    assert low <= float(np.nanmin(grid.z)) and float(np.nanmax(grid.z)) <= high


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_mask_reads_and_lines_up_with_its_dsm(name: str) -> None:
    _, _, roof_cells, _ = EXPECTED[name]
    grid = read_height_grid(DATA / f"{name}_elevation.tif", mask=DATA / f"{name}_roof_mask.tif")
    assert grid.mask is not None and grid.mask.dtype == np.bool_
    assert int(grid.mask.sum()) == roof_cells
    # Aligned: every roof cell has a height, and the roof stands above the ground around it.
    assert not np.isnan(grid.z[grid.mask]).any()
    assert np.nanmedian(grid.z[grid.mask]) > np.nanmedian(grid.z[~grid.mask]) + 2.0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_files_read_by_content_through_the_dispatch(name: str, tmp_path: Path) -> None:
    upload = tmp_path / "upload"  # an upload keeps no name
    upload.write_bytes((DATA / f"{name}_elevation.tif").read_bytes())
    grid = open_input(upload)
    assert isinstance(grid, HeightGrid) and grid.shape == (256, 256)
