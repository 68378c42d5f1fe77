"""The local damage stage on synthetic roof photos, reported as figures, not just pass/fail.

The *test* set (`evaluation.vision.synthetic.standard_set()`: 16 photos, 0.8-2 MP, both shingle styles, square-
on to 45 degrees of tilt, sky or gutter and lawn in some, hail hits and a missing tab in every one,
a wind crease or a lifted tab in every fourth) was never used for tuning: the hail evidence weights
and `REPORT_SCORE` of `vision.candidates` were fitted and chosen on the *development* set
(`evaluation.vision.scoring.development_set()`, the same specs with seeds + 500). The acceptance (recall of
hail hits and missing shingles >= 0.8 at < 3 false positives per photo) is asserted here on the test
set; `python -m bench vision_local` prints the development and held-out sets' figures too.

Recall per type and false positives per photo (matching rules in `evaluation.vision.scoring`) are printed and
written to test-artifacts/vision-local-stage.txt, for the reported candidates (score >=
REPORT_SCORE) and for all candidates handed to the model stage. Photos are rendered once per module.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import pytest

from evaluation.vision.scoring import Summary, score_photo, summarize
from evaluation.vision.synthetic import PhotoSpec, SyntheticPhoto, render, standard_set
from vision.candidates import MAX_CANDIDATES, Candidate, candidates_as_detections, find_candidates
from vision.detections import DamageType

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ACCEPTANCE: tuple[DamageType, ...] = ("hail_hit", "missing_shingle")


def _run(spec: PhotoSpec) -> tuple[SyntheticPhoto, list[Candidate]]:
    photo = render(spec)
    return photo, find_candidates(photo.pixels).candidates


@cache
def _runs() -> dict[str, tuple[tuple[SyntheticPhoto, list[Candidate]], ...]]:
    return {"test": tuple(_run(spec) for spec in standard_set())}


def photos() -> tuple[SyntheticPhoto, ...]:
    return tuple(photo for photo, _ in _runs()["test"])


@cache
def results(name: str = "test") -> tuple[Summary, Summary]:
    runs = _runs()[name]
    reported = summarize([score_photo(p, c) for p, c in runs], label=f"{name} set, reported")
    everything = summarize([score_photo(p, c, 0.0) for p, c in runs], label=f"{name} set, all")
    return reported, everything


@cache
def report() -> str:
    lines = [line for summary in results("test") for line in summary.lines()]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "vision-local-stage.txt").write_text("\n".join(lines) + "\n")
    print("\n" + "\n".join(lines))
    return "; ".join(lines)


def acceptance_recall(summary: Summary) -> float:
    found = sum(summary.recall[k][0] for k in ACCEPTANCE if k in summary.recall)
    present = sum(summary.recall[k][1] for k in ACCEPTANCE if k in summary.recall)
    return found / present if present else 1.0


def test_recall_of_hail_hits_and_missing_shingles_is_at_least_80_percent() -> None:
    summary = results("test")[0]
    assert acceptance_recall(summary) >= 0.8, report()
    assert summary.recall_of("hail_hit") >= 0.8, report()


def test_fewer_than_3_false_positives_per_photo() -> None:
    assert results("test")[0].fp_per_photo < 3.0, report()


def test_missing_shingles_found_on_at_least_80_percent_of_photos() -> None:
    assert results("test")[0].recall_of("missing_shingle") >= 0.8, report()


@pytest.mark.xfail(strict=True, reason="wind creases are not yet told from normal course-line variety")
def test_wind_creases_are_reported_on_at_least_half_of_the_photos_that_have_one() -> None:
    assert results("test")[0].recall_of("wind_crease") >= 0.5, report()


def test_the_model_stage_gets_most_of_the_damage_among_its_candidates() -> None:
    assert results("test")[1].overall_recall >= 0.85, report()


def small(**changes: object) -> SyntheticPhoto:
    base = {"width": 960, "height": 720, "seed": 7, "span_in": 60.0, "tilt_deg": 20.0}
    return render(PhotoSpec(**{**base, **changes}))  # type: ignore[arg-type]


def test_a_clean_roof_gives_few_reported_candidates() -> None:
    photo = small(hail=0, missing=0, distractors=False)
    assert photo.marks == []
    assert len(candidates_as_detections(find_candidates(photo.pixels).candidates)) <= 2


def test_a_photo_without_a_roof_gives_none() -> None:
    for seed in (1, 2, 3):
        photo = small(view="none", seed=seed)
        assert not photo.roof.any()
        assert len(candidates_as_detections(find_candidates(photo.pixels).candidates)) <= 1


def test_boxes_are_inside_the_image_and_the_count_is_capped() -> None:
    photo, found = _runs()["test"][1]
    assert 0 < len(found) <= MAX_CANDIDATES
    height, width = photo.pixels.shape[:2]
    for cand in found:
        x0, y0, x1, y1 = cand.box
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert 0.0 <= cand.score <= 1.0 and 1 <= cand.severity <= 5


def test_deterministic() -> None:
    spec = PhotoSpec(width=800, height=600, seed=11)
    first, second = render(spec), render(spec)
    assert np.array_equal(first.pixels, second.pixels) and first.marks == second.marks
    assert find_candidates(first.pixels).candidates == find_candidates(second.pixels).candidates


def test_a_given_roof_mask_limits_the_search() -> None:
    photo = photos()[0]
    nothing = np.zeros(photo.roof.shape, bool)
    assert find_candidates(photo.pixels, roof=nothing).candidates == []
    with pytest.raises(ValueError, match="mask"):
        find_candidates(photo.pixels, roof=nothing[:-1])


def test_local_detections_are_merged_and_numbered() -> None:
    _, found = _runs()["test"][0]
    detections = candidates_as_detections(found, min_score=0.0)
    assert [d.id for d in detections] == list(range(1, len(detections) + 1))
    assert len(detections) <= len(found)
