"""From an input file to a roof report: read, rasterise a point cloud, segment, measure.

Labels come back on the input's own terms: a grid of the DSM's shape for a raster, one integer per
input point for a point cloud (a point takes its cell's facet; -1 for no roof plane).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from geometry.diagnosis import ResultWarning
from geometry.grid import HeightGrid
from geometry.measure import RoofReport
from geometry.points import MAX_CELLS, PointCloud, points_to_grid
from geometry.readers import open_input, read_mask
from geometry.resampled import described, find_lattice, fine_labels, source_grid
from geometry.tiles import analyze_tile
from shared.errors import InvalidInput


@dataclass(frozen=True)
class RoofAnalysis:
    report: RoofReport
    grid: HeightGrid
    point_labels: npt.NDArray[np.int32] | None = None  # one per input point, for a point cloud


def analyze_grid(grid: HeightGrid) -> RoofReport:
    """The roof report of a grid, measured at the resolution its heights hold: a DSM resampled from a
    coarser one on its source cells (geometry.resampled), with its labels on the grid as given."""
    lattice = find_lattice(grid)
    if lattice is None:
        return analyze_tile(grid)
    source = source_grid(grid, lattice)
    report = analyze_tile(source)
    planes = [(f.plane.a, f.plane.b, f.plane.c) for f in report.facets]
    labels = fine_labels(report.labels, planes, source, grid)
    note = ResultWarning("resampled", described(lattice, grid))
    return replace(report, labels=labels, warnings=[note, *report.warnings])


def analyze_file(
    path: Path, *, resolution: float | None = None, mask: Path | None = None, max_cells: int = MAX_CELLS
) -> RoofAnalysis:
    """`max_cells` bounds the grid analysed: a raster's, or a point cloud's once rasterised."""
    data = open_input(path, resolution, max_cells=max_cells)
    if isinstance(data, PointCloud):
        if mask is not None:
            raise InvalidInput("--mask applies to a DSM raster; a point cloud has no grid to align it with")
        grid, cells = points_to_grid(data, resolution, max_cells=max_cells)
        report = analyze_grid(grid)
        per_point = report.labels.reshape(-1)[cells].astype(np.int32)
        return RoofAnalysis(report, grid, data.to_input_order(per_point))
    grid = data if mask is None else replace(data, mask=read_mask(mask, data.shape))
    return RoofAnalysis(analyze_grid(grid), grid)


def write_labels(analysis: RoofAnalysis, out: Path) -> None:
    """An int32 .npy of the DSM's shape for a raster; a text file, one integer per point, for a cloud."""
    if analysis.point_labels is not None:
        out.write_text("\n".join(map(str, analysis.point_labels.tolist())) + "\n")
    else:
        np.save(out, analysis.report.labels.astype(np.int32), allow_pickle=False)
