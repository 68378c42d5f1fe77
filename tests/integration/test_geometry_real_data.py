"""The real UK LiDAR GeoTIFFs in tests/data/geometry (see its README) read as documented.

They are PackBits-compressed, tiled float32 DSMs with non-square pixels, GDAL_NODATA "-9999", and int16
roof masks on the same grid: the tags and layout a GDAL-made file has in practice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geometry.analysis import analyze_file
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


# --- measured: the tiles are 1 m LiDAR cut onto ~0.09 m pixels (thurso's source turned by a degree) --


def _measured(name: str) -> dict[str, Any]:
    analysis = analyze_file(DATA / f"{name}_elevation.tif", mask=DATA / f"{name}_roof_mask.tif")
    assert analysis.report.labels.shape == (256, 256)  # labels on the file's own grid
    return analysis.report.to_json()


def _supported(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Facets whose plane the data bears out: not flagged as too rough or too steep for a roof."""
    return [
        p
        for p in report["planes"]
        if not any(r.startswith(("fit residual", "implausible pitch")) for r in p["review_reasons"])
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_real_tile_is_measured_on_its_1_m_source_and_says_so(name: str) -> None:
    report = _measured(name)
    codes = [w["code"] for w in report["warnings"]]
    assert codes[0] == "resampled"
    assert "from 1.0" in report["warnings"][0]["message"] or "from 0.9" in report["warnings"][0]["message"]
    assert 0.95 <= report["source"]["resolution_m"] <= 1.05
    # a facet steeper than any house roof is a wall or a mix of planes: flagged, never passed as measured
    for plane in report["planes"]:
        if plane["pitch_rise"] > 14.0:
            assert plane["needs_review"], plane


def test_alnwick_is_a_hipped_roof_at_9_in_12() -> None:
    report = _measured("alnwick")
    supported = _supported(report)
    # its heights rise 0.7-0.8 m per metre up every side: 35-38 degrees
    assert {p["pitch"] for p in supported} <= {"8/12", "9/12", "10/12"}
    assert {"N", "S", "E", "W"} <= {p["facing"] for p in supported}
    assert sum(p["area_sqft"] for p in supported) >= 1200
    lines = report["edge_totals_ft"]
    assert lines["ridge"] > 20 and lines["hip"] > 60  # hips, not gables: rakes are next to none
    assert lines["rake"] <= 0.1 * lines["eave"]


def test_thurso_is_a_gable_at_6_to_7_in_12() -> None:
    report = _measured("thurso")
    supported = sorted(_supported(report), key=lambda p: -p["area_sqft"])
    first, second = supported[:2]
    assert {first["facing"], second["facing"]} == {"NW", "SE"}  # the two sides of one ridge
    assert {first["pitch"], second["pitch"]} <= {"5/12", "6/12", "7/12", "8/12"}
    assert first["area_sqft"] + second["area_sqft"] >= 1400
    lines = report["edge_totals_ft"]
    assert lines["ridge"] >= 45 and lines["hip"] == 0
    assert 0.5 <= lines["eave"] / lines["rake"] <= 3.0  # two long eaves, four gable rakes
