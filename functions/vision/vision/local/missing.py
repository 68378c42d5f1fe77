"""Missing shingles: tab-sized regions whose appearance is unlike the roof's, and gaps in a
course's butt-edge line whose hole above shows another material. Each kind of candidate is scored
by its own logistic classifier (`models/missing_region.json`, `models/course_gap.json`) fitted on
the fitting photos only by `python -m evaluation.vision.missing_training`: the hand-set evidence
they replace reported more false holes than true ones on photos it was not set on."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vision.detections import Box, clamp_box
from vision.local.candidate import Candidate
from vision.local.classifier import load_model
from vision.local.courses import NEIGHBOUR_SLACK, CoursePeriod, course_neighbours, oriented
from vision.local.image_ops import F32, Mask, bounding_box, chromaticity, log_luminance, normalised, resize, robust_z
from vision.local.scale import EXPOSURE_IN
from vision.local.work import Work, cropped, original_size

# A missing butt-edge line: robust z of (the weaker of the two neighbour courses' edge) minus this
# spot's, over edges averaged along GAP_KERNEL_IN inches of course; a tab-sized run of it (a 3-tab
# tab is 12 in, a laminated piece 4 to 14, often torn wider) is a candidate.
GAP_KERNEL_IN = 6.0
GAP_Z = 4.0
GAP_LENGTH_IN = (5.0, 24.0)
MAX_GAP_CANDIDATES = 4
REGION_MODEL = "missing_region"
GAP_MODEL = "course_gap"
REGION_FEATURES = (
    "fill", "log_aspect", "distance", "short_in", "log_long_in", "skew", "tone", "texture", "chroma", "log_count",
)  # fmt: skip
GAP_FEATURES = (
    "gap_z", "log_length_in", "material", "tone", "texture", "chroma", "log_count", "material_rank", "gap_z_rank",
)  # fmt: skip
Reading = tuple[Box, dict[str, float]]  # a candidate's box (photo pixels) and features, before scoring
UNLIKE_ROOF = 3.0  # an appearance distance above this is another material than the roof's shingles


@dataclass(frozen=True)
class Material:
    """The roof's material at a coarse scale (about 3 px per inch): each pixel's signed robust z
    against the roof's typical tone (log luminance), chromaticity (two) and log texture, their RMS
    (`distance`), the roof mask there, and the coarse pixels per working pixel."""

    distance: F32
    tone: F32
    red: F32
    green: F32
    texture: F32
    roof: Mask
    factor: float

    def means(self, ys: np.ndarray[Any, Any], xs: np.ndarray[Any, Any]) -> dict[str, float]:
        """Mean signed tone and texture z and chroma z distance over coarse pixels (ys, xs): a hole
        shows felt (dark, smooth) or deck (light, grainy, off-colour); a patch or a stain keeps the
        granules' texture."""
        return {
            "tone": float(self.tone[ys, xs].mean()),
            "texture": float(self.texture[ys, xs].mean()),
            "chroma": float(np.hypot(self.red[ys, xs], self.green[ys, xs]).mean()),
        }


def appearance_distance(work: Work) -> Material:
    """The roof's material at a coarse scale (see `Material`)."""
    coarse_ppi = 3.0
    factor = min(1.0, coarse_ppi / work.ppi)
    rgb = np.asarray(resize(work.rgb, factor), np.uint8)
    flat = np.asarray(resize(work.flat, factor), np.float32)
    roof = np.asarray(resize(work.roof.astype(np.uint8), factor), np.uint8) > 0
    ppi = work.ppi * factor
    texture = np.abs(normalised(log_luminance(work.rgb), 1.0))
    texture = np.asarray(resize(cv2.GaussianBlur(texture, (0, 0), 0.5 * work.ppi), factor), np.float32)
    r, g = chromaticity(rgb)
    smooth = 0.5 * ppi
    feats = [
        np.asarray(cv2.GaussianBlur(x, (0, 0), smooth), np.float32)
        for x in (flat, r, g, np.log(texture + 1e-3).astype(np.float32))
    ]
    if roof.sum() < 50:
        zero = np.zeros(roof.shape, np.float32)
        return Material(zero, zero, zero, zero, zero, roof, factor)
    tone, red, green, grain = robust_z(feats, roof, floors=(0.08, 0.01, 0.01, 0.15))
    distance = np.sqrt((tone * tone + red * red + green * green + grain * grain) / 4).astype(np.float32)
    return Material(distance, tone, red, green, grain, roof, factor)


def missing_candidates(work: Work, material: Material) -> list[Candidate]:
    """Tab-sized, rectangular regions whose tone, colour or texture is unlike the rest of the roof,
    scored by their classifier."""
    model = load_model(REGION_MODEL)
    return [
        Candidate(box, "missing_shingle", round(model.score(features), 4), 4, features)
        for box, features in unlike_regions(work, material)
    ]


def unlike_regions(work: Work, material: Material) -> list[Reading]:
    """Tab-sized, rectangular regions whose tone, colour or texture is unlike the rest of the roof,
    and what the classifier judges them by: their shape, how they lie to the courses (a torn piece
    leaves a hole along its course), and their material."""
    dist, roof, factor = material.distance, material.roof, material.factor
    ppi = work.ppi * factor
    if roof.sum() < 50:
        return []
    odd = ((dist > UNLIKE_ROOF) & roof).astype(np.uint8)
    odd = np.asarray(cv2.morphologyEx(odd, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(odd, connectivity=8)
    tab_px = 12.0 * EXPOSURE_IN * ppi**2
    out: list[Reading] = []
    for i in range(1, count):
        area = float(stats[i, cv2.CC_STAT_AREA])
        if not 0.3 * tab_px <= area <= 8.0 * tab_px:
            continue
        x, y, w, h = (int(v) for v in stats[i, :4])
        own = labels[y : y + h, x : x + w] == i  # within the region's own box: not the whole image
        ys, xs = np.nonzero(own)
        points = np.column_stack((xs + x, ys + y)).astype(np.float32)
        (_, _), (rw, rh), angle = cv2.minAreaRect(points)
        long_side, short_side = max(rw, rh) + 1, min(rw, rh) + 1
        long_angle = math.radians(angle if rw >= rh else angle + 90.0)
        fill = area / (long_side * short_side)
        aspect = long_side / short_side
        short_in = short_side / ppi
        skew = abs(math.cos(long_angle - work.direction))  # 0: the long side runs along the courses
        if fill < 0.6 or aspect > 6.0 or not 0.5 * EXPOSURE_IN <= short_in <= 2.5 * EXPOSURE_IN:
            continue
        scale = factor * work.factor
        box = clamp_box((x / scale, y / scale, (x + w) / scale, (y + h) / scale), *original_size(work))
        if box is None:
            continue
        features = {
            "fill": fill,
            "log_aspect": math.log(aspect),
            "distance": float(dist[ys + y, xs + x].mean()),
            "short_in": short_in,
            "log_long_in": math.log(long_side / ppi),
            "skew": skew,
            **material.means(ys + y, xs + x),
        }
        out.append((box, features))
    return _counted(out)


def _counted(readings: list[Reading]) -> list[Reading]:
    """`readings` with how many there are on the photo as a feature of each: a missing shingle is
    rare, so a roof showing many (a laminate's irregular teeth, a blotchy blend) makes each less
    telling."""
    count = math.log(1 + len(readings))
    return [(box, {**features, "log_count": count}) for box, features in readings]


def _ranked(readings: list[Reading], names: tuple[str, ...]) -> list[Reading]:
    """`readings` with, for each of `names`, the share of the photo's other readings below this
    one's value (`<name>_rank`): a hole stands out among its own roof's gaps, whatever the roof."""
    if not readings:
        return readings
    out = [(box, dict(features)) for box, features in readings]
    for name in names:
        values = np.array([features[name] for _, features in readings])
        below = np.searchsorted(np.sort(values), values, side="left")
        for (_, features), count in zip(out, below, strict=True):
            features[f"{name}_rank"] = float(count) / max(1, len(values) - 1)
    return out


def course_gap_candidates(work: Work, lines: tuple[F32, CoursePeriod], material: Material) -> list[Candidate]:
    """Gaps in the course lines (`course_gaps`) scored by their classifier: the best few."""
    model = load_model(GAP_MODEL)
    out = [
        Candidate(box, "missing_shingle", round(model.score(features), 4), 4, features)
        for box, features in course_gaps(work, lines, material)
    ]
    return sorted(out, key=lambda c: (-c.score, c.box))[:MAX_GAP_CANDIDATES]


def course_gaps(work: Work, lines: tuple[F32, CoursePeriod], material: Material) -> list[Reading]:
    """Missing tabs found by the course structure: a torn-off tab takes its butt edge with it, so
    the shadow line it threw is missing for about a tab's width, where the courses one period up
    and down have theirs; and the patch above the missing line (the hole, one exposure tall) shows
    another material: its appearance distance (`appearance_distance`) is large. Nothing else on a
    roof removes a butt-edge shadow line (moss, leaves, lichen, streaks and pipe shadows darken or
    tint a shingle, but the shadow's log contrast stays)."""
    if work.scale is None or work.roof.sum() < 100:
        return []
    ppi = work.ppi
    reach = max(1, round(0.2 * ppi))
    slack = max(reach, round(NEIGHBOUR_SLACK * work.scale.period_px * work.factor))
    # Only the roof's bounding box is filtered, grown by the kernel's and the neighbours' reach:
    # every value read on the roof is as on the whole image.
    window = bounding_box(work.roof_wide, math.ceil(GAP_KERNEL_IN * ppi / 2) + slack + 3)
    assert window is not None
    rows, cols = window
    ox, oy = cols.start, rows.start
    full, work = work, cropped(work, rows, cols)
    period_of = lines[1].crop(rows, cols)
    edge = oriented(work.flat, work.direction, GAP_KERNEL_IN * ppi, "edge", max(0.8, 0.12 * ppi))
    line = np.zeros((2 * slack + 1,) * 2, np.uint8)
    end = (round(slack * math.cos(work.direction)), round(slack * math.sin(work.direction)))
    cv2.line(line, (slack - end[0], slack - end[1]), (slack + end[0], slack + end[1]), 1, 1 + 2 * reach)
    own = np.asarray(cv2.dilate(edge, line), np.float32)
    deficit = course_neighbours(work, edge, reach, period_of, both=True) - own
    ok = work.roof & np.isfinite(deficit)
    values = deficit[ok]
    if values.size < 100:
        return []
    med = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - med))) + 1e-6
    z = np.where(ok, (deficit - med) / spread, 0.0).astype(np.float32)
    dist, coarse = material.distance, material.factor
    cos, sin = math.cos(work.direction), math.sin(work.direction)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((z > GAP_Z).astype(np.uint8), connectivity=8)
    out: list[Reading] = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < 4:
            continue
        bx, by, bw, bh = (int(v) for v in stats[i, :4])
        ly, lx = np.nonzero(labels[by : by + bh, bx : bx + bw] == i)  # within the gap's own box: cheap
        ly, lx = ly + by, lx + bx  # the crop's pixels
        ys, xs = ly + oy, lx + ox  # the working image's
        s = -xs * sin + ys * cos
        length_in = (float(np.ptp(s)) + 1) / ppi
        if not GAP_LENGTH_IN[0] <= length_in <= GAP_LENGTH_IN[1]:
            continue
        period = float(np.median(period_of.pixels[ly, lx]))
        # The hole: the course above the missing line (up the slope, against `direction`).
        hx = np.concatenate([xs - f * period * cos for f in (0.2, 0.4, 0.6, 0.8)])
        hy = np.concatenate([ys - f * period * sin for f in (0.2, 0.4, 0.6, 0.8)])
        cy = np.clip(np.round(hy * coarse).astype(int), 0, dist.shape[0] - 1)
        cx = np.clip(np.round(hx * coarse).astype(int), 0, dist.shape[1] - 1)
        x0, x1 = min(xs.min(), hx.min()), max(xs.max(), hx.max())
        y0, y1 = min(ys.min(), hy.min()), max(ys.max(), hy.max())
        box = clamp_box((x0 / work.factor, y0 / work.factor, x1 / work.factor, y1 / work.factor), *original_size(full))
        if box is None:
            continue
        features = {
            "gap_z": float(z[ly, lx].mean()),
            "log_length_in": math.log(length_in),
            "material": float(np.median(dist[cy, cx])),
            **material.means(cy, cx),
        }
        out.append((box, features))
    return _ranked(_counted(out), ("material", "gap_z"))
