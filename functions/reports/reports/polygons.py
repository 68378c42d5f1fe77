"""Polygon primitives on the geometry's frame, for many points at once: inside or not, and how far
from the nearest side (placement casts rays into facets; diagrams find where a label fits)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Vec = npt.NDArray[np.float64]


def inside(xy: Vec, polygon: Vec) -> npt.NDArray[np.bool_]:
    """Crossing-number test of points (n, 2) against one polygon (k, 2)."""
    x, y = xy[:, 0], xy[:, 1]
    found = np.zeros(len(xy), dtype=bool)
    for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        crosses = (y0 > y) != (y1 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        found ^= crosses & (x < at)
    return found


def distance_to_sides(xy: Vec, polygon: Vec) -> Vec:
    """Each point's distance to the polygon's nearest side."""
    start, end = polygon, np.roll(polygon, -1, axis=0)
    along = end - start  # (k, 2)
    length2 = np.maximum((along**2).sum(axis=1), 1e-18)
    offset = xy[:, None, :] - start[None, :, :]  # (n, k, 2)
    t = np.clip((offset * along[None]).sum(axis=2) / length2[None], 0.0, 1.0)
    nearest = offset - t[..., None] * along[None]
    distances: Vec = np.sqrt((nearest**2).sum(axis=2)).min(axis=1)
    return distances
