"""Scoring any detector on the families: recall per damage type, false positives, duplicates,
detections off the roof and the error of its metric scale, per family, tagged FIT or HELD-OUT.

A detector is a function from a photo's pixels to an `Answer`: the boxes it found with their types
(and scores), and optionally its estimate of pixels per foot at the photo's centre. It never sees
the truth. `local_stage` is today's local OpenCV stage as such a detector.

Matching is `evaluation.vision.scoring.matches` (IoU >= 0.1, or the detection's centre inside the
mark's box grown by half its size). Each detection that matches a mark is assigned to one mark (the
one it overlaps most, then the nearest), and:
- a mark is *found* when any detection matches it, whatever the type (`typed` counts the finds
  whose assigned detections include the right type);
- a *duplicate* is every detection beyond the first assigned to one mark (a large hit boxed twice);
- a *false positive* is a detection that matches no mark;
- *off roof* counts detections whose box centre is off the true roof mask (sky, gutter, wall...),
  whether or not they match a mark;
- the *scale error* is |estimate - truth| / truth of pixels per foot at the centre, on photos whose
  courses are visible (truth: the area scale, `PlaneScale.pixels_per_foot`).

`python -m evaluation.vision.families.evaluate` prints the table for today's local stage.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import pickle
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt

from evaluation.vision.families.catalogue import FAMILIES, FITTING, HELD_OUT
from evaluation.vision.families.render import render
from evaluation.vision.families.truth import RoofPhoto
from evaluation.vision.scoring import matches
from vision.detections import Box, DamageType, iou

RGBImage = npt.NDArray[np.uint8]
TYPES: tuple[DamageType, ...] = ("hail_hit", "missing_shingle", "lifted_tab", "wind_crease")

# The acceptance of issue 14, per held-out family: recall floors per type and the most false
# positives per photo; duplicates and detections off the roof must be none.
RECALL_FLOORS: dict[DamageType, float] = {
    "hail_hit": 0.9,
    "missing_shingle": 0.8,
    "lifted_tab": 0.8,
    "wind_crease": 0.6,
}
MAX_FP_PER_PHOTO = 1.0
SCALE_TOLERANCE = 0.05


@dataclass(frozen=True)
class Found:
    """One detection as the scorer sees it."""

    box: Box
    type: DamageType
    score: float = 1.0


@dataclass(frozen=True)
class Answer:
    found: tuple[Found, ...]
    pixels_per_foot: float | None = None  # the detector's scale at the photo's centre, if it has one


Detector = Callable[[RGBImage], Answer]


def as_found(items: Iterable[object]) -> tuple[Found, ...]:
    """Detections (`vision.detections.Detection`: box, type, confidence) or candidates
    (`vision.candidates.Candidate`: box, kind, score) as `Found`."""
    out = []
    for item in items:
        kind = cast(DamageType, getattr(item, "type", None) or getattr(item, "kind", "other"))
        score = getattr(item, "confidence", getattr(item, "score", 1.0))
        x0, y0, x1, y1 = getattr(item, "box", (0, 0, 0, 0))
        out.append(Found((int(x0), int(y0), int(x1), int(y1)), kind, float(score)))
    return tuple(out)


def local_stage(pixels: RGBImage) -> Answer:
    """Today's local-only answer: `find_candidates`, then `candidates_as_detections` (the reported
    candidates, merged); the scale from the course period."""
    from vision.candidates import candidates_as_detections, find_candidates
    from vision.detect import on_roof

    findings = find_candidates(pixels)
    kept = [d for d in candidates_as_detections(findings.candidates) if on_roof(d.box, findings.roof)]
    scale = findings.scale.pixels_per_foot if findings.scale is not None else None
    return Answer(as_found(kept), scale)


def local_candidates(pixels: RGBImage) -> Answer:
    """Every candidate the local stage hands to the model stage (recall ceiling of the two stages)."""
    from vision.candidates import find_candidates

    return Answer(as_found(find_candidates(pixels).candidates))


@dataclass(frozen=True)
class PhotoResult:
    photo: str
    marks: tuple[tuple[DamageType, bool, bool], ...]  # (type, found, a right-typed detection found it)
    detections: int
    false_positives: int
    duplicates: int
    off_roof: int
    scale_error: float | None
    seconds: float
    error: str | None = None  # the detector raised this (scored as finding nothing)


def run_detector(detector: Detector, pixels: RGBImage) -> tuple[Answer, float, str | None]:
    """(answer, seconds, error): a detector that raises is scored as one that found nothing, and
    the error is kept, so one bad photo does not hide a family's figures."""
    began = time.perf_counter()
    try:
        answer = detector(pixels)
    except Exception as exc:
        return Answer(()), time.perf_counter() - began, f"{type(exc).__name__}: {exc}"
    return answer, time.perf_counter() - began, None


def score(photo: RoofPhoto, answer: Answer, seconds: float = 0.0, error: str | None = None) -> PhotoResult:
    marks = photo.marks
    assigned: list[list[Found]] = [[] for _ in marks]
    false_positives = off_roof = 0
    h, w = photo.roof.shape
    for det in answer.found:
        cx = min(w - 1, max(0, (det.box[0] + det.box[2]) // 2))
        cy = min(h - 1, max(0, (det.box[1] + det.box[3]) // 2))
        off_roof += not bool(photo.roof[cy, cx])
        hits = [i for i, m in enumerate(marks) if matches(det.box, m.box)]
        if not hits:
            false_positives += 1
            continue
        best = max(hits, key=lambda i: (iou(det.box, marks[i].box), -_centre_distance(det.box, marks[i].box)))
        assigned[best].append(det)
    found = [
        (m.type, any(matches(d.box, m.box) for d in answer.found), any(d.type == m.type for d in assigned[i]))
        for i, m in enumerate(marks)
    ]
    truth = photo.pixels_per_foot
    scale_error = None
    if answer.pixels_per_foot is not None and photo.courses_visible and math.isfinite(truth):
        scale_error = abs(answer.pixels_per_foot - truth) / truth
    return PhotoResult(
        photo=photo.name,
        marks=tuple(found),
        detections=len(answer.found),
        false_positives=false_positives,
        duplicates=sum(max(0, len(a) - 1) for a in assigned),
        off_roof=off_roof,
        scale_error=scale_error,
        seconds=seconds,
        error=error,
    )


def _centre_distance(a: Box, b: Box) -> float:
    return math.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)


@dataclass(frozen=True)
class FamilySummary:
    family: str
    split: str
    results: tuple[PhotoResult, ...] = field(repr=False)

    @property
    def photos(self) -> int:
        return len(self.results)

    def present(self, kind: DamageType) -> int:
        return sum(1 for r in self.results for t, _, _ in r.marks if t == kind)

    def found(self, kind: DamageType) -> int:
        return sum(1 for r in self.results for t, f, _ in r.marks if t == kind and f)

    def typed(self, kind: DamageType) -> int:
        return sum(1 for r in self.results for t, f, right in r.marks if t == kind and f and right)

    def recall(self, kind: DamageType) -> float | None:
        n = self.present(kind)
        return self.found(kind) / n if n else None

    @property
    def false_positives(self) -> int:
        return sum(r.false_positives for r in self.results)

    @property
    def fp_per_photo(self) -> float:
        return self.false_positives / self.photos if self.photos else 0.0

    @property
    def duplicates(self) -> int:
        return sum(r.duplicates for r in self.results)

    @property
    def off_roof(self) -> int:
        return sum(r.off_roof for r in self.results)

    @property
    def scale_errors(self) -> list[float]:
        return [r.scale_error for r in self.results if r.scale_error is not None]

    @property
    def errors(self) -> list[str]:
        return [f"{r.photo}: {r.error}" for r in self.results if r.error]

    @property
    def seconds_per_photo(self) -> float:
        return sum(r.seconds for r in self.results) / self.photos if self.photos else 0.0

    def meets_acceptance(self) -> bool:
        """Issue 14's acceptance on this family (only meaningful for held-out families)."""
        for kind, floor in RECALL_FLOORS.items():
            r = self.recall(kind)
            if r is not None and r < floor:
                return False
        errors = self.scale_errors
        scale_ok = all(e <= SCALE_TOLERANCE for e in errors)
        clean = self.duplicates == 0 and self.off_roof == 0 and not self.errors
        return self.fp_per_photo <= MAX_FP_PER_PHOTO and clean and scale_ok


def evaluate_family(
    name: str,
    detector: Detector,
    photos: int | None = None,
    size: tuple[int, int] | None = None,
    cache: Path | None = None,
    start: int = 0,
) -> FamilySummary:
    """Render (or load from `cache`) the family's photos `start`.. and score the detector on them."""
    family = FAMILIES[name]
    results = []
    for index in range(start, start + (family.photos if photos is None else photos)):
        photo = cached_render(name, index, size, cache)
        answer, seconds, error = run_detector(detector, photo.pixels)
        results.append(score(photo, answer, seconds, error))
    return FamilySummary(name, family.split, tuple(results))


def evaluate(
    detector: Detector,
    families: Sequence[str] | None = None,
    photos: int | None = None,
    size: tuple[int, int] | None = None,
    cache: Path | None = None,
) -> list[FamilySummary]:
    """Every family (fitting ones first), or the named ones."""
    return [evaluate_family(n, detector, photos, size, cache) for n in (families or (*FITTING, *HELD_OUT))]


def generator_version() -> str:
    """A hash of the generator's own source: a cache of rendered photos is valid only for it."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        if path.name != "evaluate.py":
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def cached_render(name: str, index: int, size: tuple[int, int] | None, cache: Path | None) -> RoofPhoto:
    """`render(name, index, size)`, kept in `cache` (a folder) when given: rendering a family takes
    seconds per photo, and a detector is scored on the same photos many times."""
    if cache is None:
        return render(name, index, size)
    tag = f"{size[0]}x{size[1]}" if size else "native"
    path = cache / generator_version() / f"{name}-{index}-{tag}.pickle"
    if path.exists():
        with path.open("rb") as handle:
            loaded = pickle.load(handle)  # noqa: S301 - our own cache, written below
        if isinstance(loaded, RoofPhoto):
            return loaded
    photo = render(name, index, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("wb") as handle:
        pickle.dump(photo, handle, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return photo


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def table_rows(summaries: Sequence[FamilySummary]) -> list[tuple[str, ...]]:
    rows = []
    for s in summaries:
        errors = s.scale_errors
        scale = (
            f"{statistics.median(errors):.1%} / {sum(e <= SCALE_TOLERANCE for e in errors)}of{len(errors)}"
            if errors
            else "-"
        )
        recalls = [f"{_pct(s.recall(k))} ({s.found(k)}/{s.present(k)})" if s.present(k) else "-" for k in TYPES]
        rows.append(
            (
                s.family,
                "FIT" if s.split == "fit" else "HELD-OUT",
                str(s.photos),
                *recalls,
                f"{s.fp_per_photo:.2f}",
                str(s.duplicates),
                str(s.off_roof),
                scale,
                f"{s.seconds_per_photo:.2f}",
                str(len(s.errors)),
                ("PASS" if s.meets_acceptance() else "MISS") if s.split == "held_out" else "-",
            )
        )
    return rows


HEADERS = (
    "family",
    "split",
    "photos",
    "hail",
    "missing",
    "lifted",
    "crease",
    "FP/photo",
    "dup",
    "off roof",
    "scale err (median / within 5%)",
    "s/photo",
    "errors",
    "acceptance",
)


def format_table(summaries: Sequence[FamilySummary]) -> str:
    cells = [list(HEADERS), *[list(r) for r in table_rows(summaries)]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADERS))]
    lines = [
        "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))])
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.vision.families.evaluate", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--families", nargs="*", choices=list(FAMILIES), help="default: all")
    parser.add_argument("--photos", type=int, help="photos per family (default: each family's own count)")
    parser.add_argument("--candidates", action="store_true", help="score every candidate, not the local answer")
    parser.add_argument("--cache", type=Path, help="a folder to keep rendered photos in")
    args = parser.parse_args(argv)
    detector = local_candidates if args.candidates else local_stage
    summaries = evaluate(detector, args.families, args.photos, cache=args.cache)
    print(format_table(summaries))
    for line in (e for s in summaries for e in s.errors):
        print(f"detector error on {line}")


if __name__ == "__main__":
    main()
