"""Synthetic report inputs at the sizes real claims reach: a roof of many facets in several
structures (random pitches, facings, areas and lines; each facet a cell of a grid, `tile`), and
photos using every tag tier, with detections of mixed type and confidence."""

from __future__ import annotations

import random

from reports.inputs import Geometry, Photo

FACETS = 40
PHOTOS = 60
DETECTIONS = 30
COMPASS = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


def _letters(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else "A" + chr(ord("A") + i - 26)


def tile(i: int) -> list[tuple[float, float]]:
    """Facet i's outline: 5.5 x 4.5 m cells, eight to a row, so a drawing of many facets is a grid."""
    x, y = (i % 8) * 6.0, (i // 8) * 5.0
    return [(x, y), (x + 5.5, y), (x + 5.5, y + 4.5), (x, y + 4.5)]


def roof(rng: random.Random, facets: int = FACETS) -> Geometry:
    planes, edges = [], []
    for i in range(facets):
        azimuth = rng.uniform(0, 360)
        area = rng.uniform(40, 900)
        planes.append(
            {
                "id": _letters(i), "pitch_deg": rng.uniform(14, 45), "pitch": "8/12", "azimuth_deg": azimuth,
                "facing": COMPASS[round(azimuth / 45) % 8], "area_sqft": area, "footprint_sqft": area * 0.85,
                "rms_m": 0.03, "count": 3000, "structure": str(1 + i // 10),
                "outline": tile(i),
            }
        )  # fmt: skip
        edges.append({"kind": "eave", "facets": [_letters(i)], "length_ft": rng.uniform(8, 40)})
        edges.append({"kind": "rake", "facets": [_letters(i)], "length_ft": rng.uniform(8, 30)})
        if i % 10:
            kind = rng.choice(("ridge", "hip", "valley"))
            edges.append({"kind": kind, "facets": [_letters(i - 1), _letters(i)], "length_ft": rng.uniform(5, 40)})
    return Geometry.model_validate({"planes": planes, "edges": edges, "source": {"resolution_m": 0.25}})


def photos(rng: random.Random, count: int = PHOTOS, facets: int = FACETS) -> list[Photo]:
    out = []
    for n in range(count):
        tier = n % 3
        tags = (
            {"facet": _letters(rng.randrange(facets))}
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
