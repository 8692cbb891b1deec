"""Hybrid retrieval at sentence granularity: dense + sparse, fused by relative score.

The stages, each in its own module: :mod:`.dense` (Chroma, a few vectors per
sentence), :mod:`.sparse` (BM25), :mod:`.fusion` (relative-score fusion) and
:mod:`.rerank` (reorder by a reranker's scores, which the pipeline applies for the
answer mode that has one).
"""

from __future__ import annotations

import numpy as np

from ..config import RetrievalConfig
from ..store import Hit, SentenceStore
from ..table import SentenceTable
from ..types import Embedder, Passage
from .dense import aggregate
from .fusion import relative_score
from .sparse import SparseIndex


class HybridRetriever:
    """Dense (multi-vector) + BM25 over the indexed sentences of one index view.

    ``sparse`` is the BM25 index of the same view (None: dense only); a retriever
    never picks up a newer one, so the pipeline builds a new retriever per view.
    """

    def __init__(
        self,
        config: RetrievalConfig,
        embedder: Embedder,
        store: SentenceStore,
        table: SentenceTable,
        sparse: SparseIndex | None = None,
    ) -> None:
        self.config = config
        self.embedder = embedder
        self.store = store
        self.table = table
        self.sparse_index = sparse

    def dense(self, query_vector: np.ndarray) -> list[Hit]:
        """Vector hits of sentences in this view (``dense_k`` sentences' worth of views)."""
        return [h for h in self.store.search(query_vector, self.config.dense_k * 4) if h.sentence_id in self.table.by_id]

    def sparse(self, query: str) -> list[tuple[str, float]]:
        """BM25 hits of sentences in this view, best first."""
        if self.sparse_index is None:
            return []
        return [(i, s) for i, s in self.sparse_index.search(query) if i in self.table.by_id]

    def retrieve(self, query: str, k: int | None = None, query_vector: np.ndarray | None = None) -> list[Passage]:
        """The ``k`` best sentences for ``query`` (default ``top_k``), by fused score."""
        k = k or self.config.top_k
        if not len(self.table):
            return []
        qv = self.embedder.embed_query(query) if query_vector is None else query_vector
        hits, sparse = self.dense(qv), self.sparse(query)
        return self.fuse(hits + self.missed(qv, hits, sparse), sparse, k)

    def missed(self, query_vector: np.ndarray, hits: list[Hit], sparse: list[tuple[str, float]]) -> list[Hit]:
        """Exact-cosine views of BM25's sentences that the approximate search missed:
        those closer to the query than the farthest vector it returned. Where search is
        exact (as on a small, varied corpus) there are none, and nothing changes."""
        if not hits or not sparse:
            return []
        found = {h.sentence_id for h in hits}
        floor = min(h.cosine for h in hits)
        missing = [i for i, _ in sparse if i not in found]
        return [h for h in self.store.score_sentences(query_vector, missing) if h.cosine > floor]

    def fuse(self, hits: list[Hit], sparse: list[tuple[str, float]], k: int) -> list[Passage]:
        """Aggregate the vectors of each sentence, fuse with BM25, return the top ``k``."""
        ds = aggregate(hits)
        sparse_score = dict(sparse)
        candidates = set(ds.best) | set(ds.window) | set(sparse_score)
        if not candidates:
            return []
        dense = {i: ds.of(i) for i in candidates}
        fused = relative_score(dense, sparse_score, self.config.dense_weight)
        dense_order = {i: r for r, i in enumerate(sorted(dense, key=lambda i: -dense[i]))}
        sparse_order = {i: r for r, (i, _) in enumerate(sparse)}
        by_id = self.table.by_id
        order = sorted(fused, key=lambda i: (-fused[i], by_id[i].doc, by_id[i].start))
        return [
            Passage(
                row=by_id[i],
                text=self.table.text(by_id[i]),
                score=fused[i],
                dense=ds.best.get(i, ds.floor),
                window=ds.window.get(i, ds.floor),
                sparse=sparse_score.get(i, 0.0),
                dense_rank=dense_order.get(i),
                sparse_rank=sparse_order.get(i),
            )
            for i in order[:k]
        ]
