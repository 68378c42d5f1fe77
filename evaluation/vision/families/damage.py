"""Damage painted on the front slope, each with its exact truth box: hail hits (on the field and on
ridge caps), wind creases, lifted tabs and missing shingles.

A mark is placed only where it is wholly in the photo, on shingles the camera sees (not under a
branch, not on a vent), not overlapping another mark or a distractor, and big enough in pixels to
be seen at all. Its box bounds the pixels it changed (by at least a quarter), x1/y1 exclusive.

- Hail hit (0.5 to 2.5 in): granules knocked off a roundish, ragged-edged spot, bare asphalt
  showing, a few granules left; some with a lighter rim of crushed granules ("crushed_rim"), some
  fresh with the glossy mat showing in the middle ("fresh_mat"), the rest plain ("bruise").
- Wind crease: a straight line of broken granules across a tab 1 to 4 in above its butt, the tab
  below it bent (so lit differently); the box spans the line and half an inch either side.
- Lifted tab: the butt raised 0.3 to 1 in, so the shadow under it widens (or a dark gap shows under
  it), its lower edge catches the light and the tab tilts; the box holds the tab and the shadow.
- Missing shingle: a tab (3-tab) or a piece (laminate) torn off, showing the course below (fresh
  granules, its sealant strip and nail heads), black felt, or the deck (OSB); for felt and deck the
  piece above is torn too, with a ragged edge.
"""

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
    unobstructed,
)
from evaluation.vision.families.materials import linear
from evaluation.vision.families.noise import band_coverage, cell_values, fbm, value_noise
from evaluation.vision.families.params import SceneParams
from evaluation.vision.families.scene import Hits, Surface
from evaluation.vision.families.shingles import TAB, PlaneLight, edge_terms
from evaluation.vision.families.surroundings import Buffers
from evaluation.vision.families.truth import Mark
from vision.detections import Box, DamageType

F32 = npt.NDArray[np.float32]

MIN_HAIL_PX = 6.0  # a hit narrower than this in the photo is not placed (nobody could see it)
MIN_TAB_PX = 14.0  # nor a tab-sized mark narrower than this
BORDER_PX = 3
ATTEMPTS = 40
ASPHALT = (33, 32, 31)


class _Places:
    """Where marks already are (plane circles) and distractors (photo boxes), so marks overlap neither."""

    def __init__(self, boxes: list[Box]) -> None:
        self.taken: list[tuple[float, float, float]] = []
        self.boxes = boxes

    def clear_of_distractors(self, p: Patch) -> bool:
        ys, xs = np.divmod(p.idx, p.width)
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        return not any(b[0] < x1 and x0 < b[2] and b[1] < y1 and y0 < b[3] for b in self.boxes)

    def free(self, u: float, s: float, r: float) -> bool:
        return all(math.hypot(u - a, s - b) > r + c for a, b, c in self.taken)

    def take(self, u: float, s: float, r: float) -> None:
        self.taken.append((u, s, r))


def apply(
    buf: Buffers,
    hits: Hits,
    slope: Slope,
    p: SceneParams,
    light: PlaneLight | None,
    rng: np.random.Generator,
    avoid: list[Box] | None = None,
) -> list[Mark]:
    """Paint the photo's planned damage; `avoid` are distractor boxes no mark may overlap."""
    places = _Places(list(avoid or []))
    marks: list[Mark] = []
    plan = p.damage
    for _ in range(plan.missing):
        marks.extend(_try(lambda: _missing(buf, hits, slope, p, light, rng, places)))
    for _ in range(plan.lifted):
        marks.extend(_try(lambda: _lifted(buf, hits, slope, p, light, rng, places)))
    for _ in range(plan.creases):
        marks.extend(_try(lambda: _crease(buf, hits, slope, p, light, rng, places)))
    for _ in range(plan.hail):
        marks.extend(_try(lambda: _hail(buf, hits, slope, p, light, rng, places, on_cap=False)))
    for _ in range(plan.ridge_hail):
        marks.extend(_try(lambda: _hail(buf, hits, slope, p, light, rng, places, on_cap=True)))
    return marks


def _try(make: object) -> list[Mark]:
    assert callable(make)
    for _ in range(ATTEMPTS):
        mark = make()
        if mark is not None:
            return [mark]
    return []


def _inside_photo(slope: Slope, u0: float, s0: float, u1: float, s1: float) -> bool:
    corners = np.array([[u0, s0, 1.0], [u1, s0, 1.0], [u0, s1, 1.0], [u1, s1, 1.0]]).T
    q = slope.scale.homography @ corners
    if np.any(q[2] <= 1e-6):
        return False
    xs, ys = q[0] / q[2], q[1] / q[2]
    return bool(
        xs.min() >= BORDER_PX
        and ys.min() >= BORDER_PX
        and xs.max() <= slope.scale.width - BORDER_PX
        and ys.max() <= slope.scale.height - BORDER_PX
    )


# ---- hail -------------------------------------------------------------------------------------------


def _hail(
    buf: Buffers,
    hits: Hits,
    slope: Slope,
    p: SceneParams,
    light: PlaneLight | None,
    rng: np.random.Generator,
    places: _Places,
    on_cap: bool,
) -> Mark | None:
    lo, hi = p.damage.hail_in
    # Sizes lean to the common 0.75-1.75 in, the ends of the range rarer.
    diameter = float(np.clip(rng.triangular(lo, lo + 0.4 * (hi - lo), hi), lo, hi))
    if on_cap:
        if slope.cap is None:
            return None
        pos = int(rng.integers(slope.index.size))
        cu = float(slope.inp.u[pos])
        cs = float(rng.uniform(slope.cap.start + diameter / 2 + 0.3, slope.cap.ridge_s - diameter / 2 - 0.2))
    else:
        pos = int(slope.sample(rng, 1)[0])
        cu, cs = float(slope.inp.u[pos]), float(slope.inp.s[pos])
        if slope.cap is not None and cs > slope.cap.start - diameter:
            return None
    r = diameter / 2
    fu, fs = float(slope.inp.fu[pos]), float(slope.inp.fs[pos])
    if diameter / math.sqrt(fu * fs) < MIN_HAIL_PX or diameter / max(fu, fs) < MIN_HAIL_PX * 0.6:
        return None
    reach = r * 1.4
    if not places.free(cu, cs, reach) or not _inside_photo(slope, cu - reach, cs - reach, cu + reach, cs + reach):
        return None
    surface = (int(Surface.RIDGE_CAP if on_cap else Surface.SHINGLES),)
    if not unobstructed(hits, slope.scale, cu - reach, cs - reach, cu + reach, cs + reach, surface):
        return None
    win = patch(hits, slope.scale, slope.pos, cu - reach, cs - reach, cu + reach, cs + reach, surface)
    if win is None or not places.clear_of_distractors(win):
        return None
    places.take(cu, cs, reach)

    wobble = angular_wobble(win, cu, cs, rng, float(rng.uniform(0.08, 0.2)))
    core, rn = disc_alpha(win, cu, cs, r * 0.82, wobble)
    # A few granules stay in the bruise, more towards its ragged edge.
    keep, _, _ = cell_values(win.u, win.s, 0.07, int(rng.integers(1 << 30)))
    stays = (keep < 0.12 + 0.5 * np.clip(rn - 0.6, 0, 1)).astype(np.float32)
    bare = core * (1.0 - 0.85 * stays)
    asphalt = linear(ASPHALT) * float(rng.uniform(0.8, 1.25))
    detail = str(rng.choice(["bruise", "crushed_rim", "fresh_mat"], p=[0.5, 0.3, 0.2]))
    rim_alpha = np.zeros_like(core)
    if detail == "crushed_rim":
        rim_alpha = np.clip(1.0 - np.abs(rn - 1.05) / 0.22, 0, 1).astype(np.float32) * (1 - core)
        flat = buf.albedo.reshape(-1, 3)
        flat[win.idx] *= (1 + 0.45 * rim_alpha)[:, None]
        flat[win.idx] += (0.012 * rim_alpha)[:, None]
    blend_albedo(buf, win, asphalt, bare)
    if detail == "fresh_mat":
        mat, _ = disc_alpha(win, cu + rng.normal(0, r * 0.1), cs + rng.normal(0, r * 0.1), r * 0.4)
        blend_albedo(buf, win, asphalt * 1.5, mat * 0.7)  # the mat, still black with asphalt, glossy
        blend_scalar(buf.gloss, win, 0.35, mat)
    # A shallow dent: the side facing the sun a little brighter, the other a little darker.
    if light is not None and light.lit:
        du, ds = win.u - cu, win.s - cs
        tilt = 0.12 * core * (du * light.lu + ds * light.ls) / max(r, 1e-3) / max(light.ln, 0.2)
        flat_d = buf.direct.ravel()
        flat_d[win.idx] *= np.clip(1.0 + tilt, 0.6, 1.4)
    changed = np.maximum(bare, np.maximum(rim_alpha, core * 0.5))
    box = win.box(changed)
    if box is None:
        return None
    return Mark("hail_hit", box, round(diameter, 3), "ridge_cap" if on_cap else "field", detail)


# ---- tabs: creases, lifted, missing -------------------------------------------------------------------


def _tab(
    slope: Slope, rng: np.random.Generator, hits: Hits, places: _Places, grow_below: float, grow_above: float
) -> tuple[int, float, float, float, float, Patch] | None:
    """A random whole tab (or laminate tooth) in view: (piece, u0, u1, its butt s, next butt s, the
    patch covering it and `grow_*` inches beyond its butt and top)."""
    pos = int(slope.sample(rng, 1)[0])
    piece = int(slope.shade.piece[pos])
    layout = slope.layout
    if layout.kind[piece] != TAB or (slope.cap is not None and slope.inp.s[pos] > slope.cap.start - 12):
        return None
    u0, u1 = float(layout.start[piece]), float(layout.end[piece])
    b0, b1 = float(slope.shade.butt[pos]), float(slope.shade.next_butt[pos])
    width_px = (u1 - u0) / max(float(slope.inp.fu[pos]), 1e-6)
    if width_px < MIN_TAB_PX or (b1 - b0) / max(float(slope.inp.fs[pos]), 1e-6) < 5:
        return None
    cu, cs = (u0 + u1) / 2, (b0 + b1) / 2
    radius = max(u1 - u0, b1 - b0) / 2 + max(grow_below, grow_above)
    if not places.free(cu, cs, radius * 0.8):
        return None
    lo_s, hi_s = b0 - grow_below - 0.3, b1 + grow_above + 0.3
    if not _inside_photo(slope, u0 - 0.5, lo_s, u1 + 0.5, hi_s):
        return None
    if not unobstructed(hits, slope.scale, u0 - 0.5, lo_s, u1 + 0.5, hi_s, (int(Surface.SHINGLES),)):
        return None
    win = patch(hits, slope.scale, slope.pos, u0 - 0.5, lo_s, u1 + 0.5, hi_s)
    if win is None or (win.pos < 0).any():
        return None
    if not places.clear_of_distractors(win):
        return None
    places.take(cu, cs, radius * 0.8)
    return piece, u0, u1, b0, b1, win


def _crease(
    buf: Buffers,
    hits: Hits,
    slope: Slope,
    p: SceneParams,
    light: PlaneLight | None,
    rng: np.random.Generator,
    places: _Places,
) -> Mark | None:
    found = _tab(slope, rng, hits, places, 0.0, 0.0)
    if found is None:
        return None
    piece, u0, u1, b0, b1, win = found
    e = b1 - b0
    height = float(rng.uniform(1.0, min(4.0, e - 0.6)))
    share = float(rng.uniform(0.65, 1.0))
    length = (u1 - u0) * share
    start = u0 + float(rng.uniform(0, (u1 - u0) - length))
    f = win.s - slope.shade.butt[win.pos]  # height above this pixel's own butt (follows the course's wave)
    on_tab = (slope.shade.piece[win.pos] == piece) & (win.u >= start) & (win.u <= start + length)
    line_w = float(rng.uniform(0.14, 0.3))
    line = np.where(on_tab, band_coverage((f - height + line_w / 2).astype(np.float32), line_w, win.fs), 0.0)
    fringe = np.where(on_tab, band_coverage((f - height + line_w).astype(np.float32), 2 * line_w, win.fs), 0.0)
    flat = buf.albedo.reshape(-1, 3)
    flat[win.idx] *= (1 + 0.25 * (fringe - line).clip(0, 1))[:, None]  # scuffed granules either side
    blend_albedo(buf, win, linear(ASPHALT) * 0.9, line.astype(np.float32) * 0.9)
    if light is not None and light.lit:  # the tab below the crease stays bent: lit at another angle
        bent = on_tab & (f < height)
        tilt = float(rng.uniform(0.06, 0.14))
        factor = max(light.ln - tilt * light.ls, 0.0) / light.ln
        d = buf.direct.ravel()
        d[win.idx[bent]] *= factor
    else:
        bent = on_tab & (f < height)
        blend_scalar(buf.ambient, win, 0.8, bent.astype(np.float32) * 0.6)
    near = np.where(on_tab & (np.abs(f - height) <= 0.5), 1.0, 0.0).astype(np.float32)
    if (line > 0.1).sum() < 3:
        return None
    box = win.box(np.maximum(near, line.astype(np.float32)))
    if box is None:
        return None
    del p
    return Mark("wind_crease", box, round(length, 2), "field", f"{height:.1f} in above the butt")


def _lifted(
    buf: Buffers,
    hits: Hits,
    slope: Slope,
    p: SceneParams,
    light: PlaneLight | None,
    rng: np.random.Generator,
    places: _Places,
) -> Mark | None:
    found = _tab(slope, rng, hits, places, 3.0, 0.0)
    if found is None:
        return None
    piece, u0, u1, b0, b1, win = found
    e = b1 - b0
    lift = float(rng.uniform(0.3, 1.0))
    edge = lift + p.style.thickness_in
    on_tab = slope.shade.piece[win.pos] == piece
    f = (win.s - slope.shade.butt[win.pos]).astype(np.float32)
    in_span = (win.u >= u0) & (win.u <= u1)
    # The tab hinges near its top: it tilts down the slope by lift / exposure.
    tab_idx = win.idx[on_tab]
    if light is not None and light.lit:
        slope_tilt = lift / e * np.clip(1 - f[on_tab] / e, 0, 1)
        factor = np.maximum(light.ln - slope_tilt * light.ls, 0) / light.ln
        buf.direct.ravel()[tab_idx] *= factor
    # Its lower edge catches the light: a bright rim along the butt.
    rim = np.where(on_tab, band_coverage(f, 0.12, win.fs), 0.0).astype(np.float32)
    flat = buf.albedo.reshape(-1, 3)
    flat[win.idx] *= (1 + 0.6 * rim)[:, None]
    # Below the butt: the course below, now under a taller edge: a wider cast shadow, and a dark gap
    # under the raised edge that sees little sky or sun from any side.
    below = in_span & ~on_tab & (win.s < b0 + 0.05) & (win.s > b0 - 3.0)
    dist = (b0 - win.s).astype(np.float32)
    shadow, sky, _ = edge_terms(dist, edge, light, win.fs, slope.inp.vs[win.pos])
    under_gap = np.exp(-np.maximum(dist, 0) / (0.8 * lift)).astype(np.float32)
    gap = below.astype(np.float32)
    d = buf.direct.ravel()
    a = buf.ambient.ravel()
    d[win.idx] = d[win.idx] * (1 - gap * np.maximum(shadow, 0.7 * under_gap))
    a[win.idx] = a[win.idx] * (1 - gap * np.maximum(1 - sky, 0.6 * under_gap))
    # Seen from down the slope, the raised edge shows its dark underside above the butt line.
    under_w = np.asarray(edge * np.maximum(-slope.inp.vs[win.pos], 0.0), np.float32)
    under = np.where(on_tab, band_coverage(f, under_w, win.fs), 0.0).astype(np.float32)
    blend_scalar(buf.direct, win, 0.0, under)
    blend_scalar(buf.ambient, win, 0.2, under)
    changed = np.maximum(on_tab.astype(np.float32), gap * np.maximum(np.maximum(shadow, 1 - sky), under_gap) * 2)
    box = win.box(changed)
    if box is None:
        return None
    return Mark("lifted_tab", box, round(u1 - u0, 2), "field", f"lifted {lift:.1f} in")


def _missing(
    buf: Buffers,
    hits: Hits,
    slope: Slope,
    p: SceneParams,
    light: PlaneLight | None,
    rng: np.random.Generator,
    places: _Places,
) -> Mark | None:
    kind = str(rng.choice(["course_below", "felt", "deck"], p=[0.55, 0.25, 0.2]))
    two = kind != "course_below"
    e = p.style.exposure_in
    found = _tab(slope, rng, hits, places, 0.0, e if two else 0.0)
    if found is None:
        return None
    piece, u0, u1, b0, b1, win = found
    layout = slope.layout
    if layout.style.laminate:  # a laminate tears as a piece across teeth and gaps
        width = float(rng.uniform(7.0, 20.0))
        u0 = u0 + float(rng.uniform(-0.5, 0.5)) * (u1 - u0)
        u1 = u0 + width
        top_s = b1 + (e if two else 0.0) + 0.3
        places.taken.pop()  # the torn piece, not the tooth it started from, is what must be free
        if not _inside_photo(slope, u0, b0, u1, top_s) or not places.free((u0 + u1) / 2, b1, (u1 - u0) / 2):
            return None
        if not unobstructed(hits, slope.scale, u0 - 0.5, b0 - 0.3, u1 + 0.5, top_s, (int(Surface.SHINGLES),)):
            return None
        win2 = patch(hits, slope.scale, slope.pos, u0 - 0.5, b0 - 0.3, u1 + 0.5, top_s)
        if win2 is None or (win2.pos < 0).any() or not places.clear_of_distractors(win2):
            return None
        places.take((u0 + u1) / 2, b1, (u1 - u0) / 2)
        win = win2
    seed = int(rng.integers(1 << 30))
    f = (win.s - b0).astype(np.float32)
    top = (b1 - b0) + (e * (0.4 + 0.5 * value_noise(win.u, np.zeros_like(win.u), 2.5, seed)) if two else 0.0)
    ragged = 0.25 * (value_noise(win.u, win.s, 0.8, seed + 1) - 0.5) if two or layout.style.laminate else 0.0
    inside = np.minimum.reduce(
        [
            (win.u - u0 + ragged).astype(np.float32),
            (u1 - win.u + ragged).astype(np.float32),
            f,
            (top - f).astype(np.float32),
        ]
    )
    alpha = np.clip(inside / np.maximum(np.minimum(win.fu, win.fs), 1e-4) + 0.5, 0, 1).astype(np.float32)
    if (alpha > 0.5).sum() < 20:
        return None

    blend = layout.blend
    if kind == "course_below":
        fresh = blend.mean() * blend.headlap * 0.95
        grain = (0.85 + 0.3 * value_noise(win.u, win.s, 0.09, seed + 2))[:, None]
        colour = fresh[None, :] * grain
        tar = band_coverage((f - 0.55).astype(np.float32), 0.45, win.fs)  # the sealant strip
        colour = colour * (1 - 0.8 * tar)[:, None] + 0.01 * tar[:, None]
        for nail_u in np.arange(u0 - 12, u1 + 12, float(rng.uniform(8.0, 12.0))) + float(rng.uniform(0, 6)):
            head, _ = disc_alpha(win, float(nail_u), b0 + 1.2, 0.19)
            colour = colour * (1 - head)[:, None] + linear((150, 150, 146))[None, :] * head[:, None]
            blend_scalar(buf.gloss, win, 0.5, head * alpha)
    elif kind == "felt":
        lines = band_coverage(((win.s + 1000.0) % 3.0).astype(np.float32), 0.08, win.fs)
        wrinkle = 0.85 + 0.3 * fbm(win.u, win.s, 6.0, seed + 3, octaves=2)
        colour = (linear((40, 40, 42)) * wrinkle[:, None]) * (1 - 0.5 * lines)[:, None] + linear((120, 118, 110)) * (
            0.5 * lines
        )[:, None]
    else:  # OSB: wood flakes in tans
        flake, bright, _ = cell_values(win.u * 0.6, win.s * 1.4, 1.0, seed + 4)
        colour = linear((176, 146, 100))[None, :] * (0.7 + 0.45 * bright)[:, None] * (0.85 + 0.3 * flake)[:, None]
    blend_albedo(buf, win, colour.astype(np.float32), alpha)

    # The hole is a layer or two below its surround: its upper edge shades it, its sides too.
    depth = p.style.thickness_in * (3 if two else 2)
    d_top = np.maximum(top - f, 0).astype(np.float32)
    shadow, sky, _ = edge_terms(d_top, depth, light, win.fs, slope.inp.vs[win.pos])
    side = np.minimum(win.u - u0, u1 - win.u).astype(np.float32)
    sky = sky * (1 - 0.4 * np.exp(-np.maximum(side, 0) / (2 * depth)))
    cosine = light.ln if light is not None and light.lit else 0.0
    d = buf.direct.ravel()
    a = buf.ambient.ravel()
    d[win.idx] = d[win.idx] * (1 - alpha) + alpha * cosine * (1 - shadow)
    a[win.idx] = a[win.idx] * (1 - alpha) + alpha * sky
    box = win.box(alpha)
    if box is None:
        return None
    del piece
    return Mark("missing_shingle", box, round(u1 - u0, 2), "field", kind)


DAMAGE_TYPES: tuple[DamageType, ...] = ("hail_hit", "wind_crease", "missing_shingle", "lifted_tab")
