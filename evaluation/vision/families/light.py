"""Sunlight, skylight and the shadows things cast on the roof.

The sun is set in the roof plane's own terms, as a photographer would judge it: how high it stands
above the slope (`graze_deg`: 90 overhead of the slope, 10 raking) and from where (`from_deg`: 0 from
up the slope, behind the ridge, so butt edges throw shadows down the slope; 90 from along the
eave, so keyway walls throw them sideways; 180 from down the slope, lighting the butt faces). The
world direction follows; a sun that would be below the horizon is raised to just above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from evaluation.vision.families.geometry import F32, FAR, Frame, Vec, unit
from evaluation.vision.families.scene import Canopy, Hits, House, RoofObject, canopy_density
from evaluation.vision.families.shingles import PlaneLight

Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Lighting:
    """`sun`: unit world vector towards the sun, or None (overcast). Colours are linear RGB and
    already scaled: sunlight on a surface facing the sun, skylight on a surface seeing all the sky."""

    sun: Vec | None
    sun_rgb: tuple[float, float, float]
    sky_rgb: tuple[float, float, float]
    overcast: bool = False

    def in_plane(self, frame: Frame) -> PlaneLight | None:
        if self.sun is None:
            return None
        lu, ls, ln = frame.local_dir(self.sun)
        return PlaneLight(lu, ls, ln)


def sun_over(frame: Frame, graze_deg: float, from_deg: float, strength: float = 1.0, sky: float = 0.22) -> Lighting:
    g, a = math.radians(graze_deg), math.radians(from_deg)
    local = (math.cos(g) * math.sin(a), math.cos(g) * math.cos(a), math.sin(g))
    world = unit(
        (
            frame.eu[0] * local[0] + frame.es[0] * local[1] + frame.en[0] * local[2],
            frame.eu[1] * local[0] + frame.es[1] * local[1] + frame.en[1] * local[2],
            frame.eu[2] * local[0] + frame.es[2] * local[1] + frame.en[2] * local[2],
        )
    )
    if world[2] < 0.06:  # below the horizon: lift it just over
        flat = math.hypot(world[0], world[1])
        world = unit((world[0] / flat * 0.998, world[1] / flat * 0.998, 0.06))
    elevation = math.degrees(math.asin(world[2]))
    warm = max(0.0, 1.0 - elevation / 30.0)  # a low sun is warmer
    sun_rgb = (strength, strength * (0.96 - 0.16 * warm), strength * (0.9 - 0.32 * warm))
    sky_rgb = (sky * 0.78, sky * 0.88, sky * 1.05)
    return Lighting(world, sun_rgb, sky_rgb)


def overcast(brightness: float = 1.0) -> Lighting:
    return Lighting(None, (0.0, 0.0, 0.0), (0.95 * brightness, 0.97 * brightness, 1.0 * brightness), overcast=True)


def canopy_shadow(house: House, hits: Hits, light: Lighting, factor: int = 4) -> F32:
    """The share of the sun each pixel keeps under the canopy (1 where no leaves are in the way),
    worked out on a coarse grid (leaf shadows are soft-edged anyway) and smoothed back up."""
    shape = hits.t.shape
    if light.sun is None or house.canopy is None:
        return np.ones(shape, np.float32)
    canopy: Canopy = house.canopy
    t = hits.t[factor // 2 :: factor, factor // 2 :: factor]
    sub_dx = hits.rays.dx[factor // 2 :: factor, factor // 2 :: factor]
    sub_dy = hits.rays.dy[factor // 2 :: factor, factor // 2 :: factor]
    sub_dz = hits.rays.dz[factor // 2 :: factor, factor // 2 :: factor]
    o = hits.rays.origin
    valid = t < FAR
    px, py, pz = o[0] + t * sub_dx, o[1] + t * sub_dy, o[2] + t * sub_dz
    sx, sy, sz = light.sun
    lam = (canopy.z - pz) / max(sz, 1e-3)
    below = valid & (lam > 0)
    keep = np.ones(t.shape, np.float32)
    if below.any():
        qx, qy = px[below] + lam[below] * sx, py[below] + lam[below] * sy
        density = canopy_density(canopy, qx.astype(np.float32), qy.astype(np.float32))
        keep[below] = np.clip(0.5 - density / 0.08, 0.0, 1.0)  # a few inches of penumbra, dappled by the noise
    return np.asarray(cv2.resize(keep, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), np.float32)


def object_shadows(house: House, hits: Hits, light: Lighting, region: Mask) -> F32:
    """The share of the sun each roof pixel (in `region`) keeps after the objects standing on the
    roof (vents, pipes, the chimney) have cast their shadows."""
    keep = np.ones(hits.t.shape, np.float32)
    if light.sun is None or not house.objects:
        return keep
    idx = np.flatnonzero(region)
    if idx.size == 0:
        return keep
    front = house.front
    u = hits.a.ravel()[idx]
    s = hits.b.ravel()[idx]
    lu, ls, ln = front.local_dir(light.sun)
    if ln <= 0.02:
        return keep
    out = np.ones(idx.size, np.float32)
    for obj in house.objects:
        height = obj.height_over_roof(house)
        du, ds = -lu / ln * height, -ls / ln * height  # the shadow of the top lies this far from the base
        (u0, s0), (u1, s1) = obj.footprint(house)
        near = (u >= min(u0, u0 + du) - 2) & (u <= max(u1, u1 + du) + 2)
        near &= (s >= min(s0, s0 + ds) - 2) & (s <= max(s1, s1 + ds) + 2)
        if not near.any():
            continue
        out[near] *= 1.0 - _blocked(house, obj, u[near], s[near], light.sun)
    keep.ravel()[idx] = out
    return keep


def _blocked(house: House, obj: RoofObject, u: F32, s: F32, sun: Vec) -> F32:
    """1 where the ray from the roof point (u, s) towards the sun passes through the object."""
    front = house.front
    px = front.origin[0] + u * front.eu[0] + s * front.es[0]
    py = front.origin[1] + u * front.eu[1] + s * front.es[1]
    pz = front.origin[2] + u * front.eu[2] + s * front.es[2]
    if obj.kind == "pipe":
        (cx, cy, _), top = obj.pipe_axis(house)
        # Closest approach of the ray to the plumb axis, in plan; blocked if within the radius below the top.
        dx, dy = px - cx, py - cy
        plan = sun[0] ** 2 + sun[1] ** 2
        lam = np.maximum(-(dx * sun[0] + dy * sun[1]) / max(plan, 1e-9), 0.0)
        dist = np.hypot(dx + lam * sun[0], dy + lam * sun[1])
        z = pz + lam * sun[2]
        return np.asarray((dist <= obj.radius) & (z <= top) & (lam > 0.05), np.float32)
    frame = obj.frame(house)
    c = [
        (px - frame.origin[0]) * ax[0] + (py - frame.origin[1]) * ax[1] + (pz - frame.origin[2]) * ax[2]
        for ax in (frame.eu, frame.es, frame.en)
    ]
    d = frame.local_dir(sun)
    t_near = np.full(u.shape, 0.05, np.float32)
    t_far = np.full(u.shape, FAR, np.float32)
    for axis in range(3):
        lo, hi = obj.lo[axis], obj.hi[axis]
        if abs(d[axis]) < 1e-9:
            inside = (c[axis] >= lo) & (c[axis] <= hi)
            t_far = np.where(inside, t_far, -1.0).astype(np.float32)
            continue
        t1, t2 = (lo - c[axis]) / d[axis], (hi - c[axis]) / d[axis]
        t_near = np.maximum(t_near, np.minimum(t1, t2))
        t_far = np.minimum(t_far, np.maximum(t1, t2))
    return np.asarray(t_far >= t_near, np.float32)
