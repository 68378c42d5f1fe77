"""A photo from its `SceneParams`: build the house and the camera, cast every pixel's ray, shade what
it meets (sky, surroundings, the field of shingles, ridge caps, fixtures), add wear, distractors and
damage on the roof, cast shadows, and develop the light into a JPEG'd RGB photo with its truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from evaluation.vision.families import damage, wear
from evaluation.vision.families.decals import Slope, roof_positions
from evaluation.vision.families.geometry import UP, Camera, Frame, Vec, add, unit
from evaluation.vision.families.light import Lighting, canopy_shadow, object_shadows, overcast, sun_over
from evaluation.vision.families.materials import BLENDS, METALS, Blend, linear
from evaluation.vision.families.params import SceneParams, View
from evaluation.vision.families.photo import develop
from evaluation.vision.families.scene import ROOF_SURFACES, Canopy, Hits, House, RoofObject, Surface, cast
from evaluation.vision.families.shingles import (
    CourseLayout,
    FieldInputs,
    FieldShade,
    PlaneLight,
    RidgeCap,
    Weathering,
    build_layout,
    edge_terms,
    mottle,
    shade_field,
    shade_ridge_cap,
)
from evaluation.vision.families.surroundings import (
    Buffers,
    shade_chimney,
    shade_ground,
    shade_sky,
    shade_tree,
    shade_trim,
    shade_vent_bodies,
    shade_wall,
)
from evaluation.vision.families.truth import PlaneScale, RoofPhoto, courses_resolvable

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def render_scene(p: SceneParams) -> RoofPhoto:
    rng = np.random.default_rng(p.seed)
    house = _house(p)
    camera = _camera(p.view, house, p.width, p.height)
    scale = PlaneScale.of(camera, house.front)
    house = replace(house, objects=_objects(p, house, scale, rng))
    light = _lighting(p, house)
    house = replace(house, canopy=_canopy(p, house, camera, scale, light, rng))
    hits = cast(house, camera)

    buf = Buffers.empty(p.height, p.width)
    shade_sky(buf, hits, light, p.look, p.seed + 1)
    shade_ground(buf, hits, light, p.look, p.seed + 2)
    shade_wall(buf, hits, light, p.look, p.seed + 3)
    shade_trim(buf, hits, light, p.look, house, p.seed + 4)
    shade_tree(buf, hits, light, house, p.seed + 5)
    shade_chimney(buf, hits, light, house, p.seed + 6)
    shade_vent_bodies(buf, hits, light, house, METALS.get(p.fixtures.metal, METALS["galvanised"]))

    blend = BLENDS[p.blend]
    weathering = Weathering(curl=p.wear.curl, wave_in=p.wear.wave_in, fade=p.wear.fade)
    front_light = light.in_plane(house.front)
    roof = _shade_slope(buf, hits, house, house.front, Surface.SHINGLES, p, blend, weathering, front_light, scale, rng)
    back = scale.of_frame(camera, house.back)
    _shade_slope(
        buf, hits, house, house.back, Surface.BACK_SLOPE, p, blend, weathering, light.in_plane(house.back), back, rng
    )
    _fixtures(buf, hits, house, p, front_light)

    distractors = wear.apply(buf, hits, roof, p, front_light, rng) if roof is not None else []
    avoid = [d.box for d in distractors]
    marks = damage.apply(buf, hits, roof, p, front_light, rng, avoid) if roof is not None else []

    shadow = canopy_shadow(house, hits, light)
    roofish = np.isin(hits.label, [int(s) for s in ROOF_SURFACES])
    shadow *= object_shadows(house, hits, light, roofish & (hits.obj < 0))
    radiance = _compose(buf, light, shadow, hits)
    pixels = develop(radiance, p.defects, rng)

    mask = np.isin(hits.label, [int(s) for s in ROOF_SURFACES])
    return RoofPhoto(
        family=p.family,
        index=p.index,
        split=p.split,
        pixels=pixels,
        roof=mask,
        surfaces=hits.label.copy(),
        marks=tuple(m for m in marks if m.on(mask)),
        distractors=tuple(distractors),
        scale=scale,
        style=p.style.name,
        exposure_in=p.style.exposure_in,
        tab_in=p.style.tab_in if not p.style.laminate else None,
        courses_visible=courses_resolvable(scale, p.style.exposure_in, p.defects.blur_px, p.width, p.height),
        params=p,
    )


def _house(p: SceneParams) -> House:
    slope_in = p.slope_ft * 12.0
    # A rake (the roof's end) in view with sky past it, or a roof wider than any photo.
    x_range = (-1200.0, 150.0 + 60.0 * (p.seed % 5)) if p.rake_in_view else (-2400.0, 2400.0)
    return House(
        eave_in=p.eave_ft * 12.0,
        pitch_rad=math.atan(p.pitch_12 / 12.0),
        slope_in=slope_in,
        x_range=x_range,
        gutter=(5.0, 5.0) if p.gutter else None,
    )


def _camera(view: View, house: House, width: int, height: int) -> Camera:
    """Place the camera as the view describes, looking at a point on the front slope."""
    f = house.front
    L = house.slope_in
    a = math.radians(view.angle_deg)
    yaw = math.radians(view.yaw_deg)
    if view.kind == "ladder":
        cam_s = -8.0
        run = view.height_in / math.tan(a)
        target = f.point(run * math.sin(yaw), cam_s + run * math.cos(yaw))
        position = f.point(0.0, cam_s, view.height_in)
        up: Vec = UP
    elif view.kind == "ridge":
        cam_s = L - view.distance_in
        run = view.height_in / math.tan(a)
        t_s = max(6.0, cam_s - run * math.cos(yaw))
        target = f.point(run * math.sin(yaw), t_s)
        position = f.point(0.0, cam_s, view.height_in)
        up = UP
    elif view.kind == "yard":
        target = f.point(0.0, view.target * L)
        # Height is over the eave; the camera must stand above the roof plane's extension to see it.
        lowest = house.eave_in - view.distance_in * math.tan(house.pitch_rad) + 30.0
        position = (0.0, -view.distance_in, max(house.eave_in + view.height_in, lowest, 50.0))
        up = UP
    else:  # drone, closeup: a line of sight from down the slope, at `angle_deg` to it
        t_s = view.target * L
        target = f.point(0.0, t_s)
        back = (math.sin(yaw) * math.cos(a), -math.cos(yaw) * math.cos(a), math.sin(a))
        position = f.point(back[0] * view.distance_in, t_s + back[1] * view.distance_in, back[2] * view.distance_in)
        up = f.es if view.angle_deg > 60 else UP
    return Camera.looking_at(position, target, up, view.fov_deg, view.roll_deg, width, height)


def _lighting(p: SceneParams, house: House) -> Lighting:
    if p.light.kind == "overcast":
        return overcast(1.0)
    return sun_over(house.front, p.light.graze_deg, p.light.from_deg, sky=p.light.sky)


def _visible_point(
    scale: PlaneScale, rng: np.random.Generator, house: House, margin: float = 0.15
) -> tuple[float, float]:
    """A random point of the front slope seen in the photo's central part (u, s)."""
    for _ in range(50):
        x = rng.uniform(margin, 1 - margin) * scale.width
        y = rng.uniform(margin, 1 - margin) * scale.height
        u, s = scale.plane_point(x, y)
        if u is not None and s is not None and 18.0 < s < house.slope_in - 18.0:
            return u, s
    return 0.0, house.slope_in / 2


def _objects(p: SceneParams, house: House, scale: PlaneScale, rng: np.random.Generator) -> tuple[RoofObject, ...]:
    objects: list[RoofObject] = []
    taken: list[tuple[float, float, float]] = []

    def free(u: float, s: float, r: float) -> bool:
        return all(math.hypot(u - a, s - b) > r + c for a, b, c in taken)

    for _ in range(p.fixtures.box_vents):
        u, s = _visible_point(scale, rng, house)
        w, d, h = rng.uniform(13, 18), rng.uniform(12, 16), rng.uniform(6, 9)
        if free(u, s, 20):
            objects.append(RoofObject("box_vent", (u - w / 2, s - d / 2, 0.0), (u + w / 2, s + d / 2, h)))
            taken.append((u, s, 20))
    for _ in range(p.fixtures.pipes):
        u, s = _visible_point(scale, rng, house)
        radius, h = float(rng.choice([0.85, 1.25, 1.75, 2.0])), rng.uniform(6, 16)
        if free(u, s, 12):
            objects.append(RoofObject("pipe", (u, s, 0.0), (u, s, h), radius=radius))
            taken.append((u, s, 12))
    if p.fixtures.chimney or p.light.caster == "chimney":
        u, s = _visible_point(scale, rng, house, 0.25)
        s = max(s, 0.55 * house.slope_in)
        c = math.cos(house.pitch_rad)
        w, d = rng.uniform(24, 40), rng.uniform(20, 30)
        top = house.front.point(0.0, s + d / 2 / c)[2] + rng.uniform(24, 48)
        y0 = s * c - d / 2
        objects.append(RoofObject("chimney", (u - w / 2, y0, 0.0), (u + w / 2, y0 + d, top), upright=True))
    return tuple(objects)


def _canopy(
    p: SceneParams, house: House, camera: Camera, scale: PlaneScale, light: Lighting, rng: np.random.Generator
) -> Canopy | None:
    """A tree whose shadow falls across part of the roof in view, and/or whose branches hang over it."""
    blobs: list[tuple[float, float, float]] = []
    z = house.ridge_z + rng.uniform(30, 120)
    span = scale.width / scale.pixels_per_foot * 12.0  # inches of roof across the photo, roughly
    if p.light.caster == "tree" and light.sun is not None:
        u, s = _visible_point(scale, rng, house, 0.2)
        ground = house.front.point(u, s)
        lam = (z - ground[2]) / max(light.sun[2], 0.05)
        cx, cy = ground[0] + lam * light.sun[0], ground[1] + lam * light.sun[1]
        for _ in range(int(rng.integers(2, 5))):
            r = rng.uniform(0.15, 0.35) * span
            blobs.append((cx + rng.normal(0, 0.3 * span), cy + rng.normal(0, 0.3 * span), r))
    if p.overhanging_tree:
        corner = (rng.choice([0.05, 0.95]) * scale.width, rng.uniform(0.05, 0.5) * scale.height)
        at_u, at_s = scale.plane_point(*corner)
        if at_u is not None and at_s is not None:
            base = house.front.point(at_u, min(max(at_s, 0.0), house.slope_in))
            # The branches hang a little above the roof where they are seen, along the line of sight.
            z_over = base[2] + rng.uniform(20, 50)
            dirv = unit(add(base, camera.position, -1.0))
            lam = (z_over - camera.position[2]) / dirv[2] if abs(dirv[2]) > 1e-3 else 0.0
            if lam > 0:
                cx, cy = camera.position[0] + lam * dirv[0], camera.position[1] + lam * dirv[1]
                z = z_over if not blobs else z
                for _ in range(int(rng.integers(2, 4))):
                    r = rng.uniform(0.08, 0.2) * span
                    blobs.append((cx + rng.normal(0, 0.1 * span), cy + rng.normal(0, 0.1 * span), r))
    if not blobs:
        return None
    return Canopy(z=z, blobs=tuple(blobs), seed=int(rng.integers(1 << 30)))


def _shade_slope(
    buf: Buffers,
    hits: Hits,
    house: House,
    frame: Frame,
    label: Surface,
    p: SceneParams,
    blend: Blend,
    weathering: Weathering,
    light: PlaneLight | None,
    scale: PlaneScale,
    rng: np.random.Generator,
) -> Slope | None:
    idx = np.flatnonzero(hits.label.ravel() == label)
    if idx.size == 0:
        return None
    u = hits.a.ravel()[idx]
    s = hits.b.ravel()[idx]
    ys, xs = np.divmod(idx, p.width)
    fu, fs = scale.footprints(xs + 0.5, ys + 0.5)
    cu, cs, cn = frame.local(scale.camera)
    cn = max(cn, 1e-3)
    inp = FieldInputs(u, s, fu, fs, ((cu - u) / cn).astype(np.float32), ((cs - s) / cn).astype(np.float32))
    valley = Valley.across(u, s, rng) if p.fixtures.valley and label == Surface.SHINGLES else None
    mu, ms = valley.mirrored(u, s) if valley is not None else (u, s)
    layout = build_layout(
        p.style,
        blend,
        (float(min(s.min(), ms.min())), float(max(s.max(), ms.max()))),
        (float(min(u.min(), mu.min())), float(max(u.max(), mu.max()))),
        rng,
        weathering,
    )
    shade = shade_field(layout, light, inp, weathering.fade)
    not_field = valley.apply(shade, layout, light, inp, hits, idx, p) if valley is not None else None
    cap = None
    if p.fixtures.ridge_cap:
        cap = RidgeCap(
            ridge_s=house.slope_in,
            width_in=float(rng.uniform(5.5, 7.0)),
            exposure_in=float(rng.uniform(5.0, 6.5)),
            direction=float(rng.choice([-1.0, 1.0])),
            phase=float(rng.uniform(0, 6)),
        )
        below = (s < cap.start) & (s > cap.start - 3.0)
        if below.any():
            sh, sky, _ = edge_terms(
                (cap.start - s[below]).astype(np.float32), cap.thickness_in, light, fs[below], inp.vs[below]
            )
            shade.direct[below] *= 1 - sh
            shade.ambient[below] *= sky
        on = s >= cap.start
        if on.any():
            sub = FieldInputs(u[on], s[on], fu[on], fs[on], inp.vu[on], inp.vs[on])
            cs_ = shade_ridge_cap(cap, blend, layout.seed, light, sub)
            shade.albedo[on] = cs_.albedo * 0.97
            shade.direct[on] = cs_.direct
            shade.ambient[on] = cs_.ambient
            if label == Surface.SHINGLES:
                hits.label.ravel()[idx[on]] = Surface.RIDGE_CAP
    slope = Slope(idx, inp, shade, layout, cap, scale, roof_positions(hits.label.shape, idx))
    if not_field is not None:  # the valley's metal and the other slope take no tab-sized damage
        slope.pos.ravel()[idx[not_field]] = -1
    blotch = slope.coarse(lambda a, b: mottle(a, b, layout.seed + 11), 2)
    buf.albedo.reshape(-1, 3)[idx] = shade.albedo * blotch[:, None]
    buf.direct.ravel()[idx] = shade.direct
    buf.ambient.ravel()[idx] = shade.ambient
    if label != Surface.SHINGLES:
        return None
    return slope


@dataclass(frozen=True)
class Valley:
    """An open valley: where this slope meets another, a metal strip `width_in` wide runs up from
    the eave at `angle` to the fall line; past it, the other slope's courses meet it mirrored (they
    meet the valley at the same heights), lit at another angle (drawn on this plane: close enough
    for a photo's few feet of valley)."""

    u0: float
    angle: float  # radians from the fall line
    side: float  # +1: the other slope lies towards +u
    width_in: float
    light_factor: float

    @classmethod
    def across(cls, u: F32, s: F32, rng: np.random.Generator) -> Valley:
        lo, hi = np.percentile(u, [25, 75])
        return cls(
            u0=float(rng.uniform(lo, hi)),
            angle=math.radians(float(rng.uniform(12, 30))),
            side=float(rng.choice([-1.0, 1.0])),
            width_in=float(rng.uniform(6, 12)),
            light_factor=float(rng.uniform(0.7, 1.3)),
        )

    def distance(self, u: F32, s: F32) -> F32:
        """Signed distance from the valley's centre line, positive towards the other slope."""
        c, sn = math.cos(self.angle), math.sin(self.angle)
        return np.asarray(self.side * ((u - self.u0) * c - self.side * s * sn), np.float32)

    def mirrored(self, u: F32, s: F32) -> tuple[F32, F32]:
        d = self.distance(u, s)
        c, sn = math.cos(self.angle), math.sin(self.angle)
        nu, ns = self.side * c, -sn
        return np.asarray(u - 2 * d * nu, np.float32), np.asarray(s - 2 * d * ns, np.float32)

    def apply(
        self,
        shade: FieldShade,
        layout: CourseLayout,
        light: PlaneLight | None,
        inp: FieldInputs,
        hits: Hits,
        idx: I64,
        p: SceneParams,
    ) -> npt.NDArray[np.bool_]:
        """Shade the metal and the other slope; label the metal FLASHING; the pixels that are not
        this field of shingles."""
        d = self.distance(inp.u, inp.s)
        half = self.width_in / 2
        other = d > half
        if other.any():
            mu, ms = self.mirrored(inp.u[other], inp.s[other])
            sub = FieldInputs(mu, ms, inp.fu[other], inp.fs[other], inp.vu[other], inp.vs[other])
            far = shade_field(layout, light, sub, p.wear.fade)
            shade.albedo[other] = far.albedo
            shade.direct[other] = far.direct * self.light_factor
            shade.ambient[other] = far.ambient
        metal = np.abs(d) <= half
        if metal.any():
            colour = linear(METALS.get(p.fixtures.metal, METALS["galvanised"])) * 0.8
            crease = np.exp(-np.abs(d[metal]) / 0.6)  # the valley's centre crease
            shade.albedo[metal] = colour[None, :] * (1.0 - 0.25 * crease)[:, None]
            shade.direct[metal] = light.ln if light is not None and light.lit else 0.0
            shade.ambient[metal] = 0.9
            hits.label.ravel()[idx[metal]] = Surface.FLASHING
        cut = (np.abs(d) > half) & (np.abs(d) < half + 0.35)  # the cut shingle edges along the metal
        shade.ambient[cut] *= 0.6
        return np.asarray(other | metal, np.bool_)


def _fixtures(buf: Buffers, hits: Hits, house: House, p: SceneParams, light: PlaneLight | None) -> None:
    """Metal on the roof plane: vent flanges and pipe collars (their lower half shows; the upper half
    is under the courses above), and the chimney's step and apron flashing."""
    roof = (hits.label == Surface.SHINGLES) | (hits.label == Surface.RIDGE_CAP)
    if not house.objects or not roof.any():
        return
    idx = np.flatnonzero(roof.ravel())
    u = hits.a.ravel()[idx]
    s = hits.b.ravel()[idx]
    metal = linear(METALS.get(p.fixtures.metal, METALS["galvanised"]))
    lit = max(light.ln, 0.0) if light is not None else 0.0
    for obj in house.objects:
        (u0, s0), (u1, s1) = obj.footprint(house)
        if obj.kind == "box_vent":
            pad_side, pad_low, label = 3.5, 4.0, Surface.VENT
            upper = (s0 + s1) / 2
        elif obj.kind == "pipe":
            pad_side, pad_low, label = 4.0, 5.0, Surface.VENT
            upper = s1
        else:
            pad_side, pad_low, label = 2.5, 3.0, Surface.FLASHING
            upper = s1 + 2.5
        on = (u >= u0 - pad_side) & (u <= u1 + pad_side) & (s >= s0 - pad_low) & (s <= upper)
        if not on.any():
            continue
        j = idx[on]
        colour = linear((30, 30, 32)) if obj.kind == "pipe" and p.seed % 2 else metal
        buf.albedo.reshape(-1, 3)[j] = colour * 0.75 * (0.9 + 0.1 * np.cos(u[on] * 0.7))[:, None]
        buf.direct.ravel()[j] = lit
        buf.ambient.ravel()[j] = 0.9
        buf.gloss.ravel()[j] = 0.15
        hits.label.ravel()[j] = label


def _compose(buf: Buffers, light: Lighting, shadow: F32, hits: Hits) -> F32:
    """Linear light per pixel: albedo times (sun + sky) plus the sky's own light and a metal sheen.
    Channel by channel: same-shape arithmetic is several times faster than broadcasting."""
    del hits
    sunlit = buf.direct * shadow
    sheen = buf.gloss * sunlit * 0.25 if light.sun is not None else None
    out = np.empty_like(buf.albedo)
    for c in range(3):
        lightc = sunlit * np.float32(light.sun_rgb[c]) + buf.ambient * np.float32(light.sky_rgb[c])
        channel = buf.albedo[:, :, c] * lightc + buf.emission[:, :, c]
        if sheen is not None:
            channel += sheen * np.float32(light.sun_rgb[c])
        out[:, :, c] = channel
    return out


def render(family: str, index: int, size: tuple[int, int] | None = None) -> RoofPhoto:
    """Photo `index` of the named family (deterministic); `size` (width, height) overrides the
    family's photo size, for quick tests (the scene and camera are the same, only sampled coarser)."""
    from evaluation.vision.families.catalogue import FAMILIES

    return render_scene(FAMILIES[family].params(index, size))
