"""How many pixels of a photo make a foot of roof, where: the metric scale the heatmap's density,
the test-square count and the covered area are measured in.

A roof photo is rarely square-on: the slope recedes, so a foot near the eave spans more pixels than
a foot near the ridge. The scale is kept as its value at one point and its gradient across the
photo (a plane, which is what the shingle courses measure: their period at several windows), with
the direction up and down the slope in the image (test squares are laid along the courses) and an
honest relative uncertainty and source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

ScaleSource = Literal["shingle_courses", "test_square_tag", "assumed"]
ShingleStyle = Literal["three_tab", "laminated"]
F32 = npt.NDArray[np.float32]

MIN_SHARE = 0.25  # the plane is never trusted below this share of the centre's value (far corners)


@dataclass(frozen=True)
class PhotoScale:
    pixels_per_foot: float  # at (cx, cy)
    cx: float
    cy: float
    source: ScaleSource
    uncertainty: float  # relative, one standard deviation (0.05 = 5%)
    gx: float = 0.0  # change of pixels_per_foot per pixel along x (perspective)
    gy: float = 0.0  # and along y
    direction: float = math.pi / 2  # radians in the image: across the courses (down the slope)
    shingle: ShingleStyle | None = None  # the style the scale was read from, when it was told

    def __post_init__(self) -> None:
        if not (math.isfinite(self.pixels_per_foot) and self.pixels_per_foot > 0):
            raise ValueError("pixels_per_foot must be a positive number")
        if not (math.isfinite(self.uncertainty) and self.uncertainty >= 0):
            raise ValueError("uncertainty must be a non-negative number")

    def at(self, x: npt.ArrayLike, y: npt.ArrayLike) -> F32:
        """Pixels per foot at image points (arrays broadcast), never below MIN_SHARE of the centre's."""
        xs, ys = np.asarray(x, np.float32), np.asarray(y, np.float32)
        value = self.pixels_per_foot + self.gx * (xs - self.cx) + self.gy * (ys - self.cy)
        return np.asarray(np.maximum(value, MIN_SHARE * self.pixels_per_foot), np.float32)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PhotoScale:
        """Back from `as_json` (a detection JSON's `scale`)."""
        gx, gy = data.get("gradient", (0.0, 0.0))
        cx, cy = data["centre"]
        return cls(
            pixels_per_foot=float(data["pixels_per_foot"]),
            cx=float(cx),
            cy=float(cy),
            source=data["source"],
            uncertainty=float(data["uncertainty"]),
            gx=float(gx),
            gy=float(gy),
            direction=math.radians(float(data.get("direction_deg", 90.0))),
        )

    def as_json(self) -> dict[str, object]:
        """The contract's `scale` field (ARCHITECTURE.md, detection JSON); `shingle` only when told."""
        out: dict[str, object] = {
            "pixels_per_foot": round(self.pixels_per_foot, 3),
            "source": self.source,
            "uncertainty": round(self.uncertainty, 4),
            "gradient": [round(self.gx, 6), round(self.gy, 6)],
            "centre": [round(self.cx, 1), round(self.cy, 1)],
            "direction_deg": round(math.degrees(self.direction), 2),
        }
        if self.shingle is not None:
            out["shingle"] = self.shingle
        return out
