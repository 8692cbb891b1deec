"""The fitted models: two logistic regressions, saved as plain JSON beside this module.

Fitted on the dev split by ``python -m evals.train_answerer`` (scikit-learn, at fit time
only); here a prediction is a dot product and a sigmoid, so answering needs nothing
beyond numpy.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

import numpy as np

MODELS_FILE = Path(__file__).with_name("models.json")


@dataclass(frozen=True)
class Logistic:
    """``sigmoid(((x - mean) / scale) @ weights + bias)`` over named features."""

    features: tuple[str, ...]
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, x: np.ndarray) -> np.ndarray:
        """One probability per row of ``x`` (columns in :attr:`features` order)."""
        z = ((np.asarray(x, dtype=np.float64) - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights)
        return 1.0 / (1.0 + np.exp(-(z + self.bias)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Logistic":
        return cls(tuple(d["features"]), tuple(d["weights"]), float(d["bias"]), tuple(d["mean"]), tuple(d["scale"]))


@dataclass(frozen=True)
class Models:
    """The answer selector, the answerability model and the decisions fitted with them."""

    selector: Logistic
    answerability: Logistic
    # Refuse below this answerability probability (chosen on dev, see ``fit_note``).
    threshold: float
    # A second sentence joins the answer if its selection probability is at least this
    # share of the best one's and it covers question words the first does not.
    second_ratio: float = 0.8
    fit_note: dict[str, Any] = field(default_factory=dict)
    # An answer whose probability is below this (and at least ``threshold``) says beside
    # it that the passage may not answer: on dev, out of fold, such answers were mostly
    # wrong. 0: never.
    hedge_below: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"selector": self.selector.to_dict(), "answerability": self.answerability.to_dict(),
                "threshold": self.threshold, "second_ratio": self.second_ratio, "hedge_below": self.hedge_below,
                "fit_note": self.fit_note}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Models":
        return cls(Logistic.from_dict(d["selector"]), Logistic.from_dict(d["answerability"]), float(d["threshold"]),
                   float(d.get("second_ratio", 0.8)), dict(d.get("fit_note", {})), float(d.get("hedge_below", 0.0)))

    def save(self, path: Path = MODELS_FILE) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


@lru_cache(maxsize=4)
def load_models(path: Path = MODELS_FILE) -> Models:
    """The saved models (read once)."""
    return Models.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def check_features(model: Logistic, expected: Sequence[str]) -> None:
    """A model saved for other features than the code computes must be refitted, not misread."""
    if tuple(model.features) != tuple(expected):
        raise ValueError(f"saved model expects features {model.features}, code computes {tuple(expected)}: "
                         "refit with `python -m evals.train_answerer`")
