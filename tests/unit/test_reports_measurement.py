"""The report's measurement half on synthetic roofs with truth: derived lengths and quantities follow
their formulas exactly from the measured lines, totals match the truth within the geometry figures,
structures are told apart, and every QC gate passes on a sound report and fails on one corrupted to
break it."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from evaluation.geometry.synthetic import Scene, SceneSpec, build_scene
from geometry.analysis import analyze_grid
from reports.inputs import Geometry
from reports.measurement import steep_band, up_to_third
from reports.qc import run_gates
from reports.report import ReportInput, build_report
from reports.settings import ReportSettings

AREA_TOLERANCE = 0.03  # the geometry figures (tests/unit/test_geometry_accuracy.py)
LENGTH_TOLERANCE = 0.05


def _scene_and_report(roof: str, pitch: float, settings: ReportSettings | None = None) -> tuple[Scene, dict[str, Any]]:
    scene = build_scene(SceneSpec(roof=roof, pitch=pitch, rotation_deg=20, resolution=0.25, seed=3))  # type: ignore[arg-type]
    geometry = Geometry.model_validate(analyze_grid(scene.grid).to_json())
    return scene, build_report(ReportInput(geometry=geometry, settings=settings or ReportSettings()))


@pytest.fixture(scope="module")
def two_buildings() -> tuple[Scene, dict[str, Any]]:
    return _scene_and_report("two_buildings", 7)


@pytest.fixture(scope="module")
def hip() -> tuple[Scene, dict[str, Any]]:
    return _scene_and_report("hip", 10, ReportSettings(starter="eaves_and_rakes", line_codes={"shingles": "RFG-SH"}))


def test_two_buildings_on_one_tile_are_two_structures_whose_totals_add_up(
    two_buildings: tuple[Scene, dict[str, Any]],
) -> None:
    scene, report = two_buildings
    assert len(report["structures"]) == 2
    truth = {b: sum(f.area_sqft for f in scene.facets if f.building == b) for b in (0, 1)}
    measured = sorted((s["totals"]["area_sqft"] for s in report["structures"]), reverse=True)
    for got, want in zip(measured, sorted(truth.values(), reverse=True), strict=True):
        assert got == pytest.approx(want, rel=AREA_TOLERANCE)
    assert sum(measured) == pytest.approx(report["totals"]["area_sqft"], abs=0.2)


@pytest.mark.parametrize("name", ["two_buildings", "hip"])
def test_line_totals_match_the_truth_within_the_geometry_figures(
    name: str, two_buildings: tuple[Scene, dict[str, Any]], hip: tuple[Scene, dict[str, Any]]
) -> None:
    scene, report = two_buildings if name == "two_buildings" else hip
    truth_ft = {kind: m * 3.280839895 for kind, m in scene.edge_lengths_m().items()}
    for kind in ("ridge", "hip", "valley"):
        assert report["lengths"][kind]["ft"] == pytest.approx(truth_ft[kind], rel=LENGTH_TOLERANCE, abs=1.0), kind
    outline = truth_ft["eave"] + truth_ft["rake"]
    assert report["lengths"]["drip_edge_ft"] == pytest.approx(outline, rel=LENGTH_TOLERANCE)
    assert report["totals"]["area_sqft"] == pytest.approx(sum(f.area_sqft for f in scene.facets), rel=AREA_TOLERANCE)


def test_derived_lengths_and_quantities_follow_their_formulas_exactly(hip: tuple[Scene, dict[str, Any]]) -> None:
    _, report = hip
    lengths = report["lengths"]
    assert lengths["drip_edge_ft"] == pytest.approx(lengths["eave"]["ft"] + lengths["rake"]["ft"], abs=0.11)
    assert lengths["ridge_cap_ft"] == pytest.approx(lengths["ridge"]["ft"] + lengths["hip"]["ft"], abs=0.11)
    assert lengths["starter_ft"] == pytest.approx(lengths["drip_edge_ft"], abs=0.11)  # eaves and rakes, per the org
    quantities = {q["name"]: q for q in report["quantities"]}
    total = report["totals"]["area_sqft"]
    waste = report["suggested_waste_percent"]
    assert quantities["shingles"]["quantity"] == pytest.approx(
        math.ceil(total * (1 + waste / 100) / 100 * 3 - 1e-9) / 3, abs=0.01
    )
    assert quantities["shingles"]["code"] == "RFG-SH"
    assert quantities["tear_off"]["quantity"] == pytest.approx(total / 100, abs=0.01)
    assert quantities["steep_10_12"]["quantity"] == pytest.approx(total / 100, abs=0.01)  # every facet is 10/12
    assert quantities["ridge_cap"]["quantity"] == pytest.approx(lengths["ridge_cap_ft"], abs=0.11)
    assert quantities["valley_metal"]["quantity"] == pytest.approx(lengths["valley"]["ft"], abs=0.11)
    eave_factor = (12 + 24) / 12 * math.sqrt(144 + 10**2) / 12  # 3 ft level, up a 10/12 slope
    assert quantities["ice_and_water"]["quantity"] == pytest.approx(
        sum(e["length_ft"] for e in report["edges"] if e["kind"] == "eave") * eave_factor
        + lengths["valley"]["ft"] * 3.0,
        rel=0.01,
    )
    for row in report["waste"]:
        exact = total * (1 + row["percent"] / 100)
        assert row["area_sqft"] == pytest.approx(exact, abs=0.1)
        assert row["squares"] == pytest.approx(math.ceil(exact / 100 * 3 - 1e-9) / 3, abs=0.01)
    assert report["waste"][0]["percent"] == 0


def test_a_hip_roof_is_suggested_more_waste_than_a_gable() -> None:
    _, gable = _scene_and_report("gable", 6)
    _, hip = _scene_and_report("hip", 6)
    assert gable["suggested_waste_percent"] == 5
    assert hip["suggested_waste_percent"] > gable["suggested_waste_percent"]


def test_facets_carry_their_pitch_band_edges_and_review_flags(hip: tuple[Scene, dict[str, Any]]) -> None:
    _, report = hip
    for facet in report["facets"]:
        assert facet["pitch"] == "10/12"
        assert facet["steep_band"] == "10-12/12"
        assert facet["pitch_factor"] == pytest.approx(math.sqrt(244) / 12, abs=1e-3)
        assert facet["edges"]["hip_ft"] > 0
        assert facet["needs_review"] is False, facet["review_reasons"]


@pytest.mark.parametrize(
    ("rise", "band"),
    [(0, "0-6/12"), (6, "0-6/12"), (7, "7-9/12"), (9, "7-9/12"), (10, "10-12/12"), (12, "10-12/12"), (13, "13+/12")],
)
def test_steep_bands_are_the_estimating_systems(rise: int, band: str) -> None:
    assert steep_band(rise) == band


def test_squares_round_up_to_the_next_third_and_exact_thirds_stay() -> None:
    assert up_to_third(22.02) == pytest.approx(22 + 1 / 3)
    assert up_to_third(22.34) == pytest.approx(22 + 2 / 3)
    assert up_to_third(22.0) == 22.0
    assert up_to_third(2 / 3) == pytest.approx(2 / 3)


def test_every_gate_passes_on_a_sound_report(two_buildings: tuple[Scene, dict[str, Any]]) -> None:
    _, report = two_buildings
    assert report["qc"]["passed"], report["qc"]
    assert not report["summary"].startswith("QC FAILED")


def _facet_area_off(r: dict[str, Any]) -> None:
    r["facets"][0]["area_sqft"] *= 1.02


def _pitch_row_dropped(r: dict[str, Any]) -> None:
    r["pitches"] = r["pitches"][1:] if len(r["pitches"]) > 1 else [{**r["pitches"][0], "area_sqft": 1.0, "share": 0.5}]


def _ridge_one_sided(r: dict[str, Any]) -> None:
    ridge = next(e for e in r["edges"] if e["kind"] == "ridge")
    ridge["facets"] = ridge["facets"][:1]


def _drip_edge_off(r: dict[str, Any]) -> None:
    r["lengths"]["drip_edge_ft"] += 5.0


def _footprint_over_area(r: dict[str, Any]) -> None:
    r["facets"][0]["footprint_sqft"] = r["facets"][0]["area_sqft"] * 1.5


CORRUPTIONS = {
    "facet_areas_add_up": _facet_area_off,
    "pitch_table_adds_up": _pitch_row_dropped,
    "lines_border_their_facets": _ridge_one_sided,
    "lengths_follow_formulas": _drip_edge_off,
    "no_component_exceeds_its_parent": _footprint_over_area,
}


@pytest.mark.parametrize("gate", sorted(CORRUPTIONS))
def test_each_gate_fails_on_a_report_corrupted_to_break_it(
    gate: str, two_buildings: tuple[Scene, dict[str, Any]]
) -> None:
    _, report = two_buildings
    broken = copy.deepcopy(report)
    CORRUPTIONS[gate](broken)
    qc = run_gates(broken)
    failed = {c["name"] for c in qc["checks"] if not c["passed"]}
    assert failed == {gate}, qc
    assert not qc["passed"]


def test_a_report_missing_what_a_gate_reads_fails_that_gate(two_buildings: tuple[Scene, dict[str, Any]]) -> None:
    _, report = two_buildings
    broken = copy.deepcopy(report)
    del broken["lengths"]["eave"]
    qc = run_gates(broken)
    assert [c["name"] for c in qc["checks"] if not c["passed"]] == ["lengths_follow_formulas"]


def test_penetrations_the_height_data_shows_are_listed_and_flashed() -> None:
    scene = build_scene(SceneSpec(roof="hip", pitch=8, rotation_deg=40, resolution=0.2, chimney=True, seed=9))
    geometry = Geometry.model_validate(analyze_grid(scene.grid).to_json())
    report = build_report(ReportInput(geometry=geometry))
    penetrations = report["penetrations"]
    assert penetrations["count"] == 1
    (chimney,) = penetrations["items"]
    assert chimney["kind"] == "chimney" and chimney["facet"] in {f["id"] for f in report["facets"]}
    flashing = next(q for q in report["quantities"] if q["name"] == "penetration_flashing")
    assert flashing["unit"] == "LF" and flashing["quantity"] == pytest.approx(chimney["perimeter_ft"], abs=0.01)
