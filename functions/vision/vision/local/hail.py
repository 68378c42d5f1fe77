"""Hail hits: dark spots that are not lines (vision.local.spots), judged by their depth (also
against the photo's other spots), size and shape, against their ring and the rays leaving them, by
a classifier trained on the fitting families (vision.local.classifier: a logistic model blended
with small boosted trees, evaluation.vision.training). (A patch CNN over the picture around each
spot, evaluation.vision.hail_patch, was fitted and compared leaving one fitting family out; it did
not beat the logistic classifier, so it is not shipped.)"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from vision.detections import Box, clamp_box
from vision.local.candidate import MAX_CANDIDATES, Candidate
from vision.local.classifier import load_model
from vision.local.image_ops import chromaticity
from vision.local.missing import UNLIKE_ROOF, Material
from vision.local.spots import Spot, dark_spots
from vision.local.work import Work, original_size

HAIL_MODEL = "hail"  # models/hail.json: the classifier over HAIL_FEATURES
MAX_HAIL_CANDIDATES = 4 * MAX_CANDIDATES
HAIL_FEATURES = (
    "log_z", "depth", "mean_depth", "diameter_in", "log_diameter", "log_diameter_sq", "log_elongation",
    "solidity", "contrast", "chroma", "line", "ray1", "ray2", "log_z_rel",
)  # fmt: skip
OTHER_MATERIAL_SHARE = 0.5  # of the spot's surroundings (its box grown by its size each way)
MAX_DIAMETER_IN = 3.0  # a spot wider than this is not one hit (the residue caps near 3 in anyway)


def _ring_stats(work: Work, x: int, y: int, radius: float) -> tuple[float, float, float, float] | None:
    """(contrast in log units, core chroma offset, darkest ring sector) of a disc against its ring.
    The last is how much darker than the ring's median its darkest eighth is, relative to the
    contrast: near 0 round an isolated spot, near 1 where a dark line (keyway, shadow) leaves it."""
    h, w = work.flat.shape
    reach = math.ceil(radius * 2.5) + 1
    x0, x1, y0, y1 = max(0, x - reach), min(w, x + reach + 1), max(0, y - reach), min(h, y + reach + 1)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx - x, yy - y)
    core = d <= max(1.0, radius * 0.8)
    ring = (d >= radius * 1.5) & (d <= radius * 2.5)
    if core.sum() < 2 or ring.sum() < 6:
        return None
    patch = work.flat[y0:y1, x0:x1]
    ring_median = float(np.median(patch[ring]))
    contrast = ring_median - float(patch[core].mean())
    r, g = chromaticity(work.rgb[y0:y1, x0:x1])
    chroma = math.hypot(float(r[core].mean() - 1 / 3), float(g[core].mean() - 1 / 3))
    chroma_ring = math.hypot(float(np.median(r[ring]) - 1 / 3), float(np.median(g[ring]) - 1 / 3))
    near = (d >= radius * 1.2) & (d <= radius * 2.2)
    sector = (((np.arctan2(yy - y, xx - x) + math.pi) / (2 * math.pi) * 8).astype(int) % 8)[near]
    counts = np.bincount(sector, minlength=8)
    sums = np.bincount(sector, patch[near].astype(np.float64), minlength=8)
    means = sums[counts >= 2] / counts[counts >= 2]
    line = (ring_median - float(means.min())) / max(contrast, 1e-3) if means.size else 0.0
    return contrast, chroma - chroma_ring, line, ring_median


def _rays(work: Work, x: int, y: int, radius: float, ring: float, contrast: float) -> tuple[float, float]:
    """How dark the two darkest of eight rays leaving a blob are, as shares of its contrast. The
    rays start past the blob's rim and run an inch and a half, along and across the courses and
    diagonally. A hail hit is an isolated blemish: every ray sees plain shingle. A keyway's or a
    laminated tab's side shadow ending on (or starting from) a course's shadow line is a dark blob
    with a dark line leaving it: one ray (a line's end) or two or three (a T-junction) are dark."""
    h, w = work.soft.shape
    start = radius * 1.4 + 1.0
    steps = np.linspace(start, start + max(1.5 * work.ppi, 2.0 * radius), 8)
    angles = work.direction + np.arange(8) * (math.pi / 4)  # one ray a row
    xs = np.clip(np.round(x + np.outer(np.cos(angles), steps)).astype(int), 0, w - 1)
    ys = np.clip(np.round(y + np.outer(np.sin(angles), steps)).astype(int), 0, h - 1)
    darkness = np.sort((ring - work.soft[ys, xs].mean(axis=1).astype(np.float64)) / max(contrast, 0.05))
    return float(darkness[-1]), float(darkness[-2])


def hail_features(work: Work, spot: Spot) -> dict[str, float] | None:
    """What the classifier judges a dark spot by: its depth and size, its shape, its contrast with
    and colour against its ring, and whether a dark line leaves it (sectors, rays)."""
    diameter = 2.0 * math.sqrt(spot.area / math.pi) / work.area_ppi
    radius = max(1.0, diameter * work.area_ppi / 2)
    x, y = round(spot.x), round(spot.y)
    stats = _ring_stats(work, x, y, radius)
    if stats is None:
        return None
    contrast, chroma, line, ring = stats
    ray1, ray2 = _rays(work, x, y, radius, ring, contrast)
    return {
        "log_z": math.log(max(spot.z, 1.0)),
        "depth": spot.peak,
        "mean_depth": spot.mean,
        "diameter_in": diameter,
        "log_diameter": math.log(diameter),
        "log_diameter_sq": math.log(diameter) ** 2,
        "log_elongation": math.log(max(spot.elongation, 1.0)),
        "solidity": spot.solidity,
        "contrast": contrast,
        "chroma": chroma,
        "line": line,
        "ray1": ray1,
        "ray2": ray2,
    }


class SpotReading(NamedTuple):
    """A dark spot that could be a hit: its box (original pixels), severity, features and centre
    (working pixels)."""

    box: Box
    severity: int
    features: dict[str, float]
    x: float
    y: float


def spot_candidates(work: Work) -> list[SpotReading]:
    """Every dark spot that could be a hit, with `log_z_rel` (see `_relative_depth`)."""
    out: list[SpotReading] = []
    for spot in dark_spots(work.flat, work.roof, work.ppi, work.direction, work.stretch):
        features = hail_features(work, spot)
        if features is None or features["diameter_in"] > MAX_DIAMETER_IN:
            continue
        diameter = features["diameter_in"]
        half = max(diameter * 0.65, 0.4) * work.area_ppi
        corners = (spot.x - half, spot.y - half, spot.x + half, spot.y + half)
        box = clamp_box([c / work.factor for c in corners], *original_size(work))
        if box is not None:
            out.append(SpotReading(box, 2 if diameter < 0.75 else 3 if diameter < 1.5 else 4, features, spot.x, spot.y))
    _relative_depth(out)
    return out


def _relative_depth(spots: list[SpotReading]) -> None:
    """Add `log_z_rel`: each spot's depth (log_z) less the median of the photo's spots. Most dark
    spots on a photo are its roof's own structure (keyway ends, granule clumps, shadow corners),
    and how deep they look (in the texture's spreads) varies from photo to photo with the light,
    blur and compression; a hit stands out from them on any photo."""
    if not spots:
        return
    median = float(np.median([s.features["log_z"] for s in spots]))
    for spot in spots:
        spot.features["log_z_rel"] = spot.features["log_z"] - median


def hail_candidates(work: Work, material: Material | None = None) -> list[Candidate]:
    """Dark spots that are not lines (vision.local.spots), scored by the hail classifier; none
    amid another material than the roof's shingles (`material`: a pipe's open top is a dark disc)."""
    model = load_model(HAIL_MODEL)
    spots = [
        s for s in spot_candidates(work) if material is None or not amid_other_material(work, material, s.box)
    ]  # log_z_rel is relative to all the photo's spots, as in training
    table = np.asarray([[s.features[n] for n in model.features] for s in spots], np.float64)
    scores = model.scores(table.reshape(len(spots), len(model.features)))
    out = [
        Candidate(s.box, "hail_hit", round(float(score), 4), s.severity, s.features)
        for s, score in zip(spots, scores.reshape(-1), strict=True)
    ]
    out.sort(key=lambda c: (-c.score, c.box))
    return out[:MAX_HAIL_CANDIDATES]


def amid_other_material(work: Work, material: Material, box: Box) -> bool:
    """Whether most of the spot's surroundings (its box grown by its own size each way) are of
    another material than the roof's shingles: a vent, a pipe, flashing, a chimney."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    k = material.factor * work.factor  # coarse pixels per photo pixel
    rows, cols = material.distance.shape
    r0, r1 = max(0, round((y0 - h) * k)), min(rows, round((y1 + h) * k) + 1)
    c0, c1 = max(0, round((x0 - w) * k)), min(cols, round((x1 + w) * k) + 1)
    around = material.distance[r0:r1, c0:c1]
    return around.size > 0 and float((around > UNLIKE_ROOF).mean()) > OTHER_MATERIAL_SHARE
