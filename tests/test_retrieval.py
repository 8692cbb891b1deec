"""Hybrid retrieval and answer-type reranking, on the real article, model and Chroma."""

from __future__ import annotations

from dataclasses import replace

from rag.answer import ExtractiveAnswerer

WHEN = "When did Noem post about the tour on X?"
BYLINE = "— Secretary Kristi Noem (@Sec_Noem) March 26, 2025"


def _rank(passages, text):
    return next(i for i, p in enumerate(passages) if p.text == text)


def test_reranking_brings_the_kind_of_value_asked_for_forward(pipeline):
    fused = pipeline.retriever.retrieve(WHEN, 10)
    reranked = pipeline.reranker.rerank(WHEN, fused, pipeline.table)
    # Retrieval alone ranks sentences about the post above its dated byline ...
    assert _rank(fused, BYLINE) >= 3
    # ... the answerer's sense of "when" (a date) puts the byline in the top three.
    assert _rank(reranked, BYLINE) < 3
    assert {p.id for p in reranked} == {p.id for p in fused}
    assert all(p.merit is not None for p in reranked)
    assert all(p.merit is None for p in fused)  # the retriever's passages are not mutated


def test_rerank_weight_zero_keeps_the_fused_order(pipeline, embedder):
    plain = ExtractiveAnswerer(replace(pipeline.config, rerank_weight=0.0), embedder)
    fused = pipeline.retriever.retrieve(WHEN, 10)
    assert [p.id for p in plain.rerank(WHEN, fused, pipeline.table)] == [p.id for p in fused]


def test_pipeline_retrieve_returns_k_passages_in_reranked_order(pipeline):
    top = pipeline.retrieve(WHEN, k=3)
    assert len(top) == 3
    expected = pipeline.reranker.rerank(WHEN, pipeline.retriever.retrieve(WHEN, 10), pipeline.table)[:3]
    assert [p.id for p in top] == [p.id for p in expected]
    assert BYLINE in [p.text for p in top]


def test_answering_reuses_the_merit_reranking_computed(pipeline, embedder, monkeypatch):
    answerer = ExtractiveAnswerer(pipeline.config, embedder)
    question = "How many inmates can CECOT hold?"
    reranked = answerer.rerank(question, pipeline.retriever.retrieve(question, 10), pipeline.table)
    calls = []
    real = answerer.merit
    monkeypatch.setattr(answerer, "merit", lambda *a: calls.append(1) or real(*a))
    reused = answerer.answer(question, reranked, pipeline.table)
    assert not calls and "40,000" in reused.text
    # Passages straight from retrieval carry no merit: answering computes it.
    fresh = answerer.answer(question, pipeline.retriever.retrieve(question, 10), pipeline.table)
    assert calls and fresh.text == reused.text
