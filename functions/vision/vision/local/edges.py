"""Shingle edge anomalies (wind creases, lifted tabs): course-line edges and bands stronger than
at the same spot one course up and down the slope; proposals for the model stage only."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from vision.detections import clamp_box
from vision.local.candidate import Candidate, sigmoid
from vision.local.courses import course_neighbours, oriented
from vision.local.image_ops import F32
from vision.local.work import Work, original_size

# On the development set the edge candidates are not yet separable from normal course-line variety
# (laminates' bottom-layer edges, tab-to-tab shade steps, moss), so they are proposals for the model
# stage only: scored below REPORT_SCORE, and few per photo so they never crowd out hail candidates.
EDGE_SCORE_CAP = 0.35
MAX_EDGE_CANDIDATES = 6
# Hand-set, not fitted: the threshold (robust z of the excess over both neighbour courses) and the
# ranking weights (bias, log strength, length in inches) of the edge proposals.
EDGE_Z = {"wind_crease": 4.0, "lifted_tab": 4.0}
EDGE_WEIGHTS = {"wind_crease": (-2.0, 2.0, 0.3), "lifted_tab": (-2.0, 2.0, 0.3)}


def edge_candidates(work: Work, lines: tuple[F32, Any]) -> list[Candidate]:
    """Wind creases and lifted tabs: anomalies of the course lines, found by comparing each spot
    with the same spot one course up and one course down the slope."""
    if work.scale is None or work.roof.sum() < 100:
        return []
    ppi = work.ppi
    crease_edge, period_of = lines
    band = oriented(work.flat, work.direction, 3.0 * ppi, "line", 0.45 * ppi)
    reach = max(1, round(0.2 * ppi))
    out: list[Candidate] = []
    for kind, img, min_len in (("wind_crease", crease_edge, 3.0), ("lifted_tab", band, 3.0)):
        excess = img - course_neighbours(work, img, reach, period_of)
        values = excess[work.roof & np.isfinite(excess)]
        if values.size < 100:
            continue
        med = float(np.median(values))
        spread = 1.4826 * float(np.median(np.abs(values - med))) + 1e-6
        z = np.where(work.roof & np.isfinite(excess), (excess - med) / spread, 0.0).astype(np.float32)
        strong = (z > EDGE_Z[kind]).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
        for i in range(1, count):
            area = int(stats[i, cv2.CC_STAT_AREA])
            if area < 4:
                continue
            ys, xs = np.nonzero(labels == i)
            t = xs * math.cos(work.direction) + ys * math.sin(work.direction)
            s = -xs * math.sin(work.direction) + ys * math.cos(work.direction)
            length_in = (float(np.ptp(s)) + 1) / ppi
            width_in = (float(np.ptp(t)) + 1) / ppi
            if length_in < min_len or length_in > 20.0 or width_in > 0.45 * length_in:
                continue
            peak = float(z[ys, xs].max())
            mean = float(z[ys, xs].mean())
            evidence = (
                EDGE_WEIGHTS[kind][0]
                + EDGE_WEIGHTS[kind][1] * math.log(mean / EDGE_Z[kind])
                + EDGE_WEIGHTS[kind][2] * min(length_in, 12.0)
            )
            pad_s, pad_t = 0.3 * ppi, (0.35 if kind == "wind_crease" else 0.6) * ppi
            x0, x1 = xs.min() - pad_s, xs.max() + pad_s
            y0, y1 = ys.min() - pad_t, ys.max() + pad_t
            box = clamp_box(
                (x0 / work.factor, y0 / work.factor, x1 / work.factor, y1 / work.factor), *original_size(work)
            )
            if box is None:
                continue
            features = {"peak": peak, "mean": mean, "length_in": length_in, "width_in": width_in}
            score = EDGE_SCORE_CAP * sigmoid(evidence)
            out.append(Candidate(box, kind, round(score, 4), 2, features))  # type: ignore[arg-type]
    return sorted(out, key=lambda c: (-c.score, c.box))[:MAX_EDGE_CANDIDATES]
