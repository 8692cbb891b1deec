"""Hybrid retrieval and answer-type reranking, on the real article, model and Chroma."""

from __future__ import annotations

from rag import Pipeline
from rag.retrieval import rerank

WHEN = "When did Noem post about the tour on X?"
BYLINE = "— Secretary Kristi Noem (@Sec_Noem) March 26, 2025"


def _rank(passages, text):
    return next(i for i, p in enumerate(passages) if p.text == text)


def _candidates(pipeline, question):
    return pipeline.retriever.retrieve(question, pipeline.config.retrieval.candidate_k)


def test_the_rerank_stage_orders_by_the_rerankers_scores_and_changes_nothing(pipeline):
    fused = _candidates(pipeline, WHEN)
    before = [(p.id, p.score) for p in fused]
    reranker = pipeline.reranker("extractive")
    scores = reranker.scores(WHEN, fused, pipeline.table)
    reranked = rerank(WHEN, fused, pipeline.table, reranker, 1.0)
    assert len(scores) == len(fused) and all(0.0 <= s <= 1.0 for s in scores)
    assert [p.id for p in reranked] == [p.id for _, p in sorted(zip(scores, fused), key=lambda x: -x[0])]
    assert {p.id for p in reranked} == {p.id for p in fused}
    assert [(p.id, p.score) for p in fused] == before  # a new order; nothing it was given changed


def test_a_reranker_that_scores_the_last_first_reverses_the_order(pipeline):
    # A fake that tells passages apart by their position: the stage must follow its scores.
    class Backwards:
        def scores(self, question, passages, table):
            return [i / len(passages) for i in range(len(passages))]

    fused = _candidates(pipeline, WHEN)
    assert [p.id for p in rerank(WHEN, fused, pipeline.table, Backwards(), 1.0)] == [p.id for p in reversed(fused)]


def test_rerank_weight_zero_keeps_the_fused_order(pipeline):
    fused = _candidates(pipeline, WHEN)
    same = rerank(WHEN, fused, pipeline.table, pipeline.reranker("extractive"), 0.0)
    assert [p.id for p in same] == [p.id for p in fused]


def test_the_llm_mode_sees_the_fused_order(pipeline):
    """An LLM that writes its own sentences (a server, the default backend) reads the fused
    order; this needs no LLM to be reachable."""
    assert pipeline.reranker("llm") is None
    fused = _candidates(pipeline, WHEN)
    assert [p.id for p in pipeline.retrieve(WHEN, k=len(fused), mode="llm")] == [p.id for p in fused]
    assert [p.id for p in pipeline.retrieve(WHEN, k=len(fused), reranked=False)] == [p.id for p in fused]


def test_a_small_llm_that_picks_a_phrase_sees_the_selectors_order(pipeline):
    phrase = Pipeline(pipeline.config.with_(llm_answer_style="phrase"), embedder=pipeline.embedder)
    assert phrase.reranker("llm") is phrase.answerer("extractive")
    assert [p.id for p in phrase.retrieve(WHEN, k=3, mode="llm")] == [p.id for p in phrase.retrieve(WHEN, k=3)]


def test_pipeline_retrieve_is_what_answering_sees(pipeline):
    top = pipeline.retrieve(WHEN, k=3)
    reranker = pipeline.reranker("extractive")
    fused = _candidates(pipeline, WHEN)
    expect = rerank(WHEN, fused, pipeline.table, reranker, pipeline.config.retrieval.rerank_weight)[:3]
    assert [p.id for p in top] == [p.id for p in expect]
    # The answer quotes from those candidates.
    answer = pipeline.ask(WHEN)
    assert answer.refused or any(c.quote in {p.text for p in fused} for c in answer.citations)


def test_an_extractive_answerer_that_cannot_rerank_leaves_the_fused_order(pipeline):
    from rag import Pipeline

    class Plain:
        name = "extractive"

        def answer(self, question, passages, table):
            return pipeline.answerer("extractive").answer(question, passages, table)

    p = Pipeline(pipeline.config, embedder=pipeline.embedder, answerers={"extractive": Plain()})
    fused = _candidates(pipeline, WHEN)
    assert [x.id for x in p.retrieve(WHEN, k=len(fused))] == [x.id for x in fused]
    assert p.ask(WHEN).citations  # answered, from the fused order
    # It does not say whether its confidence is calibrated: a follow-up is read once, no error.
    assert p.ask("What is his job title?", history=["Who accompanied Noem on the tour?"]).text
