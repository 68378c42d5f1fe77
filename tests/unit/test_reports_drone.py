"""Drone photos placed on the roof: synthetic flights over synthetic roofs (evaluation.reports.drone:
hail marks at known points of known facets, overlapping nadir and oblique photos, RTK-grade pose
noise and detector jitter), given their detections. Each mark must land on its facet, within a foot,
and count once however many photos saw it.

The placement's constants were set on other roofs, rotations and seeds (hip 15 and 95, cross gable
40 and 170, hip with dormers 70 and 250, two buildings 5 and 160, gable 33 and 280, pyramid 62,
shed 45; seeds 1-6 and 31-36); the flights here are held out: other rotations, pitches and seeds.
`HELD_OUT` was looked at while the per-photo pose correction was built; `FRESH` was run once, after.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import cache
from typing import Any

import numpy as np
import pytest

from evaluation.geometry.synthetic import SceneSpec
from evaluation.reports.drone import Flight, Noise, fly
from reports.camera import axes, camera_of
from reports.inputs import CameraPose, Geometry, Photo
from reports.placement import MIN_TIES, Placed, Surface, cast, merge, pose_shifts, settle_facets, surfaces
from reports.report import ReportInput, build_report

HELD_OUT = [
    ("hip", 5, 25, 11),
    ("cross_gable", 7, 55, 12),
    ("hip_dormers", 9, 10, 13),
    ("two_buildings", 11, 80, 14),
    ("gable", 5, 120, 15),
    ("pyramid", 7, 200, 16),
    ("shed", 9, 300, 17),
    ("hip", 9, 140, 18),
]
FRESH = [
    ("gable", 6, 75, 41),
    ("hip", 7, 310, 42),
    ("cross_gable", 9, 130, 43),
    ("hip_dormers", 6, 185, 44),
    ("pyramid", 9, 20, 45),
    ("two_buildings", 9, 260, 46),
    ("shed", 5, 150, 47),
    ("hip_dormers", 10, 330, 48),
]


RENDERED = [("cross_gable", 9, 130, 43), ("hip_dormers", 6, 185, 44), ("two_buildings", 9, 260, 46)]


@cache
def flown(
    roof: str, pitch: float, rotation: float, seed: int, noisy: bool = True, rendered: bool = False
) -> tuple[Flight, dict[str, Any]]:
    spec = SceneSpec(roof=roof, pitch=pitch, rotation_deg=rotation, resolution=0.25, seed=seed)  # type: ignore[arg-type]
    flight = fly(spec, seed=seed, noise=Noise() if noisy else Noise(0.0, 0.0, 0.0, 0.0), rendered=rendered)
    photos = [Photo.model_validate(p) for p in flight.photos]
    return flight, build_report(ReportInput(geometry=flight.geometry, photos=photos))


def scored(flight: Flight, report: dict[str, Any]) -> Counter[str]:
    """Each placed mark against the true mark most of its detections are."""
    truth = {m.number: m for m in flight.marks}
    owners: Counter[int] = Counter()
    found: Counter[str] = Counter(seen=len(flight.seen), marks=len(report["placements"]))
    for placed in report["placements"]:
        number = Counter(flight.detected[s["photo"], s["detection"]] for s in placed["seen_in"]).most_common(1)[0][0]
        owners[number] += 1
        found["right_facet"] += truth[number].facet == placed["facet"]
        error = math.dist(truth[number].point, (placed["x_m"], placed["y_m"], placed["z_m"]))
        found["within_1ft"] += error <= 0.3048
        found["within_5cm"] += error <= 0.05
    found["duplicates"] = sum(n - 1 for n in owners.values())
    found["missing"] = len(flight.seen) - len(owners)
    true_counts = Counter(truth[n].facet for n in flight.seen)
    placed_counts = Counter(p["facet"] for p in report["placements"])
    found["facets"] = len(set(true_counts) | set(placed_counts))
    found["exact_facets"] = sum(true_counts[f] == placed_counts[f] for f in set(true_counts) | set(placed_counts))
    return found


@pytest.mark.parametrize("flights", [HELD_OUT, FRESH], ids=["held_out", "fresh"])
def test_held_out_flights_put_marks_on_their_facets_within_a_foot_each_once(flights: list[Any]) -> None:
    """Under RTK-grade pose noise. What is left is marks within a few centimetres of a facet's edge,
    put on the facet across it, and each makes two facets' counts one off."""
    total: Counter[str] = Counter()
    for case in flights:
        flight, report = flown(*case)
        assert all(a["method"] == "drone_pose" for a in report["attributions"]), case
        total.update(scored(flight, report))
    print("held-out drone flights:", dict(total))
    assert total["right_facet"] >= 0.98 * total["marks"]
    assert total["within_1ft"] >= 0.98 * total["marks"]
    assert total["duplicates"] <= 0.005 * total["seen"]
    assert total["missing"] <= 0.005 * total["seen"]
    assert total["exact_facets"] >= 0.75 * total["facets"]


def test_photos_rendered_from_the_roof_give_the_same_counts_from_the_spots_found_in_them() -> None:
    """The photos ray-cast from the true roof planes, the detections the dark spots found in them:
    spots edge-on, half hidden behind a ridge or touching another come out as a photo shows them."""
    total: Counter[str] = Counter()
    for case in RENDERED:
        flight, report = flown(*case, rendered=True)
        total.update(scored(flight, report))
    print("rendered drone flights:", dict(total))
    assert total["seen"] >= 150
    assert total["right_facet"] >= 0.97 * total["marks"]
    assert total["within_1ft"] >= 0.98 * total["marks"]
    assert total["duplicates"] <= 0.01 * total["seen"] and total["missing"] <= 0.01 * total["seen"]
    assert total["exact_facets"] >= 0.75 * total["facets"]


def test_a_rendered_photo_shows_each_mark_its_camera_sees_as_one_dark_spot() -> None:
    from evaluation.reports.render import dark_spots, render, true_surfaces

    flight, _ = flown(*RENDERED[0])
    roof = true_surfaces(flight.scene)
    camera = camera_of(CameraPose.model_validate(flight.photos[-1]["camera"]), flight.geometry, 4000, 3000)
    points = np.array([m.point for m in flight.marks])
    image = render(camera, roof, points)
    spots = np.array(dark_spots(image))
    u, v, _ = camera.pixels(points)
    which, hits = cast(camera, roof, u, v)
    visible = (which >= 0) & (np.linalg.norm(hits - points, axis=1) < 0.01)
    gaps = [
        float(np.min(np.hypot(spots[:, 0] - x, spots[:, 1] - y))) for x, y in zip(u[visible], v[visible], strict=True)
    ]
    assert visible.sum() >= 30 and len(spots) == visible.sum()
    assert max(gaps) < 1.0  # px
    assert image[int(v[visible][0]), int(u[visible][0])] < 60 < np.median(image)


@pytest.mark.parametrize("case", HELD_OUT)
def test_with_exact_poses_every_facet_count_is_exact_and_each_mark_within_5_cm(case: tuple[Any, ...]) -> None:
    flight, report = flown(*case, noisy=False)
    found = scored(flight, report)
    assert found["duplicates"] == 0 and found["missing"] == 0, dict(found)
    assert found["within_5cm"] == found["marks"] == found["right_facet"], dict(found)
    assert found["exact_facets"] == found["facets"], dict(found)


def test_the_scorecard_counts_the_placed_marks_and_each_traces_to_its_photos() -> None:
    flight, report = flown(*HELD_OUT[1])
    placed = Counter(p["facet"] for p in report["placements"])
    for facet in report["facets"]:
        damage = facet["damage"]
        assert damage["hail_hits"] == placed[facet["id"]]
        if damage["photos"]:
            assert 0 < damage["coverage"] <= 1.0
    names = {p["id"] for p in flight.photos}
    for mark in report["placements"]:
        assert mark["seen_in"] and {s["photo"] for s in mark["seen_in"]} <= names
        assert len({s["photo"] for s in mark["seen_in"]}) == len(mark["seen_in"])  # one detection per photo
    assert any(len(m["seen_in"]) > 1 for m in report["placements"])  # the views overlap


def test_a_point_projected_into_a_photo_casts_back_onto_itself() -> None:
    flight, _ = flown(*HELD_OUT[0])
    roof = surfaces(flight.geometry)
    pose = CameraPose.model_validate(flight.photos[-1]["camera"])
    camera = camera_of(pose, flight.geometry, 4000, 3000)
    points = np.array([m.point for m in flight.marks])
    u, v, depth = camera.pixels(points)
    inside = (depth > 0) & (u > 0) & (u < 4000) & (v > 0) & (v < 3000)
    which, back = cast(camera, roof, u[inside], v[inside])
    hit = which >= 0
    assert hit.mean() > 0.9
    assert np.abs(back[hit] - points[inside][hit]).max() < 0.05


def test_the_camera_axes_follow_the_drone_conventions() -> None:
    forward, right, down = axes(0.0, -90.0, 0.0)  # nadir, the top of the image to the north
    assert np.allclose(forward, [0, 0, -1]) and np.allclose(right, [1, 0, 0]) and np.allclose(down, [0, -1, 0])
    forward, right, down = axes(90.0, 0.0, 0.0)  # level, looking east
    assert np.allclose(forward, [1, 0, 0]) and np.allclose(right, [0, -1, 0]) and np.allclose(down, [0, 0, -1])


def test_two_views_of_one_mark_merge_and_two_close_marks_of_one_photo_do_not() -> None:
    from reports.inputs import Detection

    def det(n: int) -> Detection:
        return Detection(id=n, type="hail_hit", severity=2, confidence=0.9, box=(0, 0, 4, 4))

    placed = [
        Placed("a", det(1), "A", (1.0, 1.0, 5.0), 0.05),
        Placed("a", det(2), "A", (1.1, 1.0, 5.0), 0.05),  # a second mark 10 cm away, in the same photo
        Placed("b", det(1), "A", (1.02, 1.01, 5.0), 0.05),
        Placed("b", det(2), "A", (1.12, 0.99, 5.0), 0.05),
        Placed("c", det(7), "B", (1.05, 1.0, 5.0), 2.0),  # a poor grazing view near the ridge
    ]
    marks = merge(placed)
    assert len(marks) == 2
    assert sorted(sorted((p.photo, p.detection.id) for p in m.members) for m in marks)[0][:2] == [("a", 1), ("b", 1)]


def _ridge() -> list[Surface]:
    """Two facets meeting at a ridge along y = 5: A falls to the south, B to the north."""
    a = Surface("A", 0.0, 0.5, 5.0, np.array([[0, 0], [10, 0], [10, 5], [0, 5]], float), ())
    b = Surface("B", 0.0, -0.5, 10.0, np.array([[0, 5], [10, 5], [10, 10], [0, 10]], float), ())
    return [a, b]


def _placed(photo: str, n: int, facet: str, xy: tuple[float, float], sigma: float = 0.05) -> Placed:
    from reports.inputs import Detection

    box = (0, 0, 4, 4)
    z = 5.0 + 0.5 * xy[1] if xy[1] <= 5 else 10.0 - 0.5 * xy[1]
    return Placed(photo, Detection(id=n, type="hail_hit", severity=2, confidence=0.9, box=box), facet, (*xy, z), sigma)


def test_a_mark_at_a_ridge_takes_the_side_its_merged_point_is_on_not_its_sharpest_view() -> None:
    marks = merge(
        [
            _placed("a", 1, "B", (4.0, 5.01), 0.04),  # the sharpest view, just across the ridge
            _placed("b", 1, "A", (4.0, 4.96), 0.05),
            _placed("c", 1, "A", (4.0, 4.95), 0.05),
        ]
    )
    assert len(marks) == 1
    settle_facets(marks, _ridge())
    assert marks[0].facet == "A"


def test_a_photo_whose_pose_is_off_is_moved_back_by_the_marks_it_shares() -> None:
    truth = [(1.0 + k, 2.0 + (k % 3)) for k in range(6)]
    off = np.array([0.06, -0.04])
    placed = [_placed(p, n, "A", xy) for p in ("a", "b", "c", "d") for n, xy in enumerate(truth)]
    placed += [_placed("e", n, "A", (xy[0] + off[0], xy[1] + off[1])) for n, xy in enumerate(truth)]
    shifts = pose_shifts(merge(placed))
    assert np.allclose(shifts["e"][:2], -off, atol=0.005)
    assert all(np.linalg.norm(shifts[p]) < 0.02 for p in "abcd")
    few = [p for p in placed if p.detection.id < MIN_TIES - 1]  # too few ties to judge a photo by
    assert pose_shifts(merge(few)) == {}


def test_a_drone_photo_on_a_roof_without_georeference_falls_back_to_its_tags_and_says_why() -> None:
    flight, _ = flown(*HELD_OUT[0])
    plain = Geometry.model_validate({**flight.geometry.model_dump(mode="json"), "source": {"resolution_m": 0.25}})
    doc = {**flight.photos[0], "tags": {"facet": "A"}}
    report = build_report(ReportInput(geometry=plain, photos=[Photo.model_validate(doc)]))
    (attribution,) = report["attributions"]
    assert attribution["method"] == "facet_tag"
    assert attribution["note"].startswith("not placed: the roof's height data is not georeferenced")
    assert report["placements"] == []


@pytest.mark.parametrize("pose", [{"focal_px": None, "focal_35mm": None}])
def test_a_drone_photo_without_a_focal_length_is_not_placed(pose: dict[str, Any]) -> None:
    flight, _ = flown(*HELD_OUT[0])
    doc = {**flight.photos[0], "camera": {**flight.photos[0]["camera"], **pose}}
    report = build_report(ReportInput(geometry=flight.geometry, photos=[Photo.model_validate(doc)]))
    assert "no focal length" in report["attributions"][0]["note"]
