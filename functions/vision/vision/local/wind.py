"""Wind damage on the shingle edges: wind creases and lifted tabs, judged in the courses' own frame.

Courses repeat, so every thin line along them is compared with the same spot one course period up
and down the slope: a butt edge, its shadow, a laminate's backer line or a 3-tab keyway is there
too; a crease (a straight line of broken granules across a tab, an inch or more above its butt,
the tab below it bent) or a lifted tab (a butt edge whose shadow or gap is wider and darker than
the neighbours', its lower edge catching light) is not. Four course-aligned filters (the
bright-over-dark edge, a thin dark line, a thin bright line, a wide dark band) give four maps of
that excess. The course map (`course_map`) gives each pixel's height in its course: a crease is
sought on the tabs' faces, a lifted tab on the butt lines, each zone's excess in robust spreads of
that zone (contrast-free: a butt line varies more than a tab's face). Runs of excess at least
`MIN_LENGTH_IN` inches long along the courses (inches of the local course period: scale-free) are
the candidates, described by their excess, size, height in the course and what the neighbour
courses carry at the same phase; two logistic classifiers (`models/wind_crease.json`,
`models/lifted_tab.json`, fitted by `evaluation.vision.wind_training` on the fitting photos only)
rank them. Pixels of another material (`appearance_distance` above `UNLIKE_ROOF`) are not judged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vision.detections import DamageType, clamp_box
from vision.local.candidate import Candidate
from vision.local.classifier import load_model
from vision.local.course_map import course_height
from vision.local.courses import CoursePeriod, neighbour_courses, oriented, oriented_pair
from vision.local.image_ops import F32, Mask
from vision.local.missing import UNLIKE_ROOF, Material
from vision.local.work import Work, cropped, original_size

SEED_Z = 3.0  # a pixel whose best excess is this many robust spreads above the roof's typical seeds a run
MIN_LENGTH_IN = 2.5  # a crease spans most of a tab (4 in and more), a lifted tab's shadow too
MAX_LENGTH_IN = 30.0
JOIN_IN = 1.5  # fragments of one line closer than this along the courses are one candidate
# Proposals per photo and kind: with each half of the wind family's fitting photos held aside, the
# best 8 crease runs of a photo hold 26 of the 30 creases any run reaches, the best 4 lifted-tab
# runs 11 of 17 (more runs per photo add none).
MAX_WIND_CANDIDATES: dict[DamageType, int] = {"wind_crease": 8, "lifted_tab": 4}
# Proposals for the model stage only: held aside by leave-one-group-out, the classifiers' operating
# point (a score of REPORT_SCORE) let through 0.1 to 2.3 false runs per photo for under a tenth of
# the marks, so a wind candidate's score is its classifier's probability times this cap, which
# keeps it below REPORT_SCORE (ranked among the proposals, never in the local-only answer).
WIND_SCORE_CAP = 0.35
WIND_KINDS: tuple[DamageType, ...] = ("wind_crease", "lifted_tab")
# A lifted tab's widened shadow is fainter against the butt zone's own variety than a crease on a
# tab's face: its runs are seeded lower (on the fitting photos this reaches 20 lifted tabs, not 15).
SEED_SHARE: dict[DamageType, float] = {"wind_crease": 1.0, "lifted_tab": 0.8}
MAPS = ("edge", "dline", "bline", "band")
STAT_SAMPLES = 100_000
CROP_STEP = 8  # the roof's bounding box is found on every 8th pixel (and grown by that)
FEATURES = (
    "log_peak",
    "z_edge",
    "z_dline",
    "z_bline",
    "z_band",
    "length_in",
    "width_in",
    "neighbour_edge",
    "neighbour_band",
    "own_edge",
    "butt_cos",
    "butt_sin",
)


# Where in its course each kind lies (height above the butt line below, share of the period): a
# crease an inch or more above the butt and below the next course's; a lifted tab on the butt line.
ZONES: dict[DamageType, tuple[float, float]] = {"wind_crease": (0.15, 0.85), "lifted_tab": (-0.25, 0.25)}
SEEDS: dict[DamageType, tuple[str, ...]] = {
    "wind_crease": ("edge", "dline", "bline"),
    "lifted_tab": ("edge", "dline", "bline", "band"),
}

Box4 = tuple[float, float, float, float]


@dataclass(frozen=True)
class WindMaps:
    """Per working pixel: each filter's excess over the neighbour courses, where both neighbours are
    on the roof, the neighbours' own edge and band strength (both courses', in the roof's spreads),
    this pixel's edge, and its height in its course."""

    excess: dict[str, F32]
    judged: Mask  # both neighbour courses are on the roof: only there is a comparison fair
    period: F32  # the local course period in working pixels
    neighbour_edge: F32
    neighbour_band: F32
    own_edge: F32
    height: F32  # above the butt line below, in [0, 1) of the period (`course_map`)

    def zone(self, kind: DamageType) -> Mask:
        lo, hi = ZONES[kind]
        h = np.where(self.height > 0.5, self.height - 1.0, self.height) if lo < 0 else self.height
        return self.judged & (h > lo) & (h < hi)


def _median_spread(img: F32, where: Mask) -> tuple[float, float] | None:
    """The median and robust spread (1.4826 MAD) of `img` over `where`, from at most about
    `STAT_SAMPLES` of its pixels (a median of millions costs more than all the filtering)."""
    values = img[where]
    if values.size < 100:
        return None
    values = values[:: max(1, values.size // STAT_SAMPLES)]
    med = float(np.median(values))
    return med, 1.4826 * float(np.median(np.abs(values - med))) + 1e-6


def _robust_z(img: F32, where: Mask) -> F32:
    """`img` in robust spreads about its median over `where` (the roof's own texture: contrast-free)."""
    stats = _median_spread(img, where)
    if stats is None:
        return np.zeros(img.shape, np.float32)
    med, spread = stats
    return np.where(where, (img - med) / spread, 0.0).astype(np.float32)


def unlike_roof(work: Work, appearance: Material) -> Mask:
    """Working pixels whose material is unlike the roof's shingles (`appearance_distance` above
    `UNLIKE_ROOF`: a chimney, a vent, a hole): no crease or lifted tab is judged there."""
    h, w = work.flat.shape
    odd = (appearance.distance > UNLIKE_ROOF).astype(np.uint8)
    return np.asarray(cv2.resize(odd, (w, h), interpolation=cv2.INTER_NEAREST), np.uint8) > 0


def wind_maps(
    work: Work, lines: tuple[F32, CoursePeriod], unlike: Mask | None = None, origin: tuple[int, int] = (0, 0)
) -> WindMaps:
    """The four excess maps and the course frame (see the module docstring); nothing is judged on
    the `unlike` pixels. `work` may be a crop whose top-left pixel is `origin` of the whole (`lines`
    then belong to the crop too: see `roof_crop`)."""
    ppi = work.ppi
    edge, period_of = lines
    dline, low = oriented_pair(work.flat, work.direction, 3.0 * ppi, "line", max(0.8, 0.12 * ppi))
    filtered = {
        "edge": edge,
        "dline": dline,
        "bline": -low,  # a bright thin line: the dark-line filter's most negative response
        "band": oriented(work.flat, work.direction, 3.0 * ppi, "line", 0.45 * ppi),
    }
    period = period_of.pixels
    around = neighbour_courses(work, filtered, max(1, round(0.2 * ppi)), period)
    excess = {name: img - around[name][0] for name, img in filtered.items()}
    # What both neighbour courses have at this phase: a butt line's edge and shadow band, or nothing.
    both_edge, both_band = around["edge"][1], around["band"][1]
    judged = np.isfinite(both_edge) & work.roof
    if unlike is not None:
        judged &= ~unlike
    spread_edge = (_median_spread(edge, work.roof) or (0.0, 1.0))[1]
    spread_band = (_median_spread(filtered["band"], work.roof) or (0.0, 1.0))[1]
    odd = _robust_z(excess["edge"], judged) > SEED_Z  # anomalies must not move the butt lines
    return WindMaps(
        excess,
        judged,
        period,
        np.where(judged, both_edge / spread_edge, 0.0).astype(np.float32),
        np.where(judged, both_band / spread_band, 0.0).astype(np.float32),
        (edge / spread_edge).astype(np.float32),
        course_height(work, edge, odd, origin),
    )


def wind_runs(work: Work, maps: WindMaps, kind: DamageType) -> list[tuple[Box4, dict[str, float]]]:
    """Runs of excess along the courses in `kind`'s zone of the course: (box in working pixels,
    features) each. The excess is measured in the zone's own spread (a butt line's variety is
    larger than a tab face's)."""
    zone = maps.zone(kind)
    if zone.sum() < 100:
        return []
    z = {name: _robust_z(img, zone) for name, img in maps.excess.items()}
    best = np.maximum.reduce([z[m] for m in SEEDS[kind]])
    seed = ((best > SEED_Z * SEED_SHARE[kind]) & zone).astype(np.uint8)
    # Join fragments of one line: a closing along the course direction, then label.
    join = max(1, round(JOIN_IN * work.ppi * math.sqrt(work.stretch) / 2))
    kernel = np.zeros((2 * join + 1,) * 2, np.uint8)
    along = work.direction + math.pi / 2
    end = (round(join * math.cos(along)), round(join * math.sin(along)))
    cv2.line(kernel, (join - end[0], join - end[1]), (join + end[0], join + end[1]), 1, 1)
    joined = np.asarray(cv2.morphologyEx(seed, cv2.MORPH_CLOSE, kernel), np.uint8) & zone.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    cos, sin = math.cos(work.direction), math.sin(work.direction)
    assert work.scale is not None
    out = []
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < 4:
            continue
        ys, xs = np.nonzero(labels[y : y + h, x : x + w] == i)  # within the run's own box: cheap
        ys, xs = ys + y, xs + x
        t = xs * cos + ys * sin
        s = -xs * sin + ys * cos
        # Inches from the local course period (perspective: a far course is finer than the centre's).
        ppi = float(np.median(maps.period[ys, xs])) / work.scale.exposure_in
        length_in = (float(np.ptp(s)) + 1) / (ppi * math.sqrt(work.stretch))
        width_in = (float(np.ptp(t)) + 1) / ppi
        if not MIN_LENGTH_IN <= length_in <= MAX_LENGTH_IN or width_in > 0.5 * length_in:
            continue
        feats = _features(maps, z, best, ys, xs, length_in, width_in)
        out.append(((float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)), feats))
    return out


def _features(
    maps: WindMaps,
    z: dict[str, F32],
    best: F32,
    ys: np.ndarray[Any, Any],
    xs: np.ndarray[Any, Any],
    length_in: float,
    width_in: float,
) -> dict[str, float]:
    """A run's description: its excess z per filter (the mean of the top half of its pixels: a
    crease fades at its ends), its size in inches and the neighbour courses' lines at its phase."""

    def top(img: F32) -> float:
        v = np.sort(img[ys, xs])
        return float(v[len(v) // 2 :].mean())

    # z in asinh: linear near the roof's typical, logarithmic for the strong (a deep shadow's z of 25
    # is not five times the evidence of 5).
    feats = {f"z_{m}": math.asinh(top(z[m])) for m in MAPS}
    feats["log_peak"] = math.log(max(float(best[ys, xs].max()), SEED_Z))
    feats["length_in"] = min(length_in, 16.0)
    feats["width_in"] = width_in
    feats["neighbour_edge"] = top(maps.neighbour_edge)
    feats["neighbour_band"] = top(maps.neighbour_band)
    feats["own_edge"] = top(maps.own_edge)
    # Where in its course the run lies, as a mean direction (height is circular: 0.95 is next to 0).
    turn = np.float32(2 * math.pi) * maps.height[ys, xs]
    feats["butt_cos"] = float(np.cos(turn).mean())
    feats["butt_sin"] = float(np.sin(turn).mean())
    return feats


def roof_crop(
    work: Work, lines: tuple[F32, CoursePeriod], appearance: Material | None
) -> tuple[Work, WindMaps, tuple[int, int]]:
    """The wind maps over the roof's bounding box only (sky, lawn and walls cost filtering and
    never hold a candidate): the cropped work, its maps and the crop's origin (x, y)."""
    ys, xs = np.nonzero(work.roof_wide[::CROP_STEP, ::CROP_STEP])
    h, w = work.roof_wide.shape
    y0, y1 = max(0, int(ys.min()) * CROP_STEP - CROP_STEP), min(h, int(ys.max()) * CROP_STEP + 2 * CROP_STEP)
    x0, x1 = max(0, int(xs.min()) * CROP_STEP - CROP_STEP), min(w, int(xs.max()) * CROP_STEP + 2 * CROP_STEP)
    rows, cols = slice(y0, y1), slice(x0, x1)
    part = cropped(work, rows, cols)
    edge, period_of = lines
    unlike = unlike_roof(work, appearance)[rows, cols] if appearance is not None else None
    return part, wind_maps(part, (edge[rows, cols], period_of.crop(rows, cols)), unlike, (x0, y0)), (x0, y0)


def wind_candidates(
    work: Work, lines: tuple[F32, CoursePeriod] | None, appearance: Material | None = None
) -> list[Candidate]:
    """Wind creases and lifted tabs, scored by their classifiers (capped: proposals only); the best
    `MAX_WIND_CANDIDATES` of each kind. Nothing is judged on pixels whose material `appearance`
    (`appearance_distance`) says is not the roof's shingles."""
    if lines is None or work.scale is None or work.roof.sum() < 100:
        return []
    part, maps, (ox, oy) = roof_crop(work, lines, appearance)
    size = original_size(work)
    out: list[Candidate] = []
    for kind in WIND_KINDS:
        model = load_model(kind)
        found = []
        for (x0, y0, x1, y1), feats in wind_runs(part, maps, kind):
            grown = clamp_box(_grown(work, (x0 + ox, y0 + oy, x1 + ox, y1 + oy), kind), *size)
            if grown is not None:
                found.append(Candidate(grown, kind, round(WIND_SCORE_CAP * model.score(feats), 4), 2, feats))
        out += sorted(found, key=lambda c: (-c.score, c.box))[: MAX_WIND_CANDIDATES[kind]]
    return out


def _grown(work: Work, box: Box4, kind: DamageType) -> Box4:
    """A run's box in photo pixels, grown across the courses by the mark's reach (a crease's box is
    the line and half an inch either side; a lifted tab's holds the tab above its butt and the
    shadow below)."""
    x0, y0, x1, y1 = box
    pad_s = 0.3 * work.ppi
    pad_t = (0.5 if kind == "wind_crease" else 1.5) * work.ppi
    cos, sin = abs(math.cos(work.direction)), abs(math.sin(work.direction))
    gx, gy = pad_s * sin + pad_t * cos, pad_s * cos + pad_t * sin
    f = work.factor
    return ((x0 - gx) / f, (y0 - gy) / f, (x1 + gx) / f, (y1 + gy) / f)
