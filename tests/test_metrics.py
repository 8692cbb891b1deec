"""Evaluation metrics on tiny hand-made cases (pure functions)."""

from __future__ import annotations

import pytest

from evals import metrics as m

D = "doc.txt"


def span(s, e, text=None):
    d = {"doc": D, "start": s, "end": e}
    if text:
        d["text"] = text
    return d


def test_retrieval_hit_mrr_recall():
    retrieved = [[span(0, 5), span(10, 20), span(30, 40)], [span(50, 60), span(0, 5)], [span(90, 99)]]
    gold = [[span(12, 15)], [span(0, 3), span(70, 80)], [span(1, 2)]]
    assert m.hit_at_k(retrieved, gold, 1)["score"] == 0.0
    assert m.hit_at_k(retrieved, gold, 2)["score"] == pytest.approx(2 / 3)
    assert m.mrr(retrieved, gold)["per_item"] == [0.5, 0.5, 0.0]
    assert m.recall_at_k(retrieved, gold, 2)["per_item"] == [1.0, 0.5, 0.0]


def test_same_words_elsewhere_count_as_the_same_evidence():
    assert m.span_matches(span(100, 120, "LEAVE NOW."), span(5, 30, "President Trump: LEAVE NOW."))
    assert not m.span_matches(span(100, 120, "Go home."), span(5, 30, "LEAVE NOW."))


def test_groundedness_counts_sentences_and_answers():
    g = m.groundedness([[True, True], [True, False], []])
    assert g["score"] == pytest.approx(3 / 4)
    assert g["answers_fully_supported"] == pytest.approx(2 / 3)


def test_alce_citation_recall_and_precision():
    facts = {"A": {"p1"}, "B": {"p2"}, "AB": {"p1", "p2"}}

    def support(sentence, passages):
        return facts[sentence] <= set(passages) or (sentence != "AB" and bool(facts[sentence] & set(passages)))

    answers = [
        [("A", ["p1"])],  # recall 1, precision 1
        [("A", ["p1", "p3"])],  # p3 is irrelevant: precision 1/2
        [("AB", ["p1", "p2"])],  # needs both: neither alone, both relevant
        [("B", [])],  # no citation: recall 0
    ]
    r = m.citation_recall_precision(answers, support)
    assert [x["recall"] for x in r["per_item"]] == [1.0, 1.0, 1.0, 0.0]
    assert [x["precision"] for x in r["per_item"]] == [1.0, 0.5, 1.0, 0.0]
    assert r["recall"] == 0.75 and r["precision"] == pytest.approx(2.5 / 4)


def test_token_f1_and_key_facts():
    assert m.token_f1(["The prison holds 40,000"], ["40,000 inmates"])["per_item"][0] == pytest.approx(0.4)
    assert m.token_f1([""], [""])["score"] == 1.0
    k = m.key_fact_match(["Colombia and Mexico", "Mexico only"], [["Colombia", "Mexico"], ["Colombia", "mexico"]])
    assert k["per_item"] == [1.0, 0.5]


def test_refusal_metrics():
    r = m.refusal_metrics(refused=[True, True, False, False, True], answerable=[False, True, False, True, True])
    assert r["precision"] == pytest.approx(1 / 3)
    assert r["recall"] == pytest.approx(1 / 2)
    assert r["false_refusal_rate"] == pytest.approx(2 / 3)


def test_latency_percentiles_and_confusion():
    lat = m.latency([10, 20, 30, 40, 1000])
    assert lat["p50"] == 30 and lat["p95"] == 1000
    c = m.confusion([True, True, False, False], [True, False, True, False])
    assert (c["tp"], c["fn"], c["fp"], c["tn"]) == (1, 1, 1, 1) and c["precision"] == 0.5
