"""Fit the answerability model on evals/dataset.jsonl and print the Config values.

    python -m evals.calibrate [--dataset evals/dataset.jsonl]

The extractive answerer refuses through hard gates (an instruction, no value of the
kind asked for, the counted thing not mentioned) and, past them, through a logistic
score over two signals of the chosen sentences: their best dense cosine to the
question and the share of question terms they (with neighbours) contain. This script
runs every dataset question through the pipeline, fits that logistic model on the
items the gates let through (label: the item is answerable), and chooses the highest
threshold that keeps false refusals of answerable items at or below 5 %. It reports
leave-one-out accuracy so the fit is not judged on its own training data.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float = 1.0, steps: int = 4000, lr: float = 0.5) -> np.ndarray:
    """L2-regularised logistic regression by projected gradient descent: [bias, w...].

    Weights are kept non-negative: more similarity or more coverage must never make
    a question look less answerable (an unconstrained fit on a few dozen items can
    flip a sign by chance).
    """
    Xb = np.hstack([np.ones((len(X), 1)), X])
    w = np.zeros(Xb.shape[1])
    # Balanced classes: the few refusable items past the gates must not be outvoted.
    pos = max(y.sum(), 1.0)
    neg = max(len(y) - y.sum(), 1.0)
    sw = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * neg))
    for _ in range(steps):
        p = 1 / (1 + np.exp(-Xb @ w))
        grad = Xb.T @ (sw * (p - y)) / len(y)
        grad[1:] += l2 * w[1:] / len(y)
        w -= lr * grad
        w[1:] = np.maximum(w[1:], 0.0)
    return w


def main(argv: list[str] | None = None) -> int:
    from rag import Config, Pipeline

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="evals/dataset.jsonl")
    ap.add_argument("--max-false-refusals", type=float, default=0.05)
    args = ap.parse_args(argv)
    items = [json.loads(line) for line in Path(args.dataset).read_text(encoding="utf-8").splitlines() if line.strip()]
    config = Config.from_env().with_(answerability_threshold=-1.0)  # answer everything: we want the signals
    pipe = Pipeline.load(config)
    rows = []
    for it in items:
        a = pipe.ask(it["question"], it.get("history") or [])
        rows.append((it["id"], bool(it["answerable"]), a.signals))
    passed = [(i, y, s) for i, y, s in rows if not s.get("gate")]
    X = np.array([[s["dense"], s["coverage"]] for _, _, s in passed])
    y = np.array([float(ans) for _, ans, _ in passed])
    w = fit_logistic(X, y)
    prob = 1 / (1 + np.exp(-(w[0] + X @ w[1:])))
    answerable = y == 1
    n_answerable = sum(1 for _, a, _ in rows if a)
    # Highest threshold whose false refusals (over all answerable items) stay within budget.
    gated_answerable = sum(1 for _, a, s in rows if a and s.get("gate"))
    best = 0.0
    for th in sorted(set(np.round(prob, 4))):
        false_ref = gated_answerable + int(((prob < th) & answerable).sum())
        if false_ref / max(n_answerable, 1) <= args.max_false_refusals:
            best = float(th)
    # Leave-one-out: refit without each item, classify it.
    loo_ok = 0
    for i in range(len(passed)):
        mask = np.arange(len(passed)) != i
        wi = fit_logistic(X[mask], y[mask])
        pi = 1 / (1 + math.exp(-(wi[0] + X[i] @ wi[1:])))
        loo_ok += int((pi >= best) == bool(y[i]))
    print(f"items {len(rows)}; gated {len(rows) - len(passed)} "
          f"(answerable among them: {gated_answerable}); fitted on {len(passed)}")
    print(f"weights: bias={w[0]:.3f} dense={w[1]:.3f} coverage={w[2]:.3f}; threshold={best:.4f}")
    print(f"leave-one-out agreement past the gates: {loo_ok}/{len(passed)}")
    print("Config defaults to paste:")
    print(f'    answerability_weights = {{"bias": {w[0]:.3f}, "dense": {w[1]:.3f}, "coverage": {w[2]:.3f}}}')
    print(f"    answerability_threshold = {best:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
