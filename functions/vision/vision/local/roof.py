"""Roof area: the blocks of the photo whose colour and texture match the central, typical ones,
connected to them, holes filled; no roof if those are not a shingle colour. And its outline, as the
detection JSON carries it."""

from __future__ import annotations

import cv2
import numpy as np

from vision.detections import RoofMask
from vision.local.image_ops import Mask, RGBImage, chromaticity, log_luminance, normalised, resize, robust_distance
from vision.local.scale import SCALE_SIDE, Scale

MAX_GREY_CHROMA = 0.055  # grey, charcoal, slate and green blends are near grey (<= 0.04)
MAX_ROOF_CHROMA = 0.1  # warm browns and tans reach 0.075; a blue sky or green lawn that far out is not roof


def estimate_roof(pixels: RGBImage, scale: Scale) -> Mask:
    """Blocks that look like the periodic (certainly roof) windows, connected to them, holes filled."""
    factor = min(1.0, SCALE_SIDE / max(pixels.shape[:2]))
    small = np.asarray(resize(pixels, factor), np.uint8)
    block = max(4, round(scale.period_px * factor / 2))  # half a course
    h, w = small.shape[:2]
    bh, bw = max(1, h // block), max(1, w // block)
    crop = small[: bh * block, : bw * block]
    r, g = chromaticity(crop)
    fine = np.abs(normalised(log_luminance(crop), 1.5))
    feats = [
        np.asarray(cv2.resize(x, (bw, bh), interpolation=cv2.INTER_AREA), np.float32)
        for x in (r, g, np.log(fine + 1e-3).astype(np.float32))
    ]
    centre = np.zeros((bh, bw), bool)
    centre[bh // 4 : bh - bh // 4, bw // 4 : bw - bw // 4] = True
    # Seeds: the central blocks whose colour and texture are typical of the centre (photos of roof
    # damage are aimed at the roof; the periodicity check already said a roof is in the picture).
    dist_centre = robust_distance(feats, centre, floors=(0.012, 0.012, 0.25))
    seeds = centre & (dist_centre < 2.0)
    neutral = float(np.median(np.hypot(feats[0][seeds] - 1 / 3, feats[1][seeds] - 1 / 3))) if seeds.any() else 1.0
    if not _roof_colour(neutral, float(np.median(feats[0][seeds])), float(np.median(feats[1][seeds]))):
        return np.zeros(pixels.shape[:2], bool)
    dist = robust_distance(feats, seeds, floors=(0.012, 0.012, 0.25))
    like = (dist < 4.0).astype(np.uint8)
    _, labels = cv2.connectedComponents(like, connectivity=4)
    keep = np.unique(labels[seeds & (like > 0)])
    mask = np.isin(labels, keep[keep > 0])
    mask = _fill_holes(mask)
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    full = cv2.resize(mask.astype(np.uint8), (bw * block, bh * block), interpolation=cv2.INTER_NEAREST)
    padded = np.zeros((h, w), np.uint8)
    padded[: full.shape[0], : full.shape[1]] = full
    if full.shape[0] < h:
        padded[full.shape[0] :] = padded[full.shape[0] - 1]
    if full.shape[1] < w:
        padded[:, full.shape[1] :] = padded[:, full.shape[1] - 1 : full.shape[1]]
    out = cv2.resize(padded, (pixels.shape[1], pixels.shape[0]), interpolation=cv2.INTER_NEAREST)
    return np.asarray(out, np.uint8) > 0


def _roof_colour(chroma: float, r: float, g: float) -> bool:
    """Whether seed blocks of typical chroma `chroma` (median distance from grey) and median
    chromaticity (r, g) can be a shingle blend: near grey, or a warm brown or tan (red over green
    over blue) a little further out. Sky is blue, lawns and shrubs green, both further out."""
    b = 1.0 - r - g
    return chroma <= MAX_GREY_CHROMA or (chroma <= MAX_ROOF_CHROMA and r >= g >= b)


def _fill_holes(mask: Mask) -> Mask:
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    return np.asarray(mask | holes, bool)


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
