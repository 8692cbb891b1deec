"""Evaluation metrics: pure functions, each returning ``{"score": float, "per_item": list}``.

Spans are ``{"doc", "start", "end"}`` mappings (a ``"text"`` key is used when present:
the same words standing twice in a document count as the same evidence).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Any, Callable, Mapping, Sequence

Span = Mapping[str, Any]
Result = dict[str, Any]


def _result(per_item: list[Any], values: Sequence[float]) -> Result:
    return {"score": (sum(values) / len(values)) if values else 0.0, "per_item": per_item}


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def span_matches(retrieved: Span, gold: Span) -> bool:
    """Overlapping offsets in the same document, or the same words (a repeated quote)."""
    if retrieved["doc"] == gold["doc"] and retrieved["start"] < gold["end"] and gold["start"] < retrieved["end"]:
        return True
    rt, gt = retrieved.get("text"), gold.get("text")
    if rt and gt:
        a, b = _words(rt), _words(gt)
        return bool(a and b) and (a in b or b in a)
    return False


def _first_hit_rank(retrieved: Sequence[Span], gold: Sequence[Span]) -> int | None:
    for rank, r in enumerate(retrieved, start=1):
        if any(span_matches(r, g) for g in gold):
            return rank
    return None


def hit_at_k(retrieved: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]], k: int) -> Result:
    """Share of items with a gold span among their top ``k`` retrieved spans."""
    per = []
    for r, g in zip(retrieved, gold):
        rank = _first_hit_rank(r[:k], g)
        per.append(1.0 if rank is not None else 0.0)
    return _result(per, per)


def mrr(retrieved: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]]) -> Result:
    """Mean reciprocal rank of the first retrieved span that matches a gold span."""
    per = []
    for r, g in zip(retrieved, gold):
        rank = _first_hit_rank(r, g)
        per.append(1.0 / rank if rank else 0.0)
    return _result(per, per)


def recall_at_k(retrieved: Sequence[Sequence[Span]], gold: Sequence[Sequence[Span]], k: int) -> Result:
    """Share of each item's gold spans found among its top ``k`` retrieved spans."""
    per = []
    for r, g in zip(retrieved, gold):
        found = sum(any(span_matches(x, gs) for x in r[:k]) for gs in g)
        per.append(found / len(g) if g else 1.0)
    return _result(per, per)


def groundedness(supported: Sequence[Sequence[bool]]) -> dict[str, Any]:
    """Per answer, the sentences' support verdicts.

    ``score``: share of all answer sentences supported; ``answers_fully_supported``:
    share of answers whose every sentence is supported (an answer with no sentence,
    a refusal, counts as supported: it claims nothing).
    """
    per = [(sum(s) / len(s)) if s else 1.0 for s in supported]
    flat = [x for s in supported for x in s]
    return {
        "score": (sum(flat) / len(flat)) if flat else 1.0,
        "answers_fully_supported": (sum(all(s) for s in supported) / len(supported)) if supported else 1.0,
        "per_item": per,
    }


SupportFn = Callable[[str, Sequence[str]], bool]


def citation_recall_precision(
    answers: Sequence[Sequence[tuple[str, Sequence[str]]]], support: SupportFn
) -> dict[str, Any]:
    """ALCE citation recall and precision (Gao et al., 2023).

    ``answers``: per answer, its sentences as ``(sentence, [cited passage texts])``.
    Recall of a sentence is 1 if it has citations and their concatenation supports
    it. A citation is *irrelevant* if it does not support the sentence alone and
    removing it leaves the sentence's support unchanged; precision is the share of
    citations that are not irrelevant. Both averaged per answer, then over answers
    that have sentences (refusals are left out).
    """
    recalls: list[float] = []
    precisions: list[float] = []
    per: list[dict[str, float] | None] = []
    for sentences in answers:
        if not sentences:
            per.append(None)
            continue
        rec, relevant, total = [], 0, 0
        for sentence, cited in sentences:
            ok = bool(cited) and support(sentence, list(cited))
            rec.append(1.0 if ok else 0.0)
            for i, c in enumerate(cited):
                total += 1
                alone = support(sentence, [c])
                rest = [x for j, x in enumerate(cited) if j != i]
                without = bool(rest) and support(sentence, rest)
                irrelevant = not alone and without == ok
                relevant += 0 if irrelevant else 1
        r = sum(rec) / len(rec)
        p = relevant / total if total else 0.0
        recalls.append(r)
        precisions.append(p)
        per.append({"recall": r, "precision": p})
    return {
        "recall": sum(recalls) / len(recalls) if recalls else 1.0,
        "precision": sum(precisions) / len(precisions) if precisions else 1.0,
        "score": (sum(recalls) / len(recalls)) if recalls else 1.0,
        "per_item": per,
    }


def _normalize_answer(text: str) -> list[str]:
    # SQuAD's normalisation: lower case, no punctuation, no articles.
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation) | {"“", "”", "’", "‘", "—"})
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return text.split()


def token_f1(predictions: Sequence[str], references: Sequence[str]) -> Result:
    """SQuAD token F1 between each prediction and its reference answer."""
    per = []
    for pred, ref in zip(predictions, references):
        p, r = _normalize_answer(pred), _normalize_answer(ref)
        common = Counter(p) & Counter(r)
        same = sum(common.values())
        if not p or not r:
            per.append(float(p == r))
        elif same == 0:
            per.append(0.0)
        else:
            precision, recall = same / len(p), same / len(r)
            per.append(2 * precision * recall / (precision + recall))
    return _result(per, per)


def key_fact_match(predictions: Sequence[str], key_facts: Sequence[Sequence[str]]) -> Result:
    """Share of each item's key facts found (case-insensitive) in its prediction."""
    per = []
    for pred, facts in zip(predictions, key_facts):
        low = pred.lower().replace("’", "'")
        per.append(sum(f.lower().replace("’", "'") in low for f in facts) / len(facts) if facts else 1.0)
    return _result(per, per)


def refusal_metrics(refused: Sequence[bool], answerable: Sequence[bool]) -> dict[str, Any]:
    """Refusal precision and recall (positive class: unanswerable) and false-refusal rate."""
    tp = sum(r and not a for r, a in zip(refused, answerable))
    fp = sum(r and a for r, a in zip(refused, answerable))
    fn = sum((not r) and (not a) for r, a in zip(refused, answerable))
    n_answerable = sum(answerable)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    per = [{"refused": r, "answerable": a} for r, a in zip(refused, answerable)]
    return {
        "score": recall,
        "precision": precision,
        "recall": recall,
        "false_refusal_rate": fp / n_answerable if n_answerable else 0.0,
        "per_item": per,
    }


def latency(ms: Sequence[float]) -> dict[str, Any]:
    """p50 and p95 (nearest-rank) of per-item latencies in milliseconds."""
    xs = sorted(ms)

    def pct(p: float) -> float:
        if not xs:
            return 0.0
        return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]

    return {"score": pct(50), "p50": pct(50), "p95": pct(95), "per_item": list(ms)}


def confusion(labels: Sequence[bool], predictions: Sequence[bool]) -> dict[str, Any]:
    """Confusion matrix of a binary checker (positive: supported)."""
    tp = sum(l and p for l, p in zip(labels, predictions))
    tn = sum((not l) and (not p) for l, p in zip(labels, predictions))
    fp = sum((not l) and p for l, p in zip(labels, predictions))
    fn = sum(l and (not p) for l, p in zip(labels, predictions))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {
        "score": (tp + tn) / len(labels) if labels else 1.0,
        "tp": tp, "tn": tn, "fp": fp, "fn": fn,
        "precision": precision, "recall": recall,
        "per_item": [p == l for l, p in zip(labels, predictions)],
    }
