"""DSMs cut finer than their LiDAR: find the source grid, analyse there, map the labels back.

Most public LiDAR DSMs are 0.5-1 m; many files are resampled onto a finer grid (the UK tiles in
tests/data are 1 m data on 0.07-0.1 m pixels, one of them turned by a degree against its source).
Nearest-neighbour resampling makes a staircase of flat blocks; bilinear makes facets of source-cell
quads, with a bend along every source row and column. Either holds no detail finer than its source
cells. Analysed as if it did, the steps read as surface: the local planes tilt between treads and
pitches come out degrees off.

So the source lattice is recovered from the data itself:
- nearest: each flat block is one source sample; the lattice is fitted (an affine map, so a turned or
  sheared source is found too) through the centres of the blocks of typical size;
- bilinear (and a noiseless nearest one, whose equal samples merge blocks): where rows bend (step)
  recurs every `step` columns in every row, and likewise down the columns (found for a source on
  the same axes only).

The source DSM is then rebuilt on the fine grid's frame at the source's pitch, its heights sampled
from the lattice (exact where the lattice is on the frame's axes; bilinear between samples where it
is turned), and analysed as the DSM it is. Each fine cell then takes the facet, among its source
cell's and their neighbours', whose plane is nearest to the smooth surface through the source heights
at the cell: a cell beside a ridge goes to the side of the ridge it lies on, not to its block's.

Cubic and other smoothing resamplers leave no exact trace; such a file is analysed at its pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from geometry.grid import BoolGrid, FloatGrid, HeightGrid

IntGrid = npt.NDArray[np.int32]
Kind = Literal["nearest", "bilinear"]
Vector = tuple[float, float]  # (col, row) in fine cells

WINDOW = 1024  # cells a side read to find the lattice
WALL_M = 1.8  # samples this far apart in height have a wall between them (a building's least height)
BAND_ROWS = 512  # fine rows labelled at a time
MIN_STEP = 1.5  # fine cells per source cell: below this the file is at its own resolution
MIN_SAMPLES = 16  # source samples of typical size needed to fit the lattice
EQUAL_SHARE = 0.5  # neighbouring heights equal this often: a staircase of flat blocks
FIT_CELLS = 0.35  # the median block centre lies this close to its fitted node, in fine cells
PROFILES = 256  # rows (columns) read to find where the grid steps or bends
FLAT = 1e-6  # metres: a smaller change along a row is float32 rounding, not a step
BEND = 2e-4  # metres: a second difference this large is a bend, not float32 rounding
MIN_MARK_SHARE = 0.25  # of the rows: a source's line is marked in most rows crossing data, an edge in few
MIN_BENDS = 6  # steps or bends along an axis needed to see its period
MARKED_SHARE = 0.7  # of a bilinear lattice's lines between the first and the last bend: most are seen
REGULAR_CELLS = 0.75  # every bend lies within this many fine cells of the fitted period


@dataclass(frozen=True)
class Lattice:
    """The source samples on the fine grid: sample (u, v) lies at fine (col, row) = origin + u * along
    + v * down, where a fine index is fractional between cells."""

    kind: Kind
    origin: Vector
    along: Vector  # one source column on, in fine cells
    down: Vector  # one source row on

    def at(self, u: FloatGrid, v: FloatGrid) -> tuple[FloatGrid, FloatGrid]:
        col = self.origin[0] + u * self.along[0] + v * self.down[0]
        row = self.origin[1] + u * self.along[1] + v * self.down[1]
        return col, row

    def of(self, col: FloatGrid, row: FloatGrid) -> tuple[FloatGrid, FloatGrid]:
        """The inverse of `at`: fractional source (u, v) of fine positions."""
        matrix = np.array([[self.along[0], self.down[0]], [self.along[1], self.down[1]]])
        inverse = np.linalg.inv(matrix)
        dc, dr = col - self.origin[0], row - self.origin[1]
        return inverse[0, 0] * dc + inverse[0, 1] * dr, inverse[1, 0] * dc + inverse[1, 1] * dr

    def pitch_m(self, grid: HeightGrid) -> tuple[float, float]:
        """The source's cell size in metres along x and y."""
        return (
            float(np.hypot(self.along[0] * grid.dx, self.along[1] * grid.dy)),
            float(np.hypot(self.down[0] * grid.dx, self.down[1] * grid.dy)),
        )


def find_lattice(grid: HeightGrid) -> Lattice | None:
    """The coarser grid a DSM was resampled from, or None when it holds its own resolution.

    It is read from a window at the grid's centre (at most `WINDOW` cells a side): the lattice is the
    whole file's, and the window bounds the time and memory on a large tile."""
    if min(grid.shape) < 4 * MIN_STEP:
        return None
    top, left = (max(0, (n - WINDOW) // 2) for n in grid.shape)
    z = grid.z[top : top + WINDOW, left : left + WINDOW]
    lattice = block_lattice(z) or axis_lattice(z, "nearest") or axis_lattice(z, "bilinear")
    if lattice is None:
        return None
    origin = (lattice.origin[0] + left, lattice.origin[1] + top)
    return Lattice(lattice.kind, origin, lattice.along, lattice.down)


# ---- nearest: flat blocks ------------------------------------------------------------------------


def staircase(z: FloatGrid) -> bool:
    """Whether neighbouring heights are equal as often as a staircase of flat blocks makes them."""
    equal = int((z[:, 1:] == z[:, :-1]).sum() + (z[1:, :] == z[:-1, :]).sum())
    pairs = int(np.isfinite(z[:, 1:]).sum() + np.isfinite(z[1:, :]).sum())
    return pairs > 0 and equal >= EQUAL_SHARE * pairs


def block_lattice(z: FloatGrid) -> Lattice | None:
    if not staircase(z):
        return None
    equal_h, equal_v = z[:, 1:] == z[:, :-1], z[1:, :] == z[:-1, :]
    blocks = flat_blocks(equal_h, equal_v)
    count = int(blocks.max()) + 1
    size = np.bincount(blocks.ravel(), minlength=count).astype(np.float64)
    rows, cols = np.indices(z.shape, dtype=np.float64)
    centre = (
        np.stack(
            [np.bincount(blocks.ravel(), cols.ravel(), count), np.bincount(blocks.ravel(), rows.ravel(), count)], axis=1
        )
        / np.maximum(size, 1.0)[:, None]
    )
    typical = float(np.median(size[size >= 3])) if (size >= 3).any() else 0.0
    if typical < MIN_STEP**2:
        return None
    whole = (size > 0.6 * typical) & (size < 1.4 * typical) & ~touches_border(blocks, count)
    if whole.sum() < MIN_SAMPLES:
        return None
    steps = neighbour_steps(blocks, centre, whole)
    if steps is None:
        return None
    return fit_lattice(centre[whole], *steps)


def flat_blocks(equal_h: BoolGrid, equal_v: BoolGrid) -> IntGrid:
    """Connected cells of one height, labelled 0..n-1: on a doubled image, a cell is a pixel and the
    pixel between two cells is set only when their heights are equal."""
    rows, cols = equal_v.shape[0] + 1, equal_h.shape[1] + 1
    image = np.zeros((2 * rows - 1, 2 * cols - 1), dtype=np.uint8)
    image[::2, ::2] = 1
    image[::2, 1::2] = equal_h
    image[1::2, ::2] = equal_v
    image[1::2, 1::2] = equal_h[:-1] & equal_h[1:] & equal_v[:, :-1] & equal_v[:, 1:]
    _, labels = cv2.connectedComponents(image, connectivity=4)
    cells: IntGrid = labels[::2, ::2].astype(np.int32) - 1
    return cells


def touches_border(blocks: IntGrid, count: int) -> npt.NDArray[np.bool_]:
    edge = np.concatenate([blocks[0], blocks[-1], blocks[:, 0], blocks[:, -1]])
    touching = np.zeros(count, dtype=bool)
    touching[edge] = True
    return touching


def neighbour_steps(blocks: IntGrid, centre: FloatGrid, whole: npt.NDArray[np.bool_]) -> tuple[Vector, Vector] | None:
    """The median step from a whole block to its neighbour on the right, and to the one below."""
    steps = []
    for first, second in ((blocks[:, :-1], blocks[:, 1:]), (blocks[:-1, :], blocks[1:, :])):
        differ = (first != second) & whole[first] & whole[second]
        pairs = np.unique(np.stack([first[differ], second[differ]], axis=1), axis=0)
        steps.append(centre[pairs[:, 1]] - centre[pairs[:, 0]])
    moves = np.concatenate(steps)
    along = moves[(np.abs(moves[:, 0]) > np.abs(moves[:, 1])) & (moves[:, 0] > 0)]
    down = moves[(np.abs(moves[:, 1]) > np.abs(moves[:, 0])) & (moves[:, 1] > 0)]
    if len(along) < MIN_SAMPLES // 2 or len(down) < MIN_SAMPLES // 2:
        return None
    first_step, second_step = np.median(along, axis=0), np.median(down, axis=0)
    return (float(first_step[0]), float(first_step[1])), (float(second_step[0]), float(second_step[1]))


def fit_lattice(centres: FloatGrid, along: Vector, down: Vector) -> Lattice | None:
    """Number the block centres on the lattice the steps span, then fit the lattice (an affine map)
    to them by least squares; None when the centres do not lie on one. The fit starts with the
    centres near the middle and takes in wider rings as it firms up, so that the steps' small error
    cannot misnumber the far centres of a large or turned lattice."""
    middle = centres[np.argmin(np.hypot(*(centres - np.median(centres, axis=0)).T))]
    lattice = Lattice("nearest", (float(middle[0]), float(middle[1])), along, down)
    u = v = np.zeros(len(centres))
    for reach in (4.0, 8.0, 16.0, 32.0, math.inf, math.inf):
        if min(np.hypot(*lattice.along), np.hypot(*lattice.down)) < MIN_STEP:
            return None
        fu, fv = lattice.of(centres[:, 0], centres[:, 1])
        u, v = np.rint(fu), np.rint(fv)
        near = np.maximum(np.abs(fu), np.abs(fv)) <= reach
        if near.sum() < MIN_SAMPLES // 2:
            continue
        design = np.column_stack([np.ones_like(u), u, v])[near]
        coef = np.linalg.lstsq(design, centres[near], rcond=None)[0]  # rows: origin, along, down
        origin, along, down = ((float(row[0]), float(row[1])) for row in coef)
        lattice = Lattice("nearest", origin, along, down)
    residual = np.hypot(*(centres - np.column_stack(lattice.at(u, v))).T)
    return lattice if float(np.median(residual)) < FIT_CELLS else None


# ---- on the axes: steps or bends at the same columns in every row ---------------------------------


def axis_lattice(z: FloatGrid, kind: Kind) -> Lattice | None:
    """A lattice on the grid's axes, from where rows (and columns) step (nearest) or bend (bilinear).

    For nearest it backs up the blocks: a noiseless roof along the axes has runs of equal samples
    that merge its blocks, but its steps still fall on the source's edges."""
    cols, rows = axis_marks(z, kind), axis_marks(z.T, kind)
    if kind == "nearest" and staircase(z) and (cols is None) != (rows is None):
        # a noiseless staircase steps only across its roof's slope: the other axis takes this one's step
        cols, rows = cols or (rows[0], 0.0), rows or (cols[0], 0.0)  # type: ignore[index]
    if cols is None or rows is None:
        return None  # a resampled file shows its source on both axes (a native roof's edges can fake one)
    half = 0.5 if kind == "nearest" else 0.0  # a step lies between two samples, a bend on one
    return Lattice(kind, (cols[1] + half * cols[0], rows[1] + half * rows[0]), (cols[0], 0.0), (0.0, rows[0]))


def axis_marks(z: FloatGrid, kind: Kind) -> tuple[float, float] | None:
    """(step, first mark) along the rows of `z`: where rows step (nearest: between cells j and j + 1,
    at j + 0.5) or bend (bilinear: at cell j); None when the marks are not regular."""
    usable = np.flatnonzero(np.isfinite(z).sum(axis=1) >= 0.5 * z.shape[1])
    if usable.size == 0:
        return None
    rows = z[usable[np.linspace(0, usable.size - 1, min(PROFILES, usable.size)).astype(np.intp)]]
    if kind == "nearest":
        size, offset = np.abs(np.diff(rows, axis=1)), 0.5
        change = size > FLAT
    else:
        size, offset = np.abs(rows[:, 2:] - 2 * rows[:, 1:-1] + rows[:, :-2]), 1.0
        change = size > BEND
    strength = np.nansum(np.where(change, size, 0.0), axis=0)
    seen = np.isfinite(rows[:, : change.shape[1]]).sum(axis=0)
    share = np.where(seen > 0, change.sum(axis=0) / np.maximum(seen, 1), 0.0)
    if share.max() < MIN_MARK_SHARE or share.mean() >= 0.6 * share.max() or share.mean() >= 0.6:
        return None  # changes nowhere much (a native surface's edges), or everywhere: its own resolution
    marked = np.flatnonzero(share > 0.2 * share.max())
    runs = np.split(marked, np.flatnonzero(np.diff(marked) > 1.5) + 1)
    runs = [run for run in runs if run[0] > 0 and run[-1] < share.size - 1]  # cut off by the grid's edge
    # A bend a fraction f past cell j marks j and j + 1 with second differences in the ratio (1 - f) : f,
    # so the marks' centroid, weighted by their size, is where it lies.
    positions = np.array([float(np.average(run, weights=strength[run] + 1e-12)) for run in runs]) + offset
    if positions.size < MIN_BENDS:
        return None
    gaps = np.diff(positions)
    unit = float(np.percentile(gaps, 25))
    if unit < MIN_STEP:
        return None
    ordinal = np.concatenate([[0.0], np.cumsum(np.maximum(1.0, np.rint(gaps / unit)))])
    if kind == "bilinear" and positions.size < MARKED_SHARE * (ordinal[-1] + 1):
        return None  # a noiseless roof's creases that happen to fall on a period, not a lattice
    step, first = np.polyfit(ordinal, positions, 1)
    if step < MIN_STEP or np.abs(positions - (first + step * ordinal)).max() > REGULAR_CELLS:
        return None
    return float(step), float(first)


# ---- the source grid and the labels back ---------------------------------------------------------


def source_grid(grid: HeightGrid, lattice: Lattice) -> HeightGrid:
    """The DSM at the source's pitch on the fine grid's frame, its cells centred on the lattice's
    samples where the lattice is on the frame's axes."""
    pitch_x, pitch_y = lattice.pitch_m(grid)
    x0 = float(grid.x_of(lattice.origin[0]))
    y0 = float(grid.y_of(lattice.origin[1]))
    width, height = grid.shape[1] * grid.dx, grid.shape[0] * grid.dy
    left, top = grid.origin[0], grid.origin[1]
    # the source cells whose centres lie on the grid
    first_col = int(np.ceil((left - x0) / pitch_x - 1e-9))
    first_row = int(np.ceil((y0 - top) / pitch_y - 1e-9))
    cols = int(np.floor((left + width - x0) / pitch_x + 1e-9)) - first_col + 1
    rows = int(np.floor((y0 - (top - height)) / pitch_y + 1e-9)) - first_row + 1
    origin = (x0 + (first_col - 0.5) * pitch_x, y0 - (first_row - 0.5) * pitch_y)
    source = HeightGrid(np.zeros((max(rows, 1), max(cols, 1))), pitch_x, pitch_y, None, grid.georeference, origin)
    x, y = source.xy()
    z = sample_lattice(grid, lattice, grid.col_of(x), grid.row_of(y))
    mask = None
    if grid.mask is not None:  # a source cell is roof when most of the fine cells around its centre are
        size = (max(1, round(lattice.along[0])), max(1, round(lattice.down[1])))
        share = np.asarray(cv2.blur(grid.mask.astype(np.float32), size), dtype=np.float64)
        mask = remap(share, grid.col_of(x), grid.row_of(y), cv2.INTER_LINEAR) >= 0.5
    return HeightGrid(z, pitch_x, pitch_y, mask, grid.georeference, origin)


def sample_lattice(grid: HeightGrid, lattice: Lattice, col: FloatGrid, row: FloatGrid) -> FloatGrid:
    """Heights at fine positions, interpolated bilinearly between the lattice's samples (NaN beyond
    them or where a sample has no height)."""
    u, v = lattice.of(col, row)
    u_lo, v_lo = int(np.floor(np.nanmin(u))) - 1, int(np.floor(np.nanmin(v))) - 1
    u_hi, v_hi = int(np.ceil(np.nanmax(u))) + 1, int(np.ceil(np.nanmax(v))) + 1
    nodes_u, nodes_v = np.meshgrid(
        np.arange(u_lo, u_hi + 1, dtype=np.float64), np.arange(v_lo, v_hi + 1, dtype=np.float64)
    )
    at_col, at_row = lattice.at(nodes_u, nodes_v)
    if lattice.kind == "nearest":
        samples = remap(grid.z, at_col, at_row, cv2.INTER_NEAREST)
    else:
        samples = bilinear_nodes(grid.z, at_col, at_row)
    inside = (at_col > -0.5) & (at_row > -0.5) & (at_col < grid.shape[1] - 0.5) & (at_row < grid.shape[0] - 0.5)
    known = inside & np.isfinite(samples)
    # NaN-aware: a sample without a height only spoils the positions it weighs on (float32 rounding
    # would otherwise let a zero weight on one carry its NaN into a position exactly on a sample)
    total = remap(np.where(known, samples, 0.0), u - u_lo, v - v_lo, cv2.INTER_LINEAR, beyond=0.0)
    weight = remap(known.astype(np.float64), u - u_lo, v - v_lo, cv2.INTER_LINEAR, beyond=0.0)
    heights: FloatGrid = np.where(weight > 0.999, total / np.maximum(weight, 1e-9), np.nan)
    # Between samples either side of a wall (an eave over the ground) a blend is neither: there the
    # nearest sample is taken, as a return is the roof or the ground (only a turned lattice has cells
    # between samples; on the frame's axes each cell is a sample)
    known_z = np.where(known, samples, np.nan)
    quads = np.stack([known_z[:-1, :-1], known_z[:-1, 1:], known_z[1:, :-1], known_z[1:, 1:]])
    spread = np.fmax.reduce(quads, axis=0) - np.fmin.reduce(quads, axis=0)  # NaN only where all four are
    iu = np.clip(np.floor(u - u_lo).astype(np.intp), 0, spread.shape[1] - 1)
    iv = np.clip(np.floor(v - v_lo).astype(np.intp), 0, spread.shape[0] - 1)
    nearest = remap(known_z, u - u_lo, v - v_lo, cv2.INTER_NEAREST)
    across = (spread[iv, iu] > WALL_M) & np.isfinite(nearest)
    return np.where(across, nearest, heights)


def bilinear_nodes(z: FloatGrid, at_col: FloatGrid, at_row: FloatGrid) -> FloatGrid:
    """A bilinear file's samples: each from the 2 x 2 cells just before it, inside the one patch that
    ends at it, extended to it. Interpolating the cells around it instead would cut the corner a
    ridge or an eave makes there (the sample lies between cells, and the patches meet at a kink)."""
    rows, cols = z.shape
    c0, r0 = np.floor(at_col).astype(np.intp), np.floor(at_row).astype(np.intp)
    inside = (c0 >= 1) & (r0 >= 1) & (c0 < cols) & (r0 < rows)
    c, r = np.where(inside, c0, 1), np.where(inside, r0, 1)
    s, t = 1.0 + at_col - c0, 1.0 + at_row - r0  # the sample in the 2 x 2's own coordinates (0..1 its cells)
    value = (
        z[r - 1, c - 1] * (1 - s) * (1 - t) + z[r - 1, c] * s * (1 - t) + z[r, c - 1] * (1 - s) * t + z[r, c] * s * t
    )
    nearby: FloatGrid = np.where(inside, value, remap(z, at_col, at_row, cv2.INTER_LINEAR))
    return nearby


def remap(image: FloatGrid, col: FloatGrid, row: FloatGrid, how: int, *, beyond: float | None = np.nan) -> FloatGrid:
    """`image` at fractional (col, row): `beyond` outside it, or its edge carried on when None."""
    border = cv2.BORDER_REPLICATE if beyond is None else cv2.BORDER_CONSTANT
    out = cv2.remap(
        image.astype(np.float32),
        col.astype(np.float32),
        row.astype(np.float32),
        how,
        borderMode=border,
        borderValue=0.0 if beyond is None else beyond,
    )
    return np.asarray(out, dtype=np.float64)


def fine_labels(
    labels: IntGrid, planes: list[tuple[float, float, float]], source: HeightGrid, grid: HeightGrid
) -> IntGrid:
    """The source grid's facet labels on the fine grid: a fine cell in a facet's source cell takes,
    of the facets there and around, the one whose plane (a, b, c: z = a x + b y + c) is nearest to
    the source surface at it; cells without a height, or off the fine mask, take none. In bands of
    rows, so a large tile costs its cells once, whatever its facets, in bounded memory."""
    out = np.full(grid.shape, -1, dtype=np.int32)
    if not planes:
        return out
    coef = np.array([*planes, (0.0, 0.0, np.inf)], dtype=np.float64)  # the last: no facet, never nearest
    col = source.col_of(grid.x_of(np.arange(grid.shape[1])))
    at_col = np.clip(np.rint(col), 0, source.shape[1] - 1).astype(np.intp)
    z = np.where(np.isfinite(source.z), source.z, np.nanmedian(source.z) if np.isfinite(source.z).any() else 0.0)
    padded = np.pad(labels, 1, constant_values=-1)
    x = grid.x_of(np.arange(grid.shape[1]))[None, :]
    for top in range(0, grid.shape[0], BAND_ROWS):
        rows = np.arange(top, min(top + BAND_ROWS, grid.shape[0]))
        row = source.row_of(grid.y_of(rows))
        at_row = np.clip(np.rint(row), 0, source.shape[0] - 1).astype(np.intp)
        surface = remap(z, *np.meshgrid(col, row), cv2.INTER_LINEAR, beyond=None)
        y = grid.y_of(rows)[:, None]
        best = np.full(surface.shape, np.inf)
        band = np.full(surface.shape, -1, dtype=np.int32)
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                near = padded[np.ix_(at_row + 1 + dr, at_col + 1 + dc)]
                a, b, c = (coef[near, k] for k in range(3))  # -1 picks the last row
                gap = np.abs(surface - (a * x + b * y + c))
                better = gap < best
                best[better], band[better] = gap[better], near[better]
        keep = np.isfinite(grid.z[rows]) & (labels[np.ix_(at_row, at_col)] >= 0)
        if grid.mask is not None:
            keep &= grid.mask[rows]
        out[rows] = np.where(keep, band, -1)
    return out


def described(lattice: Lattice, grid: HeightGrid) -> str:
    pitch_x, pitch_y = lattice.pitch_m(grid)
    how = "nearest-neighbour" if lattice.kind == "nearest" else "bilinearly"
    return (
        f"The DSM is resampled ({how}) from {pitch_x:.2f} m x {pitch_y:.2f} m data onto "
        f"{grid.dx:.3f} m x {grid.dy:.3f} m pixels, so it holds no detail finer than its source: it was measured "
        f"on a {pitch_x:.2f} m x {pitch_y:.2f} m grid, and lines and areas are as exact as that allows."
    )
