"""Point clouds as airborne LiDAR delivers them (evaluation.geometry.scans): stray points do not
sink the ground or raise spikes, and each facet's plane is fitted on its own points."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from evaluation.geometry.scans import ScanSpec, airborne_scan, scan_set, score_scan
from evaluation.geometry.synthetic import SceneSpec
from geometry.analysis import analyze_cloud
from geometry.cloud_planes import planes_on_points
from geometry.points import PointCloud, points_to_grid
from geometry.segment import Plane, Segmentation

HIP = SceneSpec(roof="hip", pitch=10, rotation_deg=37, noise_sigma=0.0, seed=9)


def test_a_scan_has_its_density_its_faces_its_walls_and_its_strays() -> None:
    scan = airborne_scan(HIP, ScanSpec(density=8.0, stripes=0.6, walls=1.5, outliers=0.01, seed=3))
    xyz = scan.cloud.xyz
    extent = np.ptp(xyz[:, 0]) * np.ptp(xyz[:, 1])
    assert 5.0 < len(xyz) / extent < 10.0  # facets facing away thin out a little
    assert set(np.unique(scan.faces).tolist()) == {-1, *(f.id for f in scan.scene.facets)}
    on_faces = scan.faces >= 0
    planes = {f.id: f for f in scan.scene.facets}
    # a face's points lie on its true plane, within the range noise
    for face, facet in planes.items():
        mine = scan.faces == face
        off = xyz[mine, 2] - facet.height_at(xyz[mine, 0], xyz[mine, 1])
        assert abs(float(np.median(off))) < 0.02 and float(np.std(off)) < 0.1
    ground = float(np.percentile(xyz[:, 2], 5))
    assert ((xyz[:, 2] > ground + 8.0) | (xyz[:, 2] < ground - 0.8)).sum() >= 0.5 * 0.01 * len(xyz)  # strays
    assert on_faces.mean() > 0.2


def test_a_thinner_scan_facing_away_keeps_fewer_points() -> None:
    facing = airborne_scan(HIP, ScanSpec(density=10.0, off_nadir_deg=0.0, walls=0.0, outliers=0.0, seed=1))
    tilted = airborne_scan(HIP, ScanSpec(density=10.0, off_nadir_deg=20.0, walls=0.0, outliers=0.0, seed=1))
    counts = [np.bincount(s.faces[s.faces >= 0]) for s in (facing, tilted)]
    # some face of the tilted scan looks away from the sensor and gets fewer points
    assert (counts[1] < 0.85 * counts[0]).any()


def test_a_stray_point_is_no_spike_and_a_low_one_no_pit() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 20, 8000), rng.uniform(-20, 0, 8000)
    z = np.where((x > 6) & (x < 14) & (y > -14) & (y < -6), 5.0, 0.0) + rng.normal(0, 0.02, 8000)
    xyz = np.column_stack([x, y, z])
    xyz[0] = [3.0, -3.0, 15.0]  # a bird over the lawn
    xyz[1] = [10.0, -10.0, 20.0]  # and one over the roof
    xyz[2] = [17.0, -17.0, -12.0]  # a low multipath return
    grid, _ = points_to_grid(PointCloud(xyz), 0.5)
    assert np.nanmax(grid.z) < 6.0
    assert np.nanmin(grid.z) > -1.0
    roof = grid.z[16:24, 16:24]
    assert np.isfinite(roof).all() and np.allclose(roof, 5.0, atol=0.15)  # the roof keeps its edge and body


def test_low_strays_do_not_sink_the_ground_under_a_roof() -> None:
    scan = airborne_scan(HIP, ScanSpec(density=8.0, outliers=0.01, seed=9))
    report = analyze_cloud(scan.cloud).report
    assert all(not f.flat for f in report.facets)  # the lawn is not taken for a flat roof
    assert len([f for f in report.facets if f.area_m2 * 10.7639 >= 100]) == 4  # the hip's four faces


def test_planes_are_fitted_on_the_points_not_on_the_cells_highest() -> None:
    # A facet of 20 x 10 m at 6/12 with 3 cm noise, sparse and uneven: the highest point per cell
    # is noise's upper tail, more so where cells hold more points.
    rng = np.random.default_rng(4)
    n = 6000
    x, y = rng.uniform(0, 20, n), rng.uniform(-10, 0, n)
    keep = rng.uniform(0, 1, n) < np.where(x < 10, 1.0, 0.3)  # denser on the west half
    x, y = x[keep], y[keep]
    slope = 0.5
    z = 3.0 + slope * (y + 10) + rng.normal(0, 0.03, x.size)
    xyz = np.column_stack([x, y, z])
    grid, _ = points_to_grid(PointCloud(xyz), 0.5)
    labels = np.where(np.isfinite(grid.z), 0, -1).astype(np.int32)
    gx, gy = grid.xy()
    valid = labels == 0
    dsm = np.linalg.lstsq(np.column_stack([gx[valid], gy[valid], np.ones(valid.sum())]), grid.z[valid], rcond=None)[0]
    segmentation = Segmentation(labels, [Plane(dsm[0], dsm[1], dsm[2], 0.0, int(valid.sum()))], 0.03, valid)
    corner = np.array([x.min(), y.max(), 0.0])
    refitted = planes_on_points(xyz - corner, segmentation, grid).planes[0]
    truth = math.degrees(math.atan(slope))
    assert abs(refitted.pitch_deg - truth) < 0.1
    assert abs(refitted.pitch_deg - truth) < abs(segmentation.planes[0].pitch_deg - truth)
    assert refitted.count == segmentation.planes[0].count  # still the cells it holds


@pytest.mark.parametrize("index", [1, 6, 14, 22])
def test_a_scanned_roof_measures_as_well_as_its_points_allow(index: int) -> None:
    spec, scan_spec = scan_set(3)[index]  # a set no figure was tuned on
    scan = airborne_scan(spec, scan_spec)
    analysis = analyze_cloud(scan.cloud)
    assert analysis.point_labels is not None and analysis.point_labels.shape == (len(scan.cloud),)
    scores = score_scan(scan, analysis.point_labels, [f.pitch_deg for f in analysis.report.facets])
    big = [s for s in scores if s.truth_sqft >= 100]
    assert all(s.found for s in big)
    assert statistics.median(s.pitch_error_deg or 0.0 for s in big) < 0.5
    assert all(s.rise_right for s in big)


def test_a_cloud_far_from_the_origin_is_fitted_in_its_own_frame() -> None:
    scan = airborne_scan(HIP, ScanSpec(density=8.0, outliers=0.0, seed=2))
    near = analyze_cloud(scan.cloud).report
    far = analyze_cloud(PointCloud(scan.cloud.xyz + np.array([412_345.0, 5_612_345.0, 0.0]))).report  # UTM metres
    assert [round(f.pitch_deg, 3) for f in near.facets] == [round(f.pitch_deg, 3) for f in far.facets]


def test_each_point_takes_the_facet_it_lies_on_not_its_cells() -> None:
    scan = airborne_scan(HIP, ScanSpec(density=12.0, walls=2.0, outliers=0.01, seed=6))
    analysis = analyze_cloud(scan.cloud)
    labels = analysis.point_labels
    assert labels is not None
    # which measured facet is which face: the face most of its points are on
    faces = scan.faces
    match = {
        lab: int(np.bincount(faces[(labels == lab) & (faces >= 0)]).argmax()) for lab in np.unique(labels[labels >= 0])
    }
    labelled = labels >= 0
    right = np.array([match[int(lab)] == face for lab, face in zip(labels[labelled], faces[labelled], strict=True)])
    assert right.mean() > 0.97  # points across a crease go to their own side
    off_roof = faces < 0  # walls, ground, strays
    assert (labels[off_roof] >= 0).mean() < 0.05
