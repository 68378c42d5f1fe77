"""The roof report's cost: a 40-facet roof with 60 photos (30 detections each, every tag tier), built
as `dominus report` and `POST /v1/reports` build it (`reports.report.build_report`, QC gates included),
then written out as JSON, and its artifacts (CSVs, four SVG diagrams, the damage map's PNG). Inputs
are made here (evaluation.reports.synthetic), not read from disk, so the figure is the report's own.
Then the cost of placing drone photos (evaluation.reports.drone: a dormered hip roof, 10 photos):
the report with them placed, less the report without them, per photo."""

from __future__ import annotations

import json
import random

from bench.common import fmt, median, print_table, time_runs
from evaluation.geometry.synthetic import SceneSpec
from evaluation.reports.drone import fly
from evaluation.reports.synthetic import DETECTIONS, FACETS, PHOTOS, photos, roof
from reports.diagrams import damage_svg
from reports.exports import artifacts
from reports.inputs import Photo
from reports.profiles import CarrierProfile
from reports.report import ReportInput, build_report


def run() -> None:
    rng = random.Random(15)
    given = ReportInput(
        geometry=roof(rng), photos=photos(rng), profile=CarrierProfile(name="bench", hits_per_test_square=8)
    )
    times = time_runs(lambda: json.dumps(build_report(given)), runs=7)
    alone = ReportInput(geometry=given.geometry, profile=given.profile)
    bare = time_runs(lambda: json.dumps(build_report(alone)), runs=7)
    per_photo = (median(times) - median(bare)) / PHOTOS
    report = build_report(given)
    size = len(json.dumps(report))
    drawn = time_runs(lambda: artifacts(report, given.geometry, 8.0), runs=3)
    png = time_runs(lambda: damage_svg(given.geometry, report, 8.0), runs=3)
    flight = fly(SceneSpec(roof="hip_dormers", pitch=8, rotation_deg=25, resolution=0.25, seed=3), seed=3, ring=8)
    drone = [Photo.model_validate(p) for p in flight.photos]
    placed = ReportInput(geometry=flight.geometry, photos=drone)
    unplaced = ReportInput(geometry=flight.geometry)
    per_drone_photo = (
        median(time_runs(lambda: build_report(placed), runs=3))
        - median(time_runs(lambda: build_report(unplaced), runs=3))
    ) / len(drone)
    print_table(
        f"Roof report: {FACETS} facets, {PHOTOS} photos x {DETECTIONS} detections",
        ("case", "median s", "per photo ms", "JSON kB"),
        [
            ("report with photos", fmt(median(times), 4), fmt(per_photo * 1000, 3), fmt(size / 1000, 1)),
            ("measurement only", fmt(median(bare), 4), "-", "-"),
            ("artifacts: CSVs, 4 SVGs, damage-map PNG", fmt(median(drawn), 4), "-", "-"),
            ("the damage-map SVG alone (labels cached)", fmt(median(png), 4), "-", "-"),
            (
                f"drone photos placed ({len(drone)} photos, {sum(len(p.detections) for p in drone)} detections)",
                "-",
                fmt(per_drone_photo * 1000, 1),
                "-",
            ),
        ],
    )
