"""The local damage stage (vision) on the evaluation families: photos from a second, independent
generator (evaluation.vision.families), fitting and held-out families side by side.

1. Render time per photo of each family (its native size: 1-4 MP, and 12 MP for the speed family).
2. Per family, tagged FIT or HELD-OUT: recall per damage type, false positives per photo,
   duplicates, detections off the true roof and the scale error of pixels per foot at the centre
   (truth: the roof plane's homography), for the local-only answer (`find_candidates` then
   `candidates_as_detections`), and the recall of every candidate handed to the model stage.
   The acceptance of issue 14 (hail >= 0.9 at <= 1 FP/photo, missing and lifted >= 0.8, crease
   >= 0.6, no duplicates, nothing off the roof, scale within 5%) is judged on held-out families.

The local stage's thresholds were set on the first generator's development set, never on these
families; none of these photos is used for fitting anything here. `PHOTOS` per family keeps the
run to a few minutes (`python -m evaluation.vision.families.evaluate` scores each family's full
count), two worker processes render and score in parallel.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

from bench.common import fmt, note, print_table, verdict
from evaluation.vision.baseline import BASELINE_COMMIT, BaselineUnavailable, baseline_stage
from evaluation.vision.families import FAMILIES, FITTING, HELD_OUT, render
from evaluation.vision.families.evaluate import (
    HEADERS,
    MAX_FP_PER_PHOTO,
    RECALL_FLOORS,
    Answer,
    FamilySummary,
    Found,
    PhotoResult,
    RGBImage,
    as_found,
    run_detector,
    score,
    table_rows,
)
from vision.candidates import Candidate, candidates_as_detections, find_candidates
from vision.detect import on_roof

PHOTOS = 5  # per family (the 12 MP family renders its own, smaller count)
WORKERS = 2


def _local(candidates: list[Candidate], pixels: RGBImage) -> Answer:
    """Today's local-only answer, as the service gives it; its candidates are kept in `candidates`."""
    findings = find_candidates(pixels)
    candidates.extend(findings.candidates)
    kept = [d for d in candidates_as_detections(findings.candidates) if on_roof(d.box, findings.roof)]
    return Answer(as_found(kept), findings.scale.pixels_per_foot if findings.scale else None)


def _run_family(name: str, count: int) -> list[tuple[PhotoResult, PhotoResult, PhotoResult | None, float]]:
    """Render a family's photos, run today's local stage on each (its answer and every candidate)
    and the stage as it was before issue 14 (`evaluation.vision.baseline`) on all of them at once."""
    photos, rendered = [], []
    for index in range(count):
        began = time.perf_counter()
        photos.append(render(name, index))
        rendered.append(time.perf_counter() - began)
    out: list[tuple[PhotoResult, PhotoResult, PhotoResult | None, float]] = []
    for photo, render_s in zip(photos, rendered, strict=True):
        candidates: list[Candidate] = []
        answer, seconds, error = run_detector(partial(_local, candidates), photo.pixels)
        reported = score(photo, answer, seconds, error)
        everything = score(photo, Answer(as_found(candidates), answer.pixels_per_foot), seconds, error)
        out.append((reported, everything, None, render_s))
    try:
        before = baseline_stage([p.pixels for p in photos])
    except BaselineUnavailable:
        return out
    return [
        (r, a, score(photo, Answer(tuple(Found(box, kind, 1.0) for kind, box in old))), s)
        for (r, a, _, s), photo, (old, _) in zip(out, photos, before, strict=True)
    ]


def bench_families() -> None:
    names = [*FITTING, *HELD_OUT]
    counts = [min(PHOTOS, FAMILIES[n].photos) for n in names]
    with ProcessPoolExecutor(WORKERS) as pool:
        by_family = dict(zip(names, pool.map(_run_family, names, counts), strict=True))

    print_table(
        "Vision families: render time per photo (native size)",
        ("family", "split", "photos", "size", "render s (median)"),
        [
            (
                n,
                "FIT" if FAMILIES[n].split == "fit" else "HELD-OUT",
                len(by_family[n]),
                "x".join(str(v) for v in FAMILIES[n].sizes[0]) + ("" if len(FAMILIES[n].sizes) == 1 else " ..."),
                fmt(sorted(r for *_, r in by_family[n])[len(by_family[n]) // 2]),
            )
            for n in names
        ],
    )
    reported = [FamilySummary(n, FAMILIES[n].split, tuple(r for r, _, _, _ in by_family[n])) for n in names]
    everything = [FamilySummary(n, FAMILIES[n].split, tuple(a for _, a, _, _ in by_family[n])) for n in names]
    before = [
        FamilySummary(n, FAMILIES[n].split, tuple(b for _, _, b, _ in by_family[n] if b is not None)) for n in names
    ]
    print_table("Vision local stage on the families: the local-only answer", HEADERS, table_rows(reported))
    if any(s.photos for s in before):
        print_table(
            f"The same photos, the local-only answer before issue 14 (commit {BASELINE_COMMIT})",
            HEADERS,
            table_rows(before),
        )
    print_table(
        "Vision local stage on the families: every candidate handed to the model stage",
        HEADERS,
        table_rows(everything),
    )
    held = [s for s in reported if s.split == "held_out"]
    note(
        f"acceptance (held-out families): recall floors {', '.join(f'{k} {v:.0%}' for k, v in RECALL_FLOORS.items())}, "
        f"<= {MAX_FP_PER_PHOTO:g} FP/photo, no duplicates, nothing off the roof, scale within 5%: "
        f"{sum(s.meets_acceptance() for s in held)} of {len(held)} held-out families "
        f"{verdict(all(s.meets_acceptance() for s in held))}"
    )
    for line in (e for s in reported for e in s.errors):
        note(f"the local stage raised on {line}")
    note("a mark is found by a detection of any type (IoU >= 0.1, or its centre in the mark's box grown by half)")
    note("scale truth: pixels per foot at the photo's centre as an area scale; '-' where courses are not visible")


def run() -> None:
    bench_families()
