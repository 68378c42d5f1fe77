"""House scenes for the roof mask and the shingle scale: a shingled slope seen through a pinhole
camera, with what surrounds a roof in a real photo (sky, the drip edge and gutter, a siding or brick
wall with a window, an overhanging tree, a shadow across the slope), and exact truth: which pixels
show shingles and how many pixels make an inch there.

It is drawn independently of `evaluation.vision.synthetic` (procedurally per pixel, from plane
coordinates, two by two samples per pixel) with the shingle dimensions roofers use: 3-tab at a 5 inch
exposure with 12 inch tabs, metric 3-tab at 5 5/8 with 13 1/4, laminates at 5 5/8 with teeth of
random width over a darker backer. Walls are periodic too (siding laps every 4 to 8 inches, brick
courses every 2 2/3): the decoys a course-period finder must not lock onto.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

Style = Literal["three_tab", "three_tab_metric", "laminate"]
Sky = Literal["blue", "overcast", "none"]
Wall = Literal["siding", "brick", "none"]
RGB = tuple[float, float, float]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]

# (exposure, tab or mean tooth width) in inches, as the style is made.
STYLES: dict[Style, tuple[float, float]] = {
    "three_tab": (5.0, 12.0),
    "three_tab_metric": (5.625, 13.25),
    "laminate": (5.625, 9.0),
}
BLENDS: dict[str, RGB] = {
    "charcoal": (58, 58, 62),
    "weathered_wood": (96, 86, 74),
    "estate_grey": (118, 118, 118),
    "desert_tan": (160, 140, 108),
    "barkwood": (86, 64, 48),
    "hunter_green": (58, 78, 62),
    "slate_blue": (80, 88, 104),
    "autumn_red": (104, 58, 46),
    "white": (196, 196, 192),
}
SIDING: tuple[RGB, ...] = ((232, 230, 222), (214, 200, 170), (170, 172, 170), (150, 170, 190), (226, 214, 160))
METAL: tuple[RGB, ...] = ((232, 232, 226), (40, 40, 42), (88, 66, 50), (190, 192, 194))


@dataclass(frozen=True)
class Scene:
    """What to draw. `span_in`: inches of roof across the photo's width at its centre."""

    seed: int = 0
    width: int = 1280
    height: int = 960
    style: Style = "laminate"
    blend: str = "charcoal"
    span_in: float = 110.0
    tilt_deg: float = 20.0  # the camera's angle off square-on, looking up the slope
    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    fov_deg: float = 65.0
    sky: Sky = "blue"  # above the ridge ("none": the slope fills the top of the photo)
    wall: Wall = "siding"  # below the eave, behind a gutter ("none": the slope fills the bottom)
    rake: bool = False  # the slope's side edge in the picture, with sky beyond it
    tree: bool = False  # a canopy overhanging a corner of the slope
    shadow: bool = False  # a shadow across part of the slope

    @property
    def name(self) -> str:
        extras = "".join(f"+{k}" for k in ("rake", "tree", "shadow") if getattr(self, k))
        return f"{self.style}-{self.blend}-sky_{self.sky}-wall_{self.wall}{extras}-tilt{self.tilt_deg:g}-s{self.seed}"


@dataclass(frozen=True)
class ScenePhoto:
    scene: Scene
    pixels: npt.NDArray[np.uint8]
    roof: npt.NDArray[np.bool_]  # pixels that show shingles
    ppi: float  # pixels per inch of roof at the photo's centre (square root of the Jacobian's determinant)
    ppi_gradient: tuple[float, float]  # its change per pixel along x and y there
    exposure_in: float


def homography(scene: Scene) -> F64:
    """Plane inches (u along the courses, v down the slope) to photo pixels; the optical axis meets
    the plane at its origin, `span_in` across the photo's width there when square-on."""
    f = scene.width / 2 / math.tan(math.radians(scene.fov_deg / 2))
    distance = f * scene.span_in / scene.width
    t, y, r = (math.radians(a) for a in (-scene.tilt_deg, scene.yaw_deg, scene.roll_deg))
    rx = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    rot = rz @ ry @ rx
    k = np.array([[f, 0, scene.width / 2], [0, f, scene.height / 2], [0, 0, 1]])
    h = k @ np.column_stack([rot[:, 0], rot[:, 1], [0.0, 0.0, distance]])
    return np.asarray(h / h[2, 2], np.float64)


def ppi_at(h: F64, x: float, y: float) -> float:
    """Pixels per inch of the plane at photo point (x, y): the square root of the Jacobian's determinant."""
    inv = np.linalg.inv(h)
    p = inv @ np.array([x, y, 1.0])
    u, v = p[0] / p[2], p[1] / p[2]
    d = 1e-3
    pts = np.array([[u, v, 1.0], [u + d, v, 1.0], [u, v + d, 1.0]]) @ h.T
    pts = pts[:, :2] / pts[:, 2:3]
    ju, jv = (pts[1] - pts[0]) / d, (pts[2] - pts[0]) / d
    return math.sqrt(abs(float(ju[0] * jv[1] - ju[1] * jv[0])))


def _hash(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64] | int, seed: int) -> F32:
    """A uniform 0..1 value per integer pair, the same wherever it is asked for."""
    x = (a.astype(np.uint64) * np.uint64(73856093)) ^ (np.asarray(b).astype(np.uint64) * np.uint64(19349663))
    x ^= np.uint64(seed * 83492791 + 1)
    x = (x ^ (x >> np.uint64(13))) * np.uint64(0x5BD1E995)
    x ^= x >> np.uint64(15)
    return np.asarray((x & np.uint64(0xFFFFFF)).astype(np.float32) / np.float32(0xFFFFFF), np.float32)


def _shingles(scene: Scene, u: F64, v: F64, rng: np.random.Generator) -> F32:
    """Linear-ish RGB (0..255) of the shingle field at plane points: courses, tabs or teeth, keyways
    or the backer in the gaps, the shadow under each butt edge, granules."""
    exposure, tab = STYLES[scene.style]
    base = np.array(BLENDS[scene.blend], np.float32)
    k = np.floor(v / exposure).astype(np.int64)
    within = (v - k * exposure) / exposure  # 0 at a course's top (under the butt above), 1 at its butt
    shade = np.ones(u.shape, np.float32)
    tone = np.ones(u.shape, np.float32)
    if scene.style == "laminate":
        # Teeth per course: random widths, gaps showing the backer in the lower part of the exposure.
        origin = rng.uniform(0, 40, 4096)
        for kk in np.unique(k):
            sel = k == kk
            draw = np.random.default_rng([scene.seed, int(kk) + 100000])
            widths = draw.uniform(4.0, 14.0, 64)
            gaps = draw.uniform(0.7, 4.0, 64)
            starts = np.cumsum(np.r_[0.0, (widths + gaps)[:-1]]) - origin[int(kk) % 4096] - 60.0
            uu = u[sel]
            i = np.clip(np.searchsorted(starts, uu, side="right") - 1, 0, 63)
            into = uu - starts[i]
            gap = into > widths[i]
            depth = draw.uniform(0.65, 0.85)
            backer = gap & (within[sel] > 1.0 - depth)
            t = 1.0 + 0.09 * (_hash(np.full(i.shape, kk), i, scene.seed) - 0.5) * 2
            tone[sel] = np.where(backer, 0.62, t)
            edge = gap & (into - widths[i] < 0.25) & backer
            shade[sel] *= np.where(edge, 0.6, 1.0).astype(np.float32)
    else:
        offset = (k % 2) * tab / 2
        uu = u + offset
        tab_i = np.floor(uu / tab).astype(np.int64)
        into = uu - tab_i * tab
        keyway = (into < 0.19) | (into > tab - 0.19)
        shade *= np.where(keyway, 0.42, 1.0).astype(np.float32)
        shingle = np.floor_divide(tab_i, 3)
        tone *= 1.0 + 0.05 * (_hash(shingle, k, scene.seed) - 0.5) * 2
    # The shadow under the butt edge of the course above: 0.3 inch, darkest at the edge.
    top = within * exposure
    shade *= np.where(top < 0.3, 0.45 + 0.55 * top / 0.3, 1.0).astype(np.float32)
    # Granules: 1/16 inch, mostly the blend's colour, some light and some dark.
    gu, gv = np.floor(u * 16).astype(np.int64), np.floor(v * 16).astype(np.int64)
    pick = _hash(gu, gv, scene.seed + 1)
    lum = 1.0 + 0.18 * (_hash(gu, gv, scene.seed + 2) - 0.5)
    lum = np.where(pick < 0.08, lum + 0.4, np.where(pick > 0.9, lum - 0.35, lum)).astype(np.float32)
    tint = 1.0 + 0.06 * (np.stack([_hash(gu, gv, scene.seed + 3 + c) for c in range(3)], -1) - 0.5)
    return np.asarray(base * (tone * shade * lum)[..., None] * tint, np.float32)


def _sky(scene: Scene, rng: np.random.Generator, yy: F64, xx: F64) -> F32:
    frac = (yy / scene.height)[..., None].astype(np.float32)
    if scene.sky == "overcast":
        top, bottom = np.array([196, 200, 206], np.float32), np.array([226, 228, 230], np.float32)
    else:
        top, bottom = np.array([96, 140, 206], np.float32), np.array([196, 212, 234], np.float32)
    sky = top * (1 - frac) + bottom * frac
    size = (yy.shape[1], yy.shape[0])
    cloud = cv2.resize(rng.standard_normal((6, 8)).astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    return np.asarray(sky + (np.clip(cloud, 0, None) * (30 if scene.sky == "blue" else 8))[..., None], np.float32)


def _wall(scene: Scene, rng: np.random.Generator, v: F64, u: F64, wall_top: float) -> F32:
    """The wall under the eave (its own foreshortening: a vertical wall seen from the same camera),
    siding laps or brick courses, and a window."""
    depth = (v - wall_top) * rng.uniform(0.7, 1.5)  # inches down the wall
    along = u * rng.uniform(0.9, 1.1)
    if scene.wall == "brick":
        course = np.floor(depth / 2.667).astype(np.int64)
        x = along + (course % 2) * 4.1
        brick = np.floor(x / 8.2).astype(np.int64)
        mortar = ((depth - course * 2.667) < 0.375) | ((x - brick * 8.2) < 0.375)
        colour = np.array([150, 70, 48], np.float32) * (1 + 0.12 * (_hash(brick, course, 7)[..., None] - 0.5))
        colour = np.where(mortar[..., None], np.array([170, 164, 150], np.float32), colour)
        grain = 1 + 0.1 * (_hash(np.floor(along * 8).astype(np.int64), np.floor(depth * 8).astype(np.int64), 9) - 0.5)
        out = colour * grain[..., None]
    else:
        lap = rng.uniform(4.0, 8.0)
        course = np.floor(depth / lap).astype(np.int64)
        into = (depth - course * lap) / lap
        colour = np.array(SIDING[int(rng.integers(len(SIDING)))], np.float32)
        face = 0.9 + 0.12 * into  # each lap leans out: lighter towards its bottom
        shadow = np.where(into < 0.06, 0.55, 1.0)
        out = colour * (face * shadow)[..., None]
    x0 = rng.uniform(-40, 0)
    window = (along > x0) & (along < x0 + 36) & (depth > 14) & (depth < 60)
    frame = (along > x0 - 3) & (along < x0 + 39) & (depth > 11) & (depth < 63) & ~window
    glass = np.array([52, 60, 70], np.float32) * (1 + 0.4 * ((depth - 14) / 46))[..., None]
    out = np.where(window[..., None], glass, out)
    out = np.where(frame[..., None], np.array([236, 236, 232], np.float32), out)
    return np.asarray(out, np.float32)


def render_scene(scene: Scene) -> ScenePhoto:
    rng = np.random.default_rng(scene.seed)
    h = homography(scene)
    inv = np.linalg.inv(h)
    w_, h_ = scene.width, scene.height
    # Two by two samples per pixel, averaged: no aliasing of granules, keyways or laps.
    ys, xs = np.mgrid[0 : h_ * 2, 0 : w_ * 2].astype(np.float64)
    xx, yy = (xs + 0.5) / 2 - 0.0, (ys + 0.5) / 2
    wz = inv[2, 0] * xx + inv[2, 1] * yy + inv[2, 2]
    ahead = wz > 1e-9
    wz = np.where(ahead, wz, 1.0)
    u = (inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]) / wz
    v = (inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]) / wz

    def v_at(frac: float) -> float:
        p = inv @ np.array([w_ / 2, frac * h_, 1.0])
        return float(p[1] / p[2])

    ridge = v_at(rng.uniform(0.12, 0.3)) if scene.sky != "none" else -math.inf
    eave = v_at(rng.uniform(0.68, 0.85)) if scene.wall != "none" else math.inf
    rake = -math.inf
    if scene.rake:
        p = inv @ np.array([rng.uniform(0.1, 0.25) * w_, h_ / 2, 1.0])
        rake = float(p[0] / p[2])
    on_plane = ahead & (v >= ridge) & (u >= rake)
    roof = on_plane & (v <= eave)
    img = _sky(scene, rng, yy, xx)
    img[roof] = _shingles(scene, u[roof], v[roof], rng)
    if math.isfinite(eave):
        metal = np.array(METAL[int(rng.integers(len(METAL)))], np.float32)
        drip = on_plane & (v > eave) & (v <= eave + 1.0)
        gutter = on_plane & (v > eave + 1.0) & (v <= eave + 6.5)
        lip = (v - eave - 1.0) / 5.5
        gutter_rgb = metal * (0.8 + 0.3 * np.exp(-(((lip - 0.2) / 0.08) ** 2)))[..., None]
        below = on_plane & (v > eave + 6.5)
        if scene.wall != "none":
            wall_rgb = _wall(scene, rng, v[below], u[below], eave + 6.5)
            soffit = np.clip((v[below] - eave - 6.5) / 4.0, 0, 1) * 0.5 + 0.5  # the overhang shades the wall's top
            img[below] = wall_rgb * soffit[..., None]
        img[gutter] = gutter_rgb[gutter]
        img[drip] = metal * 0.9
    if scene.shadow:  # a shadow across the slope (the neighbour's roof, a chimney): bluish, not black
        a = rng.uniform(-0.6, 0.6)
        line = (xx - w_ / 2) * math.sin(a) + (yy - h_ * rng.uniform(0.35, 0.65)) * math.cos(a)
        dark = (line > 0) & roof
        img[dark] *= np.array([0.36, 0.38, 0.46], np.float32)
    if scene.tree:  # leaves over a corner: clumps of green and dark gaps, shading what is under
        corner = (w_ * rng.choice([0.0, 1.0]), h_ * rng.uniform(0.2, 0.6))
        radius = rng.uniform(0.22, 0.35) * w_
        wobble = cv2.resize(
            rng.standard_normal((8, 8)).astype(np.float32), (w_ * 2, h_ * 2), interpolation=cv2.INTER_CUBIC
        )
        canopy = np.hypot(xx - corner[0], yy - corner[1]) < radius * (1 + 0.15 * wobble)
        leaf = _hash(np.floor(xx[canopy] / 6).astype(np.int64), np.floor(yy[canopy] / 6).astype(np.int64), 11)
        leaves = np.array([62, 88, 40], np.float32) * (0.5 + leaf)[..., None]
        img[canopy] = np.where((leaf < 0.12)[..., None], np.array([30, 34, 22], np.float32), leaves)
        roof = roof & ~canopy
    # Supersamples to pixels, then the camera: light fall-off, lens blur, noise, JPEG.
    img = np.asarray(cv2.resize(img.astype(np.float32), (w_, h_), interpolation=cv2.INTER_AREA), np.float32)
    roof_px = cv2.resize(roof.astype(np.float32), (w_, h_), interpolation=cv2.INTER_AREA) > 0.5
    py, px = np.mgrid[0:h_, 0:w_].astype(np.float32)
    nx, ny = (px - w_ / 2) / (w_ / 2), (py - h_ / 2) / (h_ / 2)
    angle = rng.uniform(0, 2 * math.pi)
    light = (1.0 + 0.2 * (nx * math.cos(angle) + ny * math.sin(angle))) * (1.0 - 0.12 * (nx**2 + ny**2))
    img *= (light * rng.uniform(0.9, 1.15))[..., None]
    img = np.asarray(cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 0.8)), np.float32)
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    pixels = np.clip(img, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", pixels[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(85, 94))])
    assert ok
    decoded = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), np.uint8)[..., ::-1]
    cx, cy = w_ / 2, h_ / 2
    ppi = ppi_at(h, cx, cy)
    grad = ((ppi_at(h, cx + 1, cy) - ppi_at(h, cx - 1, cy)) / 2, (ppi_at(h, cx, cy + 1) - ppi_at(h, cx, cy - 1)) / 2)
    return ScenePhoto(scene, np.ascontiguousarray(decoded), roof_px, ppi, grad, STYLES[scene.style][0])


def scene_set(first_seed: int, count: int) -> list[Scene]:
    """A draw of varied scenes: every style, blend, sky, wall and camera, some with a rake edge, a
    tree or a shadow; the same seeds give the same scenes."""
    scenes = []
    blends = list(BLENDS)
    styles: tuple[Style, ...] = ("three_tab", "three_tab_metric", "laminate")
    for seed in range(first_seed, first_seed + count):
        rng = np.random.default_rng([seed, 12345])
        scenes.append(
            Scene(
                seed=seed,
                width=int(rng.choice([960, 1024, 1200])),
                height=int(rng.choice([720, 768, 900])),
                style=styles[int(rng.integers(3))],
                blend=blends[int(rng.integers(len(blends)))],
                span_in=float(rng.uniform(60, 200)),
                tilt_deg=float(rng.uniform(0, 55)),
                yaw_deg=float(rng.uniform(-20, 20)),
                roll_deg=float(rng.uniform(-8, 8)),
                fov_deg=float(rng.uniform(55, 75)),
                sky=("blue", "overcast", "none")[int(rng.integers(3))],
                wall=("siding", "brick", "none")[int(rng.integers(3))],
                rake=bool(rng.random() < 0.3),
                tree=bool(rng.random() < 0.3),
                shadow=bool(rng.random() < 0.3),
            )
        )
    return scenes
