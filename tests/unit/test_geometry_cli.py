"""`dominus geometry` as a user runs it: the contract JSON, labels files, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dominus_dev.cli import main
from evaluation.geometry.synthetic import SceneSpec, build_scene

PLANE_KEYS = {
    "id", "label", "pitch_deg", "pitch_rise", "pitch", "azimuth_deg", "facing", "area_sqft",
    "footprint_sqft", "squares", "normal", "rms_m", "count", "structure", "outline", "holes", "plane",
    "support_per_sqft", "needs_review", "review_reasons",
}  # fmt: skip


@pytest.fixture(scope="module")
def gable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    scene = build_scene(SceneSpec(roof="gable", pitch=6, rotation_deg=0, resolution=0.2, seed=3))
    folder = tmp_path_factory.mktemp("gable")
    raster = folder / "gable.npy"
    np.save(raster, scene.grid.z)
    x, y = scene.grid.xy()
    points = folder / "gable.xyz"
    np.savetxt(points, np.column_stack([x.ravel(), y.ravel(), scene.grid.z.ravel(), np.ones(x.size)]), fmt="%.3f")
    return raster, points, scene.grid.z


def test_json_follows_the_contract(gable: tuple[Path, Path, np.ndarray], capsys: pytest.CaptureFixture[str]) -> None:
    raster, _, _ = gable
    assert main(["geometry", str(raster), "--resolution", "0.2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in report["planes"]] == ["A", "B"]
    for plane in report["planes"]:
        assert set(plane) == PLANE_KEYS
        assert plane["pitch"] == "6/12"
        assert plane["pitch_deg"] == pytest.approx(26.57, abs=0.1)
        assert plane["facing"] in {"N", "S"}
    assert set(report["totals"]) == {"area_sqft", "squares", "predominant_pitch", "facets"}
    assert report["totals"]["predominant_pitch"] == "6/12"
    assert report["totals"]["squares"] == pytest.approx(report["totals"]["area_sqft"] / 100, abs=0.01)


def test_labels_for_a_raster_are_an_int32_grid_of_its_shape(
    gable: tuple[Path, Path, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raster, _, z = gable
    out = tmp_path / "labels.npy"
    assert main(["geometry", str(raster), "--resolution", "0.2", "--labels", str(out)]) == 0
    labels = np.load(out)
    assert labels.dtype == np.int32
    assert labels.shape == z.shape
    assert set(np.unique(labels)) == {-1, 0, 1}
    assert "Facet" in capsys.readouterr().out  # the readable table without --json


def test_labels_for_a_point_cloud_are_one_integer_per_input_point(
    gable: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    _, points, z = gable
    out = tmp_path / "labels.txt"
    assert main(["geometry", str(points), "--resolution", "0.2", "--labels", str(out)]) == 0
    labels = [int(line) for line in out.read_text().split()]
    assert len(labels) == z.size
    assert {0, 1} <= set(labels)


def test_bad_input_exits_2_with_what_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_raster = tmp_path / "roof.tif"
    not_a_raster.write_text("hello")
    assert main(["geometry", str(not_a_raster)]) == 2
    assert "GeoTIFF" in capsys.readouterr().err
    npy = tmp_path / "heights.npy"
    np.save(npy, np.zeros((10, 10)))
    assert main(["geometry", str(npy)]) == 2
    assert "--resolution" in capsys.readouterr().err


def test_no_roof_is_a_clear_result_not_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ground = tmp_path / "lawn.npy"
    np.save(ground, np.random.default_rng(1).normal(0, 0.02, (60, 60)))
    assert main(["geometry", str(ground), "--resolution", "0.25"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No roof planes: nothing stands 1.8 m above the ground") and "roof mask" in out


def test_the_table_says_which_facets_need_review_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "geometry"
    code = main(["geometry", str(data / "thurso_elevation.tif"), "--mask", str(data / "thurso_roof_mask.tif")])
    out = capsys.readouterr().out
    assert code == 0
    header = out.splitlines()[0]
    assert header.split()[-1] == "Review"
    rows = [line.split() for line in out.splitlines() if line[:1].isupper() and line.split()[1].endswith("/12")]
    steep = [" ".join(row) for row in rows if int(row[1].split("/")[0]) > 14]
    assert steep and all("implausible pitch" in line for line in steep)  # never passed as measured
    assert "resampled: The DSM is resampled" in out  # what the figures rest on
    assert not any(line != line.rstrip() for line in out.splitlines())
