"""One mark, one detection (vision.detections.merge): readings of the same mark from either stage,
two overlapping tiles or two detectors become one detection; distinct marks stay distinct."""

from __future__ import annotations

from vision.detections import DamageType, Detection, Stage, counts_of, merge, same_mark
from vision.local.candidate import Candidate
from vision.local.stage import _lobes


def reading(
    box: tuple[int, int, int, int],
    kind: DamageType = "hail_hit",
    confidence: float = 0.8,
    severity: int = 3,
    stage: Stage | None = "local",
) -> Detection:
    return Detection(id=1, type=kind, severity=severity, confidence=confidence, box=box, stage=stage)


def test_nested_boxes_of_one_large_hit_are_one_detection() -> None:
    core = reading((110, 110, 140, 140), confidence=0.9, severity=4)
    rim = reading((100, 100, 152, 150), confidence=0.7, severity=3)
    spot = reading((118, 120, 130, 131), confidence=0.5, severity=2)
    merged = merge([rim, spot, core])
    assert len(merged) == 1
    assert merged[0].box == core.box and merged[0].severity == 4


def test_neighbouring_hits_stay_apart_and_an_area_does_not_swallow_them() -> None:
    hits = [reading((x, 100, x + 20, 120)) for x in (100, 125, 150)]  # side by side, touching not overlapping
    area = reading((0, 0, 400, 400), kind="granule_loss", confidence=0.95)
    merged = merge([*hits, area])
    assert counts_of(merged) == {"hail_hit": 3, "granule_loss": 1}


def test_the_two_stages_and_two_tiles_readings_of_a_mark_merge_with_the_best_supported_type() -> None:
    local = reading((200, 200, 230, 232), confidence=0.5, stage="local")
    tile_a = reading((201, 199, 231, 231), confidence=0.6, stage="model")
    tile_b = reading((198, 202, 228, 233), kind="lifted_tab", confidence=0.9, severity=2, stage="model")
    merged = merge([tile_b, local, tile_a])
    assert len(merged) == 1
    only = merged[0]
    assert only.type == "hail_hit"  # 0.5 + 0.6 of support against 0.9
    assert only.stage == "both" and only.box == tile_a.box and only.confidence == 0.6


def test_a_model_only_mark_is_stage_model_and_ids_follow_reading_order() -> None:
    lower = reading((10, 300, 30, 320), stage="model")
    upper_right = reading((300, 10, 320, 30), stage="local")
    upper_left = reading((10, 10, 30, 30), stage="both")
    merged = merge([lower, upper_right, upper_left])
    assert [(d.id, d.box, d.stage) for d in merged] == [
        (1, upper_left.box, "both"),
        (2, upper_right.box, "local"),
        (3, lower.box, "model"),
    ]


def test_same_mark_is_containment_or_overlap_between_boxes_of_a_size() -> None:
    assert same_mark((0, 0, 10, 10), (1, 1, 11, 11))  # overlap
    assert same_mark((0, 0, 40, 40), (10, 10, 20, 20))  # inside, a quarter the side
    assert not same_mark((0, 0, 100, 100), (10, 10, 20, 20))  # inside, a tenth the side: could hold many
    assert not same_mark((0, 0, 10, 10), (8, 8, 30, 30))  # touching corners


def _spot(box: tuple[int, int, int, int], kind: DamageType = "hail_hit") -> Candidate:
    return Candidate(box, kind, 0.9, 3)


def test_two_halves_of_one_large_hit_side_by_side_are_its_lobes() -> None:
    # A 2-inch hit whose dark spot a ridge of granules split: two spots touching along most of a side.
    assert _lobes(_spot((695, 912, 709, 926)), _spot((682, 915, 695, 928)))
    assert _lobes(_spot((100, 100, 112, 110)), _spot((101, 111, 111, 122)))  # one above the other


def test_hits_touching_corner_to_corner_or_apart_are_not_lobes() -> None:
    assert not _lobes(_spot((141, 243, 153, 255)), _spot((125, 233, 142, 245)))  # two hits, corners touching
    assert not _lobes(_spot((0, 0, 10, 10)), _spot((14, 0, 24, 10)))  # a gap between them
    assert not _lobes(_spot((0, 0, 10, 10)), _spot((10, 8, 20, 18)))  # side by side, but sharing a fifth of a side
    assert not _lobes(_spot((0, 0, 10, 10), "wind_crease"), _spot((10, 0, 20, 10), "wind_crease"))
