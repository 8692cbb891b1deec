"""Hybrid retrieval and answer-type reranking, on the real article, model and Chroma."""

from __future__ import annotations

import pytest

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


def _crowded(tmp_path_factory, embedder, **settings):
    """The article beside a 3,000-line log of near-identical lines (a user's folder with
    one big generated file in it), indexed with ``settings``."""
    import random
    import shutil

    from rag import Config

    from .conftest import ARTICLE, DOC

    tmp = tmp_path_factory.mktemp("crowded")
    corpus = tmp / "corpus"
    corpus.mkdir()
    shutil.copy(ARTICLE, corpus / DOC)
    rnd = random.Random(0)
    (corpus / "server.log.txt").write_text("".join(
        f"2025-03-{rnd.randint(10, 28)} 12:{rnd.randint(10, 59)}:{rnd.randint(10, 59)} INFO worker-{rnd.randint(1, 9)} "
        f"processed batch {i} of prison transfer records in {rnd.randint(100, 999)} ms; visit queue size {rnd.randint(1, 40)}.\n"
        for i in range(3000)
    ), encoding="utf-8")
    pipe = Pipeline(Config().with_(corpus_dir=corpus, home=tmp / ".rag", **settings), embedder=embedder)
    pipe.index()
    return pipe


class _Stranded:
    """The real store, but its approximate search never returns ``lost`` sentences (as
    an HNSW graph that stranded them does); exact scoring still sees them."""

    def __init__(self, store, lost):
        self.store, self.lost = store, set(lost)

    def search(self, vector, k):
        return [h for h in self.store.search(vector, k) if h.sentence_id not in self.lost]

    def score_sentences(self, vector, sentence_ids):
        return self.store.score_sentences(vector, sentence_ids)


def test_a_sentence_the_approximate_search_missed_gets_its_exact_dense_score(pipeline):
    from rag.retrieval import HybridRetriever

    real = pipeline.retriever
    question = "When did CECOT open?"
    gold = next(p for p in _candidates(pipeline, question) if "first opened in 2022" in p.text)
    stranded = HybridRetriever(real.config, real.embedder, _Stranded(real.store, [gold.id]), real.table, real.sparse_index)
    got = stranded.retrieve(question, pipeline.config.retrieval.candidate_k)
    again = next(p for p in got if p.id == gold.id)  # BM25 found it; its vectors were scored exactly
    assert again.dense == pytest.approx(gold.dense, abs=1e-4) and again.window == pytest.approx(gold.window, abs=1e-4)
    assert _rank(got, gold.text) <= 2
    # Without the exact scores it would stand at the floor of what the search returned.
    blind = HybridRetriever(real.config, real.embedder, _Stranded(real.store, [gold.id]), real.table, real.sparse_index)
    blind.missed = lambda *a: []  # type: ignore[method-assign]
    floor = next(p for p in blind.retrieve(question, 50) if p.id == gold.id)
    assert floor.dense < gold.dense - 0.1


@pytest.mark.slow
@pytest.mark.parametrize("graph", ["chroma-default", "ours"])
def test_a_large_repetitive_document_does_not_crowd_out_the_article(tmp_path_factory, embedder, graph):
    """The article beside a 3,000-line log, indexed with Chroma's default HNSW graph and
    with ours: questions about the article are answered from the article. (One build
    with the default graph returned none of the article's vectors for such a question;
    graph builds vary, so the repair itself is tested above with the search made blind.)"""
    from .conftest import DOC

    settings = {"hnsw_max_neighbors": 16, "hnsw_ef_construction": 100} if graph == "chroma-default" else {}
    pipe = _crowded(tmp_path_factory, embedder, **settings)
    top = _candidates(pipe, "When did CECOT open?")[0]
    assert top.row.doc == DOC and "first opened in 2022" in top.text
    a = pipe.ask("When did CECOT open?")
    assert not a.refused and a.citations[0].doc == DOC and "2022" in a.answer_span.text
    a = pipe.ask("How many inmates can the prison hold?")
    assert not a.refused and a.citations[0].doc == DOC and "40,000" in a.answer_span.text


@pytest.fixture(scope="module")
def ferry_pipeline(tmp_path_factory, embedder):
    """A plain-text timetable: seven rows that differ only in their times and cells."""
    from .conftest import data_pipeline

    return data_pipeline(tmp_path_factory, embedder, "ferry-winter.txt")


@pytest.mark.parametrize("time, row", [("9:30", "09:30 Port Alda"), ("12:15", "12:15 Island Quay"), ("17:45", "17:45 Port Alda")])
def test_a_time_finds_its_own_row_of_a_timetable(ferry_pipeline, time, row):
    # Each row was searched beside the rows above and below it, so a time matched three
    # departures alike and the one asked about could rank eighth.
    hits = ferry_pipeline.retriever.sparse_index.search(time)
    assert ferry_pipeline.table.text(ferry_pipeline.table.by_id[hits[0][0]]).startswith(row)
    assert len(hits) == 1 or hits[1][1] < hits[0][1]
    # The question as asked: its row is among the three the answerer weighs first (which
    # of them it quotes is the selector's call: for 9:30 it still prefers the prose
    # sentence on "sailings").
    top = ferry_pipeline.retrieve(f"which boat does the {time} sailing take?", k=3)
    assert any(p.text.startswith(row) for p in top), [p.text for p in top]


TRIP_LETTER = """# Year 7 residential trip

The trip runs from Monday 12 May to Wednesday 14 May.

## What to pack

- A sleeping bag and a pillow
- Waterproof coat and walking boots
- A refillable water bottle

## Travel

Coaches leave the school at 8:30 a.m. and return by 4 p.m.
"""

ARCHIVER_NOTES = """Archiver notes

For pack, gunzip checks the uncompressed length. The pack format is seldom used today.
"""


def test_a_sentence_is_searched_under_its_section_heading(tmp_path_factory, embedder):
    from rag import Config, Pipeline

    tmp = tmp_path_factory.mktemp("sections")
    (tmp / "corpus").mkdir()
    (tmp / "corpus" / "trip.md").write_text(TRIP_LETTER, encoding="utf-8")
    (tmp / "corpus" / "archiver.txt").write_text(ARCHIVER_NOTES, encoding="utf-8")
    pipe = Pipeline.load(Config().with_(corpus_dir=tmp / "corpus", home=tmp / ".rag"), embedder=embedder)
    # The items under "What to pack" never say "pack"; the heading says it for them.
    hits = pipe.retriever.sparse_index.search("what should i pack")
    texts = [pipe.table.text(pipe.table.by_id[i]) for i, _ in hits]
    assert texts[0].startswith("- "), texts
    # The document's title is not added to every sentence of it ("residential trip"
    # would match all of them alike).
    assert [pipe.table.text(pipe.table.by_id[i]) for i, _ in pipe.retriever.sparse_index.search("residential")] == []
