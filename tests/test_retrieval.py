"""Hybrid retrieval and answer-type reranking, on the real article, model and Chroma."""

from __future__ import annotations

from dataclasses import replace

from rag.answer import ExtractiveAnswerer

WHEN = "When did Noem post about the tour on X?"
BYLINE = "— Secretary Kristi Noem (@Sec_Noem) March 26, 2025"


def _rank(passages, text):
    return next(i for i, p in enumerate(passages) if p.text == text)


def _candidates(pipeline, question):
    return pipeline.retriever.retrieve(question, pipeline.config.candidate_k)


def test_reranking_brings_the_kind_of_value_asked_for_forward(pipeline):
    fused = _candidates(pipeline, WHEN)
    reranked = pipeline.reranker.rerank(WHEN, fused, pipeline.table)
    # Retrieval alone ranks sentences about the post above its dated byline ...
    assert _rank(fused, BYLINE) >= 3
    # ... the answerer's sense of "when" (a date) puts the byline in the top three.
    assert _rank(reranked, BYLINE) < 3
    assert {p.id for p in reranked} == {p.id for p in fused}
    assert all(p.merit is not None and p.merit_for == WHEN for p in reranked)
    assert all(p.merit is None for p in fused)  # the retriever's passages are not mutated


def test_rerank_weight_zero_keeps_the_fused_order(pipeline, embedder):
    plain = ExtractiveAnswerer(replace(pipeline.config, rerank_weight=0.0), embedder)
    fused = _candidates(pipeline, WHEN)
    assert [p.id for p in plain.rerank(WHEN, fused, pipeline.table)] == [p.id for p in fused]


def test_pipeline_retrieve_is_what_answering_sees(pipeline):
    top = pipeline.retrieve(WHEN, k=3)
    assert len(top) == 3 and BYLINE in [p.text for p in top]
    # The answer to the same question cites from those candidates: its date comes
    # from the byline that reranking brought forward.
    answer = pipeline.ask(WHEN)
    assert "March 26, 2025" in answer.text
    assert any(c.quote == BYLINE for c in answer.citations)


def test_answering_reuses_a_merit_only_for_the_question_it_was_computed_for(pipeline, embedder, monkeypatch):
    answerer = ExtractiveAnswerer(pipeline.config, embedder)
    question = "How many inmates can CECOT hold?"
    reranked = answerer.rerank(question, _candidates(pipeline, question), pipeline.table)
    calls = []
    real = answerer.merit
    monkeypatch.setattr(answerer, "merit", lambda *a: calls.append(1) or real(*a))
    reused = answerer.answer(question, reranked, pipeline.table)
    assert not calls and "40,000" in reused.text
    # Passages straight from retrieval carry no merit: answering computes it.
    fresh = answerer.answer(question, _candidates(pipeline, question), pipeline.table)
    assert calls and fresh.text == reused.text
    # Passages reranked for another question: their merits are not trusted.
    calls.clear()
    other = answerer.rerank(WHEN, _candidates(pipeline, question), pipeline.table)
    assert answerer.answer(question, other, pipeline.table).text == reused.text
    assert calls


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
