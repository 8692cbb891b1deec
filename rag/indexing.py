"""Incremental, idempotent indexing of a corpus folder into Chroma + BM25, one
generation per run.

Each run writes a new index generation (see :mod:`rag.generations`): a copy of the
published one (its Chroma folder copied, or its server collection copied collection
to collection: nothing unchanged is re-embedded), brought in line with the corpus,
then published by renaming one pointer file. Readers keep answering from the old
generation meanwhile and switch on their next question.

The manifest of a generation records, per document, the content hash and the
sentence table (ids, offsets, sections, chunks). A run compares the corpus with it:
unchanged documents embed nothing, an edited document has exactly its vectors
replaced, a removed document has its vectors deleted. The new generation's manifest is
saved after every embedding batch (a few thousand vectors, even inside one large
document), so a killed run is resumed by the next one, losing at most one batch; the
next run also reconciles the manifest with what Chroma really holds.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import nlp
from .chunking import Chunk, Sentence, chunk_document, document_title, split_clauses, table_headers, windows
from .config import ChunkingConfig, Config, IndexConfig
from .corpus import Document, scan
from .generations import (
    Generation,
    all_generations,
    collect,
    current,
    new_generation,
    publish,
    writable,
)
from .manifest import BM25_IDS, MANIFEST_VERSION, check_manifest, load_manifest, model_key, recorded_vectors, write_json_atomic
from .store import ReadOnlyIndex, SentenceStore, VectorRecord
from .types import Embedder

log = logging.getLogger(__name__)

EMBED_GROUP = 4096  # vectors per encode call and per checkpoint while indexing


@dataclass
class IndexReport:
    """What one indexing run did."""

    documents: int = 0
    chunks: int = 0
    sentences: int = 0
    vectors: int = 0  # vectors in the store (a few per sentence)
    embedded: int = 0  # vectors embedded (computed and stored) in this run
    encoded: int = 0  # distinct texts run through the model for them (see embed_records)
    skipped: int = 0  # documents unchanged since the last run
    removed: int = 0  # documents deleted from the index
    generation: str = ""  # the generation published (or kept, when nothing changed)
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{_count(self.documents, 'document')}, {_count(self.chunks, 'chunk')}, {_count(self.sentences, 'sentence')}; "
            f"embedded {self.embedded} vectors (sentences and their clauses), skipped {self.skipped} unchanged, "
            f"removed {self.removed} "
            f"in {self.seconds:.2f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def doc_entry(doc: Document, chunks: list[Chunk]) -> dict[str, Any]:
    """The manifest record of one document: hash, title and sentence table
    (the caller adds ``vectors``, the number of vectors stored for it)."""
    section_index: dict[str, int] = {}  # sections in order of first appearance
    rows: list[list[Any]] = []
    for ci, chunk in enumerate(chunks):
        for s in chunk.sentences:
            si = section_index.setdefault(s.section, len(section_index))
            rows.append([s.id, s.start, s.end, si, s.paragraph, ci])
    sections = list(section_index)
    return {
        "sha256": doc.sha256,
        "title": doc.meta.get("title") or document_title(doc.text) or (chunks[0].section if chunks else doc.id),
        "sections": sections,
        # id, start, end, section index, paragraph, chunk index — compact: this table is
        # loaded at every query-time start.
        "sentences": rows,
    }


def vector_records(
    doc: Document, sentences: list[Sentence], clauses: bool = True, derive_windows: bool = False
) -> list[VectorRecord]:
    """The texts embedded for each sentence.

    A long sentence packs several facts and its single vector blurs them, so each
    clause (and each pair of adjacent clauses) gets a vector too; and a short
    sentence is ambiguous alone, so the sentence within its neighbours gets one.
    Search scores a sentence by max(sentence, clauses) + window (see retrieval).
    Measured on the article questions of evals/dev.jsonl: hit@3 0.86 with the sentence alone, 0.92 with these.
    ``clauses=False`` (large corpora, see ``Config.clause_views_max_sentences``) keeps
    only the sentence and its window: 2 vectors a sentence instead of ~4.5.
    ``derive_windows=True`` (larger still, ``Config.encoded_windows_max_sentences``)
    marks each window to be averaged from its sentences' vectors, not encoded.
    """
    out: list[VectorRecord] = []
    text = doc.text
    headers = table_headers(sentences)
    around = windows(text, sentences, headers)
    for i, s in enumerate(sentences):
        out.append(VectorRecord(s.id + ":s", s.id, "s", doc.id, s.text))
        spans = split_clauses(text, s.start, s.end) if clauses else []
        views = [text[a:b] for a, b in spans]
        views += [text[spans[j][0] : spans[j + 1][1]] for j in range(len(spans) - 1)]
        head = headers[i]
        if head is not None:  # a table row is also read with its column names
            views.append(head.text.split("\n")[0] + "\n" + s.text)
        for j, v in enumerate(views):
            out.append(VectorRecord(f"{s.id}:c{j}", s.id, "c", doc.id, v))
        window, ids = around[i]
        parts = tuple(x + ":s" for x in ids) if derive_windows else ()
        out.append(VectorRecord(s.id + ":w", s.id, "w", doc.id, window, parts))
    return out


def embed_records(
    embedder: Embedder,
    records: list[VectorRecord],
    progress: Callable[[int], None] | None = None,
    *,
    context: dict[str, VectorRecord] | None = None,
    known: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for ``records`` and how many texts were actually encoded.

    Each distinct text is encoded once (a clause equal to its sentence, a window of a
    one-sentence paragraph, a boilerplate line repeated across documents) and its
    vector reused: identical text, identical vector. Derived records (see
    :func:`vector_records`) are the normalised mean of their parts' vectors; a part
    outside ``records`` (the batch ended between neighbours) is taken from ``known``
    (already stored) or encoded from its record in ``context``.
    """
    own = [r for r in records if not r.derived_from]
    inside = {r.id for r in own}
    outside = sorted({p for r in records for p in r.derived_from if p not in inside})
    extra: dict[str, np.ndarray] = dict(known(outside)) if (outside and known) else {}
    to_encode = [context[p] for p in outside if p not in extra and context and p in context]
    unique = list(dict.fromkeys([r.text for r in own] + [r.text for r in to_encode]))
    scale = len(records) / max(1, len(unique))  # progress is reported in records
    encoded = embedder.embed_documents(
        unique, progress=(lambda n: progress(round(n * scale))) if progress else None
    )
    at = {t: i for i, t in enumerate(unique)}
    out = np.empty((len(records), embedder.dim), dtype=np.float32)
    row = {}
    for k, r in enumerate(records):
        if not r.derived_from:
            out[k] = encoded[at[r.text]]
            row[r.id] = k
    for r in to_encode:
        extra[r.id] = encoded[at[r.text]]
    for k, r in enumerate(records):
        if r.derived_from:
            v = np.mean([out[row[p]] if p in row else extra[p] for p in r.derived_from], axis=0)
            out[k] = v / max(float(np.linalg.norm(v)), 1e-12)
    return out, len(unique)


def chunks_of(doc: Document, config: ChunkingConfig) -> list[Chunk]:
    return chunk_document(
        doc.id,
        doc.text,
        doc.sha256,
        title=doc.meta.get("title"),
        max_sentences=config.chunk_max_sentences,
        max_chars=config.chunk_max_chars,
        heading_max_words=config.heading_max_words,
    )


class Indexer:
    """Brings the index in line with the corpus folder, as a new generation."""

    def __init__(self, index: IndexConfig, chunking: ChunkingConfig, embedder: Embedder, model: str) -> None:
        self.config = index
        self.chunking = chunking
        self.model = model  # manifest.model_key(...) of the embedder: a change re-embeds everything
        self.embedder = embedder

    @classmethod
    def from_config(cls, config: "Config", embedder: Embedder) -> "Indexer":
        """An indexer with the parts of ``config`` it uses."""
        return cls(config.index, config.chunking, embedder, model_key(config.embedding.embed_model))

    def run(
        self,
        *,
        rebuild: bool = False,
        progress: Callable[[int, int], None] | None = None,
        on_committed: Callable[[], None] | None = None,
    ) -> IndexReport:
        """Index the corpus; ``progress(done, total)`` is called while embedding.

        Readers keep the published generation throughout; the new one is published at
        the end with one rename, then ``on_committed()`` runs (the pipeline switches
        to it there) and old generations no reader holds are removed.
        Raises :class:`ReadOnlyIndex` if ``home`` cannot be written.
        """
        from filelock import FileLock

        if not writable(self.config):
            raise ReadOnlyIndex(
                f"the index folder {self.config.home} is read-only: it answers questions but cannot be re-indexed"
            )
        Path(self.config.home).mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.config.lock_path)):
            return self._run(rebuild=rebuild, progress=progress, on_committed=on_committed)

    def _drop(self, gen: Generation) -> None:
        SentenceStore(self.config, gen).drop()

    def _base(self, rebuild: bool, report: IndexReport) -> tuple[Generation | None, dict[str, Any] | None]:
        """The published generation to start from, with its manifest; None to start empty."""
        base = None if rebuild else current(self.config)
        if base is None:
            return None, None
        manifest, problem = check_manifest(base.manifest_path)
        if manifest is None:
            report.repaired.append(f"{problem or 'the manifest of generation ' + base.name + ' is missing'}: rebuilt")
            return None, None
        if manifest.get("model") != self.model:
            report.repaired.append("embedding model or chunker changed: rebuilt")
            return None, None
        store = SentenceStore(self.config, base)
        try:
            damaged = store.check()
        finally:
            store.close()
        if damaged:
            report.repaired.append(f"{damaged}; rebuilt")
            return None, None
        return base, manifest

    def _resumable(self, base: Generation | None, report: IndexReport) -> tuple[Generation, dict[str, Any]] | None:
        """An unpublished generation a killed run left, built on ``base``: resumed, not redone."""
        newest = base.number if base else -1
        for gen in reversed(all_generations(self.config)):
            if gen.number <= newest or not gen.building:
                continue
            manifest, _ = check_manifest(gen.manifest_path)
            if manifest is None or manifest.get("model") != self.model:
                continue
            if manifest.get("base") != (base.name if base else None):
                continue
            store = SentenceStore(self.config, gen, writable=True)
            try:
                if store.check():
                    continue
            finally:
                store.close()
            report.repaired.append(f"resumed the index run that stopped while writing generation {gen.name}")
            return gen, manifest
        return None

    def _adopt_legacy(self, report: IndexReport) -> None:
        """An index written before generations (``chroma/`` and ``manifest.json`` in
        ``home``) becomes an unpublished generation this run resumes: not re-embedded."""
        home = Path(self.config.home)
        legacy_manifest = home / "manifest.json"
        if current(self.config) is not None or not legacy_manifest.exists():
            return
        manifest, _ = check_manifest(legacy_manifest)
        if manifest is not None and manifest.get("model") == self.model and (home / "chroma").is_dir():
            gen = new_generation(self.config)
            os.replace(home / "chroma", gen.chroma_path)
            manifest["base"] = None
            write_json_atomic(gen.manifest_path, manifest)
            report.repaired.append(f"moved the index of an earlier version into generation {gen.name}")
        import shutil

        for name in ("chroma", "bm25", "bm25.old", "bm25.tmp"):
            shutil.rmtree(home / name, ignore_errors=True)
        legacy_manifest.unlink(missing_ok=True)

    def _unchanged(self, base: Generation, manifest: dict[str, Any], found: list[Document]) -> bool:
        """Nothing to do: the published generation matches the corpus and is whole."""
        docs = manifest["docs"]
        if {d.id: d.sha256 for d in found} != {k: e["sha256"] for k, e in docs.items()}:
            return False
        if any(not (base.texts_path / f"{e['sha256']}.txt").exists() for e in docs.values()):
            return False
        if bm25_problem(base.bm25_path, docs):
            return False
        store = SentenceStore(self.config, base)
        try:
            return store.count() == recorded_vectors(docs)
        finally:
            store.close()

    def _run(
        self,
        *,
        rebuild: bool,
        progress: Callable[[int, int], None] | None,
        on_committed: Callable[[], None] | None = None,
    ) -> IndexReport:
        t0 = time.perf_counter()
        report = IndexReport()
        found = scan(self.config.corpus_dir, self.config.max_file_bytes)
        report.warnings.extend(found.warnings)
        if not rebuild:
            self._adopt_legacy(report)
        base, base_manifest = self._base(rebuild, report)
        if base is not None and base_manifest is not None and not report.repaired:
            problem = bm25_problem(base.bm25_path, base_manifest["docs"])
            if problem:
                report.repaired.append(f"{problem}: rebuilt from the manifest")
            elif self._unchanged(base, base_manifest, found.documents):
                # Leftovers of a killed run (nothing to resume: the corpus is indexed) and
                # old generations no reader holds.
                collect(self.config, include_building=True, drop=self._drop)
                self._fill(report, base_manifest["docs"], base.name)
                report.skipped = len(found.documents)
                report.seconds = time.perf_counter() - t0
                return report
        resumed = None if rebuild else self._resumable(base, report)
        # What a killed run left and will not be resumed, and old generations no reader holds.
        collect(self.config, keep=(resumed[0].name,) if resumed else (), include_building=True, drop=self._drop)
        if resumed:
            gen, manifest = resumed
            store = SentenceStore(self.config, gen, writable=True)
        else:
            gen = new_generation(self.config)
            store = SentenceStore(self.config, gen, writable=True)
            manifest = {"version": MANIFEST_VERSION, "model": self.model, "docs": {}, "base": base.name if base else None}
            if base is not None and base_manifest is not None:
                source = SentenceStore(self.config, base)
                try:
                    store.copy_from(source)
                finally:
                    source.close()
                manifest["docs"] = base_manifest["docs"]
                _link_texts(base, gen, manifest["docs"])
            write_json_atomic(gen.manifest_path, manifest)
        report.generation = gen.name
        try:
            self._update(gen, store, manifest, found.documents, report, progress)
        finally:
            store.close()
        publish(self.config, gen)
        if on_committed:
            on_committed()
        collect(self.config, drop=self._drop)
        report.seconds = time.perf_counter() - t0
        return report

    def _update(
        self,
        gen: Generation,
        store: SentenceStore,
        manifest: dict[str, Any],
        found: list[Document],
        report: IndexReport,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """Bring the (unpublished) generation ``gen`` in line with the corpus."""
        docs: dict[str, Any] = manifest["docs"]
        self._reconcile(store, docs, report)

        current_docs = {d.id: d for d in found}
        removed = [d for d in docs if d not in current_docs]
        changed = [d for d in found if docs.get(d.id, {}).get("sha256") != d.sha256]
        report.skipped = len(found) - len(changed)
        for doc_id in removed:  # nobody reads this generation yet: delete at once
            store.delete_ids(store.ids_of(doc_id))
            del docs[doc_id]
            report.removed += 1

        # Chunk all changed documents first so the progress bar knows the total.
        chunked = [(d, chunks_of(d, self.chunking)) for d in changed]
        changed_ids = {d.id for d in changed}
        total_sentences = sum(len(e["sentences"]) for k, e in docs.items() if k not in changed_ids)
        total_sentences += sum(len(c.sentences) for _, chunks in chunked for c in chunks)
        # Past this size, clause vectors would more than double the embedding work and the
        # store for a small gain in precision (see Config); documents indexed while the
        # corpus is that large get sentence + window vectors only.
        clauses = total_sentences <= self.chunking.clause_views_max_sentences
        derive = total_sentences > self.chunking.encoded_windows_max_sentences

        # Per document: what to embed. Vectors already in this generation with the
        # same id are the same text (ids carry the content hash): a resumed run keeps them.
        todo: list[tuple[Document, list[Chunk], list[VectorRecord], int]] = []
        for doc, chunks in chunked:
            records = vector_records(doc, [s for c in chunks for s in c.sentences], clauses=clauses,
                                     derive_windows=derive)
            new_ids = {r.id for r in records}
            have = set(store.ids_of(doc.id))
            stale = sorted(have - new_ids)
            if stale:
                store.delete_ids(stale)
            kept = len(have & new_ids)
            entry = doc_entry(doc, chunks)
            entry["sha256"], entry["vectors"] = None, kept  # complete only when every vector is in
            docs[doc.id] = entry
            _write_text(gen, doc)
            todo.append((doc, chunks, [r for r in records if r.id not in have], len(records)))
        write_json_atomic(gen.manifest_path, manifest)

        total = sum(len(recs) for _, _, recs, _ in todo)
        done = 0
        if progress:
            progress(0, total)
        # Embed in groups of a few thousand vectors: one encode call sorts the whole group
        # by length, which pads far less than a call per document (measured 0.28x of raw
        # encode throughput per document, see benchmarks/RESULTS.md), across documents; a
        # large document is cut into several groups. The manifest is saved after every
        # group: a kill loses at most one group's work.
        stream = [(doc, r) for doc, _, records, _ in todo for r in records]
        context = {r.id: r for _, r in stream}
        needed = {doc.id: n for doc, _, _, n in todo}
        for doc, _, records, _ in todo:
            if not records:  # every vector already in this generation (a resumed run)
                docs[doc.id]["sha256"] = doc.sha256
        for at in range(0, len(stream), EMBED_GROUP):
            part = stream[at : at + EMBED_GROUP]
            base = done
            vectors, encoded = embed_records(
                self.embedder,
                [r for _, r in part],
                progress=(lambda n: progress(base + n, total)) if progress else None,
                context=context,
                known=store.vectors,
            )
            report.encoded += encoded
            store.add([r for _, r in part], vectors)
            for doc, _ in part:
                docs[doc.id]["vectors"] += 1
            for doc in {d.id: d for d, _ in part}.values():
                if docs[doc.id]["vectors"] == needed[doc.id]:
                    docs[doc.id]["sha256"] = doc.sha256  # complete: no longer re-embedded
            done += len(part)
            report.embedded += len(part)
            write_json_atomic(gen.manifest_path, manifest)
            if progress:
                progress(done, total)

        for doc_id, e in docs.items():  # texts copied from an index written before generations
            if not (gen.texts_path / f"{e['sha256']}.txt").exists() and doc_id in current_docs:
                _write_text(gen, current_docs[doc_id])
        referenced = {f"{e['sha256']}.txt" for e in docs.values()}
        for path in gen.texts_path.glob("*.txt"):  # texts of removed or edited documents
            if path.name not in referenced:
                path.unlink(missing_ok=True)
        write_json_atomic(gen.manifest_path, manifest)
        self._build_bm25(gen, docs)
        self._fill(report, docs, gen.name)
        stored = store.count()
        if stored != report.vectors:  # pragma: no cover - would be a bug in this module
            raise RuntimeError(f"index inconsistent after indexing: Chroma has {stored}, manifest {report.vectors}")
        problem = bm25_problem(gen.bm25_path, docs)
        if problem:  # pragma: no cover - would be a bug in this module
            raise RuntimeError(f"index inconsistent after indexing: {problem}")

    @staticmethod
    def _fill(report: IndexReport, docs: dict[str, Any], generation: str) -> None:
        report.generation = generation
        report.documents = len(docs)
        report.sentences = sum(len(e["sentences"]) for e in docs.values())
        report.chunks = sum(len({r[5] for r in e["sentences"]}) for e in docs.values())
        report.vectors = recorded_vectors(docs)

    def _reconcile(self, store: SentenceStore, docs: dict[str, Any], report: IndexReport) -> None:
        """Make the manifest and Chroma agree (after a crash or a hand edit)."""
        stored, recorded = store.count(), recorded_vectors(docs)
        if stored == recorded:
            # Counts agree: the cheap check; ids are compared only when they do not.
            return
        report.repaired.append(f"Chroma holds {stored} vectors where the manifest records {recorded}")
        stored_by_sentence: dict[str, list[str]] = {}
        for vid in store.ids():
            stored_by_sentence.setdefault(vid.split(":", 1)[0], []).append(vid)
        expected = {row[0]: doc for doc, e in docs.items() for row in e["sentences"]}
        orphans = [v for sid, vids in stored_by_sentence.items() if sid not in expected for v in vids]
        if orphans:
            store.delete_ids(sorted(orphans))
            report.repaired.append(f"deleted {len(orphans)} vectors the manifest did not know")
        counts = {doc: 0 for doc in docs}
        for sid, vids in stored_by_sentence.items():
            if sid in expected:
                counts[expected[sid]] += len(vids)
        missing_docs = sorted(doc for doc, e in docs.items() if counts[doc] != e.get("vectors", 0))
        for doc in missing_docs:
            docs[doc]["sha256"] = None  # forces a re-embed below
        if missing_docs:
            report.repaired.append(f"re-embedding {_count(len(missing_docs), 'document')} with missing vectors")
        for msg in report.repaired:
            log.warning("index repair: %s", msg)

    def _build_bm25(self, gen: Generation, entries: dict[str, Any]) -> None:
        """Build the BM25 index of every sentence of ``gen`` and persist it there."""
        import shutil

        from llama_index.core.schema import TextNode
        from llama_index.retrievers.bm25 import BM25Retriever

        # bm25s sets its own logger to DEBUG when imported; quiet it afterwards.
        logging.getLogger("bm25s").setLevel(logging.WARNING)

        nodes = []
        for doc_id in sorted(entries):
            text = (gen.texts_path / f"{entries[doc_id]['sha256']}.txt").read_text(encoding="utf-8")
            rows = entries[doc_id]["sentences"]
            sentences = [Sentence(r[0], doc_id, r[1], r[2], text[r[1] : r[2]], "", r[4], i) for i, r in enumerate(rows)]
            # The sentence in its window (chunking.windows): BM25's length normalisation
            # otherwise favours any short sentence that repeats one query word
            # (measured: +1 answer right on the article questions of evals/dev.jsonl).
            sections, title = entries[doc_id].get("sections", []), entries[doc_id].get("title")
            for row, (window, _) in zip(rows, windows(text, sentences)):
                # "check-out" is also found as "checkout" (BM25 splits it at the hyphen),
                # "09:30" as "9:30" (nlp.search_forms; the query gets the same words)
                solid = " ".join(nlp.search_forms(window))
                # Under its section's heading: "what should I pack" finds the items
                # under "What to pack", which never say "pack". (Not under the
                # document's title, which every sentence of it would share.)
                head = sections[row[3]] if row[3] < len(sections) and sections[row[3]] != title else ""
                nodes.append(TextNode(id_=row[0], text="\n".join(t for t in (window, solid, head) if t)))
        path = gen.bm25_path
        shutil.rmtree(path, ignore_errors=True)
        if not nodes:
            return
        import Stemmer

        retriever = BM25Retriever.from_defaults(
            nodes=nodes, stemmer=Stemmer.Stemmer("english"), language="en", similarity_top_k=1
        )
        path.mkdir(parents=True)
        retriever.persist(str(path), show_progress=False)
        # Row i of the BM25 matrix is sentence ids[i]: what the query side needs to
        # skip BM25Retriever's per-hit node JSON (see retrieval.SparseIndex).
        write_json_atomic(path / BM25_IDS, [n.node_id for n in nodes])


def _text_file(gen: Generation, sha256: str) -> Path:
    return gen.texts_path / f"{sha256}.txt"


def _write_text(gen: Generation, doc: Document) -> None:
    """Keep the decoded text the generation's offsets point into."""
    path = _text_file(gen, doc.sha256)
    if not path.exists():
        write_text_atomic(path, doc.text)


def write_text_atomic(path: Path, text: str) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _link_texts(base: Generation, gen: Generation, docs: dict[str, Any]) -> None:
    """Share unchanged texts with the base generation (hard links: no copy, no extra disk)."""
    gen.texts_path.mkdir(parents=True, exist_ok=True)
    for e in docs.values():
        src, dest = _text_file(base, e["sha256"]), _text_file(gen, e["sha256"])
        if dest.exists() or not src.exists():
            continue
        try:
            os.link(src, dest)
        except OSError:
            import shutil

            shutil.copyfile(src, dest)


def bm25_problem(path: Path, docs: dict[str, Any]) -> str | None:
    """What is wrong with the BM25 index at ``path`` for the manifest's ``docs``, or None.

    Checked, as a reader would load it: the ids file is a list of text, one per
    sentence of the manifest (the same sentences), and bm25s can load the matrix with
    one row per id.
    """
    import json

    expected = [row[0] for doc_id in sorted(docs) for row in docs[doc_id]["sentences"]]
    ids_path = Path(path) / BM25_IDS
    if not expected:
        return None
    if not ids_path.exists():
        return f"the BM25 index in {path} is missing"
    try:
        ids = json.loads(ids_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"the BM25 index in {path} is unreadable ({exc})"
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return f"the BM25 index in {path} has a malformed id list"
    if ids != expected:
        return f"the BM25 index in {path} does not match the manifest ({len(ids)} rows for {len(expected)} sentences)"
    try:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        bm25 = bm25s.BM25.load(str(path), load_corpus=False, mmap=True)
        rows = int(bm25.scores["num_docs"])
    except Exception as exc:  # noqa: BLE001 - numpy/json/bm25s raise many kinds for damaged files
        return f"the BM25 index in {path} cannot be loaded ({type(exc).__name__}: {exc})"
    if rows != len(ids):
        return f"the BM25 index in {path} has {rows} rows for {len(ids)} ids"
    return None


def store_matches_manifest(config: IndexConfig) -> bool:
    """True if the published generation's store can be read and holds as many vectors
    as its manifest records."""
    gen = current(config)
    manifest = load_manifest(gen.manifest_path) if gen else None
    if gen is None or manifest is None:
        return False
    store = SentenceStore(config, gen)
    try:
        if store.check() is not None:
            return False
        return store.count() == recorded_vectors(manifest["docs"])
    except Exception:  # noqa: BLE001 - unreadable is "does not match"; indexing says why
        return False
    finally:
        store.close()


def is_fresh(config: IndexConfig, model: str) -> bool:
    """True if the published generation matches the corpus on disk and its BM25 index
    is sound (hashes and file checks; no model load)."""
    gen = current(config)
    manifest = load_manifest(gen.manifest_path) if gen else None
    if gen is None or manifest is None or manifest.get("model") != model:
        return False
    if bm25_problem(gen.bm25_path, manifest["docs"]):
        return False
    try:
        found = scan(config.corpus_dir, config.max_file_bytes, quiet=True)
    except Exception:
        return False
    current_docs = {d.id: d.sha256 for d in found.documents}
    return current_docs == {k: v["sha256"] for k, v in manifest["docs"].items()}
