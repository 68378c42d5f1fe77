"""The hail classifier's evaluators (vision.local.classifier) and the leave-one-family-out harness
(evaluation.vision.hail_lofo): the numpy tree evaluator walks a tree as drawn and reproduces the
fitter's own scores (found through its bins, not the thresholds) on training rows and on the rows
stored in the shipped model file; a file round-trips; the operating point folded into the bias
puts its cut at REPORT_SCORE and keeps the order of the scores; and a looser false-spot rate
never finds fewer hits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evaluation.vision.boosting import BoostingParams, fit_boosted
from evaluation.vision.hail_lofo import cut_for, found_at
from vision.candidates import REPORT_SCORE
from vision.local.classifier import MODELS, Blend, BoostedTrees, LogisticModel, Tree, load_model, model_from_json
from vision.local.hail import HAIL_FEATURES, HAIL_MODEL

# x0 <= 1: leaf -1; else x1 <= 0.5: leaf 2, else leaf 3
TREE = Tree((0, -1, 1, -1, -1), (1.0, 0.0, 0.5, 0.0, 0.0), (1, 1, 3, 3, 4), (2, 1, 4, 3, 4), (0, -1, 0, 2, 3))


def _rows(n: int = 600, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    y = ((x[:, 0] > 0.3) & (np.abs(x[:, 1]) < 1.0) | (rng.random(n) < 0.05)).astype(np.float64)
    return x, y


def test_a_tree_is_walked_as_drawn() -> None:
    x = np.array([[0.0, 9.0], [1.0, -9.0], [2.0, 0.5], [2.0, 0.6]])
    assert TREE.values(x).tolist() == [-1.0, -1.0, 2.0, 3.0]


def test_the_evaluator_reproduces_the_fitter_on_its_rows() -> None:
    x, y = _rows()
    trees, base, logits = fit_boosted(x, y, BoostingParams(trees=20, depth=3))
    model = BoostedTrees(("a", "b", "c"), tuple(trees), base, "test")
    np.testing.assert_allclose(model.logits(x), logits, atol=1e-9)
    separated = model.scores(x)
    assert separated[y == 1].mean() > separated[y == 0].mean() + 0.3


def test_a_boosted_model_round_trips_and_scores_one_row_as_a_batch() -> None:
    x, y = _rows()
    trees, base, _ = fit_boosted(x, y, BoostingParams(trees=5))
    model = BoostedTrees(("a", "b", "c"), tuple(trees), base, "test")
    again = model_from_json(json.loads(json.dumps(model.to_json())))
    assert again == model
    row = dict(zip(("a", "b", "c"), x[7].tolist(), strict=True))
    assert again.score(row) == pytest.approx(float(model.scores(x[7:8])[0]))


def test_a_blend_adds_its_parts_logits_and_round_trips() -> None:
    x, y = _rows()
    trees, base, tree_logits = fit_boosted(x, y, BoostingParams(trees=5))
    names = ("a", "b", "c")
    logistic = LogisticModel(names, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (1.0, -0.5, 0.2), -1.0, "")
    blend = Blend(names, ((0.7, logistic), (0.3, BoostedTrees(names, tuple(trees), base, ""))), 0.25, "test")
    expected = 0.25 + 0.7 * (x @ np.array([1.0, -0.5, 0.2]) - 1.0) + 0.3 * tree_logits
    np.testing.assert_allclose(blend.logits(x), expected, atol=1e-9)
    assert model_from_json(json.loads(json.dumps(blend.to_json()))) == blend
    wrong = Blend(("a", "c", "b"), blend.parts, 0.0, "").to_json()
    with pytest.raises(ValueError, match="blend's features"):
        model_from_json(wrong)


def test_a_logistic_model_scores_a_batch_as_one_by_one() -> None:
    model = LogisticModel(("a", "b"), (1.0, -1.0), (2.0, 0.5), (0.7, -1.2), -0.3, "test")
    x = np.array([[0.0, 1.0], [3.0, -2.0]])
    one = [model.score({"a": a, "b": b}) for a, b in x]
    np.testing.assert_allclose(model.scores(x), one)


def test_the_shipped_hail_model_reproduces_its_stored_scores() -> None:
    data = json.loads((MODELS / f"{HAIL_MODEL}.json").read_text())
    model = load_model(HAIL_MODEL)
    assert tuple(model.features) == HAIL_FEATURES
    assert "fitting photos" in model.trained_on
    check = data["check"]
    x = np.asarray(check["rows"], np.float64)
    assert len(x) >= 10
    np.testing.assert_allclose(model.scores(x), check["scores"], atol=1e-9)


def test_the_operating_point_sits_at_report_score_and_keeps_the_order() -> None:
    x, y = _rows()
    trees, base, logits = fit_boosted(x, y, BoostingParams(trees=10))
    labels = y.astype(np.int8)
    cut = cut_for(logits, labels, photos=100, fp_per_photo=0.5)
    assert ((logits >= cut) & (labels == 0)).sum() <= 50
    shifted = BoostedTrees(("a", "b", "c"), tuple(trees), base + math.log(REPORT_SCORE / (1 - REPORT_SCORE)) - cut, "")
    scores = shifted.scores(x)
    assert np.array_equal(np.argsort(scores, kind="stable"), np.argsort(logits, kind="stable"))
    assert np.array_equal(scores >= REPORT_SCORE - 1e-12, logits >= cut - 1e-9)


def test_a_looser_false_spot_rate_finds_no_fewer_hits() -> None:
    x, y = _rows()
    _, _, logits = fit_boosted(x, y, BoostingParams(trees=10))
    labels = y.astype(np.int8)
    mark = np.where(labels == 1, np.arange(len(y)) // 2, -1)  # two spots on each mark
    found = [found_at(logits, labels, mark, cut_for(logits, labels, 100, r)) for r in (0.1, 0.5, 1.0, 2.0)]
    assert [f[0] for f in found] == sorted(f[0] for f in found)
    assert [f[1] for f in found] == sorted(f[1] for f in found)
    assert all(f[1] <= r * 100 for f, r in zip(found, (0.1, 0.5, 1.0, 2.0), strict=True))
