"""The damage heatmap: where on the roof the damage is, on a fixed scale a carrier can read.

The map's value at a point is the LOCAL density of damage there, in severity-weighted hits per
100 sq ft of roof (`SEVERITY_WEIGHTS`: severity 3 is one hit): each detection spreads its weight
over a Gaussian of `SIGMA_FT` on the roof plane, and the sum is divided by the roof area the same
Gaussian sees. So an even spread of N hits per 100 sq ft reads N everywhere on the roof (at its
edges and corners too), and one hit in open roof reads its weight / (2 pi sigma^2) x 100.

Why sigma = 1.5 ft: the map must show damage at about its own scale (a foot or two), yet one minor
hit must stay in the lowest legend step (under 4) and one ordinary hit under the carrier threshold
(8). One hit peaks at 15.9 / sigma^2 per 100 sq ft, so sigma = 1 ft would paint a lone ordinary hit
16 (twice the threshold) and a severity-2 hit 8; 1.5 ft is the smallest round sigma that keeps a
severity-2 hit (3.5) under 4 and an ordinary hit (7.1) under 8. Hits on a lattice 3 ft apart (11
per 100 sq ft) read within 3% of 11 in open roof; 3.5 ft apart (8.2) 7.3 to 9.1; 4 ft apart (6.25)
4.8 to 7.9, the hits showing as faint bumps. Next to the roof's edge the same lattice reads up to
15-25% higher (fewer hits carry the estimate there); randomly scattered hits read blotchier still,
as any count over ~30 sq ft must (a Poisson count of 2 to 3).

The legend has fixed, absolute steps (`STEP_EDGES`: under 4, 4-8, 8-16, 16-32, 32+ per 100 sq ft),
doubling because a count's noise and the eye both work in ratios, with the carrier threshold
(`threshold`, default 8 hits per 10 x 10 ft test square = 8 per 100 sq ft) marked on it: blue and
green are under it, yellow to dark red over it. The same density is the same colour on every photo.

Scale (`vision.photo_scale.PhotoScale`): the kernel's size in pixels and the area each pixel stands
for follow `scale.at(x, y)`, so hits spread evenly over a receding roof read evenly. Without a
scale the long side is assumed to span `DEFAULT_SPAN_FT`, and the legend says so; the test-square
count and the covered area are then not reported (they would be guesses).

Roof only (`roof`: bool H x W, True on the roof): nothing is tinted off it, detections whose centre
is off it are drawn but not counted, and the density is normalised by the roof area the kernel
sees (normalised convolution: numerator and denominator are the same Gaussian over hits and over
roof area). A kernel cut by the roof's edge, or by the photo's, is so renormalised over the roof
part instead of fading: a hard cut would read half at an edge and a quarter at a corner (the red
disc fading to green of an even spread). The denominator is floored at `COVER_MIN` of the kernel's
full area (a corner is a quarter) so a sliver of roof cannot blow one hit up. Grid cells mostly off
the roof take their roof neighbours' values, so the roof's own edge pixels are not interpolated
towards a value measured off it.

Statistics (`Heatmap`): the most hail hits (one each, as a carrier counts them) in any 10 x 10 ft
test square laid along the courses
(`scale.direction`) lying at least `SQUARE_ON_ROOF` on the roof, the roof area the photo covers,
the peak density and the number of detections counted.

Speed and memory (a 12 MP photo, bench/vision_heatmap.py): the density is computed on a coarse
grid (sigma `CELL_SIGMA` cells where the scale is smallest, 128 to 512 cells on the long side):
hits and roof area are filtered together by one separable Gaussian per scale level (levels
`LEVEL_RATIO` apart in pixels per foot, blended per cell), then the grid is resized to the output.
Nothing but the photo and one byte a pixel of the roof mask is ever held at the photo's size.
The tint, boxes, labels and legend are drawn at the output size (at most `long_side`, never larger
than the photo); the PNG is written by OpenCV with fast settings and carries only IHDR, IDAT, IEND.

Input pixels are RGB uint8 H x W x 3, upright; boxes are in those pixels (detections.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from shared.drawing import FONT, Box, Image, overlaps, png_bytes
from vision.detections import Detection, clamp_box
from vision.photo_scale import PhotoScale

Grid = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]

# ---- what the map measures
# Hits a detection counts for, by severity: 3 is one ordinary hit.
SEVERITY_WEIGHTS: dict[int, float] = {1: 0.25, 2: 0.5, 3: 1.0, 4: 1.5, 5: 2.0}
SIGMA_FT = 1.5  # the kernel on the roof plane (module docstring: why)
PER_AREA_SQFT = 100.0  # densities are per 100 sq ft (a test square)
THRESHOLD = 8.0  # carrier threshold, hits per 10 x 10 ft test square (commonly 8 or more = replace)
STEP_EDGES = (4.0, 8.0, 16.0, 32.0)  # legend steps per 100 sq ft: under 4, 4-8, 8-16, 16-32, 32+
COVER_MIN = 0.25  # the least share of the kernel's full area a density is divided by (a corner)
TEST_SQUARE_FT = 10.0
SQUARE_ON_ROOF = 0.9  # share of a test square that must lie on the roof (and in the photo)
SQUARE_STEP_FT = 1.0  # test squares are tried this far apart (more when there would be too many)
MAX_SQUARES = 10_000  # positions tried at most, on the lattice and anchored on pairs of hits each
ANCHOR_SLACK_FT = 0.05  # a square anchored on hits starts this far before them (rounding, perspective)
DEFAULT_SPAN_FT = 12.0  # the long side's span when the scale is unknown (close-up of a slope)
ASSUMED_UNCERTAINTY = 0.5  # of that assumption: a roof photo spans anything from 6 to 40 ft

# ---- the density grid
CELL_SIGMA = 3.0  # the kernel's sigma in cells where the scale is smallest (before the limits)
MIN_CELLS, MAX_CELLS = 128, 512  # on the grid's long side
LEVEL_RATIO = 2 ** (1 / 3)  # between the scale levels the density is filtered at

# ---- the picture
FLOOR = 0.5  # per 100 sq ft: below this nothing is tinted; full tint from twice this
# Step colours: Turbo (perceptually ordered) at these positions, cool under the threshold, warm over it
STEP_TURBO = (45, 100, 170, 210, 245)
STEP_ALPHA = (0.30, 0.40, 0.50, 0.58, 0.66)  # tint opacity per step
LONG_SIDE = 2048
WHOLE_SLACK = 0.05  # the output may be this much smaller than long_side allows to be a whole reduction
MIN_LEGEND_WIDTH = 420  # px: a narrower photo is padded so the legend still reads
PNG_PARAMS = (cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_AVG)

# Box colours by severity (BGR), minor to severe, each drawn over a dark outline
SEVERITY_COLOURS: dict[int, tuple[int, int, int]] = {
    1: (230, 216, 173),  # pale blue
    2: (80, 220, 80),  # green
    3: (0, 230, 255),  # yellow
    4: (0, 140, 255),  # orange
    5: (255, 0, 255),  # magenta: stands out even on the red end of the tint
}
OUTLINE = (20, 20, 20)
INK = (30, 30, 30)  # text on the legend's white and on the label tags


# ---- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Heatmap:
    """The heatmap PNG and the numbers it shows."""

    png: bytes
    test_square_max: float | None  # most hail hits in a 10 x 10 ft square on the roof; None: none fits, or no scale
    covered_sqft: float | None  # roof area the photo shows; None when the scale is assumed
    peak_per_100sqft: float  # the highest local density on the roof
    counted: int  # detections counted (centre on the roof)
    threshold: float  # the carrier threshold marked on the legend, hits per test square
    scale: PhotoScale  # the scale used: source "assumed" when none was given

    reading: Reading = field(compare=False)  # all of the above and the density grid, as `read_damage` gives them

    @property
    def scale_source(self) -> str:
        return self.scale.source


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Density:
    """Hits per 100 sq ft of roof on a coarse grid over the photo: cell (r, c) covers photo pixels
    [c * cell_x, (c + 1) * cell_x) x [r * cell_y, (r + 1) * cell_y)."""

    values: Grid  # hits per 100 sq ft
    roof: Grid  # share of each cell on the roof, 0 to 1
    sqft: Grid  # roof area in each cell, sq ft
    cell_x: float
    cell_y: float

    def at(self, x: float, y: float) -> float:
        """The density at a photo pixel, interpolated as the picture is (bilinear between cell centres)."""
        centre = (x / self.cell_x - 0.5, y / self.cell_y - 0.5)
        return float(cv2.getRectSubPix(self.values, (1, 1), centre)[0, 0])

    @property
    def peak(self) -> float:
        """The highest density on the roof (cells at least half on it)."""
        on_roof = self.values[self.roof >= 0.5]
        return float(on_roof.max()) if on_roof.size else 0.0

    @property
    def covered_sqft(self) -> float:
        return float(self.sqft.sum(dtype=np.float64))


# ---- scale and roof --------------------------------------------------------------------------------


def assumed_scale(width: int, height: int) -> PhotoScale:
    """The scale when none is known: the long side spans DEFAULT_SPAN_FT, the same everywhere."""
    return PhotoScale(
        pixels_per_foot=max(width, height) / DEFAULT_SPAN_FT,
        cx=width / 2,
        cy=height / 2,
        source="assumed",
        uncertainty=ASSUMED_UNCERTAINTY,
    )


def check_roof(roof: Mask | None, width: int, height: int) -> None:
    if roof is not None and (roof.dtype != np.bool_ or roof.shape != (height, width)):
        raise ValueError(f"roof must be a bool mask of the photo's shape ({height}, {width})")


def roof_share(roof: Mask | None, width: int, height: int, *, every: int = 1) -> Grid:
    """The share of each cell of a width x height grid over the photo that is roof (1 without a
    mask), from every `every`-th pixel of the mask each way (a sample is plenty for coarse cells;
    the picture uses every pixel, so a pixel wholly off the roof has a share of exactly 0)."""
    if roof is None:
        return np.ones((height, width), dtype=np.float32)
    levels = np.multiply(roof[::every, ::every], np.uint8(255), dtype=np.uint8)  # OpenCV averages bytes
    small = cv2.resize(levels, (width, height), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32) * np.float32(1 / 255)


def on_roof(detection: Detection, roof: Mask | None, width: int, height: int) -> tuple[float, float] | None:
    """The detection's centre in photo pixels when it is in the photo and on the roof, else None."""
    box = clamp_box(detection.box, width, height)
    if box is None:
        return None
    x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if roof is not None and not roof[min(int(y), height - 1), min(int(x), width - 1)]:
        return None
    return x, y


# ---- density ---------------------------------------------------------------------------------------


def grid_shape(width: int, height: int, scale: PhotoScale) -> tuple[int, int]:
    """Rows and columns of the density grid: the kernel CELL_SIGMA cells wide where the scale is
    smallest (a linear scale is smallest at a corner), MIN_CELLS to MAX_CELLS on the long side."""
    corners = scale.at([0, width, 0, width], [0, 0, height, height])
    cell_px = SIGMA_FT * float(corners.min()) / CELL_SIGMA
    long_px = max(width, height)
    cells = min(long_px, max(MIN_CELLS, min(MAX_CELLS, math.ceil(long_px / cell_px))))
    cell_px = long_px / cells
    return max(1, round(height / cell_px)), max(1, round(width / cell_px))


def density_map(
    detections: Sequence[Detection],
    width: int,
    height: int,
    *,
    scale: PhotoScale | None = None,
    roof: Mask | None = None,
) -> Density:
    """Severity-weighted hits per 100 sq ft of roof on a coarse grid covering the photo."""
    check_roof(roof, width, height)
    return _density(detections, width, height, scale or assumed_scale(width, height), roof)


def _density(
    detections: Sequence[Detection],
    width: int,
    height: int,
    scale: PhotoScale,
    roof: Mask | None,
) -> Density:
    rows, cols = grid_shape(width, height, scale)
    cell_x, cell_y = width / cols, height / rows
    xs = (np.arange(cols, dtype=np.float32) + 0.5) * np.float32(cell_x)
    ys = (np.arange(rows, dtype=np.float32) + 0.5) * np.float32(cell_y)
    ppf = scale.at(xs[None, :], ys[:, None])
    share = roof_share(roof, cols, rows, every=max(1, int(min(cell_x, cell_y) // 4)))
    sqft = np.asarray(share * np.float32(cell_x * cell_y) / (ppf * ppf), dtype=np.float32)
    hits = np.zeros((rows, cols), dtype=np.float32)
    for det in detections:
        centre = on_roof(det, roof, width, height)
        if centre is not None:
            _deposit(hits, (centre[0] / cell_x - 0.5, centre[1] / cell_y - 0.5), SEVERITY_WEIGHTS[det.severity])
    values = np.zeros((rows, cols), dtype=np.float32)
    if hits.any() and (share > 0).any():
        values = _from_the_roof(_normalised_convolution(hits, sqft, ppf, share > 0, cell_x, cell_y), share)
    return Density(values, share, sqft, cell_x, cell_y)


def _from_the_roof(values: Grid, share: Grid) -> Grid:
    """Cells mostly off the roof take the mean of their neighbours mostly on it. The picture
    interpolates between cell centres, and a roof pixel between a roof cell and one measured off
    the roof (where the kernel sees little roof and its floor lowers the density) would be pulled a
    step down: the tip of an acute roof corner turned blue."""
    on = np.asarray(share >= 0.5, dtype=np.float32)
    total = cv2.boxFilter(values * on, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    count = cv2.boxFilter(on, -1, (3, 3), normalize=False, borderType=cv2.BORDER_CONSTANT)
    fill = (on == 0) & (count > 0)
    values[fill] = total[fill] / count[fill]
    return values


def _deposit(grid: Grid, centre: tuple[float, float], weight: float) -> None:
    """`weight` split bilinearly among the four cells around `centre` (column, row in cell units):
    sub-cell positions survive the coarse grid. Weight falling outside the grid is dropped."""
    u, v = centre
    c0, r0 = math.floor(u), math.floor(v)
    fu, fv = u - c0, v - r0
    rows, cols = grid.shape
    for dr, dc, part in ((0, 0, (1 - fu) * (1 - fv)), (0, 1, fu * (1 - fv)), (1, 0, (1 - fu) * fv), (1, 1, fu * fv)):
        r, c = r0 + dr, c0 + dc
        if 0 <= r < rows and 0 <= c < cols:
            grid[r, c] += weight * part


def gaussian_taps(sigma_cells: float) -> Grid:
    """An unnormalised Gaussian (peak 1) sampled every cell out to 3.5 sigma, as a column."""
    reach = max(1, math.ceil(3.5 * sigma_cells))
    u = np.arange(-reach, reach + 1, dtype=np.float64)
    return np.exp(-0.5 * (u / sigma_cells) ** 2).astype(np.float32).reshape(-1, 1)


def _normalised_convolution(
    hits: Grid, sqft: Grid, ppf: Grid, roof: npt.NDArray[np.bool_], cx: float, cy: float
) -> Grid:
    """Hits over roof area under the same Gaussian, per 100 sq ft, at each cell. The Gaussian is
    SIGMA_FT on the roof: where the scale varies it is filtered at levels LEVEL_RATIO apart and each
    cell takes its two nearest levels, weighted by log distance (a hat in log pixels per foot)."""
    low, high = float(ppf[roof].min()), float(ppf[roof].max())
    steps = math.log(high / low) / math.log(LEVEL_RATIO)
    count = 1 + math.ceil(steps - 1e-6)
    position = np.clip(np.log(ppf / np.float32(low)) / np.float32(math.log(LEVEL_RATIO)), 0, count - 1)
    both = cv2.merge([hits, sqft])
    values = np.zeros_like(hits)
    for level in range(count):
        weight = np.clip(1 - np.abs(position - level), 0, 1).astype(np.float32)
        if not weight.any():
            continue
        sigma_px = SIGMA_FT * low * LEVEL_RATIO**level
        taps_x, taps_y = gaussian_taps(sigma_px / cx), gaussian_taps(sigma_px / cy)
        window = _support(weight > 0, taps_x.shape[0] // 2, taps_y.shape[0] // 2)
        filtered = cv2.sepFilter2D(both[window], cv2.CV_32F, taps_x, taps_y, borderType=cv2.BORDER_CONSTANT)
        seen = filtered[:, :, 1]
        full = float(taps_x.sum() * taps_y.sum()) * np.float32(cx * cy) / (ppf[window] * ppf[window])
        local = np.maximum(filtered[:, :, 0], 0) / np.maximum(seen, COVER_MIN * full)
        values[window] += weight[window] * local
    return np.asarray(values * np.float32(PER_AREA_SQFT), dtype=np.float32)


def _support(cells: npt.NDArray[np.bool_], reach_x: int, reach_y: int) -> tuple[slice, slice]:
    """The rows and columns holding `cells`, widened by the kernel's reach: filtering only that
    window gives those cells the values filtering the whole grid would."""
    rows, cols = np.flatnonzero(cells.any(axis=1)), np.flatnonzero(cells.any(axis=0))
    height, width = cells.shape
    return (
        slice(max(0, int(rows[0]) - reach_y), min(height, int(rows[-1]) + 1 + reach_y)),
        slice(max(0, int(cols[0]) - reach_x), min(width, int(cols[-1]) + 1 + reach_x)),
    )


def step_of(density: npt.ArrayLike) -> npt.NDArray[np.uint8]:
    """The legend step (0 = under STEP_EDGES[0], ..., len(STEP_EDGES) = the top) of densities."""
    values = np.asarray(density, dtype=np.float32)
    step = np.zeros(values.shape, dtype=np.uint8)
    for edge in STEP_EDGES:
        step += values >= np.float32(edge)
    return step


# ---- test squares ----------------------------------------------------------------------------------

Points = npt.NDArray[np.float64]  # n x 2, photo pixels (x, y)


def most_in_a_test_square(
    centres: Points, weights: npt.NDArray[np.float64], roof: Mask | None, width: int, height: int, scale: PhotoScale
) -> float | None:
    """The most (weighted) hits in any 10 x 10 ft square on the roof plane, laid along the
    courses (sides along and across `scale.direction`) and lying at least SQUARE_ON_ROOF on the roof
    and in the photo; None when no such square fits.

    A point is in a square when its offset from the square's centre, in feet at the scale halfway
    between them, is within 5 ft along both sides. The squares tried are those every SQUARE_STEP_FT
    over the roof and, for the exact maximum, those with a side through one hit and the other side
    through another (a square holding a set of hits slides until two of its sides meet hits of the
    set), while there are at most MAX_SQUARES such pairs. Squares are counted first and then judged
    on the roof from the highest count down, so only the first few are judged."""
    squares = np.concatenate([_lattice_squares(roof, width, height, scale), _anchored_squares(centres, scale)])
    counts = np.zeros(squares.shape[0])
    for start in range(0, squares.shape[0], 2048):  # bounded memory: 2048 squares x hits at a time
        counts[start : start + 2048] = _in_squares(squares[start : start + 2048], centres, scale) @ weights
    order = np.argsort(-counts, kind="stable")
    for start in range(0, order.shape[0], 1024):
        tried = order[start : start + 1024]
        on_roof = np.flatnonzero(_lies_on_roof(squares[tried], roof, width, height, scale))
        if on_roof.size:
            return float(counts[tried[on_roof[0]]])
    return None


def _axes(scale: PhotoScale) -> Points:
    """Unit vectors of a test square's sides in the image (rows): along the courses, down the slope."""
    down = np.array([math.cos(scale.direction), math.sin(scale.direction)])
    return np.stack([np.array([-down[1], down[0]]), down])


def _to_image(origins: Points, feet: Points, scale: PhotoScale) -> Points:
    """The points `feet` (along the courses, down the slope) from `origins`, in photo pixels, at the
    scale halfway along each offset."""
    offsets = feet @ _axes(scale)
    first = origins + offsets * scale.at(origins[..., 0], origins[..., 1])[..., None]
    midway = (origins + first) / 2
    return np.asarray(origins + offsets * scale.at(midway[..., 0], midway[..., 1])[..., None], dtype=np.float64)


def _to_feet(origins: Points, points: Points, scale: PhotoScale) -> Points:
    """Offsets of `points` from `origins` (broadcast) in feet along the courses and down the slope,
    at the scale halfway between them."""
    midway = (origins + points) / 2
    ppf = scale.at(midway[..., 0], midway[..., 1]).astype(np.float64)
    return np.asarray((points - origins) @ _axes(scale).T / ppf[..., None], dtype=np.float64)


def _lattice_squares(roof: Mask | None, width: int, height: int, scale: PhotoScale) -> Points:
    """Square centres every SQUARE_STEP_FT (at the photo's centre; wider if there would be more than
    MAX_SQUARES) whose centre is on the roof."""
    step = max(SQUARE_STEP_FT * float(scale.at(width / 2, height / 2)), math.sqrt(width * height / MAX_SQUARES))
    gx, gy = np.meshgrid(np.arange(step / 2, width, step), np.arange(step / 2, height, step))
    centres = np.stack([gx.ravel(), gy.ravel()], axis=1)
    if roof is not None:
        centres = centres[roof[centres[:, 1].astype(int), centres[:, 0].astype(int)]]
    return centres


def _anchored_squares(points: Points, scale: PhotoScale) -> Points:
    """Square centres whose side along the courses starts at hit i and whose side down the slope
    starts at hit j, for every pair that fits in one square (a hair, ANCHOR_SLACK_FT, before each)."""
    n = points.shape[0]
    if n == 0 or n * n > MAX_SQUARES:
        return np.zeros((0, 2))
    feet = _to_feet(points[:, None, :], points[None, :, :], scale)  # [i, j]: hit j from hit i
    side = TEST_SQUARE_FT
    fits = (feet[..., 0] >= 0) & (feet[..., 0] <= side) & (np.abs(feet[..., 1]) <= side)
    anchor, other = np.nonzero(fits)
    centre_feet = np.stack([np.full(anchor.shape, side / 2), feet[anchor, other, 1] + side / 2], axis=1)
    return _to_image(points[anchor], centre_feet - ANCHOR_SLACK_FT, scale)


def _lies_on_roof(
    squares: Points, roof: Mask | None, width: int, height: int, scale: PhotoScale
) -> npt.NDArray[np.bool_]:
    """Whether each square lies SQUARE_ON_ROOF on the roof and in the photo, judged at 100 points
    (one per sq ft) across it."""
    half = TEST_SQUARE_FT / 2
    feet = np.arange(-half + 0.5, half, 1.0)
    grid = np.stack(np.meshgrid(feet, feet), axis=-1).reshape(-1, 2)
    keep = np.zeros(squares.shape[0], dtype=bool)
    for start in range(0, squares.shape[0], 1024):
        centres = squares[start : start + 1024, None, :]
        points = _to_image(np.broadcast_to(centres, (centres.shape[0], grid.shape[0], 2)), grid, scale)
        x, y = points[..., 0], points[..., 1]
        on = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        if roof is not None:
            on &= roof[np.clip(y, 0, height - 1).astype(int), np.clip(x, 0, width - 1).astype(int)]
        keep[start : start + 1024] = on.mean(axis=1) >= SQUARE_ON_ROOF
    return keep


def _in_squares(squares: Points, points: Points, scale: PhotoScale) -> npt.NDArray[np.float64]:
    """1.0 where point j lies in the square centred at squares[i] (squares x points)."""
    feet = _to_feet(squares[:, None, :], points[None, :, :], scale)
    return np.asarray((np.abs(feet) <= TEST_SQUARE_FT / 2).all(axis=-1), dtype=np.float64)


# ---- reading the damage ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """The density and the numbers of one photo's damage, before drawing."""

    density: Density
    test_square_max: float | None
    covered_sqft: float | None
    counted: int
    threshold: float
    scale: PhotoScale

    def stats_json(self) -> dict[str, object]:
        """The numbers, for the result document (`density`)."""
        return {
            "test_square_max": _rounded(self.test_square_max, 2),
            "covered_sqft": _rounded(self.covered_sqft, 1),
            "peak_per_100sqft": round(self.density.peak, 2),
            "counted": self.counted,
            "threshold": self.threshold,
            "scale_source": self.scale.source,
        }


def read_damage(
    detections: Sequence[Detection],
    width: int,
    height: int,
    *,
    scale: PhotoScale | None = None,
    roof: Mask | None = None,
    threshold: float = THRESHOLD,
) -> Reading:
    """The density and the statistics."""
    if not (math.isfinite(threshold) and threshold > 0):
        raise ValueError("threshold must be a positive number of hits per test square")
    used = scale or assumed_scale(width, height)
    check_roof(roof, width, height)
    density = _density(detections, width, height, used, roof)
    assumed = used.source == "assumed"
    counted = [(d, c) for d in detections if (c := on_roof(d, roof, width, height))]
    square_max = None
    if not assumed and density.covered_sqft >= TEST_SQUARE_FT**2:
        # A carrier counts hail hits in a test square, each one hit whatever its size.
        centres = np.array([c for d, c in counted if d.type == "hail_hit"], dtype=np.float64).reshape(-1, 2)
        square_max = most_in_a_test_square(centres, np.ones(len(centres)), roof, width, height, used)
    return Reading(
        density=density,
        test_square_max=square_max,
        covered_sqft=None if assumed else density.covered_sqft,
        counted=len(counted),
        threshold=threshold,
        scale=used,
    )


# ---- rendering -------------------------------------------------------------------------------------


def render_heatmap(
    pixels: Image,
    detections: Sequence[Detection],
    *,
    roof: Mask | None = None,
    scale: PhotoScale | None = None,
    threshold: float = THRESHOLD,
    long_side: int = LONG_SIDE,
    boxes: bool = True,
    labels: bool = True,
) -> Heatmap:
    """The heatmap as PNG bytes (no metadata chunks) and the numbers it shows."""
    image, reading = render_image(
        pixels, detections, roof=roof, scale=scale, threshold=threshold, long_side=long_side, boxes=boxes, labels=labels
    )
    return Heatmap(
        png=png_bytes(image, "heatmap", PNG_PARAMS),
        test_square_max=reading.test_square_max,
        covered_sqft=reading.covered_sqft,
        peak_per_100sqft=reading.density.peak,
        counted=reading.counted,
        threshold=reading.threshold,
        scale=reading.scale,
        reading=reading,
    )


def render_image(
    pixels: Image,
    detections: Sequence[Detection],
    *,
    roof: Mask | None = None,
    scale: PhotoScale | None = None,
    threshold: float = THRESHOLD,
    long_side: int = LONG_SIDE,
    boxes: bool = True,
    labels: bool = True,
) -> tuple[Image, Reading]:
    """The heatmap as a BGR image (the photo, tinted on the roof, with boxes and labels, over the
    legend band) and its reading."""
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("pixels must be an RGB uint8 array of shape (height, width, 3)")
    if long_side < 64:
        raise ValueError("long_side must be at least 64 px")
    height, width = pixels.shape[:2]
    reading = read_damage(detections, width, height, scale=scale, roof=roof, threshold=threshold)
    out_w, out_h, band = _fit(width, height, long_side, reading, boxes)

    photo = cv2.resize(pixels, (out_w, out_h), interpolation=cv2.INTER_AREA) if out_w != width else pixels
    photo = np.asarray(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), dtype=np.uint8)
    if reading.counted:
        photo = _tint(photo, reading.density, None if roof is None else roof_share(roof, out_w, out_h))
    if detections and boxes:
        _draw_boxes(photo, detections, out_w / width, out_h / height, _font_scale(out_w, out_h), labels=labels)
    return _stack(photo, band), reading


def step_colours() -> Image:
    """BGR colour of each legend step (rows)."""
    index = np.array([STEP_TURBO], dtype=np.uint8)
    return np.asarray(cv2.applyColorMap(index, cv2.COLORMAP_TURBO)[0], dtype=np.uint8)


def _tint(photo: Image, density: Density, share: Grid | None) -> Image:
    """The step colours blended over the photo where the density is above the floor, only on the
    roof: the opacity is the step's, ramped in from FLOOR to twice it, times the pixel's roof share
    (0 off the roof, so those pixels stay the photo's own)."""
    height, width = photo.shape[:2]
    window = _above_the_floor(density.values, width, height)
    if window is None:
        return photo
    dense = np.asarray(cv2.resize(density.values, (width, height), interpolation=cv2.INTER_LINEAR))[window]
    rim = np.clip((dense - np.float32(FLOOR)) / np.float32(FLOOR), 0.0, 1.0)
    if share is not None:
        rim *= share[window]
    step = step_of(dense)
    opacity = np.zeros((256, 1), dtype=np.float32)
    opacity[: len(STEP_ALPHA), 0] = STEP_ALPHA
    alpha = np.asarray(cv2.multiply(cv2.LUT(step, opacity), rim), dtype=np.float32)
    colours = np.zeros((256, 1, 3), dtype=np.uint8)
    colours[: len(STEP_TURBO), 0] = step_colours()
    heat = cv2.applyColorMap(step, colours)
    photo[window] = cv2.blendLinear(heat, np.ascontiguousarray(photo[window]), alpha, 1.0 - alpha)
    return photo


def _above_the_floor(values: Grid, width: int, height: int) -> tuple[slice, slice] | None:
    """The output pixels (width x height) the tint can reach: those next to a cell above FLOOR (a
    pixel interpolates between its nearest cells), or None when there are none."""
    above = values > np.float32(FLOOR)
    if not above.any():
        return None
    rows, cols = np.flatnonzero(above.any(axis=1)), np.flatnonzero(above.any(axis=0))
    per_row, per_col = height / values.shape[0], width / values.shape[1]
    return (
        slice(max(0, math.floor((rows[0] - 1) * per_row)), min(height, math.ceil((rows[-1] + 2) * per_row))),
        slice(max(0, math.floor((cols[0] - 1) * per_col)), min(width, math.ceil((cols[-1] + 2) * per_col))),
    )


def _fit(width: int, height: int, long_side: int, reading: Reading, boxes: bool) -> tuple[int, int, Image]:
    """The photo's output size and the legend band: the whole (photo over band, padded to the
    band's width) fits in `long_side`, the photo keeps its aspect and is never enlarged."""
    scale = _reduction(width, height, long_side)
    notes = legend_notes(reading, width, height)
    for _ in range(4):  # a smaller photo gets a narrower band, which may wrap onto more lines
        out_w, out_h = max(1, round(width * scale)), max(1, round(height * scale))
        band = _legend(min(long_side, max(out_w, MIN_LEGEND_WIDTH)), _font_scale(out_w, out_h), notes, reading, boxes)
        if out_h + band.shape[0] <= long_side:
            return out_w, out_h, band
        scale = min(scale, (long_side - band.shape[0]) / height) * 0.999
    return out_w, out_h, band


def _reduction(width: int, height: int, long_side: int) -> float:
    """The photo's scale in the output: at most `long_side`, never enlarged, and a whole reduction
    (1/2, 1/3, ...) when one divides the photo and is within WHOLE_SLACK of the largest allowed:
    OpenCV averages whole blocks many times faster (a 12 MP photo to half: 2 ms, not 26)."""
    largest = min(1.0, long_side / max(width, height))
    whole = math.ceil(1 / largest)
    if largest < 1 and width % whole == 0 and height % whole == 0 and whole * largest <= 1 + WHOLE_SLACK:
        return 1 / whole
    return largest


def _stack(photo: Image, band: Image) -> Image:
    width = band.shape[1]
    if width > photo.shape[1]:  # a narrow photo: centred on white above the legend
        left = (width - photo.shape[1]) // 2
        photo = np.asarray(
            cv2.copyMakeBorder(
                photo, 0, 0, left, width - photo.shape[1] - left, cv2.BORDER_CONSTANT, value=(255, 255, 255)
            ),
            dtype=np.uint8,
        )
    return np.vstack([photo, band])


# ---- boxes and labels ------------------------------------------------------------------------------


def _font_scale(width: int, height: int) -> float:
    """OpenCV font scale: ~25 px capitals at 2048 px, still legible (~12 px) on a small image."""
    return float(np.clip(max(width, height) / 1800.0, 0.45, 1.1))


def _thickness(size: float) -> int:
    return max(1, round(size * 2))


def _label(det: Detection) -> str:
    return f"#{det.id} {det.type.replace('_', ' ')} {det.severity}/5"


def _draw_boxes(
    image: Image, detections: Sequence[Detection], sx: float, sy: float, size: float, *, labels: bool
) -> None:
    """Each box scaled to the output, in its severity's colour over a dark outline, and its label on a
    tag of the same colour (above the box, else below, else inside; just the id when all of those
    would cover a tag already placed)."""
    height, width = image.shape[:2]
    line = max(2, round(max(width, height) / 700))
    placed: list[Box] = []
    for det in sorted(detections, key=lambda d: (d.severity, d.id)):  # the worst drawn last, on top
        box = clamp_box((det.box[0] * sx, det.box[1] * sy, det.box[2] * sx, det.box[3] * sy), width, height)
        if box is None:
            continue
        x0, y0, x1, y1 = box[0], box[1], box[2] - 1, box[3] - 1  # inclusive corners for cv2
        colour = SEVERITY_COLOURS[det.severity]
        cv2.rectangle(image, (x0, y0), (x1, y1), OUTLINE, line + 2, cv2.LINE_AA)
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, line, cv2.LINE_AA)
        if labels:
            _put_tag(image, det, box, size, line, placed)


def _put_tag(image: Image, det: Detection, box: Box, size: float, line: int, placed: list[Box]) -> None:
    """Dark text on a filled tag in the box's colour: legible over any photo or tint. (OpenCV 5 draws
    the Hershey font names with a TrueType face whose weight stops growing with thickness, so the
    outlined text of geometry's preview shows no outline.)"""
    thick = _thickness(size)
    for text in (_label(det), f"#{det.id}"):
        (w, h), base = cv2.getTextSize(text, FONT, size, thick)
        m = max(2, h // 4)
        tag_w, tag_h = w + 2 * m, h + base + 2 * m
        candidates = [(box[0], box[1] - line - tag_h), (box[0], box[3] + line), (box[0] + line, box[1] + line)]
        tags = [_clip_tag(x, y, tag_w, tag_h, image.shape[1], image.shape[0]) for x, y in candidates]
        free = [t for t in tags if not any(overlaps(t, other) for other in placed)]
        if free:
            break
    tag = free[0] if free else tags[0]
    placed.append(tag)
    cv2.rectangle(image, (tag[0], tag[1]), (tag[2] - 1, tag[3] - 1), SEVERITY_COLOURS[det.severity], -1)
    cv2.putText(image, text, (tag[0] + m, tag[3] - m - base), FONT, size, INK, thick, cv2.LINE_AA)


def _clip_tag(x: int, y: int, w: int, h: int, width: int, height: int) -> Box:
    x = int(np.clip(x, 0, max(0, width - w)))
    y = int(np.clip(y, 0, max(0, height - h)))
    return x, y, x + w, y + h


# ---- legend ----------------------------------------------------------------------------------------


def step_labels() -> list[str]:
    """The legend's step labels: "under 4", "4-8", ..., "32+"."""
    edges = [f"{e:g}" for e in STEP_EDGES]
    return [f"under {edges[0]}", *(f"{a}-{b}" for a, b in itertools.pairwise(edges)), f"{edges[-1]}+"]


def scale_caption(scale: PhotoScale, width: int, height: int) -> str:
    """Where the scale came from and how sure it is, and its range across the photo."""
    corners = scale.at([0, width, 0, width], [0, 0, height, height])
    low, high = float(corners.min()), float(corners.max())
    span = f"{scale.pixels_per_foot:.3g} px per ft at the centre"
    if high > 1.05 * low:
        span += f", {low:.3g} to {high:.3g} across the photo (perspective)"
    if scale.source == "assumed":
        view = max(width, height) / scale.pixels_per_foot
        return f"Scale assumed (not measured): {span}, a view about {view:.0f} ft wide; densities are rough."
    origin = {"shingle_courses": "shingle courses", "test_square_tag": "the test-square tag (short side 10 ft)"}
    return f"Scale from {origin[scale.source]}, +-{scale.uncertainty:.0%}: {span}."


def stats_caption(reading: Reading) -> str:
    """The test-square count against the threshold, or why there is none."""
    if reading.scale.source == "assumed":
        return "No test-square count: the scale is not known."
    covered = f"The photo shows {reading.covered_sqft or 0:.0f} sq ft of roof"
    if reading.test_square_max is None:
        return f"{covered}: no 10 x 10 ft test square fits on it."
    verdict = "at or over" if reading.test_square_max >= reading.threshold else "under"
    return (
        f"{covered}. Most hail hits in any 10 x 10 ft test square: {reading.test_square_max:.3g} "
        f"({verdict} the threshold of {reading.threshold:g})."
    )


def legend_notes(reading: Reading, width: int, height: int) -> str:
    """The legend's text under the steps (scale, count, how hits are weighted)."""
    weights = ", ".join(f"{s}: {w:g}" for s, w in SEVERITY_WEIGHTS.items())
    return (
        f"{scale_caption(reading.scale, width, height)} {stats_caption(reading)} "
        f"Severity counts as hits ({weights}); each hit is spread over about {2 * SIGMA_FT:g} ft of roof."
    )


def _wrap(text: str, size: float, thick: int, width: int) -> list[str]:
    """Words greedily packed into lines no wider than `width` px (a long word gets its own line)."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and cv2.getTextSize(trial, FONT, size, thick)[0][0] <= width:
            lines[-1] = trial
        else:
            lines.append(word)
    return lines


def _legend(width: int, photo_size: float, notes: str, reading: Reading, boxes: bool) -> Image:
    """White band: title, the threshold's mark over the step bar, the steps' labels, the notes, and
    the severity key for the boxes."""
    size = max(0.4, photo_size * 0.7)
    thick = max(1, round(size * 1.6))
    (_, text_h), base = cv2.getTextSize("Ag", FONT, size, thick)
    pad, line_h = max(6, text_h // 2), text_h + max(6, text_h // 2)
    inner = width - 2 * pad
    title = _wrap("Damage density: severity-weighted hits per 100 sq ft of roof", size, thick, inner)
    lines = _wrap(notes, size, thick, inner)
    mark_h, bar_h, ticks_h = line_h + pad // 2 + 4, text_h + 8, 6 + text_h + base + pad
    key_h = line_h if boxes else 0
    height = pad + len(title) * line_h + mark_h + bar_h + ticks_h + len(lines) * line_h + key_h + pad
    band = np.full((height, width, 3), 255, dtype=np.uint8)
    y = pad
    for text in title:
        cv2.putText(band, text, (pad, y + text_h), FONT, size, INK, thick, cv2.LINE_AA)
        y += line_h
    _step_bar(band, (pad, y + mark_h, width - pad, y + mark_h + bar_h), reading.threshold, size, thick, text_h)
    y += mark_h + bar_h + ticks_h
    for text in lines:
        cv2.putText(band, text, (pad, y + text_h), FONT, size, INK, thick, cv2.LINE_AA)
        y += line_h
    if boxes:
        _severity_key(band, (pad, y), size, thick, text_h)
    return band


def threshold_position(threshold: float) -> float:
    """Where on the step bar (0 = left, 1 = right) the threshold falls: on a step's edge when it is
    one, else within its step (linearly in the lowest, by ratio in the others)."""
    steps = len(STEP_EDGES) + 1
    lower = [0.0, *STEP_EDGES]
    index = int(step_of(threshold))
    if index == 0:
        within = threshold / STEP_EDGES[0]
    elif index < len(STEP_EDGES):
        within = math.log(threshold / lower[index]) / math.log(STEP_EDGES[index] / lower[index])
    else:
        within = min(1.0, math.log2(threshold / STEP_EDGES[-1]))
    return (index + within) / steps


def _step_bar(band: Image, rect: Box, threshold: float, size: float, thick: int, text_h: int) -> None:
    """The steps as equal boxes in their colours (at the opacity a step has on mid grey, so the bar
    reads like the map), labelled under; the threshold as a bold mark across the bar, named above."""
    x0, y0, x1, y1 = rect
    colours, labels = step_colours().astype(np.float32), step_labels()
    steps = len(labels)
    edges = [x0 + round((x1 - x0) * i / steps) for i in range(steps + 1)]
    for i, (label, colour) in enumerate(zip(labels, colours, strict=True)):
        shade = STEP_ALPHA[i] * colour + (1 - STEP_ALPHA[i]) * 128.0
        band[y0:y1, edges[i] : edges[i + 1]] = np.round(shade).astype(np.uint8)
        w = cv2.getTextSize(label, FONT, size, thick)[0][0]
        tx = int(np.clip((edges[i] + edges[i + 1] - w) // 2, 0, band.shape[1] - w))
        cv2.putText(band, label, (tx, y1 + 6 + text_h), FONT, size, INK, thick, cv2.LINE_AA)
        cv2.line(band, (edges[i], y0), (edges[i], y1 + 4), INK, 1)
    cv2.rectangle(band, (x0, y0), (x1 - 1, y1 - 1), INK, 1)
    mark = x0 + round((x1 - x0 - 1) * threshold_position(threshold))
    heavy = max(3, thick + 2)
    cv2.line(band, (mark, y0 - 6), (mark, y1 + 2), INK, heavy)
    text = f"carrier threshold {threshold:g} per test square"
    w = cv2.getTextSize(text, FONT, size, thick)[0][0]
    tx = int(np.clip(mark - w // 2, 0, band.shape[1] - w))
    cv2.putText(band, text, (tx, y0 - 10), FONT, size, INK, thick, cv2.LINE_AA)


def _severity_key(band: Image, origin: tuple[int, int], size: float, thick: int, text_h: int) -> None:
    x, y = origin
    label = "Boxes by severity:"
    cv2.putText(band, label, (x, y + text_h), FONT, size, INK, thick, cv2.LINE_AA)
    x += cv2.getTextSize(label, FONT, size, thick)[0][0] + text_h
    for severity, colour in SEVERITY_COLOURS.items():
        if x + 2 * text_h > band.shape[1]:
            break
        cv2.rectangle(band, (x, y), (x + text_h, y + text_h), colour, -1)
        cv2.rectangle(band, (x, y), (x + text_h, y + text_h), OUTLINE, 1)
        x += text_h + 4
        cv2.putText(band, str(severity), (x, y + text_h), FONT, size, INK, thick, cv2.LINE_AA)
        x += cv2.getTextSize(str(severity), FONT, size, thick)[0][0] + text_h
