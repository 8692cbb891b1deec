"""The one facade the CLI, the web UI and the evals use.

    from rag import Pipeline, Config
    p = Pipeline.load(Config())      # indexes ./corpus if the index is missing or stale
    a = p.ask("How many inmates can CECOT hold?")
    print(a.text, a.citations)

Construction is cheap; the embedding model, Chroma client and BM25 index load on
first use, so ``rag --help`` and friends stay instant.
"""

from __future__ import annotations

import time
import unicodedata
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

from .answer import Answer, Answerer, ExtractiveAnswerer, refusal
from .chat import Resolution, Turn, persons, resolve
from .config import Config
from .embedding import Embedder, MiniLMEmbedder
from .grounding import Checker, gate
from .indexing import IndexReport, Indexer, SentenceTable, is_fresh
from .retrieval import HybridRetriever, Passage
from .store import SentenceStore

HistoryItem = Union[str, Mapping[str, Any], Turn]


class InvalidQuestion(ValueError):
    """The question is empty or has nothing to search for."""


def clean_question(question: Any, max_chars: int) -> str:
    """Validate and normalise a user question.

    Control characters (NUL included) are removed, whitespace collapsed, and an
    over-long question truncated to ``max_chars`` so it can never stall embedding.
    Raises :class:`InvalidQuestion` with a message a user can act on.
    """
    if isinstance(question, bytes):
        question = question.decode("utf-8", errors="replace")
    if not isinstance(question, str):
        raise InvalidQuestion(f"the question must be text, not {type(question).__name__}")
    text = "".join(
        " " if ch.isspace() else ch
        for ch in question
        if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    text = " ".join(text.split())
    if not text:
        raise InvalidQuestion("the question is empty")
    if not any(ch.isalnum() for ch in text):
        raise InvalidQuestion("the question has no words to search for")
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    return text


class Pipeline:
    """Index, retrieve, answer: the whole product behind one object."""

    def __init__(
        self,
        config: Config | None = None,
        *,
        embedder: Embedder | None = None,
        store: SentenceStore | None = None,
        answerers: Mapping[str, Answerer] | None = None,
    ) -> None:
        self.config = config or Config()
        self.embedder: Embedder = embedder or MiniLMEmbedder(
            self.config.embed_model,
            batch_size=self.config.embed_batch_size,
            backend=self.config.embed_backend,
            cache_dir=self.config.cache_path,
        )
        self.store = store or SentenceStore(self.config)
        self._answerers: dict[str, Answerer] = dict(answerers or {})
        self.checker = Checker(self.embedder, self.config.grounding_threshold)
        self._table: SentenceTable | None = None
        self._retriever: HybridRetriever | None = None
        self._people: dict[str, tuple[str, ...]] = {}
        self._prev_cache: dict[tuple[str, tuple[str, ...]], Answer] = {}

    # --- construction --------------------------------------------------------

    @classmethod
    def load(
        cls,
        config: Config | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        **kwargs: Any,
    ) -> "Pipeline":
        """A pipeline over an up-to-date index: indexes the corpus if the index is missing or stale."""
        p = cls(config, **kwargs)
        if not is_fresh(p.config):
            p.index(progress=progress)
        return p

    def index(self, *, rebuild: bool = False, progress: Callable[[int, int], None] | None = None) -> IndexReport:
        """Bring the index in line with the corpus folder (incremental unless ``rebuild``)."""
        # Export the light query-time encoder now (once per machine; a stat when done)
        # so the next `rag ask` need not import torch. Embedders without one skip it.
        prepare = getattr(self.embedder, "prepare", None)
        if prepare is not None:
            prepare()
        report = Indexer(self.config, self.embedder, self.store).run(rebuild=rebuild, progress=progress)
        self._table = None
        self._retriever = None
        self._people.clear()
        self._prev_cache.clear()
        return report

    @property
    def table(self) -> SentenceTable:
        if self._table is None:
            self._table = SentenceTable.load(self.config)
        return self._table

    @property
    def retriever(self) -> HybridRetriever:
        if self._retriever is None:
            self._retriever = HybridRetriever(self.config, self.embedder, self.store, self.table)
        return self._retriever

    def answerer(self, mode: str | None = None) -> Answerer:
        mode = mode or self.config.mode
        if mode not in self._answerers:
            if mode == "extractive":
                self._answerers[mode] = ExtractiveAnswerer(self.config, self.embedder)
            elif mode == "llm":
                from .llm import LLMAnswerer  # the LLM itself loads on first use (optional extra)

                self._answerers[mode] = LLMAnswerer(self.config, self.embedder)
            else:
                raise ValueError(f"unknown answer mode {mode!r} (choose 'extractive' or 'llm')")
        return self._answerers[mode]

    # --- asking ----------------------------------------------------------------

    def corpus_text(self, doc: str) -> str:
        """The full text of an indexed document (what citation offsets point into)."""
        return self.table.texts[doc]

    def status(self) -> dict[str, Any]:
        t = self.table
        return {
            "documents": len(t.texts),
            "sentences": len(t),
            "titles": dict(t.titles),
        }

    def retrieve(self, query: str, k: int | None = None) -> list[Passage]:
        """The top sentences for a query (no answering)."""
        query = clean_question(query, self.config.max_question_chars)
        return self.retriever.retrieve(query, k)

    def ask(
        self,
        question: str,
        history: Sequence[HistoryItem] | None = None,
        *,
        top_k: int | None = None,
        mode: str | None = None,
    ) -> Answer:
        """Answer ``question`` with citations, or refuse; earlier turns in ``history``.

        ``history`` items are earlier questions (str) or ``{"question", "answer"}``
        mappings; a bare earlier question is re-answered to know what it was about.
        """
        t0 = time.perf_counter()
        question = clean_question(question, self.config.max_question_chars)
        turns = self._turns(history or [])
        t1 = time.perf_counter()
        resolution = resolve(question, turns, self._known_people(turns)) if turns else Resolution(question)
        k = max(top_k or self.config.top_k, self.config.candidate_k)
        qv = self.embedder.embed_query(resolution.query)
        t2 = time.perf_counter()
        passages = self.retriever.retrieve(resolution.query, k + len(resolution.exclude), query_vector=qv)
        if resolution.exclude:
            passages = [p for p in passages if (p.row.doc, p.row.start, p.row.end) not in resolution.exclude]
        passages = passages[:k]
        t3 = time.perf_counter()
        answer = self.answerer(mode).answer(resolution.query, passages, self.table)
        t4 = time.perf_counter()
        # Every answer passes the grounding gate, whichever answerer wrote it.
        answer = gate(answer, self.checker)
        if not answer.refused and not answer.citations:
            answer = refusal(question, passages[: self.config.top_k], 0.0, mode=answer.mode)
        t5 = time.perf_counter()
        answer.question = question
        answer.rewritten_query = resolution.query
        answer.timings_ms = {
            "history": (t1 - t0) * 1000,  # re-answering earlier turns, if any
            "embed": (t2 - t1) * 1000,
            "retrieve": (t3 - t2) * 1000,
            "answer": (t4 - t3) * 1000,
            "grounding": (t5 - t4) * 1000,
            "total": (t5 - t0) * 1000,
        }
        return answer

    def stream(
        self, question: str, history: Sequence[HistoryItem] | None = None, **kwargs: Any
    ) -> Iterator[Union[str, Answer]]:
        """Yield the answer's text in pieces (one cited sentence at a time), then the Answer."""
        answer = self.ask(question, history, **kwargs)
        if answer.refused:
            yield answer.text
        else:
            pieces = [f"{s} " + "".join(f"[{n}]" for n in nums) for s, nums in answer.sentences()]
            for i, piece in enumerate(pieces):
                yield piece if i == len(pieces) - 1 else piece + " "
        yield answer

    # --- follow-up support -----------------------------------------------------

    def _turns(self, history: Sequence[HistoryItem]) -> list[Turn]:
        """Earlier turns with their answers; only the last one matters for resolution."""
        turns: list[Turn] = []
        for i, item in enumerate(history):
            if isinstance(item, Turn):
                turns.append(item)
            elif isinstance(item, Mapping):
                q = str(item.get("question", ""))
                turns.append(Turn(q, str(item.get("answer", "")), list(item.get("cited", []))))
            else:
                turns.append(Turn(str(item)))
        if turns and not turns[-1].answer and turns[-1].question.strip():
            last = turns[-1]
            earlier = tuple(t.question for t in turns[:-1][-1:])  # one turn of context is enough
            key = (last.question, earlier)
            if key not in self._prev_cache:
                try:
                    self._prev_cache[key] = self.ask(last.question, list(earlier))
                except InvalidQuestion:
                    return turns[:-1]
            prev = self._prev_cache[key]
            basis = prev.text if not prev.refused else ""
            turns[-1] = Turn(
                prev.rewritten_query or last.question,
                basis,
                [(c.doc, c.start, c.end) for c in prev.citations],
            )
        return turns

    def _known_people(self, turns: list[Turn]) -> tuple[str, ...]:
        """Full person names of the documents the last turn drew on (a small gazetteer)."""
        docs = {d for d, _, _ in turns[-1].cited} if turns else set()
        docs = docs or set(list(self.table.texts)[:1])
        out: list[str] = []
        for doc in sorted(docs):
            if doc not in self._people:
                self._people[doc] = tuple(persons(self.table.texts.get(doc, "")))
            out.extend(p for p in self._people[doc] if p not in out)
        return tuple(out)
