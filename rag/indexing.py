"""Incremental, idempotent indexing of a corpus folder into Chroma + BM25.

The manifest (``<home>/manifest.json``) records, per document, the content hash and
the sentence table (ids, offsets, sections, chunks). A run compares the corpus with
it: unchanged documents embed nothing, an edited document has exactly its vectors
replaced, a removed document has its vectors deleted. A run also reconciles the
manifest with what Chroma really holds, so an interrupted run is repaired by the next.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .chunking import Chunk, Sentence, chunk_document, split_clauses
from .config import ChunkingConfig, Config, IndexConfig
from .corpus import Document, scan
from .manifest import BM25_IDS, MANIFEST_VERSION, load_manifest, model_key, recorded_vectors, write_json_atomic
from .store import SentenceStore, VectorRecord
from .types import Embedder

log = logging.getLogger(__name__)

EMBED_GROUP = 4096  # texts per encode call while indexing


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
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{self.documents} documents, {self.chunks} chunks, {self.sentences} sentences; "
            f"embedded {self.embedded}, skipped {self.skipped} unchanged, removed {self.removed} "
            f"in {self.seconds:.2f}s"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        "title": doc.meta.get("title") or (chunks[0].section if chunks else doc.id),
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
    for i, s in enumerate(sentences):
        out.append(VectorRecord(s.id + ":s", s.id, "s", doc.id, s.text))
        spans = split_clauses(text, s.start, s.end) if clauses else []
        views = [text[a:b] for a, b in spans]
        views += [text[spans[j][0] : spans[j + 1][1]] for j in range(len(spans) - 1)]
        for j, v in enumerate(views):
            out.append(VectorRecord(f"{s.id}:c{j}", s.id, "c", doc.id, v))
        lo = sentences[i - 1] if i and sentences[i - 1].paragraph == s.paragraph else s
        hi = sentences[i + 1] if i + 1 < len(sentences) and sentences[i + 1].paragraph == s.paragraph else s
        parts = tuple(dict.fromkeys(x.id + ":s" for x in (lo, s, hi))) if derive_windows else ()
        out.append(VectorRecord(s.id + ":w", s.id, "w", doc.id, text[lo.start : hi.end], parts))
    return out


def embed_records(
    embedder: Embedder, records: list[VectorRecord], progress: Callable[[int], None] | None = None
) -> tuple[np.ndarray, int]:
    """Vectors for ``records`` and how many texts were actually encoded.

    Each distinct text is encoded once (a clause equal to its sentence, a window of a
    one-sentence paragraph, a boilerplate line repeated across documents) and its
    vector reused: identical text, identical vector. Derived records (see
    :func:`vector_records`) are the normalised mean of their parts' vectors.
    """
    own = [r for r in records if not r.derived_from]
    unique = list(dict.fromkeys(r.text for r in own))
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
    for k, r in enumerate(records):
        if r.derived_from:
            v = out[[row[p] for p in r.derived_from]].mean(axis=0)
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
    """Brings the index in line with the corpus folder."""

    def __init__(
        self, index: IndexConfig, chunking: ChunkingConfig, embedder: Embedder, store: SentenceStore, model: str
    ) -> None:
        self.config = index
        self.chunking = chunking
        self.model = model  # manifest.model_key(...) of the embedder: a change re-embeds everything
        self.embedder = embedder
        self.store = store

    @classmethod
    def from_config(cls, config: "Config", embedder: Embedder, store: SentenceStore) -> "Indexer":
        """An indexer with the parts of ``config`` it uses."""
        return cls(config.index, config.chunking, embedder, store, model_key(config.embedding.embed_model))

    def run(
        self,
        *,
        rebuild: bool = False,
        progress: Callable[[int, int], None] | None = None,
        on_committed: Callable[[], None] | None = None,
    ) -> IndexReport:
        """Index the corpus; ``progress(done, total)`` is called while embedding.

        Readers keep a consistent index throughout: new vectors are added beside the
        old ones, and the old ones (of edited and removed documents) are deleted only
        after the manifest and BM25 describe the new state and ``on_committed()`` has
        run (the pipeline swaps its in-memory tables there).
        """
        from filelock import FileLock

        Path(self.config.home).mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.config.lock_path)):
            return self._run(rebuild=rebuild, progress=progress, on_committed=on_committed)

    def _run(
        self,
        *,
        rebuild: bool,
        progress: Callable[[int, int], None] | None,
        on_committed: Callable[[], None] | None = None,
    ) -> IndexReport:
        t0 = time.perf_counter()
        report = IndexReport()
        found = scan(self.config.corpus_dir)
        report.warnings.extend(found.warnings)
        if not rebuild:  # a rebuild wipes the store anyway, readable or not
            damaged = self.store.check()
            if damaged:
                report.repaired.append(damaged)
        manifest = None if rebuild else load_manifest(self.config.manifest_path)
        if manifest is not None and manifest.get("model") != self.model:
            report.repaired.append("embedding model or chunker changed: rebuilt")
            manifest = None
        if manifest is None:
            self.store.reset()
            manifest = {"version": MANIFEST_VERSION, "model": self.model, "docs": {}}
        old_docs: dict[str, Any] = manifest["docs"]

        self._reconcile(old_docs, report)

        current = {d.id: d for d in found.documents}
        removed = [d for d in old_docs if d not in current]
        changed = [d for d in found.documents if old_docs.get(d.id, {}).get("sha256") != d.sha256]
        report.skipped = len(found.documents) - len(changed)

        superseded: list[str] = []  # vector ids readers may still use; deleted at the end
        for doc_id in removed:
            superseded.extend(self.store.ids_of(doc_id))
            del old_docs[doc_id]
            report.removed += 1

        # Chunk all changed documents first so the progress bar knows the total.
        chunked = [(d, chunks_of(d, self.chunking)) for d in changed]
        changed_ids = {d.id for d in changed}
        total_sentences = sum(len(e["sentences"]) for k, e in old_docs.items() if k not in changed_ids)
        total_sentences += sum(len(c.sentences) for _, chunks in chunked for c in chunks)
        # Past this size, clause vectors would more than double the embedding work and the
        # store for a small gain in precision (see Config); documents indexed while the
        # corpus is that large get sentence + window vectors only.
        clauses = total_sentences <= self.chunking.clause_views_max_sentences
        derive = total_sentences > self.chunking.encoded_windows_max_sentences
        pending = [
            (d, chunks, vector_records(d, [s for c in chunks for s in c.sentences], clauses=clauses,
                                       derive_windows=derive))
            for d, chunks in chunked
        ]
        total = sum(len(recs) for _, _, recs in pending)
        done = 0
        if progress:
            progress(0, total)
        # Embed documents in groups of a few thousand texts: one encode call sorts the
        # whole group by length, which pads far less than a call per document (measured
        # 0.28x of raw encode throughput per document, see benchmarks/RESULTS.md).
        group: list[tuple[Document, list[Chunk], list[VectorRecord]]] = []
        for i, item in enumerate(pending):
            group.append(item)
            if sum(len(r) for _, _, r in group) < EMBED_GROUP and i + 1 < len(pending):
                continue
            base = done
            vectors, encoded = embed_records(
                self.embedder,
                [r for _, _, recs in group for r in recs],
                progress=(lambda n: progress(base + n, total)) if progress else None,
            )
            report.encoded += encoded
            at = 0
            for doc, chunks, records in group:
                doc_vectors = vectors[at : at + len(records)]
                at += len(records)
                # Add before deleting, so readers never find the document missing. A
                # crash in between leaves vectors the manifest does not know, which
                # the next run's reconcile deletes: a retried run never duplicates.
                new_ids = {r.id for r in records}
                superseded.extend(i for i in self.store.ids_of(doc.id) if i not in new_ids)
                self.store.add(records, doc_vectors)
                entry = doc_entry(doc, chunks)
                entry["vectors"] = len(records)
                old_docs[doc.id] = entry
                done += len(records)
                report.embedded += len(records)
            # Save after every group: a kill mid-run loses at most one group's work.
            write_json_atomic(Path(self.config.manifest_path), manifest)
            group = []
            if progress:
                progress(done, total)

        if changed or removed or report.repaired or not (Path(self.config.bm25_path) / BM25_IDS).exists():
            write_json_atomic(Path(self.config.manifest_path), manifest)
            self._build_bm25(found.documents, old_docs)
        if on_committed:
            on_committed()
        self.store.delete_ids(superseded)

        report.documents = len(old_docs)
        report.sentences = sum(len(e["sentences"]) for e in old_docs.values())
        report.chunks = sum(len({r[5] for r in e["sentences"]}) for e in old_docs.values())
        report.vectors = recorded_vectors(old_docs)
        stored = self.store.count()
        if stored != report.vectors:  # pragma: no cover - would be a bug in this module
            raise RuntimeError(f"index inconsistent after indexing: Chroma has {stored}, manifest {report.vectors}")
        report.seconds = time.perf_counter() - t0
        return report

    def _reconcile(self, docs: dict[str, Any], report: IndexReport) -> None:
        """Make the manifest and Chroma agree (after a crash or a hand edit)."""
        stored, recorded = self.store.count(), recorded_vectors(docs)
        if stored == recorded:
            # Counts agree: the cheap check; ids are compared only when they do not.
            return
        report.repaired.append(f"Chroma holds {stored} vectors where the manifest records {recorded}")
        stored_by_sentence: dict[str, list[str]] = {}
        for vid in self.store.ids():
            stored_by_sentence.setdefault(vid.split(":", 1)[0], []).append(vid)
        expected = {row[0]: doc for doc, e in docs.items() for row in e["sentences"]}
        orphans = [v for sid, vids in stored_by_sentence.items() if sid not in expected for v in vids]
        if orphans:
            self.store.delete_ids(sorted(orphans))
            report.repaired.append(f"deleted {len(orphans)} vectors the manifest did not know")
        counts = {doc: 0 for doc in docs}
        for sid, vids in stored_by_sentence.items():
            if sid in expected:
                counts[expected[sid]] += len(vids)
        missing_docs = sorted(doc for doc, e in docs.items() if counts[doc] != e.get("vectors", 0))
        for doc in missing_docs:
            docs[doc]["sha256"] = None  # forces a re-embed below
        if missing_docs:
            report.repaired.append(f"re-embedding {len(missing_docs)} documents with missing vectors")
        for msg in report.repaired:
            log.warning("index repair: %s", msg)

    def _build_bm25(self, documents: list[Document], entries: dict[str, Any]) -> None:
        """(Re)build the BM25 index over every sentence and persist it."""
        import shutil

        from llama_index.core.schema import TextNode
        from llama_index.retrievers.bm25 import BM25Retriever

        # bm25s sets its own logger to DEBUG when imported; quiet it afterwards.
        logging.getLogger("bm25s").setLevel(logging.WARNING)

        texts = {d.id: d.text for d in documents}
        nodes = []
        for doc_id in sorted(entries):
            text = texts[doc_id]
            rows = entries[doc_id]["sentences"]
            for i, row in enumerate(rows):
                # The sentence with its paragraph neighbours: BM25's length
                # normalisation otherwise favours any short sentence that repeats
                # one query word (measured: +1 answer right on the article questions of evals/dev.jsonl).
                lo = rows[i - 1] if i and rows[i - 1][4] == row[4] else row
                hi = rows[i + 1] if i + 1 < len(rows) and rows[i + 1][4] == row[4] else row
                nodes.append(TextNode(id_=row[0], text=text[lo[1] : hi[2]]))
        path = Path(self.config.bm25_path)
        old = path.with_name(path.name + ".old")
        if not nodes:
            if path.exists():
                shutil.rmtree(path)
            return
        import Stemmer

        retriever = BM25Retriever.from_defaults(
            nodes=nodes, stemmer=Stemmer.Stemmer("english"), language="en", similarity_top_k=1
        )
        tmp = path.with_name(path.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        retriever.persist(str(tmp), show_progress=False)
        # Row i of the BM25 matrix is sentence ids[i]: what the query side needs to
        # skip BM25Retriever's per-hit node JSON (see retrieval.SparseIndex).
        write_json_atomic(tmp / BM25_IDS, [n.node_id for n in nodes])
        # Swap folders by renames, so a reader finds the old index or the new one;
        # never a half-deleted one (at worst, for an instant, none).
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)


def store_matches_manifest(config: IndexConfig, store: SentenceStore) -> bool:
    """True if the store can be read and holds as many vectors as the manifest records."""
    manifest = load_manifest(config.manifest_path)
    if manifest is None:
        return False
    try:
        if store.check() is not None:
            return False
        return store.count() == recorded_vectors(manifest["docs"])
    except Exception:  # noqa: BLE001 - unreadable is "does not match"; indexing says why
        return False


def is_fresh(config: IndexConfig, model: str) -> bool:
    """True if the manifest matches the corpus on disk (hashes only; no model load)."""
    manifest = load_manifest(config.manifest_path)
    if manifest is None or manifest.get("model") != model:
        return False
    if not (Path(config.bm25_path) / BM25_IDS).exists() and manifest["docs"]:
        return False
    try:
        found = scan(config.corpus_dir)
    except Exception:
        return False
    current = {d.id: d.sha256 for d in found.documents}
    return current == {k: v["sha256"] for k, v in manifest["docs"].items()}
