"""Sparse retrieval: BM25 over the sentences (each within its paragraph neighbours).

The index is built and persisted by indexing with LlamaIndex's ``BM25Retriever``
(bm25s with English stemming and stop words); the query side reads it through bm25s
directly, with the retriever's own tokenisation.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .. import nlp
from ..manifest import BM25_IDS

log = logging.getLogger(__name__)


class SparseIndex:
    """The persisted BM25 index, queried for sentence ids and raw BM25 scores.

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
        import bm25s

        # bm25s sets its own logger to DEBUG when imported; quiet it afterwards.
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        bm25 = bm25s.BM25.load(str(path), load_corpus=False, mmap=True)
        ids = json.loads((path / BM25_IDS).read_text(encoding="utf-8"))
        return cls(bm25, ids, k)

    @classmethod
    def load_or_none(cls, path: Path, k: int) -> "SparseIndex | None":
        """The index at ``path``, or None (with a warning) if it is missing or unreadable."""
        if not (Path(path) / BM25_IDS).exists():
            return None
        try:
            return cls.load(Path(path), k)
        except Exception as exc:  # noqa: BLE001 - replaced while read, or damaged: dense only
            log.warning("BM25 index at %s could not be read (%s); searching without it", path, exc)
            return None

    def search(self, query: str) -> list[tuple[str, float]]:
        """``(sentence id, BM25 score)`` of the best rows, best first; only positive scores."""
        import bm25s

        if not query.strip():
            return []
        # The same extra words the indexed text carries ("0930h" for "9:30").
        extra = [w for w in nlp.search_forms(query) if not w.isalpha()]
        if extra:
            query = f"{query} {' '.join(extra)}"
        # Same tokenisation as BM25Retriever._retrieve (no stop-word list on queries).
        tokens = bm25s.tokenize(query, stemmer=self.stemmer, token_pattern=r"(?u)\b\w\w+\b", show_progress=False)
        try:
            rows, scores = self.bm25.retrieve(tokens, k=self.k, show_progress=False)
        except (ValueError, IndexError):  # a query of only stop words has no tokens
            return []
        return [(self.ids[int(r)], float(s)) for r, s in zip(rows[0], scores[0]) if s > 0]
