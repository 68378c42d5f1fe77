"""What a rendered photo knows about itself: the pixels, the true roof mask and surface labels, the
boxed damage (marks) and boxed look-alikes (distractors), and the true metric scale anywhere in the
photo, from the roof plane's homography."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from evaluation.vision.families.geometry import Camera, Frame, Vec
from vision.detections import Box, DamageType

if TYPE_CHECKING:
    from evaluation.vision.families.params import SceneParams, Split

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
RGBImage = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]

MIN_COURSE_PX = 4.0  # courses are resolvable when an exposure spans at least this many pixels


@dataclass(frozen=True)
class Mark:
    """True damage. `box` is [x0, y0, x1, y1] in photo pixels (x1, y1 exclusive), bounding the pixels
    the damage changed; `size_in` is its size on the roof (a hail hit's diameter, a crease's length,
    a lifted or missing piece's width); `on_surface` is "field" or "ridge_cap"; `detail` says how it
    looks (hail: "bruise", "crushed_rim", "fresh_mat"; missing: "felt", "deck", "course_below")."""

    type: DamageType
    box: Box
    size_in: float
    on_surface: str = "field"
    detail: str = ""

    def on(self, roof: Mask) -> bool:
        cx, cy = (self.box[0] + self.box[2]) // 2, (self.box[1] + self.box[3]) // 2
        return bool(roof[cy, cx])


@dataclass(frozen=True)
class Distractor:
    """Something on the roof that is not damage but may look like it (lichen, a leaf, a nail pop, a
    blister, a scuff, moss, a vent): boxed like a mark, for looking into false positives."""

    kind: str
    box: Box


@dataclass(frozen=True)
class PlaneScale:
    """The front slope's homography (plane inches u, s to pixels) and what follows from it: the
    true pixels per foot at any pixel. `pixels_per_foot` is at the photo's centre, measured as an
    area scale (the square root of pixels per square foot: what a density per area needs); the
    along-slope and along-course scales differ from it where the slope is foreshortened."""

    homography: F64 = field(compare=False, repr=False)
    camera: Vec
    width: int
    height: int

    @classmethod
    def of(cls, camera: Camera, frame: Frame) -> PlaneScale:
        return cls(camera.plane_homography(frame), camera.position, camera.width, camera.height)

    def of_frame(self, camera: Camera, frame: Frame) -> PlaneScale:
        return PlaneScale.of(camera, frame)

    @property
    def inverse(self) -> F64:
        return np.asarray(np.linalg.inv(self.homography), np.float64)

    def plane_point(self, x: float, y: float) -> tuple[float | None, float | None]:
        """(u, s) inches on the plane at pixel (x, y) (continuous pixel coordinates), or None when the
        pixel's ray never meets the plane in front of the camera."""
        p = self.inverse @ np.array([x, y, 1.0])
        if p[2] <= 0:
            return None, None
        return float(p[0] / p[2]), float(p[1] / p[2])

    def _inverse_jacobian(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[F32, F32, F32, F32, F32]:
        g = self.inverse.astype(np.float32)
        xs, ys = np.asarray(x, np.float32), np.asarray(y, np.float32)
        w = g[2, 0] * xs + g[2, 1] * ys + g[2, 2]
        u = (g[0, 0] * xs + g[0, 1] * ys + g[0, 2]) / w
        s = (g[1, 0] * xs + g[1, 1] * ys + g[1, 2]) / w
        return (
            (g[0, 0] - u * g[2, 0]) / w,
            (g[0, 1] - u * g[2, 1]) / w,
            (g[1, 0] - s * g[2, 0]) / w,
            (g[1, 1] - s * g[2, 1]) / w,
            w,
        )

    def footprints(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[F32, F32]:
        """How many inches of u and of s a pixel at (x, y) spans (pixel centres at +0.5)."""
        ux, uy, sx, sy, _ = self._inverse_jacobian(x, y)
        return (np.abs(ux) + np.abs(uy)).astype(np.float32), (np.abs(sx) + np.abs(sy)).astype(np.float32)

    def at(self, x: npt.ArrayLike, y: npt.ArrayLike) -> F32:
        """True pixels per foot (area scale) at pixels; NaN where the plane is not in front."""
        ux, uy, sx, sy, w = self._inverse_jacobian(x, y)
        det = np.abs(ux * sy - uy * sx)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = 12.0 / np.sqrt(det)
        return np.asarray(np.where(w > 0, value, np.nan), np.float32)

    def along_slope_at(self, x: npt.ArrayLike, y: npt.ArrayLike) -> F32:
        """Pixels per foot moving up or down the slope (across the courses) at pixels."""
        return self._along(x, y, column=1)

    def along_courses_at(self, x: npt.ArrayLike, y: npt.ArrayLike) -> F32:
        """Pixels per foot moving along the courses (along the eave) at pixels."""
        return self._along(x, y, column=0)

    def _along(self, x: npt.ArrayLike, y: npt.ArrayLike, column: int) -> F32:
        ux, uy, sx, sy, w = self._inverse_jacobian(x, y)
        det = ux * sy - uy * sx
        with np.errstate(divide="ignore", invalid="ignore"):
            # The forward Jacobian (pixels per inch) is the inverse of the inverse one.
            dx, dy = (sy / det, -sx / det) if column == 0 else (-uy / det, ux / det)
            value = 12.0 * np.hypot(dx, dy)
        return np.asarray(np.where(w > 0, value, np.nan), np.float32)

    @property
    def centre(self) -> tuple[float, float]:
        return self.width / 2, self.height / 2

    @property
    def pixels_per_foot(self) -> float:
        return float(self.at(*self.centre))

    @property
    def pixels_per_foot_along_slope(self) -> float:
        return float(self.along_slope_at(*self.centre))

    @property
    def span_ft(self) -> float:
        """How many feet of roof the photo's width covers at its centre."""
        return self.width / float(self.along_courses_at(*self.centre))


def courses_resolvable(scale: PlaneScale, exposure_in: float, blur_px: float, width: int, height: int) -> bool:
    """Whether the courses can be told apart at the photo's centre: an exposure spans at least
    MIN_COURSE_PX pixels across the courses, and at least three times the blur."""
    del width, height
    period = scale.pixels_per_foot_along_slope * exposure_in / 12.0
    return bool(math.isfinite(period) and period >= max(MIN_COURSE_PX, 3.0 * blur_px))


@dataclass(frozen=True)
class RoofPhoto:
    """One rendered photo and its truth.

    - pixels: (height, width, 3) uint8 RGB, as a phone's JPEG decodes.
    - roof: bool mask of the roof (shingles, ridge caps, flashing, vents, drip edge; not the gutter,
      fascia, soffit, walls, chimney, trees, ground or sky).
    - surfaces: uint8 labels (scene.Surface) per pixel.
    - marks: the damage, boxed; distractors: look-alikes that are not damage, boxed.
    - scale: the true pixels per foot anywhere (PlaneScale); `pixels_per_foot` at the centre.
    - style, exposure_in, tab_in (None for laminates), courses_visible.
    - params: the draw the photo was rendered from (SceneParams)."""

    family: str
    index: int
    split: Split
    pixels: RGBImage
    roof: Mask
    surfaces: npt.NDArray[np.uint8]
    marks: tuple[Mark, ...]
    distractors: tuple[Distractor, ...]
    scale: PlaneScale
    style: str
    exposure_in: float
    tab_in: float | None
    courses_visible: bool
    params: SceneParams

    @property
    def name(self) -> str:
        return f"{self.family}/{self.index}"

    @property
    def pixels_per_foot(self) -> float:
        return self.scale.pixels_per_foot

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])
