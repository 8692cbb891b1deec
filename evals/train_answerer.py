"""Fit the extractive answerer's two models on the dev split, with leave-one-document-out checks.

    python -m evals.train_answerer            # writes rag/answering/models.json and evals/answerer_cv.json

Only ``evals/dev.jsonl`` (over ``evals/corpora/dev``) is read, less the questions on
``CHECK_DOCUMENTS`` (kept to check changes on): the test split is never seen here. For every dev question the candidates are exactly what ``Pipeline.ask``
hands the answerer (``Pipeline.candidates``), and the features exactly what it computes.

* The selector: a conditional logit over each answerable question's candidate
  sentences (a softmax over one row per candidate), fitted to give the gold sentences
  (those overlapping a gold quote) the largest share.
* The answerability model: a logistic regression over one row per question (its best
  candidate and the set), labelled 1 when the question is answerable *and* the best
  candidate is a gold sentence: the probability that the answer about to be given is
  right. Its features use out-of-fold selector probabilities (each document scored by
  a selector that never saw it), so it learns from the probabilities it will meet.
  (Session 13 tried the label "answerable": on dev, out of fold, AUC answerable-or-not
  0.709 -> 0.765 and refused 0.154 -> 0.228 at the same cap, end to end 0.290 -> 0.333
  refused; measured once on test with the session's other changes it refused 17 of 73
  unanswerable questions against 18 (GPL-3: 2 of 24 against 5), and false refusals
  rose from 4 to 6 of 103 (0.058, past the gate's 0.05): not kept.)
* The threshold: the one that maximises, over the out-of-fold dev predictions,
  (answered right and cited) + (unanswerable refused) with false refusals (answerable
  questions refused) at most ``MAX_FALSE_REFUSALS`` over the dev corpus *and* over the
  dev documents each indexed alone (a folder of one file is common: the shipped corpus is
  one article, and a smaller corpus shifts what retrieval returns and the IDF of its
  words), and at most ``MAX_FALSE_REFUSALS_ONE_DOCUMENT`` for any one document alone.
* Leave-one-document-out: for each dev document, both models fitted on the others and
  measured on it (``evals/answerer_cv.json``, shown in the eval report).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

HERE = Path(__file__).resolve().parent
# Dev documents whose questions are kept out of the fit: a check set of documents no
# fitted model has seen, for deciding whether a change to the answerer (a refit
# included) helps, without the test split. Added 2026-12-07 with 330 questions: refitted
# on all 1,125 dev questions, the models tied the 795-question fit on these (right +
# refused 0.643 both: 0.585 / 0.058 against 0.534 / 0.109, false refusals 0.052 and
# 0.057), and the threshold rule then refused less; so the fit stays on the first 14.
CHECK_DOCUMENTS = frozenset({
    "cpp-bugs.txt", "adduser-readme.txt", "interview.txt", "cooking-class.md", "recall-news.txt", "ferry-timetable.txt",
})
# The gate allows 0.05 on the test split, whose ~100 answerable questions measure a false
# refusal rate to about +-0.02: dev aims a little below it.
MAX_FALSE_REFUSALS = 0.04
# Each dev document indexed alone may refuse at most this share of its answerable questions
# (the pooled documents-alone predictions are held to MAX_FALSE_REFUSALS): a document has
# ~30 answerable questions, so 5 % would let one question decide; 7.5 % allows two. The
# shipped corpus is one such document (the article alone: 0.054 out of fold at the
# threshold this chooses, 0.098 at the one a 10 % cap chose).
MAX_FALSE_REFUSALS_ONE_DOCUMENT = 0.075


def _overlaps(p: Any, gold: list[dict[str, Any]]) -> bool:
    return any(g["doc"] == p.row.doc and p.row.start < g["end"] and g["start"] < p.row.end for g in gold)


def collect(out: Path, alone: str | None = None) -> list[dict[str, Any]]:
    """Per dev question: candidate features, labels, and what answerability needs.

    ``alone``: only that document's questions, over an index of that document alone
    (as a user's folder with a single file is indexed: other candidates, other IDF).
    """
    import shutil

    from rag import Config, Pipeline
    from rag.answering import answerer as A
    from rag.answering import features as F

    from .runner import split_config

    config = split_config(Config(), "dev", out)
    if alone is not None:
        folder = out / f"corpus-dev-alone-{alone}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HERE / "corpora" / "dev" / alone, folder / alone)
        config = config.with_(corpus_dir=folder, home=out / f"index-dev-alone-{alone}")
    pipe = Pipeline.load(config)
    tokens = F.TokenCache(pipe.embedder.embed_tokens)  # type: ignore[attr-defined]
    stats_by_table: dict[int, Any] = {}
    rows = []
    for line in (HERE / "dev.jsonl").read_text(encoding="utf-8").splitlines():
        it = json.loads(line)
        if it["document"] in CHECK_DOCUMENTS or (alone is not None and it["document"] != alone):
            continue
        query, passages, table = pipe.candidates(it["question"], it.get("history") or [])
        cands = A.candidates_of(passages, query, table)
        stats = stats_by_table.setdefault(id(table), F.CorpusStats(table))
        if not cands:
            rows.append({"item": it, "x": np.zeros((0, len(F.SELECTION_FEATURES))), "y": np.zeros(0), "ctx": None})
            continue
        q, x = A.featurize(query, cands, table, tokens, stats)
        y = np.array([float(it["answerable"] and _overlaps(p, it["gold"])) for p in cands])
        rows.append({"item": it, "x": x, "y": y, "ctx": (q, table, [F.window_text(p, table) for p in cands], stats)})
    return rows


def _fit(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float = 1.0) -> Any:
    from sklearn.linear_model import LogisticRegression

    from rag.answering.model import Logistic

    mean = x.mean(axis=0)
    scale = np.where(x.std(axis=0) > 1e-9, x.std(axis=0), 1.0)
    lr = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
    return Logistic(names, tuple(map(float, lr.coef_[0])), float(lr.intercept_[0]), tuple(map(float, mean)),
                    tuple(map(float, scale)))


def _fit_choice(groups: list[tuple[np.ndarray, np.ndarray]], names: tuple[str, ...], l2: float = 1e-4) -> Any:
    """A conditional logit over ``groups``, each a question's candidate rows and their
    0/1 labels (one or more 1s): maximise the log of the share the answer candidates
    take of each question's softmax, plus a small L2 penalty.

    SciPy's L-BFGS on the exact gradient; scikit-learn has no conditional (grouped)
    logit, and the model is a few lines.
    """
    from scipy.optimize import minimize

    from rag.answering.model import ConditionalLogit

    groups = [(x, y) for x, y in groups if y.any() and not y.all()]  # one-sided groups teach no choice
    allx = np.concatenate([x for x, _ in groups])
    mean = allx.mean(axis=0)
    scale = np.where(allx.std(axis=0) > 1e-9, allx.std(axis=0), 1.0)
    data = [((x - mean) / scale, y > 0) for x, y in groups]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, pos in data:
            z = x @ w
            p_all = np.exp(z - z.max())
            p_all /= p_all.sum()
            zp = z[pos]
            p_pos = np.exp(zp - zp.max())
            p_pos /= p_pos.sum()
            total += (z.max() + np.log(np.exp(z - z.max()).sum())) - (zp.max() + np.log(np.exp(zp - zp.max()).sum()))
            grad += p_all @ x - p_pos @ x[pos]
        n = len(data)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    w = minimize(loss, np.zeros(allx.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    return ConditionalLogit(names, tuple(map(float, w)), tuple(map(float, mean)), tuple(map(float, scale)))


def _answer_rows(rows: list[dict[str, Any]], probs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Answerability features, labels (answerable and best is gold), and answerable flags."""
    from rag.answering import features as F

    a, y, ans = [], [], []
    for r, p in zip(rows, probs):
        it = r["item"]
        if r["ctx"] is None:
            feats = np.zeros(len(F.ANSWERABILITY_FEATURES))
            right = 0.0
        else:
            q, table, windows, stats = r["ctx"]
            best = int(np.argmax(p))
            feats = F.answerability_features(q, r["x"], p, best, table, windows[best], stats)
            right = float(r["y"][best] > 0)
        a.append(feats)
        y.append(right)
        ans.append(float(it["answerable"]))
    return np.array(a), np.array(y), np.array(ans)


def _outcomes(p_answer: np.ndarray, right: np.ndarray, answerable: np.ndarray, t: float) -> dict[str, float]:
    answered = p_answer >= t
    n_ans, n_un = answerable.sum(), (1 - answerable).sum()
    return {
        "right_and_cited": float((answered * right).sum() / n_ans) if n_ans else 0.0,
        "refusal_recall": float(((~answered) * (1 - answerable)).sum() / n_un) if n_un else 0.0,
        "false_refusal_rate": float(((~answered) * answerable).sum() / n_ans) if n_ans else 0.0,
    }


HEDGE_MAX_RIGHT = 0.4  # answers right at most this often (out of fold) are said to be doubtful


def choose_hedge(p_answer: np.ndarray, right: np.ndarray, threshold: float, width: float = 0.1,
                 min_items: int = 10) -> float:
    """The lowest level ``h`` (from ``threshold`` up) at which the answers given with
    ``h <= p < h + width`` were right more than ``HEDGE_MAX_RIGHT`` of the time (out of
    fold, at least ``min_items`` of them): answers below it are more often wrong than
    right by that margin, and say so. ``threshold`` when the first band already is (no
    answer is hedged)."""
    for h in np.arange(threshold, 0.95, 0.01):
        band = (p_answer >= h) & (p_answer < h + width)
        if band.sum() >= min_items and right[band].mean() > HEDGE_MAX_RIGHT:
            return round(float(h), 3)
    return round(threshold, 3)


def choose_threshold(
    p_answer: np.ndarray, right: np.ndarray, answerable: np.ndarray,
    also: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] = (),
    each: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]] = (),
) -> float:
    """The threshold with the most (answered right + unanswerable refused) and false
    refusals at most ``MAX_FALSE_REFUSALS`` on the predictions given and on each of
    ``also``, and at most ``MAX_FALSE_REFUSALS_ONE_DOCUMENT`` on each of ``each``."""
    best_t, best = 0.0, -1.0
    for t in np.linspace(0.0, 0.95, 96):
        o = _outcomes(p_answer, right, answerable, float(t))
        ok = all(_outcomes(*extra, float(t))["false_refusal_rate"] <= MAX_FALSE_REFUSALS for extra in also) and all(
            _outcomes(*one, float(t))["false_refusal_rate"] <= MAX_FALSE_REFUSALS_ONE_DOCUMENT for one in each
        )
        if ok and o["false_refusal_rate"] <= MAX_FALSE_REFUSALS and o["right_and_cited"] + o["refusal_recall"] > best:
            best_t, best = float(t), o["right_and_cited"] + o["refusal_recall"]
    return round(best_t, 3)


def main(argv: list[str] | None = None) -> int:
    from rag.answering.model import MODELS_FILE, load_models

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE / "out", help="where the dev index is built")
    ap.add_argument("--c-answer", type=float, default=0.1,
                    help="inverse regularisation of the answerability model (0.1: leave-one-document-out AUC "
                         "0.67 vs 0.65 at 1.0 on dev, for answerable vs not)")
    ap.add_argument("--dry-run", action="store_true", help="print the out-of-fold results, write nothing")
    ap.add_argument("--keep-selector", action="store_true",
                    help="refit the answerability model, threshold and hedge only; the saved selector stays "
                         "(session 13: a selector refitted on the same 795 questions chose worse on the check "
                         "documents, right + cited 0.565 against 0.585)")
    args = ap.parse_args(argv)

    if not MODELS_FILE.exists():
        # Follow-up questions are resolved from the answer to the question before them,
        # which needs a model: start from retrieval's own order (answer everything), fit,
        # then collect again with what was fitted.
        _bootstrap().save(MODELS_FILE)
        load_models.cache_clear()
        _fit_and_save(collect(args.out), [], args.c_answer, quiet=True)
        load_models.cache_clear()
    docs = sorted(p.name for p in (HERE / "corpora" / "dev").iterdir()
                  if p.suffix in (".txt", ".md") and p.name not in CHECK_DOCUMENTS)
    alone = [r for d in docs for r in collect(args.out, alone=d)]
    _fit_and_save(collect(args.out), alone, args.c_answer, dry_run=args.dry_run,
                  keep_selector=load_models().selector if args.keep_selector else None)
    return 0


def _bootstrap() -> Any:
    from rag.answering import features as F
    from rag.answering.model import Logistic, Models

    def only(names: tuple[str, ...], feature: str) -> Logistic:
        w = tuple(1.0 if n == feature else 0.0 for n in names)
        return Logistic(names, w, 0.0, (0.0,) * len(names), (1.0,) * len(names))

    return Models(only(F.SELECTION_FEATURES, "fused"), only(F.ANSWERABILITY_FEATURES, "p_best"), 0.0,
                  fit_note={"bootstrap": "retrieval order, answer everything"})


def _fit_and_save(
    rows: list[dict[str, Any]], alone: list[dict[str, Any]], c_answer: float,
    quiet: bool = False, dry_run: bool = False, keep_selector: Any = None,
) -> None:
    """Fit both models on ``rows`` (the dev corpus indexed together) and choose the
    threshold on their out-of-fold predictions and on those of ``alone`` (each dev
    document indexed by itself, scored by models that never saw it)."""
    from rag.answering import features as F
    from rag.answering.model import MODELS_FILE, Models

    docs = sorted({r["item"]["document"] for r in rows})

    def fit_selector(train: list[dict[str, Any]]) -> Any:
        # A choice among each question's candidates (conditional logit). Against the
        # pointwise logistic used before, leave-one-document-out top-1 on dev's answerable
        # questions with the gold sentence among the candidates went 0.736 -> 0.747, and
        # on the check documents (never fitted on) 0.671 -> 0.751.
        groups = [(r["x"], r["y"]) for r in train if r["item"]["answerable"] and len(r["y"])]
        return _fit_choice(groups, F.SELECTION_FEATURES)

    # Out-of-fold selector probabilities: each document scored by a selector fitted without it.
    oof: list[np.ndarray] = [np.zeros(0)] * len(rows)
    oof_alone: list[np.ndarray] = [np.zeros(0)] * len(alone)
    for d in docs:
        sel = fit_selector([r for r in rows if r["item"]["document"] != d])
        for group, out in ((rows, oof), (alone, oof_alone)):
            for i, r in enumerate(group):
                if r["item"]["document"] == d:
                    out[i] = sel.probability(r["x"]) if len(r["x"]) else np.zeros(0)
    a, right, answerable = _answer_rows(rows, oof)
    doc_of = np.array([r["item"]["document"] for r in rows])
    if alone:
        a1, right1, answerable1 = _answer_rows(alone, oof_alone)
    else:
        a1, right1, answerable1 = (np.zeros((0, len(F.ANSWERABILITY_FEATURES))), np.zeros(0), np.zeros(0))
    doc1 = np.array([r["item"]["document"] for r in alone])

    # Leave-one-document-out for the answerability model too (on out-of-fold selector features).
    p_oof = np.zeros(len(rows))
    p_alone = np.zeros(len(alone))
    for d in docs:
        m = doc_of != d
        model = _fit(a[m], right[m], F.ANSWERABILITY_FEATURES, c_answer)
        p_oof[~m] = model.probability(a[~m])
        if (doc1 == d).any():
            p_alone[doc1 == d] = model.probability(a1[doc1 == d])
    # A folder holding one document is as common as a folder of many (the shipped corpus
    # is one article): false refusals are bounded on the dev corpus and on each dev
    # document indexed alone.
    threshold = choose_threshold(
        p_oof, right, answerable,
        also=[(p_alone, right1, answerable1)] if alone else [],
        each=[(p_alone[doc1 == d], right1[doc1 == d], answerable1[doc1 == d]) for d in docs if (doc1 == d).any()],
    )
    hedge = choose_hedge(p_oof, right, threshold)
    band = (p_oof >= threshold) & (p_oof < hedge)
    hedging = {
        "hedge_below": hedge, "rule": f"below the first band of width 0.1 whose answers were right more than {HEDGE_MAX_RIGHT} of the time (out of fold)",
        "answerable_hedged": round(float((band & (answerable == 1)).sum() / max(1, answerable.sum())), 4),
        "unanswerable_refused_or_hedged": round(float(((p_oof < hedge) & (answerable == 0)).sum()
                                                      / max(1, (1 - answerable).sum())), 4),
        "right_when_hedged": round(float(right[band].mean()), 4) if band.any() else None,
        "right_when_not_hedged": round(float(right[p_oof >= hedge].mean()), 4) if (p_oof >= hedge).any() else None,
    }
    def per_document(p: np.ndarray, r: np.ndarray, ans: np.ndarray, of: np.ndarray) -> dict[str, Any]:
        return {d: {"items": int((of == d).sum()), **_outcomes(p[of == d], r[of == d], ans[of == d], threshold)}
                for d in docs if (of == d).any()}

    folds = per_document(p_oof, right, answerable, doc_of)
    folds_alone = per_document(p_alone, right1, answerable1, doc1)
    bins = []
    for lo in np.arange(0.0, 1.0, 0.1):
        m = (p_oof >= lo) & (p_oof < lo + 0.1 + (1e-9 if lo >= 0.9 else 0))
        if m.any():
            # "rate": how many were answerable (what the model predicts); "right": how many
            # of them the best candidate also answered (what the hedge level is chosen on).
            bins.append({"lo": float(lo), "hi": float(lo + 0.1), "n": int(m.sum()), "rate": float(answerable[m].mean()),
                         "right": float(right[m].mean())})
    overall = _outcomes(p_oof, right, answerable, threshold)
    from sklearn.metrics import roc_auc_score

    # How well the probability orders the questions, whatever the threshold.
    overall["auc_answerable"] = round(float(roc_auc_score(answerable, p_oof)), 4)
    overall["auc_right"] = round(float(roc_auc_score(right, p_oof)), 4)
    overall_alone = _outcomes(p_alone, right1, answerable1, threshold) if alone else {}
    selector = fit_selector(rows) if keep_selector is None else keep_selector
    answerability = _fit(a, right, F.ANSWERABILITY_FEATURES, c_answer)
    dev = (HERE / "dev.jsonl").read_bytes()
    note = {
        "fitted_on": "evals/dev.jsonl", "dev_sha256": hashlib.sha256(dev).hexdigest()[:16], "items": len(rows),
        "documents": len(docs), "threshold_rule": f"max right+refused with false refusals <= {MAX_FALSE_REFUSALS} (out of fold), "
                          f"over the dev corpus and over the dev documents each indexed alone (pooled), "
                          f"and <= {MAX_FALSE_REFUSALS_ONE_DOCUMENT} for any one of them",
        "out_of_fold": overall, "out_of_fold_alone": overall_alone, "hedging": hedging, "selector": "conditional logit, L2 1e-4" + (" (kept from the fit before)" if keep_selector is not None else ""), "C_answerability": c_answer,
    }
    def show() -> None:
        print(f"threshold {threshold}; out of fold: {overall}")
        print(f"hedging: {hedging}")
        for d, m in folds.items():
            print(f"  {d:<24} {m}")
        print(f"each document alone: {overall_alone}")
        for d, m in folds_alone.items():
            print(f"  {d:<24} {m}")

    if dry_run:
        show()
        return
    Models(selector, answerability, threshold, fit_note=note, hedge_below=hedge).save(MODELS_FILE)
    if quiet:
        return
    # What other thresholds trade (RAG_REFUSAL_THRESHOLD): out of fold, dev corpus.
    curve = [{"threshold": round(float(t), 2), **{k: round(v, 4) for k, v in _outcomes(p_oof, right, answerable, float(t)).items()}}
             for t in np.arange(0.05, 0.51, 0.05)]
    cv = {"threshold": threshold, "hedging": hedging, "overall": overall, "folds": folds, "reliability": bins, "curve": curve,
          "overall_alone": overall_alone, "folds_alone": folds_alone,
          "note": "each fold: both models fitted on the other dev documents; the threshold is the one chosen "
                  "on all out-of-fold dev predictions, over the dev corpus and over each document indexed alone"}
    (HERE / "answerer_cv.json").write_text(json.dumps(cv, indent=1) + "\n", encoding="utf-8")
    show()
    print("selector weights:", dict(zip(F.SELECTION_FEATURES, np.round(selector.weights, 2))))
    print("answerability weights:", dict(zip(F.ANSWERABILITY_FEATURES, np.round(answerability.weights, 2))))


if __name__ == "__main__":
    sys.exit(main())
