"""The local stage: the steps in order (scale, roof, working resolution, the detectors), ranking
and merging of their candidates, and the local-only answer as detections."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vision.detections import Box, Detection, merge, same_mark
from vision.local.candidate import MAX_CANDIDATES, REPORT_SCORE, Candidate
from vision.local.courses import course_lines
from vision.local.hail import hail_candidates
from vision.local.image_ops import Mask, RGBImage, check_rgb, log_luminance, normalised, resize
from vision.local.missing import appearance_distance, course_gap_candidates, missing_candidates
from vision.local.roof import estimate_roof
from vision.local.scale import EXPOSURE_IN, Scale, course_scale
from vision.local.wind import wind_candidates
from vision.local.work import MAX_WORK_PIXELS, MAX_WORK_SIDE, WORK_PPI, Work
from vision.photo_scale import PhotoScale

MAX_STRETCH = 4.0  # foreshortening beyond this is a grazing view the courses cannot be read in anyway
FALLBACK_SPAN_IN = 100.0  # a photo whose courses cannot be measured is taken to span this much roof
MODEL_NAME = "local-opencv"
LOBE_GAP = 0.1  # hail spots are one hit's lobes when this close (a share of the larger one's side)...
LOBE_SHARED = 0.6  # ...side by side: sharing this much of the smaller one's extent along the touching side


@dataclass(frozen=True)
class LocalFindings:
    """What the local stage saw: its candidates (best first), where the roof is (photo pixels; all
    False when no roof was found) and the photo's metric scale from the shingle courses."""

    candidates: list[Candidate]
    roof: Mask
    scale: PhotoScale | None


def find_candidates(pixels: RGBImage, *, roof: Mask | None = None, limit: int = MAX_CANDIDATES) -> LocalFindings:
    """Candidate damage inside the roof area of an RGB photo, best first, at most `limit`."""
    check_rgb(pixels)
    scale = course_scale(pixels)
    metric = scale.photo_scale() if scale is not None else None
    if roof is None:
        if scale is None:  # no shingle courses anywhere: not a roof photo (or not one we can read)
            return LocalFindings([], np.zeros(pixels.shape[:2], bool), None)
        roof = estimate_roof(pixels, scale)
    elif roof.shape != pixels.shape[:2]:
        raise ValueError("roof mask must have the photo's height and width")
    if not roof.any():
        return LocalFindings([], roof, metric)
    return LocalFindings(_candidates(work_of(pixels, roof, scale), limit), roof, metric)


def work_of(pixels: RGBImage, roof: Mask, scale: Scale | None) -> Work:
    """The photo at working resolution, as every detector sees it."""
    ppi = scale.ppi if scale else max(pixels.shape[:2]) / FALLBACK_SPAN_IN
    h, w = pixels.shape[:2]
    factor = min(1.0, WORK_PPI / ppi, MAX_WORK_SIDE / max(h, w), math.sqrt(MAX_WORK_PIXELS / (h * w)))
    rgb = np.asarray(resize(pixels, factor), np.uint8)
    work_roof = np.asarray(resize(roof.astype(np.uint8), factor), np.uint8)
    margin = max(1, round(0.75 * ppi * factor))  # keep blob rings off the roof's border
    eroded = np.asarray(cv2.erode(work_roof, np.ones((2 * margin + 1,) * 2, np.uint8)), np.uint8) > 0
    # Across the courses a slanted roof is foreshortened: the course period measures pixels per inch
    # there; along the courses there are `stretch` times more (the area scale is their mean).
    across = scale.period_px / scale.exposure_in if scale else ppi
    stretch = min(MAX_STRETCH, max(1.0 / MAX_STRETCH, (ppi / across) ** 2))
    work_ppi = ppi * factor / math.sqrt(stretch)
    flat = normalised(log_luminance(rgb), 3.0 * EXPOSURE_IN * work_ppi)
    soft = np.asarray(cv2.GaussianBlur(flat, (0, 0), max(0.6, 0.1 * work_ppi)), np.float32)
    direction = scale.direction if scale else math.pi / 2
    return Work(rgb, flat, eroded, work_ppi, factor, soft, direction, scale, work_roof > 0, stretch)


def _candidates(work: Work, limit: int) -> list[Candidate]:
    scale = work.scale
    appearance = appearance_distance(work)
    lines = course_lines(work) if scale is not None and work.roof.sum() >= 100 else None
    missing = missing_candidates(work, appearance)
    gaps = course_gap_candidates(work, lines, appearance) if lines is not None else []
    # Blobs inside a missing tab are its corners; a course gap's box is drawn from the line alone,
    # so only a confident one (a hole of another material) claims what lies inside it.
    holes = missing + [c for c in gaps if c.score >= REPORT_SCORE]
    hail = [c for c in hail_candidates(work, appearance) if not any(_inside(c.box, m.box) for m in holes)]
    wind = [c for c in wind_candidates(work, lines, appearance) if not any(_inside(c.box, m.box) for m in holes)]
    ranked = sorted(missing + gaps + hail + wind, key=lambda c: (-c.score, c.box))
    kept: list[Candidate] = []
    for cand in ranked:  # one candidate per mark: the best scored reading of it
        lobe_of = next((i for i, k in enumerate(kept) if _lobes(cand, k)), None)
        if lobe_of is not None:  # the mark is the better lobe's, its box both lobes'
            kept[lobe_of] = replace(kept[lobe_of], box=_union(kept[lobe_of].box, cand.box))
        elif not any(same_mark(cand.box, k.box) for k in kept):
            kept.append(cand)
        if len(kept) >= limit:
            break
    return kept


def _lobes(a: Candidate, b: Candidate) -> bool:
    """Whether two hail spots are the lobes of one hit: their boxes touch side by side, sharing
    most of the side they touch along (a ridge of granules across a large hit splits its dark spot
    in two halves). Two hits so placed are far rarer than one hit split; two hits touching corner
    to corner are not lobes."""
    if a.kind != "hail_hit" or b.kind != "hail_hit":
        return False
    larger = max(a.box[2] - a.box[0], a.box[3] - a.box[1], b.box[2] - b.box[0], b.box[3] - b.box[1])
    touch = max(1.0, LOBE_GAP * larger)
    # (the box sides the gap is between, the box sides of the extent they share): apart along x, along y
    for (lo, hi), (other_lo, other_hi) in (((0, 2), (1, 3)), ((1, 3), (0, 2))):
        gap = max(a.box[lo] - b.box[hi], b.box[lo] - a.box[hi])
        shared = min(a.box[other_hi], b.box[other_hi]) - max(a.box[other_lo], b.box[other_lo])
        smaller = min(a.box[other_hi] - a.box[other_lo], b.box[other_hi] - b.box[other_lo])
        if gap <= touch and shared >= LOBE_SHARED * smaller:
            return True
    return False


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _inside(inner: Box, outer: Box, pad: float = 0.1) -> bool:
    """Whether the centre of `inner` falls in `outer` grown by `pad` of its size."""
    cx, cy = (inner[0] + inner[2]) / 2, (inner[1] + inner[3]) / 2
    dx, dy = (outer[2] - outer[0]) * pad, (outer[3] - outer[1]) * pad
    return outer[0] - dx <= cx <= outer[2] + dx and outer[1] - dy <= cy <= outer[3] + dy


def candidates_as_detections(candidates: list[Candidate], *, min_score: float = REPORT_SCORE) -> list[Detection]:
    """The local-only answer (model `MODEL_NAME`): the confident candidates, merged, numbered."""
    found = [
        Detection(
            id=i, type=c.kind, severity=c.severity, confidence=min(1.0, max(0.0, c.score)), box=c.box, stage="local"
        )
        for i, c in enumerate(candidates, start=1)
        if c.score >= min_score
    ]
    return merge(found)
