"""Classifiers over a candidate's named features, shipped as JSON files beside the code (trained
offline by `evaluation.vision.training` on the fitting families only; nothing is fetched at run
time). A file names its features and what it was trained on, so a reader can see what a score is
made of: a logistic model (their standardisation and weights); with `"kind": "boosted_trees"`,
a sum of small decision trees (evaluation.vision.boosting) evaluated here in plain numpy; with
`"kind": "blend"`, a weighted sum of such models' logits.
Either way the score is the logistic of a logit whose bias puts the chosen operating point at
REPORT_SCORE."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

MODELS = Path(__file__).resolve().parent / "models"
F64s = npt.NDArray[np.float64]


class Classifier(Protocol):
    features: tuple[str, ...]
    trained_on: str

    def score(self, values: dict[str, float]) -> float: ...

    def scores(self, x: F64s) -> F64s: ...

    def logits(self, x: F64s) -> F64s: ...


def _sigmoid(logits: F64s) -> F64s:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -40.0, 40.0))), np.float64)


class _ScoredByLogits:
    """`scores` and `score` for a model that gives `logits` over its `features`."""

    features: tuple[str, ...]

    def logits(self, x: F64s) -> F64s:
        raise NotImplementedError

    def scores(self, x: F64s) -> F64s:
        """The probability each row of `x` (columns in `features` order) is the damage trained for."""
        return _sigmoid(self.logits(np.asarray(x, np.float64).reshape(-1, len(self.features))))

    def score(self, values: dict[str, float]) -> float:
        return float(self.scores(np.asarray([[values[name] for name in self.features]]))[0])


@dataclass(frozen=True)
class LogisticModel:
    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float  # set so that a score of REPORT_SCORE is the operating point chosen in training
    trained_on: str

    def score(self, values: dict[str, float]) -> float:
        """The probability the candidate is the damage the model was trained for."""
        total = self.bias
        for name, mean, scale, weight in zip(self.features, self.mean, self.scale, self.weights, strict=True):
            total += weight * (values[name] - mean) / scale
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, total))))

    def logits(self, x: F64s) -> F64s:
        """The logit of each row of `x` (columns in `features` order)."""
        z = (np.asarray(x, np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)
        return np.asarray(z @ np.asarray(self.weights) + self.bias, np.float64)

    def scores(self, x: F64s) -> F64s:
        """`score` for each row of `x` (columns in `features` order)."""
        return _sigmoid(self.logits(x))

    def to_json(self) -> dict[str, object]:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
            "trained_on": self.trained_on,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LogisticModel:
        def floats(key: str) -> tuple[float, ...]:
            value = data[key]
            assert isinstance(value, list)
            return tuple(float(v) for v in value)

        features = data["features"]
        assert isinstance(features, list)
        model = cls(
            features=tuple(str(f) for f in features),
            mean=floats("mean"),
            scale=floats("scale"),
            weights=floats("weights"),
            bias=float(str(data["bias"])),
            trained_on=str(data["trained_on"]),
        )
        if not len(model.features) == len(model.mean) == len(model.scale) == len(model.weights):
            raise ValueError("a classifier file's features, mean, scale and weights must be as long as each other")
        return model


@dataclass(frozen=True)
class Tree:
    """One decision tree as parallel arrays: node i splits on `feature[i]` (a row goes to `left[i]`
    when its value is at most `threshold[i]`, else to `right[i]`), or is a leaf (`feature[i]` -1,
    pointing at itself) adding `value[i]` to the logit. Node 0 is the root."""

    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]
    value: tuple[float, ...]

    def values(self, x: F64s) -> F64s:
        """The leaf value each row of `x` reaches."""
        feature, threshold = np.asarray(self.feature), np.asarray(self.threshold)
        left, right = np.asarray(self.left), np.asarray(self.right)
        node = np.zeros(len(x), np.int64)
        rows = np.arange(len(x))
        for _ in range(len(self.feature)):  # a bound on the depth; stops once every row is at a leaf
            inner = feature[node] >= 0
            if not inner.any():
                break
            column = np.where(inner, feature[node], 0)
            goes_left = x[rows, column] <= threshold[node]
            node = np.where(inner, np.where(goes_left, left[node], right[node]), node)
        return np.asarray(self.value, np.float64)[node]

    def to_json(self) -> dict[str, object]:
        return {k: list(getattr(self, k)) for k in ("feature", "threshold", "left", "right", "value")}


@dataclass(frozen=True)
class BoostedTrees(_ScoredByLogits):
    features: tuple[str, ...]
    trees: tuple[Tree, ...]
    bias: float  # the starting logit, set so that a score of REPORT_SCORE is the chosen operating point
    trained_on: str

    def logits(self, x: F64s) -> F64s:
        total = np.full(len(x), self.bias, np.float64)
        for tree in self.trees:
            total += tree.values(x)
        return total

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "boosted_trees",
            "features": list(self.features),
            "bias": self.bias,
            "trained_on": self.trained_on,
            "trees": [tree.to_json() for tree in self.trees],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> BoostedTrees:
        features, trees = data["features"], data["trees"]
        assert isinstance(features, list)
        assert isinstance(trees, list)
        parsed = tuple(
            Tree(
                tuple(int(v) for v in t["feature"]),
                tuple(float(v) for v in t["threshold"]),
                tuple(int(v) for v in t["left"]),
                tuple(int(v) for v in t["right"]),
                tuple(float(v) for v in t["value"]),
            )
            for t in trees
        )
        for tree in parsed:
            if not len(tree.feature) == len(tree.threshold) == len(tree.left) == len(tree.right) == len(tree.value):
                raise ValueError("a tree's arrays must be as long as each other")
            if any(f >= len(features) for f in tree.feature):
                raise ValueError("a tree splits on a feature the file does not name")
        return cls(tuple(str(f) for f in features), parsed, float(str(data["bias"])), str(data["trained_on"]))


@dataclass(frozen=True)
class Blend(_ScoredByLogits):
    """A weighted sum of models' logits over the same features (each part's own bias kept)."""

    features: tuple[str, ...]
    parts: tuple[tuple[float, LogisticModel | BoostedTrees], ...]
    bias: float  # added to the sum, set so that a score of REPORT_SCORE is the chosen operating point
    trained_on: str

    def logits(self, x: F64s) -> F64s:
        x = np.asarray(x, np.float64).reshape(-1, len(self.features))
        total = np.full(len(x), self.bias, np.float64)
        for weight, model in self.parts:
            total += weight * model.logits(x)
        return total

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "blend",
            "features": list(self.features),
            "bias": self.bias,
            "trained_on": self.trained_on,
            "parts": [{"weight": weight, "model": model.to_json()} for weight, model in self.parts],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Blend:
        features, parts = data["features"], data["parts"]
        assert isinstance(features, list)
        assert isinstance(parts, list)
        models = tuple((float(part["weight"]), _single_from_json(part["model"])) for part in parts)
        names = tuple(str(f) for f in features)
        if any(model.features != names for _, model in models):
            raise ValueError("a blend's parts must read the blend's features in its order")
        return cls(names, models, float(str(data["bias"])), str(data["trained_on"]))


def _single_from_json(data: dict[str, object]) -> LogisticModel | BoostedTrees:
    if data.get("kind") == "boosted_trees":
        return BoostedTrees.from_json(data)
    return LogisticModel.from_json(data)


def model_from_json(data: dict[str, object]) -> LogisticModel | BoostedTrees | Blend:
    """The classifier a model file holds (a logistic model unless its `kind` says otherwise)."""
    if data.get("kind") == "blend":
        return Blend.from_json(data)
    return _single_from_json(data)


@cache
def load_model(name: str) -> LogisticModel | BoostedTrees | Blend:
    """The classifier `models/<name>.json`, read once per process."""
    return model_from_json(json.loads((MODELS / f"{name}.json").read_text()))
