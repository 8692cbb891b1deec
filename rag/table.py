"""The read side of the index: the sentence table questions are answered from.

:mod:`rag.indexing` writes the manifest; this module reads it, with the corpus
texts the offsets point into, and offers the lookups retrieval and answering need
(a sentence's text, its neighbours, the sentences near it in its section).
"""

from __future__ import annotations

from . import nlp
from .config import IndexConfig
from .corpus import scan
from .manifest import load_manifest
from .types import SentenceRow

__all__ = ["SentenceRow", "SentenceTable"]


class SentenceTable:
    """The indexed sentences (from the manifest) and the texts they point into.

    Texts are read from the corpus folder itself, so every citation is an offset
    into the file as it is on disk; :func:`is_fresh` guarantees they match.
    """

    def __init__(self, rows: dict[str, list[SentenceRow]], texts: dict[str, str], titles: dict[str, str]) -> None:
        self.by_doc = rows
        self.texts = texts
        self.titles = titles
        self.by_id = {r.id: r for rs in rows.values() for r in rs}
        self._vocabulary: frozenset[str] | None = None

    @classmethod
    def load(cls, index: IndexConfig) -> "SentenceTable":
        """The table of the index in ``index.home`` over the corpus in ``index.corpus_dir``."""
        manifest = load_manifest(index.manifest_path) or {"docs": {}}
        found = {d.id: d for d in scan(index.corpus_dir).documents}
        rows: dict[str, list[SentenceRow]] = {}
        texts: dict[str, str] = {}
        titles: dict[str, str] = {}
        for doc_id, entry in manifest["docs"].items():
            doc = found.get(doc_id)
            if doc is None or doc.sha256 != entry["sha256"]:
                continue  # stale entry: the caller re-indexes before asking
            texts[doc_id] = doc.text
            titles[doc_id] = entry.get("title") or doc_id
            sections = entry["sections"]
            rows[doc_id] = [
                SentenceRow(r[0], doc_id, r[1], r[2], sections[r[3]], r[4], r[5], i)
                for i, r in enumerate(entry["sentences"])
            ]
        return cls(rows, texts, titles)

    def __len__(self) -> int:
        return len(self.by_id)

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every word stem of the corpus (computed once, on first use)."""
        if self._vocabulary is None:
            self._vocabulary = frozenset(s for text in self.texts.values() for s in nlp.stems(text))
        return self._vocabulary

    def text(self, row: SentenceRow) -> str:
        return self.texts[row.doc][row.start : row.end]

    def neighbours(self, row: SentenceRow) -> list[SentenceRow]:
        """The sentences just before and after ``row`` within its paragraph."""
        rows = self.by_doc[row.doc]
        out = []
        for j in (row.position - 1, row.position + 1):
            if 0 <= j < len(rows) and rows[j].paragraph == row.paragraph:
                out.append(rows[j])
        return out

    def nearby(self, row: SentenceRow, distance: int) -> list[tuple[int, SentenceRow]]:
        """``(distance, sentence)`` for sentences of the same section within ``distance``
        positions, nearest first. Fragments without words (a bare link) do not count.
        A section is the run of sentences under one heading: a heading that repeats
        further down starts a section of its own.
        """
        rows = self.by_doc[row.doc]
        if not _wordy(self.text(row)):
            return []
        # Walk out from the row (a section is a run of positions): the answer path calls
        # this, and a scan of the whole document would make it linear in document size.
        out = []
        for step in (-1, 1):
            j, d = row.position + step, 0
            while d < distance and 0 <= j < len(rows) and rows[j].section == row.section:
                if _wordy(self.text(rows[j])):
                    d += 1
                    out.append((d, rows[j]))
                j += step
        out.sort(key=lambda x: x[0])  # stable: at each distance, the one before first
        return out


def _wordy(text: str) -> bool:
    return sum(w.isalpha() for w in text.replace("/", " ").split()) >= 2
