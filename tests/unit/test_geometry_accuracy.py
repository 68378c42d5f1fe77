"""Segmentation accuracy on the synthetic acceptance set, reported as figures, not just pass/fail.

Met so far: pitch (median and max), whole x/12, azimuth. Not yet met, and marked as strict expected
failures (they fail loudly the day they pass, so the mark cannot outlive the fix): every facet of
100 sq ft found (a noisy low pyramid loses one) and sloped area within 3 % on every facet (cell
counting errs next to trees and on coarse noisy grids; facet polygons from plane intersections are
the planned fix).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from geometry.accuracy import FacetScore, Summary, score, summarize
from geometry.measure import measure
from geometry.segment import segment
from geometry.synthetic import build_scene, standard_set

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@cache
def results() -> tuple[Summary, tuple[FacetScore, ...]]:
    scores: list[FacetScore] = []
    for spec in standard_set():
        scene = build_scene(spec)
        scores += score(scene, measure(segment(scene.grid), scene.grid))
    summary = summarize(scores)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "geometry-accuracy.txt").write_text("\n".join(summary.lines()) + "\n")
    print("\n" + "\n".join(summary.lines()))
    return summary, tuple(scores)


def figures() -> str:
    return "; ".join(results()[0].lines())


def test_pitch_error_median_under_half_a_degree_and_never_over_two() -> None:
    summary = results()[0]
    assert summary.pitch_median_deg < 0.5, figures()
    assert summary.pitch_max_deg <= 2.0, figures()


def test_the_whole_x_in_12_is_right_on_at_least_95_percent_of_facets() -> None:
    assert results()[0].rise_right >= 0.95, figures()


def test_azimuth_within_5_degrees() -> None:
    assert results()[0].azimuth_max_deg <= 5.0, figures()


@pytest.mark.xfail(strict=True, reason="a noisy 4/12 pyramid at 0.3 m loses a facet")
def test_every_facet_of_100_sqft_or_more_is_found() -> None:
    summary = results()[0]
    assert summary.found == summary.facets, figures()


@pytest.mark.xfail(strict=True, reason="areas come from cell counts; facet polygons are the planned fix")
def test_sloped_area_within_3_percent() -> None:
    assert results()[0].area_max <= 0.03, figures()
