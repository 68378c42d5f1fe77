"""Hail hits: dark, round, neutral blobs of the normalised log luminance, judged against their
ring and the rays leaving them and scored by a logistic model fitted on the development set."""

from __future__ import annotations

import math

import cv2
import numpy as np

from vision.detections import clamp_box
from vision.local.candidate import MAX_CANDIDATES, Candidate, sigmoid
from vision.local.image_ops import chromaticity, hessian_min
from vision.local.work import Work, original_size

HAIL_DIAMETERS_IN = (0.55, 0.8, 1.15, 1.6, 2.2)
MIN_HAIL_Z = 4.0  # blob response, in units of its spread over the roof
# Logistic weights of a hail candidate's evidence (see `hail_candidates`), fitted on the development set.
HAIL_WEIGHTS = {
    "bias": -1.14,
    "z": 0.75,
    "contrast": 4.77,
    "elongation": -0.59,
    "chroma": -152.0,
    "line": -1.40,
    "ray": -3.45,
}


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
    contrast = float(np.median(patch[ring]) - patch[core].mean())
    r, g = chromaticity(work.rgb[y0:y1, x0:x1])
    chroma = math.hypot(float(r[core].mean() - 1 / 3), float(g[core].mean() - 1 / 3))
    chroma_ring = math.hypot(float(np.median(r[ring]) - 1 / 3), float(np.median(g[ring]) - 1 / 3))
    near = (d >= radius * 1.2) & (d <= radius * 2.2)
    sector = ((np.arctan2(yy - y, xx - x) + math.pi) / (2 * math.pi) * 8).astype(int) % 8
    means = [float(patch[near & (sector == k)].mean()) for k in range(8) if (near & (sector == k)).sum() >= 2]
    ring_median = float(np.median(patch[ring]))
    line = (ring_median - min(means)) / max(contrast, 1e-3) if means else 0.0
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
    darkness = []
    for k in range(8):
        angle = work.direction + k * math.pi / 4
        xs = np.clip(np.round(x + steps * math.cos(angle)).astype(int), 0, w - 1)
        ys = np.clip(np.round(y + steps * math.sin(angle)).astype(int), 0, h - 1)
        darkness.append((ring - float(work.soft[ys, xs].mean())) / max(contrast, 0.05))
    darkness.sort(reverse=True)
    return darkness[0], darkness[1]


def hail_candidates(work: Work) -> list[Candidate]:
    responses, ratios, sizes = [], [], []
    roof_values = work.roof
    for diameter in HAIL_DIAMETERS_IN:
        sigma = max(0.7, diameter * work.ppi / (2 * math.sqrt(2)))
        low, high = hessian_min(work.flat, sigma)
        values = low[roof_values]
        spread = 1.4826 * float(np.median(np.abs(values - np.median(values)))) + 1e-6
        responses.append(low / spread)
        ratios.append(high / np.maximum(low, 1e-6))
        sizes.append(diameter)
    stack = np.stack(responses)
    best = stack.argmax(axis=0)
    z = np.take_along_axis(stack, best[None], axis=0)[0]
    ratio = np.take_along_axis(np.stack(ratios), best[None], axis=0)[0]
    z = np.where(work.roof, z, 0.0).astype(np.float32)
    radius_px = max(2, round(HAIL_DIAMETERS_IN[0] * work.ppi / 2))
    peaks = (z >= MIN_HAIL_Z) & (z == cv2.dilate(z, np.ones((2 * radius_px + 1,) * 2, np.uint8)))
    ys, xs = np.nonzero(peaks)
    order = np.argsort(-z[ys, xs])[: 4 * MAX_CANDIDATES]
    out = []
    for y, x in zip(ys[order], xs[order], strict=True):
        diameter = sizes[int(best[y, x])]
        radius = diameter * work.ppi / 2
        stats = _ring_stats(work, int(x), int(y), radius)
        if stats is None:
            continue
        contrast, chroma, line, ring = stats
        ray1, ray2 = _rays(work, int(x), int(y), radius, ring, contrast)
        elong = float(ratio[y, x])
        # A bruise is markedly darker than its ring, round, no more colourful than the shingle, and
        # isolated: no dark line leaves it. A logistic model over these features, its weights
        # fitted on the development set (`evaluation.vision.scoring.development_set`), never the test set.
        evidence = (
            HAIL_WEIGHTS["bias"]
            + HAIL_WEIGHTS["z"] * math.log(float(z[y, x]) / MIN_HAIL_Z + 1e-6)
            + HAIL_WEIGHTS["contrast"] * contrast
            + HAIL_WEIGHTS["elongation"] * max(0.0, elong - 1.5)
            + HAIL_WEIGHTS["chroma"] * max(0.0, chroma)
            + HAIL_WEIGHTS["line"] * line
            + HAIL_WEIGHTS["ray"] * ray1
        )
        score = sigmoid(evidence)
        half = radius * 1.3
        box = clamp_box(
            ((x - half) / work.factor, (y - half) / work.factor, (x + half) / work.factor, (y + half) / work.factor),
            *original_size(work),
        )
        if box is None:
            continue
        severity = 2 if diameter < 0.75 else 3 if diameter < 1.3 else 4
        features = {
            "z": float(z[y, x]),
            "contrast": contrast,
            "elongation": elong,
            "chroma": chroma,
            "line": line,
            "ray1": ray1,
            "ray2": ray2,
            "diameter_in": diameter,
        }
        out.append(Candidate(box, "hail_hit", round(score, 4), severity, features))
    return out
