"""What the model is shown (vision.views) and how its answer is read back (vision.detect)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from shared.catalog import image_tokens
from shared.modes import Mode
from shared.outcomes import CacheOutcome
from shared.requests import AIResult
from vision.candidates import Candidate
from vision.detect import combined_outcome, describe, read_views
from vision.detections import Detection
from vision.images import Photo
from vision.prompt import ViewFindings
from vision.views import crop, draw_marks, from_normalised, inside, plan_views, to_view


def test_cheap_sends_one_view_of_at_most_two_tiles() -> None:
    [view] = plan_views(4000, 3000, Mode.CHEAP)
    assert view.box == (0, 0, 4000, 3000) and view.where == "the whole photo"
    assert (view.sent_width, view.sent_height) == (683, 512)
    assert image_tokens("gpt-4o", view.sent_width, view.sent_height) == 85 + 2 * 170


def test_smart_shows_a_small_photo_whole_and_tiles_a_large_one() -> None:
    [whole] = plan_views(1600, 1200, Mode.SMART)
    assert (whole.sent_width, whole.sent_height) == (1024, 768)
    tiles = plan_views(4000, 3000, Mode.SMART)
    assert [t.where for t in tiles] == [
        "tile 1 of 4 (top left)",
        "tile 2 of 4 (top right)",
        "tile 3 of 4 (bottom left)",
        "tile 4 of 4 (bottom right)",
    ]
    # Together they cover the photo, overlapping on the seams.
    covered = np.zeros((3000, 4000), bool)
    for t in tiles:
        x0, y0, x1, y1 = t.box
        covered[y0:y1, x0:x1] = True
        assert t.scale >= 0.45  # each shows its region at about half the photo's resolution or better
    assert covered.all()
    assert tiles[0].box[2] > tiles[1].box[0]


def test_a_huge_photo_is_cut_into_at_most_nine_tiles() -> None:
    assert len(plan_views(8660, 5773, Mode.SMART)) == 9


@pytest.mark.parametrize(("width", "height"), [(4000, 3000), (3000, 4000), (1600, 1200)])
def test_boxes_go_to_the_view_and_back_to_photo_pixels(width: int, height: int) -> None:
    for view in plan_views(width, height, Mode.SMART):
        x0, y0, x1, _ = view.box
        box = (x0 + 100, y0 + 50, x0 + 300, y0 + 250)
        sx0, sy0, sx1, sy1 = to_view(box, view)
        normalised = [round(v * 1000) for v in (sx0 / view.sent_width, sy0 / view.sent_height)]
        normalised += [round(v * 1000) for v in (sx1 / view.sent_width, sy1 / view.sent_height)]
        back = from_normalised(normalised, view)
        tolerance = 2 / view.scale + (x1 - x0) / 1000
        assert all(abs(a - b) <= tolerance for a, b in zip(back, box, strict=True))
        assert inside(box, view)


def test_marks_are_drawn_outside_the_candidate_and_numbered() -> None:
    image = np.full((400, 600, 3), 120, np.uint8)
    marked = draw_marks(image, [(100, 100, 140, 140), (300, 200, 330, 230)])
    assert (marked[110:130, 110:130] == 120).all()  # the damage itself is left as it is
    assert (marked[96, 96:144] != 120).any()  # the frame just outside it
    assert not np.array_equal(marked, image)


def test_crop_sends_the_views_region_at_its_size() -> None:
    pixels = np.zeros((3000, 4000, 3), np.uint8)
    view = plan_views(4000, 3000, Mode.SMART)[3]
    assert crop(pixels, view).shape == (view.sent_height, view.sent_width, 3)


def _answer(value: dict[str, Any]) -> AIResult[ViewFindings]:
    return AIResult(ViewFindings.model_validate(value), None)  # type: ignore[arg-type]


def test_a_views_answer_is_read_with_its_numbers_and_boxes_checked() -> None:
    photo = Photo(np.zeros((1200, 1600, 3), np.uint8), 1600, 1200, "0" * 64, "jpeg")
    view = plan_views(1600, 1200, Mode.SMART)[0]
    marks = [
        Candidate((10, 10, 40, 40), "hail_hit", 0.9, 3),
        Candidate((500, 500, 560, 540), "hail_hit", 0.6, 2),
        Candidate((700, 100, 740, 140), "hail_hit", 0.7, 3),  # not judged: the local stage's own verdict
        Candidate((800, 100, 840, 140), "lifted_tab", 0.2, 2),  # not judged and not confident: dropped
    ]
    answer = _answer(
        {
            "marks": [
                {"mark": 1, "is_damage": True, "type": "hail_hit", "severity": 9, "confidence": 1.7},
                {"mark": 2, "is_damage": False, "type": "other", "severity": 1, "confidence": 0.9},
                {"mark": 7, "is_damage": True, "type": "hail_hit", "severity": 3, "confidence": 0.9},  # no such mark
            ],
            "added": [
                {"type": "missing_shingle", "severity": 4, "confidence": 0.8, "box": [900, 900, 1100, 1200]},
                {"type": "lifted_tab", "severity": 2, "confidence": 0.5, "box": [600, 600, 500, 700]},  # inverted
                {"type": "other", "severity": 2, "confidence": 0.5, "box": [1, 2, 3]},  # not a box
            ],
            "summary": "",
        }
    )
    confirmed, rejected, added = read_views(photo, marks, [[0, 1, 2, 3]], [view], [answer])
    assert [(d.type, d.box, d.severity, d.confidence, d.stage) for d in confirmed] == [
        ("hail_hit", (10, 10, 40, 40), 5, 1.0, "both"),  # clamped to the contract's ranges
        ("hail_hit", (700, 100, 740, 140), 3, 0.7, "local"),
    ]
    assert [(r.type, r.box, r.confidence) for r in rejected] == [("hail_hit", (500, 500, 560, 540), 0.9)]
    assert [(d.type, d.box, d.stage) for d in added] == [("missing_shingle", (1440, 1080, 1600, 1200), "model")]


def test_a_mark_judged_in_two_overlapping_tiles_takes_the_more_confident_verdict() -> None:
    photo = Photo(np.zeros((3000, 4000, 3), np.uint8), 4000, 3000, "0" * 64, "jpeg")
    views = plan_views(4000, 3000, Mode.SMART)[:2]
    mark = Candidate((1300, 500, 1340, 540), "hail_hit", 0.5, 3)
    unsure = {"mark": 1, "is_damage": False, "type": "other", "severity": 1, "confidence": 0.55}
    sure = {"mark": 1, "is_damage": True, "type": "hail_hit", "severity": 3, "confidence": 0.8}
    answers = [_answer({"marks": [verdict], "added": [], "summary": ""}) for verdict in (unsure, sure)]
    confirmed, rejected, _ = read_views(photo, [mark], [[0], [0]], views, answers)
    assert [(d.type, d.stage) for d in confirmed] == [("hail_hit", "both")] and rejected == []


def test_the_summary_counts_by_type_worst_first() -> None:
    hit = Detection(id=1, type="hail_hit", severity=2, confidence=0.9, box=(0, 0, 5, 5))
    gone = Detection(id=2, type="missing_shingle", severity=4, confidence=0.9, box=(9, 9, 20, 20))
    assert describe([hit, hit, gone]) == "2 hail hits, 1 missing shingle (worst severity 4)."
    assert describe([]) == "No damage found."
    worn = Detection(id=3, type="granule_loss", severity=1, confidence=0.9, box=(0, 0, 5, 5))
    assert describe([worn, worn]) == "2 granule losses (worst severity 1)."


def test_a_photos_calls_report_one_cache_outcome() -> None:
    def meta(cache: CacheOutcome) -> Any:
        return type("Meta", (), {"cache": cache})()

    assert combined_outcome([meta(CacheOutcome.HIT)] * 4) is CacheOutcome.HIT
    assert combined_outcome([meta(CacheOutcome.HIT), meta(CacheOutcome.MISS)]) is CacheOutcome.MISS
    assert combined_outcome([meta(CacheOutcome.HIT), meta(CacheOutcome.SHARED)]) is CacheOutcome.SHARED
