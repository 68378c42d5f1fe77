"""Handheld photos tied to facets by where they were taken and where they pointed (EXIF GPS and
compass heading), on a georeferenced roof; tags still win, and a roof without georeference says why
the position could not be used."""

from __future__ import annotations

from functools import cache

import pytest
from pyproj import Transformer

from evaluation.geometry.synthetic import SceneSpec, build_scene
from evaluation.reports.drone import CRS, ORIGIN, georeferenced
from reports.inputs import Geometry, Photo
from reports.report import ReportInput, build_report


@cache
def hip() -> Geometry:
    return georeferenced(build_scene(SceneSpec(roof="hip", pitch=7, rotation_deg=0, resolution=0.25, seed=3)))


def photo(x: float, y: float, heading: float | None, **tags: str) -> Photo:
    """A phone photo taken at (x, y) metres on the roof's frame."""
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(ORIGIN[0] + x, ORIGIN[1] + y)
    return Photo.model_validate(
        {
            "id": f"phone-{x:.0f}-{y:.0f}-{heading}",
            "image": {"width": 4032, "height": 3024, "sha256": "0" * 64},
            "detections": [],
            "tags": tags,
            "handheld": {"latitude": lat, "longitude": lon, "heading_deg": heading},
        }
    )


def centre_and_facets() -> tuple[tuple[float, float], dict[str, str]]:
    corners = [c for p in hip().planes if p.outline for c in p.outline]
    cx = sum(c[0] for c in corners) / len(corners)
    cy = sum(c[1] for c in corners) / len(corners)
    return (cx, cy), {p.facing: p.id for p in hip().planes}


@pytest.mark.parametrize(
    ("side", "dx", "dy", "heading"), [("S", 0, -15, 0.0), ("N", 0, 15, 180.0), ("E", 18, 0, 270.0), ("W", -18, 0, 90.0)]
)
def test_a_photo_taken_from_a_side_pointing_at_the_roof_shows_that_sides_facet(
    side: str, dx: float, dy: float, heading: float
) -> None:
    (cx, cy), facets = centre_and_facets()
    report = build_report(ReportInput(geometry=hip(), photos=[photo(cx + dx, cy + dy, heading)]))
    (attribution,) = report["attributions"]
    assert attribution["method"] == "gps_heading"
    assert attribution["facets"] == [facets[side]] and attribution["direction"] == side


def test_without_a_heading_the_facet_facing_the_photographer_is_taken_with_less_confidence() -> None:
    (cx, cy), facets = centre_and_facets()
    report = build_report(ReportInput(geometry=hip(), photos=[photo(cx + 2, cy - 20, None)]))
    (attribution,) = report["attributions"]
    assert attribution["method"] == "gps_position" and attribution["facets"] == [facets["S"]]
    assert attribution["confidence"] < 0.7


def test_a_heading_away_from_the_roof_ties_it_to_nothing_and_tags_win_over_the_position() -> None:
    (cx, cy), facets = centre_and_facets()
    away = build_report(ReportInput(geometry=hip(), photos=[photo(cx, cy - 15, 180.0)]))
    assert away["attributions"][0]["method"] == "unassigned"
    tagged = build_report(ReportInput(geometry=hip(), photos=[photo(cx, cy - 15, 0.0, facet=facets["N"])]))
    assert tagged["attributions"][0]["facets"] == [facets["N"]]
    assert tagged["attributions"][0]["method"] == "facet_tag"


def test_a_roof_without_georeference_says_why_the_position_was_not_used() -> None:
    (cx, cy), _ = centre_and_facets()
    plain = hip().model_copy(update={"source": hip().source.model_copy(update={"crs": None, "origin": None})})
    report = build_report(ReportInput(geometry=plain, photos=[photo(cx, cy - 15, 0.0)]))
    assert report["attributions"][0]["note"] == "its GPS position cannot be used: the roof is not georeferenced"
