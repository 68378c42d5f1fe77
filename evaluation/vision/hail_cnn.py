"""Fit the hail patch net (evaluation.vision.hail_patch) on the fitting photos only, compare it with
the logistic classifier leaving one fitting family out at a time, and write
`evaluation/vision/models/hail_cnn.npz`. Run `python -m evaluation.vision.hail_cnn
/work/cache/families` (torch 2.13 CPU, `pip install torch==2.13.0`; training only, in no runtime
requirements: the net's forward pass is numpy).

Rows: every dark spot the hail detector proposes on a fitting photo (`training.fitting_photos`:
the first generator's development set and photos `FAMILY_PHOTOS` of every FITTING family), its
hail features, and a `CONTEXT_PX` patch around it (wider than the net's, so rotation and scale
can be jittered); a hit when it matches a true hail mark, left out when it matches another mark.
The rows are kept in `<cache>/hail_cnn_rows-<version>.npz`.

Augmentation varies what real photos vary: rotation (+-15 deg), scale (+-20%: the stage's scale is
off by that much on hard photos), brightness, contrast (gamma), white balance, blur, sensor noise
and JPEG. The scalar features are dropped for a random part of each batch so the net leans on the
picture. Protocol: each group (a FITTING family, the development set) is left out in turn, a net
and a logistic model fitted on the rest, the operating point (at most `FITTING_FP_PER_PHOTO`
false spots per photo) chosen on the rest, and recall and false spots counted on the group left
out. The shipped net is fitted on every group; its operating point is the one the left-out scores
chose together (what the net does on families it has not seen), folded into its output bias so a
score of REPORT_SCORE is that point.
"""

from __future__ import annotations

import argparse
import datetime
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from evaluation.vision.hail_patch import CONTEXT_PX, HAIL_CNN, MODELS, PATCH_IN, PATCH_PX, PatchNet, channels, cut
from evaluation.vision.training import (
    Rows,
    TruthPhoto,
    fit_logistic,
    fitting_photos,
    labelled_spots,
    operating_logit,
)
from vision.candidates import REPORT_SCORE
from vision.local.hail import HAIL_FEATURES

ROWS_VERSION = "2"  # bump when the rows' making changes (2: log_z_rel, elongation on the roof)
FAMILY_PHOTOS = (100, 120)
CONV_WIDTHS = (8, 16, 32)
HIDDEN = 48
EPOCHS = 12
NEGATIVES_PER_POSITIVE = 4  # negatives drawn afresh each epoch
SCALAR_DROPOUT = 0.3
F32s = npt.NDArray[np.float32]


@dataclass
class SpotRows:
    patches: npt.NDArray[np.uint8]  # n, CONTEXT_PX, CONTEXT_PX, 4
    features: F32s  # n, len(HAIL_FEATURES)
    labels: npt.NDArray[np.int8]
    mark: npt.NDArray[np.int32]  # the hail mark (global index) a hit row matches, -1
    photo: npt.NDArray[np.int32]
    group: npt.NDArray[np.int32]  # index into `groups`
    groups: list[str]
    photos_per_group: list[int]
    marks_per_group: list[int]


def photo_rows(photo: TruthPhoto) -> tuple[list[npt.NDArray[np.uint8]], list[list[float]], list[int], list[int], int]:
    """(context patches, features, labels, matched hail mark index or -1, hail marks) of one photo."""
    count = sum(kind == "hail_hit" for kind, _ in photo.marks)
    labelled = labelled_spots(photo)
    if labelled is None:
        return [], [], [], [], count
    work, spots = labelled
    patches = [cut(work, spot.x, spot.y, CONTEXT_PX) for spot, _ in spots]
    features = [[spot.features[n] for n in HAIL_FEATURES] for spot, _ in spots]
    labels = [int(hit is not None) for _, hit in spots]
    marks = [-1 if hit is None else hit for _, hit in spots]
    return patches, features, labels, marks, count


def collect(cache: Path | None) -> SpotRows:
    """Every fitting photo's spot rows (read from the cache folder when made before)."""
    path = cache / f"hail_cnn_rows-{ROWS_VERSION}-{FAMILY_PHOTOS[0]}-{FAMILY_PHOTOS[1]}.npz" if cache else None
    if path is not None and path.exists():
        with np.load(path, allow_pickle=False) as data:
            names = [str(v) for v in data["groups"]]
            return SpotRows(
                data["patches"], data["features"], data["labels"], data["mark"], data["photo"], data["group"],
                names, [int(v) for v in data["photos_per_group"]], [int(v) for v in data["marks_per_group"]],
            )  # fmt: skip
    patches: list[npt.NDArray[np.uint8]] = []
    features: list[list[float]] = []
    labels: list[int] = []
    marks: list[int] = []
    photos: list[int] = []
    group_of: list[int] = []
    groups: list[str] = []
    per_group: dict[str, list[int]] = {}
    mark_base = 0
    for index, photo in enumerate(fitting_photos(cache, FAMILY_PHOTOS)):
        group = photo.group
        if group not in groups:
            groups.append(group)
            per_group[group] = [0, 0]
        p, f, lab, m, count = photo_rows(photo)
        per_group[group][0] += 1
        per_group[group][1] += count
        patches += p
        features += f
        labels += lab
        marks += [mark_base + i if i >= 0 else -1 for i in m]
        photos += [index] * len(p)
        group_of += [groups.index(group)] * len(p)
        mark_base += count
        print(f"  {photo.name}: {len(p)} spots, {sum(lab)} on hits of {count}", flush=True)
    rows = SpotRows(
        np.asarray(patches, np.uint8).reshape(-1, CONTEXT_PX, CONTEXT_PX, 4),
        np.asarray(features, np.float32).reshape(-1, len(HAIL_FEATURES)),
        np.asarray(labels, np.int8),
        np.asarray(marks, np.int32),
        np.asarray(photos, np.int32),
        np.asarray(group_of, np.int32),
        groups,
        [per_group[g][0] for g in groups],
        [per_group[g][1] for g in groups],
    )
    if path is not None:
        tmp = path.with_suffix(".tmp.npz")
        np.savez(
            tmp, patches=rows.patches, features=rows.features, labels=rows.labels, mark=rows.mark, photo=rows.photo,
            group=rows.group, groups=np.array(groups), photos_per_group=np.array(rows.photos_per_group),
            marks_per_group=np.array(rows.marks_per_group),
        )  # fmt: skip
        tmp.replace(path)
    return rows


def augment(context: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """A `PATCH_PX` patch from a context patch, as another photo might have shown the spot."""
    angle = rng.uniform(-15.0, 15.0)
    zoom = math.exp(rng.uniform(math.log(0.8), math.log(1.2)))
    centre = (CONTEXT_PX - 1) / 2
    m = np.asarray(cv2.getRotationMatrix2D((centre, centre), angle, 1.0 / zoom), np.float64)
    m[:, 2] -= (CONTEXT_PX - PATCH_PX) / 2
    out = np.asarray(
        cv2.warpAffine(context, m, (PATCH_PX, PATCH_PX), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    )
    rgb = out[..., :3].astype(np.float64) / 255.0
    rgb = rgb * rng.uniform(0.85, 1.15, 3) * rng.uniform(0.6, 1.5)  # white balance, exposure
    rgb = np.clip(rgb, 0.0, 1.0) ** rng.uniform(0.7, 1.4)  # contrast
    sigma = rng.uniform(0.0, 1.2)
    if sigma > 0.3:
        rgb = np.asarray(cv2.GaussianBlur(rgb, (0, 0), sigma), np.float64)
    rgb = rgb + rng.normal(0.0, rng.uniform(0.0, 0.025), rgb.shape)
    pixels = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 95))])
        decoded = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED) if ok else None
        pixels = np.asarray(decoded, np.uint8) if decoded is not None else pixels
    return np.dstack([pixels, out[..., 3]]).astype(np.uint8)


def centre(context: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """The net's patch as the function cuts it: the middle of the context patch."""
    lo = (CONTEXT_PX - PATCH_PX) // 2
    return context[..., lo : lo + PATCH_PX, lo : lo + PATCH_PX, :]


def fit_net(rows: SpotRows, use: npt.NDArray[np.bool_], seed: int = 0, summary: str = "") -> PatchNet:
    """A patch net fitted on the rows `use` selects (torch, CPU)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(seed)
    index = np.flatnonzero(use)
    positives, negatives = index[rows.labels[index] == 1], index[rows.labels[index] == 0]
    feats = rows.features[index].astype(np.float64)
    mean, scale = feats.mean(axis=0), feats.std(axis=0) + 1e-6

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            width = 4
            for out in CONV_WIDTHS:
                layers += [nn.Conv2d(width, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
                width = out
            self.convs = nn.Sequential(*layers)
            side = PATCH_PX // 2 ** len(CONV_WIDTHS)
            self.hidden = nn.Linear(width * side * side + len(HAIL_FEATURES), HIDDEN)
            self.output = nn.Linear(HIDDEN, 1)

        def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
            joined = torch.cat([self.convs(x).flatten(1), z], dim=1)
            out: torch.Tensor = self.output(torch.relu(self.hidden(joined)))[:, 0]
            return out

    net = Net()
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-3)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, EPOCHS)
    loss_of = nn.BCEWithLogitsLoss()
    for _ in range(EPOCHS):
        drawn = rng.choice(negatives, min(len(negatives), NEGATIVES_PER_POSITIVE * len(positives)), replace=False)
        epoch = rng.permutation(np.concatenate([positives, drawn]))
        for start in range(0, len(epoch), 128):
            batch = epoch[start : start + 128]
            x = torch.from_numpy(channels(np.stack([augment(rows.patches[i], rng) for i in batch])))
            z = np.clip((rows.features[batch] - mean) / scale, -5.0, 5.0) * (
                rng.random((len(batch), 1)) > SCALAR_DROPOUT
            )
            y = torch.from_numpy(rows.labels[batch].astype(np.float32))
            optimiser.zero_grad()
            loss = loss_of(net(x, torch.from_numpy(z.astype(np.float32))), y)
            loss.backward()
            optimiser.step()
        scheduler.step()

    def arr(t: torch.Tensor | None) -> F32s:
        assert t is not None
        return np.asarray(t.detach().numpy(), np.float32).copy()

    convs = tuple((arr(m.weight), arr(m.bias)) for m in net.convs if isinstance(m, nn.Conv2d))
    return PatchNet(
        convs, HAIL_FEATURES, mean.astype(np.float32), scale.astype(np.float32),
        (arr(net.hidden.weight), arr(net.hidden.bias)), (arr(net.output.weight), arr(net.output.bias)), summary,
    )  # fmt: skip


def net_logits(net: PatchNet, rows: SpotRows, which: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    out = [
        net.logits(channels(centre(rows.patches[which[s : s + 256]])), rows.features[which[s : s + 256]])
        for s in range(0, len(which), 256)
    ]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)


def logistic_logits(
    rows: SpotRows, train: npt.NDArray[np.int64], test: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The logistic classifier fitted on `train`: its logits on `train` and on `test`."""
    x = rows.features.astype(np.float64)
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
    weights, bias = fit_logistic((x[train] - mean) / scale, rows.labels[train].astype(np.float64))
    return ((x[train] - mean) / scale) @ weights + bias, ((x[test] - mean) / scale) @ weights + bias


def cut_at(logits: npt.NDArray[np.float64], labels: npt.NDArray[np.int8], photos: int) -> float:
    """The lowest logit with at most FITTING_FP_PER_PHOTO false spots per photo."""
    return operating_logit(logits, Rows([], list(labels), [], photos))


def tally(rows: SpotRows, which: npt.NDArray[np.int64], logits: npt.NDArray[np.float64], cut: float) -> tuple[int, int]:
    """(hail marks found, false spots) at a cut."""
    above = logits >= cut
    found = {int(m) for m in rows.mark[which][above] if m >= 0}
    return len(found), int((above & (rows.labels[which] == 0)).sum())


def leave_one_family_out(rows: SpotRows) -> tuple[npt.NDArray[np.float64], str]:
    """Each group's out-of-fold net logits, and the comparison table (net against logistic)."""
    out_of_fold = np.zeros(len(rows.labels))
    lines = [f"{'left out':>26} {'marks':>5}  {'net recall':>10} {'FP/photo':>8}  {'logistic':>8} {'FP/photo':>8}"]
    totals = np.zeros(5)
    for g, name in enumerate(rows.groups):
        test = np.flatnonzero(rows.group == g)
        train = np.flatnonzero(rows.group != g)
        train_photos = sum(rows.photos_per_group) - rows.photos_per_group[g]
        net = fit_net(rows, rows.group != g, seed=g)
        train_logits, test_logits = net_logits(net, rows, train), net_logits(net, rows, test)
        out_of_fold[test] = test_logits
        net_found, net_false = tally(rows, test, test_logits, cut_at(train_logits, rows.labels[train], train_photos))
        lt, lv = logistic_logits(rows, train, test)
        log_found, log_false = tally(rows, test, lv, cut_at(lt, rows.labels[train], train_photos))
        marks, photos = rows.marks_per_group[g], rows.photos_per_group[g]
        totals += [marks, net_found, net_false, log_found, log_false]
        lines.append(
            f"{name:>26} {marks:>5}  {net_found / max(marks, 1):>10.2f} {net_false / photos:>8.2f}  "
            f"{log_found / max(marks, 1):>8.2f} {log_false / photos:>8.2f}"
        )
        print(lines[-1], flush=True)
    photos = sum(rows.photos_per_group)
    lines.append(
        f"{'all':>26} {int(totals[0]):>5}  {totals[1] / totals[0]:>10.2f} {totals[2] / photos:>8.2f}  "
        f"{totals[3] / totals[0]:>8.2f} {totals[4] / photos:>8.2f}"
    )
    return out_of_fold, "\n".join(lines)


def train_hail_net(cache: Path | None, compare: bool = True) -> tuple[PatchNet, str]:
    rows = collect(cache)
    photos = sum(rows.photos_per_group)
    every = np.ones(len(rows.labels), bool)
    table = ""
    net = fit_net(rows, every, seed=len(rows.groups))
    logits = net_logits(net, rows, np.arange(len(rows.labels)))
    if compare:
        out_of_fold, table = leave_one_family_out(rows)
        cut = cut_at(out_of_fold, rows.labels, photos)  # what the net does on families it has not seen
        found, false = tally(rows, np.arange(len(rows.labels)), out_of_fold, cut)
        point = f"left-out-family operating point: {found} of {sum(rows.marks_per_group)} hits, {false} false spots"
    else:
        cut = cut_at(logits, rows.labels, photos)
        found, false = tally(rows, np.arange(len(rows.labels)), logits, cut)
        point = f"in-sample operating point: {found} of {sum(rows.marks_per_group)} hits, {false} false spots"
    bias = net.output[1] + np.float32(math.log(REPORT_SCORE / (1 - REPORT_SCORE)) - cut)
    summary = (
        f"{photos} fitting photos (groups {', '.join(rows.groups)}; FITTING photos {FAMILY_PHOTOS}), "
        f"{len(rows.labels)} spots ({int(rows.labels.sum())} on hits); {point}; patches {PATCH_PX} px over "
        f"{PATCH_IN} in; fitted {datetime.date.today().isoformat()}"
    )
    shipped = PatchNet(
        net.convs, net.features, net.mean, net.scale, net.hidden, (net.output[0], bias.astype(np.float32)), summary
    )
    return shipped, table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cache", nargs="?", type=Path, help="a folder to keep rendered photos and spot rows in")
    parser.add_argument("--no-compare", action="store_true", help="skip the leave-one-family-out comparison")
    args = parser.parse_args(argv)
    net, table = train_hail_net(args.cache, compare=not args.no_compare)
    path = MODELS / f"{HAIL_CNN}.npz"
    np.savez_compressed(path, **net.arrays())  # type: ignore[arg-type]
    print(table)
    print(f"wrote {path}: {net.trained_on}")


if __name__ == "__main__":
    main()
