"""Shingles as objects: each course a row of pieces (3-tab tabs and their keyway cut-outs, laminate
teeth and the gaps that show the bottom layer), each piece with its own shade, tone and thickness;
the field shader works out, per pixel, which piece it falls on and lights it.

What makes a butt edge or a keyway visible is geometry, not paint. A course stands a thickness
above the one below, so under each butt edge the sun casts a shadow whose width is that height
times the sun's slope (long under a low sun from up the slope, none under a sun from down the
slope, which lights the edge's face instead); a camera down the slope (a ladder) sees the face, a
camera up the slope (the ridge) loses the strip just under the edge behind it. A keyway is a slot
down to the course below: darker (that surface is unweathered and sees less sky), its walls cast
side shadows, and where it meets the butt edge above there is the T-junction every 3-tab roof has.
Everything thinner than a pixel is box-filtered to its share of the pixel (noise.band_coverage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from evaluation.vision.families.materials import Blend, ShingleStyle
from evaluation.vision.families.noise import band_coverage, cell_hash, cell_values, fbm, value_noise

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

TAB, SLOT, GAP = 0, 1, 2  # a piece's kind: a tab (or tooth), a 3-tab keyway or joint, a laminate gap
GRANULE_IN = 0.07
GRANULE_CONTRAST = 0.6  # granules seen in diffuse light differ less than their swatch colours
SEALANT_IN = (0.45, 1.05)  # where the course below's sealant strip shows in a keyway, above its butt
AO_DEPTH = 0.55  # how much sky a step of shingle thickness hides right at its foot
BEVEL_IN = 0.08  # the rounded, granule-free cut edge along a tab's butt


@dataclass(frozen=True)
class Weathering:
    """Per-roof wear the shader applies everywhere: curl of tab edges, wavy courses, faded colour."""

    curl: float = 0.0  # 0 flat .. 1 strongly cupped and clawed tabs
    wave_in: float = 0.05  # how far butt lines wander (installation and age)
    fade: float = 0.0  # 0 new .. 1 chalky, faded granules


@dataclass(frozen=True)
class CourseLayout:
    """The pieces of every course from `k0` to `k0 + n - 1` over u in [u_lo, u_hi], flattened in
    course order then along u (a piece's neighbours in a course are its neighbours in the arrays)."""

    style: ShingleStyle
    blend: Blend
    k0: int
    butt: F64  # per course: s of its butt edge (before the along-u wave)
    u_lo: float
    span: float  # keys: course offset * span + (u - u_lo)
    key: F64  # per piece, its start as a key
    course: I64
    start: F32
    end: F32
    kind: npt.NDArray[np.int8]
    top: F32  # height of the piece's top above the course's base
    shade: F32  # multiplies the blend
    tone: F32  # -1 darker granules .. +1 lighter
    band: F32  # laminate: height of a darker band at the top of a tooth (0: none)
    curl: F32
    wave_seed: int
    wave_in: float
    seed: int

    @property
    def step(self) -> float:
        """How much each course's base stands above the one below's."""
        return self.style.thickness_in

    def course_of(self, u: F32, s: F32) -> tuple[I64, F32, F32]:
        """(course index, s of its butt, s of the next butt up) per point."""
        wave = self.wave(u)
        e = self.style.exposure_in
        k = np.floor((s - wave - self.butt[0]) / e).astype(np.int64) + self.k0
        k = np.clip(k, self.k0, self.k0 + len(self.butt) - 2)
        b0 = self._butt(k) + wave
        lower = s < b0
        k = np.where(lower & (k > self.k0), k - 1, k)
        b1 = self._butt(k + 1) + wave
        upper = s >= b1
        k = np.where(upper & (k < self.k0 + len(self.butt) - 2), k + 1, k)
        return k, (self._butt(k) + wave).astype(np.float32), (self._butt(k + 1) + wave).astype(np.float32)

    def _butt(self, k: I64) -> F64:
        return self.butt[np.clip(k - self.k0, 0, len(self.butt) - 1)]

    def wave(self, u: F32) -> F32:
        if self.wave_in <= 0:
            return np.zeros(u.shape, np.float32)
        v = value_noise(u, np.zeros_like(u), 40.0, self.wave_seed) - 0.5
        return np.asarray(2 * self.wave_in * v, np.float32)

    def piece_at(self, k: I64, u: F32) -> I64:
        keys = (k - self.k0).astype(np.float64) * self.span + (u.astype(np.float64) - self.u_lo)
        i = np.searchsorted(self.key, keys, side="right") - 1
        return np.asarray(np.clip(i, 0, len(self.key) - 1), np.int64)


def build_layout(
    style: ShingleStyle,
    blend: Blend,
    s_range: tuple[float, float],
    u_range: tuple[float, float],
    rng: np.random.Generator,
    weathering: Weathering,
) -> CourseLayout:
    """Lay courses from the eave (s = 0) over the given extent, 3-tab or laminate."""
    e = style.exposure_in
    k_first = max(0, math.floor(s_range[0] / e) - 2)
    k_last = math.ceil(s_range[1] / e) + 2
    courses = np.arange(k_first, k_last + 1)
    butt = courses * e + rng.normal(0, 0.04 + 0.25 * weathering.wave_in, len(courses))
    u_lo, u_hi = u_range[0] - 2 * style.length_in, u_range[1] + 2 * style.length_in
    span = (u_hi - u_lo) + 4 * style.length_in
    phase = rng.uniform(0, style.length_in)
    rows: list[tuple[int, float, float, int, float, float, float, float, float]] = []
    for k in courses:
        if style.laminate:
            rows.extend(_laminate_course(style, blend, int(k), u_lo, u_hi, rng, weathering))
        else:
            rows.extend(_three_tab_course(style, blend, int(k), u_lo, u_hi, phase, rng, weathering))
    arr = np.array(rows, np.float64)
    course = arr[:, 0].astype(np.int64)
    start = arr[:, 1]
    return CourseLayout(
        style=style,
        blend=blend,
        k0=k_first,
        butt=butt.astype(np.float64),
        u_lo=u_lo,
        span=span,
        key=(course - k_first) * span + (start - u_lo),
        course=course,
        start=start.astype(np.float32),
        end=arr[:, 2].astype(np.float32),
        kind=arr[:, 3].astype(np.int8),
        top=arr[:, 4].astype(np.float32),
        shade=arr[:, 5].astype(np.float32),
        tone=arr[:, 6].astype(np.float32),
        band=arr[:, 7].astype(np.float32),
        curl=arr[:, 8].astype(np.float32),
        wave_seed=int(rng.integers(1 << 30)),
        wave_in=weathering.wave_in,
        seed=int(rng.integers(1 << 30)),
    )


def _three_tab_course(
    style: ShingleStyle,
    blend: Blend,
    k: int,
    u_lo: float,
    u_hi: float,
    phase: float,
    rng: np.random.Generator,
    weathering: Weathering,
) -> list[tuple[int, float, float, int, float, float, float, float, float]]:
    length, tab, key = style.length_in, style.tab_in, style.keyway_in
    tabs = round(length / tab)
    joint = 0.08
    x = u_lo - ((u_lo - phase - k * style.offset_in) % length) + rng.uniform(-0.25, 0.25)
    out = []
    t = style.thickness_in
    while x < u_hi:
        shingle_shade = 1.0 + rng.normal(0, blend.tab_spread)
        cuts = [x + j * tab for j in range(1, tabs)]
        edges = [x, *[c for cut in cuts for c in (cut - key / 2, cut + key / 2)], x + length - joint, x + length]
        for j in range(len(edges) - 1):
            a, b = edges[j], edges[j + 1]
            if j % 2 == 0 and j < len(edges) - 2:
                curl = weathering.curl * rng.uniform(0.3, 1.0)
                shade = shingle_shade * (1.0 + rng.normal(0, blend.tab_spread / 3))
                out.append((k, a, b, TAB, t, shade, rng.normal(0, 0.25), 0.0, curl))
            else:
                out.append((k, a, b, SLOT, 0.0, shingle_shade, 0.0, 0.0, 0.0))
        x += length
    return out


def _laminate_course(
    style: ShingleStyle,
    blend: Blend,
    k: int,
    u_lo: float,
    u_hi: float,
    rng: np.random.Generator,
    weathering: Weathering,
) -> list[tuple[int, float, float, int, float, float, float, float, float]]:
    out = []
    x = u_lo - rng.uniform(0, style.length_in)
    top, back = style.thickness_in, style.backer_in
    while x < u_hi:
        end = x + style.length_in
        shingle_shade = 1.0 + rng.normal(0, blend.tab_spread)
        while x < end - 0.5:
            width = min(rng.uniform(*style.tooth_in), end - x)
            tone = rng.choice([-1.0, -0.5, 0.0, 0.0, 0.5, 1.0]) * 0.8 + rng.normal(0, 0.1)
            shade = shingle_shade * (1.0 + rng.normal(0, 2 * blend.tab_spread))
            band = rng.uniform(0.8, 2.2) if rng.random() < 0.45 else 0.0
            out.append((k, x, x + width, TAB, top, shade, tone, band, weathering.curl * rng.uniform(0.1, 0.6)))
            x += width
            if x >= end - 0.5:
                break
            gap = min(rng.uniform(*style.gap_in) ** 1.0, end - x)
            out.append((k, x, x + gap, GAP, back, shingle_shade, -0.3, 0.0, 0.0))
            x += gap
        out.append((k, x, end + 0.06, SLOT, back, shingle_shade, 0.0, 0.0, 0.0))  # the joint between shingles
        x = end + 0.06
    return out


@dataclass(frozen=True)
class PlaneLight:
    """The sun in the roof plane's frame (unit vector towards it: along the eave, up the slope,
    out of the plane), or none under an overcast sky."""

    lu: float
    ls: float
    ln: float

    @property
    def lit(self) -> bool:
        return self.ln > 0.02


@dataclass
class FieldInputs:
    """Per pixel (gathered to 1-D): plane coordinates, pixel footprint across u and s (inches), and
    the view's slope: how far an edge of height h hides or shows (h * vu, h * vs; camera at + side)."""

    u: F32
    s: F32
    fu: F32
    fs: F32
    vu: F32
    vs: F32


@dataclass
class FieldShade:
    albedo: F32  # (n, 3) linear
    direct: F32  # sun's cosine times what of the sun reaches the pixel
    ambient: F32  # share of the sky the pixel sees
    course: I64
    piece: I64
    butt: F32
    next_butt: F32


def shade_field(layout: CourseLayout, light: PlaneLight | None, inp: FieldInputs, fade: float = 0.0) -> FieldShade:
    """Light and colour every point of a field of shingles. Edge effects (openings, shadows, faces)
    are worked out only for the pixels near an edge: the rest is plain granule surface."""
    k, b0, b1 = layout.course_of(inp.u, inp.s)
    i = layout.piece_at(k, inp.u)
    kind = layout.kind

    # Which tab and which opening (slot or gap) each pixel mixes, and the opening's share of it:
    # only pixels on an opening or within half a pixel of a piece's side can mix one.
    tab_piece = i.copy()
    open_piece = i.copy()
    share = np.zeros(i.shape, np.float32)
    half = inp.fu * 0.5
    x_in = inp.u - layout.start[i]
    x_rem = layout.end[i] - inp.u
    e = np.flatnonzero((kind[i] != TAB) | (x_in < half) | (x_rem < half))
    if e.size:
        ie, he, ue = i[e], half[e], inp.u[e]
        left, right = np.maximum(ie - 1, 0), np.minimum(ie + 1, len(kind) - 1)
        own_open = kind[ie] != TAB
        tab_piece[e] = np.where(own_open, np.where(x_in[e] < x_rem[e], left, right), ie)
        side = np.where(
            (x_in[e] < he) & (kind[left] != TAB), left, np.where((x_rem[e] < he) & (kind[right] != TAB), right, ie)
        )
        op = np.where(own_open, ie, side)
        lo = np.maximum(ue - he, layout.start[op])
        hi = np.minimum(ue + he, layout.end[op])
        share[e] = np.where(kind[op] != TAB, np.clip((hi - lo) / np.maximum(2 * he, 1e-6), 0, 1), 0)
        open_piece[e] = op

    # Heights of the pieces above (course k + 1) and below (k - 1) where edges can matter.
    d_top = (b1 - inp.s).astype(np.float32)
    f = (inp.s - b0).astype(np.float32)
    sun_slope = max(light.ls, 0.0) / max(light.ln, 0.05) if light is not None and light.lit else 0.0
    reach = 2.0 * layout.step * (8.0 + sun_slope + np.abs(inp.vs)) + 0.1 + inp.fs
    above_top = np.zeros_like(d_top)
    near_top = np.flatnonzero(d_top < reach)
    above_top[near_top] = layout.top[layout.piece_at(k[near_top] + 1, inp.u[near_top])]
    below_top = np.full_like(f, layout.top.max())
    near_butt = np.flatnonzero(f < reach)
    below_top[near_butt] = layout.top[layout.piece_at(k[near_butt] - 1, inp.u[near_butt])]

    tab_top = layout.top[tab_piece]
    albedo, direct, ambient = _surface(
        layout, light, inp, tab_piece, k, f, d_top,
        dh_above=layout.step + above_top - tab_top,
        dh_own=layout.step + tab_top - below_top,
        floor=False, fade=fade,
    )  # fmt: skip
    o = np.flatnonzero(share > 0)
    if o.size:
        sub = FieldInputs(inp.u[o], inp.s[o], inp.fu[o], inp.fs[o], inp.vu[o], inp.vs[o])
        op = open_piece[o]
        open_top = layout.top[op]
        fa, fd, fm = _surface(
            layout, light, sub, op, k[o], f[o], d_top[o],
            dh_above=layout.step + above_top[o] - open_top,
            dh_own=layout.step + open_top - below_top[o],
            floor=True, fade=fade,
        )  # fmt: skip
        wall_direct, wall_sky = _slot_walls(layout, light, sub, op)
        w = share[o]
        albedo[o] = albedo[o] * (1 - w[:, None]) + fa * w[:, None]
        direct[o] = direct[o] * (1 - w) + fd * wall_direct * w
        ambient[o] = ambient[o] * (1 - w) + fm * wall_sky * w
    return FieldShade(albedo, direct, ambient, k, i, b0, b1)


def _surface(
    layout: CourseLayout,
    light: PlaneLight | None,
    inp: FieldInputs,
    piece: I64,
    k: I64,
    f: F32,
    d_top: F32,
    dh_above: F32,
    dh_own: F32,
    floor: bool,
    fade: float,
) -> tuple[F32, F32, F32]:
    """(albedo, direct, ambient) of a tab's top (floor=False) or of what an opening shows (the
    course below in a keyway, the backer in a laminate gap), with the butt edges above and below."""
    st = layout.style
    blend = layout.blend
    under = (blend.backer if st.laminate else blend.headlap) if floor else 1.0
    albedo = granules(blend, layout.seed, inp, layout.tone[piece], k, layout.shade[piece] * np.float32(under))
    if floor:
        if not st.laminate:  # the course below's sealant strip, in dashes, near the keyway's foot
            dash = ((inp.u + 1000.0) % 3.0) < 2.2
            tar = (f > SEALANT_IN[0]) & (f < SEALANT_IN[1]) & dash
            albedo[tar] = albedo[tar] * 0.25 + 0.01
    else:
        band = layout.band[piece]
        dark = (band > 0) & (f > st.exposure_in - band)
        albedo[dark] *= 0.72
        r = np.flatnonzero(f < BEVEL_IN + inp.fs)  # the butt's cut, rounded edge: bare asphalt, dark
        albedo[r] *= (1.0 - 0.6 * band_coverage(f[r], BEVEL_IN, inp.fs[r]))[:, None]
    if fade > 0:
        grey = albedo.mean(axis=1, keepdims=True)
        albedo = albedo * (1 - 0.35 * fade) + grey * (0.35 * fade) + 0.02 * fade

    lit = light is not None and light.lit
    if lit and not floor and float(layout.curl.max()) > 0:
        assert light is not None
        curl = layout.curl[piece]
        xr = np.clip((inp.u - layout.start[piece]) / np.maximum(layout.end[piece] - layout.start[piece], 0.1), 0, 1)
        tilt_u = curl * 0.12 * (2 * xr - 1) ** 3
        tilt_s = -curl * 0.2 * np.clip(1 - f / st.exposure_in, 0, 1) ** 2
        direct = np.maximum(light.ln + tilt_u * light.lu + tilt_s * light.ls, 0.0).astype(np.float32)
    else:
        direct = np.full(f.shape, light.ln if lit and light is not None else 0.0, np.float32)
    ambient = np.ones(f.shape, np.float32)

    # The edge up the slope: its cast shadow and the sky it hides (only pixels it can reach).
    dh_above = np.maximum(dh_above, 0.0)
    sun_slope = max(light.ls, 0.0) / light.ln if lit and light is not None else 0.0
    near = np.flatnonzero(
        (d_top < dh_above * (sun_slope + np.maximum(inp.vs, 0.0) + 8.0) + 0.1 + inp.fs) & (dh_above > 0)
    )
    if near.size:
        shadow, sky, _ = edge_terms(d_top[near], dh_above[near], light, inp.fs[near], inp.vs[near])
        direct[near] *= 1 - shadow
        ambient[near] = sky

    # The butt's own face, seen from down the slope.
    face_w = np.maximum(dh_own, 0.0) * np.maximum(-inp.vs, 0.0)
    near = np.flatnonzero((face_w > 0) & (f < face_w + inp.fs))
    if near.size:
        face = band_coverage(f[near], face_w[near], inp.fs[near])
        face_direct = max(-light.ls, 0.0) if lit and light is not None else 0.0
        direct[near] = direct[near] * (1 - face) + face * face_direct
        ambient[near] = ambient[near] * (1 - face) + face * 0.55
        albedo[near] *= (1 - 0.5 * face)[:, None]
    return albedo, direct, ambient


def _slot_walls(layout: CourseLayout, light: PlaneLight | None, inp: FieldInputs, piece: I64) -> tuple[F32, F32]:
    """(direct, ambient) factors of an opening's floor from its two side walls (the neighbouring
    tabs stand above it): the side shadow of the wall opposite the sun, and the sky both walls hide."""
    last = len(layout.kind) - 1
    x_in = (inp.u - layout.start[piece]).astype(np.float32)
    x_rem = (layout.end[piece] - inp.u).astype(np.float32)
    own = layout.top[piece]
    dh_l = np.maximum(layout.top[np.maximum(piece - 1, 0)] - own, 0.0)
    dh_r = np.maximum(layout.top[np.minimum(piece + 1, last)] - own, 0.0)
    ambient = 1.0 - 0.6 * (exp_band(np.maximum(x_in, 0), 1.5 * dh_l + 0.01, inp.fu) * (dh_l > 0))
    ambient = ambient - 0.6 * (exp_band(np.maximum(x_rem, 0), 1.5 * dh_r + 0.01, inp.fu) * (dh_r > 0))
    # The camera sees into the slot at an angle: the wall on its far side hides part of the floor.
    hidden_r = dh_r * np.maximum(inp.vu, 0.0)
    hidden_l = dh_l * np.maximum(-inp.vu, 0.0)
    visible = 1.0 - band_coverage(x_rem, hidden_r, inp.fu) - band_coverage(x_in, hidden_l, inp.fu)
    if light is None or not light.lit:
        return np.zeros_like(x_in), np.asarray(np.clip(ambient, 0.15, 1) * np.clip(visible, 0.3, 1), np.float32)
    if light.lu > 0:  # sun towards +u: the right wall shades the floor next to it
        shade = band_coverage(x_rem, dh_r * light.lu / light.ln, inp.fu)
    else:
        shade = band_coverage(x_in, dh_l * -light.lu / light.ln, inp.fu)
    direct = (1.0 - shade) * np.clip(visible, 0.3, 1)
    return np.asarray(direct, np.float32), np.asarray(np.clip(ambient, 0.15, 1), np.float32)


def exp_band(x: F32, width: F32 | float, footprint: F32) -> F32:
    """exp(-x / width) averaged over a pixel `footprint` wide (so a thin dark line under an edge
    fades to its true mean darkness in a far pixel instead of flickering)."""
    w = np.maximum(np.asarray(width, np.float32), 1e-3)
    fp = np.maximum(footprint, 1e-4)
    a = np.maximum(x - fp / 2, 0.0)
    b = x + fp / 2
    span = np.maximum(b - a, 1e-6)
    return np.asarray(w * (np.exp(-a / w) - np.exp(-b / w)) / span, np.float32)


def granules(blend: Blend, seed: int, inp: FieldInputs, tone: F32, k: I64, gain: F32 | float = 1.0) -> F32:
    """The colour of the granule surface (times `gain`): granules drawn from the blend, one per cell
    of about a granule's size. Where a pixel covers many granules, its granule's difference from the
    blend's mean shrinks as averaging (footprint / granule)^2 of them would: the right per-pixel
    spread at any distance, and no banding where the distance changes. `tone` (-1..1) leans the
    draw to the blend's darker or lighter granules (laminate teeth, replaced tabs)."""
    footprint = np.sqrt(inp.fu * inp.fs)
    cu, fu = _cells(inp.u + 0.37 * k, GRANULE_IN)
    cs, fs = _cells(inp.s, GRANULE_IN)
    pick = cell_hash(cu, cs, seed)
    # A second, finer lattice turned 30 degrees varies the brightness and the gaps, so close up the
    # granules read as irregular grains rather than a grid of squares.
    ru, rs = 0.866 * inp.u + 0.5 * inp.s, 0.866 * inp.s - 0.5 * inp.u
    cu2, fu2 = _cells(ru, GRANULE_IN * 0.71)
    cs2, fs2 = _cells(rs, GRANULE_IN * 0.71)
    bright = cell_hash(cu2, cs2, seed + 1)
    d2 = np.minimum((fu - 0.5) ** 2 + (fs - 0.5) ** 2, (fu2 - 0.5) ** 2 + (fs2 - 0.5) ** 2 + 0.1)
    idx = np.searchsorted(blend.cumulative(), np.clip(pick + 0.18 * tone, 0.0, 0.999), side="right")
    idx = np.minimum(idx, len(blend.granules) - 1)
    spread = GRANULE_CONTRAST * np.minimum(1.0, GRANULE_IN / np.maximum(footprint, 1e-6))
    grain = spread * (0.9 + 0.2 * bright)
    scale = (1.0 + 0.08 * tone) * (1.0 - 0.5 * d2 * np.clip(1.0 - footprint / GRANULE_IN, 0.0, 1.0)) * gain
    out = np.empty((inp.u.size, 3), np.float32)
    colours, mean = blend.colours(), blend.mean()
    for c in range(3):  # channel by channel: plain 1-D arithmetic, no (n, 3) broadcasting
        out[:, c] = (mean[c] * (1.0 - spread) + colours[:, c][idx] * grain) * scale
    return out


def _cells(x: F32, cell: float) -> tuple[npt.NDArray[np.uint32], F32]:
    base = np.floor(x / cell)
    return base.astype(np.int32).view(np.uint32), (x / cell - base).astype(np.float32)


def mottle(u: F32, s: F32, seed: int) -> F32:
    """The blotchy unevenness of a granule surface at an inch or two (a smooth field: callers may
    evaluate it coarsely)."""
    return np.asarray(1.0 + 0.07 * fbm(u, s, 2.5, seed, octaves=2), np.float32)


def edge_terms(distance: F32, dh: F32 | float, light: PlaneLight | None, fs: F32, vs: F32) -> tuple[F32, F32, F32]:
    """For points `distance` down the slope from an edge standing `dh` above them: (share in the
    edge's cast shadow, sky factor, share hidden behind the edge from the camera). The camera up
    the slope loses the strip nearest the edge behind it; a sun up the slope casts the shadow."""
    dh_arr = np.maximum(np.asarray(dh, np.float32), np.float32(0.0)).astype(np.float32)
    hide = dh_arr * np.maximum(vs, 0.0)
    from_edge = distance - hide
    if light is not None and light.lit:
        width = dh_arr * max(light.ls, 0.0) / light.ln
        shadow = np.where(from_edge >= 0, band_coverage(from_edge, np.maximum(width - hide, 0.0), fs), 0.0)
    else:
        shadow = np.zeros_like(distance)
    sky = 1.0 - AO_DEPTH * exp_band(np.maximum(from_edge, 0.0), 2.0 * dh_arr + 0.02, fs) * (dh_arr > 0)
    hidden = band_coverage(distance, hide, fs)
    return np.asarray(shadow, np.float32), np.asarray(sky, np.float32), np.asarray(hidden, np.float32)


@dataclass(frozen=True)
class RidgeCap:
    """Cap shingles over the ridge: pieces laid along it (`exposure_in` each, butts facing
    `direction` along u), covering `width_in` of the slope below the ridge, `thickness_in` thick."""

    ridge_s: float
    width_in: float = 6.0
    exposure_in: float = 5.5
    thickness_in: float = 0.28
    direction: float = 1.0
    phase: float = 0.0

    @property
    def start(self) -> float:
        return self.ridge_s - self.width_in


def shade_ridge_cap(cap: RidgeCap, blend: Blend, seed: int, light: PlaneLight | None, inp: FieldInputs) -> FieldShade:
    """Cap pieces: granules like the field's, the surface rounding over the ridge in its top inches,
    and each piece's butt edge (across the ridge) throwing its shadow along the ridge."""
    along = (inp.u * cap.direction - cap.phase) % cap.exposure_in  # distance from the piece's butt
    piece = np.floor((inp.u * cap.direction - cap.phase) / cap.exposure_in).astype(np.int64)
    tone = (cell_values(piece.astype(np.float32), np.zeros_like(inp.u), 1.0, seed + 21)[0] - 0.5) * 0.8
    albedo = granules(blend, seed + 5, inp, tone.astype(np.float32), piece + 100000)
    round_in = 2.5
    bend = np.clip((inp.s - (cap.ridge_s - round_in)) / round_in, 0, 1)
    if light is not None and light.lit:
        beta = bend * 0.6
        cosine = np.maximum(light.ln * np.cos(beta) + light.ls * np.sin(beta), 0.0)
        if light.lu * cap.direction < 0:  # the sun behind the butt: its shadow falls on the piece below
            width = cap.thickness_in * abs(light.lu) / light.ln
            shadow = band_coverage((cap.exposure_in - along).astype(np.float32), width, inp.fu)
        else:
            shadow = np.zeros_like(along)
        direct = np.asarray(cosine * (1 - shadow), np.float32)
    else:
        direct = np.zeros_like(inp.u)
    ambient = 1.0 - AO_DEPTH * exp_band((cap.exposure_in - along).astype(np.float32), 0.4, inp.fu)
    zeros = np.zeros(inp.u.shape, np.int64)
    return FieldShade(
        albedo,
        direct,
        np.asarray(ambient, np.float32),
        zeros - 1,
        piece,
        inp.s * 0 + np.float32(cap.start),
        inp.s * 0 + np.float32(cap.ridge_s),
    )
