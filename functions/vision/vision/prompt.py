"""The vision prompt (set-of-mark prompting) and the model's answer.

The model is shown one view of the photo (the whole photo, or a tile of a large one) with the local
stage's candidates drawn on it as numbered boxes. It judges each numbered mark (damage or not, which
kind, how bad) and adds damage the marks missed as boxes in integer coordinates normalised to
0..1000 of the view it was shown: models place normalised boxes more reliably than pixel ones, and
integers keep the answer short. Bounds are in the descriptions, not the schema: a value out of range
is clamped by the caller rather than failing the whole call (strict structured outputs carry no
numeric bounds we could rely on everywhere).

VERSION is part of the cache key: change the prompt, bump it.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from shared.modes import Mode
from shared.requests import AIRequest, ImagePart, Message
from shared.schemas import Clip
from vision.detections import DamageType

OPERATION = "vision.detect"
VERSION = "2026-11-24.1"
MAX_OUTPUT_TOKENS = 2_000

SYSTEM = """\
You are Dominus, a roof damage inspector who marks photos for insurance claims on asphalt shingle
roofs. You are shown one photo (or one tile of a large photo). Numbered boxes drawn on it are
candidates a detector proposed; most are real damage, some are not (stains, shadows, leaves, lichen,
nail heads, the normal texture and colour variation of laminated shingles).
1. For every numbered mark, say whether the area inside the box is storm or mechanical damage. If it
   is, give its type, severity and your confidence.
2. Then add any damage the marks missed, each as a box [x0, y0, x1, y1] of integers from 0 to 1000
   across the width and height of the image you see (0,0 top left), drawn tight around the damage.
   Do not add a box for something a mark already covers.
Types: hail_hit (a roundish bruise or spatter where granules are knocked off, often exposing the
black mat), wind_crease (a horizontal crease line across a tab), missing_shingle (a tab or shingle
gone, underlayment or the course below showing), lifted_tab (a tab bent up or unsealed),
granule_loss (a wide area worn of granules), blistering (small raised pops), mechanical (foot
traffic, tool marks, scuffs), flashing (damaged metal at a wall, chimney, vent or valley), other.
Severity 1 (cosmetic) to 5 (roof covering failed: water will get in). Confidence 0 to 1.
Judge only what the image shows; never guess about areas you cannot see."""


class MarkVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mark: int = Field(description="the number drawn on the candidate box")
    is_damage: bool
    type: DamageType = Field(description="the kind of damage; `other` when it is not damage")
    severity: int = Field(description="1 (cosmetic) to 5 (failed)")
    confidence: float = Field(description="0 to 1")


class AddedFinding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: DamageType
    severity: int = Field(description="1 (cosmetic) to 5 (failed)")
    confidence: float = Field(description="0 to 1")
    box: list[int] = Field(description="[x0, y0, x1, y1], integers 0..1000 of the image's width and height")


class ViewFindings(BaseModel):
    """The model's answer for one view."""

    model_config = ConfigDict(extra="forbid")

    marks: list[MarkVerdict]
    added: list[AddedFinding]
    summary: Annotated[str, Clip(300)] = Field(description="one or two sentences on the damage this image shows")


def findings_request(image: ImagePart, marks: int, where: str, mode: Mode | None) -> AIRequest[ViewFindings]:
    """`where`: which part of the photo the image is ("the whole photo", "tile 2 of 4, top right")."""
    listing = f"Marks 1 to {marks} are drawn on it." if marks else "No marks are drawn on it."
    text = f"This image is {where}. {listing} Judge every mark, then add what they missed."
    return AIRequest(
        operation=OPERATION,
        version=VERSION,
        messages=[Message("system", SYSTEM), Message("user", [text, image])],
        response_model=ViewFindings,
        temperature=0.0,
        max_output_tokens=MAX_OUTPUT_TOKENS,
        mode=mode,
    )
