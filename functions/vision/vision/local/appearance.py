"""What shingles look like in a photo, measured per pixel of the small copy, and a model of one
roof's look learnt from pixels known to be its shingles.

- **Fine texture**: granules and tab edges give shingles a fine texture in log luminance, the same
  contrast in sun and shade. Sky, gutters, fascia and painted walls are smooth; leaves are far
  rougher.
- **Texture across the courses' direction** (`iso`): siding laps repeat like courses, but between
  its lap shadows siding is smooth: take away what is constant along the courses and little of its
  texture is left. Shingles keep their granules, keyways and tooth edges.
- **Colour** as log ratios of the channels (blind to brightness), with room for the bluer, darker
  colour a shadow's skylight gives.

Window means come from integral images, so judging a window costs four lookups per map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vision.local.image_ops import F32, Mask, RGBImage

TEXTURE_SIGMA = 2.0  # pixels of the small copy over which texture is measured: the mask's edge is this sharp
MIN_ISO = 0.15  # share of the fine texture left once what runs along the courses is taken away...
ISO_SHARE = 0.5  # ...and at least this share of the shingles' own (a grazing view of a roof is mostly course lines)
OWN_ISO_SHARE = 0.7  # but never more than this share of the shingles' own
MIN_SHINGLE_TEXTURE = 0.012  # log-luminance RMS below which a window is sky or paint, not shingles
TEXTURE_RANGE = (0.4, 3.0)  # fine texture, in units of the shingles' own (low end: their 10th percentile)
COLOUR_SPREAD = 0.035  # floor of the colour's robust spread (log ratios of channels)
COLOUR_DISTANCE = 4.0  # robust units
SHADOW_SHIFT = (-0.06, -0.22)  # (log R/G, log G/B) in a shadow's skylight, per unit of log darkening
# Shingle blends, from slate blue to autumn red, hunter green to white, as log channel ratios of
# their weathered colour, widened by a white balance up to 20% off. The greenest blend (hunter
# green) has log G/B of about 0.15, 0.35 with the white balance off; a lawn, even a patchy one with
# brown in it, has 0.45 and more (the fitting families' lawns measure 0.48 to 0.53).
BLEND_RED_GREEN = (-0.55, 0.95)
BLEND_GREEN_BLUE = (-0.45, 0.45)
MIN_ISO_SCALE = 0.3  # with perspective, the across-courses share asked for falls to this share at most...
MAX_TEXTURE_SCALE = 2.0  # ...and the texture allowed rises to this many times at most
LOW_SHARE = 0.6  # the low end of a texture is taken no lower than this share of its median
MAX_DARKENING = 1.6  # a shadow darkens shingles by at most about five times


def _blur(img: F32, sigma: float) -> F32:
    return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT), np.float32)


def along_courses(img: F32, direction: float, length: int) -> F32:
    """`img` averaged over `length` pixels along the courses (perpendicular to `direction`)."""
    half = max(1, length // 2)
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    dx, dy = -math.sin(direction), math.cos(direction)
    for t in np.linspace(-half, half, 4 * half + 1):
        kernel[round(half + t * dy), round(half + t * dx)] = 1.0
    kernel /= kernel.sum()
    return np.asarray(cv2.filter2D(img, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT), np.float32)


@dataclass(frozen=True)
class Appearance:
    """Per-pixel measurements of the small copy (see the module docstring)."""

    lum: F32  # log luminance
    texture: F32  # local RMS of fine log-luminance detail
    iso: F32  # share of it not explained by lines along the courses (over half a course)
    across: F32  # local RMS of the fine detail not explained by lines along the courses
    red_green: F32  # log R/G, lightly blurred
    green_blue: F32  # log G/B
    sums: tuple[npt.NDArray[np.float64], ...]  # integral images of energy, iso energy, lum, colours

    def window_means(self, x: float, y: float, n: int) -> tuple[float, float, float, float, float]:
        """Mean (texture, iso share, lum, log R/G, log G/B) over the n-pixel window centred at (x, y)."""
        h, w = self.lum.shape
        x0, y0 = int(np.clip(round(x - n / 2), 0, w - 1)), int(np.clip(round(y - n / 2), 0, h - 1))
        x1, y1 = int(np.clip(x0 + n, 1, w)), int(np.clip(y0 + n, 1, h))
        area = max(1, (x1 - x0) * (y1 - y0))
        energy, iso, lum, rg, gb = (float(s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]) / area for s in self.sums)
        return math.sqrt(max(energy, 0.0)), iso / max(energy, 1e-9), lum, rg, gb


def appearance(rgb: RGBImage, lum: F32, direction: float, period: float) -> Appearance:
    """The measurements, with the courses running perpendicular to `direction` every `period` pixels."""
    fine = np.asarray(lum - _blur(lum, 1.0), np.float32)
    across = fine - along_courses(fine, direction, max(5, round(period / 2)))
    energy = _blur(fine * fine, TEXTURE_SIGMA)
    # The share across the courses is judged over half a course: on a course line itself, the line
    # is all there is.
    wide = max(TEXTURE_SIGMA, period / 2)
    iso_energy = _blur(across * across, wide)
    iso_share = iso_energy / (_blur(fine * fine, wide) + 1e-6)
    across_rms = np.sqrt(_blur(across * across, TEXTURE_SIGMA))
    f = _blur(rgb.astype(np.float32), 1.0) + 4.0
    red_green = np.log(f[..., 0] / f[..., 1]).astype(np.float32)
    green_blue = np.log(f[..., 1] / f[..., 2]).astype(np.float32)
    sums = tuple(
        np.asarray(cv2.integral(x.astype(np.float64)), np.float64)
        for x in (energy, iso_energy, lum, red_green, green_blue)
    )
    return Appearance(lum, np.sqrt(energy), iso_share, across_rms, red_green, green_blue, sums)


@dataclass(frozen=True)
class ShingleLook:
    """One roof's shingles: their texture (10th percentile and median), brightness and colour
    (median and robust spread)."""

    texture_low: float
    texture_mid: float
    iso: float
    across_low: float
    lum: float
    colour: tuple[float, float]
    spread: tuple[float, float]

    @property
    def plausible(self) -> bool:
        """Whether the look can be shingles' at all: a blend's colour (with room for a white
        balance 20% off; no blend is as green as a lawn or a shrub: log G/B of 0.45 and more) and,
        typically, a shingle's fine texture (sky and paint are smoother: a look learnt from windows
        that mostly caught the sky is not the roof's)."""
        rg, gb = self.colour
        colour = BLEND_RED_GREEN[0] <= rg <= BLEND_RED_GREEN[1] and BLEND_GREEN_BLUE[0] <= gb <= BLEND_GREEN_BLUE[1]
        return colour and self.texture_mid >= MIN_SHINGLE_TEXTURE

    def texture_ok(self, texture: npt.ArrayLike, high_scale: F32 | float = 1.0) -> npt.NDArray[np.bool_]:
        t = np.asarray(texture)
        low = max(TEXTURE_RANGE[0] * self.texture_low, 0.5 * MIN_SHINGLE_TEXTURE)
        return np.asarray((t >= low) & (t <= TEXTURE_RANGE[1] * self.texture_mid * high_scale), np.bool_)

    def colour_distance(
        self, red_green: npt.ArrayLike, green_blue: npt.ArrayLike, lum: npt.ArrayLike
    ) -> npt.NDArray[np.float32]:
        """Robust distance from the shingles' colour, after taking away the skylight tint a shadow
        gives in proportion to how much darker the pixel is."""
        darker = np.clip(self.lum - np.asarray(lum, np.float32), 0.0, MAX_DARKENING)
        total = np.zeros(np.shape(darker), np.float32)
        for values, mid, spread, shift in zip(
            (red_green, green_blue), self.colour, self.spread, SHADOW_SHIFT, strict=True
        ):
            total += ((np.asarray(values, np.float32) - mid - shift * darker) / spread) ** 2
        return np.asarray(np.sqrt(total / 2), np.float32)

    def pixels_like(self, look: Appearance, period_ratio: F32 | float = 1.0) -> Mask:
        """Pixels whose texture, texture across the courses and colour are the shingles'.
        `period_ratio` (per pixel: the course period there over the shingles' own) eases the
        texture asked for with perspective: where courses are shorter (farther), their lines crowd
        the fine texture, so less of it need run across them; where longer (nearer), granules and
        edges are resolved coarser, so the texture may be higher."""
        iso_scale = np.clip(period_ratio, MIN_ISO_SCALE, 1.0)
        high_scale = np.clip(period_ratio, 1.0, MAX_TEXTURE_SCALE)
        colour = self.colour_distance(look.red_green, look.green_blue, look.lum) <= COLOUR_DISTANCE
        # Per pixel, the texture across the courses itself (a gutter's, a fascia's or a siding lap's
        # edge runs along the courses and leaves none; shingles' granules and keyways do).
        across = (look.across >= TEXTURE_RANGE[0] * self.across_low) & (look.iso >= self.min_iso * iso_scale)
        return np.asarray(self.texture_ok(look.texture, high_scale) & across & colour, np.bool_)

    @property
    def min_iso(self) -> float:
        # Never above most of the shingles' own share: seen from the yard, at a grazing angle, a
        # roof's fine texture is nearly all course lines, and its own pixels must still pass.
        return min(max(MIN_ISO, ISO_SHARE * self.iso), OWN_ISO_SHARE * self.iso)

    def window_like(self, look: Appearance, x: float, y: float, n: int) -> bool:
        texture, iso, lum, rg, gb = look.window_means(x, y, n)
        return bool(
            self.texture_ok(texture) and iso >= self.min_iso and self.colour_distance(rg, gb, lum) <= COLOUR_DISTANCE
        )


def learn_look(look: Appearance, where: Mask) -> ShingleLook | None:
    """The look of the pixels `where` (known shingles)."""
    if where.sum() < 16:
        return None
    # Every third row and column is plenty for medians and percentiles, and a ninth of the work.
    step = 3 if where[::3, ::3].sum() >= 16 else 1
    sample = where[::step, ::step]

    def pick(img: F32) -> F32:
        return np.asarray(img[::step, ::step][sample], np.float32)

    texture = pick(look.texture)
    mids, spreads = [], []
    for values in (pick(look.red_green), pick(look.green_blue)):
        mid = float(np.median(values))
        mids.append(mid)
        spreads.append(max(1.4826 * float(np.median(np.abs(values - mid))), COLOUR_SPREAD))
    across = pick(look.across)

    def low(values: F32) -> float:
        # The low end of the shingles' own spread, not of whatever else the sample caught (the
        # windows it comes from may overhang the roof's edge).
        return max(float(np.percentile(values, 10)), LOW_SHARE * float(np.median(values)))

    return ShingleLook(
        low(texture),
        float(np.median(texture)),
        float(np.median(pick(look.iso))),
        low(across),
        float(np.median(pick(look.lum))),
        (mids[0], mids[1]),
        (spreads[0], spreads[1]),
    )
