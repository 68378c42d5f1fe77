"""The families: named, seeded distributions of roof photos, and which are for fitting and which
are held out. `Family.params(index)` draws photo `index` of a family (the same index always gives
the same draw); the spreads are the fields below, documented where they are declared."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from evaluation.vision.families.materials import BLENDS, STYLES
from evaluation.vision.families.params import (
    DamagePlan,
    Fixtures,
    LightKind,
    LightPlan,
    SceneParams,
    ShadeCaster,
    Split,
    View,
    ViewKind,
    Wear,
)
from evaluation.vision.families.photo import Defects
from evaluation.vision.families.surroundings import GroundKind, Surroundings, WallKind

Range = tuple[float, float]
IntRange = tuple[int, int]
T = TypeVar("T")


class _Draw:
    """A family's random draws, said plainly: one of some options, a value in a range, a count."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def pick(self, options: Sequence[T]) -> T:
        return options[int(self.rng.integers(len(options)))]

    def value(self, bounds: Range) -> float:
        return float(self.rng.uniform(*bounds))

    def count(self, bounds: IntRange) -> int:
        return int(self.rng.integers(bounds[0], bounds[1] + 1))

    def chance(self, share: float) -> bool:
        return bool(self.rng.random() < share)


DARK_BLENDS = ("charcoal", "black_onyx", "slate_blue", "hunter_green", "barkwood")
LIGHT_BLENDS = ("white", "desert_tan", "estate_grey")
ALL_BLENDS = tuple(BLENDS)


@dataclass(frozen=True)
class Damage:
    """Counts per photo (inclusive ranges) and hail sizes in inches."""

    hail: IntRange = (3, 8)
    hail_in: Range = (0.5, 2.5)
    ridge_hail: IntRange = (0, 0)
    creases: IntRange = (0, 0)
    lifted: IntRange = (0, 0)
    missing: IntRange = (0, 1)


@dataclass(frozen=True)
class Camera:
    """Photo defects: ranges drawn uniformly; `motion_share` of photos are shaken (motion blur)
    rather than defocused."""

    jpeg: IntRange = (80, 95)
    defocus_px: Range = (0.0, 0.6)
    motion_px: Range = (0.0, 0.0)
    motion_share: float = 0.0
    noise: Range = (0.0005, 0.002)
    ev: Range = (-0.3, 0.3)
    wb: Range = (0.95, 1.05)  # red and blue gains, each
    vignette: Range = (0.1, 0.35)


@dataclass(frozen=True)
class Family:
    """A named distribution of photos.

    - styles: shingle styles drawn from (materials.STYLES names); blends: granule blends.
    - views: viewpoints drawn from (params.View kinds; spreads in `_view`), `span_scale` stretches
      their distances (a family of closer or farther shots). A yard view's height is over the eave.
    - lights: sun (30-70 deg over the slope, any direction), low_sun (7-18 deg, from up the slope
      or across), overcast; casters: a hard shadow (tree, chimney) across part of the roof or None.
    - age, dirt, debris: 0..1 ranges that set the wear (curl, fading, stains, nail pops, blisters,
      replaced tabs), the growth (algae streaks, moss, lichen, wet patches) and the leaves and twigs.
    - vents, pipes, chimney, valleys: box vents and pipe boots per photo, the shares of photos with
      a chimney (step and apron flashing) and with an open metal valley.
    - walls, grounds, trims: what a yard view shows below the eave; trees: the share of photos with
      branches over the roof; gutters: the share with a gutter.
    - sizes: photo sizes (width, height) drawn from; photos: how many the evaluation renders."""

    name: str
    split: Split
    about: str
    styles: tuple[str, ...]
    views: tuple[ViewKind, ...]
    lights: tuple[LightKind, ...]
    blends: tuple[str, ...] = ALL_BLENDS
    casters: tuple[ShadeCaster | None, ...] = (None,)
    sizes: tuple[tuple[int, int], ...] = ((1600, 1200), (2000, 1500))
    pitch_12: Range = (4.0, 9.0)
    span_scale: Range = (1.0, 1.0)
    roll_deg: float = 3.0
    age: Range = (0.0, 0.35)
    dirt: Range = (0.0, 0.2)
    debris: Range = (0.0, 0.2)
    wet_share: float = 0.1
    walls: tuple[WallKind, ...] = ("siding",)
    grounds: tuple[GroundKind, ...] = ("lawn",)
    trims: tuple[str, ...] = ("white", "brown", "aluminium")
    trees: float = 0.0
    gutters: float = 0.8
    vents: IntRange = (0, 2)
    pipes: IntRange = (0, 2)
    chimney: float = 0.1
    valleys: float = 0.0
    damage: Damage = field(default_factory=Damage)
    camera: Camera = field(default_factory=Camera)
    photos: int = 8

    def seed(self, index: int) -> int:
        return (zlib.crc32(self.name.encode()) * 1_000_003 + index * 7919 + 17) % (1 << 31)

    def params(self, index: int, size: tuple[int, int] | None = None) -> SceneParams:
        """The draw of photo `index` (a `size` overrides the family's photo size, for quick tests)."""
        draw = _Draw(self.seed(index))
        width, height = size or draw.pick(self.sizes)
        view_kind: ViewKind = draw.pick(self.views)
        view = _view(view_kind, draw, draw.value(self.span_scale), self.roll_deg)
        light_kind: LightKind = draw.pick(self.lights)
        light = _light(light_kind, draw.pick(self.casters) if light_kind != "overcast" else None, draw)
        return SceneParams(
            family=self.name,
            index=index,
            seed=self.seed(index),
            split=self.split,
            width=int(width),
            height=int(height),
            style=STYLES[draw.pick(self.styles)],
            blend=draw.pick(self.blends),
            pitch_12=draw.value(self.pitch_12),
            slope_ft=draw.value((11.0, 22.0)),
            eave_ft=draw.pick((9.0, 10.0, 11.0, 19.0, 20.0)),
            view=view,
            light=light,
            look=self._surroundings(draw),
            fixtures=Fixtures(
                box_vents=draw.count(self.vents),
                pipes=draw.count(self.pipes),
                chimney=draw.chance(self.chimney),
                valley=draw.chance(self.valleys),
                metal=draw.pick(("galvanised", "black", "brown", "black")),
            ),
            wear=self._wear(draw),
            damage=self._damage(draw),
            defects=self._defects(draw),
            gutter=draw.chance(self.gutters),
            overhanging_tree=draw.chance(self.trees),
            rake_in_view=view_kind == "yard" and draw.chance(0.3),
        )

    def _wear(self, draw: _Draw) -> Wear:
        age, dirt, debris = draw.value(self.age), draw.value(self.dirt), draw.value(self.debris)
        return Wear(
            curl=age * draw.value((0.3, 1.0)),
            wave_in=0.03 + 0.2 * age,
            fade=age * draw.value((0.2, 0.8)),
            stain=age * draw.value((0.3, 1.0)),
            algae=dirt * draw.value((0.3, 1.0)) if draw.chance(0.7) else 0.0,
            moss=dirt * draw.value((0.2, 1.0)) if draw.chance(0.6) else 0.0,
            lichen=dirt * draw.value((0.3, 1.5)),
            leaves=debris * draw.value((0.5, 1.5)),
            wet=draw.value((0.4, 1.0)) if draw.chance(self.wet_share) else 0.0,
            scuffs=age * draw.value((0.0, 1.0)),
            nail_pops=age * draw.value((0.0, 1.0)),
            blisters=age * draw.value((0.0, 1.0)) if draw.chance(0.4) else 0.0,
            patches=age * draw.value((0.0, 0.4)),
        )

    def _damage(self, draw: _Draw) -> DamagePlan:
        d = self.damage
        return DamagePlan(
            hail=draw.count(d.hail),
            hail_in=d.hail_in,
            ridge_hail=draw.count(d.ridge_hail),
            creases=draw.count(d.creases),
            lifted=draw.count(d.lifted),
            missing=draw.count(d.missing),
        )

    def _defects(self, draw: _Draw) -> Defects:
        c = self.camera
        shaken = draw.chance(c.motion_share)
        return Defects(
            defocus_px=0.0 if shaken else draw.value(c.defocus_px),
            motion_px=draw.value(c.motion_px) if shaken else 0.0,
            motion_deg=draw.value((0.0, 180.0)),
            jpeg_quality=draw.count(c.jpeg),
            noise=draw.value(c.noise),
            vignette=draw.value(c.vignette),
            ev=draw.value(c.ev),
            wb=(draw.value(c.wb), draw.value(c.wb)),
            sharpen=draw.value((0.2, 0.7)),
        )

    def _surroundings(self, draw: _Draw) -> Surroundings:
        wall = draw.pick(self.walls)
        colours = WALL_COLOURS["brick" if wall == "brick" else "painted"]
        return Surroundings(
            wall=wall,
            wall_rgb=draw.pick(colours),
            siding_in=draw.pick((4.0, 5.0, 6.0, 7.0)),
            ground=draw.pick(self.grounds),
            trim=draw.pick(self.trims),
            clouds=draw.value((0.0, 0.8)),
        )


WALL_COLOURS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "painted": ((214, 210, 196), (176, 186, 190), (120, 134, 146), (200, 188, 160), (232, 230, 222)),
    "brick": ((150, 70, 52), (132, 84, 64), (168, 96, 70), (120, 60, 50)),
}


def _view(kind: ViewKind, draw: _Draw, stretch: float, roll: float) -> View:
    """Viewpoint spreads. Spans at the photo's centre come out about: closeup 3-7 ft, ridge 6-16 ft,
    ladder 5-12 ft (foreshortened towards the ridge), drone 10-35 ft, yard 15-40 ft."""
    v = draw.value
    fov = v((60.0, 75.0))
    tilt = float(np.clip(draw.rng.normal(0.0, roll), -2.5 * roll, 2.5 * roll)) if roll > 0 else 0.0
    if kind == "ridge":
        return View(
            kind,
            distance_in=v((12, 60)),
            angle_deg=v((18, 50)),
            height_in=v((36, 64)) * stretch,
            yaw_deg=v((-12, 12)),
            roll_deg=tilt,
            fov_deg=fov,
        )
    if kind == "ladder":
        return View(
            kind,
            distance_in=0.0,
            angle_deg=v((6, 22)),
            height_in=v((8, 36)) * stretch,
            yaw_deg=v((-10, 10)),
            roll_deg=tilt,
            fov_deg=fov,
        )
    if kind == "drone":
        return View(
            kind,
            distance_in=v((96, 330)) * stretch,
            angle_deg=v((65, 90)),
            yaw_deg=v((-12, 12)),
            roll_deg=tilt,
            fov_deg=v((68.0, 82.0)),
            target=v((0.3, 0.75)),
        )
    if kind == "closeup":
        return View(
            kind,
            distance_in=v((26, 60)) * stretch,
            angle_deg=v((40, 90)),
            yaw_deg=v((-12, 12)),
            roll_deg=tilt,
            fov_deg=fov,
            target=v((0.15, 0.8)),
        )
    return View(
        kind,
        distance_in=v((96, 300)) * stretch,
        angle_deg=0.0,
        height_in=v((-30, 60)),
        roll_deg=tilt,
        fov_deg=fov,
        target=v((0.2, 0.45)),
    )


def _light(kind: LightKind, caster: ShadeCaster | None, draw: _Draw) -> LightPlan:
    v = draw.value
    if kind == "overcast":
        return LightPlan("overcast")
    if kind == "low_sun":
        return LightPlan("low_sun", graze_deg=v((7, 18)), from_deg=v((-60, 60)), sky=v((0.12, 0.22)), caster=caster)
    return LightPlan("sun", graze_deg=v((30, 70)), from_deg=v((-180, 180)), sky=v((0.15, 0.3)), caster=caster)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        # ---- fitting -------------------------------------------------------------------------------
        Family(
            "three_tab_ridge",
            "fit",
            "3-tab (12 x 5 in) with keyways, shot from near the ridge down the slope, in sun",
            styles=("three_tab",),
            views=("ridge",),
            lights=("sun",),
            valleys=0.3,
            damage=Damage(hail=(4, 10), missing=(0, 1)),
        ),
        Family(
            "three_tab_closeup",
            "fit",
            "3-tab, imperial and metric, hand-held close-ups of 3 to 7 ft of roof, sun or overcast",
            styles=("three_tab", "three_tab_metric"),
            views=("closeup",),
            lights=("sun", "overcast"),
            sizes=((1280, 960), (1600, 1200), (2000, 1500)),
            damage=Damage(hail=(2, 6), missing=(0, 1)),
        ),
        Family(
            "laminate_drone",
            "fit",
            "laminates (5 5/8 and 5 7/8 in exposure) from a drone, near square-on, ridge caps in view",
            styles=("laminate", "laminate_xl"),
            views=("drone",),
            lights=("sun", "overcast"),
            sizes=((2000, 1500), (2304, 1728)),
            valleys=0.3,
            damage=Damage(hail=(5, 12), ridge_hail=(0, 2), missing=(0, 1)),
        ),
        Family(
            "laminate_ladder_overcast",
            "fit",
            "laminates from a ladder at the eave (grazing, foreshortened), overcast, gutter at the bottom",
            styles=("laminate", "laminate_xl"),
            views=("ladder",),
            lights=("overcast",),
            gutters=1.0,
            damage=Damage(hail=(4, 10), lifted=(0, 1), missing=(0, 1)),
        ),
        Family(
            "wind_storm_laminate",
            "fit",
            "laminates after a wind storm: creases, lifted and missing pieces, leaves; ridge and drone views",
            styles=("laminate", "laminate_xl"),
            views=("ridge", "drone"),
            lights=("sun", "overcast"),
            debris=(0.3, 1.0),
            damage=Damage(hail=(0, 3), creases=(1, 3), lifted=(1, 2), missing=(1, 2)),
        ),
        Family(
            "dirty_old_roof",
            "fit",
            "old roofs of both kinds: curl, fading, stains, algae, moss, lichen, blisters, nail pops, "
            "scuffs, replaced tabs, leaves; ridge and close-up views, sun",
            styles=("three_tab", "laminate"),
            views=("ridge", "closeup"),
            lights=("sun",),
            age=(0.6, 1.0),
            dirt=(0.5, 1.0),
            debris=(0.3, 1.0),
            wet_share=0.3,
            valleys=0.3,
            damage=Damage(hail=(3, 8), missing=(0, 1)),
        ),
        Family(
            "sky_gutter_siding",
            "fit",
            "from the yard or a ladder back from the house: lap siding, gutter, the roof and sky, lawn",
            styles=("laminate", "three_tab_metric"),
            views=("yard",),
            lights=("sun",),
            sizes=((2000, 1500), (2304, 1728)),
            walls=("siding", "stucco"),
            gutters=1.0,
            damage=Damage(hail=(3, 8), hail_in=(1.0, 2.5), missing=(0, 1)),
        ),
        Family(
            "defects_jpeg_blur",
            "fit",
            "photo defects: defocus or shake, JPEG 50-70, high ISO noise, white balance and exposure off",
            styles=("three_tab", "laminate"),
            views=("ridge", "drone", "closeup"),
            lights=("sun", "overcast"),
            damage=Damage(hail=(4, 8), missing=(0, 1)),
            camera=Camera(
                jpeg=(50, 70),
                defocus_px=(0.8, 2.5),
                motion_px=(2.0, 7.0),
                motion_share=0.5,
                noise=(0.002, 0.006),
                ev=(-1.0, 1.0),
                wb=(0.8, 1.2),
                vignette=(0.2, 0.5),
            ),
        ),
        # ---- held out ------------------------------------------------------------------------------
        Family(
            "three_tab_ladder_low_sun",
            "held_out",
            "3-tab with keyways from a ladder under a low raking sun: long butt shadows, a keyway "
            "T-junction every 12 in (3-tab, ladder and low sun are never combined in fitting)",
            styles=("three_tab",),
            views=("ladder",),
            lights=("low_sun",),
            blends=(*DARK_BLENDS, "weathered_wood"),
            gutters=1.0,
            damage=Damage(hail=(4, 10), hail_in=(1.0, 2.0), missing=(0, 1)),
        ),
        Family(
            "three_tab_metric_shade",
            "held_out",
            "metric 3-tab (13 1/4 x 5 5/8 in), dark blends, a hard tree or chimney shadow across the "
            "roof, drone and ridge views, hail on ridge caps too (hard shadows never in fitting)",
            styles=("three_tab_metric",),
            views=("drone", "ridge"),
            lights=("sun",),
            casters=("tree", "chimney"),
            blends=DARK_BLENDS,
            valleys=0.3,
            damage=Damage(hail=(4, 10), ridge_hail=(0, 2), missing=(0, 1)),
        ),
        Family(
            "wind_storm_three_tab",
            "held_out",
            "3-tab after a wind storm: creases, lifted and missing tabs, leaves; ladder and ridge "
            "views, overcast or low sun (wind on 3-tab never in fitting)",
            styles=("three_tab", "three_tab_metric"),
            views=("ladder", "ridge"),
            lights=("overcast", "low_sun"),
            debris=(0.3, 1.0),
            damage=Damage(hail=(0, 3), creases=(1, 3), lifted=(1, 2), missing=(1, 2)),
        ),
        Family(
            "sky_gutter_brick_trees",
            "held_out",
            "yard views with a brick wall, gutter, sky, branches over the roof and their shadows, "
            "mulch or concrete below (brick and trees never in fitting)",
            styles=("three_tab", "laminate"),
            views=("yard",),
            lights=("sun",),
            casters=("tree", None),
            sizes=((2000, 1500), (2304, 1728)),
            walls=("brick",),
            grounds=("mulch", "concrete"),
            trees=0.7,
            gutters=1.0,
            damage=Damage(hail=(3, 8), hail_in=(1.0, 2.5), missing=(0, 1)),
        ),
        Family(
            "laminate_low_sun_growth",
            "held_out",
            "laminates incl. 8 in designer exposure, light blends, algae streaks, moss and wet "
            "patches under a low sun, from the ridge and a ladder (8 in exposure never in fitting)",
            styles=("laminate", "laminate_designer"),
            views=("ridge", "ladder"),
            lights=("low_sun",),
            blends=(*LIGHT_BLENDS, "weathered_wood"),
            age=(0.3, 0.7),
            dirt=(0.6, 1.0),
            wet_share=0.6,
            damage=Damage(hail=(4, 10), missing=(0, 1)),
        ),
        Family(
            "laminate_drone_12mp",
            "held_out",
            "12 MP drone photos of laminates (5 5/8 and 8 in exposure) in sun or a low sun (a drone "
            "under a low sun is never in fitting); for speed and memory as much as accuracy",
            styles=("laminate", "laminate_designer"),
            views=("drone",),
            lights=("sun", "low_sun"),
            sizes=((4000, 3000),),
            damage=Damage(hail=(6, 12), ridge_hail=(0, 2), missing=(0, 1)),
            photos=2,
        ),
    )
}

FITTING: tuple[str, ...] = tuple(name for name, f in FAMILIES.items() if f.split == "fit")
HELD_OUT: tuple[str, ...] = tuple(name for name, f in FAMILIES.items() if f.split == "held_out")
