"""Gradient-boosted decision trees for a two-class score, fitted in plain numpy (offline: the
function only evaluates them, vision.local.classifier.BoostedTrees).

Newton boosting of the logistic loss: each tree is grown depth-first to `depth` levels on the
gradient and hessian of the current logits, a split chosen among each feature's quantile cut
points (`BINS` per feature, taken on the training rows) by the usual second-order gain with an L2
penalty `LEAF_L2` on the leaf values, a leaf's value the Newton step -G / (H + LEAF_L2) times the
learning rate. Deterministic (no row or feature sampling): the same rows give the same trees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vision.local.classifier import Tree

F64s = npt.NDArray[np.float64]
BINS = 32


@dataclass(frozen=True)
class BoostingParams:
    trees: int = 150
    depth: int = 3
    learning_rate: float = 0.1
    leaf_l2: float = 1.0
    min_hessian: float = 2.0  # a child needs at least this much hessian (about that many uncertain rows)


def cut_points(x: F64s) -> list[F64s]:
    """Each feature's candidate thresholds: the midpoints between its distinct quantiles."""
    out = []
    for column in x.T:
        qs = np.unique(np.quantile(column, np.linspace(0, 1, BINS + 1)[1:-1]))
        out.append(qs)
    return out


def _binned(x: F64s, cuts: list[F64s]) -> npt.NDArray[np.int32]:
    """Bin k of a feature holds values in (cuts[k-1], cuts[k]]: `value <= cuts[k]` goes left of split k."""
    return np.column_stack([np.searchsorted(c, x[:, j], side="left") for j, c in enumerate(cuts)]).astype(np.int32)


def _grow(bins: npt.NDArray[np.int32], g: F64s, h: F64s, cuts: list[F64s], params: BoostingParams) -> tuple[Tree, F64s]:
    """One tree, and the value it adds to each training row (found through the bins, not the
    thresholds: the run-time evaluator is checked against it)."""
    added = np.zeros(len(g))
    feature: list[int] = []
    threshold: list[float] = []
    left: list[int] = []
    right: list[int] = []
    value: list[float] = []

    def leaf(rows: npt.NDArray[np.int64]) -> int:
        feature.append(-1)
        threshold.append(0.0)
        left.append(len(value))
        right.append(len(value))
        value.append(float(-g[rows].sum() / (h[rows].sum() + params.leaf_l2) * params.learning_rate))
        added[rows] = value[-1]
        return len(value) - 1

    def node(rows: npt.NDArray[np.int64], level: int) -> int:
        if level == params.depth or len(rows) < 2:
            return leaf(rows)
        best = _best_split(bins[rows], g[rows], h[rows], cuts, params)
        if best is None:
            return leaf(rows)
        j, k = best
        goes_left = bins[rows, j] <= k
        index = len(value)
        feature.append(j)
        threshold.append(float(cuts[j][k]))
        left.append(-1)
        right.append(-1)
        value.append(0.0)
        left[index] = node(rows[goes_left], level + 1)
        right[index] = node(rows[~goes_left], level + 1)
        return index

    node(np.arange(len(g)), 0)
    return Tree(tuple(feature), tuple(threshold), tuple(left), tuple(right), tuple(value)), added


def _best_split(
    bins: npt.NDArray[np.int32], g: F64s, h: F64s, cuts: list[F64s], params: BoostingParams
) -> tuple[int, int] | None:
    """(feature, cut index) of the split with the largest positive gain, None if none."""
    lam = params.leaf_l2
    total_g, total_h = g.sum(), h.sum()
    parent = total_g**2 / (total_h + lam)
    best, best_gain = None, 1e-9
    for j, c in enumerate(cuts):
        if len(c) == 0:
            continue
        gl = np.cumsum(np.bincount(bins[:, j], weights=g, minlength=len(c) + 1))[:-1]
        hl = np.cumsum(np.bincount(bins[:, j], weights=h, minlength=len(c) + 1))[:-1]
        gr, hr = total_g - gl, total_h - hl
        gain = gl**2 / (hl + lam) + gr**2 / (hr + lam) - parent
        gain[(hl < params.min_hessian) | (hr < params.min_hessian)] = -np.inf
        k = int(np.argmax(gain))
        if gain[k] > best_gain:
            best, best_gain = (j, k), float(gain[k])
    return best


def fit_boosted(x: F64s, y: F64s, params: BoostingParams = BoostingParams()) -> tuple[list[Tree], float, F64s]:
    """The trees, the starting logit (the training rows' log odds) and the training rows' logits."""
    cuts = cut_points(x)
    bins = _binned(x, cuts)
    rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    base = float(np.log(rate / (1 - rate)))
    logits = np.full(len(y), base)
    trees = []
    for _ in range(params.trees):
        p = 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))
        tree, added = _grow(bins, p - y, np.maximum(p * (1 - p), 1e-12), cuts, params)
        trees.append(tree)
        logits += added
    return trees, base, logits
