"""Dense retrieval: Chroma holds a few vectors per sentence; a sentence scores by its views.

The views of a sentence (see :func:`rag.indexing.vector_records`) are the sentence
itself (``s``), its clauses (``c``) and the sentence within its paragraph neighbours
(``w``). A sentence's dense score is ``max(cos(sentence), cos(best clause)) + cos(window)``:
precise at clause level, with the neighbouring sentences as context.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..store import Hit


@dataclass(frozen=True)
class DenseScores:
    """Per sentence: the best sentence-or-clause cosine and the window cosine.

    ``floor`` is the lowest cosine fetched: a view not returned scores at most this.
    """

    best: dict[str, float]
    window: dict[str, float]
    floor: float

    def of(self, sentence_id: str) -> float:
        return self.best.get(sentence_id, self.floor) + self.window.get(sentence_id, self.floor)


def aggregate(hits: list[Hit]) -> DenseScores:
    """Fold the vector hits of each sentence into its dense scores."""
    floor = min((h.cosine for h in hits), default=0.0)
    best: dict[str, float] = {}
    window: dict[str, float] = {}
    for h in hits:
        if h.kind == "w":
            window[h.sentence_id] = max(window.get(h.sentence_id, floor), h.cosine)
        else:
            best[h.sentence_id] = max(best.get(h.sentence_id, floor), h.cosine)
    return DenseScores(best, window, floor)
