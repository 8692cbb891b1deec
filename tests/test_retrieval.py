"""Hybrid retrieval and answer-type reranking, on the real article, model and Chroma."""

from __future__ import annotations

from rag.retrieval import rerank

WHEN = "When did Noem post about the tour on X?"
BYLINE = "— Secretary Kristi Noem (@Sec_Noem) March 26, 2025"


def _rank(passages, text):
    return next(i for i, p in enumerate(passages) if p.text == text)


def _candidates(pipeline, question):
    return pipeline.retriever.retrieve(question, pipeline.config.retrieval.candidate_k)


def test_reranking_brings_the_kind_of_value_asked_for_forward(pipeline):
    fused = _candidates(pipeline, WHEN)
    before = [(p.id, p.score) for p in fused]
    reranked = rerank(WHEN, fused, pipeline.table, pipeline.reranker("extractive"), pipeline.config.retrieval.rerank_weight)
    # Retrieval alone ranks sentences about the post above its dated byline ...
    assert _rank(fused, BYLINE) >= 3
    # ... the answerer's sense of "when" (a date) puts the byline in the top three.
    assert _rank(reranked, BYLINE) < 3
    assert {p.id for p in reranked} == {p.id for p in fused}
    assert [(p.id, p.score) for p in fused] == before  # a new order; nothing it was given changed


def test_the_reranker_scores_without_changing_its_passages(pipeline):
    fused = _candidates(pipeline, WHEN)
    copies = list(fused)
    scores = pipeline.reranker("extractive").scores(WHEN, fused, pipeline.table)
    assert len(scores) == len(fused) and fused == copies
    assert scores[_rank(fused, BYLINE)] > fused[_rank(fused, BYLINE)].score  # the date counts


def test_rerank_weight_zero_keeps_the_fused_order(pipeline):
    fused = _candidates(pipeline, WHEN)
    same = rerank(WHEN, fused, pipeline.table, pipeline.reranker("extractive"), 0.0)
    assert [p.id for p in same] == [p.id for p in fused]


def test_the_llm_mode_sees_the_fused_order(pipeline):
    assert pipeline.reranker("llm") is None
    fused = _candidates(pipeline, WHEN)
    assert [p.id for p in pipeline.retrieve(WHEN, k=len(fused), mode="llm")] == [p.id for p in fused]
    assert [p.id for p in pipeline.retrieve(WHEN, k=len(fused), reranked=False)] == [p.id for p in fused]


def test_pipeline_retrieve_is_what_answering_sees(pipeline):
    top = pipeline.retrieve(WHEN, k=3)
    assert len(top) == 3 and BYLINE in [p.text for p in top]
    # The answer to the same question cites from those candidates: its date comes
    # from the byline that reranking brought forward.
    answer = pipeline.ask(WHEN)
    assert "March 26, 2025" in answer.text
    assert any(c.quote == BYLINE for c in answer.citations)


def test_an_extractive_answerer_that_cannot_rerank_leaves_the_fused_order(pipeline):
    from rag import Pipeline

    class Plain:
        name = "extractive"

        def answer(self, question, passages, table):
            return pipeline.answerer("extractive").answer(question, passages, table)

    p = Pipeline(pipeline.config, embedder=pipeline.embedder, answerers={"extractive": Plain()})
    fused = _candidates(pipeline, WHEN)
    assert [x.id for x in p.retrieve(WHEN, k=len(fused))] == [x.id for x in fused]
    assert "March 26, 2025" in p.ask(WHEN).text
