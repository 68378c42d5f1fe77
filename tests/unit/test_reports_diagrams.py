"""The report's diagrams: well-formed SVG drawn from the measured outlines, every facet lettered, a
north arrow and a scale bar, the damage map on its fixed scale with the profile's threshold marked,
readable labels on a 40-facet roof, and a PNG for documents."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pytest
from PIL import Image

from evaluation.geometry.synthetic import SceneSpec, build_scene
from evaluation.reports.synthetic import photos, roof
from geometry.analysis import analyze_grid
from reports.diagrams import DAMAGE_COLOURS, NOT_SEEN, damage_colour, facets_svg, feet_inches, label_point
from reports.exports import artifacts
from reports.inputs import Geometry, Photo
from reports.profiles import CarrierProfile
from reports.report import ReportInput, build_report
from shared.typeset import png_of

SVG = "{http://www.w3.org/2000/svg}"
ACME = CarrierProfile(name="Acme", version="1", hits_per_test_square=8)


def texts(svg: bytes) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def drawn() -> tuple[Geometry, dict[str, Any], dict[str, bytes]]:
    scene = build_scene(SceneSpec(roof="hip_dormers", pitch=9, rotation_deg=25, resolution=0.2, seed=6))
    geometry = Geometry.model_validate(analyze_grid(scene.grid).to_json())
    south = geometry.planes[0].id  # the largest facet
    seen = Photo.model_validate(
        {
            "id": "s1",
            "image": {"width": 100, "height": 100, "sha256": "0" * 64},
            "detections": [
                {"id": i, "type": "hail_hit", "severity": 2, "confidence": 0.9, "box": [0, 0, 5, 5]} for i in range(10)
            ],
            "tags": {"facet": south},
            "density": {"covered_sqft": 100.0},
        }
    )
    report = build_report(ReportInput(geometry=geometry, photos=[seen], profile=ACME))
    return geometry, report, artifacts(report, geometry, ACME.hits_per_test_square)


@pytest.mark.parametrize("name", ["facets.svg", "pitch.svg", "lengths.svg", "damage-map.svg"])
def test_every_diagram_is_svg_with_every_facet_a_north_arrow_and_a_scale_bar(
    name: str, drawn: tuple[Geometry, dict[str, Any], dict[str, bytes]]
) -> None:
    geometry, _, files = drawn
    svg = files[name]
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    labels = texts(svg)
    assert {p.id for p in geometry.planes} <= set(labels)
    assert "N" in labels
    assert any(re.fullmatch(r"\d+ ft", t) for t in labels)
    polygons = [p for p in root.iter(f"{SVG}polygon") if p.get("stroke") == "#333"]
    assert len(polygons) == len(geometry.planes)


def test_the_facet_diagram_prints_each_area_and_the_lengths_diagram_each_kind(
    drawn: tuple[Geometry, dict[str, Any], dict[str, bytes]],
) -> None:
    geometry, report, files = drawn
    facet_labels = texts(files["facets.svg"])
    largest = max(geometry.planes, key=lambda p: p.area_sqft)
    assert f"{largest.area_sqft:,.0f} sq ft" in facet_labels
    length_labels = " ".join(texts(files["lengths.svg"]))
    for kind in ("ridge", "hip", "valley", "eave", "rake"):
        assert f"{kind} {feet_inches(report['lengths'][kind]['ft'])}" in length_labels


def test_the_damage_map_colours_by_the_fixed_scale_and_marks_the_threshold(
    drawn: tuple[Geometry, dict[str, Any], dict[str, bytes]],
) -> None:
    _, report, files = drawn
    root = ET.fromstring(files["damage-map.svg"])
    fills = [p.get("fill") for p in root.iter(f"{SVG}polygon") if p.get("stroke") == "#333"]
    seen = next(f for f in report["facets"] if f["damage"]["photos"])
    assert seen["damage"]["hits_per_100sqft"]["value"] == 10.0
    assert damage_colour(10.0) in fills and fills.count(NOT_SEEN) == len(fills) - 1
    assert "threshold" in texts(files["damage-map.svg"])
    assert "replace" in texts(files["damage-map.svg"])
    heavy = [r for r in root.iter(f"{SVG}rect") if r.get("stroke-width") == "3"]
    assert [r.get("fill") for r in heavy] == [damage_colour(8.0)]


def test_the_damage_scale_is_fixed_and_one_minor_hit_stays_in_the_lowest_step() -> None:
    assert damage_colour(0.0) == DAMAGE_COLOURS[0]
    assert damage_colour(0.9) == DAMAGE_COLOURS[0]
    assert damage_colour(2.0) == DAMAGE_COLOURS[1]
    assert damage_colour(8.0) == damage_colour(11.9) != damage_colour(12.0)
    assert damage_colour(500.0) == DAMAGE_COLOURS[-1]


def test_labels_on_a_40_facet_roof_stay_readable_at_print_size() -> None:
    geometry = roof(random.Random(3))
    report = build_report(ReportInput(geometry=geometry, photos=photos(random.Random(3))))
    svg = facets_svg(geometry, report)
    assert svg is not None
    sizes = [float(t.get("font-size", "0")) for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert min(sizes) >= 9.0  # 9 px at 96 per inch is 6.75 pt, legible on a printed page
    assert {p.id for p in geometry.planes} <= set(texts(svg))


def test_a_label_goes_inside_an_l_shaped_facet() -> None:
    ell = [(0.0, 0.0), (10.0, 0.0), (10.0, 2.0), (2.0, 2.0), (2.0, 10.0), (0.0, 10.0)]
    (x, y), room = label_point(ell)
    assert (x <= 2.0 or y <= 2.0) and room > 0.5


def test_feet_and_inches() -> None:
    assert feet_inches(12.5) == "12' 6\""
    assert feet_inches(9.99) == "10' 0\""


def test_the_png_for_documents_is_the_svg_rasterised(drawn: tuple[Geometry, dict[str, Any], dict[str, bytes]]) -> None:
    _, _, files = drawn
    png = files["damage-map.png"]
    import io

    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    root = ET.fromstring(files["damage-map.svg"])
    ratio = float(root.get("height", "0")) / float(root.get("width", "1"))
    assert image.shape[0] / image.shape[1] == pytest.approx(ratio, rel=0.01)
    assert image.shape[1] >= 1500  # 1000 px at 150 ppi
    assert len(np.unique(image[::7, ::7].reshape(-1, 3), axis=0)) > 20  # drawn, not blank
    assert png_of(files["facets.svg"], ppi=72)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_geometry_without_outlines_gets_its_tables_but_no_drawings() -> None:
    geometry = Geometry.model_validate(
        {
            "planes": [
                {"id": "A", "pitch_deg": 30, "pitch": "7/12", "azimuth_deg": 180, "facing": "S", "area_sqft": 500,
                 "footprint_sqft": 433}
            ]
        }
    )  # fmt: skip
    files = artifacts(build_report(ReportInput(geometry=geometry)), geometry, None)
    assert set(files) == {"facets.csv", "quantities.csv", "facets.geojson", "measurements.xml"}


def test_geojson_is_wgs84_where_the_roof_is_georeferenced_and_says_local_where_not() -> None:
    import json

    from evaluation.reports.drone import CRS, ORIGIN, georeferenced

    scene = build_scene(SceneSpec(roof="hip", pitch=7, rotation_deg=20, resolution=0.25, seed=2))
    geometry = georeferenced(scene)
    report = build_report(ReportInput(geometry=geometry))
    placed = json.loads(artifacts(report, geometry, None)["facets.geojson"])
    assert placed["dsm_crs"] == CRS and placed["dsm_origin"] == list(ORIGIN)
    polygons = [f for f in placed["features"] if f["geometry"]["type"] == "Polygon"]
    assert {f["properties"]["id"] for f in polygons} == {p.id for p in geometry.planes}
    lon, lat = polygons[0]["geometry"]["coordinates"][0][0]
    assert -82 < lon < -80 and 33 < lat < 35  # UTM 17N around the origin's easting and northing
    ring = polygons[0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1]
    kinds = {f["properties"]["kind"] for f in placed["features"]}
    assert {"facet", "ridge", "hip", "eave"} <= kinds
    local = json.loads(
        artifacts(
            report, geometry.model_copy(update={"source": geometry.source.model_copy(update={"crs": None})}), None
        )["facets.geojson"]
    )
    assert local["frame"].startswith("local")


def test_the_measurement_xml_lists_each_corner_once_and_every_line_and_face(
    drawn: tuple[Geometry, dict[str, Any], dict[str, bytes]],
) -> None:
    geometry, report, files = drawn
    root = ET.fromstring(files["measurements.xml"])
    assert root.tag == "roof-measurement" and root.get("units") == "feet"
    points = {p.get("id") for p in root.iter("point")}
    coordinates = [(p.get("x"), p.get("y"), p.get("z")) for p in root.iter("point")]
    assert len(coordinates) == len(set(coordinates))
    lines = list(root.iter("line"))
    assert len(lines) == len(geometry.edges)
    for line in lines:
        assert set(line.get("path", "").split(",")) <= points
    assert {f.get("id") for f in root.iter("face")} == {p.id for p in geometry.planes}
    summary = root.find("summary")
    assert summary is not None and float(summary.get("area", "0")) == pytest.approx(
        report["totals"]["area_sqft"], abs=0.1
    )
