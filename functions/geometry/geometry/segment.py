"""Roof plane segmentation on a height grid.

1. Roof cells: cells well above a ground estimate (a grey opening wider than a house), so ground,
   lawns and low sheds' surroundings drop out; within the roof mask when one is given (a mask on a
   crop with no ground around it is taken as it is).
2. Local planes: a least-squares plane in a window of about a metre around every roof cell (window
   sums by box filters; only roof cells count), giving a slope vector and the fit's residual. The
   window widens with the noise, so a per-cell slope is steady enough to group cells by.
3. Seeds and regions: the most planar cells seed regions grown by a fixed-range flood fill on the slope
   vector (fixed, not floating, so a region cannot creep across a gentle ridge).
4. Planes: a robust (Tukey-weighted) fit of z = a x + b y + c over each whole region: a fit over the
   facet, not per-cell gradients, is what gives the pitch under noise.
5. Refinement: every roof cell goes to the plane, among those next to it, that fits its neighbourhood
   best (a 3x3 mean of squared residuals, so noise cannot speckle a facet between two similar planes;
   the cell's own residual decides where it is beyond doubt), within a few noise sigmas (walls,
   chimney sides and tree canopy fit none); planes are refitted on their cells; coplanar neighbours
   merge; pieces too small to be a facet are dropped, as are near-vertical planes (walls) and small
   planes that fit worse than the noise allows (a patch of tree canopy).
6. Small planes (dormers, a facet a tree hid from step 3): step 2's metre windows straddle a dormer's
   planes, so the roof cells left over are searched again. In each connected piece, planes through
   3x3 neighbourhoods are candidates; the one that fits the cells around it best (MSAC) is refitted
   on the cells that agree with it and kept if it fits them as well as the noise allows; then the
   next. One is a roof plane only if it meets a plane of step 5 along their line of intersection (a
   dormer meets its roof in valleys; a canopy hovers above it), the surface does not carry on past
   the roof's edge beside it (a canopy cut off by a roof mask does), and such planes make up half of
   their piece or more (a dormer is its planes; a canopy is mostly not planar). Step 5 then runs
   again with them.

A DSM resampled from a coarser one (1 m LiDAR on a 10 cm grid) comes here at its source resolution
(geometry.resampled). On such a coarse grid the roof's edge cells mix in the wall below, so planes
are fitted on the cells inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from geometry.grid import BoolGrid, FloatGrid, HeightGrid

IntGrid = npt.NDArray[np.int32]

MIN_BUILDING_HEIGHT_M = 1.8  # above the ground estimate: a roof, not a car or a hedge
GROUND_WINDOW_M = 40.0  # wider than a house, so the opening sees past any roof to the ground
GROUND_SEEN_SHARE = 0.05  # of the cells: ground outside a mask, enough to judge its cells against
MAX_ROOF_PITCH_DEG = 75.0  # steeper than any roof (a 24/12 is 63°): a wall
MIN_FACET_AREA_M2 = 0.9  # smaller planes (a chimney top) are not facets; 100 sq ft is 9.3 m²
FACET_AREA_M2 = 9.29  # 100 sq ft: a plane this big is a facet however rough (real roofs sag)
PLANAR_SIGMAS = 1.5  # a smaller plane's fit RMS may exceed the noise by this factor, no more
INLIER_SIGMAS = 2.5  # a cell within this many noise sigmas of a small plane agrees with it
COARSE_CELL_M = 0.75  # cells this big or bigger mix the roof's edge with what is below it
ATTACH_CELLS = 3  # cells along a small plane's edge that make a crease or a run-on, not a coincidence


@dataclass(frozen=True)
class Plane:
    """z = a x + b y + c in world metres (x east, y north)."""

    a: float
    b: float
    c: float
    rms: float  # robust residual of the fit, metres
    count: int  # cells it was fitted on

    def height(self, x: FloatGrid, y: FloatGrid) -> FloatGrid:
        return self.a * x + self.b * y + self.c

    @property
    def normal(self) -> tuple[float, float, float]:
        norm = math.sqrt(self.a**2 + self.b**2 + 1.0)
        return (-self.a / norm, -self.b / norm, 1.0 / norm)

    @property
    def pitch_deg(self) -> float:
        return math.degrees(math.atan(math.hypot(self.a, self.b)))


@dataclass(frozen=True)
class Segmentation:
    labels: IntGrid  # plane index per cell, -1 for none
    planes: list[Plane]
    noise_m: float  # the height noise the thresholds were set from
    roof: BoolGrid  # the cells considered roof


def segment(grid: HeightGrid) -> Segmentation:
    valid = np.isfinite(grid.z)
    roof = roof_cells(grid, valid)
    x, y = grid.xy()
    z = np.where(valid, grid.z, 0.0)
    pixel = min(grid.dx, grid.dy)

    noise = estimate_noise(z, roof, x, y, pixel)
    half = window_half_width(noise, pixel)
    a, b, rms, full = local_planes(z, roof, x, y, half)

    steep = np.hypot(a, b) > math.tan(math.radians(MAX_ROOF_PITCH_DEG))
    planar = roof & full & ~steep & (rms < max(2.5 * noise, 0.01))
    regions = grow_regions(a, b, planar, rms, slope_tolerance(noise, half, pixel))
    min_cells = max(4, int(MIN_FACET_AREA_M2 / grid.cell_area))

    planes, labels = settle(regions, roof, x, y, z, noise, half, min_cells, pixel)
    planes, labels = keep_roof_planes(planes, labels, noise, grid.cell_area)
    surface = Surface(x, y, z, roof, valid, noise, pixel)
    planes, labels = add_small_planes(surface, planes, labels, roof & ~steep, half, min_cells, grid.cell_area)
    return Segmentation(labels, planes, noise, roof)


def settle(
    regions: IntGrid,
    roof: BoolGrid,
    x: FloatGrid,
    y: FloatGrid,
    z: FloatGrid,
    noise: float,
    half: int,
    min_cells: int,
    pixel: float,
) -> tuple[list[Plane], IntGrid]:
    """Planes fitted on the regions, then refined: cells reassigned, planes refitted, coplanar merged."""
    inner = inner_cells(roof, pixel)
    planes, regions = refit(regions, x, y, z, min_cells, inner)  # a plane's index is its region's label
    labels = regions
    for _ in range(3):
        labels = assign(planes, labels, regions, roof, x, y, z, noise, half)
        planes, labels = refit(labels, x, y, z, min_cells, inner)
        regions = labels
    planes, labels = merge_coplanar(planes, labels, x, y, z, noise, min_cells, inner)
    labels = assign(planes, labels, labels, roof, x, y, z, noise, half)
    return refit(labels, x, y, z, min_cells, inner)


def inner_cells(roof: BoolGrid, pixel: float) -> BoolGrid:
    """The roof cells planes are fitted on: on a coarse grid (1 m LiDAR) those not on the roof's
    outer edge, where a cell averages a metre of wall, gutter or ground into the roof's height (on a
    finer grid that share is small, and every cell counts)."""
    if pixel < COARSE_CELL_M:
        return roof
    inner: BoolGrid = cv2.erode(roof.astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=1).astype(bool)
    return inner


def fit_cells(cells: BoolGrid, inner: BoolGrid) -> BoolGrid:
    """The cells to fit a facet's plane on: its inner cells when they are at least half of them."""
    core = cells & inner
    return core if 2 * int(core.sum()) >= int(cells.sum()) and core.sum() >= 3 else cells


def keep_roof_planes(
    planes: list[Plane], labels: IntGrid, noise: float, cell_area: float
) -> tuple[list[Plane], IntGrid]:
    """Drop walls (near-vertical) and small planes that fit worse than the noise allows: at a metre or
    two across, tree canopy passes for a plane, but a rough one."""
    keep = [
        i
        for i, p in enumerate(planes)
        if p.pitch_deg <= MAX_ROOF_PITCH_DEG
        and (p.count * cell_area >= FACET_AREA_M2 or p.rms <= PLANAR_SIGMAS * noise)
    ]
    return relabel(planes, labels, keep)


def roof_cells(grid: HeightGrid, valid: BoolGrid) -> BoolGrid:
    """What stands well above the ground; within the mask when one is given.

    A mask drawn from a building's outline takes in ground and walls along its edges (the UK tiles'
    masks do, by a metre or two); where the grid shows ground outside the mask, the mask's cells at
    ground level are dropped. A mask on a crop with no ground around it is taken as it is."""
    raised = valid & (grid.z - ground_estimate(grid, valid) > MIN_BUILDING_HEIGHT_M)
    if grid.mask is None:
        return raised
    mask = grid.mask & valid
    ground_outside = valid & ~grid.mask & ~raised
    if ground_outside.sum() >= GROUND_SEEN_SHARE * valid.sum() and (mask & raised).any():
        return mask & raised
    return mask


def ground_estimate(grid: HeightGrid, valid: BoolGrid) -> FloatGrid:
    """A grey opening wider than a house: it sees past any roof to the ground."""
    z = np.where(valid, grid.z, np.nanmax(grid.z) if valid.any() else 0.0).astype(np.float32)
    size = max(3, int(GROUND_WINDOW_M / min(grid.dx, grid.dy)) | 1)
    size = min(size, (max(grid.shape) * 2) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    return np.asarray(cv2.dilate(cv2.erode(z, kernel), kernel), dtype=np.float64)


def box(values: FloatGrid, half: int) -> FloatGrid:
    """Window sums of `values` over (2*half+1)² cells (zero-padded at the border)."""
    size = 2 * half + 1
    summed = cv2.boxFilter(values, cv2.CV_64F, (size, size), normalize=False, borderType=cv2.BORDER_CONSTANT)
    return np.asarray(summed, dtype=np.float64)


def local_planes(
    z: FloatGrid, roof: BoolGrid, x: FloatGrid, y: FloatGrid, half: int
) -> tuple[FloatGrid, FloatGrid, FloatGrid, BoolGrid]:
    """Per cell: the slope (a, b) and residual RMS of the least-squares plane over the roof cells in
    its window, and whether the window was (nearly) all roof."""
    w = roof.astype(np.float64)
    # Coordinates relative to each window's centre cell keep the sums well conditioned.
    x0, y0 = x - x.mean(), y - y.mean()
    n = box(w, half)
    sx, sy, sz = box(w * x0, half), box(w * y0, half), box(w * z, half)
    sxx, syy, sxy = box(w * x0 * x0, half), box(w * y0 * y0, half), box(w * x0 * y0, half)
    sxz, syz, szz = box(w * x0 * z, half), box(w * y0 * z, half), box(w * z * z, half)
    safe = np.maximum(n, 1.0)
    cxx, cyy, cxy = sxx - sx * sx / safe, syy - sy * sy / safe, sxy - sx * sy / safe
    cxz, cyz, czz = sxz - sx * sz / safe, syz - sy * sz / safe, szz - sz * sz / safe
    det = cxx * cyy - cxy * cxy
    ok = (n >= 3) & (np.abs(det) > 1e-12)
    det = np.where(ok, det, 1.0)
    a = np.where(ok, (cyy * cxz - cxy * cyz) / det, 0.0)
    b = np.where(ok, (cxx * cyz - cxy * cxz) / det, 0.0)
    residual = np.maximum(czz - a * cxz - b * cyz, 0.0)
    rms = np.where(ok, np.sqrt(residual / safe), np.inf)
    full = n >= 0.9 * (2 * half + 1) ** 2
    return a, b, rms, full


def estimate_noise(z: FloatGrid, roof: BoolGrid, x: FloatGrid, y: FloatGrid, pixel: float) -> float:
    """Height noise sigma: the median residual of small local planes over the roof, corrected for the
    degrees of freedom a 3x3 fit uses (most windows lie inside one facet)."""
    if roof.sum() < 9:
        return 0.01
    _, _, rms, full = local_planes(z, roof, x, y, 1)
    inside = rms[roof & full & np.isfinite(rms)]
    if inside.size == 0:
        return 0.01
    return float(max(np.median(inside) * math.sqrt(9 / 6), 0.002))


def window_half_width(noise: float, pixel: float) -> int:
    """About a metre across; wider when noisy, so slopes are steady; never under 3x3."""
    width_m = 0.9 + min(noise, 0.1) * 8.0
    return max(1, round(width_m / (2 * pixel)))


def slope_tolerance(noise: float, half: int, pixel: float) -> float:
    """How far a cell's slope may stray from its seed's and still belong to the same plane."""
    cells = 2 * half + 1
    spread = sum((i * pixel) ** 2 for i in range(-half, half + 1)) * cells  # Σx² over the window
    slope_sigma = noise / math.sqrt(spread)
    return max(0.035, 4.0 * slope_sigma)


def grow_regions(a: FloatGrid, b: FloatGrid, planar: BoolGrid, rms: FloatGrid, tolerance: float) -> IntGrid:
    """Fixed-range flood fills on the slope vector, from the most planar unclaimed cell each time."""
    rows, cols = a.shape
    image = np.dstack([a, b, np.zeros_like(a)]).astype(np.float32)
    blocked = np.ones((rows + 2, cols + 2), dtype=np.uint8)
    blocked[1:-1, 1:-1] = (~planar).astype(np.uint8)
    labels = np.full((rows, cols), -1, dtype=np.int32)
    order = np.argsort(np.where(planar, rms, np.inf), axis=None)
    flags = 4 | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (255 << 8)
    diff = (tolerance, tolerance, 1.0)
    region = 0
    for flat_index in order:
        row, col = divmod(int(flat_index), cols)
        if not planar[row, col]:
            break  # the rest are not planar
        if blocked[row + 1, col + 1]:
            continue
        cv2.floodFill(image, blocked, (col, row), (0, 0, 0), diff, diff, flags)
        grown = blocked[1:-1, 1:-1] == 255
        labels[grown] = region
        blocked[1:-1, 1:-1][grown] = 1
        region += 1
    return labels


def fit_plane(x: FloatGrid, y: FloatGrid, z: FloatGrid, iterations: int = 6) -> Plane:
    """Tukey-weighted least squares: a few bad cells (a vent, a misassigned edge) cannot tilt it."""
    design = np.column_stack([x, y, np.ones_like(x)])
    weights = np.ones_like(z)
    coef = np.zeros(3)
    scale = 0.0
    for _ in range(iterations):
        root = np.sqrt(weights)
        coef = np.linalg.lstsq(design * root[:, None], z * root, rcond=None)[0]
        residual = z - design @ coef
        scale = 1.4826 * float(np.median(np.abs(residual))) + 1e-6
        u = residual / (4.685 * scale)
        weights = np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
    return Plane(float(coef[0]), float(coef[1]), float(coef[2]), scale, int(z.size))


def assign(
    planes: list[Plane],
    near: IntGrid,
    previous: IntGrid,
    roof: BoolGrid,
    x: FloatGrid,
    y: FloatGrid,
    z: FloatGrid,
    noise: float,
    half: int,
) -> IntGrid:
    """Each roof cell to the adjacent plane (within 4 sigmas of it) that fits its 3x3 neighbourhood best.

    Per-cell residuals alone let noise scatter a facet's cells between two near-identical planes, and
    the scattered pieces then fall below a facet's size; a neighbourhood's mean squared residual (each
    residual capped, so a chimney beside it does not count) is steady. Where the cell's own residuals
    differ by more than noise explains, they decide: that keeps a crease sharp on a noiseless roof.
    """
    labels = np.full(roof.shape, -1, dtype=np.int32)
    if not planes:
        return labels
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * (half + 2) + 1,) * 2)
    limit = max(4.0 * noise, 0.03)
    weight = roof.astype(np.float64)
    count = np.maximum(box(weight, 1), 1.0)
    best = np.full(roof.shape, np.inf)  # the chosen plane's neighbourhood cost
    chosen = np.full(roof.shape, np.inf)  # and its residual at the cell
    closest = np.full(roof.shape, np.inf)  # the smallest residual at the cell, of which plane
    closest_label = np.full(roof.shape, -1, dtype=np.int32)
    for index, plane in enumerate(planes):
        home = (near == index).astype(np.uint8)
        if not home.any():
            home = (previous == index).astype(np.uint8)
        error = np.abs(z - plane.height(x, y))
        fits = cv2.dilate(home, reach).astype(bool) & roof & (error < limit)
        cost = box(np.minimum(error, limit) ** 2 * weight, 1) / count
        better = fits & (cost < best)
        best[better], chosen[better], labels[better] = cost[better], error[better], index
        nearer = fits & (error < closest)
        closest[nearer], closest_label[nearer] = error[nearer], index
    decisive = (labels >= 0) & (np.where(labels >= 0, chosen, 0.0) - closest > 3.0 * noise)
    labels[decisive] = closest_label[decisive]
    return labels


def refit(
    labels: IntGrid, x: FloatGrid, y: FloatGrid, z: FloatGrid, min_cells: int, inner: BoolGrid
) -> tuple[list[Plane], IntGrid]:
    """Split every label into its connected pieces, drop pieces too small for a facet, refit."""
    out = np.full(labels.shape, -1, dtype=np.int32)
    planes: list[Plane] = []
    for index in range(int(labels.max()) + 1 if labels.size else 0):
        count, pieces = cv2.connectedComponents((labels == index).astype(np.uint8), connectivity=4)
        for piece in range(1, count):
            cells = pieces == piece
            if cells.sum() < min_cells:
                continue
            out[cells] = len(planes)
            fitted = fit_cells(cells, inner)
            planes.append(replace(fit_plane(x[fitted], y[fitted], z[fitted]), count=int(cells.sum())))
    return planes, out


def merge_coplanar(
    planes: list[Plane],
    labels: IntGrid,
    x: FloatGrid,
    y: FloatGrid,
    z: FloatGrid,
    noise: float,
    min_cells: int,
    inner: BoolGrid,
) -> tuple[list[Plane], IntGrid]:
    """Merge touching planes that are one plane (an over-split facet): passes of union-find over the
    touching pairs, most alike first, with one refit per pass."""
    for _ in range(8):
        groups = UnionFind(len(planes))
        root = groups.root
        merged = False
        for i, j in sorted(touching_pairs(labels), key=lambda pair: normal_angle(planes[pair[0]], planes[pair[1]])):
            if normal_angle(planes[i], planes[j]) > 12.0:
                break  # sorted: no later pair is alike either
            ri, rj = root(i), root(j)
            if ri == rj:
                continue
            # Judge the groups as they stand, so two facets cannot chain through a sliver between them.
            members = groups.members(ri) + groups.members(rj)
            both = fit_cells(np.isin(labels, members), inner)
            joint = fit_plane(x[both], y[both], z[both])
            worst = max(planes[m].rms for m in members)
            if joint.rms <= max(1.25 * worst, 1.5 * noise):
                groups.parent[rj] = ri
                merged = True
        if not merged:
            break
        roots = np.array([root(i) for i in range(len(planes))] + [-1], dtype=np.int32)
        planes, labels = refit(roots[labels], x, y, z, min_cells, inner)
    return planes, labels


class UnionFind:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def root(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def members(self, root: int) -> list[int]:
        return [i for i in range(len(self.parent)) if self.root(i) == root]


def touching_pairs(labels: IntGrid) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for first, second in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        differ = (first != second) & (first >= 0) & (second >= 0)
        for i, j in np.unique(np.stack([first[differ], second[differ]], axis=1), axis=0):
            pairs.add((int(min(i, j)), int(max(i, j))))
    return pairs


def normal_angle(first: Plane, second: Plane) -> float:
    dot = sum(p * q for p, q in zip(first.normal, second.normal, strict=True))
    return math.degrees(math.acos(max(-1.0, min(1.0, dot))))


@dataclass(frozen=True)
class Surface:
    """The height grid as the small-plane search sees it."""

    x: FloatGrid
    y: FloatGrid
    z: FloatGrid
    roof: BoolGrid
    valid: BoolGrid
    noise: float
    pixel: float


def add_small_planes(
    surface: Surface,
    planes: list[Plane],
    labels: IntGrid,
    searched: BoolGrid,
    half: int,
    min_cells: int,
    cell_area: float,
) -> tuple[list[Plane], IntGrid]:
    """Step 6: the small planes among the searched roof cells left over, then step 5 again with them."""
    small = small_planes(surface, searched & (labels < 0), labels, planes, min_cells, half)
    if small.max() < 0:
        return planes, labels
    labels = np.where(small >= 0, small + len(planes), labels)
    planes, labels = settle(
        labels, surface.roof, surface.x, surface.y, surface.z, surface.noise, half, min_cells, surface.pixel
    )
    return keep_roof_planes(planes, labels, surface.noise, cell_area)


def small_planes(
    surface: Surface, leftover: BoolGrid, labels: IntGrid, planes: list[Plane], min_cells: int, reach: int
) -> IntGrid:
    """Roof planes among the leftover roof cells, piece by piece: a label per cell, -1 for none.

    A plane found in a piece counts if it meets a roof plane along their crease and does not run on
    past the roof's edge, and the piece's planes that count must make up half of it or more: a dormer
    is its planes, while the patches of a tree canopy that pass for planes are a small part of it."""
    found = np.full(leftover.shape, -1, dtype=np.int32)
    if leftover.sum() < min_cells:
        return found
    x, y, z = surface.x, surface.y, surface.z
    hypotheses = Hypotheses.of(leftover, x, y, z, surface.noise)
    count, pieces = cv2.connectedComponents(leftover.astype(np.uint8), connectivity=8)
    sizes = np.bincount(pieces.ravel(), minlength=count)
    next_label = 0
    for number in range(1, count):
        if sizes[number] < min_cells:
            continue
        piece = Piece.of(pieces == number, x, y, z)
        kept = []
        for cells, plane in extract_planes(piece, hypotheses, surface.noise, min_cells, reach):
            rows, cols = piece.rows[cells], piece.cols[cells]
            if meets_roof(plane, rows, cols, labels, planes, surface) and not runs_off_roof(plane, rows, cols, surface):
                kept.append((rows, cols))
        if sum(rows.size for rows, _ in kept) < 0.5 * sizes[number]:
            continue
        for rows, cols in kept:
            found[rows, cols] = next_label
            next_label += 1
    return found


@dataclass(frozen=True)
class Hypotheses:
    """Candidate planes: the least-squares plane through each leftover cell's 3x3 neighbourhood (only
    leftover cells count, so one at a dormer's edge sees only its own side), z = a x + b y + c."""

    a: FloatGrid
    b: FloatGrid
    c: FloatGrid
    spread: FloatGrid  # the fit's residual sigma (degrees of freedom counted); inf where unusable

    @staticmethod
    def of(leftover: BoolGrid, x: FloatGrid, y: FloatGrid, z: FloatGrid, noise: float) -> Hypotheses:
        w = leftover.astype(np.float64)
        n = box(w, 1)
        a, b, rms, _ = local_planes(z, leftover, x, y, 1)
        safe = np.maximum(n, 1.0)
        c = (box(w * z, 1) - a * box(w * x, 1) - b * box(w * y, 1)) / safe
        spread = np.where(n >= 6, rms * np.sqrt(safe / np.maximum(n - 3, 1.0)), np.inf)
        usable = leftover & (spread < 2.0 * noise)  # six cells or more, planar to the noise
        return Hypotheses(a, b, c, np.where(usable, spread, np.inf))

    def plane(self, row: int, col: int) -> Plane:
        return Plane(float(self.a[row, col]), float(self.b[row, col]), float(self.c[row, col]), 0.0, 0)


@dataclass(frozen=True)
class Piece:
    """A connected piece of leftover cells: grid positions, world coordinates, and a map of the cells'
    numbers over the piece's bounding box (-1 off the piece)."""

    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    x: FloatGrid
    y: FloatGrid
    z: FloatGrid
    numbers: IntGrid
    top: int  # the bounding box's first row and column
    left: int

    @staticmethod
    def of(member: BoolGrid, x: FloatGrid, y: FloatGrid, z: FloatGrid) -> Piece:
        rows, cols = np.nonzero(member)
        top, left = int(rows.min()), int(cols.min())
        numbers = np.full((rows.max() - top + 1, cols.max() - left + 1), -1, dtype=np.int32)
        numbers[rows - top, cols - left] = np.arange(rows.size)
        return Piece(rows, cols, x[rows, cols], y[rows, cols], z[rows, cols], numbers, top, left)

    def residual(self, plane: Plane, cells: npt.NDArray[np.intp] | slice = slice(None)) -> FloatGrid:
        return np.abs(self.z[cells] - plane.height(self.x[cells], self.y[cells]))

    def around(self, cell: int, reach: int) -> npt.NDArray[np.intp]:
        """The numbers of the piece's cells within `reach` rows and columns of a cell."""
        row, col = self.rows[cell] - self.top, self.cols[cell] - self.left
        window = self.numbers[max(row - reach, 0) : row + reach + 1, max(col - reach, 0) : col + reach + 1]
        return window[window >= 0].astype(np.intp)

    def largest_part(self, cells: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
        """The largest 4-connected part of a subset of the piece's cells."""
        if not cells.any():
            return cells
        image = np.zeros(self.numbers.shape, dtype=np.uint8)
        image[self.rows[cells] - self.top, self.cols[cells] - self.left] = 1
        _, parts = cv2.connectedComponents(image, connectivity=4)
        part = parts[self.rows - self.top, self.cols - self.left]
        largest: npt.NDArray[np.bool_] = cells & (part == int(np.argmax(np.bincount(part[cells]))))
        return largest


def extract_planes(
    piece: Piece, hypotheses: Hypotheses, noise: float, min_cells: int, reach: int
) -> list[tuple[npt.NDArray[np.bool_], Plane]]:
    """Greedy consensus on a piece of leftover cells: the best candidate, refitted on the connected
    cells that agree with it, is a plane if it is big enough and fits to the noise; its cells are
    taken out and the next is sought, until a few candidates in a row have failed.

    Candidates are scored by MSAC on the cells within `reach` of their own (squared residuals capped
    at the inlier band; a cell taken or off the piece costs the cap), so one that fits a patch tightly
    beats one straddling a dormer's ridge that more cells agree with loosely."""
    spread = hypotheses.spread[piece.rows, piece.cols]
    candidates = np.flatnonzero(np.isfinite(spread))
    candidates = candidates[np.argsort(spread[candidates])][:64]  # the most planar are enough
    free = np.ones(piece.rows.size, dtype=bool)
    band = INLIER_SIGMAS * noise
    window = (2 * reach + 1) ** 2
    found: list[tuple[npt.NDArray[np.bool_], Plane]] = []
    failures = 0
    while candidates.size and failures < 5:
        costs = []
        for cell in candidates.tolist():
            near = piece.around(cell, reach)
            near = near[free[near]]
            candidate = hypotheses.plane(piece.rows[cell], piece.cols[cell])
            capped = np.minimum(piece.residual(candidate, near), band) ** 2
            costs.append(float(capped.sum()) + band**2 * (window - near.size))
        best = int(np.argmin(costs))
        cell = int(candidates[best])
        plane = settle_plane(piece, hypotheses.plane(piece.rows[cell], piece.cols[cell]), free, band, min_cells)
        if plane is None or plane.rms > PLANAR_SIGMAS * noise or plane.pitch_deg > MAX_ROOF_PITCH_DEG:
            candidates = np.delete(candidates, best)
            failures += 1
            continue
        cells = piece.largest_part(free & (piece.residual(plane) < band))
        found.append((cells, plane))
        free &= ~cells
        candidates = candidates[free[candidates]]
    return found


def settle_plane(piece: Piece, plane: Plane, free: npt.NDArray[np.bool_], band: float, min_cells: int) -> Plane | None:
    """Refit on the connected free cells that agree with the plane, a few times, so that it settles;
    None when too few agree."""
    for _ in range(3):
        cells = piece.largest_part(free & (piece.residual(plane) < band))
        if cells.sum() < min_cells:
            return None
        plane = fit_plane(piece.x[cells], piece.y[cells], piece.z[cells])
    return plane


def meets_roof(
    plane: Plane,
    rows: npt.NDArray[np.intp],
    cols: npt.NDArray[np.intp],
    labels: IntGrid,
    planes: list[Plane],
    surface: Surface,
) -> bool:
    """Whether a plane on the cells at (rows, cols) meets a roof plane along their line of
    intersection, as a dormer meets its roof in valleys: a few of the roof plane's cells bordering
    it lie within a cell of that line (a canopy's patches hover above the roof, away from it)."""
    window, ring = border(rows, cols, labels.shape)
    around = labels[window]
    ring &= around >= 0
    x, y = surface.x[window][ring], surface.y[window][ring]
    for index in np.unique(around[ring]):
        other = planes[int(index)]
        side = around[ring] == index
        gap = np.abs(plane.height(x[side], y[side]) - other.height(x[side], y[side]))
        # a cell's distance from the line where the planes meet: their height gap over their gradients' difference
        if (gap <= surface.pixel * math.hypot(plane.a - other.a, plane.b - other.b)).sum() >= ATTACH_CELLS:
            return True
    return False


def runs_off_roof(plane: Plane, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp], surface: Surface) -> bool:
    """Whether the surface carries on past the roof's edge next to the plane, as a canopy does beyond
    a roof mask; at a roof plane's edge it drops by a wall's height (or meets more roof)."""
    window, ring = border(rows, cols, surface.z.shape)
    ring &= surface.valid[window] & ~surface.roof[window]
    drop = plane.height(surface.x[window][ring], surface.y[window][ring]) - surface.z[window][ring]
    return int((drop < MIN_BUILDING_HEIGHT_M).sum()) >= ATTACH_CELLS


def border(
    rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp], shape: tuple[int, int]
) -> tuple[tuple[slice, slice], BoolGrid]:
    """The cells next to those at (rows, cols) (8-connected), as a mask over a window of the grid."""
    top, left = max(int(rows.min()) - 1, 0), max(int(cols.min()) - 1, 0)
    bottom, right = min(int(rows.max()) + 2, shape[0]), min(int(cols.max()) + 2, shape[1])
    cells = np.zeros((bottom - top, right - left), dtype=np.uint8)
    cells[rows - top, cols - left] = 1
    ring = cv2.dilate(cells, np.ones((3, 3), np.uint8)).astype(bool) & (cells == 0)
    return (slice(top, bottom), slice(left, right)), ring


def relabel(planes: list[Plane], labels: IntGrid, keep: list[int]) -> tuple[list[Plane], IntGrid]:
    mapping = np.full(len(planes) + 1, -1, dtype=np.int32)
    for new, old in enumerate(keep):
        mapping[old] = new
    return [planes[i] for i in keep], mapping[labels]
