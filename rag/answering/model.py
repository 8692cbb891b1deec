"""The fitted models, saved as plain JSON beside this module: a conditional logit that
chooses among a question's candidate sentences, and a logistic regression that decides
whether to answer at all.

Fitted on the dev split by ``python -m evals.train_answerer`` (scikit-learn and SciPy,
at fit time only); here a prediction is a dot product and a sigmoid or a softmax, so
answering needs nothing beyond numpy.
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
class ConditionalLogit:
    """A choice among alternatives: ``softmax(((x - mean) / scale) @ weights)`` over the
    rows of ``x``, the candidates of one question (McFadden's conditional logit).

    Fitted on which candidate of each question is the answer, it learns only how the
    answer differs from the other candidates of the same question; a pointwise logistic
    also learns how answers differ from non-answers of other questions, which on dev
    chose worse (see ``evals/train_answerer.py``).

    >>> m = ConditionalLogit(("a",), (2.0,), (0.0,), (1.0,))
    >>> [round(float(p), 3) for p in m.probability(np.array([[1.0], [0.0]]))]
    [0.881, 0.119]
    """

    features: tuple[str, ...]
    weights: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]

    def probability(self, x: np.ndarray) -> np.ndarray:
        """Each row's share of the choice (the shares of all rows sum to 1)."""
        x = np.asarray(x, dtype=np.float64)
        if not len(x):
            return np.zeros(0)
        z = ((x - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights)
        e = np.exp(z - z.max())
        return e / e.sum()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "conditional_logit", **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConditionalLogit":
        return cls(tuple(d["features"]), tuple(d["weights"]), tuple(d["mean"]), tuple(d["scale"]))


def _selector_from_dict(d: dict[str, Any]) -> "Logistic | ConditionalLogit":
    return ConditionalLogit.from_dict(d) if d.get("kind") == "conditional_logit" else Logistic.from_dict(d)


@dataclass(frozen=True)
class Models:
    """The answer selector, the answerability model and the decisions fitted with them."""

    selector: Logistic | ConditionalLogit
    answerability: Logistic
    # Refuse below this answerability probability (chosen on dev, see ``fit_note``).
    threshold: float
    # A second sentence joins the answer if its selection share is at least this
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
        return cls(_selector_from_dict(d["selector"]), Logistic.from_dict(d["answerability"]), float(d["threshold"]),
                   float(d.get("second_ratio", 0.8)), dict(d.get("fit_note", {})), float(d.get("hedge_below", 0.0)))

    def save(self, path: Path = MODELS_FILE) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")


@lru_cache(maxsize=4)
def load_models(path: Path = MODELS_FILE) -> Models:
    """The saved models (read once)."""
    return Models.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def check_features(model: Logistic | ConditionalLogit, expected: Sequence[str]) -> None:
    """A model saved for other features than the code computes must be refitted, not misread."""
    if tuple(model.features) != tuple(expected):
        raise ValueError(f"saved model expects features {model.features}, code computes {tuple(expected)}: "
                         "refit with `python -m evals.train_answerer`")
