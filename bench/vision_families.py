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

from bench.common import fmt, note, print_table, verdict
from evaluation.vision.families import FAMILIES, FITTING, HELD_OUT, render
from evaluation.vision.families.evaluate import (
    HEADERS,
    MAX_FP_PER_PHOTO,
    RECALL_FLOORS,
    Answer,
    FamilySummary,
    PhotoResult,
    RGBImage,
    as_found,
    run_detector,
    score,
    table_rows,
)
from vision.candidates import Candidate, candidates_as_detections, course_scale, find_candidates

PHOTOS = 5  # per family (the 12 MP family renders its own, smaller count)
WORKERS = 2


def _run(name: str, index: int) -> tuple[PhotoResult, PhotoResult, float]:
    """Render one photo, run today's local stage once, score its answer and all its candidates."""
    began = time.perf_counter()
    photo = render(name, index)
    rendered = time.perf_counter() - began
    candidates: list[Candidate] = []

    def local(pixels: RGBImage) -> Answer:
        candidates.extend(find_candidates(pixels))
        scale = course_scale(pixels)
        return Answer(as_found(candidates_as_detections(candidates)), scale.ppi * 12.0 if scale else None)

    answer, seconds, error = run_detector(local, photo.pixels)
    reported = score(photo, answer, seconds, error)
    everything = score(photo, Answer(as_found(candidates), answer.pixels_per_foot), seconds, error)
    return reported, everything, rendered


def bench_families() -> None:
    names = [*FITTING, *HELD_OUT]
    jobs = [(n, i) for n in names for i in range(min(PHOTOS, FAMILIES[n].photos))]
    with ProcessPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(_run, *zip(*jobs, strict=True)))
    by_family: dict[str, list[tuple[PhotoResult, PhotoResult, float]]] = {n: [] for n in names}
    for (name, _), outcome in zip(jobs, outcomes, strict=True):
        by_family[name].append(outcome)

    print_table(
        "Vision families: render time per photo (native size)",
        ("family", "split", "photos", "size", "render s (median)"),
        [
            (
                n,
                "FIT" if FAMILIES[n].split == "fit" else "HELD-OUT",
                len(by_family[n]),
                "x".join(str(v) for v in FAMILIES[n].sizes[0]) + ("" if len(FAMILIES[n].sizes) == 1 else " ..."),
                fmt(sorted(r for _, _, r in by_family[n])[len(by_family[n]) // 2]),
            )
            for n in names
        ],
    )
    reported = [FamilySummary(n, FAMILIES[n].split, tuple(r for r, _, _ in by_family[n])) for n in names]
    everything = [FamilySummary(n, FAMILIES[n].split, tuple(a for _, a, _ in by_family[n])) for n in names]
    print_table("Vision local stage on the families: the local-only answer", HEADERS, table_rows(reported))
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
