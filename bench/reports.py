"""The roof report's cost: a 40-facet roof with 60 photos (30 detections each, every tag tier), built
as `dominus report` and `POST /v1/reports` build it (`reports.report.build_report`, QC gates included),
then written out as JSON. Inputs are made here, not read from disk, so the figure is the report's own."""

from __future__ import annotations

import json
import random

from bench.common import fmt, median, print_table, time_runs
from reports.inputs import Geometry, Photo
from reports.profiles import CarrierProfile
from reports.report import ReportInput, build_report

FACETS = 40
PHOTOS = 60
DETECTIONS = 30
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def _letters(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else "A" + chr(ord("A") + i - 26)


def roof(rng: random.Random) -> Geometry:
    planes, edges = [], []
    for i in range(FACETS):
        azimuth = rng.uniform(0, 360)
        area = rng.uniform(40, 900)
        planes.append(
            {
                "id": _letters(i), "pitch_deg": rng.uniform(14, 45), "pitch": "8/12", "azimuth_deg": azimuth,
                "facing": COMPASS[round(azimuth / 45) % 8], "area_sqft": area, "footprint_sqft": area * 0.85,
                "rms_m": 0.03, "count": 3000, "structure": str(1 + i // 10),
                "outline": [[0, 0], [10, 0], [10, 6], [0, 6]],
            }
        )  # fmt: skip
        edges.append({"kind": "eave", "facets": [_letters(i)], "length_ft": rng.uniform(8, 40)})
        edges.append({"kind": "rake", "facets": [_letters(i)], "length_ft": rng.uniform(8, 30)})
        if i % 10:
            kind = rng.choice(("ridge", "hip", "valley"))
            edges.append({"kind": kind, "facets": [_letters(i - 1), _letters(i)], "length_ft": rng.uniform(5, 40)})
    return Geometry.model_validate({"planes": planes, "edges": edges, "source": {"resolution_m": 0.25}})


def photos(rng: random.Random) -> list[Photo]:
    out = []
    for n in range(PHOTOS):
        tier = n % 3
        tags = (
            {"facet": _letters(rng.randrange(FACETS))}
            if tier == 0
            else {"facing": rng.choice(COMPASS)}
            if tier == 1
            else {}
        )
        detections = [
            {"id": k + 1, "type": rng.choice(("hail_hit", "hail_hit", "wind_crease")), "severity": 2,
             "confidence": rng.random(), "box": [k, k, k + 9, k + 9]}
            for k in range(DETECTIONS)
        ]  # fmt: skip
        density = {"covered_sqft": rng.uniform(40, 200), "test_square_max": rng.randrange(0, 12)}
        image = {"width": 4000, "height": 3000, "sha256": f"{n:064d}"}
        document = {"id": f"p{n}", "image": image, "detections": detections, "tags": tags, "density": density}
        out.append(Photo.model_validate(document))
    return out


def run() -> None:
    rng = random.Random(15)
    given = ReportInput(
        geometry=roof(rng), photos=photos(rng), profile=CarrierProfile(name="bench", hits_per_test_square=8)
    )
    times = time_runs(lambda: json.dumps(build_report(given)), runs=7)
    alone = ReportInput(geometry=given.geometry, profile=given.profile)
    bare = time_runs(lambda: json.dumps(build_report(alone)), runs=7)
    per_photo = (median(times) - median(bare)) / PHOTOS
    size = len(json.dumps(build_report(given)))
    print_table(
        f"Roof report: {FACETS} facets, {PHOTOS} photos x {DETECTIONS} detections",
        ("case", "median s", "per photo ms", "JSON kB"),
        [
            ("report with photos", fmt(median(times), 4), fmt(per_photo * 1000, 3), fmt(size / 1000, 1)),
            ("measurement only", fmt(median(bare), 4), "-", "-"),
        ],
    )
