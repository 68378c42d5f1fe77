"""The detection JSON contract (ARCHITECTURE.md, "Vision CLI and detection JSON") and the box
arithmetic every stage shares: validating and clamping boxes to the image, overlap, and merging the
readings of one mark into one detection.

Boxes are integer pixels of the original image, `[x0, y0, x1, y1]` with x0 < x1 and y0 < y1 (x1 and
y1 exclusive), after EXIF orientation: what a person sees when the photo is shown upright.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

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

Stage = Literal["local", "model", "both"]  # which stage found it: both = a candidate the model confirmed
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels; x1, y1 exclusive

MERGE_IOU = 0.3  # boxes overlapping more than this are one mark
# A box lying this much inside another is the same mark (a large bruise read as a core and a rim,
# a torn tab found by a corner), as long as the outer box is not so much larger that it could hold
# several marks (an area of granule loss over many hits): sides within MAX_NEST_SIDE of each other.
CONTAINED = 0.6
MAX_NEST_SIDE = 4.0


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
    stage: Stage | None = None

    @field_validator("box")
    @classmethod
    def _ordered(cls, box: Box) -> Box:
        x0, y0, x1, y1 = box
        if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
            raise ValueError("box must be [x0, y0, x1, y1] with 0 <= x0 < x1 and 0 <= y0 < y1")
        return box


class Rejected(BaseModel):
    """A candidate the model was shown and judged not to be damage (kept out of every count)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: DamageType  # what the local stage took it for
    confidence: float = Field(ge=0.0, le=1.0)  # the model's confidence that it is not damage
    box: Box


class RoofMask(BaseModel):
    """Where the roof is in the photo: its outline as polygons of photo pixels (holes filled) and
    the share of the photo it covers. Nothing off it is detected or heated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    coverage: float = Field(ge=0.0, le=1.0)
    polygons: list[list[tuple[int, int]]]


class DetectionResult(BaseModel):
    """One photo's answer; `model` names what produced it (`local-opencv` for the local stage alone).
    `counts` are the detections per type (after merging: one mark, one detection); `rejected` the
    candidates the model judged not damage; `scale` the photo's metric scale (photo_scale.PhotoScale's
    JSON) and `density` the test-square figures (vision.heatmap), when known."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: ImageInfo
    detections: list[Detection]
    model: str
    summary: str
    counts: dict[DamageType, int] = Field(default_factory=dict)
    roof_mask: RoofMask | None = None
    scale: dict[str, Any] | None = None
    density: dict[str, Any] | None = None
    rejected: list[Rejected] = Field(default_factory=list)


def counts_of(detections: Iterable[Detection]) -> dict[DamageType, int]:
    """Detections per type, in the contract's order of types."""
    counted = Counter(d.type for d in detections)
    return {kind: counted[kind] for kind in DAMAGE_TYPES if counted[kind]}


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


def intersection(a: Box, b: Box) -> int:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0


def same_mark(a: Box, b: Box) -> bool:
    """Whether two boxes are readings of one mark: they overlap (IoU), or one lies inside the other
    and they are of a size (see CONTAINED, MAX_NEST_SIDE)."""
    if iou(a, b) > MERGE_IOU:
        return True
    small, large = sorted((a, b), key=area)
    side = max((large[2] - large[0]) / (small[2] - small[0]), (large[3] - large[1]) / (small[3] - small[1]))
    return intersection(a, b) >= CONTAINED * area(small) and side <= MAX_NEST_SIDE


@dataclass
class _Group:
    """The readings of one mark, the most confident first."""

    members: list[Detection] = field(default_factory=list)

    def reading(self) -> Detection:
        """One detection for the mark: the type with the most support (the sum of its readings'
        confidences, so a model's confirmation and the local stage's candidate add up), its most
        confident reading's box and confidence, the severity with the most support among that
        type's readings, and the stages that saw it."""
        support: defaultdict[DamageType, float] = defaultdict(float)
        for d in self.members:
            support[d.type] += d.confidence + 1e-6  # a zero-confidence reading still counts
        kind = max(support, key=lambda k: (support[k], -DAMAGE_TYPES.index(k)))
        readings = [d for d in self.members if d.type == kind]
        severity_support: defaultdict[int, float] = defaultdict(float)
        for d in readings:
            severity_support[d.severity] += d.confidence + 1e-6
        severity = max(severity_support, key=lambda s: (severity_support[s], s))
        stages = {d.stage for d in self.members if d.stage is not None}
        stage: Stage | None = None
        if stages:
            stage = "both" if "both" in stages or stages == {"local", "model"} else stages.pop()
        return readings[0].model_copy(update={"severity": severity, "stage": stage})


def merge(detections: Iterable[Detection]) -> list[Detection]:
    """One detection per mark: readings of the same mark (`same_mark` with the group's most
    confident reading), from any stage, tile or detector, are merged (`_Group.reading`); then
    renumbered 1..n in reading order (top to bottom, left to right) so ids are stable."""
    groups: list[_Group] = []
    for det in sorted(detections, key=lambda d: (-d.confidence, -d.severity, d.box)):
        home = next((g for g in groups if same_mark(g.members[0].box, det.box)), None)
        if home is None:
            groups.append(_Group([det]))
        else:
            home.members.append(det)
    kept = sorted((g.reading() for g in groups), key=lambda d: (d.box[1], d.box[0]))
    return [d.model_copy(update={"id": i}) for i, d in enumerate(kept, start=1)]
