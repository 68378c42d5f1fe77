"""The course lines at working resolution: oriented edge and line filters along the courses, the
local course period, and each spot's value one course up and down the slope."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import cv2
import numpy as np

from vision.local.image_ops import F32
from vision.local.scale import profile_period
from vision.local.work import Work

NEIGHBOUR_SLACK = 0.12  # the period and direction are good to about this share of a period


def _oriented_kernel(across: float, length: float, profile: str, sigma: float) -> F32:
    """A kernel that averages `length` pixels along the courses (perpendicular to `across`, radians)
    and applies a profile across them: "edge" (bright up-slope of dark: positive) or "line" (a dark
    line: positive), Gaussian-derivative shaped with `sigma` pixels."""
    half = math.ceil(max(length / 2, 3 * sigma)) + 1
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    t = xx * math.cos(across) + yy * math.sin(across)
    s = -xx * math.sin(across) + yy * math.cos(across)
    along = np.clip(length / 2 + 0.5 - np.abs(s), 0.0, 1.0)
    g = np.exp(-0.5 * (t / sigma) ** 2) * (np.abs(t) <= 3 * sigma)
    if profile == "edge":
        prof = -t * g
    else:
        prof = -(1 - (t / sigma) ** 2) * g
        prof -= (prof * along).sum() / max(float((g * along).sum()), 1e-6) * g
    kernel = prof * along
    if profile == "edge":
        kernel /= max(float((np.abs(kernel)).sum()) / 2, 1e-6)
    else:
        kernel /= max(float(kernel[kernel > 0].sum()), 1e-6)
    return np.asarray(kernel, np.float32)


def oriented(img: F32, across: float, length: float, profile: str, sigma: float) -> F32:
    """The largest response over a few orientations round the course direction (perspective and
    the camera's roll turn the courses a few degrees across the photo)."""
    return oriented_pair(img, across, length, profile, sigma)[0]


def oriented_pair(img: F32, across: float, length: float, profile: str, sigma: float) -> tuple[F32, F32]:
    """The largest and the smallest response over the orientations of `oriented` (the smallest
    line response is minus the largest of the opposite polarity: a bright line, for one filtering)."""
    high: F32 | None = None
    low: F32 | None = None
    for tilt in (-4.0, 0.0, 4.0):
        kernel = _oriented_kernel(across + math.radians(tilt), length, profile, sigma)
        response = np.asarray(cv2.filter2D(img, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT), np.float32)
        high = response if high is None else np.maximum(high, response)
        low = response if low is None else np.minimum(low, response)
    assert high is not None
    assert low is not None
    return high, low


def _local_period(work: Work, edges: F32) -> CoursePeriod:
    """The course period in working pixels as a function of working (x, y): a plane fitted to the
    periods of tiles about three courses square (the scale step's fit is coarse, and on a steeply
    tilted photo the period changes by half from top to bottom)."""
    assert work.scale is not None
    base = work.scale.period_px * work.factor
    dark = np.maximum(edges, 0.0)  # the tops of the butt edges' shadows (not the laminates' second line)
    n = int(min(max(64, round(4.4 * base) // 2 * 2), *dark.shape) // 2 * 2)  # two longest periods and more
    h, w = dark.shape
    step = max(8, n // 3)
    ys = list(range(0, max(1, h - n + 1), step))
    xs = list(range(0, max(1, w - n + 1), step))
    grid = np.full((len(ys), len(xs)), np.nan, np.float32)
    for i, y0 in enumerate(ys):
        for j, x0 in enumerate(xs):
            if work.roof_wide[y0 : y0 + n, x0 : x0 + n].mean() < 0.6:
                continue
            refined = profile_period(dark[y0 : y0 + n, x0 : x0 + n], work.direction, 0.6 * base, 2.2 * base)
            if refined is not None and refined[1] > 0.25:
                grid[i, j] = refined[0]
    known = np.isfinite(grid)
    if known.sum() < 3:
        table = np.full((2, 2), base, np.float32)
    else:
        # Smooth in log period, fill the unknown tiles from the nearest known ones.
        logs = np.where(known, np.log(np.where(known, grid, 1.0)), 0.0).astype(np.float32)
        weight = known.astype(np.float32)
        num = cv2.GaussianBlur(logs * weight, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
        den = cv2.GaussianBlur(weight, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
        for _ in range(6):
            if (den > 1e-3).all():
                break
            num = cv2.GaussianBlur(num, (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE)
            den = cv2.GaussianBlur(den, (0, 0), 2.0, borderType=cv2.BORDER_REPLICATE)
        fallback = float(np.log(base))
        table = np.exp(np.where(den > 1e-3, num / np.maximum(den, 1e-6), fallback)).astype(np.float32)
    return CoursePeriod(table, n / 2, step, base, (h, w))


@dataclass(frozen=True)
class CoursePeriod:
    """The local course period in working pixels as a function of (x, y): the tiles' periods
    (`table`, the first tile's centre at `first`, one every `step` pixels along x and y),
    interpolated. A view of a crop of the working image (`crop`) takes its own pixels' (x, y)."""

    table: F32
    first: float
    step: float
    base: float  # the scale's period: the table is held within 0.4 and 2.5 times it
    shape: tuple[int, int]  # the image's (or crop's) height and width
    origin: tuple[int, int] = (0, 0)  # (x, y) of the crop's top-left pixel in the working image

    def __call__(self, x: F32, y: F32) -> F32:
        x, y = x + np.float32(self.origin[0]), y + np.float32(self.origin[1])
        fx = np.clip((x - self.first) / self.step, 0, self.table.shape[1] - 1).astype(np.float32)
        fy = np.clip((y - self.first) / self.step, 0, self.table.shape[0] - 1).astype(np.float32)
        value = cv2.remap(self.table, fx, fy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return np.asarray(np.clip(value, 0.4 * self.base, 2.5 * self.base), np.float32)

    @functools.cached_property
    def pixels(self) -> F32:
        """The period at every pixel of the image (made once: the gap and wind detectors share it)."""
        h, w = self.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        return self(xx, yy)

    def crop(self, rows: slice, cols: slice) -> CoursePeriod:
        """The view of the image's `rows` and `cols` (slices with a start), its map cut from this one's."""
        part = replace(
            self,
            shape=(rows.stop - rows.start, cols.stop - cols.start),
            origin=(self.origin[0] + cols.start, self.origin[1] + rows.start),
        )
        part.__dict__["pixels"] = self.pixels[rows, cols]  # `pixels`' cache: the same values, not remade
        return part


def course_neighbours(work: Work, img: F32, reach: int, period_of: CoursePeriod, *, both: bool = False) -> F32:
    """For each pixel, the larger of `img` one course period up and one down the slope (max-filtered
    over `reach` pixels first, as the period and direction are not exact); where both neighbours
    are off the roof, +inf. Shingle courses repeat: what is normal at a butt edge is there too.
    With `both`, the smaller of the two instead (what both neighbours have), -inf where either is
    off the roof."""
    larger, smaller = neighbour_courses(work, {"img": img}, reach, period_of.pixels)["img"]
    return smaller if both else larger


def neighbour_courses(work: Work, imgs: Mapping[str, F32], reach: int, period: F32) -> dict[str, tuple[F32, F32]]:
    """For each image, the larger and the smaller of its values one course period (`period`, per
    pixel) up and down the slope, as `course_neighbours` gives them one at a time; the sampling
    coordinates are made once for all images."""
    assert work.scale is not None
    h, w = period.shape
    slack = max(reach, round(NEIGHBOUR_SLACK * work.scale.period_px * work.factor))
    line = np.zeros((2 * slack + 1,) * 2, np.uint8)
    end = (round(slack * math.cos(work.direction)), round(slack * math.sin(work.direction)))
    cv2.line(line, (slack - end[0], slack - end[1]), (slack + end[0], slack + end[1]), 1, 1 + 2 * reach)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = period * np.float32(math.cos(work.direction)), period * np.float32(math.sin(work.direction))
    # As integer pixel maps (the nearest pixel, as remap would round them each time).
    coords = [cv2.convertMaps(xx + sign * dx, yy + sign * dy, cv2.CV_16SC2, nninterpolation=True) for sign in (-1, 1)]
    off_roof = ~work.roof_wide
    out = {}
    for name, img in imgs.items():
        grown = np.asarray(cv2.dilate(img, line), np.float32)
        grown[off_roof] = -np.inf
        up, down = (
            np.asarray(cv2.remap(grown, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=-np.inf))
            for mx, my in coords
        )
        larger = np.maximum(up, down)
        larger[~np.isfinite(larger)] = np.inf
        out[name] = (larger, np.minimum(up, down))
    return out


def course_lines(work: Work) -> tuple[F32, CoursePeriod]:
    """The thin bright-over-dark edge image along the courses (butt edges over their shadows) and
    the local course period in working pixels (see `_local_period`)."""
    crease_edge = oriented(work.flat, work.direction, 3.0 * work.ppi, "edge", max(0.8, 0.12 * work.ppi))
    return crease_edge, _local_period(work, crease_edge)
