"""Fit the wind classifiers (wind creases and lifted tabs, `vision.local.wind`) on fitting photos
only, validate them leave-one-group-out, and write them where the function reads them
(functions/vision/vision/local/models/). Run
`python -m evaluation.vision.wind_training --cache /work/cache/families`.

Fitting photos: the first generator's development set (`evaluation.vision.scoring.development_set`)
and the FITTING families' photos `FAMILY_PHOTOS` (the wind family by default; `--families` adds
others, which give negatives). The HELD_OUT families are never read here. Every run the wind
detector proposes (`vision.local.wind.wind_runs`) is a row: positive for the kind of the wind mark it
matches, negative for both when it matches no mark; runs on hail hits or missing shingles are left
out (neither kind's business). One logistic regression per kind (the other kind's runs are its
negatives); then the score at which the fitting photos show at most `FP_PER_PHOTO` false runs of
that kind is folded into the bias, so that a score of REPORT_SCORE is that operating point.

Validation: the same fit with one group left out (the first generator, a whole family, or half of
a family's photos), scored on the group left out at the operating point chosen without it: how the
classifiers do on photos, or a drawing style, they never saw.
"""

from __future__ import annotations

import argparse
import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from evaluation.vision.families import FITTING
from evaluation.vision.scoring import matches
from evaluation.vision.training import TruthPhoto, fit_logistic, publish, stage_work
from evaluation.vision.training import fitting_photos as training_photos
from vision.candidates import REPORT_SCORE
from vision.detections import Box, DamageType
from vision.local.classifier import LogisticModel
from vision.local.courses import course_lines
from vision.local.missing import appearance_distance
from vision.local.wind import FEATURES, MAX_WIND_CANDIDATES, WIND_KINDS, roof_crop, wind_runs
from vision.local.work import Work

F64 = npt.NDArray[np.float64]
FAMILY_PHOTOS = (100, 120)  # indexes of each fitting family's photos used here (evaluation uses 0..)
WIND_FAMILIES = ("wind_storm_laminate",)
FP_PER_PHOTO = 0.05  # false runs per photo per kind at the operating point (strict: see the validation)
FIRST_GENERATOR = "first_generator"


@dataclass
class Rows:
    """Training rows: features, each kind's label, the mark a positive row matched and its group."""

    features: list[list[float]] = field(default_factory=list)
    labels: dict[DamageType, list[int]] = field(default_factory=lambda: {k: [] for k in WIND_KINDS})
    mark_of: list[tuple[str, int] | None] = field(default_factory=list)
    group: list[str] = field(default_factory=list)
    photo: list[str] = field(default_factory=list)
    kind: list[DamageType] = field(default_factory=list)  # the zone (and so the classifier) of the row
    photos: dict[str, int] = field(default_factory=dict)  # per group
    marks: dict[tuple[str, DamageType], set[tuple[str, int]]] = field(default_factory=dict)  # per group and kind


def fitting_photos(cache: Path | None, families: Sequence[str]) -> Iterable[tuple[str, TruthPhoto]]:
    """(group, photo): the first generator's development set, then the families' fitting photos."""
    for photo in training_photos(cache, FAMILY_PHOTOS, families):
        if photo.index is None:
            yield FIRST_GENERATOR, photo
        else:
            # A family's photos in two halves, so that leaving one out still leaves the family's
            # drawing style in the fit (leaving out a whole family tests a style never seen).
            yield f"{photo.group}/{'odd' if photo.index % 2 else 'even'}", photo


def wind_rows(photos: Iterable[tuple[str, TruthPhoto]]) -> Rows:
    rows = Rows()
    for group, photo in photos:
        add_photo(rows, group, photo.name, stage_work(photo), photo.marks)
    return rows


def add_photo(rows: Rows, group: str, name: str, work: Work | None, marks: Sequence[tuple[DamageType, Box]]) -> None:
    """The rows of one photo (`work`: as the local stage sees it; None when it gives no rows:
    `training.stage_work`)."""
    rows.photos[group] = rows.photos.get(group, 0) + 1
    for i, (kind, _) in enumerate(marks):
        if kind in WIND_KINDS:
            rows.marks.setdefault((group, kind), set()).add((name, i))
    if work is None or work.roof.sum() < 100:
        return
    part, maps, (ox, oy) = roof_crop(work, course_lines(work), appearance_distance(work))
    for kind in WIND_KINDS:
        for (x0, y0, x1, y1), feats in wind_runs(part, maps, kind):
            f = work.factor
            box = (round((x0 + ox) / f), round((y0 + oy) / f), round((x1 + ox) / f), round((y1 + oy) / f))
            hit = [i for i, (_, mark) in enumerate(marks) if matches(box, mark)]
            if hit and not any(marks[i][0] == kind for i in hit):
                continue  # on other damage: not this kind's business either way
            own = next((i for i in hit if marks[i][0] == kind), None)
            rows.features.append([feats[n] for n in FEATURES])
            rows.kind.append(kind)
            for k in WIND_KINDS:
                rows.labels[k].append(int(own is not None and k == kind))
            rows.mark_of.append(None if own is None else (name, own))
            rows.group.append(group)
            rows.photo.append(name)


@dataclass(frozen=True)
class Fitted:
    mean: F64
    scale: F64
    weights: F64
    bias: float  # at the operating point: logit 0 there


def fit(rows: Rows, kind: DamageType, keep: npt.NDArray[np.bool_]) -> Fitted:
    """The logistic fit of `kind` on its zone's rows among `keep`, its bias moved to the operating
    point (`FP_PER_PHOTO` false runs per fitting photo)."""
    mine = keep & (np.asarray(rows.kind) == kind)
    x = np.asarray(rows.features, np.float64)[mine]
    y = np.asarray(rows.labels[kind], np.float64)[mine]
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    weights, bias = fit_logistic((x - mean) / scale, y)
    logits = ((x - mean) / scale) @ weights + bias
    photos = sum(rows.photos[g] for g in {g for g, k in zip(rows.group, keep, strict=True) if k})
    negatives = np.sort(logits[y == 0])[::-1]
    allowed = int(FP_PER_PHOTO * photos)
    cut = float(negatives[allowed]) + 1e-6 if allowed < len(negatives) else float(logits.min())
    return Fitted(mean, scale, weights, bias - cut)


def logits_of(fitted: dict[DamageType, Fitted], rows: Rows) -> F64:
    """Each row's logit under its own kind's classifier (0 at the operating point)."""
    x = np.asarray(rows.features, np.float64)
    out = np.zeros(len(rows.kind))
    for kind, f in fitted.items():
        mine = np.asarray(rows.kind) == kind
        out[mine] = ((x[mine] - f.mean) / f.scale) @ f.weights + f.bias
    return out


def figures(rows: Rows, logits: F64, groups: set[str]) -> str:
    """Per kind: marks found by a reported run (logit >= 0) of that kind, and by one of the best
    runs of that kind in its photo the stage proposes (`MAX_WIND_CANDIDATES`); false reported runs
    per photo."""
    where = np.array([g in groups for g in rows.group])
    kinds = np.asarray(rows.kind)
    photos = sum(rows.photos.get(g, 0) for g in groups)
    parts = []
    false = 0
    for kind in WIND_KINDS:
        marks = set().union(*[rows.marks.get((g, kind), set()) for g in groups])
        mine = where & (kinds == kind)
        y = np.asarray(rows.labels[kind], bool)
        reported = mine & (logits >= 0)
        false += int((reported & ~y).sum())
        top = MAX_WIND_CANDIDATES[kind]
        proposed = np.zeros(len(kinds), bool)
        for photo in {p for p, m in zip(rows.photo, mine, strict=True) if m}:
            idx = np.flatnonzero(mine & (np.asarray(rows.photo) == photo))
            proposed[idx[np.argsort(-logits[idx])[:top]]] = True
        found = {m for m, r in zip(rows.mark_of, reported, strict=True) if r and m in marks}
        offered = {m for m, r in zip(rows.mark_of, proposed, strict=True) if r and m in marks}
        reach = {m for m, r in zip(rows.mark_of, mine, strict=True) if r and m in marks}
        parts.append(f"{kind} {len(found)}/{len(marks)} reported, {len(offered)} in top {top}, {len(reach)} reached")
    parts.append(f"false reported {false} on {photos} photos ({false / max(photos, 1):.2f}/photo)")
    return "; ".join(parts)


def leave_one_group_out(rows: Rows) -> list[str]:
    """Fit without each group in turn and score on it: each half of a family, each whole family
    and the first generator."""
    groups = np.asarray(rows.group)
    families = np.asarray([g.split("/")[0] for g in rows.group])
    out = []
    for left in sorted(set(rows.group) | set(families)):
        keep = (groups != left) & (families != left)
        if keep.all() or not keep.any():
            continue
        left_out = {g for g in rows.group if g == left or g.split("/")[0] == left}
        fitted = {k: fit(rows, k, keep) for k in WIND_KINDS}
        out.append(f"left out {left}: {figures(rows, logits_of(fitted, rows), left_out)}")
    return out


def to_model(fitted: Fitted, rows: Rows, kind: DamageType, summary: str) -> LogisticModel:
    bias = fitted.bias + math.log(REPORT_SCORE / (1 - REPORT_SCORE))
    positives = int(sum(rows.labels[kind]))
    runs = sum(1 for k in rows.kind if k == kind)
    return LogisticModel(
        features=FEATURES,
        mean=tuple(float(v) for v in fitted.mean),
        scale=tuple(float(v) for v in fitted.scale),
        weights=tuple(float(v) for v in fitted.weights),
        bias=bias,
        trained_on=f"{kind}: {positives} positive runs of {runs}; {summary}",
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.vision.wind_training", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cache", type=Path, help="a folder to keep rendered family photos in")
    parser.add_argument("--families", nargs="*", default=list(WIND_FAMILIES), choices=list(FITTING))
    parser.add_argument("--dry-run", action="store_true", help="fit and validate, write nothing")
    args = parser.parse_args(argv)
    rows = wind_rows(fitting_photos(args.cache, args.families))
    for line in leave_one_group_out(rows):
        print(line)
    everything = np.ones(len(rows.group), bool)
    fitted = {k: fit(rows, k, everything) for k in WIND_KINDS}
    logits = logits_of(fitted, rows)
    summary = (
        f"{sum(rows.photos.values())} fitting photos (development_set and {', '.join(args.families)} "
        f"{FAMILY_PHOTOS}); at the operating point: {figures(rows, logits, set(rows.group))}; "
        f"fitted {datetime.date.today().isoformat()}"
    )
    print(f"all fitting photos: {summary}")
    for kind, f in fitted.items():
        publish(kind, to_model(f, rows, kind, summary), args.dry_run)


if __name__ == "__main__":
    main()
