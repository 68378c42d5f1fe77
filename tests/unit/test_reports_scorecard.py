"""The per-slope scorecard: photos tied to facets by their tags (each tier, and conflicts), counts and
rates with their intervals, carrier profiles deciding differently on the same claim (the default
deciding nothing), too little coverage never read as no damage, and reviewer verdicts recomputing."""

from __future__ import annotations

from typing import Any

import pytest

from reports.attribution import attribute
from reports.inputs import Geometry, Photo, Review
from reports.profiles import DEFAULT_PROFILE, CarrierProfile
from reports.report import ReportInput, build_report
from reports.scorecard import poisson_interval


def plane(letter: str, facing: str, azimuth: float, area: float, structure: str = "1") -> dict[str, Any]:
    return {
        "id": letter, "pitch_deg": 26.57, "pitch": "6/12", "azimuth_deg": azimuth, "facing": facing,
        "area_sqft": area, "footprint_sqft": area * 0.894, "rms_m": 0.02, "count": 4000, "structure": structure,
    }  # fmt: skip


GEOMETRY = Geometry.model_validate(
    {
        "planes": [
            plane("A", "S", 180.0, 900.0),
            plane("B", "N", 0.0, 900.0),
            plane("C", "E", 85.0, 300.0),
            plane("D", "E", 95.0, 250.0),
            plane("E", "S", 182.0, 200.0, structure="2"),
        ],
        "edges": [
            {"kind": "ridge", "facets": ["A", "B"], "length_ft": 40.0},
            {"kind": "eave", "facets": ["A"], "length_ft": 40.0},
            {"kind": "eave", "facets": ["B"], "length_ft": 40.0},
        ],
    }
)
ACME = CarrierProfile(name="Acme Mutual", version="3", hits_per_test_square=8, roof_replace_slopes=2)
STRICT = CarrierProfile(name="Granite Casualty", version="2024-1", hits_per_test_square=10, min_confidence=0.7)


def photo(
    name: str,
    hits: int,
    *,
    covered: float | None = 110.0,
    confidence: float = 0.8,
    square: float | None = None,
    **tags: Any,
) -> Photo:
    detections = [
        {"id": i + 1, "type": "hail_hit", "severity": 3, "confidence": confidence, "box": [10 * i, 0, 10 * i + 8, 8]}
        for i in range(hits)
    ]
    density = None if covered is None else {"covered_sqft": covered, "test_square_max": square}
    return Photo.model_validate(
        {
            "id": name,
            "image": {"width": 1280, "height": 960, "sha256": "0" * 64},
            "detections": detections,
            "tags": tags,
            "density": density,
        }
    )


def test_a_facet_tag_ties_a_photo_to_that_facet() -> None:
    a = attribute(photo("p", 0, facet="C"), GEOMETRY.planes)
    assert (a.facets, a.direction, a.method, a.confidence) == (("C",), "E", "facet_tag", 1.0)


def test_a_facing_tag_takes_the_one_facet_facing_that_way_or_counts_for_the_direction() -> None:
    north = attribute(photo("p", 0, facing="N"), GEOMETRY.planes)
    assert (north.facets, north.direction, north.method) == (("B",), "N", "facing_tag")
    east = attribute(photo("p", 0, facing="E"), GEOMETRY.planes)
    assert set(east.facets) == {"C", "D"} and east.direction == "E"
    assert "2 facets face E" in east.note
    assert east.confidence < north.confidence


def test_vision_slope_tags_read_as_facet_or_facing() -> None:
    assert attribute(photo("p", 0, slope="B"), GEOMETRY.planes).facets == ("B",)
    assert attribute(photo("p", 0, slope="N"), GEOMETRY.planes).method == "facing_tag"


def test_a_structure_tag_narrows_the_facing() -> None:
    assert attribute(photo("p", 0, facing="S", structure="2"), GEOMETRY.planes).facets == ("E",)
    assert set(attribute(photo("p", 0, facing="S"), GEOMETRY.planes).facets) == {"A", "E"}


def test_conflicting_tags_the_explicit_facet_wins_and_the_report_says_so() -> None:
    a = attribute(photo("p", 0, facet="A", facing="N"), GEOMETRY.planes)
    assert a.facets == ("A",)
    assert "facet tag A wins over the facing tag N" in a.note


def test_a_photo_without_tags_is_unassigned_and_an_assignment_places_it() -> None:
    untagged = photo("p", 3)
    assert attribute(untagged, GEOMETRY.planes).method == "unassigned"
    assert attribute(photo("q", 0, facet="Z"), GEOMETRY.planes).note == "the facet tag Z names no facet of this roof"
    given = ReportInput(geometry=GEOMETRY, photos=[untagged])
    assert build_report(given)["unassigned_photos"] == ["p"]
    placed = build_report(ReportInput(geometry=GEOMETRY, photos=[untagged], assignments={"p": "B"}))
    assert placed["unassigned_photos"] == []
    facet_b = next(f for f in placed["facets"] if f["id"] == "B")
    assert facet_b["damage"]["hail_hits"] == 3
    assert placed["attributions"][0]["method"] == "assigned"


CLAIM = [
    photo("south-1", 9, square=9.0, facet="A"),
    photo("south-2", 5, facing="S", structure="1"),
    photo("north-1", 4, facet="B", confidence=0.65),
]


def test_two_carrier_profiles_on_one_claim_decide_differently_and_print_their_rules() -> None:
    acme = build_report(ReportInput(geometry=GEOMETRY, photos=CLAIM, profile=ACME))
    strict = build_report(ReportInput(geometry=GEOMETRY, photos=CLAIM, profile=STRICT))
    south_acme = next(f for f in acme["facets"] if f["id"] == "A")["damage"]
    south_strict = next(f for f in strict["facets"] if f["id"] == "A")["damage"]
    assert south_acme["decision"] == "replace"
    assert south_acme["rule"] == "9 hits in one 10 x 10 ft test square >= 8 (Acme Mutual v3)"
    assert south_strict["decision"] == "repair"
    assert "Granite Casualty v2024-1" in south_strict["rule"]
    north_acme = next(f for f in acme["facets"] if f["id"] == "B")["damage"]
    north_strict = next(f for f in strict["facets"] if f["id"] == "B")["damage"]
    assert north_acme["hail_hits"] == 4 and north_strict["hail_hits"] == 0  # under Granite's 0.7 minimum
    assert acme["profile"] == {"name": "Acme Mutual", "version": "3", "rules": ACME.summary()}
    assert "8+ hits per 10 x 10 ft test square" in acme["profile"]["rules"]


def test_the_default_profile_reports_counts_and_decides_nothing() -> None:
    report = build_report(ReportInput(geometry=GEOMETRY, photos=CLAIM, profile=DEFAULT_PROFILE))
    south = next(f for f in report["facets"] if f["id"] == "A")["damage"]
    assert south["hail_hits"] == 14
    assert south["decision"] is None
    assert south["rule"] == "default v1 reports counts and decides nothing"
    assert report["roof_decision"]["decision"] is None
    assert all(d["decision"] is None for d in report["directional"].values())


def test_too_little_coverage_is_insufficient_evidence_never_no_damage() -> None:
    report = build_report(
        ReportInput(geometry=GEOMETRY, photos=[photo("glimpse", 0, covered=30.0, facet="B")], profile=ACME)
    )
    north = next(f for f in report["facets"] if f["id"] == "B")["damage"]
    assert north["decision"] == "insufficient_evidence"
    assert north["rule"] == "photos cover 30 sq ft; Acme Mutual v3 needs 100 sq ft"
    unseen = next(f for f in report["facets"] if f["id"] == "C")["damage"]
    assert unseen["decision"] == "insufficient_evidence" and unseen["hits_per_100sqft"]["value"] is None
    seen = build_report(
        ReportInput(geometry=GEOMETRY, photos=[photo("wide", 0, covered=300.0, facet="B")], profile=ACME)
    )
    assert next(f for f in seen["facets"] if f["id"] == "B")["damage"]["decision"] == "no_functional_damage"


def test_the_rate_has_an_exact_poisson_interval_and_coverage_is_capped_at_the_slope() -> None:
    report = build_report(ReportInput(geometry=GEOMETRY, photos=[photo("a", 6, covered=300.0, facet="C")]))
    damage = next(f for f in report["facets"] if f["id"] == "C")["damage"]
    assert damage["hits_per_100sqft"]["value"] == 2.0
    assert damage["hits_per_100sqft"]["ci95"] == pytest.approx([0.73, 4.35], abs=0.01)
    many = [photo(f"c{i}", 1, covered=200.0, facet="C") for i in range(3)]
    capped = build_report(ReportInput(geometry=GEOMETRY, photos=many))
    assert next(f for f in capped["facets"] if f["id"] == "C")["damage"]["coverage"] == 1.0


@pytest.mark.parametrize(("k", "lo", "hi"), [(0, 0.0, 3.689), (1, 0.0253, 5.572), (12, 6.201, 20.96)])
def test_garwood_intervals(k: int, lo: float, hi: float) -> None:
    assert poisson_interval(k) == pytest.approx((lo, hi), abs=0.005)


def test_photos_shared_by_facets_count_for_their_direction() -> None:
    report = build_report(
        ReportInput(geometry=GEOMETRY, photos=[photo("east", 5, covered=150.0, facing="E")], profile=ACME)
    )
    assert all(f["damage"]["hail_hits"] == 0 for f in report["facets"] if f["id"] in {"C", "D"})
    east = report["directional"]["E"]
    assert east["facets"] == ["C", "D"] and east["hail_hits"] == 5 and east["area_sqft"] == 550.0


def test_a_reviewer_verdict_recomputes_the_scorecard() -> None:
    base = ReportInput(geometry=GEOMETRY, photos=CLAIM, profile=ACME)
    before = next(f for f in build_report(base)["facets"] if f["id"] == "A")["damage"]
    rejected = [
        Review(photo="south-1", detection=i, verdict="reject", by="adjuster@acme", at="2026-12-03T12:00:00Z")
        for i in (1, 2)
    ]
    after_report = build_report(ReportInput(geometry=GEOMETRY, photos=CLAIM, profile=ACME, reviews=rejected))
    after = next(f for f in after_report["facets"] if f["id"] == "A")["damage"]
    assert after["hail_hits"] == before["hail_hits"] - 2
    assert after["test_square_max"] == 7.0 and after["decision"] == "repair"
    assert after_report["reviews"][0]["by"] == "adjuster@acme"
    assert after_report["report_id"] != build_report(base)["report_id"]


def test_each_photo_lists_its_detections_with_whether_they_counted_and_the_reviewers_verdict() -> None:
    """What a packet draws on a photo's copy and counts in its caption."""
    rejected = [Review(photo="south-1", detection=1, verdict="reject", by="adjuster@acme", at="2026-12-03T12:00:00Z")]
    report = build_report(ReportInput(geometry=GEOMETRY, photos=CLAIM, profile=ACME, reviews=rejected))
    listed = {p["id"]: p for p in report["photos"]}
    assert set(listed) == {p.name for p in CLAIM}
    south = listed["south-1"]
    first = next(d for d in south["detections"] if d["id"] == 1)
    assert first["counted"] is False and first["review"] == "reject"
    given = next(p for p in CLAIM if p.name == "south-1")
    assert [d["box"] for d in south["detections"]] == [list(d.box) for d in given.detections]
    assert sum(d["counted"] for d in south["detections"]) == sum(
        1 for d in given.detections[1:] if d.type == "hail_hit" and d.confidence >= ACME.min_confidence
    )


def test_enough_slopes_to_replace_replace_the_roof() -> None:
    photos = [photo("s", 9, square=9.0, facet="A"), photo("n", 8, square=8.0, facet="B")]
    report = build_report(ReportInput(geometry=GEOMETRY, photos=photos, profile=ACME))
    assert report["roof_decision"]["decision"] == "replace_roof"
    assert report["roof_decision"]["slopes_to_replace"] == ["N", "S"]


def test_the_same_inputs_give_the_same_report() -> None:
    given = ReportInput(geometry=GEOMETRY, photos=CLAIM, profile=ACME)
    assert build_report(given) == build_report(given)
