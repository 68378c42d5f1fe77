"""Age and dirt on the front slope, none of it damage: staining, algae streaks, wet patches and moss
(fields over the whole slope), and discrete look-alikes, each boxed as a `Distractor`: lichen spots,
leaves and twigs, foot-traffic scuffs, nail pops, blisters (some popped) and replaced tabs.

Strengths and counts come from the photo's `Wear` (counts are per 100 sq ft of roof in view)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from evaluation.vision.families.decals import (
    Patch,
    Slope,
    angular_wobble,
    blend_albedo,
    blend_scalar,
    disc_alpha,
    patch,
)
from evaluation.vision.families.materials import linear
from evaluation.vision.families.noise import fbm, smoothstep, value_noise
from evaluation.vision.families.params import SceneParams
from evaluation.vision.families.scene import Hits
from evaluation.vision.families.shingles import PlaneLight
from evaluation.vision.families.surroundings import Buffers
from evaluation.vision.families.truth import Distractor

F32 = npt.NDArray[np.float32]

LEAF_COLOURS = ((112, 72, 40), (168, 92, 34), (184, 150, 56), (74, 92, 42), (66, 48, 32), (140, 60, 40))
MAX_DECALS = 400


def apply(
    buf: Buffers, hits: Hits, slope: Slope, p: SceneParams, light: PlaneLight | None, rng: np.random.Generator
) -> list[Distractor]:
    w = p.wear
    _fields(buf, slope, p, rng)
    per_100 = slope.area_sqft() / 100.0
    out: list[Distractor] = []

    def count(rate: float) -> int:
        return int(min(MAX_DECALS, rng.poisson(max(rate, 0.0) * per_100)))

    for pos in slope.sample(rng, count(12 * w.lichen)):
        out.extend(_lichen(buf, hits, slope, pos, rng))
    for pos in slope.sample(rng, count(10 * w.leaves)):
        out.extend(_leaf(buf, hits, slope, pos, rng, light))
    for pos in slope.sample(rng, count(1.5 * w.scuffs)):
        out.extend(_scuff(buf, hits, slope, pos, rng))
    for pos in slope.sample(rng, count(3 * w.nail_pops)):
        out.extend(_nail_pop(buf, hits, slope, pos, rng, light))
    for pos in slope.sample(rng, count(0.6 * w.blisters)):
        out.extend(_blisters(buf, hits, slope, pos, rng, light))
    for pos in slope.sample(rng, count(4 * w.patches)):
        out.extend(_replaced_tab(buf, slope, pos, rng))
    return out


def _fields(buf: Buffers, slope: Slope, p: SceneParams, rng: np.random.Generator) -> None:
    """Stains, algae streaks, wet patches and moss along the butt edges, over the whole slope."""
    w = p.wear
    if not any((w.stain, w.algae, w.wet, w.moss)):
        return
    seed = int(rng.integers(1 << 30))
    u, s = slope.inp.u, slope.inp.s
    factor = np.ones(u.shape, np.float32)
    if w.stain > 0:
        factor *= 1.0 + w.stain * 0.22 * slope.coarse(lambda a, b: fbm(a, b, 60.0, seed, octaves=3))
    if w.algae > 0:
        # Gloeocapsa streaks run down the slope from where the algae took hold: narrow across, long along.
        def streaks(a: F32, b: F32) -> F32:
            narrow = smoothstep(0.55, 0.8, value_noise(a, b * 0.04, 4.0, seed + 1))
            return narrow * smoothstep(-0.2, 0.3, fbm(a, b, 90.0, seed + 2, octaves=2))

        factor *= 1.0 - w.algae * 0.55 * slope.coarse(streaks, 2)
    if w.wet > 0:
        wet = slope.coarse(lambda a, b: smoothstep(0.05, 0.3, fbm(a, b, 55.0, seed + 3, octaves=3))) * w.wet
        factor *= 1.0 - 0.42 * wet
        flat = buf.gloss.ravel()
        flat[slope.index] = np.maximum(flat[slope.index], 0.5 * wet)
    albedo = buf.albedo.reshape(-1, 3)
    albedo[slope.index] *= factor[:, None]
    if w.moss > 0:
        d_top = slope.shade.next_butt - s
        crevice = np.exp(-np.maximum(d_top, 0) / 0.9).astype(np.float32)
        patchy = slope.coarse(lambda a, b: smoothstep(0.0, 0.35, fbm(a, b, 50.0, seed + 5, octaves=2)))
        near = np.flatnonzero(crevice * patchy > 0.05)
        if near.size:
            clumps = smoothstep(0.45, 0.7, value_noise(u[near], s[near], 1.2, seed + 4))
            alpha = np.clip(w.moss * crevice[near] * clumps * patchy[near] * 1.2, 0, 0.85)
            idx = slope.index[near]
            tint = value_noise(u[near], s[near], 3.0, seed + 6)[:, None]
            colour = linear((92, 100, 52)) * (1 - tint) + linear((44, 58, 36)) * tint
            a = alpha[:, None]
            albedo[idx] = albedo[idx] * (1 - a) + colour * a
            amb = buf.ambient.ravel()
            amb[idx] = np.maximum(amb[idx], 0.9 * alpha)


def _at(slope: Slope, pos: int) -> tuple[float, float]:
    return float(slope.inp.u[pos]), float(slope.inp.s[pos])


def _boxed(kind: str, p: Patch, alpha: F32) -> list[Distractor]:
    box = p.box(alpha)
    return [Distractor(kind, box)] if box is not None else []


def _lichen(buf: Buffers, hits: Hits, slope: Slope, pos: int, rng: np.random.Generator) -> list[Distractor]:
    cu, cs = _at(slope, pos)
    r = float(rng.uniform(0.2, 1.0))
    p = patch(hits, slope.scale, slope.pos, cu - r * 1.3, cs - r * 1.3, cu + r * 1.3, cs + r * 1.3)
    if p is None:
        return []
    alpha, rn = disc_alpha(p, cu, cs, r, angular_wobble(p, cu, cs, rng, 0.35))
    ring = np.clip(1.0 - np.abs(rn - 0.85) / 0.15, 0, 1)
    base = linear((150, 156, 138)) if rng.random() < 0.7 else linear((136, 146, 100))
    crust = 0.75 + 0.5 * value_noise(p.u, p.s, 0.12, int(rng.integers(1 << 30)))  # crusty, patchy growth
    colour = base[None, :] * ((0.85 + 0.2 * ring) * crust)[:, None]
    blend_albedo(buf, p, colour, alpha * float(rng.uniform(0.45, 0.8)))
    return _boxed("lichen", p, alpha)


def _leaf(
    buf: Buffers, hits: Hits, slope: Slope, pos: int, rng: np.random.Generator, light: PlaneLight | None
) -> list[Distractor]:
    cu, cs = _at(slope, pos)
    twig = rng.random() < 0.25
    length = float(rng.uniform(3.0, 12.0) if twig else rng.uniform(1.5, 4.0))
    half = length / 2
    p = patch(hits, slope.scale, slope.pos, cu - half - 1, cs - half - 1, cu + half + 1, cs + half + 1)
    if p is None:
        return []
    a = rng.uniform(0, math.pi)
    x = (p.u - cu) * math.cos(a) + (p.s - cs) * math.sin(a)
    y = -(p.u - cu) * math.sin(a) + (p.s - cs) * math.cos(a)
    fp = p.footprint
    if twig:
        width = float(rng.uniform(0.08, 0.22))
        bend = 0.15 * length * np.sin(x / length * math.pi * rng.uniform(0.5, 1.5))
        inside = np.minimum(width / 2 - np.abs(y - bend), half - np.abs(x))
        colour = linear((70, 52, 36))
    else:
        width = length * float(rng.uniform(0.3, 0.55))
        edge = (width / 2) * np.sqrt(np.clip(1 - (x / half) ** 2, 0, 1)) * (1 - 0.25 * (x / half))
        inside = np.minimum(edge - np.abs(y), half - np.abs(x))
        c = LEAF_COLOURS[int(rng.integers(len(LEAF_COLOURS)))]
        vein = np.clip(1.0 - np.abs(y) / 0.04, 0, 1)
        colour = np.asarray(linear(c)[None, :] * (0.9 + 0.2 * rng.random() - 0.3 * vein)[:, None], np.float32)
    alpha = np.clip(inside / np.maximum(fp, 1e-4) + 0.5, 0, 1).astype(np.float32)
    blend_albedo(buf, p, colour, alpha)
    if light is not None and light.lit:  # a curled leaf shades the roof beside it, faintly
        blend_scalar(buf.ambient, p, 0.85, alpha * 0.3)
    return _boxed("twig" if twig else "leaf", p, alpha)


def _scuff(buf: Buffers, hits: Hits, slope: Slope, pos: int, rng: np.random.Generator) -> list[Distractor]:
    cu, cs = _at(slope, pos)
    a_len, b_len = float(rng.uniform(2.5, 5.0)), float(rng.uniform(1.2, 2.4))
    p = patch(hits, slope.scale, slope.pos, cu - a_len - 1, cs - a_len - 1, cu + a_len + 1, cs + a_len + 1)
    if p is None:
        return []
    ang = rng.uniform(0, math.pi)
    x = (p.u - cu) * math.cos(ang) + (p.s - cs) * math.sin(ang)
    y = -(p.u - cu) * math.sin(ang) + (p.s - cs) * math.cos(ang)
    r = np.sqrt((x / a_len) ** 2 + (y / b_len) ** 2)
    alpha = np.asarray(smoothstep(1.0, 0.55, r) * (0.6 + 0.4 * value_noise(p.u, p.s, 0.6, int(pos))), np.float32)
    factor = float(rng.choice([0.82, 0.88, 1.12, 1.18]))
    flat = buf.albedo.reshape(-1, 3)
    flat[p.idx] = flat[p.idx] * (1 + (factor - 1) * alpha)[:, None]
    return _boxed("scuff", p, alpha)


def _bump(p: Patch, cu: float, cs: float, radius: float, height: float, light: PlaneLight | None) -> F32:
    """The sun's cosine on a round bump (a Gaussian of `radius` and `height`), relative to flat."""
    if light is None or not light.lit:
        return np.ones(p.u.shape, np.float32)
    du, ds = p.u - cu, p.s - cs
    g = height * np.exp(-(du * du + ds * ds) / (radius * radius))
    hu, hs = -2 * du / (radius * radius) * g, -2 * ds / (radius * radius) * g
    cosine = (light.ln - hu * light.lu - hs * light.ls) / np.sqrt(1 + hu * hu + hs * hs)
    return np.asarray(np.maximum(cosine, 0) / light.ln, np.float32)


def _nail_pop(
    buf: Buffers, hits: Hits, slope: Slope, pos: int, rng: np.random.Generator, light: PlaneLight | None
) -> list[Distractor]:
    cu = float(slope.inp.u[pos])
    cs = float(slope.shade.butt[pos]) + float(rng.uniform(0.5, 1.4))  # over the nail line of the course below
    r = float(rng.uniform(0.35, 0.6))
    p = patch(hits, slope.scale, slope.pos, cu - 2 * r, cs - 2 * r, cu + 2 * r, cs + 2 * r)
    if p is None:
        return []
    shading = _bump(p, cu, cs, r, 0.15, light)
    flat = buf.direct.ravel()
    flat[p.idx] *= shading
    alpha = np.asarray(np.abs(shading - 1.0) > 0.05, np.float32)
    if rng.random() < 0.35:  # the head has come through
        head, _ = disc_alpha(p, cu, cs, 0.19)
        blend_albedo(buf, p, linear((120, 118, 112)), head)
        blend_scalar(buf.gloss, p, 0.6, head)
        alpha = np.maximum(alpha, head)
    return _boxed("nail_pop", p, alpha)


def _blisters(
    buf: Buffers, hits: Hits, slope: Slope, pos: int, rng: np.random.Generator, light: PlaneLight | None
) -> list[Distractor]:
    cu, cs = _at(slope, pos)
    spread = float(rng.uniform(3.0, 9.0))
    out: list[Distractor] = []
    for _ in range(int(rng.integers(5, 25))):
        bu, bs = cu + rng.normal(0, spread / 2), cs + rng.normal(0, spread / 2)
        r = float(rng.uniform(0.1, 0.32))
        p = patch(hits, slope.scale, slope.pos, bu - 2 * r, bs - 2 * r, bu + 2 * r, bs + 2 * r)
        if p is None:
            continue
        shading = _bump(p, bu, bs, r, 0.08, light)
        flat = buf.direct.ravel()
        flat[p.idx] *= shading
        alpha = np.asarray(np.abs(shading - 1.0) > 0.05, np.float32)
        if rng.random() < 0.3:  # popped: a small crater of bare asphalt with a pale rim
            core, rn = disc_alpha(p, bu, bs, r * 0.55)
            rim = np.clip(1 - np.abs(rn - 1.15) / 0.25, 0, 1)
            blend_albedo(buf, p, linear((40, 39, 37)), core)
            flat_a = buf.albedo.reshape(-1, 3)
            flat_a[p.idx] *= (1 + 0.3 * rim)[:, None]
            alpha = np.maximum(alpha, core)
        out.extend(_boxed("blister", p, alpha))
    return out


def _replaced_tab(buf: Buffers, slope: Slope, pos: int, rng: np.random.Generator) -> list[Distractor]:
    """A tab replaced with one from another bundle or year: the same shape, a different shade."""
    piece = slope.shade.piece[pos]
    if slope.layout.kind[piece] != 0:
        return []
    mine = np.flatnonzero(slope.shade.piece == piece)
    factor = float(rng.choice([0.72, 0.8, 1.2, 1.3]))
    flat = buf.albedo.reshape(-1, 3)
    flat[slope.index[mine]] *= factor
    ys, xs = np.divmod(slope.index[mine], buf.albedo.shape[1])
    return [Distractor("replaced_tab", (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))]
