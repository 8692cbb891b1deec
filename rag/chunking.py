"""Structure-aware chunking with exact character offsets.

A document is cut into blocks (paragraphs), blocks into sentences, and consecutive
sentences of one section into chunks. Every :class:`Sentence` and :class:`Chunk`
carries ``doc``, ``start`` and ``end`` with ``document.text[start:end] == text``, exactly.

Sentence boundaries come from NLTK's Punkt model (the ``punkt_tab`` copy that
llama-index-core ships, so nothing is downloaded) through ``span_tokenize``, which
returns offsets rather than re-joined strings. Punkt is corrected in two places
where news text trips it: abbreviations it does not know (``Sec.``, ``Gov.`` ...), and
headings, which are recognised here structurally before Punkt ever sees them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

# Titles and abbreviations that end with a period but rarely end a sentence in news text.
EXTRA_ABBREVIATIONS = (
    "sec", "gov", "sen", "rep", "rev", "gen", "col", "lt", "sgt", "capt", "cmdr", "adm",
    "atty", "supt", "dept", "st", "mt", "ft", "no", "vs", "etc", "inc", "corp", "ltd", "co",
    "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "u.s", "u.k", "u.n", "d.c", "e.g", "i.e", "a.m", "p.m", "dr", "mr", "mrs", "ms", "jr", "sr",
)

# A line ending like this is prose, not a heading.
_END_PUNCT = tuple('.!?:;,"”’)]…')
_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t#]*$")
# Emphasis or code marks followed by a space close something: they never open a sentence.
_CLOSING_MARKUP = re.compile(r"[*_`]+(?=\s|$)")


@dataclass(frozen=True)
class Sentence:
    """A sentence with its exact place in its document."""

    id: str
    doc: str
    start: int
    end: int
    text: str
    section: str
    paragraph: int  # index of the block the sentence sits in
    index: int  # position of the sentence in the document

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Chunk:
    """A few consecutive whole sentences of one section."""

    id: str
    doc: str
    start: int
    end: int
    text: str
    section: str
    sentences: tuple[Sentence, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sentences"] = [s.to_dict() for s in self.sentences]
        return d


@dataclass(frozen=True)
class Block:
    """A paragraph or heading: a span of the document between blank lines / lines."""

    start: int
    end: int
    heading: str | None  # the heading text if this block is a heading


def content_id(doc: str, doc_hash: str, start: int, end: int) -> str:
    """Stable id from the document's path and content hash and the span's offsets."""
    return hashlib.sha1(f"{doc}\x00{doc_hash}\x00{start}\x00{end}".encode()).hexdigest()[:20]


def _nltk_data_dir() -> str | None:
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "_static" / "nltk_cache"
    return str(path) if path.is_dir() else None


@lru_cache(maxsize=1)
def _punkt() -> Any:
    import nltk  # heavy import: only when text is actually split

    data_dir = _nltk_data_dir()
    if data_dir and data_dir not in nltk.data.path:
        nltk.data.path.insert(0, data_dir)
    from nltk.tokenize import PunktTokenizer

    tok = PunktTokenizer("english")
    tok._params.abbrev_types.update(EXTRA_ABBREVIATIONS)
    return tok


def _is_code_line(line: str) -> bool:
    """Indented by four spaces or a tab: a code block's line (Markdown's rule, and how
    plain-text READMEs set off commands), which is never a heading ("    # git clean")."""
    indent = line[: len(line) - len(line.lstrip(" \t"))]
    return indent.count("\t") * 4 + indent.count(" ") >= 4


def split_blocks(text: str) -> list[Block]:
    """Cut a document into blocks with offsets.

    Where the text separates paragraphs by blank lines, a block is the run of lines
    between them (hard-wrapped prose stays together); otherwise every line is a block.
    """
    lines: list[tuple[int, int]] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        lines.append((pos, pos + len(body)))
        pos += len(line)
    has_blank_separators = any(text[s:e].strip() == "" for s, e in lines)
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for s, e in lines:
        line = text[s:e]
        if not line.strip():
            if current:
                groups.append(current)
                current = []
            continue
        md = None if _is_code_line(line) else _MD_HEADING.match(line.strip())
        if not has_blank_separators or md:
            # Each line is its own block; a Markdown heading always is.
            if current:
                groups.append(current)
                current = []
            groups.append([(s, e)])
        else:
            current.append((s, e))
    if current:
        groups.append(current)
    groups = [part for g in groups for part in _numbered_heading_off(text, g)]

    blocks: list[Block] = []
    for group in groups:
        s, e = group[0][0], group[-1][1]
        # Trim surrounding whitespace so offsets point at text.
        raw = text[s:e]
        s += len(raw) - len(raw.lstrip())
        e -= len(raw) - len(raw.rstrip())
        blocks.append(Block(s, e, None))
    return _mark_headings(text, blocks)


# "2. Budget", "3.1 Fees": a numbered heading of plain-text minutes and reports.
_NUMBERED_HEADING = re.compile(r"\d{1,2}(?:\.\d{1,2})*\.?[ \t]+[A-Z]")


def _numbered_heading_off(text: str, group: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """A paragraph whose first line is a short numbered title over a line of prose, as
    that title and the rest: "2. Budget" over "The treasurer reported ..." is a
    heading, not the start of a sentence. A numbered list (its next line the next item,
    a bullet, or a continuation in lower case) is left whole; "3. Steps" over "1. Fill
    in the form" is a heading over a list of its own."""
    if len(group) < 2:
        return [group]
    first, second = text[group[0][0] : group[0][1]], text[group[1][0] : group[1][1]]
    title = first.strip()
    if (
        first[:1].isspace() or not _NUMBERED_HEADING.match(title) or title.endswith(_END_PUNCT)
        or len(title.split()) > 8 or second[:1].isspace()
    ):
        return [group]
    number = re.match(r"\d+", title)
    item = re.match(r"(\d{1,3})[.)][ \t]", second)
    if item and number and int(item.group(1)) != int(number.group(0)) + 1:
        return [group[:1], group[1:]]  # a list that starts anew under the title
    if _ITEM.match(second) or not second[:1].isupper():
        return [group]
    return [group[:1], group[1:]]


# A heading underlined with "=" or "-" (Markdown's setext style, common in plain-text READMEs).
_UNDERLINED = re.compile(r"^([^\n]+)\n[ \t]*(=+|-+)[ \t]*$")


def _underlined(block: str) -> re.Match[str] | None:
    r"""The match of a heading over its underline: three marks or more, or as many as a
    shorter title has letters ("jq" over "==").

    >>> bool(_underlined("Install\n=======")), bool(_underlined("jq\n==")), bool(_underlined("Install\n=="))
    (True, True, False)
    """
    m = _UNDERLINED.match(block)
    return m if m and len(m.group(2)) >= min(3, len(m.group(1).strip())) else None


_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|</?[A-Za-z][^<>]*>", re.I | re.S)
_BYLINE = re.compile(r"By\s+[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)+\s*(?:[,—–|-]|$)")


def _heading_text(line: str, max_words: int = 12) -> str | None:
    stripped = line.strip()
    md = _MD_HEADING.match(stripped)
    if md:
        return md.group(2).strip() or None
    underlined = _underlined(stripped)
    if underlined:
        stripped = underlined.group(1).strip()
    if "\n" in stripped or not stripped:
        return None
    words = stripped.split()
    # An underline marks a heading however it ends ("How is X selected?" over dashes,
    # as FAQ-style READMEs write them), but a line ending in "." "," or ";" over dashes
    # is a sentence with a rule under it.
    ends = (".", ",", ";") if underlined else _END_PUNCT
    # Inline HTML after the words ("... at 4pm. <script>...</script>") hides how the line
    # ends: the words without their tags decide.
    bare = _TAG.sub("", stripped).strip() or stripped
    if len(words) > max_words or stripped.endswith(ends) or bare.endswith(ends):
        return None
    if not stripped[0].isalnum():  # bylines ("— Name"), list items, quotes
        return None
    if _BYLINE.match(stripped):  # "By Ana Ruiz, Transport Correspondent": who wrote it
        return None
    if "@" in stripped or "://" in stripped:
        return None
    # Headings are mostly letters; a line of numbers is data.
    letters = sum(ch.isalpha() for ch in stripped)
    return stripped if letters >= 0.6 * len(stripped.replace(" ", "")) else None


def _mark_headings(text: str, blocks: list[Block], max_words: int = 12) -> list[Block]:
    out: list[Block] = []
    for i, b in enumerate(blocks):
        # The first line is the title: headlines run long, so it gets a looser word limit.
        line_start = text.rfind("\n", 0, b.start) + 1
        code = _is_code_line(text[line_start : b.end])
        heading = None if code else _heading_text(text[b.start : b.end], max_words if i else max(max_words, 30))
        block = text[b.start : b.end].strip()
        if i == 0 and heading is None and not code and block.count("\n") == 1:
            # A title over a subtitle ("MINUTES OF THE SPRING MEETING" / "Hillside
            # Residents' Association"): two heading-like lines open the document.
            parts = [_heading_text(line, max(max_words, 30)) for line in block.split("\n")]
            if all(parts) and len(blocks) > 1:
                heading = " — ".join(p for p in parts if p)
        is_md = bool(_MD_HEADING.match(block) or _underlined(block))
        # A plain-text heading must have prose after it; a trailing short line is text.
        if heading and not is_md and i == len(blocks) - 1:
            heading = None
        out.append(Block(b.start, b.end, heading))
    return out


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text[start:end]``, as offsets into ``text``."""
    end = len(text) if end is None else end
    segment = text[start:end]
    spans: list[tuple[int, int]] = []
    for s, e in _punkt().span_tokenize(segment):
        piece = segment[s:e]
        # Punkt keeps edge whitespace out already; strip defensively for exactness.
        s2 = s + (len(piece) - len(piece.lstrip()))
        e2 = e - (len(piece) - len(piece.rstrip()))
        closing = _CLOSING_MARKUP.match(segment, s2, e2)
        if closing and spans and spans[-1][1] == start + s2:
            # Punkt ends "**Is it safe?**" after the "?", so the "**" that closes the
            # bold would open the next sentence ("**\nA: Yes."): give it back. Only
            # marks that touch the previous sentence: "* item" on its own line is a bullet.
            spans[-1] = (spans[-1][0], start + closing.end())
            rest = segment[closing.end() : e2]
            s2 = closing.end() + (len(rest) - len(rest.lstrip()))
        if e2 <= s2:
            continue
        # A piece with no word ("*" closing a boxed line) ends the sentence before it, and
        # a sentence that is only "3." or "Q." (Punkt ends one at a numbered item's number,
        # and at an FAQ's "Q." before a capital) is the start of this one.
        if spans and (not any(c.isalnum() for c in segment[s2:e2]) or _MARKER_ONLY.fullmatch(text, *spans[-1])):
            spans[-1] = (spans[-1][0], start + e2)
        else:
            spans.append((start + s2, start + e2))
    return spans


# A line that opens a list item ("- ", "* ", "+ ", "• ", "3. ", "3) ") or is a table row.
_ITEM = re.compile(r"[ \t]*(?:[-*+•][ \t]+|\d{1,3}[.)][ \t]+)")
# (and "Q." / "A." / "b)": one letter marking an FAQ's question and answer, or an item)
_MARKER_ONLY = re.compile(r"\(?\d{1,3}[.)]|[-*+•]|\(?[A-Za-z][.):]")
_TABLE_ROW = re.compile(r"[ \t]*\|")
# A labelled field: "Venue: Town hall" (a label of up to four words, then its value).
_FIELD = re.compile(r"[A-Z][\w'()/-]*(?:[ \t]+[\w'()/-]+){0,3}:[ \t]+\S")
# A record line: "Ana Ruiz <ana@example.org>  (docs)", "cc : cc-12": a line holding an
# e-mail or web address, or a short key, a colon and its value.
_RECORD = re.compile(r"[^\n]*(?:[\w.+-]+@[\w-]+\.[\w.-]+|https?://\S)|[ \t]*[\w][\w+.'()/-]*(?:[ \t]+[\w+.'()/-]+){0,3}[ \t]*:[ \t]+\S")
# The rule under a header: Markdown's "|---|:--:|", or a plain-text grid's "-----+-----".
_TABLE_RULE = re.compile(r"[ \t]*[|+]?[ \t]*:?-{3,}:?[ \t]*(?:[|+][ \t]*:?-{3,}:?[ \t]*)*[|+]?[ \t]*$")
# A plain-text table row: columns between pipes, no leading pipe ("64001 | mysql | server").
_GRID_CELLS = re.compile(r"[^|\n]*\S[ \t]*\|[ \t]*\S")


def _grid_rows(lines: Sequence[str]) -> set[int]:
    """Which of a block's lines are rows of a plain-text table: lines with the same
    number of inner pipes, in a block that has a rule line under its header or at least
    three such lines (one line with a pipe is prose: "use a | b")."""
    counts = [line.count("|") if _GRID_CELLS.match(line) else 0 for line in lines]
    has_rule = any(_TABLE_RULE.match(line) and ("+" in line or "|" in line) for line in lines)
    out: set[int] = set()
    for n in {c for c in counts if c}:
        rows = [i for i, c in enumerate(counts) if c == n]
        if has_rule or len(rows) >= 3:
            out.update(rows)
    return out


def is_table_rule(line: str) -> bool:
    """The rule under a table's header ("|---|---|", "-----+-----")."""
    return bool(_TABLE_RULE.match(line))


def is_list_item(text: str) -> bool:
    """A bulleted or numbered list item ("- Basic", "* Extra", "2. Pay the fee")."""
    return bool(_ITEM.match(text))


def is_table_row(line: str) -> bool:
    """A Markdown table row ("| a | b |") or a plain-text one ("a | b")."""
    return bool(_TABLE_ROW.match(line) or _GRID_CELLS.match(line))


def is_table_header(text: str) -> bool:
    """A table's header sentence: a row of column names over the rule (the chunker keeps
    the rule with the row above it)."""
    lines = text.split("\n", 2)
    return len(lines) > 1 and is_table_row(lines[0]) and is_table_rule(lines[1])


def table_cells(line: str) -> list[tuple[int, int]]:
    """The cells of one table line as trimmed ``(start, end)`` offsets into it; the pipes
    that open or close the row make no cell, an empty cell between two pipes does.

    >>> [("| a | b |")[a:b] for a, b in table_cells("| a | b |")]
    ['a', 'b']
    >>> [("x | | y")[a:b] for a, b in table_cells("x | | y")]
    ['x', '', 'y']
    >>> [(a, b) for a, b in table_cells("| a | b")]
    [(2, 3), (6, 7)]
    """
    out, start = [], 0
    for m in [*re.finditer(r"\|", line), None]:
        end = m.start() if m else len(line)
        piece = line[start:end]
        a = start + len(piece) - len(piece.lstrip())
        b = end - (len(piece) - len(piece.rstrip()))
        if b > a or (m is not None and start > 0):
            out.append((a, max(a, b)))
        start = m.end() if m else len(line)
    return out


def line_units(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` cut before every list item and table row, as offsets.

    A list item or a table row is a unit of its own even without a full stop, so that
    "- Phone: 555 0100" is one sentence and not glued to the next item, and a table is
    a row per sentence. A table's ``|---|`` rule stays with the header row above it.
    Prose lines (a hard-wrapped paragraph, an item's continuation) stay together.

    >>> t = "Contact:\\n- Phone: 555\\n- Mail: a@b.example"
    >>> [t[s:e] for s, e in line_units(t, 0, len(t))]
    ['Contact:', '- Phone: 555', '- Mail: a@b.example']
    """
    cuts = [start]
    pos = start
    lines = text[start:end].split("\n")
    grid = _grid_rows(lines)
    # "Date: 12 May\nVenue: The hall\nPresent: ...": a block of fields, each a line of its
    # own; so is a block of records ("Name <e-mail>" lines, "key : value" lines), which
    # wrapped prose never is in every line.
    fields = len(lines) > 1 and (
        all(_FIELD.match(line) for line in lines) or all(_RECORD.match(line) for line in lines)
    )
    row = -1
    while pos < end:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        row += 1
        if pos > start:
            line = text[pos:line_end].strip()
            starts_unit = _ITEM.match(text, pos, line_end) or _TABLE_ROW.match(text, pos, line_end) or row in grid or fields
            # "*  text  *": a line of a box drawn in asterisks, not a bullet
            boxed = len(line) > 1 and line[0] == line[-1] == "*"
            if starts_unit and not boxed and not _TABLE_RULE.match(text, pos, line_end):
                cuts.append(pos)
        pos = line_end + 1
    cuts.append(end)
    units = []
    for a, b in zip(cuts, cuts[1:]):
        piece = text[a:b]
        a2, b2 = a + len(piece) - len(piece.lstrip()), b - (len(piece) - len(piece.rstrip()))
        if b2 > a2:
            units.append((a2, b2))
    return units


def table_headers(sentences: Sequence[Sentence]) -> list[Sentence | None]:
    """For each sentence, the header row of the table it is a row of (None if it is not
    a table row, or is the header itself): a row alone says "| Medium | €70 |", and only
    with its header does it say which column is the fee. One pass, however long the table."""
    out: list[Sentence | None] = []
    head: Sentence | None = None  # the first row of the run of table rows so far
    for i, s in enumerate(sentences):
        if not is_table_row(s.text):
            head = None
            out.append(None)
            continue
        if head is None or sentences[i - 1].paragraph != s.paragraph:
            head = s
        out.append(head if head is not s and is_table_header(head.text) else None)
    return out


def windows(
    text: str, sentences: Sequence[Sentence], headers: Sequence[Sentence | None] | None = None
) -> list[tuple[str, tuple[str, ...]]]:
    """For each sentence, the text it is also read in (its *window*) and the ids of the
    sentences that text is made of: the sentence with its neighbours in the paragraph,
    or, for a table row, the row under its table's header line. The rows beside a row
    are other records, not its context: read with them, three departures of a timetable
    each matched all three of their times.

    >>> t = "A b.  C d.  E f."
    >>> ss = [Sentence(f"s{i}", "d", a, b, t[a:b], "", 0, i) for i, (a, b) in enumerate([(0, 4), (6, 10), (12, 16)])]
    >>> windows(t, ss)[0]
    ('A b.  C d.', ('s0', 's1'))
    """
    headers = table_headers(sentences) if headers is None else headers  # given: already found by the caller
    out: list[tuple[str, tuple[str, ...]]] = []
    for i, s in enumerate(sentences):
        head = headers[i]
        if head is not None:
            out.append((head.text.split("\n", 1)[0] + "\n" + s.text, (head.id, s.id)))
            continue
        if is_table_row(s.text):
            out.append((s.text, (s.id,)))
            continue
        lo = sentences[i - 1] if i and sentences[i - 1].paragraph == s.paragraph else s
        hi = sentences[i + 1] if i + 1 < len(sentences) and sentences[i + 1].paragraph == s.paragraph else s
        out.append((text[lo.start : hi.end], tuple(dict.fromkeys(x.id for x in (lo, s, hi)))))
    return out


def heading_lines(text: str, heading_max_words: int = 12) -> list[tuple[int, int]]:
    r"""Where the headings of a plain-text document stand, as ``(start, end)`` of each
    heading's line (an underline left out), in order: what a reader shows as headings.

    >>> t = "Rules\n=====\n\nBe kind.\n\nOpening hours\n\nWe open at 9."
    >>> [t[a:b] for a, b in heading_lines(t)]
    ['Rules', 'Opening hours']
    """
    out = []
    for b in _mark_headings(text, split_blocks(text), heading_max_words):
        if b.heading is not None:
            line = text[b.start : b.end].split("\n", 1)[0].rstrip()
            out.append((b.start, b.start + len(line)))
    return out


def document_title(text: str, heading_max_words: int = 12) -> str | None:
    r"""The heading a document opens with, if it opens with one: its title, even when
    the first text stands under a subheading ("# Handbook" then "## About").

    >>> document_title("# Club handbook\n\n## About\n\nWe row.")
    'Club handbook'
    """
    blocks = split_blocks(text)
    return _mark_headings(text, blocks[:2], heading_max_words)[0].heading if len(blocks) > 1 else None


def sentences_of(
    doc: str, text: str, doc_hash: str = "", *, title: str | None = None, heading_max_words: int = 12
) -> list[Sentence]:
    """All sentences of a document, each tagged with the heading it sits under."""
    blocks = _mark_headings(text, split_blocks(text), heading_max_words)
    section = title or ""
    out: list[Sentence] = []
    for p, block in enumerate(blocks):
        if block.heading is not None:
            section = block.heading
            continue
        for s, e in (span for unit in line_units(text, block.start, block.end) for span in split_sentences(text, *unit)):
            out.append(
                Sentence(
                    id=content_id(doc, doc_hash, s, e),
                    doc=doc,
                    start=s,
                    end=e,
                    text=text[s:e],
                    section=section,
                    paragraph=p,
                    index=len(out),
                )
            )
    return out


def chunk_sentences(
    sentences: Sequence[Sentence], text: str, doc_hash: str = "", *, max_sentences: int = 4, max_chars: int = 900
) -> list[Chunk]:
    """Group consecutive sentences of one section into chunks of a few sentences.

    A chunk never crosses a section; it prefers to end at a paragraph boundary once
    it holds two or more sentences.
    """
    chunks: list[Chunk] = []
    current: list[Sentence] = []

    def flush() -> None:
        if not current:
            return
        s, e = current[0].start, current[-1].end
        chunks.append(
            Chunk(
                id=content_id(current[0].doc, doc_hash, s, e) + "c",
                doc=current[0].doc,
                start=s,
                end=e,
                text=text[s:e],
                section=current[0].section,
                sentences=tuple(current),
            )
        )
        current.clear()

    for sent in sentences:
        if current:
            last = current[-1]
            new_len = sent.end - current[0].start
            if (
                sent.section != last.section
                or len(current) >= max_sentences
                or new_len > max_chars
                or (sent.paragraph != last.paragraph and len(current) >= 2)
            ):
                flush()
        current.append(sent)
    flush()
    return chunks


def chunk_document(
    doc: str,
    text: str,
    doc_hash: str = "",
    *,
    title: str | None = None,
    max_sentences: int = 4,
    max_chars: int = 900,
    heading_max_words: int = 12,
) -> list[Chunk]:
    """Sentences and chunks of one document (chunks hold their sentences)."""
    sents = sentences_of(doc, text, doc_hash, title=title, heading_max_words=heading_max_words)
    return chunk_sentences(sents, text, doc_hash, max_sentences=max_sentences, max_chars=max_chars)


def iter_sentences(chunks: Iterable[Chunk]) -> Iterable[Sentence]:
    for c in chunks:
        yield from c.sentences


# Clause boundaries inside a sentence: after , ; : and around dashes.
_CLAUSE_BREAK = re.compile(r"(?<=[,;:])\s+|\s+--\s+|\s+[—–]\s+")


def split_clauses(text: str, start: int, end: int, min_words: int = 5) -> list[tuple[int, int]]:
    """Clause spans of the sentence ``text[start:end]`` (offsets into ``text``).

    Pieces shorter than ``min_words`` are merged into their neighbour so that every
    clause is a phrase, not a stray "he said,". A sentence with one clause gives [].
    """
    pieces: list[tuple[int, int]] = []
    pos = start
    for m in _CLAUSE_BREAK.finditer(text, start, end):
        pieces.append((pos, m.start()))
        pos = m.end()
    pieces.append((pos, end))
    merged: list[tuple[int, int]] = []
    pending: tuple[int, int] | None = None
    for s, e in pieces:
        if pending is not None:
            s = pending[0]
            pending = None
        if len(text[s:e].split()) < min_words:
            pending = (s, e)
            continue
        merged.append((s, e))
    if pending is not None:
        if merged:
            merged[-1] = (merged[-1][0], pending[1])
        else:
            merged.append(pending)
    return merged if len(merged) > 1 else []
