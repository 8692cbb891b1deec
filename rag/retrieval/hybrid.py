"""Hybrid retrieval at sentence granularity.

Dense: Chroma holds a few vectors per sentence (the sentence, its clauses, and the
sentence inside its neighbours); a sentence's dense score is
``max(cos(sentence), cos(best clause)) + cos(window)`` — precise at clause level,
with the neighbouring sentences as context. Sparse: LlamaIndex's BM25Retriever
(bm25s with English stemming and stop words) over the sentences. The two are
fused by relative-score fusion: each list min-max normalised over the candidate
set and mixed ``dense_weight : 1 - dense_weight``. A :class:`Reranker` (the extractive
answerer, which knows what kind of value a question asks for) then reorders the
candidates; ``Pipeline.retrieve`` and ``Pipeline.ask`` both see that order.

Why not reciprocal-rank fusion through LlamaIndex's ``QueryFusionRetriever``: on a
short document every sentence appears in both candidate lists, and RRF then
flattens the scores (measured on evals/dataset.jsonl: hit@3 0.86 for RRF against
0.92 for relative scores); RRF also discards the raw dense cosine and BM25 score
that the answerability model needs. QueryFusionRetriever's own "relative_score"
mode is this same fusion, but it cannot merge several vectors of one sentence.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from .config import Config
from .embedding import Embedder
from .indexing import BM25_IDS, SentenceRow, SentenceTable
from .store import Hit, SentenceStore

log = logging.getLogger(__name__)


@dataclass
class Passage:
    """A retrieved sentence with the signals that ranked it."""

    row: SentenceRow
    text: str
    score: float  # fused score in [0, 1]
    dense: float  # max cosine(question, sentence or one of its clauses)
    window: float  # cosine(question, sentence with its neighbours)
    sparse: float  # raw BM25 score; 0 if BM25 did not return it
    dense_rank: int | None
    sparse_rank: int | None
    # The answerer's worth of this sentence for the question ``merit_for`` (its fused
    # score plus the kind of value asked for, the thing asked about, the question's
    # words); set by a Reranker, None straight from retrieval.
    merit: float | None = None
    merit_for: str | None = None

    @property
    def id(self) -> str:
        return self.row.id

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["row"] = asdict(self.row)
        return d


@runtime_checkable
class Reranker(Protocol):
    """Reorders retrieved sentences by how well they can answer the question."""

    def rerank(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> list[Passage]: ...


class SparseIndex:
    """The BM25 index that indexing persisted with LlamaIndex's ``BM25Retriever``,
    queried through bm25s directly with the retriever's own tokenisation.

    Why not ``BM25Retriever.from_persist_dir(...).retrieve``: it loads the whole node
    corpus as JSON at start (seconds at 100k chunks) and rebuilds a LlamaIndex node
    for every hit; only the row's sentence id is needed here (``ids.json``).
    """

    def __init__(self, bm25: Any, ids: list[str], k: int) -> None:
        import Stemmer

        self.bm25 = bm25
        self.ids = ids
        self.k = max(1, min(k, len(ids)))
        self.stemmer = Stemmer.Stemmer("english")  # what BM25Retriever uses by default

    @classmethod
    def load(cls, path: Path, k: int) -> "SparseIndex":
        import json

        import bm25s

        # bm25s sets its own logger to DEBUG when imported; quiet it afterwards.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        bm25 = bm25s.BM25.load(str(path), load_corpus=False, mmap=True)
        ids = json.loads((path / BM25_IDS).read_text(encoding="utf-8"))
        return cls(bm25, ids, k)

    def search(self, query: str) -> list[tuple[str, float]]:
        import bm25s

        # Same tokenisation as BM25Retriever._retrieve (no stop-word list on queries).
        tokens = bm25s.tokenize(query, stemmer=self.stemmer, token_pattern=r"(?u)\b\w\w+\b", show_progress=False)
        try:
            rows, scores = self.bm25.retrieve(tokens, k=self.k, show_progress=False)
        except (ValueError, IndexError):  # a query of only stop words has no tokens
            return []
        return [(self.ids[int(r)], float(s)) for r, s in zip(rows[0], scores[0]) if s > 0]


class HybridRetriever:
    """Dense (multi-vector) + BM25 over the indexed sentences, fused by relative score."""

    def __init__(self, config: Config, embedder: Embedder, store: SentenceStore, table: SentenceTable) -> None:
        self.config = config
        self.embedder = embedder
        self.store = store
        self.table = table
        self._bm25: Any = None
        self._bm25_tried = False

    @property
    def bm25(self) -> "SparseIndex | None":
        # Loaded once: a retriever must not pick up a BM25 index newer than its table
        # (another process may be re-indexing); the pipeline builds a new retriever then.
        if not self._bm25_tried:
            self._bm25_tried = True
            path = Path(self.config.bm25_path)
            if not (path / BM25_IDS).exists():
                return None
            try:
                self._bm25 = SparseIndex.load(path, self.config.sparse_k)
            except Exception as exc:  # noqa: BLE001 - replaced while read, or damaged: dense only
                log.warning("BM25 index at %s could not be read (%s); searching without it", path, exc)
                return None
        return self._bm25

    def sparse(self, query: str) -> list[tuple[str, float]]:
        bm25 = self.bm25
        if bm25 is None or not query.strip():
            return []
        return bm25.search(query)

    def retrieve(self, query: str, k: int | None = None, query_vector: np.ndarray | None = None) -> list[Passage]:
        """The ``k`` best sentences for ``query`` (default ``Config.top_k``)."""
        k = k or self.config.top_k
        if not len(self.table):
            return []
        qv = self.embedder.embed_query(query) if query_vector is None else query_vector
        hits = [h for h in self.store.search(qv, self.config.dense_k * 4) if h.sentence_id in self.table.by_id]
        sparse = [(i, s) for i, s in self.sparse(query) if i in self.table.by_id]
        return self.fuse(hits, sparse, k)

    def fuse(self, hits: list[Hit], sparse: list[tuple[str, float]], k: int) -> list[Passage]:
        """Aggregate the vectors of each sentence, fuse with BM25, return the top ``k``."""
        floor = min((h.cosine for h in hits), default=0.0)  # a view not returned scores at most this
        best: dict[str, float] = {}
        window: dict[str, float] = {}
        for h in hits:
            if h.kind == "w":
                window[h.sentence_id] = max(window.get(h.sentence_id, floor), h.cosine)
            else:
                best[h.sentence_id] = max(best.get(h.sentence_id, floor), h.cosine)
        sparse_score = dict(sparse)
        candidates = set(best) | set(window) | set(sparse_score)
        if not candidates:
            return []
        dense = {i: best.get(i, floor) + window.get(i, floor) for i in candidates}
        dn = _minmax(dense)
        sn = _minmax({i: sparse_score.get(i, 0.0) for i in candidates})
        a = self.config.dense_weight
        fused = {i: a * dn[i] + (1 - a) * sn[i] for i in candidates}
        dense_order = {i: r for r, i in enumerate(sorted(dense, key=lambda i: -dense[i]))}
        sparse_order = {i: r for r, (i, _) in enumerate(sparse)}
        order = sorted(fused, key=lambda i: (-fused[i], self.table.by_id[i].doc, self.table.by_id[i].start))
        out = []
        for i in order[:k]:
            row = self.table.by_id[i]
            out.append(
                Passage(
                    row=row,
                    text=self.table.text(row),
                    score=fused[i],
                    dense=best.get(i, floor),
                    window=window.get(i, floor),
                    sparse=sparse_score.get(i, 0.0),
                    dense_rank=dense_order.get(i),
                    sparse_rank=sparse_order.get(i),
                )
            )
        return out


def _minmax(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    span = hi - lo
    return {i: ((v - lo) / span if span > 0 else 0.0) for i, v in scores.items()}
