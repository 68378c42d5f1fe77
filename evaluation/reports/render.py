"""Drone photos rendered from the synthetic roof, and the marks a detector finds in them.

A photo is ray-cast through the true roof planes (not the measured ones the report uses): each pixel
takes the shade of the facet its ray meets first (sunlit by its normal, shingle courses along its
level lines, grain noise), the ground where it meets none. A hail mark is a dark spot of
`MARK_RADIUS_M` on its plane; its pixels are supersampled, so a spot seen edge-on or half hidden
behind a ridge comes out as small and as faint as it would.

The detector is the simplest one that is right on such images: dark blobs (far darker than any
shingle or the ground), one detection per blob at its darkness-weighted centre. Two spots that touch
in the image are one blob, as they would be for any detector, and so are pieces of one spot a
pixel or two apart. It stands in for the vision model
here, so that what the report is scored on is the geometry of the photos, not a detector's recall.

Only the roof's part of the frame is rendered (the rest is ground), so a 4000 x 3000 photo costs
about as much as the roof's size in pixels.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

from evaluation.geometry.synthetic import Scene
from reports.camera import Camera
from reports.placement import Surface, cast

MARK_RADIUS_M = 0.025  # a 2-inch hail hit: the bruise and its lost granules
SUN = np.array([0.35, -0.45, 0.82])  # from the south-east, high
DARK = 60  # grey level below which a pixel is a mark (shingles render at 95 and up)
SUPERSAMPLE = 3
Image = npt.NDArray[np.uint8]
Vec = npt.NDArray[np.float64]


def true_surfaces(scene: Scene) -> list[Surface]:
    """The scene's facets as planes over their convex pieces (one surface per piece)."""
    found = []
    for facet in scene.facets:
        nx, ny, nz = facet.normal
        for k, piece in enumerate(facet.polygons):
            outline = np.asarray(piece, float)
            found.append(Surface(f"{facet.id}.{k}", -nx / nz, -ny / nz, facet.offset / nz, outline, ()))
    return found


def render(camera: Camera, roof: list[Surface], marks: Vec, seed: int = 0) -> Image:
    """The photo (grey, `camera.height` x `camera.width`), with dark spots at `marks` (n, 3)."""
    rng = np.random.default_rng(seed)
    image = np.full((camera.height, camera.width), 120, np.uint8)  # ground
    window = _roof_window(camera, roof)
    if window is None:
        return image
    left, top, right, bottom = window
    u, v = np.meshgrid(np.arange(left, right) + 0.5, np.arange(top, bottom) + 0.5)
    which, points = cast(camera, roof, u.ravel(), v.ravel())
    shade = np.full(len(which), 120.0)
    for index in np.unique(which[which >= 0]):
        s = roof[int(index)]
        on = which == index
        normal = np.array([-s.a, -s.b, 1.0]) / s.pitch_factor
        lit = 95.0 + 90.0 * max(float(normal @ SUN), 0.0)
        down = s.slope_coords(points[on, :2])[:, 1]
        courses = np.where(np.mod(down, 0.143) < 0.012, -18.0, 0.0)  # a 5 5/8 in exposure
        shade[on] = lit + courses
    shade += rng.normal(0.0, 4.0, len(shade))
    image[top:bottom, left:right] = np.clip(shade, 0, 255).reshape(u.shape).astype(np.uint8)
    _spots(image, camera, roof, marks)
    return image


def _roof_window(camera: Camera, roof: list[Surface]) -> tuple[int, int, int, int] | None:
    corners = np.array([[x, y, s.a * x + s.b * y + s.c] for s in roof for x, y in s.outline])
    u, v, depth = camera.pixels(corners)
    if (depth <= 0).any():
        return 0, 0, camera.width, camera.height
    left, right = max(0, int(np.nanmin(u)) - 8), min(camera.width, int(np.nanmax(u)) + 9)
    top, bottom = max(0, int(np.nanmin(v)) - 8), min(camera.height, int(np.nanmax(v)) + 9)
    return (left, top, right, bottom) if left < right and top < bottom else None


def _spots(image: Image, camera: Camera, roof: list[Surface], marks: Vec) -> None:
    """Darken each pixel by the share of its subsamples whose ray meets the roof within a mark."""
    if len(marks) == 0:
        return
    u, v, depth = camera.pixels(marks)
    for k in np.flatnonzero(depth > 0):
        reach = math.ceil(4 * MARK_RADIUS_M * camera.focal_px / depth[k]) + 2
        left, right = max(0, int(u[k]) - reach), min(camera.width, int(u[k]) + reach + 1)
        top, bottom = max(0, int(v[k]) - reach), min(camera.height, int(v[k]) + reach + 1)
        if left >= right or top >= bottom:
            continue
        steps = (np.arange(SUPERSAMPLE) + 0.5) / SUPERSAMPLE
        su = (np.arange(left, right)[:, None] + steps[None, :]).ravel()
        sv = (np.arange(top, bottom)[:, None] + steps[None, :]).ravel()
        gu, gv = np.meshgrid(su, sv)
        which, hits = cast(camera, roof, gu.ravel(), gv.ravel())
        inside = (which >= 0) & (np.linalg.norm(hits - marks[k], axis=1) <= MARK_RADIUS_M)
        share = inside.reshape(gu.shape).reshape(bottom - top, SUPERSAMPLE, right - left, SUPERSAMPLE).mean(axis=(1, 3))
        patch = image[top:bottom, left:right].astype(np.float64)
        image[top:bottom, left:right] = np.clip(patch * (1 - share) + 20.0 * share, 0, 255).astype(np.uint8)


def dark_spots(image: Image) -> list[tuple[float, float]]:
    """Each dark blob's darkness-weighted centre (image x, y)."""
    dark = (image < DARK).astype(np.uint8)
    # Pieces of one spot a pixel or two apart (a spot seen edge-on thins out and breaks) are one blob.
    count, labels = cv2.connectedComponents(cv2.dilate(dark, np.ones((3, 3), np.uint8)), connectivity=8)
    if count <= 1:
        return []
    ys, xs = np.nonzero(dark)
    ids = labels[ys, xs]
    w = DARK - image[ys, xs].astype(np.float64)
    total = np.bincount(ids, weights=w, minlength=count)
    cx = np.bincount(ids, weights=w * (xs + 0.5), minlength=count)
    cy = np.bincount(ids, weights=w * (ys + 0.5), minlength=count)
    return [(float(cx[i] / total[i]), float(cy[i] / total[i])) for i in range(1, count) if total[i] > 0]
