"""The roof mask at the photo's size (made on the small copy by the survey the scale was measured
on: `vision.local.survey`, `vision.local.roof_mask`), and its outline as the detection JSON carries
it."""

from __future__ import annotations

import cv2
import numpy as np

from vision.detections import RoofMask
from vision.local.image_ops import Mask, RGBImage, resize
from vision.local.scale import SCALE_SIDE, Scale, survey_at


def estimate_roof(pixels: RGBImage, scale: Scale) -> Mask:
    """The roof mask at the photo's size, from the survey the scale was measured on (made again
    if the scale came without one, or with one of another photo's size)."""
    found = scale.survey
    if found is None or found.small.shape[:2] != _small_shape(pixels, found.factor):
        found = survey_at(pixels, SCALE_SIDE)
        if found is None:
            return np.zeros(pixels.shape[:2], bool)
    return upsample_mask(found.roof, pixels.shape[:2])


def _small_shape(pixels: RGBImage, factor: float) -> tuple[int, int]:
    h, w = pixels.shape[:2]
    return (max(1, round(h * factor)), max(1, round(w * factor))) if factor < 1 else (h, w)


def upsample_mask(mask: Mask, shape: tuple[int, int]) -> Mask:
    """A small-copy mask at a photo's size, its edge interpolated (not blocky)."""
    if mask.shape == shape:
        return mask.copy()
    soft = cv2.resize(mask.astype(np.uint8) * np.uint8(255), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.asarray(soft >= 128, np.bool_)


OUTLINE_SIDE = 512  # the outline is traced on a copy this size: finer than the roof estimate itself
MAX_OUTLINE_POINTS = 400


def roof_outline(mask: Mask) -> RoofMask:
    """The roof mask as the contract carries it: the outer outlines of its parts (simplified to
    within about a pixel of the traced copy) in photo pixels, and the share of the photo it covers."""
    h, w = mask.shape
    factor = min(1.0, OUTLINE_SIDE / max(h, w))
    small = np.asarray(resize(mask.astype(np.uint8), factor), np.uint8)
    contours, _ = cv2.findContours(small, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons: list[list[tuple[int, int]]] = []
    for contour in sorted(contours, key=cv2.contourArea, reverse=True):
        if cv2.contourArea(contour) < 4:
            continue
        points = cv2.approxPolyDP(contour, 1.0, True).reshape(-1, 2)
        if sum(len(p) for p in polygons) + len(points) > MAX_OUTLINE_POINTS:
            break
        polygons.append([(min(w, round(x / factor)), min(h, round(y / factor))) for x, y in points])
    return RoofMask(coverage=round(float(mask.mean()), 4), polygons=polygons)


def roof_from_outline(outline: RoofMask, width: int, height: int) -> Mask:
    """The roof mask drawn back from its outline (a detection JSON's `roof_mask`)."""
    canvas = np.zeros((height, width), np.uint8)
    polygons = [np.asarray(p, np.int32).reshape(-1, 1, 2) for p in outline.polygons if len(p) >= 3]
    if polygons:
        cv2.fillPoly(canvas, polygons, 1)
    return canvas > 0
