"""How well a roof report matches a synthetic scene's truth: the acceptance figures of the issue.

Each truth facet is matched to the detected facet that covers most of its visible cells. A facet of
100 sq ft or more must be found (the match covers at least half of it and is mostly that facet). Its
sloped area is held to the whole facet's, as a roofer measures it, under a chimney or a tree too.
Roof lines are scored as material is ordered: the total length of each kind (ridge, hip, valley) per
roof against the truth's.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from evaluation.geometry.synthetic import Scene
from geometry.edges import EdgeKind
from geometry.measure import RoofReport
from geometry.units import SQFT_PER_M2

SCORED_EDGES: tuple[EdgeKind, ...] = ("ridge", "hip", "valley")

MUST_FIND_SQFT = 100.0


@dataclass(frozen=True)
class FacetScore:
    scene: str
    facet: str
    truth_sqft: float  # the facet's sloped area
    found: bool
    pitch_error_deg: float | None = None
    rise_right: bool | None = None
    area_error: float | None = None  # relative, against the whole facet's sloped area
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
                area_error=abs(facet.area_m2 - truth.sloped_area_m2) / truth.sloped_area_m2,
                azimuth_error_deg=azimuth,
            )
        )
    return scores


EDGE_TOLERANCE = 0.05
NARROW_PX = 5.5  # "narrower than about five pixels"


@dataclass(frozen=True)
class EdgeScore:
    scene: str
    kind: EdgeKind
    truth_m: float  # total length of this kind on the roof
    found_m: float
    tolerance_m: float = 0.0  # what the lines of this kind may be off by, together (`edge_tolerance_m`)

    @property
    def within_tolerance(self) -> bool:
        return abs(self.found_m - self.truth_m) <= self.tolerance_m + 1e-9

    @property
    def error(self) -> float:
        """Relative to the truth; a kind the roof lacks is 0 when none is reported, else infinite."""
        if self.truth_m == 0:
            return 0.0 if self.found_m == 0 else math.inf
        return abs(self.found_m - self.truth_m) / self.truth_m


def edge_tolerance_m(length_m: float, feature_width_m: float | None, resolution_m: float) -> float:
    """The line length tolerance (issue 4's rule, decided in issue 17): 5% of its length; for a line of
    a feature narrower than about five pixels (a dormer on a coarse grid), the larger of that and the
    length half a pixel of uncertainty in the feature's width implies (such lines scale with the
    width)."""
    tolerance = EDGE_TOLERANCE * length_m
    if feature_width_m is not None and feature_width_m < NARROW_PX * resolution_m:
        tolerance = max(tolerance, length_m * 0.5 * resolution_m / feature_width_m)
    return tolerance


def score_edges(scene: Scene, report: RoofReport) -> list[EdgeScore]:
    truth, found = scene.edge_lengths_m(), report.edge_totals_m()
    widths = {f.id: f.feature_width_m for f in scene.facets}
    tolerance: dict[str, float] = dict.fromkeys(SCORED_EDGES, 0.0)
    for edge in scene.edges:
        if edge.kind in tolerance:
            width = min((w for i in edge.facets if (w := widths.get(i)) is not None), default=None)
            tolerance[edge.kind] += edge_tolerance_m(edge.length_m, width, scene.spec.resolution)
    return [EdgeScore(scene.spec.name, kind, truth[kind], found[kind], tolerance[kind]) for kind in SCORED_EDGES]


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
    edge_median: float  # relative error of ridge, hip and valley totals, over the roofs that have them
    edge_max: float
    edges_within_5_percent: float
    edges_within_tolerance: float = math.nan  # share of (scene, kind) totals within `edge_tolerance_m`

    def lines(self) -> list[str]:
        return [
            f"facets of 100 sq ft or more found: {self.found}/{self.facets}",
            f"pitch error: median {self.pitch_median_deg:.2f} deg, max {self.pitch_max_deg:.2f} deg",
            f"whole x/12 right: {self.rise_right:.1%}",
            f"sloped area error: median {self.area_median:.2%}, max {self.area_max:.2%}, "
            f"within 3 %: {self.within_3_percent:.1%}",
            f"azimuth error: max {self.azimuth_max_deg:.2f} deg",
            f"ridge/hip/valley totals: median error {self.edge_median:.2%}, max {self.edge_max:.2%}, "
            f"within 5 %: {self.edges_within_5_percent:.1%}, within the tolerance (5 %, or half a pixel of a "
            f"narrow feature's width): {self.edges_within_tolerance:.1%}",
        ]


def summarize(scores: list[FacetScore], edges: list[EdgeScore], *, min_sqft: float = MUST_FIND_SQFT) -> Summary:
    """Figures over the truth facets of `min_sqft` or more (100 sq ft: issue 4's bar)."""
    big = [s for s in scores if s.truth_sqft >= min_sqft]
    found = [s for s in big if s.found]
    pitch = [s.pitch_error_deg for s in found if s.pitch_error_deg is not None]
    area = [s.area_error for s in found if s.area_error is not None]
    azimuth = [s.azimuth_error_deg for s in found if s.azimuth_error_deg is not None]
    scored = [e for e in edges if e.truth_m > 0 or e.found_m > 0]
    edge_errors = [e.error for e in scored]
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
        edge_median=statistics.median(edge_errors) if edge_errors else math.nan,
        edge_max=max(edge_errors, default=math.nan),
        edges_within_5_percent=sum(e <= 0.05 for e in edge_errors) / max(len(edge_errors), 1),
        edges_within_tolerance=sum(e.within_tolerance for e in scored) / max(len(scored), 1),
    )
