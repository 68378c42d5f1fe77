"""Leave one fitting family out: how well a hail classifier recipe judges the spots of a family it
was not fitted on. Run `python -m evaluation.vision.hail_lofo /work/cache/families`.

Rows: every dark spot the hail detector proposes on the fitting photos (`training.fitting_photos`,
labelled by `training.labelled_spots`), grouped by FITTING family (the first generator's
development draws are one more group). Each group is held aside in turn, the recipe fitted on the
others, and the held group's spots scored. Reported per group:

- `reach`: the share of its hail marks that some spot matches (what any classifier can find);
- `r@0.5`, `r@1`: recall (hail marks with a spot scored at or above the cut, over all its marks)
  at the cut that leaves 0.5 and 1 false spots per photo of that group: how well the recipe ranks
  a new family's spots, whatever its calibration;
- `op recall`, `op FP`: recall and false spots per photo at the operating point chosen on the other
  groups (`FITTING_FP_PER_PHOTO` there), as the shipped model would be cut: calibration too.

`all` adds the groups up (each at its own cut for r@0.5 and r@1). `--drop log_z_rel` compares
the recipes without a feature.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from evaluation.vision.training import (
    FITTING_FP_PER_PHOTO,
    HAIL_PHOTOS,
    HAIL_RECIPES,
    HailRecipe,
    fitting_photos,
    labelled_spots,
)
from vision.local.hail import HAIL_FEATURES

F64s = npt.NDArray[np.float64]
Recipe = Callable[[F64s, F64s], Callable[[F64s], F64s]]  # (train x, train y) -> logits of new rows
FP_RATES = (0.5, 1.0)


@dataclass(frozen=True)
class SpotTable:
    """The fitting spots as arrays: one row per spot."""

    x: F64s  # features, columns in `names` order
    names: tuple[str, ...]
    labels: npt.NDArray[np.int8]  # 1 on a hail hit
    mark: npt.NDArray[np.int64]  # the hail mark (numbered over all photos) a hit row matches, -1
    photo: npt.NDArray[np.int64]  # the photo (numbered over all photos)
    group: npt.NDArray[np.int64]  # index into `groups`
    groups: tuple[str, ...]
    photos_per_group: tuple[int, ...]
    marks_per_group: tuple[int, ...]

    def subset(self, which: npt.NDArray[np.bool_]) -> tuple[F64s, F64s]:
        return self.x[which], self.labels[which].astype(np.float64)


def spot_table(cache: Path | None, names: Sequence[str]) -> SpotTable:
    """Every fitting photo's labelled spots, with features `names` (keys of SpotReading.features)."""
    x: list[list[float]] = []
    labels: list[int] = []
    mark: list[int] = []
    photo: list[int] = []
    group: list[int] = []
    groups: list[str] = []
    photos: list[int] = []
    marks: list[int] = []
    first_mark = 0
    for index, shot in enumerate(fitting_photos(cache, HAIL_PHOTOS)):
        if shot.group not in groups:
            groups += [shot.group]
            photos += [0]
            marks += [0]
        g = groups.index(shot.group)
        count = sum(kind == "hail_hit" for kind, _ in shot.marks)
        photos[g] += 1
        marks[g] += count
        labelled = labelled_spots(shot)
        for spot, hit in labelled[1] if labelled else []:
            x.append([spot.features[n] for n in names])
            labels.append(int(hit is not None))
            mark.append(-1 if hit is None else first_mark + hit)
            photo.append(index)
            group.append(g)
        first_mark += count
    return SpotTable(
        np.asarray(x, np.float64).reshape(-1, len(names)), tuple(names), np.asarray(labels, np.int8),
        np.asarray(mark, np.int64), np.asarray(photo, np.int64), np.asarray(group, np.int64),
        tuple(groups), tuple(photos), tuple(marks),
    )  # fmt: skip


def cut_for(logits: F64s, labels: npt.NDArray[np.int8], photos: int, fp_per_photo: float) -> float:
    """The lowest cut (logit) that leaves at most `fp_per_photo` false spots per photo."""
    negatives = np.sort(logits[labels == 0])[::-1]
    allowed = int(fp_per_photo * photos)
    return float(negatives[allowed]) + 1e-6 if allowed < len(negatives) else float(logits.min())


def found_at(logits: F64s, labels: npt.NDArray[np.int8], mark: npt.NDArray[np.int64], cut: float) -> tuple[int, int]:
    """(hail marks with a spot at or above the cut, false spots at or above it)."""
    above = logits >= cut
    return len({int(m) for m in mark[above & (mark >= 0)]}), int((above & (labels == 0)).sum())


@dataclass
class GroupResult:
    name: str
    marks: int
    photos: int
    reach: int
    found: tuple[int, ...]  # at each of FP_RATES, the group's own cut
    op_found: int
    op_false: int


def leave_one_family_out(table: SpotTable, recipe: Recipe) -> list[GroupResult]:
    """Each group held aside in turn (see the module's docstring)."""
    out = []
    for g, name in enumerate(table.groups):
        held = table.group == g
        fitted = recipe(*table.subset(~held))
        train_logits, held_logits = fitted(table.x[~held]), fitted(table.x[held])
        train_photos = sum(table.photos_per_group) - table.photos_per_group[g]
        labels, mark, photos = table.labels[held], table.mark[held], table.photos_per_group[g]
        found = tuple(found_at(held_logits, labels, mark, cut_for(held_logits, labels, photos, r))[0] for r in FP_RATES)
        op_cut = cut_for(train_logits, table.labels[~held], train_photos, FITTING_FP_PER_PHOTO)
        op_found, op_false = found_at(held_logits, labels, mark, op_cut)
        reach = len({int(m) for m in mark[mark >= 0]})
        out.append(GroupResult(name, table.marks_per_group[g], photos, reach, found, op_found, op_false))
    return out


def format_results(results: Sequence[GroupResult], title: str) -> str:
    head = f"{title:>26} {'marks':>5} {'reach':>5} " + " ".join(f"{'r@' + format(r, 'g'):>6}" for r in FP_RATES)
    lines = [head + f" {'op recall':>9} {'op FP':>6}"]
    for r in [*results, _total(results)]:
        recalls = " ".join(f"{f / max(r.marks, 1):>6.3f}" for f in r.found)
        lines.append(
            f"{r.name:>26} {r.marks:>5} {r.reach / max(r.marks, 1):>5.2f} {recalls} "
            f"{r.op_found / max(r.marks, 1):>9.3f} {r.op_false / max(r.photos, 1):>6.2f}"
        )
    return "\n".join(lines)


def _total(results: Sequence[GroupResult]) -> GroupResult:
    return GroupResult(
        "all",
        sum(r.marks for r in results),
        sum(r.photos for r in results),
        sum(r.reach for r in results),
        tuple(sum(r.found[i] for r in results) for i in range(len(FP_RATES))),
        sum(r.op_found for r in results),
        sum(r.op_false for r in results),
    )


def as_recipe(fit: HailRecipe, names: Sequence[str]) -> Recipe:
    """A training recipe (evaluation.vision.training.HAIL_RECIPES) as the harness runs it."""

    def recipe(x: F64s, y: F64s) -> Callable[[F64s], F64s]:
        return fit(x, y, names)[0].logits

    return recipe


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cache", nargs="?", type=Path, help="the folder rendered family photos are kept in")
    parser.add_argument("--drop", nargs="*", default=[], help="features of HAIL_FEATURES to leave out")
    args = parser.parse_args(argv)
    names = [n for n in HAIL_FEATURES if n not in args.drop]
    table = spot_table(args.cache, names)
    for name, fit in HAIL_RECIPES.items():
        print(format_results(leave_one_family_out(table, as_recipe(fit, names)), name), flush=True)


if __name__ == "__main__":
    main()
