"""A height grid: what every reader produces and the segmentation consumes.

Axes (ARCHITECTURE.md, "Geometry CLI and JSON"): row 0 is north and columns increase east. A cell's
centre is at x = (col + 0.5) * dx east and y = -(row + 0.5) * dy north of the grid's north-west corner,
so world coordinates are right-handed with z up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatGrid = npt.NDArray[np.float64]
BoolGrid = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Georeference:
    """The grid's top-left corner in a CRS (`EPSG:<code>`), and the CRS's unit in metres: a point at
    (x east, y north) metres on the grid's frame is at origin + (x, y) / units_m in the CRS."""

    crs: str | None  # None: the file names no CRS we can name (its origin is still known)
    origin: tuple[float, float]
    units_m: float = 1.0

    def to_json(self) -> dict[str, object]:
        return {"crs": self.crs, "origin": [round(v, 3) for v in self.origin], "crs_units_m": self.units_m}


@dataclass(frozen=True)
class HeightGrid:
    z: FloatGrid  # metres; NaN where there is no data
    dx: float  # metres per column (east)
    dy: float  # metres per row (south)
    mask: BoolGrid | None = None  # an optional roof mask on the same grid (True = roof)
    georeference: Georeference | None = None  # where the grid lies on the earth, when its file says

    def __post_init__(self) -> None:
        if self.z.ndim != 2:
            raise ValueError("a height grid is two-dimensional")
        if self.mask is not None and self.mask.shape != self.z.shape:
            raise ValueError(f"the mask's shape {self.mask.shape} is not the grid's {self.z.shape}")

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.z.shape
        return rows, cols

    @property
    def cell_area(self) -> float:
        return self.dx * self.dy

    def xy(self) -> tuple[FloatGrid, FloatGrid]:
        """World x (east) and y (north) of every cell centre, in metres."""
        rows, cols = self.shape
        x = (np.arange(cols, dtype=np.float64) + 0.5) * self.dx
        y = -(np.arange(rows, dtype=np.float64) + 0.5) * self.dy
        xx, yy = np.meshgrid(x, y)
        return xx, yy
