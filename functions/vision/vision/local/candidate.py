"""A candidate of the local stage, the limits on how many are kept and reported, and the logistic
that turns a candidate's evidence into its score."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from vision.detections import Box, DamageType

MAX_CANDIDATES = 30
REPORT_SCORE = 0.4  # the local-only answer reports candidates at or above this score (set on the development set)


@dataclass(frozen=True)
class Candidate:
    box: Box  # pixels of the original image
    kind: DamageType
    score: float  # 0..1
    severity: int  # 1..5
    features: dict[str, float] = field(default_factory=dict)


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, x))))  # clamped: exp overflows past about 709
