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
    # The frame's x, y of the grid's top-left corner: (0, 0) for an input, a crop's place in it otherwise.
    origin: tuple[float, float] = (0.0, 0.0)

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
        xx, yy = np.meshgrid(self.x_of(np.arange(cols, dtype=np.float64)), self.y_of(np.arange(rows, dtype=np.float64)))
        return xx, yy

    # Cells and the frame: cell (row, col) has its centre at x_of(col), y_of(row); between cells, fractions.
    def x_of(self, col: npt.ArrayLike) -> FloatGrid:
        return self.origin[0] + (np.asarray(col, dtype=np.float64) + 0.5) * self.dx

    def y_of(self, row: npt.ArrayLike) -> FloatGrid:
        return self.origin[1] - (np.asarray(row, dtype=np.float64) + 0.5) * self.dy

    def col_of(self, x: npt.ArrayLike) -> FloatGrid:
        return (np.asarray(x, dtype=np.float64) - self.origin[0]) / self.dx - 0.5

    def row_of(self, y: npt.ArrayLike) -> FloatGrid:
        return (self.origin[1] - np.asarray(y, dtype=np.float64)) / self.dy - 0.5

    def crop(self, rows: slice, cols: slice, mask: BoolGrid | None = None) -> HeightGrid:
        """A window of the grid on the same frame (its coordinates are the whole grid's)."""
        top, left = rows.start or 0, cols.start or 0
        origin = (self.origin[0] + left * self.dx, self.origin[1] - top * self.dy)
        return HeightGrid(self.z[rows, cols], self.dx, self.dy, mask, self.georeference, origin)
