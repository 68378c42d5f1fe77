"""What is around the roof and on it besides shingles: sky, ground, the wall below the eave (lap
siding or brick), soffit, fascia, gutter, trees, the chimney and the bodies of vents. Each shader
writes albedo and the sun and sky factors (or, for the sky, light) of its own pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evaluation.vision.families.geometry import F32, Vec
from evaluation.vision.families.light import Lighting
from evaluation.vision.families.materials import METALS, RGB, linear
from evaluation.vision.families.noise import cell_values, fbm, value_noise
from evaluation.vision.families.scene import Hits, House, Surface

WallKind = Literal["siding", "brick", "stucco"]
GroundKind = Literal["lawn", "mulch", "concrete"]


@dataclass(frozen=True)
class Surroundings:
    wall: WallKind = "siding"
    wall_rgb: RGB = (214, 210, 196)
    siding_in: float = 5.0  # lap siding exposure
    ground: GroundKind = "lawn"
    trim: str = "white"  # fascia, gutter and soffit colour (a METALS name)
    clouds: float = 0.4  # 0 clear .. 1 broken cloud
    treeline: bool = True


@dataclass
class Buffers:
    """The renderer's per-pixel accumulators (linear light)."""

    albedo: F32  # (h, w, 3)
    direct: F32  # (h, w): cosine to the sun times visibility
    ambient: F32  # (h, w): share of the sky seen
    emission: F32  # (h, w, 3): light the pixel gives off (the sky)
    gloss: F32  # (h, w): specular sheen of metal, wet or fresh asphalt

    @classmethod
    def empty(cls, height: int, width: int) -> Buffers:
        return cls(
            np.zeros((height, width, 3), np.float32),
            np.zeros((height, width), np.float32),
            np.ones((height, width), np.float32),
            np.zeros((height, width, 3), np.float32),
            np.zeros((height, width), np.float32),
        )


def _cos(normal: Vec, light: Lighting) -> float:
    if light.sun is None:
        return 0.0
    return max(0.0, normal[0] * light.sun[0] + normal[1] * light.sun[1] + normal[2] * light.sun[2])


def shade_sky(buf: Buffers, hits: Hits, light: Lighting, look: Surroundings, seed: int) -> None:
    where = hits.label == Surface.SKY
    if not where.any():
        return
    dx, dy, dz = hits.rays.dx[where], hits.rays.dy[where], hits.rays.dz[where]
    norm = np.sqrt(dx * dx + dy * dy + dz * dz)
    elevation = np.arcsin(np.clip(dz / norm, -1, 1))
    high = np.clip(elevation / (math.pi / 2), 0, 1) ** 0.5
    if light.overcast:
        horizon, zenith = linear((222, 224, 228)), linear((196, 200, 206))
    else:
        horizon, zenith = linear((200, 214, 230)), linear((92, 136, 204))
    colour = horizon + (zenith - horizon) * high[:, None]
    # Clouds on a dome: noise over the direction's position on a plane high above.
    px, py = dx / np.maximum(dz, 0.02) * 1000.0, dy / np.maximum(dz, 0.02) * 1000.0
    cloud = np.clip(fbm(px, py, 900.0, seed, octaves=4) * 1.6 + look.clouds - 0.55, 0, 1)
    colour = colour + (linear((236, 236, 238)) - colour) * cloud[:, None]
    strength = 1.1 if not light.overcast else 1.0
    if look.treeline:  # distant trees along the horizon
        bearing = np.arctan2(dx, dy) * 60.0
        ridge = 0.04 + 0.03 * value_noise(bearing, np.zeros_like(dx), 3.0, seed + 3)
        ridge += 0.012 * value_noise(bearing, np.zeros_like(dx), 0.4, seed + 4)
        trees = (elevation < ridge) & (elevation > -0.3)
        colour[trees] = (
            linear((40, 58, 38)) * (0.6 + 0.4 * value_noise(dx[trees] * 900, dz[trees] * 900, 3.0, seed))[:, None]
        )
        strength_map = np.where(trees, 0.5, strength).astype(np.float32)
    else:
        strength_map = np.full(dx.shape, strength, np.float32)
    buf.emission[where] = colour * strength_map[:, None]
    buf.albedo[where] = 0.0
    buf.ambient[where] = 0.0


def shade_ground(buf: Buffers, hits: Hits, light: Lighting, look: Surroundings, seed: int) -> None:
    where = hits.label == Surface.GROUND
    if not where.any():
        return
    x, y = hits.a[where], hits.b[where]
    n1 = fbm(x, y, 40.0, seed, octaves=4)
    n2 = value_noise(x, y, 0.6, seed + 1)
    if look.ground == "lawn":
        blade = value_noise(x * 3.0, y, 0.4, seed + 2)
        base = linear((88, 104, 62)) * (1 + 0.3 * n1)[:, None] * (0.6 + 0.5 * n2 + 0.3 * blade)[:, None]
        dry = np.clip((n1 - 0.2) * 2.5, 0, 1)[:, None]  # worn, dry patches
        base = base * (1 - dry) + linear((120, 112, 80)) * dry * (0.6 + 0.5 * n2)[:, None]
    elif look.ground == "mulch":
        base = linear((92, 62, 42)) * (1 + 0.3 * n1)[:, None] * (0.6 + 0.8 * n2)[:, None]
    else:
        base = linear((168, 164, 156)) * (1 + 0.1 * n1)[:, None] * (0.9 + 0.2 * n2)[:, None]
    buf.albedo[where] = base
    buf.direct[where] = _cos((0.0, 0.0, 1.0), light)
    buf.ambient[where] = 0.9


def shade_wall(buf: Buffers, hits: Hits, light: Lighting, look: Surroundings, seed: int) -> None:
    where = hits.label == Surface.WALL
    if not where.any():
        return
    x, z = hits.a[where], hits.b[where]
    colour = linear(look.wall_rgb)
    direct = _cos((0.0, -1.0, 0.0), light)
    if look.wall == "siding":
        e = look.siding_in
        f = (z % e) / e
        albedo = colour * (0.93 + 0.07 * f)[:, None] * (1 + 0.04 * fbm(x, z, 10.0, seed, octaves=2))[:, None]
        lap = np.clip(1.0 - (f - 0.0) / 0.06, 0, 1)  # the shadow under each board's lap
        ambient = 0.8 - 0.45 * lap
        direct_map = direct * (1 - 0.9 * lap)
    elif look.wall == "brick":
        row = np.floor(z / 2.75)
        offset = np.where(row % 2 == 0, 0.0, 4.1)
        bx = (x + offset) % 8.2
        bz = z % 2.75
        mortar = (bx < 0.4) | (bz < 0.38)
        pick, bright, _ = cell_values(np.floor((x + offset) / 8.2), row, 1.0, seed)
        tint = 0.7 + 0.5 * pick
        albedo = colour * tint[:, None] * (0.85 + 0.3 * bright)[:, None]
        albedo[mortar] = linear((176, 170, 160))
        ambient = np.where(mortar, 0.6, 0.8).astype(np.float32)
        direct_map = np.full(x.shape, direct, np.float32)
    else:
        albedo = colour * (1 + 0.08 * fbm(x, z, 3.0, seed, octaves=3))[:, None]
        ambient = np.full(x.shape, 0.8, np.float32)
        direct_map = np.full(x.shape, direct, np.float32)
    buf.albedo[where] = albedo
    buf.direct[where] = direct_map
    buf.ambient[where] = ambient


def shade_trim(buf: Buffers, hits: Hits, light: Lighting, look: Surroundings, house: House, seed: int) -> None:
    """Soffit, fascia (its top strip is the drip edge) and the gutter, with a K-style profile."""
    trim = linear(METALS.get(look.trim, METALS["white"]))
    soffit = hits.label == Surface.SOFFIT
    buf.albedo[soffit] = trim * 0.9
    buf.direct[soffit] = 0.0
    buf.ambient[soffit] = 0.3
    fascia = hits.label == Surface.FASCIA
    if fascia.any():
        z = hits.c[fascia]
        buf.albedo[fascia] = trim
        buf.direct[fascia] = _cos((0.0, -1.0, 0.0), light)
        buf.ambient[fascia] = 0.6
        drip = z > house.eave_in - 1.6
        idx = np.flatnonzero(fascia.ravel())[drip]
        hits.label.ravel()[idx] = Surface.DRIP_EDGE
        buf.albedo.reshape(-1, 3)[idx] = linear(METALS["galvanised"]) * 0.8
    gutter = hits.label == Surface.GUTTER
    if gutter.any() and house.gutter is not None:
        face = hits.face[gutter]
        z = hits.c[gutter]
        x = hits.a[gutter]
        _, gh = house.gutter
        top = house.eave_in - 1.0
        rel = np.clip((top - z) / gh, 0, 1)  # 0 at the lip, 1 at the bottom
        # K-style: a lip, an ogee curve (facing up, then out) and a flat face lower down.
        up = np.where(rel < 0.12, 0.2, np.where(rel < 0.45, 0.6 * (0.45 - rel) / 0.33, -0.15)).astype(np.float32)
        sun = light.sun or (0.0, 0.0, 0.0)
        cosine = np.maximum(0.0, -sun[1] * np.sqrt(1 - up * up) + sun[2] * up)
        albedo = np.tile(trim, (x.size, 1))
        albedo *= (1 + 0.03 * fbm(x, z, 20.0, seed, octaves=2))[:, None]
        inside = face == 3  # looking into the gutter from above: dark, with leaves
        leaves = value_noise(x, hits.b[gutter], 2.0, seed + 5) > 0.8
        albedo[inside] = linear((34, 32, 30))
        albedo[inside & leaves] = linear((70, 56, 38))
        buf.albedo[gutter] = albedo
        buf.direct[gutter] = np.where(inside, 0.2 * _cos((0.0, 0.0, 1.0), light), cosine)
        buf.ambient[gutter] = np.where(inside, 0.25, np.where(face == -3, 0.3, 0.7))
        buf.gloss[gutter] = np.where(inside, 0.0, 0.15)


def shade_tree(buf: Buffers, hits: Hits, light: Lighting, house: House, seed: int) -> None:
    where = hits.label == Surface.TREE
    if not where.any():
        return
    x, y = hits.a[where], hits.b[where]
    density = hits.extras.get("canopy_density", np.zeros_like(hits.t))[where]
    leaf, bright, _ = cell_values(x, y, 1.4, seed)
    clump = fbm(x, y, 14.0, seed + 9, octaves=3)
    green = linear((64, 92, 40)) * (0.55 + 0.9 * bright)[:, None] * (1 + 0.4 * clump)[:, None]
    green[leaf > 0.93] = linear((122, 110, 60))
    below = house.canopy is not None and hits.rays.origin[2] < house.canopy.z
    underside = 0.55 if below else 1.0  # from below, the shaded underside of the leaves
    buf.albedo[where] = green
    buf.direct[where] = _cos((0.0, 0.0, 1.0), light) * np.clip(0.3 + 0.6 * clump + 0.2 * density, 0, 1) * underside
    buf.ambient[where] = 0.45 + 0.25 * clump


def shade_chimney(buf: Buffers, hits: Hits, light: Lighting, house: House, seed: int) -> None:
    where = hits.label == Surface.CHIMNEY
    if not where.any():
        return
    face = hits.face[where]
    x, y, z = hits.a[where], hits.b[where], hits.c[where]
    along = np.where(np.abs(face) == 1, y, x)
    row = np.floor(z / 2.75)
    offset = np.where(row % 2 == 0, 0.0, 4.1)
    mortar = (((along + offset) % 8.2) < 0.4) | ((z % 2.75) < 0.38)
    pick, _, _ = cell_values(np.floor((along + offset) / 8.2), row, 1.0, seed)
    albedo = linear((150, 70, 52)) * (0.7 + 0.5 * pick)[:, None]
    albedo[mortar] = linear((170, 164, 152))
    top = face == 3
    albedo[top] = linear((60, 58, 56))
    direct = np.zeros(face.shape, np.float32)
    for f, normal in ((1, (1.0, 0.0, 0.0)), (-1, (-1.0, 0.0, 0.0)), (2, (0.0, 1.0, 0.0)), (-2, (0.0, -1.0, 0.0))):
        direct[face == f] = _cos(normal, light)
    direct[top] = _cos((0.0, 0.0, 1.0), light)
    buf.albedo[where] = albedo
    buf.direct[where] = direct
    buf.ambient[where] = 0.6


def shade_vent_bodies(buf: Buffers, hits: Hits, light: Lighting, house: House, metal: RGB) -> None:
    """Box vents (metal, a louvre on the side facing down the slope) and pipes (PVC or cast iron)."""
    where = (hits.label == Surface.VENT) & (hits.obj >= 0)
    if not where.any():
        return
    front = house.front
    axes = {1: front.eu, 2: front.es, 3: front.en}
    colour = linear(metal)
    idx = np.flatnonzero(where.ravel())
    obj = hits.obj.ravel()[idx]
    face = hits.face.ravel()[idx]
    albedo = np.tile(colour, (idx.size, 1))
    direct = np.zeros(idx.size, np.float32)
    for f in (1, -1, 2, -2, 3, -3):
        axis = axes[abs(f)]
        normal = (axis[0] * np.sign(f), axis[1] * np.sign(f), axis[2] * np.sign(f))
        direct[face == f] = _cos(normal, light)
    for index, thing in enumerate(house.objects):
        mine = obj == index
        if not mine.any():
            continue
        if thing.kind == "pipe":
            angle = hits.a.ravel()[idx][mine]
            sun = light.sun or (0.0, 0.0, 0.0)
            cosine = np.maximum(0.0, np.cos(angle) * sun[0] + np.sin(angle) * sun[1])
            on_top = face[mine] == 3
            direct[mine] = np.where(on_top, _cos((0.0, 0.0, 1.0), light) * 0.3, cosine)
            albedo[mine] = linear((44, 44, 46)) if thing.radius < 1.6 else linear((210, 210, 205))
        elif thing.kind == "box_vent":
            n = hits.c.ravel()[idx][mine]
            louvre = (face[mine] == -2) & ((n % 1.0) < 0.45) & (n > 1.0)
            a = albedo[mine]
            a[louvre] *= 0.2
            albedo[mine] = a
    buf.albedo.reshape(-1, 3)[idx] = albedo
    buf.direct.ravel()[idx] = direct
    buf.ambient.ravel()[idx] = 0.7
    buf.gloss.ravel()[idx] = 0.25
