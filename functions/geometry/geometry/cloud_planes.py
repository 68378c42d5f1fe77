"""A point cloud's facet planes, fitted on its points rather than on the DSM made from them.

The DSM a cloud is rasterised to keeps each cell's highest point: right for finding the roof (the
roof over the wall below its eave) but a biased sample for its plane. The highest of a cell's few
points is noise's upper tail, and how many points a cell holds varies with the scan lines, so the
bias varies across a facet and tilts it. The points themselves are an unbiased sample.

So once the DSM is segmented, each plane is refitted (Tukey-weighted, so wall points, a low return or
a bird cannot pull it) on the points that fall in its cells, leaving out the cells along its edge
when enough are inside: a cell across a crease or an eave holds points of the plane or wall beyond.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt

from geometry.grid import HeightGrid
from geometry.segment import Plane, Segmentation, fit_cells, fit_plane

MIN_POINTS = 6  # a plane's points to refit it on; fewer keep the DSM's plane
GROSS_SIGMAS = 5.0  # points farther than this from the DSM's plane (in robust sigmas) are not on it
GROSS_FLOOR_M = 0.15
POINT_SIGMAS = 3.0  # a point this many of its plane's sigmas off it is not on it (a wall, a bird)
POINT_FLOOR_M = 0.15


def planes_on_points(xyz: npt.NDArray[np.float64], segmentation: Segmentation, grid: HeightGrid) -> Segmentation:
    """The segmentation with each plane refitted on the cloud's points in its inner cells."""
    labels = segmentation.labels
    if not segmentation.planes:
        return segmentation
    col = np.rint(grid.col_of(xyz[:, 0])).astype(np.int64)
    row = np.rint(grid.row_of(xyz[:, 1])).astype(np.int64)
    inside = (row >= 0) & (row < grid.shape[0]) & (col >= 0) & (col < grid.shape[1])
    points, row, col = xyz[inside], row[inside], col[inside]
    kernel = np.ones((3, 3), np.uint8)
    planes = list(segmentation.planes)
    for index, plane in enumerate(planes):
        cells = (labels == index).astype(np.uint8)
        core = fit_cells(cells.astype(bool), cv2.erode(cells, kernel).astype(bool))
        mine = core[row, col]
        if mine.sum() < MIN_POINTS:
            continue
        x, y, z = points[mine].T
        # Gross outliers go first, judged from the DSM's plane: a least-squares start that a 15 m
        # bird had tilted could hold Tukey's weights on the wrong side.
        residual = z - plane.height(x, y)
        spread = 1.4826 * float(np.median(np.abs(residual - np.median(residual))))
        near = np.abs(residual - np.median(residual)) < max(GROSS_SIGMAS * spread, GROSS_FLOOR_M)
        if near.sum() < MIN_POINTS:
            continue
        fitted = fit_plane(x[near], y[near], z[near])
        planes[index] = replace(fitted, count=plane.count)
    return replace(segmentation, planes=planes)


def labels_of_points(
    xyz: npt.NDArray[np.float64], labels: npt.NDArray[np.int32], planes: list[Plane], grid: HeightGrid
) -> npt.NDArray[np.int32]:
    """A facet per point (-1 for none): of the facets in its cell and the 8 around, the one whose plane
    is nearest to it, if within a few of that plane's sigmas. A cell across a crease holds points of
    both facets, and one at an eave points of the wall: a cell's label is not each point's."""
    out = np.full(len(xyz), -1, dtype=np.int32)
    if not planes:
        return out
    col = np.rint(grid.col_of(xyz[:, 0])).astype(np.int64)
    row = np.rint(grid.row_of(xyz[:, 1])).astype(np.int64)
    inside = (row >= 0) & (row < grid.shape[0]) & (col >= 0) & (col < grid.shape[1])
    padded = np.pad(labels, 1, constant_values=-1)
    best = np.full(len(xyz), np.inf)
    x, y, z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            at_row = np.clip(row + 1 + dr, 0, grid.shape[0] + 1)
            at_col = np.clip(col + 1 + dc, 0, grid.shape[1] + 1)
            near = np.where(inside, padded[at_row, at_col], -1)
            for index in np.unique(near[near >= 0]).tolist():
                plane = planes[index]
                mine = near == index
                gap = np.abs(z[mine] - plane.height(x[mine], y[mine]))
                reach = max(POINT_SIGMAS * plane.rms, POINT_FLOOR_M)
                better = (gap < best[mine]) & (gap <= reach)
                hits = np.flatnonzero(mine)[better]
                best[hits], out[hits] = gap[better], index
    return out
