"""From an input file to a roof report: read, rasterise a point cloud, segment, measure.

Labels come back on the input's own terms: a grid of the DSM's shape for a raster, one integer per
input point for a point cloud (the facet whose plane is nearest to the point among those of its cell and
the cells around; -1 when it is on none: ground, a wall, a tree, a stray point).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt

from geometry.cloud_planes import labels_of_points, planes_on_points
from geometry.diagnosis import ResultWarning
from geometry.grid import HeightGrid
from geometry.measure import RoofReport
from geometry.points import MAX_CELLS, PointCloud, points_to_grid
from geometry.readers import open_input, read_mask
from geometry.resampled import described, find_lattice, fine_labels, source_grid
from geometry.tiles import Refine, analyze_tile
from shared.errors import InvalidInput


@dataclass(frozen=True)
class RoofAnalysis:
    report: RoofReport
    grid: HeightGrid
    point_labels: npt.NDArray[np.int32] | None = None  # one per input point, for a point cloud


def analyze_grid(grid: HeightGrid, refine: Refine | None = None) -> RoofReport:
    """The roof report of a grid, measured at the resolution its heights hold: a DSM resampled from a
    coarser one on its source cells (geometry.resampled), with its labels on the grid as given."""
    lattice = find_lattice(grid)
    if lattice is None:
        return analyze_tile(grid, refine)
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
        return analyze_cloud(data, resolution, max_cells=max_cells)
    grid = data if mask is None else replace(data, mask=read_mask(mask, data.shape))
    return RoofAnalysis(analyze_grid(grid), grid)


def analyze_cloud(cloud: PointCloud, resolution: float | None = None, *, max_cells: int = MAX_CELLS) -> RoofAnalysis:
    """A point cloud's roof: rasterised to a DSM and segmented there, each facet's plane then fitted on
    its own points; a facet label per input point, the nearest plane around it (geometry.cloud_planes)."""
    grid, _ = points_to_grid(cloud, resolution, max_cells=max_cells)
    corner = np.array([cloud.xyz[:, 0].min(), cloud.xyz[:, 1].max(), 0.0])  # the grid's frame starts here
    xyz = cloud.xyz - corner
    report = analyze_grid(grid, partial(planes_on_points, xyz))
    per_point = labels_of_points(xyz, report.labels, [f.plane for f in report.facets], grid)
    return RoofAnalysis(report, grid, cloud.to_input_order(per_point))


def write_labels(analysis: RoofAnalysis, out: Path) -> None:
    """An int32 .npy of the DSM's shape for a raster; a text file, one integer per point, for a cloud."""
    if analysis.point_labels is not None:
        out.write_text("\n".join(map(str, analysis.point_labels.tolist())) + "\n")
    else:
        np.save(out, analysis.report.labels.astype(np.int32), allow_pickle=False)
