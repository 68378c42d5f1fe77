"""How well the local stage finds the roof and the photo's scale, per family of the families
generator (`evaluation.vision.families`) and per set of the first generator (`evaluation.vision.
synthetic`).

Per photo:
- **IoU** of the roof mask (`estimate_roof`) with the true roof;
- **off roof**: the share of the mask eroded by 0.75 inch (what the detectors look at; inches by the
  photo's own estimated scale, as the stage erodes) that is not roof: detections can land there;
- **scale error**: estimated over true pixels per inch at the centre, minus one (area scale), on
  photos whose courses are visible; and whether the stated uncertainty covers it (within 2.5 sigma);
- the **style** told (three_tab, laminated or None) against the truth;
- CPU seconds of `course_scale` + `estimate_roof`.

Which families were used for fitting the roof and scale steps' thresholds is the families' own split
(FITTING); the HELD_OUT families and the first generator's test and held-out sets were never used.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from evaluation.vision.families.evaluate import cached_render
from evaluation.vision.synthetic import PhotoSpec, render
from vision.local.roof import estimate_roof
from vision.local.scale import course_scale

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class RoofScaleScore:
    photo: str
    iou: float
    off_roof: float
    scale_error: float | None  # None: no scale found, or courses not visible
    covered: bool | None  # the error within 2.5 stated sigma
    style: str | None
    true_style: str | None
    seconds: float


def score(
    name: str, pixels: npt.NDArray[np.uint8], roof: Mask, ppi: float, visible: bool, true_style: str | None
) -> RoofScaleScore:
    began = time.process_time()
    scale = course_scale(pixels)
    mask = estimate_roof(pixels, scale) if scale is not None else np.zeros(roof.shape, bool)
    seconds = time.process_time() - began
    union = int((mask | roof).sum())
    iou = float((mask & roof).sum() / union) if union else 1.0
    reach = max(1, round(0.75 * (scale.ppi if scale else 1.0)))
    eroded = cv2.erode(mask.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
    off = float((eroded & ~roof).sum() / max(1, int(eroded.sum())))
    error = scale.ppi / ppi - 1 if scale is not None and visible else None
    covered = abs(error) <= 2.5 * scale.uncertainty if scale is not None and error is not None else None
    style = scale.shingle if scale is not None else None
    return RoofScaleScore(name, iou, off, error, covered, style, true_style, seconds)


def family_scores(name: str, photos: int, cache: Path | None = None) -> list[RoofScaleScore]:
    out = []
    for index in range(photos):
        photo = cached_render(name, index, None, cache)
        style = "three_tab" if photo.style.startswith("three_tab") else "laminated"
        ppi = photo.pixels_per_foot / 12.0
        out.append(score(photo.name, photo.pixels, photo.roof, ppi, photo.courses_visible, style))
    return out


def synthetic_scores(specs: Sequence[PhotoSpec]) -> list[RoofScaleScore]:
    out = []
    for spec in specs:
        photo = render(spec)
        style = "three_tab" if spec.style == "three_tab" else "laminated"
        out.append(score(spec.name, photo.pixels, photo.roof, photo.scale, True, style))
    return out


@dataclass(frozen=True)
class Summary:
    label: str
    photos: int
    iou_median: float
    iou_worst: float
    off_roof_worst: float
    off_roof_photos: int  # photos with more than 0.2% of the eroded mask off the roof
    error_median: float | None
    error_worst: float | None
    within_5: float | None  # share of photos with a visible course scale within 5%
    covered: float | None
    style_right: float | None
    seconds_median: float


def summarize(label: str, scores: Sequence[RoofScaleScore]) -> Summary:
    errors = [abs(s.scale_error) for s in scores if s.scale_error is not None]
    visible = [s for s in scores if s.scale_error is not None]
    told = [s for s in scores if s.style is not None]
    return Summary(
        label=label,
        photos=len(scores),
        iou_median=statistics.median(s.iou for s in scores),
        iou_worst=min(s.iou for s in scores),
        off_roof_worst=max(s.off_roof for s in scores),
        off_roof_photos=sum(s.off_roof > 0.002 for s in scores),
        error_median=statistics.median(errors) if errors else None,
        error_worst=max(errors) if errors else None,
        within_5=sum(e <= 0.05 for e in errors) / len(errors) if errors else None,
        covered=sum(bool(s.covered) for s in visible) / len(visible) if visible else None,
        style_right=sum(s.style == s.true_style for s in told) / len(told) if told else None,
        seconds_median=statistics.median(s.seconds for s in scores),
    )
