"""Roof plane segmentation on a height grid.

1. Roof cells: the roof mask when one is given; else cells well above a ground estimate (a grey
   opening wider than a house), so ground, lawns and low sheds' surroundings drop out.
2. Local planes: a least-squares plane in a window of about a metre around every roof cell (window
   sums by box filters; only roof cells count), giving a slope vector and the fit's residual. The
   window widens with the noise, so a per-cell slope is steady enough to group cells by.
3. Seeds and regions: the most planar cells seed regions grown by a fixed-range flood fill on the slope
   vector (fixed, not floating, so a region cannot creep across a gentle ridge).
4. Planes: a robust (Tukey-weighted) fit of z = a x + b y + c over each whole region: a fit over the
   facet, not per-cell gradients, is what gives the pitch under noise.
5. Refinement: every roof cell goes to the plane, among those next to it, that predicts its height
   best, within a few noise sigmas (walls, chimney sides and tree canopy fit none); planes are
   refitted on their cells; coplanar neighbours merge; pieces too small to be a facet are dropped,
   as are near-vertical planes (walls are not roof planes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from geometry.grid import BoolGrid, FloatGrid, HeightGrid

IntGrid = npt.NDArray[np.int32]

MIN_BUILDING_HEIGHT_M = 1.8  # above the ground estimate: a roof, not a car or a hedge
GROUND_WINDOW_M = 40.0  # wider than a house, so the opening sees past any roof to the ground
MAX_ROOF_PITCH_DEG = 75.0  # steeper than any roof (a 24/12 is 63°): a wall
MIN_FACET_AREA_M2 = 0.9  # smaller planes (a chimney top) are not facets; 100 sq ft is 9.3 m²


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

    block = step_size_cells(grid.z, roof)
    if block > 1:
        z = smooth(z, roof, block)
    noise = estimate_noise(z, roof, x, y, pixel)
    half = max(window_half_width(noise, pixel), block)
    a, b, rms, full = local_planes(z, roof, x, y, half)
    if block > 1:  # the steps' residue, not sensor noise, is what the planes must tolerate here
        residue = rms[roof & full & np.isfinite(rms)]
        noise = max(noise, float(np.median(residue)) if residue.size else noise)

    steep = np.hypot(a, b) > math.tan(math.radians(MAX_ROOF_PITCH_DEG))
    planar = roof & full & ~steep & (rms < max(2.5 * noise, 0.01))
    regions = grow_regions(a, b, planar, rms, slope_tolerance(noise, half, pixel))
    min_cells = max(4, int(MIN_FACET_AREA_M2 / grid.cell_area))

    planes, regions = refit(regions, x, y, z, min_cells)  # a plane's index is its region's label
    labels = regions
    for _ in range(3):
        labels = assign(planes, labels, regions, roof, x, y, z, noise, half)
        planes, labels = refit(labels, x, y, z, min_cells)
        regions = labels
    planes, labels = merge_coplanar(planes, labels, x, y, z, noise, min_cells)
    labels = assign(planes, labels, labels, roof, x, y, z, noise, half)
    planes, labels = refit(labels, x, y, z, min_cells)
    keep = [i for i, p in enumerate(planes) if p.pitch_deg <= MAX_ROOF_PITCH_DEG]
    planes, labels = relabel(planes, labels, keep)
    return Segmentation(labels, planes, noise, roof)


def step_size_cells(z: FloatGrid, roof: BoolGrid) -> int:
    """The side, in cells, of the flat steps of a DSM resampled from a coarser one (1 m LiDAR on a
    10 cm grid is a staircase of 10-cell squares); 1 for a surface sampled at its own resolution."""
    inside_h, inside_v = roof[:, 1:] & roof[:, :-1], roof[1:, :] & roof[:-1, :]
    pairs = int(inside_h.sum() + inside_v.sum())
    if pairs < 100:
        return 1
    equal = int(((z[:, 1:] == z[:, :-1]) & inside_h).sum() + ((z[1:, :] == z[:-1, :]) & inside_v).sum())
    if equal < 0.6 * pairs:
        return 1
    runs: list[int] = []
    for row, keep in zip(z, roof, strict=True):
        values = row[keep]
        changes = np.flatnonzero(np.diff(values) != 0)
        runs += np.diff(changes).tolist()
    return max(2, int(np.median(runs))) if runs else 1


def smooth(z: FloatGrid, roof: BoolGrid, block: int) -> FloatGrid:
    """The mean over a block-sized window of roof cells only: the plane through a staircase's steps."""
    weight = roof.astype(np.float64)
    half = max(1, block // 2)
    total, count = box(z * weight, half), box(weight, half)
    return np.where(roof & (count > 0), total / np.maximum(count, 1.0), z)


def roof_cells(grid: HeightGrid, valid: BoolGrid) -> BoolGrid:
    """The mask when given; else what stands well above the ground."""
    if grid.mask is not None:
        return grid.mask & valid
    z = np.where(valid, grid.z, np.nanmax(grid.z) if valid.any() else 0.0).astype(np.float32)
    size = max(3, int(GROUND_WINDOW_M / min(grid.dx, grid.dy)) | 1)
    size = min(size, (max(grid.shape) * 2) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    ground = cv2.dilate(cv2.erode(z, kernel), kernel).astype(np.float64)
    return valid & (grid.z - ground > MIN_BUILDING_HEIGHT_M)


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
    """Each roof cell to the adjacent plane that predicts its height best (within 4 sigmas)."""
    labels = np.full(roof.shape, -1, dtype=np.int32)
    if not planes:
        return labels
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * (half + 2) + 1,) * 2)
    best = np.full(roof.shape, np.inf)
    limit = max(4.0 * noise, 0.03)
    for index, plane in enumerate(planes):
        home = (near == index).astype(np.uint8)
        if not home.any():
            home = (previous == index).astype(np.uint8)
        nearby = cv2.dilate(home, reach).astype(bool) & roof
        error = np.abs(z - plane.height(x, y))
        better = nearby & (error < best) & (error < limit)
        best[better] = error[better]
        labels[better] = index
    return labels


def refit(labels: IntGrid, x: FloatGrid, y: FloatGrid, z: FloatGrid, min_cells: int) -> tuple[list[Plane], IntGrid]:
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
            planes.append(fit_plane(x[cells], y[cells], z[cells]))
    return planes, out


def merge_coplanar(
    planes: list[Plane], labels: IntGrid, x: FloatGrid, y: FloatGrid, z: FloatGrid, noise: float, min_cells: int
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
            both = np.isin(labels, members)
            joint = fit_plane(x[both], y[both], z[both])
            worst = max(planes[m].rms for m in members)
            if joint.rms <= max(1.25 * worst, 1.5 * noise):
                groups.parent[rj] = ri
                merged = True
        if not merged:
            break
        roots = np.array([root(i) for i in range(len(planes))] + [-1], dtype=np.int32)
        planes, labels = refit(roots[labels], x, y, z, min_cells)
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


def relabel(planes: list[Plane], labels: IntGrid, keep: list[int]) -> tuple[list[Plane], IntGrid]:
    mapping = np.full(len(planes) + 1, -1, dtype=np.int32)
    for new, old in enumerate(keep):
        mapping[old] = new
    return [planes[i] for i in keep], mapping[labels]
