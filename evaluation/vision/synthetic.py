"""Synthetic roof photos with exact ground truth, to measure the local damage stage honestly.

A photo is rendered in two spaces. The roof slope is drawn flat, in inches, on a *plane raster*:
shingle courses at a 5 to 5 5/8 inch exposure (3-tab shingles with 12 inch tabs and keyways, or
laminated shingles with random-width "dragon teeth" over a darker bottom layer), granule texture as
fine noise with light and dark granules and some colour variety, a soft mottle, and a shadow line
under every course's butt edge. Damage and distractors are painted on the plane too, so they are
foreshortened like the shingles. A camera (focal length for a ~60 degree field of view, tilted,
yawed and rolled) gives the homography from the plane to the photo; pixels the plane does not cover
are sky (above the ridge or the horizon), a gutter and the ground (below the eave). Last come the
photo's own effects: a lighting gradient, vignetting, slight lens blur, sensor noise and a JPEG pass.

Truth: each mark's outline on the plane is mapped through the homography and boxed in photo pixels.
Marks are hail hits (dark roundish bruises of 0.5 to 2 inches where granules are gone, some with a
lighter ring or a pale spot of exposed mat), missing shingles (a tab's worth of exposed underlayer:
felt, deck or the fresh top of the course below with its nails and sealant strip, straight edged)
wind creases (a straight line of broken granules across a tab) and lifted tabs (a tab's butt edge
unsealed and bent up, so the shadow under it widens and its lower edge catches more light; drawn
from their own random stream, after everything else on the plane, so a spec with `lifted=0` gives
the same pixels as before lifted tabs existed). Distractors that are *not*
damage: lichen spots (pale, greenish), moss along butt edges, leaves, dark algae streaks, the
soft shadow of a vent pipe, and the laminated shingles' own shade variety.

Everything is drawn from `PhotoSpec.seed`: the same spec gives the same pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from vision.detections import Box, DamageType, clamp_box

Style = Literal["three_tab", "laminated"]
View = Literal["roof", "ridge", "eave", "none"]
ExposedKind = Literal["felt", "deck", "underlayer"]

RGBImage = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
F32 = npt.NDArray[np.float32]

TAB_IN = 12.0  # 3-tab: tab width
SHINGLE_IN = 36.0  # 3-tab: shingle length (a joint line every three tabs)
KEYWAY_IN = 0.3
SHADOW_IN = 0.3  # the shadow under a butt edge
GRANULE_IN = 1.0 / 16.0
FOV_DEG = 60.0  # horizontal field of view of the camera
PLANE_BUDGET = 1.1  # plane raster pixels per photo pixel, at most
MIN_HIT_PX = 8  # hail hits smaller than this in the photo are not drawn (nobody could see them)

# Shingle blends (RGB, weathered), from near-black charcoal to light tan.
PALETTE: tuple[tuple[float, float, float], ...] = (
    (62, 62, 64),  # charcoal
    (98, 92, 84),  # weathered wood
    (88, 70, 58),  # brown
    (106, 109, 114),  # slate grey
    (128, 124, 116),  # estate grey
    (150, 134, 110),  # desert tan
    (72, 84, 76),  # hunter green
)


@dataclass(frozen=True)
class PhotoSpec:
    """What to draw. `span_in` is how many inches of roof the photo's width covers at its centre
    (it sets the scale: width / span_in pixels per inch there); angles are the camera's, in degrees."""

    width: int = 1600
    height: int = 1200
    seed: int = 0
    style: Style = "laminated"
    view: View = "roof"
    span_in: float = 90.0
    tilt_deg: float = 25.0
    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    colour: int = -1  # index into PALETTE; -1 draws one from the seed
    hail: int = 6
    missing: int = 1
    creases: int = 0
    lifted: int = 0  # lifted tabs (their own random stream: other content does not change with it)
    distractors: bool = True
    light: float = 0.3  # lighting gradient: brightness varies by about +-light across the photo
    vignette: float = 0.25

    def __post_init__(self) -> None:
        if not (64 <= self.width <= 8000 and 64 <= self.height <= 8000):
            raise ValueError("width and height must be 64..8000 pixels")
        if not 12.0 <= self.span_in <= 600.0:
            raise ValueError("span_in must be 12..600 inches")
        if not 0.0 <= self.tilt_deg <= 60.0:
            raise ValueError("tilt_deg must be 0..60")

    @property
    def name(self) -> str:
        return f"{self.style}-{self.view}-{self.width}x{self.height}-tilt{self.tilt_deg:g}-s{self.seed}"


@dataclass(frozen=True)
class Mark:
    """A piece of true damage: its type, its box in photo pixels and its size on the roof (inches)."""

    type: DamageType
    box: Box
    size_in: float


@dataclass(frozen=True)
class SyntheticPhoto:
    spec: PhotoSpec
    pixels: RGBImage  # (height, width, 3) RGB
    roof: Mask  # pixels that show the roof slope
    marks: list[Mark] = field(default_factory=list)
    scale: float = 0.0  # pixels per inch of roof at the photo's centre (0 without a roof)


# ---------------------------------------------------------------------------------------------------
# Camera


def _rotation(tilt: float, yaw: float, roll: float) -> npt.NDArray[np.float64]:
    t, y, r = (math.radians(a) for a in (tilt, yaw, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, np.float64)


def camera_homography(spec: PhotoSpec) -> npt.NDArray[np.float64]:
    """Plane inches (u right, v down the slope) to photo pixels; the optical axis meets the plane at
    the origin. A positive tilt brings the bottom of the photo nearer: the eave side looks bigger."""
    f = spec.width / 2 / math.tan(math.radians(FOV_DEG / 2))
    distance = f * spec.span_in / spec.width  # square-on, the photo would be span_in wide
    k = np.array([[f, 0, spec.width / 2], [0, f, spec.height / 2], [0, 0, 1]])
    rot = _rotation(-spec.tilt_deg, spec.yaw_deg, spec.roll_deg)
    h = k @ np.column_stack([rot[:, 0], rot[:, 1], [0.0, 0.0, distance]])
    return np.asarray(h / h[2, 2], np.float64)


def _apply(h: npt.NDArray[np.float64], pts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    homo = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return homo[:, :2] / homo[:, 2:3]


def local_scale(h: npt.NDArray[np.float64], u: float, v: float) -> float:
    """Pixels per inch at a plane point: the square root of the homography's Jacobian determinant."""
    d = 1e-3
    p = _apply(h, np.array([[u, v], [u + d, v], [u, v + d]]))
    ju, jv = (p[1] - p[0]) / d, (p[2] - p[0]) / d
    return math.sqrt(abs(float(ju[0] * jv[1] - ju[1] * jv[0])))


# ---------------------------------------------------------------------------------------------------
# The plane raster


@dataclass
class _Plane:
    rgb: F32  # (h, w, 3), 0..255 before the photo's lighting
    shade: F32  # (h, w) multiplicative shadows
    ppi: float
    u0: float
    v0: float
    exposure: float
    v_off: float  # the top of course 0
    rng: np.random.Generator

    def col(self, u: float) -> int:
        return int(np.clip(round((u - self.u0) * self.ppi), 0, self.rgb.shape[1]))

    def row(self, v: float) -> int:
        return int(np.clip(round((v - self.v0) * self.ppi), 0, self.rgb.shape[0]))

    def course_top(self, k: int) -> float:
        return self.v_off + k * self.exposure

    def course_of(self, v: float) -> int:
        return math.floor((v - self.v_off) / self.exposure)

    def window(self, u: float, v: float, radius: float) -> tuple[slice, slice, F32, F32]:
        """Slices of the raster around (u, v) and the plane coordinates (inches, relative) there."""
        r0, r1, c0, c1 = self.row(v - radius), self.row(v + radius), self.col(u - radius), self.col(u + radius)
        vv = (np.arange(r0, r1, dtype=np.float32) + 0.5) / self.ppi + self.v0 - v
        uu = (np.arange(c0, c1, dtype=np.float32) + 0.5) / self.ppi + self.u0 - u
        return slice(r0, r1), slice(c0, c1), uu[None, :], vv[:, None]


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> F32:
    """Zero-mean, unit-ish noise with features about `cell` pixels across."""
    small = (max(2, int(shape[0] / cell) + 2), max(2, int(shape[1] / cell) + 2))
    coarse = rng.standard_normal(small).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), np.float32)


def _granules(rng: np.random.Generator, shape: tuple[int, int], ppi: float) -> F32:
    """Per-channel multiplicative granule texture: fine noise with occasional light and dark granules,
    each granule about 1/16 inch (a pixel or more)."""
    g = max(1.0, ppi * GRANULE_IN)
    small = (max(1, int(shape[0] / g) + 1), max(1, int(shape[1] / g) + 1))
    lum = rng.normal(0.0, 0.09, small).astype(np.float32)
    pick = rng.random(small)
    lum[pick < 0.07] += 0.35  # light granules
    lum[pick > 0.92] -= 0.3  # dark granules
    tint = rng.normal(0.0, 0.05, (*small, 3)).astype(np.float32)
    tex = 1.0 + lum[..., None] + tint
    if g > 1.0:
        tex = np.asarray(cv2.resize(tex, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), np.float32)
    return tex[: shape[0], : shape[1]]


def _new_plane(
    spec: PhotoSpec, rng: np.random.Generator, u_rng: tuple[float, float], v_rng: tuple[float, float]
) -> _Plane:
    h = camera_homography(spec)
    area_in = (u_rng[1] - u_rng[0]) * (v_rng[1] - v_rng[0])
    ppi = min(max(local_scale(h, 0.0, 0.0), 4.0) * 1.25, math.sqrt(PLANE_BUDGET * spec.width * spec.height / area_in))
    rows = max(8, int((v_rng[1] - v_rng[0]) * ppi))
    cols = max(8, int((u_rng[1] - u_rng[0]) * ppi))
    exposure = float(rng.uniform(5.0, 5.625))
    return _Plane(
        rgb=np.zeros((rows, cols, 3), np.float32),
        shade=np.ones((rows, cols), np.float32),
        ppi=ppi,
        u0=u_rng[0],
        v0=v_rng[0],
        exposure=exposure,
        v_off=float(rng.uniform(0.0, exposure)),
        rng=rng,
    )


def _jitter(rng: np.random.Generator, base: npt.NDArray[np.float64], amount: float) -> npt.NDArray[np.float64]:
    return base * (1.0 + rng.normal(0.0, amount)) * (1.0 + rng.normal(0.0, amount / 3, 3))


def _draw_courses(plane: _Plane, style: Style, base: npt.NDArray[np.float64]) -> list[list[tuple[float, float]]]:
    """Tabs and their shadows; returns each course's tab extents (u0, u1) as drawn, by course index
    relative to the plane's first course."""
    rng = plane.rng
    rows, cols = plane.shade.shape
    k0 = plane.course_of(plane.v0) - 1
    k1 = plane.course_of(plane.v0 + rows / plane.ppi) + 1
    u_end = plane.u0 + cols / plane.ppi
    tabs: list[list[tuple[float, float]]] = []
    shadow = max(1, round(SHADOW_IN * plane.ppi))
    profile = np.linspace(0.45, 1.0, shadow, dtype=np.float32)[:, None]
    for k in range(k0, k1 + 1):
        top, bottom = plane.course_top(k), plane.course_top(k + 1)
        r0, r1 = plane.row(top), plane.row(bottom)
        extents: list[tuple[float, float]] = []
        if style == "three_tab":
            u = plane.u0 - ((plane.u0 - (k % 2) * TAB_IN / 2) % SHINGLE_IN) - SHINGLE_IN
            while u < u_end:
                colour = _jitter(rng, base, 0.04)
                for t in range(3):
                    a, b = u + t * TAB_IN, u + (t + 1) * TAB_IN
                    plane.rgb[r0:r1, plane.col(a) : plane.col(b)] = _jitter(rng, colour, 0.015)
                    extents.append((a, b))
                    key = plane.col(b - KEYWAY_IN / 2), plane.col(b + KEYWAY_IN / 2)
                    plane.shade[r0:r1, key[0] : max(key[1], key[0] + 1)] *= 0.42
                u += SHINGLE_IN
        else:
            u = plane.u0 - rng.uniform(0.0, 10.0)
            gap_depth = rng.uniform(0.65, 0.85) * (bottom - top)
            while u < u_end:
                a, b = u, u + rng.uniform(4.5, 10.0)
                plane.rgb[r0:r1, plane.col(a) : plane.col(b)] = _jitter(rng, base, 0.09)
                extents.append((a, b))
                g1 = b + rng.uniform(1.0, 4.0)  # the gap shows the darker bottom layer
                rg = plane.row(bottom - gap_depth)
                plane.rgb[rg:r1, plane.col(b) : plane.col(g1)] = _jitter(rng, base, 0.06) * 0.78
                plane.rgb[r0:rg, plane.col(b) : plane.col(g1)] = _jitter(rng, base, 0.05)
                side = plane.col(b), plane.col(b + 0.25)
                plane.shade[rg:r1, side[0] : max(side[1], side[0] + 1)] *= 0.6
                u = g1
        plane.shade[r0 : min(r0 + shadow, rows)] *= profile[: max(0, min(shadow, rows - r0))]
        tabs.append(extents)
    return tabs


def _mottle(plane: _Plane) -> None:
    rows, cols = plane.shade.shape
    blotch = _smooth_noise(plane.rng, (rows, cols), 4.0 * plane.ppi)
    plane.rgb *= (1.0 + 0.05 * blotch)[..., None]


# ---------------------------------------------------------------------------------------------------
# Damage and distractors on the plane


def _blob(uu: F32, vv: F32, radius: float, rng: np.random.Generator, soft: float, wobble: float = 0.15) -> F32:
    """An irregular round alpha mask of about `radius` inches, with a soft edge `soft` inches wide."""
    angle = np.arctan2(vv, uu)
    r = np.hypot(uu, vv)
    edge = np.full_like(r, radius)
    for harmonic in (2, 3, 5):
        edge += radius * wobble / harmonic * np.sin(harmonic * angle + rng.uniform(0, 2 * np.pi))
    return np.clip((edge - r) / max(soft, 1e-3) + 0.5, 0.0, 1.0).astype(np.float32)


def _paint(plane: _Plane, rows: slice, cols: slice, alpha: F32, colour: npt.ArrayLike, keep: float) -> None:
    """Blend towards `colour`, keeping `keep` of the existing texture's relative variation."""
    region = plane.rgb[rows, cols]
    mean = region.mean(axis=(0, 1), keepdims=True) + 1e-3
    target = np.asarray(colour, np.float32) * (1.0 + keep * (region / mean - 1.0))
    a = alpha[..., None]
    plane.rgb[rows, cols] = region * (1 - a) + target * a


def _hail_hit(plane: _Plane, u: float, v: float, diameter: float, base: npt.NDArray[np.float64]) -> float:
    rng = plane.rng
    radius = diameter / 2
    rows, cols, uu, vv = plane.window(u, v, radius * 1.5)
    if uu.size == 0 or vv.size == 0:
        return radius
    style = rng.choice(["bruise", "ring", "mat"], p=[0.5, 0.3, 0.2])
    core = np.array([34.0, 33.0, 32.0]) * rng.uniform(0.85, 1.2)  # bare asphalt, granules knocked off
    if style == "ring":  # crushed granules piled round the rim read lighter than the shingle
        ring = _blob(uu, vv, radius * 1.3, rng, 0.12) - _blob(uu, vv, radius * 0.95, rng, 0.08)
        _paint(plane, rows, cols, np.clip(ring, 0, 1) * 0.6, base * 1.3, 0.6)
    _paint(plane, rows, cols, _blob(uu, vv, radius, rng, 0.1 + 0.1 * radius), core, 0.25)
    if style == "mat":  # the glass mat shows through in the middle
        _paint(plane, rows, cols, _blob(uu, vv, radius * 0.3, rng, 0.06, 0.3), (112, 110, 104), 0.3)
    return radius * 1.3 if style == "ring" else radius * 1.15


def _missing(plane: _Plane, k: int, u0: float, u1: float, kind: ExposedKind, base: npt.NDArray[np.float64]) -> None:
    """A tab torn off course k between u0 and u1: what lay under it shows, and the shadow its butt
    edge threw on the course below is gone."""
    rng = plane.rng
    top, bottom = plane.course_top(k), plane.course_top(k + 1)
    r0, r1, c0, c1 = plane.row(top), plane.row(bottom), plane.col(u0), plane.col(u1)
    if r1 <= r0 or c1 <= c0:
        return
    shape = (r1 - r0, c1 - c0)
    if kind == "felt":
        colour = np.array([46.0, 46.0, 48.0]) * rng.uniform(0.8, 1.3)
        tex = 1.0 + rng.normal(0, 0.025, (*shape, 1)).astype(np.float32)
        fill = colour.astype(np.float32) * tex
    elif kind == "deck":
        colour = np.array([168.0, 136.0, 96.0]) * rng.uniform(0.8, 1.05)
        grain = _smooth_noise(rng, (shape[0], max(2, shape[1] // 8)), 1.5)
        grain = np.asarray(cv2.resize(grain, (shape[1], shape[0])), np.float32)
        fill = colour.astype(np.float32) * (1.0 + 0.06 * grain[..., None])
    else:  # the course below's top: unweathered, a richer shade, nails and the sealant strip
        colour = base * rng.uniform(0.6, 0.75) * np.array([1.08, 1.0, 0.92])
        fill = colour.astype(np.float32) * _granules(rng, shape, plane.ppi)
        seal = plane.row(top + rng.uniform(0.8, 1.4)) - r0
        fill[seal : seal + max(1, round(0.4 * plane.ppi))] *= 0.5
        for u in np.arange(u0 + rng.uniform(1, 3), u1 - 1, rng.uniform(3.5, 6)):
            rr, cc, uu, vv = plane.window(float(u), top + 2.2, 0.3)
            disc = (np.hypot(uu, vv) < 0.19)[..., None]
            sub = fill[rr.start - r0 : rr.stop - r0, cc.start - c0 : cc.stop - c0]
            sub[:] = np.where(disc, np.float32(150.0), sub)
    plane.rgb[r0:r1, c0:c1] = fill
    plane.shade[r0:r1, c0:c1] = 1.0
    shadow = max(1, round(SHADOW_IN * 1.5 * plane.ppi))
    plane.shade[r0 : r0 + shadow, c0:c1] *= 0.55  # the course above overhangs the hole
    plane.shade[r0:r1, c0 : c0 + max(1, shadow // 2)] *= 0.6  # and so does the neighbour tab
    below = plane.row(bottom)
    plane.shade[below : below + max(1, round(SHADOW_IN * plane.ppi)), c0:c1] = 1.0


def _crease(plane: _Plane, k: int, u0: float, u1: float) -> float:
    """A wind crease: the tab folded back along a line an inch or three above its butt edge."""
    v = plane.course_top(k + 1) - plane.rng.uniform(1.5, 3.0)
    r = plane.row(v)
    width = max(1, round(0.12 * plane.ppi))
    c0, c1 = plane.col(u0 + 0.5), plane.col(u1 - 0.5)
    plane.rgb[r : r + width, c0:c1] *= 1.35  # broken granules
    plane.shade[r + width : r + 2 * width, c0:c1] *= 0.7
    return v


def _lifted(plane: _Plane, rng: np.random.Generator, k: int, u0: float, u1: float) -> float:
    """A lifted tab: course k's butt edge between u0 and u1 unsealed and bent up (most at one point
    along it, tapering to its ends), so the shadow it throws on the course below is wider and
    deeper there, and the tilted lower inch or so of the tab catches more light. Returns the
    shadow's widest reach below the edge, in inches."""
    edge = plane.course_top(k + 1)
    lift = float(rng.uniform(0.6, 1.4))
    peak = float(rng.uniform(0.3, 0.7))  # where along the tab it is lifted most
    c0, c1 = plane.col(u0), plane.col(u1)
    if c1 <= c0:
        return 0.0
    uu = (np.arange(c0, c1, dtype=np.float32) + 0.5) / plane.ppi + plane.u0
    t = (uu - u0) / max(u1 - u0, 1e-3)
    bump = np.where(t < peak, t / peak, (1.0 - t) / (1.0 - peak))
    bump = np.clip(bump, 0.0, 1.0) ** 0.7
    reach = SHADOW_IN + lift * bump  # inches below the edge, per column
    r0, r1 = plane.row(edge), plane.row(edge + SHADOW_IN + lift)
    if r1 > r0:
        vv = (np.arange(r0, r1, dtype=np.float32) + 0.5) / plane.ppi + plane.v0 - edge
        frac = vv[:, None] / reach[None, :]
        plane.shade[r0:r1, c0:c1] *= np.where(frac < 1.0, 0.5 + 0.5 * frac, 1.0).astype(np.float32)
    tilt = float(rng.uniform(1.0, 1.8))  # the lifted lower part of the tab
    t0 = plane.row(edge - tilt)
    if plane.row(edge) > t0:
        vv = (np.arange(t0, plane.row(edge), dtype=np.float32) + 0.5) / plane.ppi + plane.v0 - (edge - tilt)
        gain = 1.0 + 0.18 * np.clip(vv / tilt, 0, 1)[:, None] * bump[None, :]
        plane.rgb[t0 : plane.row(edge), c0:c1] *= gain[..., None].astype(np.float32)
    return SHADOW_IN + lift


def _lichen(plane: _Plane, u: float, v: float) -> tuple[float, float]:
    rng = plane.rng
    radius = rng.uniform(0.4, 1.4)
    rows, cols, uu, vv = plane.window(u, v, radius * 1.6)
    alpha = _blob(uu, vv, radius, rng, 0.15, 0.35) * rng.uniform(0.5, 0.85)
    _paint(plane, rows, cols, alpha, (172, 178, 150), 0.6)
    return u, v


def _moss(plane: _Plane, u: float, k: int) -> None:
    rng = plane.rng
    v = plane.course_top(k + 1) - 0.6
    length = rng.uniform(2.5, 7.0)
    rows, cols, uu, vv = plane.window(u, v, length / 2 + 1)
    alpha = np.clip(1.2 - (uu / (length / 2)) ** 2 - (vv / 0.9) ** 2, 0, 1)
    alpha *= np.clip(1 + 0.5 * _smooth_noise(rng, alpha.shape, 0.2 * plane.ppi), 0, 1)
    _paint(plane, rows, cols, alpha.astype(np.float32), (70, 92, 40), 0.8)


def _leaf(plane: _Plane, u: float, v: float) -> None:
    rng = plane.rng
    length, angle = rng.uniform(1.5, 3.5), rng.uniform(0, np.pi)
    rows, cols, uu, vv = plane.window(u, v, length)
    along = uu * math.cos(angle) + vv * math.sin(angle)
    across = -uu * math.sin(angle) + vv * math.cos(angle)
    body = (along / (length / 2)) ** 2 + (across / (length / 5)) ** 2
    colour = rng.choice([(176, 98, 40), (150, 120, 48), (120, 72, 40), (110, 128, 52)])
    shadow_alpha = np.clip((1.0 - np.roll(body, (2, 2), axis=(0, 1))) * 3, 0, 1) * 0.35
    plane.rgb[rows, cols] *= (1 - shadow_alpha)[..., None]
    _paint(plane, rows, cols, np.clip((1.0 - body) * 4, 0, 1).astype(np.float32), colour, 0.3)


def _streak(plane: _Plane, u: float) -> None:
    """Algae: a dark soft streak running down the slope."""
    rows = plane.shade.shape[0]
    c0, c1 = plane.col(u - 3), plane.col(u + 3)
    width = max(1, c1 - c0)
    across = np.exp(-(np.linspace(-2, 2, width) ** 2)).astype(np.float32)
    along = np.clip(0.6 + 0.5 * _smooth_noise(plane.rng, (rows, 1), 6 * plane.ppi), 0, 1)
    plane.shade[:, c0 : c0 + width] *= 1.0 - 0.3 * along * across[None, :]


def _pipe_shadow(plane: _Plane, u: float, v: float) -> None:
    rng = plane.rng
    length, width, angle = rng.uniform(18, 40), rng.uniform(2.5, 4.0), rng.uniform(0.2, 1.2)
    rows, cols, uu, vv = plane.window(u, v, length)
    along = uu * math.cos(angle) + vv * math.sin(angle)
    across = -uu * math.sin(angle) + vv * math.cos(angle)
    pen = 0.3 + 0.02 * np.clip(along, 0, None)  # the penumbra widens away from the pipe
    inside = np.clip((width / 2 - np.abs(across)) / pen + 0.5, 0, 1) * (along > 0) * (along < length)
    plane.shade[rows, cols] *= 1.0 - 0.45 * inside.astype(np.float32)


# ---------------------------------------------------------------------------------------------------
# The photo


def _backdrop(spec: PhotoSpec, rng: np.random.Generator, v: F32, behind: Mask, v_eave: float) -> F32:
    """Sky where nothing is in front (above the ridge or horizon), a gutter, and grass below it."""
    h, w = spec.height, spec.width
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    sky = np.array([110, 150, 210], np.float32) * (1 - y) + np.array([205, 218, 236], np.float32) * y
    sky = np.broadcast_to(sky, (h, w, 3)).copy()
    cloud = np.clip(_smooth_noise(rng, (h, w), 0.25 * w) - 0.3, 0, 1)
    sky += (cloud * 60.0)[..., None]
    grass = np.array([74, 98, 46], np.float32) * (1 + 0.25 * _smooth_noise(rng, (h, w), 0.05 * w))[..., None]
    grass *= 1 + rng.normal(0, 0.18, (h, w, 1)).astype(np.float32)
    out = sky
    if math.isfinite(v_eave):
        below = ~behind & (v > v_eave)
        gutter = below & (v <= v_eave + 5.0)
        out[gutter] = np.array([226, 226, 220], np.float32) * (0.85 + 0.1 * rng.random())
        out[below & ~gutter] = grass[below & ~gutter]
    return out


def _no_roof(spec: PhotoSpec, rng: np.random.Generator) -> SyntheticPhoto:
    """Sky over a lawn with a couple of shrubs: a photo with no roof in it."""
    h, w = spec.height, spec.width
    horizon = int(h * rng.uniform(0.3, 0.6))
    v = np.broadcast_to((np.arange(h, dtype=np.float32)[:, None] - horizon) / h * 100, (h, w))
    img = _backdrop(spec, rng, v.astype(np.float32), np.zeros((h, w), bool), 0.0)
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(2):
        cx, cy, r = rng.uniform(0, w), horizon + rng.uniform(0, 0.3 * h), rng.uniform(0.05, 0.15) * w
        bush = (xx - cx) ** 2 + ((yy - cy) * 1.5) ** 2 < r**2
        leaves = 1 + 0.35 * _smooth_noise(rng, (h, w), 0.01 * w)
        img[bush] = (np.array([40, 62, 30], np.float32) * leaves[..., None])[bush]
    return _finish(spec, rng, img, np.zeros((h, w), bool), [], 0.0)


def _finish(
    spec: PhotoSpec, rng: np.random.Generator, img: F32, roof: Mask, marks: list[Mark], scale: float
) -> SyntheticPhoto:
    h, w = spec.height, spec.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    nx, ny = (xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2)
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + spec.light * (nx * math.cos(angle) + ny * math.sin(angle)) / math.sqrt(2)
    light *= 1.0 - spec.vignette * (nx**2 + ny**2) / 2
    img *= (light * rng.uniform(0.9, 1.2))[..., None]
    img = np.asarray(cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 0.8)), np.float32)
    img += rng.normal(0, 2.5, img.shape).astype(np.float32)
    pixels = np.clip(img, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", pixels[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(85, 94))])
    assert ok
    decoded = np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), np.uint8)[..., ::-1]
    return SyntheticPhoto(spec, np.ascontiguousarray(decoded), roof, marks, scale)


def _roof_limits(spec: PhotoSpec, rng: np.random.Generator, h: npt.NDArray[np.float64]) -> tuple[float, float]:
    """The ridge's and the eave's v (inches down the slope), infinite when out of the picture."""
    inv = np.asarray(np.linalg.inv(h), np.float64)

    def v_at(y_frac: float) -> float:
        return float(_apply(inv, np.array([[spec.width / 2, y_frac * spec.height]]))[0, 1])

    ridge = v_at(rng.uniform(0.15, 0.35)) if spec.view == "ridge" else -math.inf
    eave = v_at(rng.uniform(0.7, 0.85)) if spec.view == "eave" else math.inf
    return ridge, eave


def _plane_maps(spec: PhotoSpec, h: npt.NDArray[np.float64]) -> tuple[F32, F32, Mask]:
    """Plane coordinates (u, v) of every photo pixel and where the plane is in front of the camera."""
    inv = np.linalg.inv(h).astype(np.float32)
    yy, xx = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float32)
    wz = inv[2, 0] * xx + inv[2, 1] * yy + inv[2, 2]
    ahead = wz > 1e-6
    wz = np.where(ahead, wz, 1.0)
    u = (inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]) / wz
    v = (inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]) / wz
    return u, v, ahead


def _pick_inside(rng: np.random.Generator, roof: Mask, u: F32, v: F32, margin: int) -> tuple[float, float] | None:
    ys, xs = np.nonzero(roof[margin:-margin:4, margin:-margin:4])
    if len(ys) == 0:
        return None
    i = int(rng.integers(len(ys)))
    y, x = margin + 4 * int(ys[i]), margin + 4 * int(xs[i])
    return float(u[y, x]), float(v[y, x])


def _box(h: npt.NDArray[np.float64], u0: float, v0: float, u1: float, v1: float, spec: PhotoSpec) -> Box | None:
    corners = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], np.float64)
    p = _apply(h, corners)
    return clamp_box((p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()), spec.width, spec.height)


def render(spec: PhotoSpec) -> SyntheticPhoto:
    rng = np.random.default_rng(spec.seed)
    if spec.view == "none":
        return _no_roof(spec, rng)
    h = camera_homography(spec)
    ridge, eave = _roof_limits(spec, rng, h)
    u, v, ahead = _plane_maps(spec, h)
    roof = ahead & (v >= ridge) & (v <= eave)
    if not roof.any():
        raise ValueError(f"{spec.name}: the roof is out of the picture")
    ru, rv = u[roof], v[roof]
    plane = _new_plane(
        spec, rng, (float(ru.min()) - 1, float(ru.max()) + 1), (float(rv.min()) - 1, float(rv.max()) + 1)
    )
    colour_index = spec.colour if spec.colour >= 0 else int(rng.integers(len(PALETTE)))
    base = np.array(PALETTE[colour_index], np.float64) * rng.uniform(0.9, 1.1)
    tabs = _draw_courses(plane, spec.style, base)
    _mottle(plane)
    rows, cols = plane.shade.shape
    plane.rgb *= _granules(rng, (rows, cols), plane.ppi)
    marks = _damage(spec, plane, h, roof, u, v, tabs, base)
    plane.rgb *= plane.shade[..., None]

    # Plane raster pixels to photo pixels: plane inches to raster pixels, then the camera.
    to_inches = np.array([[1 / plane.ppi, 0, plane.u0], [0, 1 / plane.ppi, plane.v0], [0, 0, 1]])
    warped = cv2.warpPerspective(plane.rgb, h @ to_inches, (spec.width, spec.height), flags=cv2.INTER_LINEAR)
    img = _backdrop(spec, rng, v, roof, eave)
    img[roof] = warped[roof]
    ys, xs = np.nonzero(roof)
    cy, cx = (spec.height / 2, spec.width / 2) if roof[spec.height // 2, spec.width // 2] else (ys.mean(), xs.mean())
    scale = local_scale(h, float(u[int(cy), int(cx)]), float(v[int(cy), int(cx)]))
    return _finish(spec, rng, img, roof, marks, scale)


def _damage(
    spec: PhotoSpec,
    plane: _Plane,
    h: npt.NDArray[np.float64],
    roof: Mask,
    u: F32,
    v: F32,
    tabs: list[list[tuple[float, float]]],
    base: npt.NDArray[np.float64],
) -> list[Mark]:
    rng = plane.rng
    k_first = plane.course_of(plane.v0) - 1
    margin = max(8, int(0.04 * min(spec.width, spec.height)))
    marks: list[Mark] = []
    taken: list[tuple[float, float, float]] = []  # (u, v, radius) of what is drawn, to keep apart

    def free(pu: float, pv: float, radius: float) -> bool:
        return all(math.hypot(pu - a, pv - b) > radius + r + 1.0 for a, b, r in taken)

    def tab_at(pu: float, pv: float) -> tuple[int, float, float] | None:
        k = plane.course_of(pv)
        index = k - k_first
        if not 0 <= index < len(tabs):
            return None
        return next(((k, a, b) for a, b in tabs[index] if a <= pu < b), None)

    def tab_spot(draw: np.random.Generator, inset: int) -> tuple[tuple[float, float], int, float, float] | None:
        """A random spot on the roof and the tab under it (course, left, right), if there is one."""
        spot = _pick_inside(draw, roof, u, v, inset)
        found = tab_at(*spot) if spot else None
        return (spot, *found) if spot and found else None

    # Distractors first, so damage is drawn over them and never hidden.
    if spec.distractors:
        for _ in range(int(rng.integers(0, 3))):
            _streak(plane, float(rng.uniform(plane.u0, plane.u0 + plane.shade.shape[1] / plane.ppi)))
        if rng.random() < 0.4 and (spot := _pick_inside(rng, roof, u, v, margin)):
            _pipe_shadow(plane, *spot)
        for _ in range(int(rng.integers(1, 6))):
            if (spot := _pick_inside(rng, roof, u, v, margin)) and free(*spot, 1.5):
                taken.append((*_lichen(plane, *spot), 1.5))
        for _ in range(int(rng.integers(0, 3))):
            if (spot := _pick_inside(rng, roof, u, v, margin)) and free(*spot, 3.5):
                _leaf(plane, *spot)
                taken.append((*spot, 3.5))
        for _ in range(int(rng.integers(0, 3))):
            if (spot := _pick_inside(rng, roof, u, v, margin)) and free(*spot, 4.0):
                _moss(plane, spot[0], plane.course_of(spot[1]))
                taken.append((*spot, 4.0))

    for _ in range(spec.missing):
        for _attempt in range(40):
            picked = tab_spot(rng, margin * 3)
            if picked is None:
                continue
            spot, k, a, b = picked
            if spec.style == "laminated":  # a torn piece of a laminated shingle, a foot or two wide
                a, b = spot[0] - rng.uniform(5, 9), spot[0] + rng.uniform(5, 9)
            centre = ((a + b) / 2, plane.course_top(k) + plane.exposure / 2)
            if not free(*centre, (b - a) / 2):
                continue
            kind: ExposedKind = rng.choice(["felt", "deck", "underlayer"], p=[0.35, 0.25, 0.4])
            box = _box(h, a, plane.course_top(k), b, plane.course_top(k + 1), spec)
            if box is None or not _inside_roof(roof, box):
                continue
            _missing(plane, k, a, b, kind, base)
            marks.append(Mark("missing_shingle", box, b - a))
            taken.append((*centre, (b - a) / 2))
            break

    for _ in range(spec.creases):
        for _attempt in range(40):
            picked = tab_spot(rng, margin * 2)
            if picked is None or picked[3] - picked[2] < 4.0:
                continue
            _, k, a, b = picked
            centre = ((a + b) / 2, plane.course_top(k + 1) - 2.0)
            if not free(*centre, (b - a) / 2):
                continue
            line_v = _crease(plane, k, a, b)
            box = _box(h, a + 0.5, line_v - 0.3, b - 0.5, line_v + 0.4, spec)
            if box is not None:
                marks.append(Mark("wind_crease", box, b - a))
                taken.append((*centre, (b - a) / 2))
            break

    for _ in range(spec.hail):
        for _attempt in range(40):
            spot = _pick_inside(rng, roof, u, v, margin)
            if spot is None:
                break
            diameter = float(rng.uniform(0.5, 2.0))
            k = plane.course_of(spot[1])
            # Hail marks the exposed face of a tab, clear of its butt edge and keyways.
            top, bottom = plane.course_top(k) + SHADOW_IN + diameter / 2, plane.course_top(k + 1) - diameter / 2 - 0.2
            if top >= bottom or not free(spot[0], spot[1], diameter / 2):
                continue
            pv = float(np.clip(spot[1], top, bottom))
            extent = diameter / 2 * 1.3
            box = _box(h, spot[0] - extent, pv - extent, spot[0] + extent, pv + extent, spec)
            # Truth is what a photo can show: a hit a few pixels across is not in the picture.
            if box is None or min(box[2] - box[0], box[3] - box[1]) < MIN_HIT_PX or not _inside_roof(roof, box):
                continue
            extent = _hail_hit(plane, spot[0], pv, diameter, base)
            box = _box(h, spot[0] - extent, pv - extent, spot[0] + extent, pv + extent, spec)
            if box is not None:
                marks.append(Mark("hail_hit", box, diameter))
            taken.append((spot[0], pv, extent))
            break

    # Lifted tabs draw from their own stream: adding them changes nothing else in the photo.
    lift_rng = np.random.default_rng([spec.seed, 7])
    for _ in range(spec.lifted):
        for _attempt in range(40):
            picked = tab_spot(lift_rng, margin * 2)
            if picked is None:
                continue
            spot, k, a, b = picked
            if spec.style == "laminated":  # a piece of a laminated shingle's edge, several inches
                a, b = spot[0] - lift_rng.uniform(3, 6), spot[0] + lift_rng.uniform(3, 6)
            if b - a < 4.0:
                continue
            edge = plane.course_top(k + 1)
            centre = ((a + b) / 2, edge)
            if not free(*centre, (b - a) / 2 + 1.0):
                continue
            box = _box(h, a, edge - 1.5, b, edge + SHADOW_IN + 1.4, spec)
            if box is None or not _inside_roof(roof, box):
                continue
            reach = _lifted(plane, lift_rng, k, a, b)
            box = _box(h, a, edge - 1.2, b, edge + reach, spec)
            if box is not None:
                marks.append(Mark("lifted_tab", box, b - a))
                taken.append((*centre, (b - a) / 2))
            break
    return marks


def _inside_roof(roof: Mask, box: Box) -> bool:
    x0, y0, x1, y1 = box
    return bool(roof[y0:y1, x0:x1].mean() > 0.9) if x1 > x0 and y1 > y0 else False


def standard_set() -> list[PhotoSpec]:
    """The acceptance set: 16 photos of both shingle styles, every blend, 0.8 to 2 MP, square-on to
    steeply tilted, some showing sky or the gutter and lawn, each with hail hits and a missing tab;
    a wind crease in every fourth and a lifted tab in every fourth (other photos)."""
    sizes = [(1280, 960), (1024, 768), (1600, 1200), (960, 1280), (1200, 900), (1440, 960)]
    views: list[View] = ["roof", "ridge", "roof", "eave"]
    specs = []
    for i in range(16):
        width, height = sizes[i % len(sizes)]
        specs.append(
            PhotoSpec(
                width=width,
                height=height,
                seed=100 + i,
                style="three_tab" if i % 3 == 1 else "laminated",
                view=views[i % len(views)],
                span_in=48.0 + 5.0 * ((i * 7) % 11),
                tilt_deg=[0.0, 15.0, 25.0, 35.0, 45.0][i % 5],
                yaw_deg=[-15.0, 0.0, 10.0, 20.0][i % 4],
                roll_deg=[0.0, 5.0, -8.0][i % 3],
                colour=i % len(PALETTE),
                hail=5 + i % 4,
                creases=1 if i % 4 == 3 else 0,
                lifted=1 if i % 4 == 1 else 0,
                light=0.2 + 0.05 * (i % 5),
            )
        )
    return specs
