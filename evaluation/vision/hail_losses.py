"""Where the local stage loses hail hits, per family: each true hit is put in the first step that
lost it, in the stage's order.

- `no_scale`: the courses gave no scale, so the stage saw no roof at all;
- `off_roof`: the hit's centre is off the stage's estimated roof mask (vision.local.roof);
- `roof_border`: on the mask but inside the margin eroded off its border (stage.work_of);
- `shallow`: on the working roof, but the spot residue there stays under the seed level
  (vision.local.spots: too faint for the roof's texture);
- `no_spot`: deep enough, yet no proposed spot matches it (merged with a line, too large, ...);
- `judged_out`: a spot matches it, but the classifier scores every such spot under REPORT_SCORE;
- `reported`: a spot matching it is reported.

Also the false spots per photo (reported spots matching no mark) and the stage's scale against the
truth's (pixels per foot at the centre). Run `python -m evaluation.vision.hail_losses --families
three_tab_ridge ... --photos 3 --size 1280x960 --start 0 --cache /work/cache/families`.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from evaluation.vision.families import FITTING
from evaluation.vision.families.evaluate import cached_render
from evaluation.vision.families.truth import RoofPhoto
from evaluation.vision.scoring import matches
from vision.candidates import REPORT_SCORE
from vision.detections import Box
from vision.local.classifier import load_model
from vision.local.hail import HAIL_MODEL, spot_candidates
from vision.local.roof import estimate_roof
from vision.local.scale import course_scale
from vision.local.spots import MIN_DEPTH, SEED_Z, SOFTEN_IN, SPOT_LENGTH_IN, residue
from vision.local.stage import work_of
from vision.local.work import Work

STEPS = ("no_scale", "off_roof", "roof_border", "shallow", "no_spot", "judged_out", "reported")


@dataclass
class Losses:
    steps: Counter[str] = field(default_factory=Counter)
    false_spots: int = 0
    photos: int = 0
    scale_errors: list[float] = field(default_factory=list)  # stage / truth - 1, per photo with a scale

    def line(self, name: str) -> str:
        hits = sum(self.steps.values())
        shares = " ".join(f"{self.steps[s] / max(hits, 1):>6.2f}" for s in STEPS)
        scale = " ".join(f"{e:+.2f}" for e in self.scale_errors)
        return f"{name:>26} {hits:>4} {shares} {self.false_spots / max(self.photos, 1):>7.2f}  {scale}"


def header() -> str:
    return f"{'family':>26} {'hits':>4} " + " ".join(f"{s[:6]:>6}" for s in STEPS) + f" {'FP/ph':>7}  scale error"


def _seed_depth(work: Work) -> tuple[np.ndarray, float]:
    """The spot residue at working resolution and the depth a spot must reach (as spots.dark_spots)."""
    soft = np.asarray(cv2.GaussianBlur(work.flat, (0, 0), max(0.7, SOFTEN_IN * work.ppi)), np.float32)
    depth = residue(soft, SPOT_LENGTH_IN * work.ppi, work.direction, work.stretch)
    values = soft[work.roof]
    spread = 1.4826 * float(np.median(np.abs(values - np.median(values)))) if values.size else 0.0
    return depth, max(MIN_DEPTH, SEED_Z * spread)


def _step(work: Work, mark: Box, depth: np.ndarray, seed: float) -> str:
    """The step that lost a hit no spot matches."""
    h, w = work.roof.shape
    x0, y0, x1, y1 = (round(v * work.factor) for v in mark)
    cx, cy = min(max((x0 + x1) // 2, 0), w - 1), min(max((y0 + y1) // 2, 0), h - 1)
    if not work.roof_wide[cy, cx]:
        return "off_roof"
    if not work.roof[cy, cx]:
        return "roof_border"
    inside = depth[max(0, y0) : max(y1, y0 + 1), max(0, x0) : max(x1, x0 + 1)]
    return "shallow" if inside.size == 0 or float(inside.max()) < seed else "no_spot"


def photo_losses(photo: RoofPhoto, losses: Losses) -> None:
    model = load_model(HAIL_MODEL)
    hail = [m.box for m in photo.marks if m.type == "hail_hit"]
    others = [m.box for m in photo.marks if m.type != "hail_hit"]
    losses.photos += 1
    scale = course_scale(photo.pixels)
    if scale is None:
        losses.steps["no_scale"] += len(hail)
        return
    losses.scale_errors.append(scale.ppi * 12.0 / photo.pixels_per_foot - 1.0)
    work = work_of(photo.pixels, estimate_roof(photo.pixels, scale), scale)
    spots = [(s.box, model.score(s.features)) for s in spot_candidates(work)]
    losses.false_spots += sum(
        score >= REPORT_SCORE and not any(matches(box, m) for m in hail + others) for box, score in spots
    )
    depth, seed = _seed_depth(work)
    for mark in hail:
        scores = [score for box, score in spots if matches(box, mark)]
        if scores:
            losses.steps["reported" if max(scores) >= REPORT_SCORE else "judged_out"] += 1
        else:
            losses.steps[_step(work, mark, depth, seed)] += 1


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FITTING))
    parser.add_argument("--photos", type=int, default=3)
    parser.add_argument("--start", type=int, default=100, help="first photo index (fitting rows start at 100)")
    parser.add_argument("--size", default=None, help="WxH, e.g. 1280x960 (default: native)")
    parser.add_argument("--cache", type=Path, default=None)
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x")) if args.size else None
    print(header())
    for family in args.families:
        losses = Losses()
        for index in range(args.start, args.start + args.photos):
            photo_losses(cached_render(family, index, size, args.cache), losses)  # type: ignore[arg-type]
        print(losses.line(family), flush=True)


if __name__ == "__main__":
    main()
