"""Fit the missing-shingle classifiers (`vision.local.missing`: tab-sized regions unlike the roof,
and gaps in the course lines) on fitting photos only, validate them leaving one group out, and write
them where the function reads them (functions/vision/vision/local/models/missing_region.json and
course_gap.json). Run `python -m evaluation.vision.missing_training --cache /work/cache/families`.

Fitting photos: `evaluation.vision.training.fitting_photos` (the first generator's development
draws and the FITTING families' photos `FAMILY_PHOTOS`; never a HELD_OUT family). Every region and
every gap the detectors propose is a row: positive when it matches a true missing shingle, negative
when it matches no mark at all (one on a hail hit or a crease is neither). One L2 logistic
regression per detector; each detector's operating point is a rate of false readings per fitting
photo (`RATES`), the pair of rates that finds the most missing shingles with at most
`FP_PER_PHOTO` false readings per photo in all, and the score there is folded into the bias, so
that a score of REPORT_SCORE is that operating point.

Validation: the same fit with one group (the first generator, or one family) left out, scored on
that group at the operating point chosen without it: what the classifiers do on a drawing style or
a kind of photo they never saw.
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

from evaluation.vision.scoring import matches
from evaluation.vision.training import FAMILY_PHOTOS, TruthPhoto, fit_logistic, fitting_photos, publish, stage_work
from vision.candidates import REPORT_SCORE
from vision.local.classifier import LogisticModel
from vision.local.courses import course_lines
from vision.local.missing import (
    GAP_FEATURES,
    GAP_MODEL,
    REGION_FEATURES,
    REGION_MODEL,
    Reading,
    appearance_distance,
    course_gaps,
    unlike_regions,
)

F64 = npt.NDArray[np.float64]
FP_PER_PHOTO = 0.35  # false readings per fitting photo, both detectors together, at the operating point
RATES = (0.02, 0.05, 0.1, 0.2, 0.3)  # each detector's share of it to choose from
DETECTORS = {REGION_MODEL: REGION_FEATURES, GAP_MODEL: GAP_FEATURES}


@dataclass
class Rows:
    """One detector's training rows: features, labels, the mark a positive matched, the group."""

    features: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    mark_of: list[tuple[str, int] | None] = field(default_factory=list)
    group: list[str] = field(default_factory=list)


@dataclass
class Fitting:
    """Rows per detector, and per group the photos and the true missing shingles in them."""

    rows: dict[str, Rows] = field(default_factory=lambda: {name: Rows() for name in DETECTORS})
    photos: dict[str, int] = field(default_factory=dict)
    marks: dict[str, set[tuple[str, int]]] = field(default_factory=dict)


def readings_of(photo: TruthPhoto) -> dict[str, list[Reading]]:
    """What each detector proposes on the photo as the local stage sees it (nothing where
    `training.stage_work` gives no work)."""
    work = stage_work(photo)
    if work is None:
        return {name: [] for name in DETECTORS}
    material = appearance_distance(work)
    gaps = course_gaps(work, course_lines(work), material) if work.roof.sum() >= 100 else []
    return {REGION_MODEL: unlike_regions(work, material), GAP_MODEL: gaps}


def add_photo(fitting: Fitting, photo: TruthPhoto) -> None:
    missing = [box for kind, box in photo.marks if kind == "missing_shingle"]
    others = [box for kind, box in photo.marks if kind != "missing_shingle"]
    group = photo.group
    fitting.photos[group] = fitting.photos.get(group, 0) + 1
    fitting.marks.setdefault(group, set()).update((photo.name, i) for i in range(len(missing)))
    for name, readings in readings_of(photo).items():
        rows = fitting.rows[name]
        for box, features in readings:
            hit = next((i for i, mark in enumerate(missing) if matches(box, mark)), None)
            if hit is None and any(matches(box, mark) for mark in others):
                continue
            rows.features.append([features[f] for f in DETECTORS[name]])
            rows.labels.append(int(hit is not None))
            rows.mark_of.append(None if hit is None else (photo.name, hit))
            rows.group.append(group)


def collect(photos: Iterable[TruthPhoto]) -> Fitting:
    fitting = Fitting()
    for photo in photos:
        add_photo(fitting, photo)
    return fitting


@dataclass(frozen=True)
class Fitted:
    mean: F64
    scale: F64
    weights: F64
    bias: float  # logit 0 at the operating point

    def logits(self, x: F64) -> F64:
        return np.asarray(((x - self.mean) / self.scale) @ self.weights + self.bias, np.float64)


def fit(rows: Rows, keep: npt.NDArray[np.bool_], photos: int, rate: float) -> Fitted | None:
    """The logistic fit on the rows `keep`, its bias moved to `rate` false readings per photo."""
    x = np.asarray(rows.features, np.float64)[keep]
    y = np.asarray(rows.labels, np.float64)[keep]
    if len(y) == 0 or y.min() == y.max():
        return None
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    weights, bias = fit_logistic((x - mean) / scale, y)
    logits = ((x - mean) / scale) @ weights + bias
    negatives = np.sort(logits[y == 0])[::-1]
    allowed = int(rate * photos)
    cut = float(negatives[allowed]) + 1e-6 if allowed < len(negatives) else float(logits.min())
    return Fitted(mean, scale, weights, bias - cut)


def found_and_false(fitting: Fitting, fitted: dict[str, Fitted | None], groups: set[str]) -> tuple[int, int, int, int]:
    """(marks found by a reported reading of either detector, marks, false readings, photos) in `groups`."""
    found: set[tuple[str, int]] = set()
    false = 0
    for name, rows in fitting.rows.items():
        model = fitted[name]
        if model is None or not rows.labels:
            continue
        where = np.array([g in groups for g in rows.group])
        reported = where & (model.logits(np.asarray(rows.features, np.float64)) >= 0)
        false += int((reported & (np.asarray(rows.labels) == 0)).sum())
        found |= {m for m, r in zip(rows.mark_of, reported, strict=True) if r and m is not None}
    marks = set().union(*[fitting.marks.get(g, set()) for g in groups])
    return len(found & marks), len(marks), false, sum(fitting.photos.get(g, 0) for g in groups)


def figures(fitting: Fitting, fitted: dict[str, Fitted | None], groups: set[str]) -> str:
    found, marks, false, photos = found_and_false(fitting, fitted, groups)
    return f"{found}/{marks} missing shingles found, {false / max(photos, 1):.2f} false per photo"


def fit_both(fitting: Fitting, groups: set[str]) -> dict[str, Fitted | None]:
    """Both detectors fitted on `groups`, at the pair of rates (`RATES`) that finds the most
    missing shingles there with at most FP_PER_PHOTO false readings per photo in all (the fewer
    false readings on a tie)."""
    photos = sum(fitting.photos.get(g, 0) for g in groups)
    per_rate = {
        name: {rate: fit(rows, np.array([g in groups for g in rows.group], bool), photos, rate) for rate in RATES}
        for name, rows in fitting.rows.items()
    }
    best: tuple[tuple[int, int], dict[str, Fitted | None]] | None = None
    for region_rate in RATES:
        for gap_rate in RATES:
            fitted = {REGION_MODEL: per_rate[REGION_MODEL][region_rate], GAP_MODEL: per_rate[GAP_MODEL][gap_rate]}
            found, _, false, _ = found_and_false(fitting, fitted, groups)
            if false <= FP_PER_PHOTO * photos and (best is None or (found, -false) > best[0]):
                best = ((found, -false), fitted)
    return best[1] if best else {name: per_rate[name][min(RATES)] for name in DETECTORS}


def leave_one_group_out(fitting: Fitting) -> list[str]:
    out = []
    for left in sorted(fitting.photos):
        fitted = fit_both(fitting, set(fitting.photos) - {left})
        out.append(f"left out {left}: {figures(fitting, fitted, {left})}")
    return out


def to_model(name: str, fitted: Fitted, rows: Rows, summary: str) -> LogisticModel:
    return LogisticModel(
        features=DETECTORS[name],
        mean=tuple(float(v) for v in fitted.mean),
        scale=tuple(float(v) for v in fitted.scale),
        weights=tuple(float(v) for v in fitted.weights),
        bias=fitted.bias + math.log(REPORT_SCORE / (1 - REPORT_SCORE)),
        trained_on=f"{name}: {sum(rows.labels)} positive readings of {len(rows.labels)}; {summary}",
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m evaluation.vision.missing_training", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cache", type=Path, help="a folder to keep rendered family photos in")
    parser.add_argument("--dry-run", action="store_true", help="fit and validate, write nothing")
    args = parser.parse_args(argv)
    fitting = collect(fitting_photos(args.cache))
    for line in leave_one_group_out(fitting):
        print(line)
    photos = sum(fitting.photos.values())
    fitted = fit_both(fitting, set(fitting.photos))
    summary = (
        f"{photos} fitting photos (development_set and FITTING families {FAMILY_PHOTOS}); at the operating "
        f"point: {figures(fitting, fitted, set(fitting.photos))}; fitted {datetime.date.today().isoformat()}"
    )
    print(f"all fitting photos: {summary}")
    for name, model_fit in fitted.items():
        if model_fit is None:
            raise SystemExit(f"{name}: no positive and negative rows to fit on")
        publish(name, to_model(name, model_fit, fitting.rows[name], summary), args.dry_run)


if __name__ == "__main__":
    main()
