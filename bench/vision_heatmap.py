"""The damage heatmap (vision.heatmap): render time for a 12 MP photo, and supervision's HeatMapAnnotator.

1. `render_heatmap` on a synthetic 4000 x 3000 photo (shingle courses with sensor-like noise) with 40
   detections, warm, median of 5 runs, PNG bytes out at the default 2048 px cap: target under
   250 ms. Once with the scale unknown (the long side assumed to span 12 ft: every hit's test square
   covers most of the photo) and once at 40 px per ft (a 100 ft view: local blobs), then the parts
   of the first: the density grid alone, the image without the PNG encoding.
2. supervision's `HeatMapAnnotator` (the optional `heatmap-peer` extra) on the same photo and boxes,
   as a reference for speed only: it annotates at full resolution, normalises to its own maximum
   (one hit is red), has no legend and no severity. Timed as `annotate` alone and as annotate +
   resize to 2048 px + the same PNG encoding, our deliverable's equivalent. "not installed" without it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bench.common import fmt, median, note, print_table, time_runs, verdict
from vision.detections import DAMAGE_TYPES, Detection
from vision.heatmap import LONG_SIDE, PNG_PARAMS, density_map, render_heatmap, render_image

RUNS = 5
TARGET_MS = 250.0
WIDTH, HEIGHT = 4000, 3000
DETECTIONS = 40
KNOWN_PPF = 40.0

Image = npt.NDArray[np.uint8]


def synthetic_photo(seed: int = 0) -> Image:
    """RGB shingle courses (alternating tones every 150 px, a dark gap between tabs) with noise."""
    rng = np.random.default_rng(seed)
    rows = np.arange(HEIGHT)[:, None]
    cols = np.arange(WIDTH)[None, :]
    course = rows // 150
    tone = 85.0 + 20.0 * (course % 2) - 35.0 * (((cols + 110 * course) % 300) < 6)
    grey = np.clip(tone + rng.normal(0.0, 6.0, (HEIGHT, WIDTH)), 0, 255).astype(np.uint8)
    return np.dstack([grey, (grey * 0.95).astype(np.uint8), (grey * 0.85).astype(np.uint8)])


def synthetic_detections(seed: int = 0) -> list[Detection]:
    """Mostly hail hits, a dense patch on the left third, a few of every other type elsewhere."""
    rng = np.random.default_rng(seed)
    found = []
    for index in range(DETECTIONS):
        kind = "hail_hit" if index < 30 else DAMAGE_TYPES[1 + index % (len(DAMAGE_TYPES) - 1)]
        x = rng.uniform(150, 1500) if index < 20 else rng.uniform(150, WIDTH - 150)
        y = rng.uniform(150, HEIGHT - 150)
        half = int(rng.integers(25, 120))
        box = (int(x) - half, int(y) - half, int(x) + half, int(y) + half)
        found.append(Detection(id=index + 1, type=kind, severity=int(rng.integers(1, 6)), confidence=0.8, box=box))
    return found


def encode(image: Image) -> bytes:
    ok, png = cv2.imencode(".png", image, list(PNG_PARAMS))
    assert ok
    return png.tobytes()


def peer() -> tuple[str, Any] | None:
    try:
        module = importlib.import_module("supervision")
    except ImportError:
        return None
    return f"supervision {importlib.metadata.version('supervision')}", module


def peer_rows(sv: Any, photo: Image, detections: list[Detection], ours_ms: float) -> list[tuple[object, ...]]:
    bgr = np.ascontiguousarray(photo[:, :, ::-1])
    boxes = sv.Detections(xyxy=np.array([d.box for d in detections], dtype=np.float32))

    def annotate() -> Image:
        return np.asarray(sv.HeatMapAnnotator().annotate(scene=bgr.copy(), detections=boxes), dtype=np.uint8)

    def deliverable() -> bytes:
        scale = LONG_SIDE / max(WIDTH, HEIGHT)
        size = (round(WIDTH * scale), round(HEIGHT * scale))
        return encode(np.asarray(cv2.resize(annotate(), size, interpolation=cv2.INTER_AREA), dtype=np.uint8))

    rows: list[tuple[object, ...]] = []
    for label, work, output in (
        ("HeatMapAnnotator.annotate", annotate, f"{WIDTH} x {HEIGHT} array"),
        ("  + resize + PNG", deliverable, "PNG, 2048 px"),
    ):
        ms = [s * 1000 for s in time_runs(work, RUNS)]
        rows.append(
            (label, output, fmt(median(ms), 1), fmt(max(ms), 1), "-", f"{median(ms) / ours_ms:.2f} x ours", "-")
        )
    return rows


def run() -> None:
    photo, detections = synthetic_photo(), synthetic_detections()
    png = render_heatmap(photo, detections)
    out = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert out is not None
    cases: list[tuple[str, Callable[[], object], str]] = [
        ("ours, scale assumed (12 ft span)", lambda: render_heatmap(photo, detections), "PNG"),
        (
            f"ours, {KNOWN_PPF:g} px/ft",
            lambda: render_heatmap(photo, detections, pixels_per_foot=KNOWN_PPF),
            "PNG",
        ),
        ("  of which density grid", lambda: density_map(detections, WIDTH, HEIGHT), "grid"),
        ("  of which image (no PNG)", lambda: render_image(photo, detections), "array"),
    ]
    rows: list[tuple[object, ...]] = []
    ours_ms = float("nan")
    for label, work, output in cases:
        ms = [s * 1000 for s in time_runs(work, RUNS)]
        judged = output == "PNG"
        if label.startswith("ours, scale"):
            ours_ms = median(ms)
        rows.append(
            (
                label,
                f"{output}, {out.shape[1]} x {out.shape[0]}" if judged else output,
                fmt(median(ms), 1),
                fmt(max(ms), 1),
                f"< {TARGET_MS:g}" if judged else "-",
                f"{median(ms) / TARGET_MS:.2f}" if judged else "-",
                verdict(median(ms) < TARGET_MS) if judged else "-",
            )
        )
    found = peer()
    if found is None:
        rows.append(("supervision HeatMapAnnotator", "not installed", "-", "-", "-", "-", "-"))
        peer_name = "supervision (not installed: pip install '.[heatmap-peer]')"
    else:
        peer_name, sv = found
        rows += peer_rows(sv, photo, detections, ours_ms)
    print_table(
        f"Vision heatmap: {WIDTH} x {HEIGHT} photo, {len(detections)} detections, warm, median of {RUNS} runs",
        ("renderer", "output", "median ms", "max ms", "target ms", "ratio", "verdict"),
        rows,
    )
    note(f"ratio: median / target for ours; median / ours (scale assumed) for {peer_name}")
    note(f"PNG size {len(png) / 1e6:.2f} MB (zlib level 1, AVG filter); {cv2.getNumThreads()} OpenCV threads")
