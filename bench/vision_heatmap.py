"""The damage heatmap (vision.heatmap): render time and memory for a 12 MP photo, and supervision's
HeatMapAnnotator.

1. `render_heatmap` on a synthetic 4000 x 3000 photo (shingle courses with sensor-like noise), warm,
   median of 5 runs, PNG bytes out at the default 2048 px cap: target under 250 ms (the issue asks
   for well under 1 s). Cases:
   - 40 detections with the scale unknown (the long side assumed to span 12 ft);
   - the same with a scale from shingle courses in perspective (30 px per ft at the ridge to 60 at
     the eave) and a roof mask (the top fifth is sky), the case a measured scale brings;
   - an even spread of 192 hits at 80 px per ft (10 per 100 sq ft), many pairs for the test squares;
   then the parts of the second: the reading (density grid and test squares), the image without the
   PNG encoding. Memory: the peak of the arrays numpy allocates during one render (OpenCV's output
   arrays are numpy's; its internal buffers are not counted), against one float32 copy of the photo.
2. supervision's `HeatMapAnnotator` (the optional `heatmap-peer` extra) on the same photo and boxes,
   as a reference for speed only: it annotates at full resolution, normalises to its own maximum
   (one hit is red), has no legend, scale, roof or severity. Timed as `annotate` alone and as
   annotate + resize to 2048 px + the same PNG encoding, our deliverable's equivalent. "not
   installed" without it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import tracemalloc
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from bench.common import fmt, median, note, print_table, time_runs, verdict
from vision.detections import DAMAGE_TYPES, Detection
from vision.heatmap import LONG_SIDE, PNG_PARAMS, Heatmap, read_damage, render_heatmap, render_image
from vision.photo_scale import PhotoScale

RUNS = 5
TARGET_MS = 250.0
WIDTH, HEIGHT = 4000, 3000
DETECTIONS = 40
RIDGE_PPF, EAVE_PPF = 30.0, 60.0  # the perspective case's scale, px per ft
EVEN_PPF, EVEN_RATE = 80.0, 10.0  # the even spread: px per ft, hits per 100 sq ft
SKY_ROWS = HEIGHT // 5

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


def even_spread() -> list[Detection]:
    """Ordinary hits on a square lattice at EVEN_RATE per 100 sq ft at EVEN_PPF."""
    step = math.sqrt(100.0 / EVEN_RATE) * EVEN_PPF
    centres = [(x, y) for y in np.arange(step / 2, HEIGHT, step) for x in np.arange(step / 2, WIDTH, step)]
    return [
        Detection(
            id=i, type="hail_hit", severity=3, confidence=0.8, box=(int(x) - 12, int(y) - 12, int(x) + 12, int(y) + 12)
        )
        for i, (x, y) in enumerate(centres, start=1)
    ]


def receding_scale() -> PhotoScale:
    """RIDGE_PPF at the ridge (the sky's edge), growing to EAVE_PPF at the eave (the bottom row)."""
    gy = (EAVE_PPF - RIDGE_PPF) / (HEIGHT - SKY_ROWS)
    return PhotoScale(RIDGE_PPF, WIDTH / 2, SKY_ROWS, "shingle_courses", 0.04, gy=gy)


def roof_mask() -> npt.NDArray[np.bool_]:
    roof = np.ones((HEIGHT, WIDTH), dtype=bool)
    roof[:SKY_ROWS] = False
    return roof


def encode(image: Image) -> bytes:
    ok, png = cv2.imencode(".png", image, list(PNG_PARAMS))
    assert ok
    return png.tobytes()


def numpy_peak_mb(work: Callable[[], object]) -> float:
    """The peak of numpy's allocations (MB) during one run of `work`."""
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


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
            (label, output, fmt(median(ms), 1), fmt(max(ms), 1), "-", "-", f"{median(ms) / ours_ms:.2f} x ours", "-")
        )
    return rows


def run() -> None:
    photo, detections, even = synthetic_photo(), synthetic_detections(), even_spread()
    scale, roof = receding_scale(), roof_mask()
    even_scale = PhotoScale(EVEN_PPF, WIDTH / 2, HEIGHT / 2, "shingle_courses", 0.04)
    cases: list[tuple[str, Callable[[], object], str]] = [
        ("ours, scale assumed (12 ft span)", lambda: render_heatmap(photo, detections), "PNG"),
        (
            f"ours, {RIDGE_PPF:g}-{EAVE_PPF:g} px/ft, roof",
            lambda: render_heatmap(photo, detections, roof=roof, scale=scale),
            "PNG",
        ),
        (f"ours, even spread, {len(even)} hits", lambda: render_heatmap(photo, even, scale=even_scale), "PNG"),
        (
            "  of which reading (density, squares)",
            lambda: read_damage(detections, WIDTH, HEIGHT, roof=roof, scale=scale),
            "numbers",
        ),
        ("  of which image (no PNG)", lambda: render_image(photo, detections, roof=roof, scale=scale), "array"),
    ]
    rows: list[tuple[object, ...]] = []
    results: list[tuple[str, Heatmap]] = []
    ours_ms = float("nan")
    for label, work, output in cases:
        ms = [s * 1000 for s in time_runs(work, RUNS)]
        judged = output == "PNG"
        peak = numpy_peak_mb(work) if judged else None
        if judged:
            heatmap = work()
            assert isinstance(heatmap, Heatmap)
            results.append((label, heatmap))
            out = cv2.imdecode(np.frombuffer(heatmap.png, dtype=np.uint8), cv2.IMREAD_COLOR)
            assert out is not None
            output = f"PNG, {out.shape[1]} x {out.shape[0]}"
        if label.startswith("ours, scale"):
            ours_ms = median(ms)
        rows.append(
            (
                label,
                output,
                fmt(median(ms), 1),
                fmt(max(ms), 1),
                fmt(peak, 0),
                f"< {TARGET_MS:g}" if judged else "-",
                f"{median(ms) / TARGET_MS:.2f}" if judged else "-",
                verdict(median(ms) < TARGET_MS) if judged else "-",
            )
        )
    found = peer()
    if found is None:
        rows.append(("supervision HeatMapAnnotator", "not installed", "-", "-", "-", "-", "-", "-"))
        peer_name = "supervision (not installed: pip install '.[heatmap-peer]')"
    else:
        peer_name, sv = found
        rows += peer_rows(sv, photo, detections, ours_ms)
    print_table(
        f"Vision heatmap: {WIDTH} x {HEIGHT} photo, warm, median of {RUNS} runs",
        ("renderer", "output", "median ms", "max ms", "numpy peak MB", "target ms", "ratio", "verdict"),
        rows,
    )
    note(f"ratio: median / target for ours; median / ours (scale assumed) for {peer_name}")
    note(
        f"one float32 copy of the photo would be {WIDTH * HEIGHT * 4 / 1e6:.0f} MB; "
        f"the photo itself is {photo.nbytes / 1e6:.0f} MB"
    )
    for label, heatmap in results:
        stats = heatmap.reading.stats_json()
        note(
            f"{label.strip()}: test square max {stats['test_square_max']}, covered {stats['covered_sqft']} sq ft, "
            f"peak {stats['peak_per_100sqft']} per 100 sq ft, {stats['counted']} counted, "
            f"PNG {len(heatmap.png) / 1e6:.2f} MB"
        )
    note(f"PNG: zlib level 1, AVG filter; {cv2.getNumThreads()} OpenCV threads")
