"""Rerank: reorder retrieved sentences by a reranker's scores.

A :class:`rag.types.Reranker` scores passages (for the extractive answerer: how well
each can answer, by the kind of value asked for, the thing asked about and the
question's words); it changes nothing it is given. This stage moves each passage's
fused score ``weight`` of the way towards that score and sorts by the result.
"""

from __future__ import annotations

from typing import Sequence

from ..table import SentenceTable
from ..types import Passage, Reranker


def rerank(
    question: str, passages: Sequence[Passage], table: SentenceTable, reranker: Reranker | None, weight: float
) -> list[Passage]:
    """``passages`` in a new order (a new list; the passages themselves are unchanged).

    With no reranker, or ``weight`` 0, the fused order is kept.
    """
    if reranker is None or weight == 0 or not passages:
        return list(passages)
    merits = reranker.scores(question, passages, table)
    keyed = [(p.score + weight * (m - p.score), p) for p, m in zip(passages, merits)]
    return [p for _, p in sorted(keyed, key=lambda x: -x[0])]
