"""`dominus report` as a user runs it: geometry and vision JSON files in, the report and its CSVs
out; a bad file is named with the field to fix, and nothing is written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dominus_dev.cli import main
from evaluation.geometry.synthetic import SceneSpec, build_scene
from geometry.analysis import analyze_grid


@pytest.fixture(scope="module")
def geometry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    scene = build_scene(SceneSpec(roof="gable", pitch=8, rotation_deg=0, resolution=0.25, seed=4))
    path = tmp_path_factory.mktemp("report") / "geometry.json"
    path.write_text(json.dumps(analyze_grid(scene.grid).to_json()))
    return path


def vision_result(tags: dict[str, object], hits: int) -> dict[str, object]:
    detections = [
        {"id": i + 1, "type": "hail_hit", "severity": 2, "confidence": 0.9, "box": [i * 20, 10, i * 20 + 12, 22]}
        for i in range(hits)
    ]
    return {
        "image": {"width": 1280, "height": 960, "sha256": "a" * 64},
        "detections": detections,
        "model": "local-opencv",
        "summary": "",
        "tags": tags,
        "scale": {"pixels_per_foot": 96.0, "source": "shingle_courses", "uncertainty": 0.04},
        "roof_mask": {"coverage": 1.0, "polygons": []},
    }


def test_a_report_from_files_with_its_artifacts(
    geometry_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photos = tmp_path / "photos.json"
    photos.write_text(json.dumps([vision_result({"facing": "S"}, 10), vision_result({}, 1)]))
    profile = tmp_path / "acme.json"
    profile.write_text(json.dumps({"name": "Acme", "version": "2", "hits_per_test_square": 8}))
    out = tmp_path / "out"
    assert (
        main(
            [
                "report",
                str(geometry_file),
                str(photos),
                "--profile",
                str(profile),
                "--claim",
                "CLM-1",
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((out / "report.json").read_text())
    assert report["claim_id"] == "CLM-1" and report["qc"]["passed"]
    south = next(f for f in report["facets"] if f["facing"] == "S")
    assert south["damage"]["photos"] == ["photos.json#1"]
    assert south["damage"]["covered_sqft"] == pytest.approx(1280 * 960 / 96.0**2, abs=0.1)  # the mask at its scale
    assert south["damage"]["hits_per_100sqft"]["value"] == pytest.approx(7.5, abs=0.01)  # 10 hits over 133 sq ft
    assert south["damage"]["decision"] == "repair"  # under Acme's 8 per test square
    assert report["unassigned_photos"] == ["photos.json#2"]
    with (out / "quantities.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows][:2] == ["shingles", "tear_off"]
    with (out / "facets.csv").open() as handle:
        assert [r["id"] for r in csv.DictReader(handle)] == [f["id"] for f in report["facets"]]


def test_the_readable_summary_leads_with_the_roof(geometry_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(geometry_file)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("2 facets")
    assert "decides nothing" in text


def test_a_bad_detection_file_names_the_file_and_field(
    geometry_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    result = vision_result({}, 1)
    del result["image"]
    bad.write_text(json.dumps(result) + " " * 10_000)
    out = tmp_path / "out"
    assert main(["report", str(geometry_file), str(bad), "--out", str(out)]) == 2
    message = capsys.readouterr().err
    assert "bad.json" in message and "image" in message
    assert len(message) < 400
    assert not out.exists()


def test_a_file_that_is_not_json_or_not_there_is_a_clear_error(
    geometry_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\x89PNG not json")
    assert main(["report", str(junk)]) == 2
    assert "junk.json" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    assert "is not a file" in capsys.readouterr().err
