"""The one facade the CLI, the web UI and the evals use.

    from rag import Pipeline, Config
    p = Pipeline.load(Config())      # indexes ./corpus if the index is missing or stale
    a = p.ask("How long is the warranty?")
    print(a.text, a.citations)

Construction is cheap; the embedding model, Chroma client and BM25 index load on
first use, so ``rag --help`` and friends stay instant.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, Union

from .answering import ExtractiveAnswerer, is_content
from .answering.question import small_talk, split_parts
from .answering.span import checked_phrase
from .chat import HistoryItem, Resolution, Turn, parse_history, persons, resolve
from .config import Config, IndexConfig
from .corpus import check_folder
from .embedding import MiniLMEmbedder
from .grounding import Checker, gate
from .generations import Generation, Lease, collect, current, pointer_stamp, writable
from .indexing import IndexReport, Indexer, is_fresh, store_matches_manifest
from .manifest import model_key
from .nlp import genders, merge_surnames
from .retrieval import HybridRetriever, SparseIndex, rerank
from .store import ReadOnlyIndex, SentenceStore, StoreError
from .table import SentenceTable
from .types import Answer, Answerer, DraftText, Embedder, InvalidQuestion, Passage, Reranker, SentenceVerdict, joined, json_kind

__all__ = ["Pipeline", "InvalidQuestion", "clean_question", "HistoryItem"]
PREV_CACHE_SIZE = 512  # earlier questions whose answers are kept for follow-ups
log = logging.getLogger(__name__)


_SENTENCE_END = re.compile(r"[.!?]\s")


def clean_question(question: Any, max_chars: int) -> str:
    """Validate and normalise a user question.

    Control characters (NUL included) are removed, whitespace collapsed, and an
    over-long text cut so it can never stall embedding: to its last question (the
    sentence ending with its last question mark), since people paste their context
    first and ask after it, and a page of context would drown the question's own words;
    with no question mark, to its last ``max_chars`` characters.
    Raises :class:`InvalidQuestion` with a message a user can act on.

    >>> clean_question("Some context here. " * 3 + "How old is it? Thanks.", 40)
    'How old is it?'
    """
    if isinstance(question, bytes):
        question = question.decode("utf-8", errors="replace")
    if not isinstance(question, str):
        raise InvalidQuestion(f"the question must be text, not {json_kind(question)}")
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
        end = text.rfind("?") + 1 or len(text)
        start = max(0, end - max_chars)
        if "?" in text:
            opening = max((m.end() for m in _SENTENCE_END.finditer(text, start, end - 1)), default=start)
            start = max(start, opening)
        kept = text[start:end]
        if start > 0 and " " in kept and not text[start - 1].isspace():
            kept = kept.split(" ", 1)[1]  # start on a whole word
        text = kept.strip()
    return text


@dataclass
class _Snapshot:
    """One consistent view of the index: one generation's sentence table, the retriever
    built on it (its Chroma handle and BM25), and what was derived from its texts.
    Swapped as a whole, never edited, so a question answered while the index changes
    sees the old generation or the new one. The lease keeps other processes from
    removing the generation until the last question searching it has finished."""

    table: SentenceTable
    retriever: HybridRetriever
    stamp: tuple[int, ...]
    people: dict[str, tuple[tuple[str, ...], dict[str, str]]] = field(default_factory=dict)  # names, genders
    searching: int = 0  # questions searching the vectors through this view right now
    generation: Generation | None = None
    store: SentenceStore | None = None
    lease: Lease | None = None
    retired: bool = False  # a newer view replaced it: closed when no search uses it
    closed: bool = False

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        if self.lease is not None:
            self.lease.release()
        self.closed = True


def _index_stamp(config: IndexConfig) -> tuple[int, ...]:
    """Changes whenever any process publishes an index generation (the pointer file is
    replaced by rename): one ``stat`` per question."""
    return pointer_stamp(config)


class Pipeline:
    """Index, retrieve, answer: the whole product behind one object.

    Safe to share between threads (the web UI answers several sessions at once).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        embedder: Embedder | None = None,
        answerers: Mapping[str, Answerer] | None = None,
    ) -> None:
        self.config = config or Config()
        emb = self.config.embedding
        self.embedder: Embedder = embedder or MiniLMEmbedder(
            emb.embed_model, batch_size=emb.embed_batch_size, backend=emb.embed_backend, cache_dir=emb.cache_path
        )
        self._answerers: dict[str, Answerer] = dict(answerers or {})
        self.checker = Checker(self.embedder, self.config.grounding.grounding_threshold)
        self.model_key = model_key(emb.embed_model)
        self._snap: _Snapshot | None = None
        self._snap_lock = threading.Lock()  # one thread builds a new snapshot; others wait
        self._swap = threading.Condition()  # guards which view is current and who searches it
        self._source_hashes: dict[str, tuple[tuple[int, int, int], str | None]] = {}  # see changed_sources
        self._answerer_lock = threading.Lock()
        self._prev_cache: dict[tuple[str, tuple[str, ...]], Answer] = {}
        self._cache_lock = threading.Lock()

    # --- construction --------------------------------------------------------

    @classmethod
    def load(
        cls,
        config: Config | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        **kwargs: Any,
    ) -> "Pipeline":
        """A pipeline over an up-to-date index: indexes the corpus if the index is missing or stale.

        A read-only index folder is answered from as it is (with a warning if it is
        out of date with the corpus); raises :class:`ReadOnlyIndex` if it holds no index.
        """
        p = cls(config, **kwargs)
        index = p.config.index
        check_folder(index.corpus_dir)  # before an index folder is made for a corpus that is not there
        # The manifest can be fresh while Chroma is not (deleted, corrupt, or emptied by a
        # crash): then indexing repairs it, rather than the first question failing.
        if not is_fresh(index, p.model_key) or not store_matches_manifest(index):
            if writable(index):
                p.index(progress=progress)
            elif current(index) is None:
                raise ReadOnlyIndex(f"the index folder {index.home} is read-only and holds no index to answer from")
            else:
                log.warning("the index in %s is read-only and out of date with %s; answering from it as it is "
                            "(re-index where the folder is writable)", index.home, index.corpus_dir)
        return p

    def index(self, *, rebuild: bool = False, progress: Callable[[int, int], None] | None = None) -> IndexReport:
        """Bring the index in line with the corpus folder (incremental unless ``rebuild``)
        by writing and publishing a new generation; questions asked meanwhile are
        answered from the published one."""
        # Export the light query-time encoder now (once per machine; a stat when done)
        # so the next `rag ask` need not import torch. Embedders without one skip it.
        prepare = getattr(self.embedder, "prepare", None)
        if prepare is not None:
            prepare()
        indexer = Indexer(self.config.index, self.config.chunking, self.embedder, self.model_key)
        return indexer.run(rebuild=rebuild, progress=progress, on_committed=self._commit)

    def _commit(self) -> None:
        """A new generation was published: switch to it now. The old view stays open
        for the questions still searching it and is closed after the last one."""
        self._refresh()

    def close(self) -> None:
        """Release the generation this pipeline reads (its Chroma client and lease)."""
        with self._snap_lock:
            with self._swap:
                snap, self._snap = self._snap, None
                if snap is not None:
                    snap.retired = True
                    done = snap.searching == 0 and not snap.closed
                else:
                    done = False
            if snap is not None and done:
                snap.close()

    @property
    def store(self) -> SentenceStore:
        """The vectors of the generation questions are answered from now."""
        snap = self._snapshot()
        if snap.store is None:
            raise StoreError(f"{self.config.index.home} holds no index yet; run `rag index`")
        return snap.store

    @contextmanager
    def _searching(self) -> Iterator[_Snapshot]:
        """The current view, counted as searching until the block ends."""
        while True:
            snap = self._snapshot()
            with self._swap:
                if self._snap is snap:  # not swapped meanwhile: counted before it can be closed
                    snap.searching += 1
                    break
        try:
            yield snap
        finally:
            with self._swap:
                snap.searching -= 1
                done = snap.retired and snap.searching == 0 and not snap.closed
                if done:
                    snap.closed = True
            if done:
                self._retire(snap)

    def _retire(self, snap: _Snapshot) -> None:
        """Close a replaced view, then remove old generations nobody holds (if we may)."""
        snap.close()
        try:
            collect(self.config.index, drop=lambda g: SentenceStore(self.config.index, g).drop())
        except Exception as exc:  # noqa: BLE001 - cleaning up must never fail a question
            log.debug("removing old generations: %s", exc)

    def _refresh(self) -> _Snapshot:
        with self._snap_lock:
            return self._load_snapshot()

    def _load_snapshot(self) -> _Snapshot:
        index = self.config.index
        gen: Generation | None = None
        lease: Lease | None = None
        stamp = _index_stamp(index)
        for _ in range(20):
            stamp = _index_stamp(index)  # taken first: a publish during the load is seen next time
            gen = current(index)
            if gen is None:
                break
            lease = Lease.take(gen)
            if lease is not None:
                break
            gen = None  # removed between reading the pointer and leasing it: read it again
        store = SentenceStore(index, gen) if gen is not None else None
        table = SentenceTable.load(gen)
        # Loaded now, not lazily: a reader must not get another generation's BM25 than its table.
        sparse = SparseIndex.load_or_none(gen.bm25_path, self.config.retrieval.sparse_k) if gen else None
        retriever = HybridRetriever(self.config.retrieval, self.embedder, store or SentenceStore(index), table, sparse)
        snap = _Snapshot(table, retriever, stamp, generation=gen, store=store, lease=lease)
        with self._swap:
            old, self._snap = self._snap, snap
            done = False
            if old is not None:
                old.retired = True
                done = old.searching == 0 and not old.closed
                if done:
                    old.closed = True
        if done and old is not None:
            self._retire(old)
        with self._cache_lock:
            self._prev_cache.clear()  # earlier answers quote the old texts
        return snap

    def _snapshot(self) -> _Snapshot:
        """The current view; reloaded when any process has published a newer generation."""
        snap = self._snap
        if snap is not None and snap.stamp == _index_stamp(self.config.index):
            return snap
        with self._snap_lock:
            current_snap = self._snap
            if current_snap is not None and current_snap.stamp == _index_stamp(self.config.index):
                return current_snap  # another thread reloaded while this one waited
            return self._load_snapshot()

    def changed_sources(self, docs: Sequence[str], table: SentenceTable | None = None) -> list[str]:
        """Those of ``docs`` whose corpus file no longer holds the text ``table`` (default:
        the current view) was indexed from: edited, replaced or deleted since.

        Answers quote the indexed text (the generation keeps its own copy, so every
        citation slices to its quote); this says when the file on disk moved on. A file
        is re-hashed only when its size, mtime or inode changed.
        """
        table = table or self.table
        out = []
        for doc in dict.fromkeys(docs):
            indexed = table.hashes.get(doc)
            if indexed is None:
                continue
            path = Path(self.config.index.corpus_dir) / doc
            try:
                st = path.stat()
                key = (st.st_size, st.st_mtime_ns, st.st_ino)
            except OSError:
                out.append(doc)
                continue
            cached = self._source_hashes.get(doc)
            if cached is None or cached[0] != key:
                try:
                    digest: str | None = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
                except OSError:
                    digest = None
                cached = (key, digest)
                self._source_hashes[doc] = cached
            if cached[1] != indexed:
                out.append(doc)
        return out

    def _note_changed_sources(self, answer: Answer, table: SentenceTable) -> Answer:
        """Say so when a cited file changed on disk after its generation was built."""
        changed = self.changed_sources([c.doc for c in answer.citations], table) if answer.citations else []
        if changed:
            # A note beside the answer, not a sentence in it: every answer sentence is cited.
            answer.signals["changed_sources"] = changed
            answer.notes.append(f"{', '.join(changed)} changed on disk after it was indexed; the quotes are "
                                "from the indexed version until `rag index` runs.")
        return answer

    @property
    def table(self) -> SentenceTable:
        return self._snapshot().table

    @property
    def retriever(self) -> HybridRetriever:
        return self._snapshot().retriever

    def answerer(self, mode: str | None = None) -> Answerer:
        mode = mode or self.config.answering.mode
        with self._answerer_lock:
            return self._answerer(mode)

    def _answerer(self, mode: str) -> Answerer:
        if mode not in self._answerers:
            if mode == "extractive":
                self._answerers[mode] = ExtractiveAnswerer(self.config.answering, self.embedder)
            elif mode == "llm":
                from .llm import LLMAnswerer  # the LLM itself loads on first use (optional extra)

                self._answerers[mode] = LLMAnswerer(self.config.llm, self.checker, self.config.retrieval.top_k,
                                                    phrase_check=checked_phrase)
            else:
                raise ValueError(f"unknown answer mode {mode!r} (choose 'extractive' or 'llm')")
        return self._answerers[mode]

    # --- asking ----------------------------------------------------------------

    def corpus_text(self, doc: str) -> str:
        """The full text of an indexed document (what citation offsets point into)."""
        return self.table.texts[doc]

    def documents(self) -> list[dict[str, Any]]:
        """The indexed documents: ``{"id", "title", "characters"}`` each, in id order."""
        t = self.table
        return [{"id": d, "title": t.titles.get(d, d), "characters": len(t.texts[d])} for d in sorted(t.texts)]

    def status(self) -> dict[str, Any]:
        t = self.table
        return {
            "documents": len(t.texts),
            "sentences": len(t),
            "titles": dict(t.titles),
        }

    def reranker(self, mode: str | None = None) -> Reranker | None:
        """What reorders retrieved sentences for ``mode``: the extractive answerer's
        scores in extractive mode, and for a small LLM that is only asked to pick a
        passage and a phrase (its passages are the selector's best); nothing (the fused
        order) for an LLM that writes its own sentences from every passage it is shown."""
        mode = mode or self.config.answering.mode
        if mode != "extractive" and getattr(self.answerer(mode), "style", lambda: "")() != "phrase":
            return None
        extractive = self.answerer("extractive")
        # An injected extractive answerer that cannot score passages leaves the fused order.
        return extractive if isinstance(extractive, Reranker) else None

    def _rerank(self, query: str, passages: Sequence[Passage], table: SentenceTable, mode: str | None) -> list[Passage]:
        return rerank(query, passages, table, self.reranker(mode), self.config.retrieval.rerank_weight)

    def retrieve(self, query: str, k: int | None = None, *, reranked: bool = True, mode: str | None = None) -> list[Passage]:
        """The top ``k`` sentences for a query, in the order answering sees them: hybrid
        retrieval of ``candidate_k`` (or ``k`` if more), then reranked for ``mode``
        (``reranked=False``: the fused order, before the rerank stage)."""
        r = self.config.retrieval
        query = clean_question(query, self.config.answering.max_question_chars)
        k = k or r.top_k
        with self._searching() as snap:
            passages = snap.retriever.retrieve(query, max(k, r.candidate_k))
        if reranked:
            passages = self._rerank(query, passages, snap.table, mode)
        return passages[:k]

    def ask(
        self,
        question: str,
        history: Sequence[HistoryItem] | None = None,
        *,
        top_k: int | None = None,
        mode: str | None = None,
    ) -> Answer:
        """Answer ``question`` with citations, or refuse; earlier turns in ``history``.

        ``history`` items are earlier questions (str), :class:`rag.chat.Turn` objects or their
        ``to_dict()`` mappings, or chat messages (see :func:`rag.chat.parse_history`);
        a bare earlier question is re-answered to know what it was about.
        Raises :class:`InvalidQuestion` for an empty question or a malformed history.
        """
        t0 = time.perf_counter()
        question = clean_question(question, self.config.answering.max_question_chars)
        turns = self._turns(parse_history(history))
        kind = small_talk(question)
        if kind is not None:  # "hi", "thanks": nothing to search for, nothing to cite
            return Answer.small_talk(question, kind, mode=mode or self.config.answering.mode)
        parts = split_parts(question) if self.config.answering.split_two_part else [question]
        if len(parts) == 2:
            # "Who built it, and when did it open?": each part is asked on its own (the
            # second as a follow-up of the first, for its pronouns), then the two answers
            # are joined; one retrieval for both would find the sentences of one part.
            first = self._ask_one(parts[0], turns, t0, top_k, mode)
            second = self._ask_one(parts[1], [*turns, Turn.from_answer(first)], time.perf_counter(), top_k, mode)
            return joined(question, first, second)
        return self._ask_one(question, turns, t0, top_k, mode)

    def _ask_one(self, question: str, turns: list[Turn], t0: float, top_k: int | None, mode: str | None) -> Answer:
        t1 = time.perf_counter()
        k = max(top_k or self.config.retrieval.top_k, self.config.retrieval.candidate_k)
        resolution, passages, table, t2 = self._candidates(question, turns, k)
        passages = self._rerank(resolution.query, passages, table, mode)
        t3 = time.perf_counter()
        answer = self.answerer(mode).answer(resolution.query, passages, table)
        margin = self.config.answering.self_contained_margin
        # getattr: an answerer injected by a caller may not say; then its confidence is not compared
        # A pronoun resolve() replaced ("it" -> "the regatta") is read with its referent only:
        # alone, "how much does it cost?" is about anything.
        if (resolution.query != question and not resolution.replaced and margin is not None
                and getattr(self.answerer(mode), "calibrated", False)):
            # The question read with the conversation, and read alone: a question that
            # stands on its own ("when is check-out?" after one about prices) is better
            # answered alone, which the answerability model sees as a more likely answer.
            alone, alone_passages, alone_table, _ = self._candidates(question, [], k)
            alone_passages = self._rerank(question, alone_passages, alone_table, mode)
            other = self.answerer(mode).answer(question, alone_passages, alone_table)
            if not other.refused and other.confidence > answer.confidence + margin:
                resolution, passages, table, answer = alone, alone_passages, alone_table, other
        if answer.signals.get("fallback"):
            # The LLM wrote nothing its citations support: answer extractively instead,
            # from the order extractive answering sees, and say so.
            ordered = self._rerank(resolution.query, passages, table, "extractive")
            fallback = self.answerer("extractive").answer(resolution.query, ordered, table)
            fallback.mode = f"{answer.mode}-fallback-extractive"
            fallback.dropped = answer.dropped
            fallback.signals = {**fallback.signals, **answer.signals}
            answer = fallback
        t4 = time.perf_counter()
        # Every answer passes the grounding gate, whichever answerer wrote it.
        answer = gate(answer, self.checker)
        if not answer.refused and not answer.citations:
            shown = [p for p in passages[: self.config.retrieval.top_k] if is_content(p.text)]
            answer = Answer.refusal(question, shown, mode=answer.mode)
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
        return self._note_changed_sources(answer, table)

    def _candidates(
        self, question: str, turns: list[Turn], k: int
    ) -> tuple[Resolution, list[Passage], SentenceTable, float]:
        """What answering chooses from: the resolved query and the ``k`` best sentences
        by fused score (before the rerank stage), from one view of the index.

        A follow-up is retrieved twice, with the resolved question and with the previous
        question joined to this one, and the two lists fused (each sentence keeps its
        better score): a wrong earlier answer can steer the resolved query, not both.
        """
        retrieval = self.config.retrieval
        # This question is answered from one view alone (the texts stay with it; only
        # the search needs the old vectors to still be there).
        with self._searching() as snap:
            if turns:
                people, gender = self._known_people(snap, turns)
                resolution = resolve(question, turns, people, snap.table.has_phrase, gender)
            else:
                resolution = Resolution(question)
            qv = self.embedder.embed_query(resolution.query)
            t2 = time.perf_counter()
            want = k + len(resolution.exclude)
            passages = snap.retriever.retrieve(resolution.query, want, query_vector=qv)
            # Only a question that leans on the one before (a pronoun, "else", an ellipsis:
            # resolve() rewrote it) is joined to it; a new, self-contained one stands alone.
            if turns and retrieval.follow_up_joined and resolution.query != question:
                joined = f"{turns[-1].question} {question}"
                best = {p.id: p for p in passages}
                for p in snap.retriever.retrieve(joined, want):
                    if p.id not in best or p.score > best[p.id].score:
                        best[p.id] = p
                passages = sorted(best.values(), key=lambda p: (-p.score, p.row.doc, p.row.start))
        if resolution.exclude:
            passages = [p for p in passages if (p.row.doc, p.row.start, p.row.end) not in resolution.exclude]
        return resolution, passages[:k], snap.table, t2

    def candidates(self, question: str, history: Sequence[HistoryItem] | None = None) -> tuple[str, list[Passage], SentenceTable]:
        """The query answering sees, its candidate sentences (fused order) and the table
        they come from: exactly what :meth:`ask` hands the answerer (before reranking).
        For fitting and inspecting answerers."""
        question = clean_question(question, self.config.answering.max_question_chars)
        turns = self._turns(parse_history(history))
        k = max(self.config.retrieval.top_k, self.config.retrieval.candidate_k)
        resolution, passages, table, _ = self._candidates(question, turns, k)
        return resolution.query, passages, table

    def stream(
        self, question: str, history: Sequence[HistoryItem] | None = None, *, events: bool = False, **kwargs: Any
    ) -> Iterator[Union[str, DraftText, SentenceVerdict, Answer]]:
        """Yield the answer's text in pieces (one cited sentence at a time), then the Answer.

        In LLM mode the pieces come while the model writes: each sentence once it is
        complete and has passed the grounding check. With ``events=True`` it yields
        :class:`DraftText` (a sentence being written, unchecked) and
        :class:`SentenceVerdict` (kept with its final ``[n]``, or struck with the reason)
        instead of text. The final Answer is what :meth:`ask` returns, and the one to show.
        """
        if (kwargs.get("mode") or self.config.answering.mode) == "llm":
            yield from self._stream_llm(question, history, events, kwargs)
            return
        answer = self.ask(question, history, **kwargs)
        if answer.refused:
            yield answer.text
        else:
            pieces = [f"{s} " + "".join(f"[{n}]" for n in nums) for s, nums in answer.sentences()]
            for i, piece in enumerate(pieces):
                yield piece if i == len(pieces) - 1 else piece + " "
        yield answer

    def _stream_llm(
        self, question: str, history: Sequence[HistoryItem] | None, events: bool, kwargs: dict[str, Any]
    ) -> Iterator[Union[str, DraftText, SentenceVerdict, Answer]]:
        """:meth:`ask` in a worker thread, its LLM answerer streaming through a queue."""
        import queue

        from .llm import listening

        clean_question(question, self.config.answering.max_question_chars)  # bad input fails here, not in the thread
        # Earlier turns are answered now, outside the listener: only this question's events stream.
        self._turns(parse_history(history))
        q: "queue.Queue[Any]" = queue.Queue()

        def work() -> None:
            try:
                with listening(q.put):
                    q.put(self.ask(question, history, **kwargs))
            except BaseException as exc:  # handed to the consumer, raised there
                q.put(exc)

        threading.Thread(target=work, name="rag-llm-stream", daemon=True).start()
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, Answer):
                yield item
                return
            if events:
                yield item
            elif isinstance(item, SentenceVerdict) and item.kept:
                yield item.text + " "

    # --- follow-up support -----------------------------------------------------

    def _turns(self, turns: list[Turn]) -> list[Turn]:
        """Earlier turns with their answers; only the last one matters for resolution."""
        if turns and not turns[-1].answer and turns[-1].question.strip():
            last = turns[-1]
            earlier = tuple(t.question for t in turns[:-1][-1:])  # one turn of context is enough
            key = (last.question, earlier)
            with self._cache_lock:
                prev = self._prev_cache.get(key)
            if prev is None:
                try:
                    prev = self.ask(last.question, list(earlier))
                except InvalidQuestion:
                    return turns[:-1]
                with self._cache_lock:
                    if len(self._prev_cache) >= PREV_CACHE_SIZE:  # a server sees endless histories
                        del self._prev_cache[next(iter(self._prev_cache))]
                    self._prev_cache[key] = prev
            turns = [*turns[:-1], Turn.from_answer(prev)]
        return turns

    def _known_people(self, snap: _Snapshot, turns: list[Turn]) -> tuple[tuple[str, ...], dict[str, str]]:
        """Full person names of the documents the last turn drew on (a small gazetteer),
        and the gender those documents give some of them (:func:`rag.nlp.genders`)."""
        docs = {d for d, _, _ in turns[-1].cited} if turns else set()
        docs = docs or set(list(snap.table.texts)[:1])
        out: list[str] = []
        gender: dict[str, str] = {}
        for doc in sorted(docs):
            if doc not in snap.people:
                # Sentence by sentence: over the whole text a heading runs into the line
                # after it ("House Rules" + "Welcome ..." read as a person's name).
                sentences = [snap.table.text(r) for r in snap.table.by_doc.get(doc, [])]
                found = list(dict.fromkeys(p for s in sentences for p in persons(s)))
                # "Dr. Lopez" in one sentence is the "Ana Lopez" of another
                people = tuple(merge_surnames(found))
                snap.people[doc] = (people, genders(sentences, people))
            people, doc_genders = snap.people[doc]
            out.extend(p for p in people if p not in out)
            gender = {**doc_genders, **gender}
        return tuple(out), gender
