"""A drone photo's camera on the geometry's frame: from its pose (WGS 84 position, altitude, gimbal
yaw, pitch and roll, focal length) to rays through its pixels, and back from points to pixels.

Frames: the geometry's is metres, x east and y north from its grid's top-left corner, z the DSM's
heights; its `source.crs` and `source.origin` place that corner on the earth, and pyproj carries the
photo's latitude and longitude into that CRS. An `absolute` altitude is taken on the DSM's vertical
datum; a `relative` one (DJI's RelativeAltitude, above the take-off point) on the ground around the
roof, which is where a drone takes off.

The camera is a pinhole (drone cameras are rectified or nearly so): the image's x to the right, y
down, looking along `forward`. Yaw turns `forward` clockwise from north, pitch tilts it up from level
(-90 straight down), roll turns the image about it (positive: the image's right side goes down).
The focal length in pixels comes from the pose, else from its 35 mm equivalent over the image's
diagonal (a 35 mm frame's is 43.27 mm).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from reports.inputs import CameraPose, Geometry

FULL_FRAME_DIAGONAL_MM = 43.2666
Vec = npt.NDArray[np.float64]


class NotPlaceable(Exception):
    """The photo cannot be placed on this geometry (no georeference, no focal length); says why."""


@dataclass(frozen=True)
class Camera:
    centre: Vec  # (3,) on the geometry's frame
    forward: Vec
    right: Vec
    down: Vec
    focal_px: float
    width: int
    height: int

    def rays(self, u: Vec, v: Vec) -> Vec:
        """Unit directions (n, 3) through pixel positions u, v (image x and y)."""
        cx, cy = self.width / 2.0, self.height / 2.0
        d = (
            self.forward[None, :]
            + ((u - cx) / self.focal_px)[:, None] * self.right[None, :]
            + ((v - cy) / self.focal_px)[:, None] * self.down[None, :]
        )
        unit: Vec = d / np.linalg.norm(d, axis=1, keepdims=True)
        return unit

    def pixels(self, points: Vec) -> tuple[Vec, Vec, Vec]:
        """Image x, y and depth along `forward` of points (n, 3); depth <= 0 is behind the camera."""
        d = points - self.centre[None, :]
        depth = d @ self.forward
        safe = np.where(depth > 1e-9, depth, np.nan)
        u = self.width / 2.0 + self.focal_px * (d @ self.right) / safe
        v = self.height / 2.0 + self.focal_px * (d @ self.down) / safe
        return u, v, depth


def axes(yaw_deg: float, pitch_deg: float, roll_deg: float) -> tuple[Vec, Vec, Vec]:
    yaw, pitch, roll = (math.radians(a) for a in (yaw_deg, pitch_deg, roll_deg))
    forward = np.array([math.sin(yaw) * math.cos(pitch), math.cos(yaw) * math.cos(pitch), math.sin(pitch)])
    right = np.array([math.cos(yaw), -math.sin(yaw), 0.0])
    down = np.cross(forward, right)
    rolled_right = math.cos(roll) * right + math.sin(roll) * down
    rolled_down = -math.sin(roll) * right + math.cos(roll) * down
    return forward, rolled_right, rolled_down


def focal_px(pose: CameraPose, width: int, height: int) -> float:
    if pose.focal_px is not None:
        return pose.focal_px
    if pose.focal_35mm is not None:
        return pose.focal_35mm / FULL_FRAME_DIAGONAL_MM * math.hypot(width, height)
    raise NotPlaceable("the photo's metadata gives no focal length (FocalLength in 35 mm, or a calibrated one)")


@functools.lru_cache(maxsize=16)
def transformer(source: str, target: str) -> Any:
    """pyproj's transformer between two CRSs (x, y order: longitude first), made once per pair."""
    from pyproj import Transformer  # only a georeferenced roof needs it

    return Transformer.from_crs(source, target, always_xy=True)


def to_frame(geometry: Geometry, latitude: float, longitude: float) -> tuple[float, float]:
    """A WGS 84 position on the geometry's frame (x east, y north of its grid's top-left corner)."""
    source = geometry.source
    if source.crs is None or source.origin is None:
        raise NotPlaceable("the roof's height data is not georeferenced (no CRS and origin)")
    x, y = transformer("EPSG:4326", source.crs).transform(longitude, latitude)
    return (float(x) - source.origin[0]) * source.crs_units_m, (float(y) - source.origin[1]) * source.crs_units_m


def locator(geometry: Geometry) -> Callable[[float, float], tuple[float, float]] | None:
    """WGS 84 (latitude, longitude) onto the geometry's frame, when it is georeferenced."""
    if geometry.source.crs is None or geometry.source.origin is None:
        return None
    return lambda latitude, longitude: to_frame(geometry, latitude, longitude)


def ground_m(geometry: Geometry) -> float | None:
    grounds = [s.ground_m for s in geometry.structures if s.ground_m is not None]
    return float(np.median(grounds)) if grounds else None


def camera_of(pose: CameraPose, geometry: Geometry, width: int, height: int) -> Camera:
    x, y = to_frame(geometry, pose.latitude, pose.longitude)
    if pose.altitude_ref == "absolute":
        z = pose.altitude_m
    else:
        ground = ground_m(geometry)
        if ground is None:
            raise NotPlaceable("a relative altitude needs the ground around the roof, which the geometry lacks")
        z = ground + pose.altitude_m
    forward, right, down = axes(pose.yaw_deg, pose.pitch_deg, pose.roll_deg)
    return Camera(np.array([x, y, z]), forward, right, down, focal_px(pose, width, height), width, height)
