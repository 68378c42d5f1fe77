"""How well the local stage finds synthetic damage: recall per type and false positives per photo.

Matching: a candidate *matches* a truth mark when their boxes overlap with IoU >= `MATCH_IOU` (0.1),
or when the candidate's centre lies inside the mark's box grown by half its width and height on
each side (a hit boxed loosely, or a missing tab found by one of its corners, still counts: the
model stage and the adjuster look at the spot, not the box's edges). A mark is *found* when any
candidate matches it, whatever type the candidate guessed (`type_right` says how often the guess
of the best-scoring match was right). A candidate that matches no mark is a false positive;
several candidates on one mark are duplicates, not false positives.

Three sets, one distribution (`evaluation.vision.synthetic.standard_set()`'s specs) with different seeds:
`development_set()` (seeds + 500), on which every weight and threshold of `vision.candidates` is
fitted; the standard set itself, the *test* set, whose seeds are never used for tuning; and
`held_out_set()` (seeds + 1000), a second untouched draw the bench reports.

Two operating points are scored: the candidates the local-only answer reports (score >=
`REPORT_SCORE`), which the acceptance target is about, and all candidates handed to the model stage.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from evaluation.vision.synthetic import Mark, PhotoSpec, SyntheticPhoto, standard_set
from vision.candidates import REPORT_SCORE, Candidate
from vision.detections import Box, DamageType, iou

MATCH_IOU = 0.1
DEVELOPMENT_SEED_SHIFT = 500
HELD_OUT_SEED_SHIFT = 1000
GROW = 0.5  # a mark's box grown by this fraction of its size on each side, for centre matching


def matches(candidate: Box, mark: Box) -> bool:
    if iou(candidate, mark) >= MATCH_IOU:
        return True
    cx, cy = (candidate[0] + candidate[2]) / 2, (candidate[1] + candidate[3]) / 2
    dx, dy = (mark[2] - mark[0]) * GROW, (mark[3] - mark[1]) * GROW
    return mark[0] - dx <= cx <= mark[2] + dx and mark[1] - dy <= cy <= mark[3] + dy


@dataclass(frozen=True)
class PhotoScore:
    photo: str
    marks: tuple[tuple[DamageType, bool, bool], ...]  # (type, found, type guessed right)
    false_positives: int
    candidates: int


def score_photo(photo: SyntheticPhoto, candidates: Sequence[Candidate], min_score: float = REPORT_SCORE) -> PhotoScore:
    kept = [c for c in candidates if c.score >= min_score]
    results: list[tuple[DamageType, bool, bool]] = []
    for mark in photo.marks:
        hits = sorted((c for c in kept if matches(c.box, mark.box)), key=lambda c: -c.score)
        results.append((mark.type, bool(hits), bool(hits) and hits[0].kind == mark.type))
    false_positives = sum(not any(matches(c.box, m.box) for m in photo.marks) for c in kept)
    return PhotoScore(photo.spec.name, tuple(results), false_positives, len(kept))


def _marks_of(photo: SyntheticPhoto, kind: DamageType) -> list[Mark]:
    return [m for m in photo.marks if m.type == kind]


@dataclass(frozen=True)
class Summary:
    photos: int
    recall: dict[DamageType, tuple[int, int]]  # type -> (found, present)
    type_right: float  # of the found marks, the share whose best match guessed the type
    false_positives: int
    candidates: int
    label: str = "reported"

    @property
    def overall_recall(self) -> float:
        found = sum(f for f, _ in self.recall.values())
        present = sum(n for _, n in self.recall.values())
        return found / present if present else 1.0

    def recall_of(self, kind: DamageType) -> float:
        found, present = self.recall.get(kind, (0, 0))
        return found / present if present else 1.0

    @property
    def fp_per_photo(self) -> float:
        return self.false_positives / self.photos if self.photos else 0.0

    def lines(self) -> list[str]:
        per_type = ", ".join(f"{kind} {f}/{n} ({f / n:.0%})" for kind, (f, n) in sorted(self.recall.items()) if n)
        return [
            f"{self.label} candidates on {self.photos} photos: recall {self.overall_recall:.1%} ({per_type})",
            f"{self.label}: false positives per photo {self.fp_per_photo:.2f} "
            f"({self.false_positives} of {self.candidates} candidates), type right on {self.type_right:.0%} of finds",
        ]


def summarize(scores: Sequence[PhotoScore], label: str = "reported") -> Summary:
    recall: dict[DamageType, tuple[int, int]] = {}
    right = found_total = 0
    for photo in scores:
        for kind, found, type_ok in photo.marks:
            f, n = recall.get(kind, (0, 0))
            recall[kind] = (f + found, n + 1)
            found_total += found
            right += type_ok
    return Summary(
        photos=len(scores),
        recall=recall,
        type_right=right / found_total if found_total else 1.0,
        false_positives=sum(s.false_positives for s in scores),
        candidates=sum(s.candidates for s in scores),
        label=label,
    )


def development_set() -> list[PhotoSpec]:
    """The tuning set: the standard set's 16 specs with other seeds. Tune on this, never on the test set."""
    return [dataclasses.replace(spec, seed=spec.seed + DEVELOPMENT_SEED_SHIFT) for spec in standard_set()]


def held_out_set() -> list[PhotoSpec]:
    """A second untouched draw of the standard set's specs, for the bench."""
    return [dataclasses.replace(spec, seed=spec.seed + HELD_OUT_SEED_SHIFT) for spec in standard_set()]
