"""Gable dormers as a model, not as planes found in the data.

A dormer is a few square metres of roof: at 0.4-0.5 m a cell its faces are a handful of cells each,
too few for the data-driven planes of `segment` (or, at best, for straight outline sides fitted to
their cracks). Roof-reconstruction software fits such small structures as primitives instead, and
so does this module, for the common one: a symmetric gable dormer standing on a sloping facet.

1. Blobs: connected roof cells standing more than a few noise sigmas above a big facet's plane (the
   host), that are no other big facet's, a dormer's size, and that sit on the host (it surrounds them).
2. The model, in the host's frame (v up its fall line, u across it): the dormer's ridge is level and
   runs up the fall line, z = h - s |u - u0|, until it dies into the host; for a fixed u0 that is
   linear in (h, s), so u0 is searched and (h, s) solved by least squares on the blob's cells.
3. The extent: the front line v = vf and the eave half-width w. Cell centres sample the surface, so a
   boundary is known only to lie between the last cell inside it and the first outside; the heights
   predicted by the model inside the extent and by the host outside it fit equally well anywhere in
   that gap, and its middle is the (sub-pixel, unbiased) estimate. Steps 2 and 3 alternate, the model
   refitted on the cells its extent holds, so the noise threshold of step 1 cannot bias it.
4. Acceptance: the model must fit its cells as well as the noise allows and have a roof's pitch; a
   chimney (flat-topped) or a tree (rough) is left to the rest of the pipeline.
5. Geometry from the model, exact: two dormer planes, the ridge from the front to where it meets the
   host, the valleys (each dormer plane's intersection with the host) from the eave corners up to the
   ridge's end, the eaves and the front rakes. The dormer's facets get the model's polygons, and the
   host gets the dormer's footprint as a hole; the cells are relabelled to match, and the small
   data-driven planes the model replaces are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from geometry.grid import BoolGrid, FloatGrid, HeightGrid
from geometry.outline import Across, FacetOutline, Line, Points, Ring, Side, intersection
from geometry.segment import FACET_AREA_M2, IntGrid, Plane, Segmentation, relabel

ABOVE_SIGMAS = 3.0  # a cell this far above the host's plane stands on it
MIN_AREA_M2 = 1.0  # blob sizes a dormer can have (its cells well above the host)
MAX_AREA_M2 = 20.0
MAX_CELL_M = 0.6  # coarser grids (1 m LiDAR) see a dormer in a few cells, too few to pin its model
MAX_HEIGHT_M = 3.0  # above the host: more is a storey, not a dormer
ON_HOST = 0.5  # of the roof cells around a blob, at least this many are the host's (or a small plane's)
FIT_SIGMAS = 2.0  # the model's RMS may exceed the noise by this factor, no more
MIN_SLOPE, MAX_SLOPE = 2.0 / 12.0, 24.0 / 12.0  # a roof's pitch
MIN_HALF_WIDTH_M = 0.3
MIN_SIDE_CELLS = 2  # cells on each side of the ridge (a 0.5 m grid sees a small dormer in seven)
MIN_HOST_SLOPE = 1.5 / 12.0  # a flat facet has no fall line for a ridge to run along
SEARCH_STEP = 0.125  # pixels: the sub-pixel step of the searches
PASSES = 3
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
GOLDEN_STEPS = 20  # shrink the refined ridge position's bracket by 0.618 ** 20: under a millimetre


@dataclass(frozen=True)
class Frame:
    """The host's frame: v along its fall line (uphill), u across it; host z = slope * v + c."""

    across: Points  # unit (x, y) of u
    uphill: Points  # unit (x, y) of v
    slope: float
    c: float

    @staticmethod
    def of(host: Plane) -> Frame:
        slope = math.hypot(host.a, host.b)
        uphill = np.array([host.a, host.b]) / slope
        return Frame(np.array([-uphill[1], uphill[0]]), uphill, slope, host.c)

    def uv(self, x: FloatGrid, y: FloatGrid) -> tuple[FloatGrid, FloatGrid]:
        return x * self.across[0] + y * self.across[1], x * self.uphill[0] + y * self.uphill[1]

    def point(self, u: float, v: float) -> Points:
        return np.asarray(u * self.across + v * self.uphill, dtype=np.float64)

    def host_v(self, z: float) -> float:
        """Where up the fall line the host reaches height z."""
        return (z - self.c) / self.slope


@dataclass(frozen=True)
class Model:
    """z = h - s |u - u0| for v >= vf and |u - u0| <= w, where that stands above the host."""

    h: float
    s: float
    u0: float
    vf: float
    w: float
    rms: float = 0.0

    def above(self, frame: Frame, u: FloatGrid, v: FloatGrid) -> FloatGrid:
        """The model's height over the host's (negative where the host is higher)."""
        return self.h - self.s * np.abs(u - self.u0) - (frame.slope * v + frame.c)

    def height(self, u: FloatGrid) -> FloatGrid:
        return self.h - self.s * np.abs(u - self.u0)

    def surface(self, frame: Frame, u: FloatGrid, v: FloatGrid) -> FloatGrid:
        """The roof the model predicts: the dormer where it stands, the host elsewhere."""
        host = frame.slope * v + frame.c
        return np.where(self.inside(u, v), np.maximum(self.height(u), host), host)

    def inside(self, u: FloatGrid, v: FloatGrid) -> npt.NDArray[np.bool_]:
        return (v >= self.vf) & (np.abs(u - self.u0) <= self.w)


@dataclass(frozen=True)
class Dormer:
    """A fitted dormer: its host facet, its two planes (by index) and its corners in plan."""

    host: int
    left: int  # the plane on the low-u side of the ridge
    right: int
    front_left: Points
    front_ridge: Points
    front_right: Points
    eave_left: Points  # where the eaves meet the host
    eave_right: Points
    ridge_end: Points  # where the ridge meets the host

    @property
    def footprint(self) -> Points:
        return np.array([self.front_left, self.eave_left, self.ridge_end, self.eave_right, self.front_right])


@dataclass(frozen=True)
class Cells:
    """The cells a fit looks at: their grid positions, host-frame coordinates and heights."""

    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    u: FloatGrid
    v: FloatGrid
    z: FloatGrid

    def take(self, keep: npt.NDArray[np.bool_]) -> Cells:
        return Cells(self.rows[keep], self.cols[keep], self.u[keep], self.v[keep], self.z[keep])


def fit_dormers(segmentation: Segmentation, grid: HeightGrid) -> tuple[Segmentation, list[Dormer]]:
    """The gable dormers on the segmentation's big facets, with their planes and cells added to it."""
    planes, labels, noise = segmentation.planes, segmentation.labels, segmentation.noise_m
    big = np.array([p.count * grid.cell_area >= FACET_AREA_M2 for p in planes] + [False])
    hosts = [i for i in np.flatnonzero(big[:-1]).tolist() if math.hypot(planes[i].a, planes[i].b) >= MIN_HOST_SLOPE]
    if not hosts or max(grid.dx, grid.dy) > MAX_CELL_M:
        return segmentation, []
    valid = np.isfinite(grid.z)
    z = np.where(valid, grid.z, 0.0)
    x, y = grid.xy()
    open_cells = segmentation.roof & valid & ~big[labels]  # unlabelled or a small plane's
    found: list[tuple[int, Frame, Model]] = []
    for host in hosts:
        frame = Frame.of(planes[host])
        eligible = open_cells | (labels == host)
        for blob in blobs(z - planes[host].height(x, y), eligible, labels, noise, grid.cell_area):
            model = fit_blob(blob, eligible, x, y, z, frame, noise, min(grid.dx, grid.dy))
            if model is not None:
                found.append((host, frame, model))
    if not found:
        return segmentation, []
    return apply(segmentation, found, x, y, grid)


def blobs(above: FloatGrid, eligible: BoolGrid, labels: IntGrid, noise: float, cell_area: float) -> list[BoolGrid]:
    """Connected cells standing on the host, a dormer's size."""
    standing = eligible & (above > ABOVE_SIGMAS * noise) & (above < MAX_HEIGHT_M)
    count, pieces, stats, _ = cv2.connectedComponentsWithStats(standing.astype(np.uint8), connectivity=8)
    found = []
    for piece in range(1, count):
        if not MIN_AREA_M2 <= stats[piece, cv2.CC_STAT_AREA] * cell_area <= MAX_AREA_M2:
            continue
        left, top, width, height = (int(v) for v in stats[piece, :4])
        window = (slice(max(top - 1, 0), top + height + 1), slice(max(left - 1, 0), left + width + 1))
        cells = (pieces[window] == piece).astype(np.uint8)
        ring = cv2.dilate(cells, np.ones((3, 3), np.uint8)).astype(bool) & (cells == 0)
        # the host's cells, or a small plane's (a dormer face the segmentation found)
        sits = eligible[window][ring] & (labels[window][ring] >= 0)
        if sits.sum() >= ON_HOST * ring.sum():
            found.append(pieces == piece)
    return found


def fit_blob(
    blob: BoolGrid,
    eligible: BoolGrid,
    x: FloatGrid,
    y: FloatGrid,
    z: FloatGrid,
    frame: Frame,
    noise: float,
    pixel: float,
) -> Model | None:
    """The dormer model of a blob, or None when it is no gable dormer."""
    grown = cv2.dilate(blob.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & eligible
    rows, cols = np.nonzero(grown)
    u, v = frame.uv(x[rows, cols], y[rows, cols])
    near = Cells(rows, cols, u, v, z[rows, cols])
    seed = near.take(blob[rows, cols])
    rise = seed.z - (frame.slope * seed.v + frame.c)
    centres = ridge_positions(seed, pixel)
    if centres.size == 0:  # too few cells to search: a symmetric dormer's ridge is its heights' centroid
        centres = np.array([float((rise * seed.u).sum() / rise.sum())])
    model = fit_ridge(seed, centres)
    if model is None or not MIN_SLOPE <= model.s <= MAX_SLOPE:
        return None
    model = replace(model, vf=float(seed.v.min()), w=float(np.abs(seed.u - model.u0).max()))
    for _ in range(PASSES):
        band = max(ABOVE_SIGMAS * noise, 0.01)
        model = fit_extent(near, model, frame, noise, pixel)
        on = near.take(model.inside(near.u, near.v) & (model.above(frame, near.u, near.v) > 0))
        on = on.take(np.abs(on.z - model.height(on.u)) < band)  # symmetric: a vent cannot pull it
        refit = fit_ridge(on, ridge_positions(on, pixel))
        if refit is None or not MIN_SLOPE <= refit.s <= MAX_SLOPE:
            return None
        model = replace(refit, vf=model.vf, w=model.w)
    return model if accepted(model, near, seed, frame, noise) else None


def ridge_positions(cells: Cells, pixel: float) -> FloatGrid:
    """Where the ridge may run: sub-pixel steps across the cells, a few of them kept either side."""
    if cells.u.size < 2 * MIN_SIDE_CELLS:
        return np.zeros(0)
    lo, hi = np.sort(cells.u)[[MIN_SIDE_CELLS - 1, -MIN_SIDE_CELLS]]
    return np.arange(lo, hi + 1e-9, SEARCH_STEP * pixel)


def fit_ridge(cells: Cells, centres: FloatGrid) -> Model | None:
    """z = h - s |u - u0| by least squares: the best of the ridge positions u0 given, then refined
    between its neighbours (golden section), so a noiseless dormer fits exactly."""
    if centres.size == 0 or cells.z.size < 3:
        return None
    sse, h, slope = ridge_fits(cells, centres)
    best = int(np.argmin(sse))
    if not math.isfinite(sse[best]):
        return None
    if centres.size > 1:
        step = float(centres[1] - centres[0])
        lo, hi = float(centres[best]) - step, float(centres[best]) + step
        for _ in range(GOLDEN_STEPS):
            inner = np.array([hi - GOLDEN * (hi - lo), lo + GOLDEN * (hi - lo)])
            errors = ridge_fits(cells, inner)[0]
            lo, hi = (lo, float(inner[1])) if errors[0] <= errors[1] else (float(inner[0]), hi)
        centres = np.array([(lo + hi) / 2])
        sse, h, slope = ridge_fits(cells, centres)
        best = 0
    rms = math.sqrt(float(sse[best]) / max(cells.z.size - 3, 1))
    return Model(float(h[best]), float(slope[best]), float(centres[best]), 0.0, 0.0, rms)


def ridge_fits(cells: Cells, centres: FloatGrid) -> tuple[FloatGrid, FloatGrid, FloatGrid]:
    """For each ridge position: the squared error, h and s of the least-squares fit (linear in h, s)."""
    t = np.abs(cells.u[None, :] - centres[:, None])  # (centres, cells)
    n = cells.z.size
    st, stt = t.sum(axis=1), (t * t).sum(axis=1)
    sz, stz = cells.z.sum(), t @ cells.z
    det = n * stt - st * st
    ok = det > 1e-12
    det = np.where(ok, det, 1.0)
    h = (stt * sz - st * stz) / det
    slope = (st * sz - n * stz) / det  # z = h - slope * t
    sse = ((cells.z[None, :] - (h[:, None] - slope[:, None] * t)) ** 2).sum(axis=1)
    return np.where(ok, sse, np.inf), h, slope


def fit_extent(cells: Cells, model: Model, frame: Frame, noise: float, pixel: float) -> Model:
    """The front line and the eave half-width, each in turn: its mean under the likelihood of the
    cells' heights (the model's inside the extent, the host's outside), over the values it can take.

    Cell centres sample the surface: a boundary lies anywhere between the last cell in and the first
    out, equally likely, and the mean is the middle of that gap; a cell whose two predictions differ
    by less than the noise pulls only as far as its heights tell. Past the wedge where the model's
    planes stand above the host the width changes nothing, and an eave there would stand below the
    host at the front: no dormer, so that bounds it."""
    sigma = max(noise, 0.002)
    above = model.above(frame, cells.u, cells.v)
    host = frame.slope * cells.v + frame.c
    cap = (ABOVE_SIGMAS * sigma) ** 2  # robust: a vent or a bird is one bad cell, not a boundary
    outside_cost = np.minimum((cells.z - host) ** 2, cap)
    inside_cost = np.where(above > 0, np.minimum((cells.z - host - above) ** 2, cap), outside_cost)
    gain = (outside_cost - inside_cost) / (2 * sigma**2)  # log-likelihood a cell gains inside the extent
    offset = np.abs(cells.u - model.u0)
    step = SEARCH_STEP * pixel
    for _ in range(2):
        fronts = np.arange(model.vf - 2 * pixel, model.vf + 2 * pixel + 1e-9, step)
        inside = (cells.v[None, :] >= fronts[:, None]) & (offset <= model.w)[None, :]
        model = replace(model, vf=likely_mean(fronts, (inside * gain).sum(axis=1)))
        wedge = (model.h - (frame.slope * model.vf + frame.c)) / model.s
        widths = np.arange(MIN_HALF_WIDTH_M, max(wedge, MIN_HALF_WIDTH_M) + 1e-9, step)
        inside = (offset[None, :] <= widths[:, None]) & (cells.v >= model.vf)[None, :]
        model = replace(model, w=likely_mean(widths, (inside * gain).sum(axis=1)))
    return model


def likely_mean(values: FloatGrid, log_likelihood: FloatGrid) -> float:
    weights = np.exp(log_likelihood - log_likelihood.max())
    return float((values * weights).sum() / weights.sum())


def accepted(model: Model, cells: Cells, blob: Cells, frame: Frame, noise: float) -> bool:
    """A gable dormer: a roof's pitch; a fit to the noise, of its own cells and of the whole blob (a
    canopy's edge hovers over the roof, where the model comes down to it); cells either side of the
    ridge; an eave that stands above the host at the front, and a ridge that dies into it behind."""
    if not MIN_SLOPE <= model.s <= MAX_SLOPE or model.w < MIN_HALF_WIDTH_M:
        return False
    limit = FIT_SIGMAS * max(noise, 0.005)
    misfit = blob.z - model.surface(frame, blob.u, blob.v)
    if model.rms > limit or math.sqrt(float(np.mean(misfit**2))) > limit:
        return False
    inside = cells.take(model.inside(cells.u, cells.v) & (model.above(frame, cells.u, cells.v) > 0))
    if min((inside.u < model.u0).sum(), (inside.u > model.u0).sum()) < MIN_SIDE_CELLS:
        return False
    eave_v = frame.host_v(model.h - model.s * model.w)
    return eave_v > model.vf and frame.host_v(model.h) > eave_v


def apply(
    segmentation: Segmentation,
    found: list[tuple[int, Frame, Model]],
    x: FloatGrid,
    y: FloatGrid,
    grid: HeightGrid,
) -> tuple[Segmentation, list[Dormer]]:
    """The dormers' planes and cells added to the segmentation; the small planes they replace dropped."""
    planes, labels = segmentation.planes, segmentation.labels.copy()
    footprints = [footprint_cells(frame, model, x, y) for _, frame, model in found]
    covered = np.any(footprints, axis=0)
    replaced = [
        i
        for i, plane in enumerate(planes)
        if plane.count * grid.cell_area < FACET_AREA_M2 and (covered & (labels == i)).sum() >= 0.5 * plane.count
    ]
    keep = [i for i in range(len(planes)) if i not in replaced]
    hosts = {host: keep.index(host) for host, _, _ in found}
    gone = np.isin(labels, replaced)
    planes, labels = relabel(planes, labels, keep)
    labels[gone] = -1
    dormers = []
    for (host, frame, model), cells in zip(found, footprints, strict=True):
        host = hosts[host]
        u, _ = frame.uv(x, y)
        on_left = u[cells] < model.u0
        index = len(planes)
        planes = [*planes, *model_planes(frame, model, int(on_left.sum()), int((~on_left).sum()))]
        labels[cells] = np.where(on_left, index, index + 1)
        dormers.append(corners(host, index, frame, model))
    return replace(segmentation, planes=planes, labels=labels), dormers


def footprint_cells(frame: Frame, model: Model, x: FloatGrid, y: FloatGrid) -> BoolGrid:
    u, v = frame.uv(x, y)
    return model.inside(u, v) & (model.above(frame, u, v) > 0)


def model_planes(frame: Frame, model: Model, left_cells: int, right_cells: int) -> tuple[Plane, Plane]:
    """The dormer's planes in world coordinates: left z = h - s (u0 - u), right z = h - s (u - u0)."""
    a, b = model.s * frame.across
    return (
        Plane(float(a), float(b), model.h - model.s * model.u0, model.rms, left_cells),
        Plane(float(-a), float(-b), model.h + model.s * model.u0, model.rms, right_cells),
    )


def corners(host: int, left: int, frame: Frame, model: Model) -> Dormer:
    eave_v = frame.host_v(model.h - model.s * model.w)
    lo, hi = model.u0 - model.w, model.u0 + model.w
    return Dormer(
        host=host,
        left=left,
        right=left + 1,
        front_left=frame.point(lo, model.vf),
        front_ridge=frame.point(model.u0, model.vf),
        front_right=frame.point(hi, model.vf),
        eave_left=frame.point(lo, eave_v),
        eave_right=frame.point(hi, eave_v),
        ridge_end=frame.point(model.u0, frame.host_v(model.h)),
    )


# ---- outlines --------------------------------------------------------------------------------------


def host_labels(labels: IntGrid, dormers: list[Dormer]) -> IntGrid:
    """The labels with each dormer's cells given to its host: the host's outline is traced round them,
    and the dormer's exact footprint then cut out of it as a hole."""
    merged = labels.copy()
    for dormer in dormers:
        merged[(labels == dormer.left) | (labels == dormer.right)] = dormer.host
    return merged


def with_dormers(outlines: list[FacetOutline], planes: list[Plane], dormers: list[Dormer]) -> list[FacetOutline]:
    """The dormers' facets get the model's polygons; their hosts get the footprints as holes."""
    outlines = list(outlines)
    for dormer in dormers:
        outlines[dormer.left], outlines[dormer.right] = dormer_facets(dormer, planes)
        hole = footprint_ring(dormer, planes)
        host = outlines[dormer.host]
        if host.outer is None:
            outlines[dormer.host] = replace(host, cell_area_m2=host.cell_area_m2 - hole.area_m2)
        else:
            outlines[dormer.host] = replace(host, holes=[*host.holes, hole])
    return outlines


def dormer_facets(dormer: Dormer, planes: list[Plane]) -> tuple[FacetOutline, FacetOutline]:
    d = dormer
    ridge = crease(planes, d.left, d.right)
    left = ring(
        [d.front_left, d.front_ridge, d.ridge_end, d.eave_left],
        [
            ("outline", -1, None),
            ("crease", d.right, ridge),
            ("crease", d.host, crease(planes, d.left, d.host)),
            ("outline", -1, None),
        ],
    )
    right = ring(
        [d.front_ridge, d.front_right, d.eave_right, d.ridge_end],
        [
            ("outline", -1, None),
            ("outline", -1, None),
            ("crease", d.host, crease(planes, d.right, d.host)),
            ("crease", d.left, ridge),
        ],
    )
    return (FacetOutline(left, [], left.area_m2), FacetOutline(right, [], right.area_m2))


def footprint_ring(dormer: Dormer, planes: list[Plane]) -> Ring:
    """The host's hole: the dormer's walls stand on it (no roof line), its valleys are creases."""
    d = dormer
    return ring(
        list(d.footprint),
        [
            ("wall_base", d.left, None),
            ("crease", d.left, crease(planes, d.host, d.left)),
            ("crease", d.right, crease(planes, d.host, d.right)),
            ("wall_base", d.right, None),
            ("wall_base", -1, None),
        ],
    )


SideSpec = tuple[Across, int, Line | None]


def ring(vertices: list[Points], specs: list[SideSpec]) -> Ring:
    """A ring through the vertices, side k from vertex k to k + 1 (on `line` when given, a crease)."""
    sides = []
    for k, (across, other, line) in enumerate(specs):
        start, end = vertices[k], vertices[(k + 1) % len(vertices)]
        if line is None:
            line = Line(start, (end - start) / max(float(np.hypot(*(end - start))), 1e-12))
        side = Side(across, other, line, np.array([start, end]))
        side.start, side.end = start, end
        sides.append(side)
    return Ring(np.array(vertices), sides)


def crease(planes: list[Plane], first: int, second: int) -> Line:
    line = intersection(planes[first], planes[second])
    if line is None:
        raise ValueError("a dormer's planes are parallel to its host's")
    return line
