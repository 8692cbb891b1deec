"""The data every stage shares, and the small interfaces between stages.

This module is the bottom floor: it imports nothing from the rest of the package,
so the read side, retrieval, answering, grounding and the pipeline can all use
these types without importing one another.

    Passage   a retrieved sentence and the signals that ranked it
    Citation  ``[n]`` in an answer: the exact words it rests on
    Related   a closest passage shown beside a refusal (not a citation)
    Answer    what the pipeline returns for one question
    AnswerDict  ``Answer.to_dict()``: the one declaration of the JSON every adapter
              (HTTP API, web chat's API, CLI ``--json``) returns
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Sequence, cast, runtime_checkable

# typing_extensions' TypedDict, not typing's: pydantic (the HTTP API's schema) reads only
# that one on Python < 3.12.
from typing_extensions import NotRequired, TypedDict

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .table import SentenceTable

class InvalidQuestion(ValueError):
    """The question (or its history) cannot be asked; the message says why, for the user."""


def json_kind(value: Any) -> str:
    """What a value is, in the words of JSON rather than Python's type names, for
    messages a caller of the API or the library reads.

    >>> json_kind(3), json_kind(None), json_kind("x"), json_kind([])
    ('a number', 'null', 'text', 'a list')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (str, bytes)):
        return "text"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


#: The fixed refusal text. One place, so answerers, the UI and the eval agree on it.
REFUSAL = "The documents do not say."

#: The replies to a message that is only a greeting, thanks or goodbye: nothing is
#: searched, nothing is cited (see :func:`rag.answering.question.small_talk`).
SMALL_TALK_REPLIES = {
    "greeting": "Hello! Ask a question about the documents, and the answer will quote their exact words.",
    "thanks": "You're welcome. Ask another question whenever you like.",
    "goodbye": "Goodbye.",
}


@dataclass(frozen=True)
class SentenceRow:
    """A sentence as the query side sees it: its place, its section and its chunk."""

    id: str
    doc: str
    start: int
    end: int
    section: str
    paragraph: int
    chunk: int
    position: int  # index within its document


@dataclass(frozen=True)
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

    @property
    def id(self) -> str:
        return self.row.id

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Span:
    """An exact slice of a document: ``document[start:end] == text``."""

    doc: str
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Citation:
    """``[n]`` in an answer: the exact words it rests on.

    >>> Citation(1, "a.txt", "", 0, 5, "Hello").to_dict()["quote"]
    'Hello'
    """

    n: int
    doc: str
    section: str
    start: int
    end: int
    quote: str

    @classmethod
    def of(cls, n: int, passage: Passage) -> "Citation":
        """Cite ``passage`` as ``[n]``: its whole sentence is the quote."""
        r = passage.row
        return cls(n=n, doc=r.doc, section=r.section, start=r.start, end=r.end, quote=passage.text)

    def renumbered(self, n: int) -> "Citation":
        return replace(self, n=n)

    def to_dict(self) -> "CitationDict":
        return cast("CitationDict", asdict(self))


@dataclass(frozen=True)
class Related:
    """A closest passage shown beside a refusal: related, not cited."""

    doc: str
    section: str
    start: int
    end: int
    quote: str
    score: float

    @classmethod
    def of(cls, passage: Passage) -> "Related":
        r = passage.row
        return cls(doc=r.doc, section=r.section, start=r.start, end=r.end, quote=passage.text, score=round(passage.score, 4))

    def to_dict(self) -> "RelatedDict":
        return cast("RelatedDict", asdict(self))


class CitationDict(TypedDict):
    """``[n]`` in the answer: ``document[start:end] == quote``."""

    n: int
    doc: str
    section: str
    start: int
    end: int
    quote: str


class RelatedDict(TypedDict):
    """A closest passage shown beside a refusal (related, not cited)."""

    doc: str
    section: str
    start: int
    end: int
    quote: str
    score: float


class SpanDict(TypedDict):
    """The part of citation ``n``'s quote that answers: ``document[start:end] == text``."""

    n: Optional[int]
    doc: str
    start: int
    end: int
    text: str


class AnswerDict(TypedDict):
    """``Answer.to_dict()``: the answer text with ``[n]`` markers and what each rests on.

    ``answer_span`` is null when the answer is the refusal; ``rewritten_query`` is the
    question as resolved from the history; ``dropped`` (LLM mode only) lists sentences
    the grounding gate removed; ``notes`` is said beside the answer, not in it (a part
    of a two-part question the documents do not answer, a cited file changed since it
    was indexed).
    """

    question: str
    answer: str
    refused: bool
    citations: list[CitationDict]
    related: list[RelatedDict]
    answer_span: Optional[SpanDict]
    rewritten_query: str
    mode: str
    timings_ms: dict[str, float]
    dropped: NotRequired[list[dict[str, Any]]]
    notes: NotRequired[list[str]]


@dataclass
class Answer:
    """What the pipeline returns for one question."""

    question: str
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Related] = field(default_factory=list)
    rewritten_query: str = ""
    mode: str = "extractive"
    timings_ms: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.0  # calibrated answerability in [0, 1]
    signals: dict[str, Any] = field(default_factory=dict)  # what the confidence was computed from
    dropped: list[dict[str, Any]] = field(default_factory=list)  # LLM sentences the gate removed
    # The part of a cited quote that answers (a sub-span of citation ``answer_n``).
    answer_span: Span | None = None
    answer_n: int | None = None
    # What the reader should know beside the answer (a cited file changed on disk since
    # it was indexed); never part of the cited text.
    notes: list[str] = field(default_factory=list)

    @classmethod
    def refusal(
        cls, question: str, related: Sequence[Passage] = (), *, confidence: float = 0.0, mode: str = "extractive"
    ) -> "Answer":
        """The fixed refusal, with up to three closest passages shown as related: the
        first three given, in the order of the score they show (a reader sees them
        ranked by it)."""
        return cls(
            question=question,
            text=REFUSAL,
            refused=True,
            related=sorted((Related.of(p) for p in list(related)[:3]), key=lambda r: -r.score),
            mode=mode,
            confidence=confidence,
        )

    @classmethod
    def small_talk(cls, question: str, kind: str, *, mode: str = "extractive") -> "Answer":
        """The reply to a greeting, thanks or goodbye (``kind``): no answer, no citation.

        >>> Answer.small_talk("hi!", "greeting").refused
        True
        """
        return cls(question=question, text=SMALL_TALK_REPLIES[kind], refused=True, mode=mode,
                   signals={"small_talk": kind})

    def to_dict(self) -> AnswerDict:
        d: AnswerDict = {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "related": [r.to_dict() for r in self.related],
            "answer_span": (
                cast(SpanDict, {"n": self.answer_n, **self.answer_span.to_dict()}) if self.answer_span is not None else None
            ),
            "rewritten_query": self.rewritten_query,
            "mode": self.mode,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
        if self.dropped:
            d["dropped"] = self.dropped
        if self.notes:
            d["notes"] = self.notes
        return d

    def sentences(self) -> list[tuple[str, list[int]]]:
        """The answer split into (sentence, cited numbers) pairs."""
        return split_cited(self.text)


_MARKERS = re.compile(r"(?:\s*\[\d+\])+")
_NUM = re.compile(r"\[(\d+)\]")


def split_cited(text: str) -> list[tuple[str, list[int]]]:
    """Split an answer into sentences at its citation markers.

    >>> split_cited("A. [1] B, C. [2][3]")
    [('A.', [1]), ('B, C.', [2, 3])]

    Text after the last marker is a sentence with no citations.
    """
    out: list[tuple[str, list[int]]] = []
    pos = 0
    for m in _MARKERS.finditer(text):
        sentence = text[pos : m.start()].strip()
        nums = [int(x) for x in _NUM.findall(m.group(0))]
        if sentence:
            out.append((sentence, nums))
        elif out:  # markers right after markers: attach to the previous sentence
            out[-1] = (out[-1][0], out[-1][1] + nums)
        pos = m.end()
    tail = text[pos:].strip()
    if tail:
        out.append((tail, []))
    return out


def joined(question: str, first: "Answer", second: "Answer") -> "Answer":
    """One answer to a two-part question from the answers to its parts: the cited
    sentences of each, in order, each sentence and citation once, renumbered; a part
    the documents do not answer is said so in ``notes``. Both refused: the first refusal.
    Markers are rewritten and quotes kept, so every citation still slices to its quote.
    """
    answered = [a for a in (first, second) if not a.refused and a.citations]
    if not answered:
        out = replace(first, question=question)
        out.related = [*first.related, *(r for r in second.related if r not in first.related)]
        return out
    citations: list[Citation] = []
    number: dict[tuple[str, int, int], int] = {}
    sentences: list[str] = []
    span, span_n = None, None
    for a in answered:
        renumber = {}
        for c in a.citations:
            key = (c.doc, c.start, c.end)
            if key not in number:
                number[key] = len(citations) + 1
                citations.append(c.renumbered(number[key]))
            renumber[c.n] = number[key]
        for sentence, nums in split_cited(a.text):
            marked = f"{sentence} " + "".join(f"[{renumber[n]}]" for n in nums if n in renumber)
            if marked not in sentences:
                sentences.append(marked)
        if span is None and a.answer_span is not None and a.answer_n in renumber:
            span, span_n = a.answer_span, renumber[a.answer_n]
    lead = answered[0]
    notes = [n for a in answered for n in a.notes]
    for part, a in ((first.question, first), (second.question, second)):
        if not any(a is b for b in answered):
            notes.append(f"Not in the documents: \"{part}\"")
    timings = {k: first.timings_ms.get(k, 0.0) + second.timings_ms.get(k, 0.0)
               for k in {*first.timings_ms, *second.timings_ms}}
    return replace(
        lead, question=question, text=" ".join(sentences), citations=citations, answer_span=span, answer_n=span_n,
        confidence=min(a.confidence for a in answered), notes=notes, timings_ms=timings,
        rewritten_query=" | ".join(a.rewritten_query or a.question for a in (first, second)),
        signals={**lead.signals, "parts": [first.question, second.question]},
    )


# --- what a streamed LLM answer yields before its Answer ---------------------------


@dataclass(frozen=True)
class DraftText:
    """The sentence the model is still writing (number ``index``, 0-based): not checked yet.

    >>> DraftText(0, "The hall opened in").text
    'The hall opened in'
    """

    index: int
    text: str


@dataclass(frozen=True)
class SentenceVerdict:
    """A finished sentence, checked: ``kept`` with its final ``[n]`` markers, or struck with ``reason``.

    ``text`` is the sentence as it will read in the answer (markers included when kept);
    ``citations`` are the final numbers when kept, the model's own when struck.

    >>> SentenceVerdict(0, "It opened in 2022. [1]", (1,), True, "verbatim in the cited passage").kept
    True
    """

    index: int
    text: str
    citations: tuple[int, ...]
    kept: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the interfaces between stages ---------------------------------------------


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    dim: int

    def embed_documents(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> "np.ndarray":
        """Vectors for ``texts``; ``progress(n)`` gets the count embedded so far."""
        ...

    def embed_query(self, text: str) -> "np.ndarray":
        """The vector for a search query."""
        ...


class Retriever(Protocol):
    """Finds the sentences most likely to answer a query."""

    def retrieve(self, query: str, k: int | None = None, query_vector: "np.ndarray | None" = None) -> list[Passage]: ...


@runtime_checkable
class Reranker(Protocol):
    """Scores retrieved sentences by how well each can answer the question.

    Returns one score per passage, in their order; it changes nothing it is given.
    The retrieval stage :func:`rag.retrieval.rerank` turns scores into an order.
    """

    def scores(self, question: str, passages: Sequence[Passage], table: "SentenceTable") -> list[float]: ...


class Answerer(Protocol):
    """Turns a question and retrieved passages into an :class:`Answer`."""

    name: str
    # Whether ``Answer.confidence`` is a calibrated probability that the answer is right
    # (then two readings of a question can be compared by it).
    calibrated: bool

    def answer(self, question: str, passages: Sequence[Passage], table: "SentenceTable") -> Answer: ...
