"""Missing shingles: tab-sized regions whose appearance is unlike the roof's, and gaps in a
course's butt-edge line whose hole above shows another material."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from vision.detections import clamp_box
from vision.local.candidate import Candidate, sigmoid
from vision.local.courses import NEIGHBOUR_SLACK, course_neighbours, oriented
from vision.local.image_ops import F32, Mask, chromaticity, log_luminance, normalised, resize, robust_distance
from vision.local.scale import EXPOSURE_IN
from vision.local.work import Work, original_size

# A missing butt-edge line: robust z of (the weaker of the two neighbour courses' edge) minus this
# spot's, over edges averaged along GAP_KERNEL_IN inches of course; a tab-sized run of it (a 3-tab
# tab is 12 in, a laminated piece 4 to 14, often torn wider) is a candidate.
GAP_KERNEL_IN = 6.0
GAP_Z = 4.0
GAP_LENGTH_IN = (5.0, 24.0)
MAX_GAP_CANDIDATES = 4
# (bias, appearance distance of the hole, log strength); set on the development set: there the
# holes' median appearance distance is >= 1.45 and all but a few gaps elsewhere are below 1.3.
GAP_WEIGHTS = (-5.6, 4.0, 0.0)
UNLIKE_ROOF = 3.0  # an appearance distance above this is another material than the roof's shingles


def appearance_distance(work: Work) -> tuple[F32, Mask, float]:
    """At a coarse scale (about 3 px per inch): each pixel's robust distance from the roof's typical
    (log luminance, chromaticity, texture), the roof mask there, and the coarse pixels per working
    pixel."""
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
        return np.zeros(roof.shape, np.float32), roof, factor
    return robust_distance(feats, roof, floors=(0.08, 0.01, 0.01, 0.15)), roof, factor


def missing_candidates(work: Work, appearance: tuple[F32, Mask, float]) -> list[Candidate]:
    """Tab-sized, rectangular regions whose tone, colour or texture is unlike the rest of the roof."""
    dist, roof, factor = appearance
    ppi = work.ppi * factor
    if roof.sum() < 50:
        return []
    odd = ((dist > UNLIKE_ROOF) & roof).astype(np.uint8)
    odd = np.asarray(cv2.morphologyEx(odd, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)), np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(odd, connectivity=8)
    tab_px = 12.0 * EXPOSURE_IN * ppi**2
    out = []
    for i in range(1, count):
        area = float(stats[i, cv2.CC_STAT_AREA])
        if not 0.3 * tab_px <= area <= 8.0 * tab_px:
            continue
        x, y, w, h = (int(v) for v in stats[i, :4])
        own = labels[y : y + h, x : x + w] == i  # within the region's own box: not the whole image
        ys, xs = np.nonzero(own)
        points = np.column_stack((xs + x, ys + y)).astype(np.float32)
        (_, _), (rw, rh), _ = cv2.minAreaRect(points)
        long_side, short_side = max(rw, rh) + 1, min(rw, rh) + 1
        fill = area / (long_side * short_side)
        aspect = long_side / short_side
        short_in = short_side / ppi
        if fill < 0.6 or aspect > 6.0 or not 0.5 * EXPOSURE_IN <= short_in <= 2.5 * EXPOSURE_IN:
            continue
        strength = float(dist[y : y + h, x : x + w][own].mean())
        evidence = 1.5 * (fill - 0.6) / 0.2 + 0.8 * (strength - UNLIKE_ROOF) - 0.6 * max(0.0, aspect - 4.0)
        scale = factor * work.factor
        box = clamp_box((x / scale, y / scale, (x + w) / scale, (y + h) / scale), *original_size(work))
        if box is None:
            continue
        features = {"fill": fill, "aspect": aspect, "distance": strength, "short_in": short_in}
        out.append(Candidate(box, "missing_shingle", round(sigmoid(evidence), 4), 4, features))
    return out


def course_gap_candidates(work: Work, lines: tuple[F32, Any], appearance: tuple[F32, Mask, float]) -> list[Candidate]:
    """Missing tabs found by the course structure: a torn-off tab takes its butt edge with it, so
    the shadow line it threw is missing for about a tab's width, where the courses one period up
    and down have theirs; and the patch above the missing line (the hole, one exposure tall) shows
    another material: its appearance distance (`appearance_distance`) is large. Nothing else on a
    roof removes a butt-edge shadow line (moss, leaves, lichen, streaks and pipe shadows darken or
    tint a shingle, but the shadow's log contrast stays)."""
    if work.scale is None or work.roof.sum() < 100:
        return []
    ppi = work.ppi
    _, period_of = lines
    edge = oriented(work.flat, work.direction, GAP_KERNEL_IN * ppi, "edge", max(0.8, 0.12 * ppi))
    reach = max(1, round(0.2 * ppi))
    slack = max(reach, round(NEIGHBOUR_SLACK * work.scale.period_px * work.factor))
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
    dist, _, coarse = appearance
    cos, sin = math.cos(work.direction), math.sin(work.direction)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((z > GAP_Z).astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, count):
        if stats[i, cv2.CC_STAT_AREA] < 4:
            continue
        bx, by, bw, bh = (int(v) for v in stats[i, :4])
        ys, xs = np.nonzero(labels[by : by + bh, bx : bx + bw] == i)  # within the gap's own box: cheap
        ys, xs = ys + by, xs + bx
        s = -xs * sin + ys * cos
        length_in = (float(np.ptp(s)) + 1) / ppi
        if not GAP_LENGTH_IN[0] <= length_in <= GAP_LENGTH_IN[1]:
            continue
        period = float(np.median(period_of(xs.astype(np.float32)[None], ys.astype(np.float32)[None])))
        # The hole: the course above the missing line (up the slope, against `direction`).
        hx = np.concatenate([xs - f * period * cos for f in (0.2, 0.4, 0.6, 0.8)])
        hy = np.concatenate([ys - f * period * sin for f in (0.2, 0.4, 0.6, 0.8)])
        cy = np.clip(np.round(hy * coarse).astype(int), 0, dist.shape[0] - 1)
        cx = np.clip(np.round(hx * coarse).astype(int), 0, dist.shape[1] - 1)
        material = float(np.median(dist[cy, cx]))
        strength = float(z[ys, xs].mean())
        evidence = GAP_WEIGHTS[0] + GAP_WEIGHTS[1] * material + GAP_WEIGHTS[2] * math.log(strength / GAP_Z)
        x0, x1 = min(xs.min(), hx.min()), max(xs.max(), hx.max())
        y0, y1 = min(ys.min(), hy.min()), max(ys.max(), hy.max())
        box = clamp_box((x0 / work.factor, y0 / work.factor, x1 / work.factor, y1 / work.factor), *original_size(work))
        if box is None:
            continue
        features = {"gap_z": strength, "length_in": length_in, "material": material}
        out.append(Candidate(box, "missing_shingle", round(sigmoid(evidence), 4), 4, features))
    return sorted(out, key=lambda c: (-c.score, c.box))[:MAX_GAP_CANDIDATES]
