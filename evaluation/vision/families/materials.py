"""Shingle styles and granule blends: what a roof is made of, as a roofer would describe it.

Colours are given as sRGB (what a swatch looks like) and used in linear light (what the renderer
adds and multiplies); `linear` converts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

StyleName = Literal["three_tab", "three_tab_metric", "laminate"]
RGB = tuple[float, float, float]


def linear(srgb: RGB | npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
    """sRGB 0..255 to linear 0..1."""
    c = np.asarray(srgb, np.float64) / 255.0
    return np.asarray(np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4), np.float32)


@dataclass(frozen=True)
class ShingleStyle:
    """How the shingles are cut and laid (inches).

    3-tab: a `length_in` strip cut into tabs of `tab_in` by keyways `keyway_in` wide; each course is
    offset by `offset_in` from the one below. Laminate ("architectural"): a top layer of teeth of
    random width (`tooth_in`) with gaps (`gap_in`) that show the darker bottom layer (the backer),
    shingles racked at random offsets. `thickness_in` is how much a course's exposed top stands above
    the one below at its butt (laminates: backer plus teeth, `backer_in` of it the backer)."""

    name: StyleName
    exposure_in: float
    tab_in: float
    length_in: float
    keyway_in: float = 0.0
    offset_in: float = 6.0
    tooth_in: tuple[float, float] = (4.0, 14.0)
    gap_in: tuple[float, float] = (0.7, 4.0)
    thickness_in: float = 0.11
    backer_in: float = 0.0

    @property
    def laminate(self) -> bool:
        return self.name == "laminate"


THREE_TAB = ShingleStyle("three_tab", exposure_in=5.0, tab_in=12.0, length_in=36.0, keyway_in=0.375, offset_in=6.0)
THREE_TAB_METRIC = ShingleStyle(
    "three_tab_metric",
    exposure_in=5.625,
    tab_in=13.25,
    length_in=39.75,
    keyway_in=0.375,
    offset_in=6.625,
    thickness_in=0.12,
)
LAMINATE = ShingleStyle("laminate", exposure_in=5.625, tab_in=8.5, length_in=39.375, thickness_in=0.22, backer_in=0.11)
LAMINATE_XL = ShingleStyle(
    "laminate",
    exposure_in=5.875,
    tab_in=10.0,
    length_in=40.0,
    tooth_in=(5.0, 16.0),
    gap_in=(0.8, 4.5),
    thickness_in=0.24,
    backer_in=0.12,
)
LAMINATE_DESIGNER = ShingleStyle(  # large-format "designer" laminates: 8 in exposure, wide teeth
    "laminate",
    exposure_in=8.0,
    tab_in=12.0,
    length_in=40.0,
    tooth_in=(6.0, 18.0),
    gap_in=(1.0, 5.0),
    thickness_in=0.3,
    backer_in=0.15,
)
STYLES: dict[str, ShingleStyle] = {
    "three_tab": THREE_TAB,
    "three_tab_metric": THREE_TAB_METRIC,
    "laminate": LAMINATE,
    "laminate_xl": LAMINATE_XL,
    "laminate_designer": LAMINATE_DESIGNER,
}


@dataclass(frozen=True)
class Blend:
    """A granule blend: the granule colours (sRGB) and their shares; `backer` scales the bottom
    layer's colour (laminates' shadow-line colour) and `headlap` the unweathered part under the
    course above (seen in keyways and where a tab is torn off)."""

    name: str
    granules: tuple[tuple[RGB, float], ...]
    backer: float = 0.55
    headlap: float = 0.85
    tab_spread: float = 0.04  # how much tabs differ in shade (per shingle and per tab)

    def colours(self) -> npt.NDArray[np.float32]:
        return np.stack([linear(c) for c, _ in self.granules])

    def cumulative(self) -> npt.NDArray[np.float32]:
        w = np.array([share for _, share in self.granules], np.float64)
        return np.asarray(np.cumsum(w / w.sum()), np.float32)

    def mean(self) -> npt.NDArray[np.float32]:
        w = np.array([share for _, share in self.granules], np.float32)
        return np.asarray((self.colours() * (w / w.sum())[:, None]).sum(axis=0), np.float32)

    @property
    def light(self) -> bool:
        return float(self.mean().mean()) > 0.12


BLENDS: dict[str, Blend] = {
    b.name: b
    for b in (
        Blend("charcoal", (((34, 34, 36), 0.45), ((58, 58, 62), 0.3), ((92, 92, 96), 0.17), ((150, 150, 150), 0.08))),
        Blend("black_onyx", (((24, 24, 26), 0.6), ((44, 44, 48), 0.3), ((80, 80, 84), 0.1)), backer=0.7),
        Blend(
            "weathered_wood",
            (((66, 58, 50), 0.35), ((102, 90, 76), 0.3), ((134, 120, 100), 0.2), ((52, 48, 46), 0.15)),
        ),
        Blend(
            "estate_grey",
            (((92, 93, 96), 0.35), ((124, 124, 124), 0.3), ((160, 158, 152), 0.2), ((66, 67, 70), 0.15)),
        ),
        Blend(
            "desert_tan",
            (((150, 128, 98), 0.4), ((182, 160, 124), 0.25), ((112, 94, 74), 0.2), ((204, 192, 170), 0.15)),
        ),
        Blend("white", (((204, 204, 200), 0.5), ((172, 172, 168), 0.3), ((228, 228, 224), 0.2)), backer=0.75),
        Blend(
            "barkwood",
            (((74, 54, 40), 0.4), ((100, 74, 54), 0.3), ((54, 40, 32), 0.2), ((130, 100, 70), 0.1)),
        ),
        Blend(
            "hunter_green",
            (((52, 64, 56), 0.4), ((72, 84, 72), 0.3), ((40, 46, 44), 0.2), ((110, 116, 104), 0.1)),
        ),
        Blend(
            "slate_blue",
            (((70, 78, 92), 0.4), ((96, 104, 116), 0.3), ((52, 56, 66), 0.2), ((140, 144, 150), 0.1)),
        ),
        Blend(
            "autumn_red",
            (((110, 58, 46), 0.35), ((84, 48, 40), 0.3), ((140, 90, 70), 0.2), ((60, 50, 48), 0.15)),
            tab_spread=0.06,
        ),
    )
}

METALS: dict[str, RGB] = {
    "galvanised": (150, 152, 150),
    "black": (40, 40, 42),
    "brown": (86, 64, 48),
    "white": (225, 225, 220),
    "aluminium": (190, 192, 194),
}
