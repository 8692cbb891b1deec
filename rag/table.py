"""The read side of the index: the sentence table questions are answered from.

:mod:`rag.indexing` writes the manifest; this module reads it, with the corpus
texts the offsets point into, and offers the lookups retrieval and answering need
(a sentence's text, its neighbours, the sentences near it in its section).
"""

from __future__ import annotations

import logging

from . import nlp
from .chunking import is_table_header, is_table_row
from .generations import Generation
from .manifest import load_manifest
from .types import SentenceRow

log = logging.getLogger(__name__)

__all__ = ["SentenceRow", "SentenceTable"]


class SentenceTable:
    """The indexed sentences (from the manifest) and the texts they point into.

    Texts are the generation's own copies of the documents as they were indexed, so
    every citation is an offset into exactly the text its sentence was cut from, even
    while the corpus file is being edited (see ``Pipeline.changed_sources``).
    """

    def __init__(
        self,
        rows: dict[str, list[SentenceRow]],
        texts: dict[str, str],
        titles: dict[str, str],
        hashes: dict[str, str] | None = None,
    ) -> None:
        self.by_doc = rows
        self.texts = texts
        self.titles = titles
        self.hashes = hashes or {}  # sha256 of each document's bytes when it was indexed
        self.by_id = {r.id: r for rs in rows.values() for r in rs}
        self._vocabulary: frozenset[str] | None = None
        self._words: str | None = None  # each document's tokens, space-separated (has_phrase)
        self._heads: dict[str, SentenceRow | None] = {}  # header_of, per row id, as found

    @classmethod
    def load(cls, generation: Generation | None) -> "SentenceTable":
        """The table of one index generation (empty for None)."""
        manifest = (load_manifest(generation.manifest_path) if generation else None) or {"docs": {}}
        rows: dict[str, list[SentenceRow]] = {}
        texts: dict[str, str] = {}
        titles: dict[str, str] = {}
        hashes: dict[str, str] = {}
        for doc_id, entry in manifest["docs"].items():
            assert generation is not None
            try:
                text = (generation.texts_path / f"{entry['sha256']}.txt").read_text(encoding="utf-8")
            except OSError as exc:
                log.warning("generation %s has no text of %s (%s); its sentences are left out", generation.name, doc_id, exc)
                continue
            if any(r[2] > len(text) for r in entry["sentences"]):
                log.warning("generation %s: sentences of %s point past its text; left out", generation.name, doc_id)
                continue
            texts[doc_id] = text
            hashes[doc_id] = entry["sha256"]
            titles[doc_id] = entry.get("title") or doc_id
            sections = entry["sections"]
            rows[doc_id] = [
                SentenceRow(r[0], doc_id, r[1], r[2], sections[r[3]], r[4], r[5], i)
                for i, r in enumerate(entry["sentences"])
            ]
        return cls(rows, texts, titles, hashes)

    def __len__(self) -> int:
        return len(self.by_id)

    def has_phrase(self, phrase: str) -> bool:
        r"""Whether some document says ``phrase`` (case and spacing aside).

        >>> SentenceTable({}, {"a.txt": "The Club was\nfounded in 1987."}, {}).has_phrase("the club")
        True
        """
        if self._words is None:
            self._words = "\n".join(" " + " ".join(nlp.tokens(t)) + " " for t in self.texts.values())
        words = " ".join(nlp.tokens(phrase))
        return bool(words) and f" {words} " in self._words

    @property
    def vocabulary(self) -> frozenset[str]:
        """Every word stem of the corpus (computed once, on first use)."""
        if self._vocabulary is None:
            self._vocabulary = frozenset(s for text in self.texts.values() for s in nlp.stems(text))
        return self._vocabulary

    def text(self, row: SentenceRow) -> str:
        return self.texts[row.doc][row.start : row.end]

    def header_of(self, row: SentenceRow) -> SentenceRow | None:
        """The header line of the table ``row`` is a row of (Markdown or plain text), as a
        row of its own; None for a sentence that is not a table row, or is the header. A
        row alone ("| Day pass | $9.00 |") does not say which column is the price."""
        if row.id in self._heads:
            return self._heads[row.id]
        head = self._find_header(row)
        self._heads[row.id] = head
        return head

    def _find_header(self, row: SentenceRow) -> SentenceRow | None:
        # Every candidate and its window ask this on the answer path: walking back to the
        # top of a 3,000-row table took ~1 ms a row, so an answer remembers each row's
        # header, and a walk stops at a row above whose header is known.
        rows = self.by_doc.get(row.doc, [])
        if not is_table_row(self.text(row)):
            return None
        first = row.position
        while first > 0 and rows[first - 1].paragraph == row.paragraph and is_table_row(self.text(rows[first - 1])):
            known = self._heads.get(rows[first - 1].id)
            if known is not None:
                return known  # the row above is of the same table, under this header
            first -= 1
        if first == row.position:
            return None
        head = rows[first]
        if not is_table_header(self.text(head)):
            return None
        line = self.text(head).split("\n", 1)[0].rstrip()
        return SentenceRow(head.id, head.doc, head.start, head.start + len(line), head.section, head.paragraph,
                           head.chunk, head.position)

    def paragraph_opening(self, row: SentenceRow) -> SentenceRow:
        """The first sentence of ``row``'s paragraph (``row`` itself when it opens one)."""
        rows = self.by_doc.get(row.doc, [])
        first = row.position
        while first > 0 and rows[first - 1].paragraph == row.paragraph:
            first -= 1
        return rows[first] if first < row.position else row

    def neighbours(self, row: SentenceRow) -> list[SentenceRow]:
        """The sentences ``row`` is read with (as in ``chunking.windows``): those just
        before and after it within its paragraph; for a table row, its table's header
        line alone (the rows beside it are other records)."""
        if is_table_row(self.text(row)):
            head = self.header_of(row)
            return [head] if head is not None else []
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
