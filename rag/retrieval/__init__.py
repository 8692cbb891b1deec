"""Retrieval, as stages: dense, sparse, fusion, rerank.

    dense.py    Chroma search; a sentence scores by its best views
    sparse.py   BM25 over the sentences
    fusion.py   relative-score fusion of the two lists
    rerank.py   reorder by a reranker's scores (chosen by answer mode)
    hybrid.py   the retriever that composes dense + sparse + fusion
"""

from __future__ import annotations

from ..types import Passage, Reranker, Retriever
from .hybrid import HybridRetriever
from .rerank import rerank
from .sparse import SparseIndex

__all__ = ["HybridRetriever", "Passage", "Reranker", "Retriever", "SparseIndex", "rerank"]
