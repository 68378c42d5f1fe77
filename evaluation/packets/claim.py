"""A synthetic claim to render packets from: a roof of two structures (the geometry function's own
analysis of a synthetic two-building DSM), photos as uploaded (JPEGs with EXIF capture time and GPS,
roof texture with dark hail spots), their detections around the spots, tags of every tier (facet,
facing, test square, none), and the report built under a carrier profile.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from evaluation.geometry.synthetic import SceneSpec, build_scene
from geometry.analysis import analyze_grid
from reports.exports import artifacts
from reports.inputs import Geometry, Photo
from reports.profiles import CarrierProfile
from reports.report import ReportInput, build_report

ACME = CarrierProfile(name="Acme Mutual", version="3", hits_per_test_square=8, roof_replace_slopes=2)
BRIGHT = CarrierProfile(name="Bright Insurance", version="1", hits_per_test_square=20, min_coverage_sqft=150)
PHOTO_PX = (1600, 1200)


@dataclass(frozen=True)
class Claim:
    geometry: Geometry
    photos: list[Photo]  # the detections the report reads
    files: dict[str, bytes]  # photo id -> the JPEG as uploaded


def geometry() -> Geometry:
    scene = build_scene(SceneSpec(roof="two_buildings", pitch=7, rotation_deg=20, resolution=0.25, seed=5))
    return Geometry.model_validate(analyze_grid(scene.grid).to_json())


def jpeg(
    rng: np.random.Generator, spots: list[tuple[int, int]], when: str, gps: bool, size: tuple[int, int] = PHOTO_PX
) -> bytes:
    w, h = size
    shade = rng.normal(120, 14, (h // 6, w // 6)).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(shade).resize((w, h), Image.Resampling.BICUBIC).convert("RGB")
    pixels = np.asarray(image).copy()
    pixels[:: h // 24, :] = (80, 78, 76)  # shingle courses
    for x, y in spots:
        pixels[y - 6 : y + 6, x - 6 : x + 6] = (35, 30, 30)
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0132] = when
    exif.get_ifd(0x8769)[0x9003] = when
    if gps:
        exif.get_ifd(0x8825).update({1: "N", 2: (33.0, 59.0, 12.5), 3: "W", 4: (84.0, 12.0, 3.25)})
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def claim(count: int = 40, seed: int = 7, size: tuple[int, int] = PHOTO_PX) -> Claim:
    """`count` photos of `size` pixels (a phone's 4000 x 3000 for the benchmark; smaller for tests)."""
    rng = random.Random(seed)
    pixels = np.random.default_rng(seed)
    roof = geometry()
    letters = [p.id for p in roof.planes]
    facings = sorted({p.facing for p in roof.planes if p.facing != "flat"})
    photos, files = [], {}
    for n in range(count):
        tier = n % 4
        tags: dict[str, Any] = (
            {"facet": rng.choice(letters)}
            if tier == 0
            else {"facing": rng.choice(facings)}
            if tier == 1
            else {"facet": rng.choice(letters), "test_square": True}
            if tier == 2
            else {}
        )
        hits = rng.randrange(0, 16) if tier == 2 else rng.randrange(0, 8)
        spots = [(rng.randrange(40, size[0] - 40), rng.randrange(40, size[1] - 40)) for _ in range(hits)]
        when = f"2026:05:28 {9 + (n // 6) % 10:02d}:{(n * 7) % 60:02d}:00"
        data = jpeg(pixels, spots, when, gps=True, size=size)
        detections = [
            {"id": k + 1, "type": "hail_hit", "severity": 2, "confidence": round(rng.uniform(0.45, 0.99), 2),
             "box": [x - 9, y - 9, x + 9, y + 9]}
            for k, (x, y) in enumerate(spots)
        ]  # fmt: skip
        if n % 5 == 0:
            detections.append({"id": len(detections) + 1, "type": "wind_crease", "severity": 3, "confidence": 0.8,
                               "box": [100, 100, 300, 140]})  # fmt: skip
        document = {
            "id": f"photo{n:02d}",
            "image": {"width": size[0], "height": size[1], "sha256": hashlib.sha256(data).hexdigest()},
            "detections": detections,
            "tags": {"claim_id": "CLM-1042", **tags},
            "density": {"covered_sqft": 100.0} if tier != 2 else None,
            "scale": {"pixels_per_foot": 160.0, "source": "test_square"} if tier == 2 else None,
        }
        photos.append(Photo.model_validate(document))
        files[f"photo{n:02d}"] = data
    return Claim(roof, photos, files)


def write_report(c: Claim, profile: CarrierProfile, folder: Path) -> dict[str, Any]:
    """The report under `profile`, written as `dominus report --out` writes it."""
    report = build_report(ReportInput(geometry=c.geometry, photos=c.photos, profile=profile, claim_id="CLM-1042"))
    report["created_at"] = "2026-06-02T15:04:05.000Z"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, indent=2))
    for name, body in artifacts(report, c.geometry, profile.hits_per_test_square).items():
        (folder / name).write_bytes(body)
    return report


def write_photos(c: Claim, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in c.files.items():
        (folder / f"IMG_{name}.jpg").write_bytes(data)
