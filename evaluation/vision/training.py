"""Fit the local stage's classifiers on the fitting photos only, and write them where the function
reads them (functions/vision/vision/local/models/). Run `python -m evaluation.vision.training
[cache folder] [--patch-net]`: the hail classifier below (the same file on every rerun); with
`--patch-net` also the hail patch net experiment (`evaluation.vision.hail_cnn`, which compares the
two family by family).

Fitting photos: the development draws of the first generator (`evaluation.vision.scoring.
development_set`) and the FITTING families of the second (`evaluation.vision.families`, photos
`FAMILY_PHOTOS[0]` to `FAMILY_PHOTOS[1] - 1` of each, past the indexes the evaluation renders; for
the hail classifier, which has many rows to learn from, `HAIL_PHOTOS`); the
HELD_OUT families are never read here. Every dark spot the hail detector proposes (vision.local.hail.spot_candidates)
is a training row: a hit when it matches a true hail mark, not one when it matches no true mark of
any kind (spots on other damage are left out: a missing tab's corner is neither). The recipe
`HAIL_SHIPPED` of `HAIL_RECIPES` is fitted: a logistic regression (L2, Newton's method) over
standardised features, or boosted trees (evaluation.vision.boosting); then the score at which the
fitting photos show at most `FITTING_FP_PER_PHOTO` false spots is folded into the bias, so that a
score of REPORT_SCORE is that operating point. The file keeps `CHECK_ROWS` of the rows with the
scores the fit gave them (tests check the function's evaluator reproduces them).

Which recipe ships is decided leaving one fitting family out (`python -m evaluation.vision.
hail_lofo /work/cache/families`, 2026-12-03, on the stage with the survey of main 62eed65): recall
at 0.5 and 1 false spot per photo of the family held aside, all nine groups together: logistic
0.638 and 0.668, boosted trees (100 of depth 2) 0.617 and 0.657, the blend (0.7 of the logistic's
logit, 0.3 of the trees') 0.653 and 0.675: the blend ships. Without log_z_rel (`--drop log_z_rel`):
logistic 0.598 and 0.641, trees 0.555 and 0.592, blend 0.614 and 0.642. Trees alone fit the
fitting families' own quirks, and a new family's spots are shifted from them. (On the rows of
earlier stages the order was the same but for trees against blend: within three hits.)
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from evaluation.vision.boosting import BoostingParams, fit_boosted
from evaluation.vision.families import FITTING
from evaluation.vision.families.evaluate import cached_render
from evaluation.vision.scoring import development_set, matches
from evaluation.vision.synthetic import render
from vision.candidates import REPORT_SCORE
from vision.detections import Box, DamageType
from vision.local.classifier import MODELS, Blend, BoostedTrees, LogisticModel
from vision.local.hail import HAIL_FEATURES, HAIL_MODEL, SpotReading, amid_other_material, spot_candidates
from vision.local.missing import appearance_distance
from vision.local.roof import estimate_roof
from vision.local.scale import course_scale
from vision.local.stage import work_of
from vision.local.work import Work

DEVELOPMENT_SET = "development_set"  # the group of the first generator's development draws
FAMILY_PHOTOS = (100, 112)  # indexes of each fitting family's photos used here (evaluation uses 0..)
HAIL_PHOTOS = (100, 124)  # the hail classifier's: hits are many, so more photos than the other fits
FITTING_FP_PER_PHOTO = 0.5  # half the acceptance's one per photo: held-out photos are harder
L2 = 1.0
HAIL_SHIPPED = "blend"  # the recipe of HAIL_RECIPES that wins leaving one fitting family out
BLEND_LOGISTIC = 0.7  # the blend's weight on the logistic's logit (the trees' is the rest)
CHECK_ROWS = 24  # rows kept in the model file with their fitted scores
F64s = npt.NDArray[np.float64]
HailModel = LogisticModel | BoostedTrees | Blend


@dataclass(frozen=True)
class TruthPhoto:
    name: str
    pixels: npt.NDArray[np.uint8]
    marks: Sequence[tuple[DamageType, Box]]
    group: str = DEVELOPMENT_SET  # the FITTING family, or the first generator's development set
    index: int | None = None  # the photo's index in its family (None: the first generator's)


def fitting_photos(
    cache: Path | None = None, photos: tuple[int, int] = FAMILY_PHOTOS, families: Sequence[str] = FITTING
) -> Iterable[TruthPhoto]:
    """The first generator's development draws, then photos `photos` of each of `families`, which
    must all be FITTING families (held-out families are never fitted on)."""
    held_out = [family for family in families if family not in FITTING]
    if held_out:
        raise ValueError(f"not FITTING families: {', '.join(held_out)}")
    for spec in development_set():
        photo = render(spec)
        yield TruthPhoto(spec.name, photo.pixels, [(m.type, m.box) for m in photo.marks])
    for family in families:
        for index in range(*photos):
            shot = cached_render(family, index, None, cache)
            marks = [(m.type, m.box) for m in shot.marks]
            yield TruthPhoto(f"{family}-{index}", shot.pixels, marks, family, index)


def stage_work(photo: TruthPhoto) -> Work | None:
    """The photo as the local stage works on it; None when the courses give no scale (the stage
    then sees no roof). (Leaving out the photos whose scale the stage reads far off the truth was
    tried: the classifiers then learnt fewer hard negatives and reported more false spots on the
    held-out families, so every photo the stage reads stays in.)"""
    scale = course_scale(photo.pixels)
    if scale is None:
        return None
    return work_of(photo.pixels, estimate_roof(photo.pixels, scale), scale)


def labelled_spots(photo: TruthPhoto) -> tuple[Work, list[tuple[SpotReading, int | None]]] | None:
    """The photo as the local stage works on it and every dark spot the hail detector proposes,
    with the index of the true hail hit it matches among the photo's hail marks (None: a false
    spot). Spots on other damage are left out: a missing tab's corner is neither; so are spots amid
    another material, which the stage never judges (hail.amid_other_material). None when
    `stage_work` gives none."""
    hail = [box for kind, box in photo.marks if kind == "hail_hit"]
    others = [box for kind, box in photo.marks if kind != "hail_hit"]
    work = stage_work(photo)
    if work is None:
        return None
    material = appearance_distance(work)
    labelled = []
    for spot in spot_candidates(work):
        hit = next((i for i, mark in enumerate(hail) if matches(spot.box, mark)), None)
        if hit is None and any(matches(spot.box, mark) for mark in others):
            continue
        if amid_other_material(work, material, spot.box):
            continue
        labelled.append((spot, hit))
    return work, labelled


@dataclass
class Rows:
    features: list[list[float]]
    labels: list[int]
    mark_of: list[tuple[int, int] | None]  # (photo, mark index) a positive row found
    photos: int = 0
    marks: int = 0


def hail_rows(photos: Iterable[TruthPhoto], names: Sequence[str]) -> Rows:
    rows = Rows([], [], [])
    for index, photo in enumerate(photos):
        rows.photos += 1
        rows.marks += sum(kind == "hail_hit" for kind, _ in photo.marks)
        labelled = labelled_spots(photo)
        for spot, hit in labelled[1] if labelled else []:
            rows.features.append([spot.features[n] for n in names])
            rows.labels.append(int(hit is not None))
            rows.mark_of.append(None if hit is None else (index, hit))
    return rows


def fit_logistic(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], float]:
    """Weights and bias of an L2-regularised logistic regression (Newton's method)."""
    n, d = x.shape
    design = np.column_stack([x, np.ones(n)])
    beta = np.zeros(d + 1)
    penalty = np.diag([L2] * d + [0.0])
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ beta, -40, 40)))
        gradient = design.T @ (p - y) + penalty @ beta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + penalty + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if float(np.abs(step).max()) < 1e-8:
            break
    return beta[:d], float(beta[d])


def operating_logit(logits: npt.NDArray[np.float64], rows: Rows) -> float:
    """The lowest logit at which the fitting photos show at most FITTING_FP_PER_PHOTO false spots."""
    labels = np.asarray(rows.labels)
    negatives = np.sort(logits[labels == 0])[::-1]
    allowed = int(FITTING_FP_PER_PHOTO * rows.photos)
    return float(negatives[allowed]) + 1e-6 if allowed < len(negatives) else float(logits.min())


def fit_logistic_model(x: F64s, y: F64s, names: Sequence[str]) -> tuple[HailModel, F64s]:
    """A logistic model over standardised `x` and its logits on `x` (computed here, not by the model)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    weights, bias = fit_logistic((x - mean) / scale, y)
    model = LogisticModel(
        tuple(names), tuple(map(float, mean)), tuple(map(float, scale)), tuple(map(float, weights)), bias, ""
    )
    return model, ((x - mean) / scale) @ weights + bias


def fit_boosted_model(x: F64s, y: F64s, names: Sequence[str]) -> tuple[HailModel, F64s]:
    """Boosted trees on `x` and their logits on `x` (found through the fitter's bins)."""
    trees, base, logits = fit_boosted(x, y, BoostingParams(trees=100, depth=2, leaf_l2=10.0, min_hessian=10.0))
    return BoostedTrees(tuple(names), tuple(trees), base, ""), logits


def fit_blend_model(x: F64s, y: F64s, names: Sequence[str]) -> tuple[HailModel, F64s]:
    """The logistic and the boosted trees, their logits weighted BLEND_LOGISTIC and the rest: the
    logistic's smooth trend carries to new families, the trees add what it cannot bend to."""
    logistic, logistic_logits = fit_logistic_model(x, y, names)
    trees, tree_logits = fit_boosted_model(x, y, names)
    assert isinstance(logistic, LogisticModel)
    assert isinstance(trees, BoostedTrees)
    parts = ((BLEND_LOGISTIC, logistic), (1.0 - BLEND_LOGISTIC, trees))
    return Blend(tuple(names), parts, 0.0, ""), BLEND_LOGISTIC * logistic_logits + (1.0 - BLEND_LOGISTIC) * tree_logits


HailRecipe = Callable[[F64s, F64s, Sequence[str]], tuple[HailModel, F64s]]  # (x, y, names) -> model, logits on x
HAIL_RECIPES: dict[str, HailRecipe] = {
    "logistic": fit_logistic_model,
    "boosted_trees": fit_boosted_model,
    "blend": fit_blend_model,
}


def with_operating_point(model: HailModel, shift: float, summary: str) -> HailModel:
    """The model with `shift` added to its logit and what it was trained on."""
    if isinstance(model, LogisticModel):
        return LogisticModel(model.features, model.mean, model.scale, model.weights, model.bias + shift, summary)
    if isinstance(model, Blend):
        return Blend(model.features, model.parts, model.bias + shift, summary)
    return BoostedTrees(model.features, model.trees, model.bias + shift, summary)


def train_hail(cache: Path | None = None) -> tuple[HailModel, dict[str, object]]:
    """The shipped hail classifier and the rows its file keeps to check the evaluator by."""
    names = HAIL_FEATURES
    rows = hail_rows(fitting_photos(cache, HAIL_PHOTOS), names)
    x = np.asarray(rows.features, np.float64)
    y = np.asarray(rows.labels, np.float64)
    fitted, logits = HAIL_RECIPES[HAIL_SHIPPED](x, y, names)
    cut = operating_logit(logits, rows)
    shift = math.log(REPORT_SCORE / (1 - REPORT_SCORE)) - cut
    found = {m for m, logit in zip(rows.mark_of, logits, strict=True) if m is not None and logit >= cut}
    false = int(((logits >= cut) & (y == 0)).sum())
    summary = (
        f"{HAIL_SHIPPED}: {rows.photos} fitting photos (development_set and FITTING families {HAIL_PHOTOS}), "
        f"{len(y)} spots ({int(y.sum())} on hits); at the operating point ({FITTING_FP_PER_PHOTO} false spots "
        f"per photo) {len(found)} of {rows.marks} hits found, {false} false spots"
    )
    # Half the check rows spread over all, half over the top (round the operating point).
    order = np.argsort(logits, kind="stable")
    spread = np.linspace(0, len(y) - 1, CHECK_ROWS // 2).round().astype(int)
    top = np.linspace(max(0, len(y) - 4 * int(y.sum())), len(y) - 1, CHECK_ROWS - CHECK_ROWS // 2).round()
    check = order[np.concatenate([spread, top.astype(int)])]
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits[check] + shift, -40, 40)))
    return with_operating_point(fitted, shift, summary), {
        "rows": x[check].tolist(),
        "scores": scores.tolist(),
    }


def publish(name: str, model: LogisticModel, dry_run: bool = False) -> None:
    """Print the model's weights, largest first, and (unless `dry_run`) write it where the function
    reads it (models/<name>.json)."""
    for feature, weight in sorted(zip(model.features, model.weights, strict=True), key=lambda p: -abs(p[1])):
        print(f"  {name} {feature:>15} {weight:+.3f}")
    if not dry_run:
        path = MODELS / f"{name}.json"
        path.write_text(json.dumps(model.to_json(), indent=2) + "\n")
        print(f"wrote {path}")


def main() -> None:
    folders = [a for a in sys.argv[1:] if not a.startswith("--")]
    cache = Path(folders[0]) if folders else None  # a folder to keep rendered family photos in
    model, check = train_hail(cache)
    path = MODELS / f"{HAIL_MODEL}.json"
    path.write_text(json.dumps({**model.to_json(), "check": check}, indent=2) + "\n")
    print(f"wrote {path}: {model.trained_on}")
    logistic = model.parts[0][1] if isinstance(model, Blend) else model
    if isinstance(logistic, LogisticModel):
        for name, weight in sorted(zip(logistic.features, logistic.weights, strict=True), key=lambda p: -abs(p[1])):
            print(f"  {name:>16} {weight:+.3f}")
    if "--patch-net" in sys.argv:  # the patch net experiment, compared with the above (torch needed)
        from evaluation.vision import hail_cnn  # imported here: it imports this module's helpers

        hail_cnn.main([str(cache)] if cache else [])


if __name__ == "__main__":
    main()
