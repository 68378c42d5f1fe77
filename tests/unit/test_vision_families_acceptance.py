"""The local stage on the HELD-OUT evaluation families: photos of a second, independent generator
(evaluation.vision.families) whose families no weight or threshold was ever fitted on.

The table (recall per type, false positives per photo, duplicates, detections off the roof, scale
error, per family) is printed and written to test-artifacts/vision-families.txt. To keep the suite
quick, each family is rendered at 1280 x 960 (the same scenes as at their native size, sampled
coarser) and `PHOTOS` photos each; `python -m bench vision_families` runs them at native size.

Every photo is analysed without an error, and the table is printed. Issue 14's per-family
acceptance (hail >= 0.9 at <= 1 false positive per photo, missing and lifted >= 0.8, creases >= 0.6,
no duplicates, nothing off the roof, scale within 5%) is not met yet on these families: it is a
strict xfail per family, so a family that starts to pass is noticed.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from evaluation.vision.families import HELD_OUT
from evaluation.vision.families.evaluate import (
    HEADERS,
    FamilySummary,
    evaluate_family,
    format_table,
    local_stage,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHOTOS = 3
SIZE = (1280, 960)


@cache
def summary(family: str) -> FamilySummary:
    return evaluate_family(family, local_stage, PHOTOS, SIZE)


def _record(result: FamilySummary) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    table = format_table([result])
    with (ARTIFACTS / "vision-families.txt").open("a") as out:
        out.write(table + "\n")
    print("\n" + table)


@pytest.mark.parametrize("family", HELD_OUT)
def test_every_photo_of_the_family_is_analysed_and_scored(family: str) -> None:
    result = summary(family)
    _record(result)
    assert result.photos == PHOTOS and not result.errors, result.errors
    assert sum(result.present(kind) for kind in ("hail_hit", "missing_shingle")) > 0  # the photos hold damage


@pytest.mark.xfail(strict=True, reason="issue 14's recall, false-positive and scale figures are not met yet")
@pytest.mark.parametrize("family", HELD_OUT)
def test_the_held_out_family_meets_the_acceptance(family: str) -> None:
    assert summary(family).meets_acceptance(), format_table([summary(family)])


def test_the_table_has_a_column_for_every_figure() -> None:
    assert {"hail", "missing", "lifted", "crease", "FP/photo", "dup", "off roof"} <= set(HEADERS)
