"""A logistic classifier over a candidate's named features, shipped as a JSON file beside the code
(trained offline by `evaluation.vision.training` on the fitting families only; nothing is fetched
at run time). The file names its features, their standardisation, the weights and what it was
trained on, so a reader can see what a score is made of."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MODELS = Path(__file__).resolve().parent / "models"


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


@cache
def load_model(name: str) -> LogisticModel:
    """The classifier `models/<name>.json`, read once per process."""
    return LogisticModel.from_json(json.loads((MODELS / f"{name}.json").read_text()))
