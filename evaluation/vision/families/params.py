"""One photo's concrete draw: everything the renderer needs, sampled from a family (catalogue.py).

Rendering is a pure function of a `SceneParams` (its `seed` drives every placement the renderer
makes), so a photo is reproduced from its family name and index alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from evaluation.vision.families.materials import ShingleStyle
from evaluation.vision.families.photo import Defects
from evaluation.vision.families.surroundings import Surroundings

ViewKind = Literal["ridge", "ladder", "drone", "closeup", "yard"]
LightKind = Literal["sun", "low_sun", "overcast"]
ShadeCaster = Literal["tree", "chimney"]
Split = Literal["fit", "held_out"]


@dataclass(frozen=True)
class View:
    """Where the photographer stands and how the phone is held.

    - ridge: standing near the ridge (`height_in` eye height over the slope, `distance_in` down from
      the ridge), looking down the slope at `angle_deg` to it.
    - ladder: on a ladder at the eave, the camera `height_in` over the roof's edge, looking up the
      slope at a grazing `angle_deg`.
    - drone: `distance_in` from the roof, `angle_deg` from the plane (90 square-on).
    - closeup: a hand-held shot of a few feet of roof, `distance_in` away at `angle_deg`.
    - yard: on a ladder or a deck `distance_in` out from the eave, the camera `height_in` over the
      eave (raised if need be until it sees the roof), aimed at the roof: wall, gutter, sky in view.
    `yaw_deg` turns the line of sight off the fall line; `target` is where on the slope (0 eave,
    1 ridge) the photo's centre falls for drone, closeup and yard views."""

    kind: ViewKind
    distance_in: float
    angle_deg: float
    height_in: float = 0.0
    yaw_deg: float = 0.0
    roll_deg: float = 0.0
    fov_deg: float = 68.0
    target: float = 0.5


@dataclass(frozen=True)
class LightPlan:
    """Sun height over the slope and its direction in the slope (light.sun_over), or overcast; and
    a hard shadow across part of the roof from a tree or a chimney."""

    kind: LightKind
    graze_deg: float = 45.0
    from_deg: float = 30.0
    sky: float = 0.22
    caster: ShadeCaster | None = None


@dataclass(frozen=True)
class Fixtures:
    ridge_cap: bool = True
    box_vents: int = 0
    pipes: int = 0
    chimney: bool = False
    valley: bool = False
    metal: str = "galvanised"


@dataclass(frozen=True)
class Wear:
    """Age and dirt: 0..1 strengths and counts per 100 sq ft of roof in view."""

    curl: float = 0.0
    wave_in: float = 0.05
    fade: float = 0.0
    stain: float = 0.0
    algae: float = 0.0
    moss: float = 0.0
    lichen: float = 0.0
    leaves: float = 0.0
    wet: float = 0.0
    scuffs: float = 0.0
    nail_pops: float = 0.0
    blisters: float = 0.0
    patches: float = 0.0  # share of tabs replaced with a different blend or age


@dataclass(frozen=True)
class DamagePlan:
    hail: int = 0
    hail_in: tuple[float, float] = (0.5, 2.5)
    ridge_hail: int = 0
    creases: int = 0
    lifted: int = 0
    missing: int = 0


@dataclass(frozen=True)
class SceneParams:
    family: str
    index: int
    seed: int
    split: Split
    width: int
    height: int
    style: ShingleStyle
    blend: str
    pitch_12: float
    slope_ft: float
    eave_ft: float
    view: View
    light: LightPlan
    look: Surroundings = field(default_factory=Surroundings)
    fixtures: Fixtures = field(default_factory=Fixtures)
    wear: Wear = field(default_factory=Wear)
    damage: DamagePlan = field(default_factory=DamagePlan)
    defects: Defects = field(default_factory=Defects)
    gutter: bool = True
    overhanging_tree: bool = False
    rake_in_view: bool = False
