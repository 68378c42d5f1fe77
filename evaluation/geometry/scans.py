"""Simulated airborne LiDAR scans of the synthetic roofs, with a truth face per point.

A real scan of a house is not a DSM: its points lie along scan lines whose spacing varies across the
swath (stripes of dense and sparse lines where the mirror turns and where strips overlap), a facet
tilted away from the sensor gets fewer points than one facing it, a tree hides part of a roof and
puts its own points above it, the sensor catches the walls below the eaves, and a few points are
far off (birds, multipath, a low return through a skylight). Each of those is a parameter here, and
`scan_set` draws them per scan, so a figure over the set is over all of them, not one setting.

Each point carries the truth facet of the roof plane it lies on (-1: ground, wall, tree, chimney,
outlier), so per-face figures compare a measured facet with its face's true plane and with the
least-squares plane of the face's own points (what the data allows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from evaluation.geometry.synthetic import Scene, SceneSpec, build_scene, standard_set
from geometry.points import PointCloud

FloatArray = npt.NDArray[np.float64]
TRUTH_RESOLUTION_M = 0.05  # the noiseless surface points are drawn from


@dataclass(frozen=True)
class ScanSpec:
    density: float = 10.0  # points per square metre, on average over the swath
    heading_deg: float = 0.0  # the flight direction, clockwise from north
    stripes: float = 0.5  # 0: even scan lines; 1: lines bunch in pairs, leaving gaps as wide as two
    off_nadir_deg: float = 10.0  # the sensor's look angle across the track: facets facing away thin out
    noise_m: float = 0.03  # range noise, along the vertical
    jitter_m: float = 0.05  # horizontal position noise
    walls: float = 0.5  # points on the walls, per metre of eave, per metre of wall height
    outliers: float = 0.005  # share of points far off the surface
    seed: int = 0


@dataclass(frozen=True)
class Scan:
    scene: Scene  # the truth: planes, faces, outlines (its grid is the noiseless surface)
    spec: ScanSpec
    cloud: PointCloud
    faces: npt.NDArray[np.int32]  # the truth facet id per point, -1 off the roof planes


def airborne_scan(scene_spec: SceneSpec, scan: ScanSpec) -> Scan:
    """A scan of the scene: scan lines across the track, thinned on facets facing away, with walls,
    outliers and the scene's own tree and chimney (their points are off the roof planes)."""
    truth = build_scene(replace(scene_spec, resolution=TRUTH_RESOLUTION_M, noise_sigma=0.0))
    rng = np.random.default_rng(scan.seed)
    xy = scan_lines(truth, scan, rng)
    z, faces = surface_at(truth, xy)
    keep = facing_share(truth, faces, scan) > rng.uniform(0.0, 1.0, len(z))
    xy, z, faces = xy[keep], z[keep], faces[keep]
    z = z + rng.normal(0.0, scan.noise_m, len(z))
    xy = xy + rng.normal(0.0, scan.jitter_m, xy.shape)
    wall_xyz = wall_points(truth, scan, rng)
    points = np.vstack([np.column_stack([xy, z]), wall_xyz])
    faces = np.concatenate([faces, np.full(len(wall_xyz), -1, dtype=np.int32)])
    far = rng.uniform(0.0, 1.0, len(points)) < scan.outliers
    points[far, 2] += rng.choice([-1.0, 1.0], int(far.sum()), p=[0.3, 0.7]) * rng.uniform(1.0, 15.0, int(far.sum()))
    faces[far] = -1
    order = rng.permutation(len(points))  # a file's order says nothing
    return Scan(truth, scan, PointCloud(points[order]), faces[order])


def scan_lines(truth: Scene, scan: ScanSpec, rng: np.random.Generator) -> FloatArray:
    """Points on lines across the flight direction over the scene's extent, bunched in stripes."""
    rows, cols = truth.grid.shape
    width, height = cols * truth.grid.dx, rows * truth.grid.dy
    spacing = 1.0 / math.sqrt(scan.density)
    heading = math.radians(scan.heading_deg)
    along = np.array([math.sin(heading), math.cos(heading)])  # the track, x east y north
    across = np.array([along[1], -along[0]])
    reach = math.hypot(width, height) / 2
    centre = np.array([width / 2, -height / 2])
    lines = np.arange(-reach, reach, spacing)
    lines = lines + np.where(np.arange(len(lines)) % 2 == 0, 1.0, -1.0) * scan.stripes * spacing / 2
    steps = np.arange(-reach, reach, spacing)
    a, c = np.meshgrid(lines, steps, indexing="ij")
    c = c + rng.uniform(-0.5, 0.5, c.shape) * spacing * 0.3  # pulses are not on a perfect lattice
    xy = centre + a.reshape(-1, 1) * along + c.reshape(-1, 1) * across
    inside = (xy[:, 0] > 0) & (xy[:, 0] < width) & (xy[:, 1] < 0) & (xy[:, 1] > -height)
    kept: FloatArray = xy[inside]
    return kept


def surface_at(truth: Scene, xy: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int32]]:
    """The noiseless surface's height (bilinear) and the visible truth facet (nearest cell) at points."""
    grid = truth.grid
    col = xy[:, 0] / grid.dx - 0.5
    row = -xy[:, 1] / grid.dy - 0.5
    z = np.nan_to_num(grid.z, nan=float(np.nanmin(grid.z))).astype(np.float32)
    heights = cv2.remap(
        z,
        col.astype(np.float32).reshape(-1, 1),
        row.astype(np.float32).reshape(-1, 1),
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    ).reshape(-1)
    r = np.clip(np.rint(row).astype(np.int64), 0, grid.shape[0] - 1)
    c = np.clip(np.rint(col).astype(np.int64), 0, grid.shape[1] - 1)
    faces = truth.truth_labels[r, c].astype(np.int32)
    # on a facet, its exact plane (bilinear rounds its creases off)
    planes = {f.id: f for f in truth.facets}
    for face in np.unique(faces[faces >= 0]).tolist():
        on = faces == face
        heights[on] = planes[face].height_at(xy[on, 0], xy[on, 1])
    return heights.astype(np.float64), faces


def facing_share(truth: Scene, faces: npt.NDArray[np.int32], scan: ScanSpec) -> FloatArray:
    """The share of pulses a facet returns: its cosine towards the sensor over the flat ground's.
    The sensor looks `off_nadir_deg` to the right of the track."""
    heading = math.radians(scan.heading_deg)
    look = math.radians(scan.off_nadir_deg)
    right = np.array([math.cos(heading), -math.sin(heading)])  # x east, y north: right of the track
    to_sensor = np.array([-right[0] * math.sin(look), -right[1] * math.sin(look), math.cos(look)])
    share = np.ones(len(faces))
    for facet in truth.facets:
        cosine = float(np.dot(facet.normal, to_sensor))
        share[faces == facet.id] = max(0.05, cosine / math.cos(look))
    return np.clip(share, 0.0, 1.0)


def wall_points(truth: Scene, scan: ScanSpec, rng: np.random.Generator) -> FloatArray:
    """Points on the walls under the eaves, between the ground and the roof's edge."""
    if scan.walls <= 0:
        return np.zeros((0, 3))
    grid = truth.grid
    roof = truth.roof_mask.astype(np.uint8)
    edge = roof & ~cv2.erode(roof, np.ones((3, 3), np.uint8)).astype(bool)
    rows, cols = np.nonzero(edge)
    if rows.size == 0:
        return np.zeros((0, 3))
    ground = float(np.nanpercentile(grid.z, 2))
    per_cell = scan.walls * grid.dx * 3.0  # about 3 m of wall below an eave
    count = rng.poisson(per_cell, rows.size)
    r, c = np.repeat(rows, count), np.repeat(cols, count)
    top = grid.z[r, c]
    z = ground + rng.uniform(0.0, 1.0, r.size) * np.maximum(top - ground - 0.3, 0.0)
    x, y = (c + 0.5) * grid.dx, -(r + 0.5) * grid.dy
    return np.column_stack([x, y, z])


def scan_set(seed: int = 0, count: int = 32) -> list[tuple[SceneSpec, ScanSpec]]:
    """Scans of the standard set's roofs, each with its own density (2-25 points a square metre),
    heading, stripes, look angle, noise (2-8 cm), walls and outliers (0-2 %)."""
    rng = np.random.default_rng(10_000 + seed)
    pairs = []
    for i, spec in enumerate(standard_set(seed)[:count]):
        scan = ScanSpec(
            density=float(rng.choice([2.0, 4.0, 8.0, 12.0, 25.0])),
            heading_deg=float(rng.uniform(0, 360)),
            stripes=float(rng.uniform(0.0, 0.8)),
            off_nadir_deg=float(rng.uniform(0.0, 20.0)),
            noise_m=float(rng.uniform(0.02, 0.08)),
            jitter_m=float(rng.uniform(0.02, 0.1)),
            walls=float(rng.uniform(0.0, 2.0)),
            outliers=float(rng.uniform(0.0, 0.02)),
            seed=seed * 1000 + i,
        )
        pairs.append((spec, scan))
    return pairs


@dataclass(frozen=True)
class FaceScore:
    scan: str
    face: str
    truth_sqft: float  # its sloped area
    points: int
    found: bool
    pitch_error_deg: float | None = None  # the measured facet's pitch against the true plane's
    data_error_deg: float | None = None  # the least-squares plane of the face's own points, against the truth
    rise_right: bool | None = None


def score_scan(scan: Scan, point_labels: npt.NDArray[np.int32], pitches_deg: list[float]) -> list[FaceScore]:
    """Per truth face: found when one measured facet holds at least half of the face's points and at
    least half of that facet's points are the face's; then its pitch against the truth, and the
    least-squares plane of the face's points against the truth (the data's own limit)."""
    scores = []
    name = f"{scan.scene.spec.name}-{scan.spec.density:g}ppm2"
    for face in scan.scene.facets:
        mine = scan.faces == face.id
        count = int(mine.sum())
        truth_sqft = face.area_sqft
        labels = point_labels[mine]
        labels = labels[labels >= 0]
        if count < 3 or labels.size < 0.5 * count:
            scores.append(FaceScore(name, face.name, truth_sqft, count, False))
            continue
        label = int(np.bincount(labels).argmax())
        overlap = int((labels == label).sum())
        if overlap < 0.5 * count or overlap < 0.5 * int((point_labels == label).sum()):
            scores.append(FaceScore(name, face.name, truth_sqft, count, False))
            continue
        x, y, z = scan.cloud.xyz[mine].T
        a, b, _ = np.linalg.lstsq(np.column_stack([x, y, np.ones_like(x)]), z, rcond=None)[0]
        data_pitch = math.degrees(math.atan(math.hypot(a, b)))
        pitch = pitches_deg[label]
        rise = 12.0 * math.tan(math.radians(pitch))
        scores.append(
            FaceScore(
                name,
                face.name,
                truth_sqft,
                count,
                True,
                abs(pitch - face.pitch_deg),
                abs(data_pitch - face.pitch_deg),
                round(rise) == round(face.pitch_rise),
            )
        )
    return scores
