"""The detection JSON contract (ARCHITECTURE.md, "Vision CLI and detection JSON") and the box
arithmetic every stage shares: validating and clamping boxes to the image, overlap, and merging
overlapping detections (non-maximum suppression).

Boxes are integer pixels of the original image, `[x0, y0, x1, y1]` with x0 < x1 and y0 < y1 (x1 and
y1 exclusive), after EXIF orientation: what a person sees when the photo is shown upright.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

DamageType = Literal[
    "hail_hit",
    "wind_crease",
    "missing_shingle",
    "lifted_tab",
    "granule_loss",
    "blistering",
    "mechanical",
    "flashing",
    "other",
]
DAMAGE_TYPES: tuple[DamageType, ...] = get_args(DamageType)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels; x1, y1 exclusive

MERGE_IOU = 0.45  # boxes overlapping more than this are one finding


class ImageInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    width: int = Field(gt=0)
    height: int = Field(gt=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class Detection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int = Field(ge=1)
    type: DamageType
    severity: int = Field(ge=1, le=5)
    confidence: float = Field(ge=0.0, le=1.0)
    box: Box

    @field_validator("box")
    @classmethod
    def _ordered(cls, box: Box) -> Box:
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
            raise ValueError("box must be [x0, y0, x1, y1] with 0 <= x0 < x1 and 0 <= y0 < y1")
        return box


class DetectionResult(BaseModel):
    """One photo's answer; `model` names what produced it (`local-opencv` for the local stage alone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: ImageInfo
    detections: list[Detection]
    model: str
    summary: str


def clamp_box(box: Sequence[float], width: int, height: int) -> Box | None:
    """The box rounded outward to whole pixels and cut to the image; None when nothing is left of it
    (or it was not a box: inverted, NaN)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x0 < x1 and y0 < y1):  # also rejects NaN
        return None
    left, top = max(0, int(x0 // 1)), max(0, int(y0 // 1))
    right, bottom = min(width, -int(-x1 // 1)), min(height, -int(-y1 // 1))
    if right <= left or bottom <= top:
        return None
    return (left, top, right, bottom)


def area(box: Box) -> int:
    return (box[2] - box[0]) * (box[3] - box[1])


def iou(a: Box, b: Box) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (area(a) + area(b) - inter)


def merge(detections: Iterable[Detection], threshold: float = MERGE_IOU) -> list[Detection]:
    """Non-maximum suppression across types (one patch of roof is one finding: the most confident
    reading of it wins, and its severity is the worst any reading gave it); renumbered 1..n in
    reading order (top to bottom, left to right) so ids are stable for the same findings."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: (-d.confidence, -d.severity, d.box)):
        clash = next((i for i, k in enumerate(kept) if iou(k.box, det.box) > threshold), None)
        if clash is None:
            kept.append(det)
        elif det.severity > kept[clash].severity:
            kept[clash] = kept[clash].model_copy(update={"severity": det.severity})
    kept.sort(key=lambda d: (d.box[1], d.box[0]))
    return [d.model_copy(update={"id": i}) for i, d in enumerate(kept, start=1)]
