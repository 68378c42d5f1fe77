"""How well a roof report matches a synthetic scene's truth: the acceptance figures of the issue.

Each truth facet is matched to the detected facet that covers most of its visible cells. A facet of
100 sq ft or more must be found (the match covers at least half of it and is mostly that facet).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from geometry.measure import SQFT_PER_M2, RoofReport
from geometry.synthetic import Scene

MUST_FIND_SQFT = 100.0


@dataclass(frozen=True)
class FacetScore:
    scene: str
    facet: str
    truth_sqft: float  # the facet's sloped area
    found: bool
    pitch_error_deg: float | None = None
    rise_right: bool | None = None
    area_error: float | None = None  # relative, against the visible area (a tree hides the rest)
    azimuth_error_deg: float | None = None


def score(scene: Scene, report: RoofReport) -> list[FacetScore]:
    scores = []
    for truth in scene.facets:
        cells = scene.truth_labels == truth.id
        truth_sqft = truth.sloped_area_m2 * SQFT_PER_M2
        detected = report.labels[cells]
        detected = detected[detected >= 0]
        if cells.sum() == 0 or detected.size < 0.5 * cells.sum():
            scores.append(FacetScore(scene.spec.name, truth.name, truth_sqft, False))
            continue
        label = int(np.bincount(detected).argmax())
        overlap = int((detected == label).sum())
        if overlap < 0.5 * cells.sum() or overlap < 0.5 * int((report.labels == label).sum()):
            scores.append(FacetScore(scene.spec.name, truth.name, truth_sqft, False))
            continue
        facet = report.facets[label]
        visible_sloped = truth.visible_area_m2 / math.cos(math.radians(truth.pitch_deg))
        azimuth = None
        if truth.pitch_deg >= 1.5:
            azimuth = abs((facet.azimuth_deg - truth.azimuth_deg + 180.0) % 360.0 - 180.0)
        scores.append(
            FacetScore(
                scene.spec.name,
                truth.name,
                truth_sqft,
                True,
                pitch_error_deg=abs(facet.pitch_deg - truth.pitch_deg),
                rise_right=round(facet.pitch_rise) == round(truth.pitch_rise),
                area_error=abs(facet.area_m2 - visible_sloped) / visible_sloped,
                azimuth_error_deg=azimuth,
            )
        )
    return scores


@dataclass(frozen=True)
class Summary:
    facets: int  # truth facets of 100 sq ft or more
    found: int
    pitch_median_deg: float
    pitch_max_deg: float
    rise_right: float  # fraction of found facets with the right whole x/12
    area_median: float
    area_max: float
    within_3_percent: float  # fraction of found facets with sloped area within 3 %
    azimuth_max_deg: float

    def lines(self) -> list[str]:
        return [
            f"facets of 100 sq ft or more found: {self.found}/{self.facets}",
            f"pitch error: median {self.pitch_median_deg:.2f} deg, max {self.pitch_max_deg:.2f} deg",
            f"whole x/12 right: {self.rise_right:.1%}",
            f"sloped area error: median {self.area_median:.2%}, max {self.area_max:.2%}, "
            f"within 3 %: {self.within_3_percent:.1%}",
            f"azimuth error: max {self.azimuth_max_deg:.2f} deg",
        ]


def summarize(scores: list[FacetScore]) -> Summary:
    big = [s for s in scores if s.truth_sqft >= MUST_FIND_SQFT]
    found = [s for s in big if s.found]
    pitch = [s.pitch_error_deg for s in found if s.pitch_error_deg is not None]
    area = [s.area_error for s in found if s.area_error is not None]
    azimuth = [s.azimuth_error_deg for s in found if s.azimuth_error_deg is not None]
    return Summary(
        facets=len(big),
        found=len(found),
        pitch_median_deg=statistics.median(pitch) if pitch else math.nan,
        pitch_max_deg=max(pitch, default=math.nan),
        rise_right=sum(bool(s.rise_right) for s in found) / max(len(found), 1),
        area_median=statistics.median(area) if area else math.nan,
        area_max=max(area, default=math.nan),
        within_3_percent=sum(a <= 0.03 for a in area) / max(len(area), 1),
        azimuth_max_deg=max(azimuth, default=0.0),
    )
