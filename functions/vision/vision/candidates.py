"""The local stage of damage detection, as the rest of the function imports it: candidate hail hits,
missing shingles and shingle edge anomalies from OpenCV alone. The method and its modules are in
`vision.local` (its docstring describes the steps); this module re-exports the public names."""

from __future__ import annotations

from vision.local.candidate import MAX_CANDIDATES, REPORT_SCORE, Candidate
from vision.local.roof import estimate_roof, roof_outline
from vision.local.scale import EXPOSURE_IN, Scale, course_scale
from vision.local.stage import MODEL_NAME, LocalFindings, candidates_as_detections, find_candidates

__all__ = [
    "EXPOSURE_IN",
    "MAX_CANDIDATES",
    "MODEL_NAME",
    "REPORT_SCORE",
    "Candidate",
    "LocalFindings",
    "Scale",
    "candidates_as_detections",
    "course_scale",
    "estimate_roof",
    "find_candidates",
    "roof_outline",
]
