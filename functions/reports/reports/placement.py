"""Drone photos on the roof: each detection placed on a facet and a point of its plane, the roof area
each photo saw, and a mark seen in several photos counted once.

- A detection's centre is cast as a ray from the camera; the nearest facet plane it meets inside that
  facet's outline (and outside its holes) holds it. A roof plane in front hides the ones behind.
- What a photo saw: rays on an image grid fine enough that neighbouring hits land closer than half
  a coverage cell; each hit marks its cell (`CELL_M` on the ground) of that facet. Cells, not sums, so
  photos that overlap add only what is new. Covered area = cells x cell area x the pitch factor.
- How well a placement is known: a pixel's footprint on the plane grows with distance and with how
  grazing the view is, so each placement carries its sigma from the detection's centre (`PIXEL_SIGMA`
  px), the gimbal's angles (`ANGLE_SIGMA_DEG`) and the position (`POSITION_SIGMA_M`, RTK grade), over
  the sine of the grazing angle.
- Each photo's pose error moves all its placements alike: the marks it shares with other photos
  measure that offset, and its detections are placed again from the corrected pose.
- A mark at a facet's edge takes the side its merged point is on.
- One mark, one count (each photo's sharp placements matched before its vague, edge-on ones):
  placements from different photos closer than three times
  their combined sigma (and at least `MERGE_M`) are one mark, placed at their precision-weighted mean;
  two detections of one photo never merge (the photo's own merging already made them distinct).
- The largest count in a 10 x 10 ft test square is searched on the facet's own plane: squares with
  sides along and down the slope, a corner at each mark's along-slope and down-slope position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from reports.camera import Camera
from reports.inputs import Detection, Geometry
from reports.measurement import SQFT_PER_M2
from reports.polygons import inside

Vec = npt.NDArray[np.float64]
CELL_M = 0.5
MERGE_M = 0.15  # m: the least reach, for placements as good as the geometry's own planes
REACH_SIGMAS = 3.0  # reach: three combined sigmas
VAGUE_M = 1.0  # a placement known no better than this is matched after its photo's sharp ones
PIXEL_SIGMA = 2.0  # px: where a detector puts a mark's centre
ANGLE_SIGMA_DEG = 0.1  # a gimbal's attitude
POSITION_SIGMA_M = 0.03  # an RTK fix; a plain GNSS fix is metres, and its photos place marks that loosely
MIN_GRAZING_SIN = 0.05
MAX_SIGMA_M = 3.0  # a placement no better than this is a guess: it still counts, but places nothing
TEST_SQUARE_M = 3.048  # 10 ft
MAX_SAMPLES = 240_000  # rays per photo for its coverage


@dataclass(frozen=True)
class Surface:
    id: str
    a: float
    b: float
    c: float
    outline: Vec  # (k, 2)
    holes: tuple[Vec, ...]

    @property
    def pitch_factor(self) -> float:
        return math.sqrt(1.0 + self.a**2 + self.b**2)

    def contains(self, xy: Vec) -> npt.NDArray[np.bool_]:
        found = inside(xy, self.outline)
        for hole in self.holes:
            found &= ~inside(xy, hole)
        return found

    def slope_coords(self, xy: Vec) -> Vec:
        """(along, down) metres on the plane: along the level line, and down the fall line (true
        length, the horizontal run times the pitch factor)."""
        grade = math.hypot(self.a, self.b)
        if grade < 1e-9:
            return xy.copy()
        fall = np.array([-self.a, -self.b]) / grade  # horizontal direction of steepest descent
        level = np.array([-fall[1], fall[0]])
        return np.stack([xy @ level, (xy @ fall) * self.pitch_factor], axis=1)


def surfaces(geometry: Geometry) -> list[Surface]:
    return [
        Surface(p.id, *p.plane, np.asarray(p.outline, float), tuple(np.asarray(h, float) for h in p.holes))
        for p in geometry.planes
        if p.plane is not None and p.outline
    ]


def cast(camera: Camera, roof: list[Surface], u: Vec, v: Vec) -> tuple[npt.NDArray[np.int64], Vec]:
    """For each pixel: the index in `roof` of the facet its ray meets first (-1: none), and where."""
    rays = camera.rays(u, v)
    c = camera.centre
    best_t = np.full(len(u), np.inf)
    which = np.full(len(u), -1, dtype=np.int64)
    for index, s in enumerate(roof):
        denominator = rays[:, 2] - s.a * rays[:, 0] - s.b * rays[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (s.a * c[0] + s.b * c[1] + s.c - c[2]) / denominator
        candidate = np.isfinite(t) & (t > 0) & (t < best_t) & _in_image_box(camera, s, u, v)
        if not candidate.any():
            continue
        points = c[None, :2] + t[candidate, None] * rays[candidate, :2]
        hit = np.zeros(len(u), dtype=bool)
        hit[np.flatnonzero(candidate)[s.contains(points)]] = True
        best_t[hit] = t[hit]
        which[hit] = index
    return which, c[None, :] + np.where(np.isfinite(best_t), best_t, 0.0)[:, None] * rays


def _in_image_box(camera: Camera, surface: Surface, u: Vec, v: Vec) -> npt.NDArray[np.bool_]:
    """The pixels within the box of the facet's image (a facet wholly in front of the camera images
    inside its corners' box), so the outline test runs on those alone; all of them otherwise."""
    corners = np.column_stack([surface.outline, surface.outline @ np.array([surface.a, surface.b]) + surface.c])
    cu, cv, depth = camera.pixels(corners)
    if not (depth > 0).all():
        return np.ones(len(u), dtype=bool)
    found: npt.NDArray[np.bool_] = (u >= cu.min() - 1) & (u <= cu.max() + 1) & (v >= cv.min() - 1) & (v <= cv.max() + 1)
    return found


@dataclass(frozen=True)
class Placed:
    photo: str
    detection: Detection
    facet: str
    point: tuple[float, float, float]
    sigma_m: float  # how well the point is known, on the plane


def place(photo: str, detections: list[Detection], camera: Camera, roof: list[Surface]) -> list[Placed]:
    """Each detection's centre on the facet it lies on (a detection off every facet is not placed)."""
    if not detections or not roof:
        return []
    u = np.array([(d.box[0] + d.box[2]) / 2.0 for d in detections])
    v = np.array([(d.box[1] + d.box[3]) / 2.0 for d in detections])
    which, points = cast(camera, roof, u, v)
    rays = camera.rays(u, v)
    # The same detection two sigmas of pixel and gimbal error away, four ways: near an edge seen at a
    # grazing angle they land far apart (or on a facet behind), and the placement is only as good as
    # that spread. A probe off the roof down the slope (past an eave, onto the ground) says nothing:
    # the mark is on the roof near its lower edge, placed as well as its own ray. One off the roof up
    # the slope passed over its top: the mark may be on the far side, and is placed no better than
    # a guess.
    probe = 2.0 * math.hypot(PIXEL_SIGMA, math.radians(ANGLE_SIGMA_DEG) * camera.focal_px)
    offsets = [(probe, 0.0), (-probe, 0.0), (0.0, probe), (0.0, -probe)]
    shifted = [(*cast(camera, roof, u + du, v + dv), camera.rays(u + du, v + dv)) for du, dv in offsets]
    found = []
    for k, (d, i, p, ray) in enumerate(zip(detections, which, points, rays, strict=True)):
        if i < 0:
            continue
        s = roof[i]
        normal = np.array([-s.a, -s.b, 1.0]) / s.pitch_factor
        grazing = max(abs(float(ray @ normal)), MIN_GRAZING_SIN)
        distance = float(np.linalg.norm(p - camera.centre))
        spread = math.hypot(PIXEL_SIGMA * distance / camera.focal_px, math.radians(ANGLE_SIGMA_DEG) * distance)
        sigma = math.hypot(spread, POSITION_SIGMA_M) / grazing
        for other_which, other_points, other_rays in shifted:
            if other_which[k] >= 0:
                sigma = max(sigma, min(float(np.linalg.norm(other_points[k] - p)), MAX_SIGMA_M))
            elif _over_the_top(camera.centre, other_rays[k], s, float(p[2])):
                sigma = MAX_SIGMA_M
        found.append(Placed(photo, d, s.id, (float(p[0]), float(p[1]), float(p[2])), sigma))
    return found


def _over_the_top(centre: Vec, ray: Vec, surface: Surface, z: float) -> bool:
    """Whether a ray that missed the roof passed above the point at height `z` on `surface`: it meets
    the facet's plane, extended, higher up (or never, ahead of the camera)."""
    denominator = ray[2] - surface.a * ray[0] - surface.b * ray[1]
    if abs(denominator) < 1e-12:
        return True
    t = (surface.a * centre[0] + surface.b * centre[1] + surface.c - centre[2]) / denominator
    return bool(t <= 0 or centre[2] + t * ray[2] > z)


def coverage(camera: Camera, roof: list[Surface]) -> dict[str, set[tuple[int, int]]]:
    """The cells of each facet the photo saw."""
    if not roof:
        return {}
    coarse = _grid(camera, 48)
    which, points = cast(camera, roof, *coarse)
    spacing = _ground_spacing(points, which, 48)
    across = int(min(math.sqrt(MAX_SAMPLES * camera.width / camera.height), max(48.0, 48 * spacing / (CELL_M / 2))))
    which, points = cast(camera, roof, *_grid(camera, across))
    seen: dict[str, set[tuple[int, int]]] = {}
    for i in np.unique(which[which >= 0]):
        mine = points[which == i, :2]
        cells = np.floor(mine / CELL_M).astype(np.int64)
        seen[roof[int(i)].id] = {(int(x), int(y)) for x, y in np.unique(cells, axis=0)}
    return seen


def _grid(camera: Camera, across: int) -> tuple[Vec, Vec]:
    down = max(2, round(across * camera.height / camera.width))
    u, v = np.meshgrid(
        (np.arange(across) + 0.5) * camera.width / across, (np.arange(down) + 0.5) * camera.height / down
    )
    return u.ravel(), v.ravel()


def _ground_spacing(points: Vec, which: npt.NDArray[np.int64], across: int) -> float:
    """The largest ground distance between horizontally neighbouring samples that hit the roof."""
    down = len(which) // across
    grid = points[:, :2].reshape(down, across, 2)
    hit = (which >= 0).reshape(down, across)
    both = hit[:, 1:] & hit[:, :-1]
    if not both.any():
        return CELL_M
    steps = np.linalg.norm(grid[:, 1:] - grid[:, :-1], axis=2)[both]
    return float(np.percentile(steps, 95))


def covered_sqft(cells: set[tuple[int, int]], surface: Surface) -> float:
    return len(cells) * CELL_M * CELL_M * surface.pitch_factor * SQFT_PER_M2


@dataclass
class Mark:
    """One damage mark on the roof: the placements of it, from one photo or several."""

    facet: str
    members: list[Placed] = field(default_factory=list)

    @property
    def point(self) -> tuple[float, float, float]:
        weights = np.array([1.0 / m.sigma_m**2 for m in self.members])
        xyz = np.average([m.point for m in self.members], axis=0, weights=weights)
        return (float(xyz[0]), float(xyz[1]), float(xyz[2]))

    @property
    def sigma_m(self) -> float:
        return float(1.0 / math.sqrt(sum(1.0 / m.sigma_m**2 for m in self.members)))

    @property
    def photos(self) -> list[str]:
        return sorted({m.photo for m in self.members})


def merge(placed: list[Placed]) -> list[Mark]:
    """One mark per damage. Photos are taken best-placed first; each photo's placements are matched
    one to one with the marks so far, closest pairs first (distance over reach), each within reach;
    what is left of the photo starts new marks. One to one, so a photo never counts a mark twice, and
    two close marks one photo tells apart stay two. A mark keeps the facet of its best-placed
    placement: near a ridge or a valley, views from either side may land on either facet."""
    by_photo: dict[str, list[Placed]] = {}
    for p in placed:
        by_photo.setdefault(p.photo, []).append(p)
    order = sorted(by_photo, key=lambda name: (float(np.median([p.sigma_m for p in by_photo[name]])), name))
    marks: list[Mark] = []
    for name in order:
        mine = sorted(by_photo[name], key=lambda p: p.detection.id)
        # The photo's well-placed detections claim their marks first: a vague one (seen edge-on,
        # reaching metres) would otherwise take the slot of the same photo's sharp view of that mark.
        sharp = [p for p in mine if p.sigma_m <= VAGUE_M]
        vague = [p for p in mine if p.sigma_m > VAGUE_M]
        taken: set[int] = set()
        for group in (sharp, vague):
            matched = _match(group, marks, taken)
            for i, p in enumerate(group):
                if i not in matched:  # a new mark, and one this photo is already in
                    taken.add(len(marks))
                    marks.append(Mark(p.facet, [p]))
    return marks


def settle_facets(marks: list[Mark], roof: list[Surface]) -> None:
    """Each mark's facet: of the facets its placements landed on, the one whose outline holds the
    mark's merged point and whose plane passes nearest it; else its best-placed placement's. Near a
    ridge or a valley, views from either side land on either facet, and the merged point, which
    averages them, is the best evidence of the side it is on."""
    by_id = {s.id: s for s in roof}
    for mark in marks:
        x, y, z = mark.point
        holding = [
            by_id[f] for f in {m.facet for m in mark.members} if f in by_id and by_id[f].contains(np.array([[x, y]]))[0]
        ]
        if holding:
            mark.facet = min(holding, key=lambda s: abs(s.a * x + s.b * y + s.c - z)).id
        else:
            mark.facet = min(mark.members, key=lambda p: p.sigma_m).facet


MIN_TIES = 5  # marks a photo shares with others before its own offset is estimated
MAX_SHIFT_M = 0.5  # an RTK pose is off by centimetres; more than this is not a pose error to correct


def pose_shifts(marks: list[Mark]) -> dict[str, Vec]:
    """Each photo's systematic offset: a pose error (a gimbal's tenth of a degree is several
    centimetres on the roof) moves all of a photo's placements alike, so the median gap between its
    placements and where the other photos put the same marks estimates it. Only marks seen by two
    other photos or more are ties, and a photo needs `MIN_TIES` of them. The consensus weighs each
    placement by its precision, so the sharp (near-nadir) views anchor where the marks are; taking
    out the corrections' plain mean instead, or further passes, placed marks worse on the tuning
    flights, or moved more marks at a facet's edge across it."""
    gaps: dict[str, list[Vec]] = {}
    for mark in marks:
        if len(mark.members) < 3:
            continue
        points = np.array([p.point for p in mark.members])
        weights = np.array([1.0 / p.sigma_m**2 for p in mark.members])
        for k, member in enumerate(mark.members):
            others = np.arange(len(points)) != k
            consensus = np.average(points[others], axis=0, weights=weights[others])
            gaps.setdefault(member.photo, []).append(consensus - points[k])
    shifts = {photo: np.median(np.array(found), axis=0) for photo, found in gaps.items() if len(found) >= MIN_TIES}
    return {photo: shift for photo, shift in shifts.items() if np.linalg.norm(shift) <= MAX_SHIFT_M}


def _match(group: list[Placed], marks: list[Mark], taken: set[int]) -> set[int]:
    """Join what it can of `group` (one photo's placements) to marks not `taken` by the photo yet;
    returns the placements joined, and marks the marks it took."""
    matched: set[int] = set()
    if not marks or not group:
        return matched
    at = np.array([m.point[:2] for m in marks])
    sigma = np.array([m.sigma_m for m in marks])
    pairs = []
    for i, p in enumerate(group):
        distance = np.linalg.norm(at - np.array(p.point[:2]), axis=1)
        reach = np.maximum(MERGE_M, REACH_SIGMAS * np.hypot(sigma, p.sigma_m))
        pairs += [
            (float(distance[j] / reach[j]), i, int(j)) for j in np.flatnonzero(distance <= reach) if int(j) not in taken
        ]
    for i, j in _assign(pairs):
        marks[j].members.append(group[i])
        matched.add(i)
        taken.add(j)
    return matched


MAX_EXACT = 6  # placements or marks in one tangle: beyond, closest pairs first


def _assign(pairs: list[tuple[float, int, int]]) -> list[tuple[int, int]]:
    """A one-to-one matching of a photo's placements (i) to marks (j) over candidate pairs (cost: distance
    over reach): within each tangle of candidates that share a placement or a mark, the matching
    of least total cost, each placement left unmatched costing 1 (it starts a mark of its own). Where
    two marks lie close, the closest pair first can cross them; the least total cost does not."""
    tangles: list[list[tuple[float, int, int]]] = []
    for pair in pairs:
        joined = [t for t in tangles if any(q[1] == pair[1] or q[2] == pair[2] for q in t)]
        for t in joined:
            tangles.remove(t)
        tangles.append([pair, *(q for t in joined for q in t)])
    chosen: list[tuple[int, int]] = []
    for tangle in tangles:
        placements = sorted({i for _, i, _ in tangle})
        if len(placements) > MAX_EXACT or len({j for _, _, j in tangle}) > MAX_EXACT:
            chosen += _closest_first(tangle)
        else:
            chosen += _least_cost(tangle, placements)
    return chosen


def _closest_first(pairs: list[tuple[float, int, int]]) -> list[tuple[int, int]]:
    taken_i: set[int] = set()
    taken_j: set[int] = set()
    chosen = []
    for _, i, j in sorted(pairs):
        if i not in taken_i and j not in taken_j:
            chosen.append((i, j))
            taken_i.add(i)
            taken_j.add(j)
    return chosen


def _least_cost(pairs: list[tuple[float, int, int]], placements: list[int]) -> list[tuple[int, int]]:
    options: dict[int, list[tuple[float, int | None]]] = {i: [(1.0, None)] for i in placements}
    for cost, i, j in pairs:
        options[i].append((cost**2, j))
    best: tuple[float, list[tuple[int, int]]] = (math.inf, [])

    def search(k: int, used: frozenset[int], total: float, picked: list[tuple[int, int]]) -> None:
        nonlocal best
        if total >= best[0]:
            return
        if k == len(placements):
            best = (total, picked)
            return
        for cost, j in options[placements[k]]:
            if j is None:
                search(k + 1, used, total + cost, picked)
            elif j not in used:
                search(k + 1, used | {j}, total + cost, [*picked, (placements[k], j)])

    search(0, frozenset(), 0.0, [])
    return best[1]


def most_in_a_test_square(points_xy: Vec, surface: Surface) -> int:
    """The most points in one 10 x 10 ft square on the facet's plane (sides along and down the slope)."""
    if len(points_xy) == 0:
        return 0
    coords = surface.slope_coords(points_xy)
    best = 0
    for along in coords[:, 0]:
        strip = coords[(coords[:, 0] >= along - 1e-9) & (coords[:, 0] <= along + TEST_SQUARE_M + 1e-9)]
        for down in strip[:, 1]:
            best = max(best, int(((strip[:, 1] >= down - 1e-9) & (strip[:, 1] <= down + TEST_SQUARE_M + 1e-9)).sum()))
    return best
