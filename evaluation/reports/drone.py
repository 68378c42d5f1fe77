"""Synthetic drone flights over synthetic roofs, with exact truth: hail marks at known points of known
facets, overlapping photos from nadir and oblique poses, and each photo's detections where its camera
sees the marks. What the report must do with them: put each mark on its facet, within a foot of
where it is, and count a mark seen from several photos once.

- The roof: `evaluation.geometry.synthetic` (its DSM analysed by the geometry function as a user's
  would be), georeferenced at a UTM origin so photos carry WGS 84 positions as drones write them.
- Marks: uniform over each true facet's area (edges and corners included), at the facet's height.
- Photos: a ring of oblique views at 25-45 m and one or two near-nadir ones, a 24 mm (35 mm
  equivalent) camera at 4000 x 3000; RTK-grade pose noise (2 cm, 3 cm up, 0.1 degree) in what
  each photo's metadata says.
- Detections, two ways: where each mark in frame and not hidden by a nearer roof plane projects,
  with 2 px of detector jitter (fast); or, `rendered`, the dark spots found in the photo rendered
  from the true roof planes (`evaluation.reports.render`): spots seen edge-on, half hidden or
  touching come out as an image shows them.
- Truth per mark: the measured facet its point lies on (where the geometry split a true facet in two,
  or merged two, the report can only name measured facets); where measured outlines overlap, the
  one whose plane passes nearest the point; in a gap between outlines, its true facet's measured
  letter (the measured facet holding most of the true facet's area).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

from evaluation.geometry.synthetic import Scene, SceneSpec, build_scene
from evaluation.reports.render import dark_spots, render, true_surfaces
from geometry.analysis import analyze_grid
from reports.camera import Camera, camera_of
from reports.inputs import CameraPose, Geometry
from reports.placement import Surface, cast, surfaces
from reports.polygons import inside

CRS = "EPSG:32617"  # UTM 17N: somewhere in the US south-east, where hail claims are
ORIGIN = (512_340.0, 3_761_880.0)
WIDTH, HEIGHT = 4000, 3000
FOCAL_35MM = 24.0
BOX_PX = 14
Vec = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TrueMark:
    number: int
    facet: str  # the measured facet's letter
    point: tuple[float, float, float]


@dataclass(frozen=True)
class Flight:
    geometry: Geometry
    marks: list[TrueMark]
    photos: list[dict[str, Any]]  # vision results with `camera`, as the report reads them
    seen: dict[int, list[str]]  # mark number -> the photos that detected it
    scene: Scene
    detected: dict[tuple[str, int], int]  # (photo, detection id) -> the mark it is


def georeferenced(scene: Scene) -> Geometry:
    document = analyze_grid(scene.grid).to_json()
    document["source"] = {**document["source"], "crs": CRS, "origin": list(ORIGIN)}
    return Geometry.model_validate(document)


def _letters(scene: Scene, geometry: Geometry) -> dict[int, str]:
    """Each true facet's measured letter: the measured facet whose outline holds most of its area."""
    roof = surfaces(geometry)
    found: dict[int, str] = {}
    for facet in scene.facets:
        points = np.array([p for poly in facet.polygons for p in _inside_points(poly, 60)])
        counts = {s.id: int(s.contains(points).sum()) for s in roof} if len(points) else {}
        if counts and max(counts.values()) > 0:
            found[facet.id] = max(counts, key=lambda k: counts[k])
    return found


def _inside_points(poly: tuple[tuple[float, float], ...], n: int) -> list[tuple[float, float]]:
    xs, ys = [p[0] for p in poly], [p[1] for p in poly]
    grid = [
        (min(xs) + (i + 0.5) / n * (max(xs) - min(xs)), min(ys) + (j + 0.5) / n * (max(ys) - min(ys)))
        for i in range(n)
        for j in range(n)
    ]
    held = inside(np.array(grid), np.array(poly))
    return [g for g, keep in zip(grid, held, strict=True) if keep]


def _sample_marks(
    scene: Scene, roof: list[Surface], letters: dict[int, str], per_100sqft: float, rng: random.Random
) -> list[TrueMark]:
    marks: list[TrueMark] = []
    for facet in scene.facets:
        if facet.id not in letters:
            continue
        pieces = [(poly, abs(_area(poly))) for poly in facet.polygons]
        count = max(1, round(facet.area_sqft / 100.0 * per_100sqft))
        for _ in range(count):
            poly = rng.choices([p for p, _ in pieces], weights=[a for _, a in pieces])[0]
            x, y = _uniform_in(poly, rng)
            z = float(facet.height_at(x, y))
            marks.append(TrueMark(len(marks) + 1, _holder(roof, (x, y, z)) or letters[facet.id], (x, y, z)))
    return marks


def _holder(roof: list[Surface], point: tuple[float, float, float]) -> str | None:
    x, y, z = point
    holding = [s for s in roof if s.contains(np.array([[x, y]]))[0]]
    return min(holding, key=lambda s: abs(s.a * x + s.b * y + s.c - z)).id if holding else None


def _area(poly: tuple[tuple[float, float], ...]) -> float:
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1], strict=True))


def _uniform_in(poly: tuple[tuple[float, float], ...], rng: random.Random) -> tuple[float, float]:
    """A uniform point in a convex polygon: a triangle of its fan by area, then a point in it."""
    fan = [(poly[0], poly[i], poly[i + 1]) for i in range(1, len(poly) - 1)]
    areas = [abs(_area(t)) for t in fan]
    a, b, c = rng.choices(fan, weights=areas)[0]
    r1, r2 = rng.random(), rng.random()
    if r1 + r2 > 1:
        r1, r2 = 1 - r1, 1 - r2
    return a[0] + r1 * (b[0] - a[0]) + r2 * (c[0] - a[0]), a[1] + r1 * (b[1] - a[1]) + r2 * (c[1] - a[1])


def _poses(geometry: Geometry, rng: random.Random, ring: int) -> list[tuple[float, float, float, float, float]]:
    """(x, y, height above ground, yaw, pitch) on the geometry's frame: oblique views from a ring
    around the roof, looking at its centre, and near-nadir ones over it."""
    corners = np.array([c for p in geometry.planes if p.outline for c in p.outline])
    cx, cy = corners.mean(axis=0)
    poses = []
    for k in range(ring):
        bearing = 2 * math.pi * k / ring + rng.uniform(-0.2, 0.2)
        distance, height = rng.uniform(18, 30), rng.uniform(25, 45)
        x, y = cx + distance * math.sin(bearing), cy + distance * math.cos(bearing)
        yaw = math.degrees(math.atan2(cx - x, cy - y)) % 360
        pitch = -math.degrees(math.atan2(height - 4.0, distance))
        poses.append((x, y, height, yaw, pitch))
    for _ in range(2):
        poses.append(
            (
                cx + rng.uniform(-3, 3),
                cy + rng.uniform(-3, 3),
                rng.uniform(30, 45),
                rng.uniform(0, 360),
                rng.uniform(-90, -80),
            )
        )
    return poses


@dataclass(frozen=True)
class Noise:
    """RTK-grade by default: GNSS 2 cm across and 3 cm up, gimbal angles 0.1 degree, 2 px on a
    detection's centre."""

    position_m: float = 0.02
    height_m: float = 0.03
    angle_deg: float = 0.1
    pixel: float = 2.0


def _visible(camera: Camera, roof: list[Surface], points: Vec) -> tuple[Vec, Vec, npt.NDArray[np.int64]]:
    """The marks in frame and not hidden by a nearer roof plane: their pixels, and which they are."""
    u, v, depth = camera.pixels(points)
    framed = np.flatnonzero((depth > 0) & (u >= BOX_PX) & (u < WIDTH - BOX_PX) & (v >= BOX_PX) & (v < HEIGHT - BOX_PX))
    which, hits = cast(camera, roof, u[framed], v[framed])
    visible = framed[(which >= 0) & (np.linalg.norm(hits - points[framed], axis=1) < 0.05)]
    return u[visible], v[visible], visible


def _projected(
    camera: Camera, roof: list[Surface], points: Vec, jitter_px: float, rng: random.Random
) -> list[tuple[float, float, int]]:
    """Detections where the visible marks project, with a detector's jitter."""
    u, v, visible = _visible(camera, roof, points)
    return [
        (float(x) + rng.gauss(0, jitter_px), float(y) + rng.gauss(0, jitter_px), int(i))
        for x, y, i in zip(u, v, visible, strict=True)
    ]


def _rendered(camera: Camera, truth_roof: list[Surface], points: Vec, seed: int) -> list[tuple[float, float, int]]:
    """Detections of the dark spots in the rendered photo, each the mark projecting nearest it (a
    spot of two marks that touch in the image is one detection, of one of them)."""
    spots = dark_spots(render(camera, truth_roof, points, seed))
    u, v, visible = _visible(camera, truth_roof, points)
    found = []
    for x, y in spots:
        if len(visible):
            nearest = int(np.argmin(np.hypot(u - x, v - y)))
            if math.hypot(u[nearest] - x, v[nearest] - y) <= BOX_PX / 2:
                found.append((x, y, int(visible[nearest])))
    return found


def fly(
    spec: SceneSpec,
    *,
    seed: int = 1,
    per_100sqft: float = 3.0,
    ring: int = 5,
    noise: Noise = Noise(),
    rendered: bool = False,
) -> Flight:
    """A flight over the roof. `rendered`: each photo is rendered from the true roof and its
    detections are the dark spots found in it (`noise.pixel` is then unused: the spots' centres
    carry their own error); else the detections are where the visible marks project, jittered."""
    rng = random.Random(seed)
    scene = build_scene(spec)
    geometry = georeferenced(scene)
    letters = _letters(scene, geometry)
    roof = surfaces(geometry)
    truth_roof = true_surfaces(scene) if rendered else None
    marks = _sample_marks(scene, roof, letters, per_100sqft, rng)
    to_wgs84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    photos: list[dict[str, Any]] = []
    seen: dict[int, list[str]] = {}
    detected: dict[tuple[str, int], int] = {}
    points = np.array([m.point for m in marks])
    for number, (x, y, height, yaw, pitch) in enumerate(_poses(geometry, rng, ring), start=1):
        name = f"drone-{number:02d}"
        lon, lat = to_wgs84.transform(ORIGIN[0] + x, ORIGIN[1] + y)
        true_pose = CameraPose(
            latitude=lat, longitude=lon, altitude_m=height, yaw_deg=yaw, pitch_deg=pitch, focal_35mm=FOCAL_35MM
        )
        camera = camera_of(true_pose, geometry, WIDTH, HEIGHT)
        if truth_roof is None:
            found = _projected(camera, roof, points, noise.pixel, rng)
        else:
            found = _rendered(camera, truth_roof, points, seed * 100 + number)
        detections = []
        for k, (cu, cv, index) in enumerate(found, start=1):
            box = [round(cu - BOX_PX / 2), round(cv - BOX_PX / 2), round(cu + BOX_PX / 2), round(cv + BOX_PX / 2)]
            detections.append({"id": k, "type": "hail_hit", "severity": 2, "confidence": 0.9, "box": box})
            seen.setdefault(marks[index].number, []).append(name)
            detected[name, k] = marks[index].number
        noisy = true_pose.model_copy(
            update={
                "latitude": lat + rng.gauss(0, noise.position_m) / 111_320,
                "longitude": lon + rng.gauss(0, noise.position_m) / (111_320 * math.cos(math.radians(lat))),
                "altitude_m": height + rng.gauss(0, noise.height_m),
                "yaw_deg": yaw + rng.gauss(0, noise.angle_deg),
                "pitch_deg": max(-90.0, pitch + rng.gauss(0, noise.angle_deg)),
            }
        )
        photos.append(
            {
                "id": name,
                "image": {"width": WIDTH, "height": HEIGHT, "sha256": f"{number:064x}"},
                "detections": detections,
                "model": "synthetic",
                "summary": "",
                "camera": noisy.model_dump(mode="json"),
            }
        )
    return Flight(geometry, marks, photos, seen, scene, detected)
