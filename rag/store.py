"""The vector store: Chroma, behind LlamaIndex's ``ChromaVectorStore`` for deletes;
adds and searches go to the collection directly (see :meth:`SentenceStore.add` and
:meth:`SentenceStore.search` for why).

Each index generation (see :mod:`rag.generations`) has its own vectors: an embedded
``chromadb.PersistentClient`` in the generation's folder by default; with
``Config.chroma_url`` set, the generation's collection on a ``chroma run`` server
through ``chromadb.HttpClient``. The store holds a few vectors per sentence (the sentence,
its clauses, and the sentence within its neighbours); each node's
``ref_doc_id`` is its document id so a document's vectors can be dropped at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import urlparse

import numpy as np

from .config import IndexConfig
from .generations import Generation, current

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.vector_stores.chroma import ChromaVectorStore

log = logging.getLogger(__name__)



SQLITE_FILE = "chroma.sqlite3"  # what an embedded Chroma keeps in its folder


class StoreError(Exception):
    """The vector store could not be reached or opened."""


class ReadOnlyIndex(StoreError):
    """The index folder cannot be written: it answers questions but cannot be re-indexed."""


def _can_write(path: Path) -> bool:
    """``access()`` says yes to root on a read-only mount: try creating a file."""
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=path, prefix=".probe")
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


@dataclass(frozen=True)
class VectorRecord:
    """One stored vector: a view (the sentence, a clause of it, or its window) of a sentence."""

    id: str
    sentence_id: str
    kind: str  # "s" sentence, "c" clause, "w" sentence with its neighbours
    doc: str
    text: str
    # Ids of records (the sentence and its neighbours) whose vectors are averaged into
    # this one instead of encoding ``text``: the large-corpus window (see Config).
    derived_from: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hit:
    """One dense search result."""

    id: str
    sentence_id: str
    kind: str
    cosine: float


def _hit(vector_id: str, cosine: float) -> Hit:
    """A search result from a vector id (``<sentence id>:<kind>...``, see indexing.vector_records)."""
    sid, _, view = vector_id.partition(":")
    return Hit(id=vector_id, sentence_id=sid, kind=view[:1] or "s", cosine=cosine)


def make_client(config: IndexConfig, path: Path | None = None) -> Any:
    """A Chroma client: HTTP if ``chroma_url`` is set, else embedded and persistent at ``path``."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if config.chroma_url:
        url = urlparse(config.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise StoreError(f"RAG_CHROMA_URL must look like http://host:port, got {config.chroma_url!r}")
        try:
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=settings,
            )
        except Exception as exc:
            raise StoreError(f"cannot reach the Chroma server at {config.chroma_url}: {exc}") from exc
    if path is None:
        raise StoreError("an embedded Chroma store needs a folder")
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=settings)


# chromadb registers a path's shared system before it has started it: a thread opening
# the path meanwhile gets the half-started one ("'RustBindingsAPI' object has no
# attribute 'bindings'", seen when two readers opened at once). Opening and closing a
# client or a collection is serialised for the process; it happens once per generation,
# never per search. Each generation has its own folder, so a path is never replaced
# under an open client and chromadb's per-path cache needs no help.
_open_lock = threading.RLock()


def _check_sqlite(path: Path) -> None:
    """Raise if ``path`` is not a readable SQLite database, asked through a connection of
    our own: a client this process already holds may be reading cached pages of a file
    that was overwritten since."""
    import sqlite3

    if not path.exists():
        raise StoreError(f"{path} is missing")
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise ValueError("not an SQLite database")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    finally:
        conn.close()


def copy_chroma_folder(src: Path, dest: Path) -> None:
    """Copy an embedded Chroma folder that readers may have open.

    The SQLite database goes through SQLite's online backup (a consistent copy even
    if a reader's connection touches it meanwhile); the vector segment files, which
    only an indexer writes, are copied with ``cp --reflink=auto`` (copy-on-write
    clones where the filesystem has them, plain copies elsewhere).
    """
    import sqlite3
    import subprocess

    dest.mkdir(parents=True, exist_ok=True)
    for child in Path(src).iterdir():
        if child.name == SQLITE_FILE:
            continue
        if child.name.startswith(SQLITE_FILE):  # -wal/-shm/-journal: the backup covers them
            continue
        r = subprocess.run(["cp", "-r", "--reflink=auto", str(child), str(dest / child.name)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise StoreError(f"could not copy {child} ({r.stderr.strip()})")
    source = sqlite3.connect(f"file:{Path(src) / SQLITE_FILE}?mode=ro", uri=True)
    target = sqlite3.connect(str(dest / SQLITE_FILE))
    try:
        with target:
            source.backup(target)
    finally:
        source.close()
        target.close()


class SentenceStore:
    """The sentence vectors of one index generation: its Chroma folder (embedded) or
    its collection on a Chroma server.

    ``generation`` None means the published one, looked up on first use (what a
    script inspecting "the index" wants). Readers open an existing generation and
    never create one; the indexer opens its new generation with ``writable=True``.
    A generation on a read-only filesystem is searched from a private copy, since
    embedded Chroma cannot open a database it may not write.
    """

    def __init__(
        self, config: IndexConfig, generation: Generation | None = None, *, writable: bool = False
    ) -> None:
        self.config = config
        self._generation = generation
        self.writable = writable
        self._client: Any = None
        self._vs: ChromaVectorStore | None = None
        self._collection: Any = None
        self._scratch: Path | None = None  # private copy of a read-only generation

    @property
    def generation(self) -> Generation:
        if self._generation is None:
            gen = current(self.config)
            if gen is None:
                raise StoreError(f"{self.config.home} holds no published index yet; run `rag index`")
            self._generation = gen
        return self._generation

    @property
    def collection_name(self) -> str:
        """The Chroma collection: one per generation on a server; the base name in a
        generation's own folder."""
        return self.generation.collection(self.config.collection) if self.config.chroma_url else self.config.collection

    def _folder(self) -> Path:
        path = self.generation.chroma_path
        if not self.writable and not (path / SQLITE_FILE).exists():
            raise StoreError(f"the Chroma store of index generation {self.generation.name} is missing")
        if self.writable or os.access(path, os.W_OK) and _can_write(path):
            return path
        if self._scratch is None:
            import tempfile

            self._scratch = Path(tempfile.mkdtemp(prefix="rag-readonly-"))
            copy_chroma_folder(path, self._scratch / "chroma")
            log.info("generation %s is read-only; searching a copy in %s", self.generation.name, self._scratch)
        return self._scratch / "chroma"

    @property
    def client(self) -> Any:
        with _open_lock:
            if self._client is None:
                self._client = make_client(self.config, None if self.config.chroma_url else self._folder())
            return self._client

    @property
    def collection(self) -> Any:
        collection = self._collection
        if collection is not None:
            return collection
        with _open_lock:
            if self._collection is None:
                if self.writable:
                    self._collection = self.client.get_or_create_collection(
                        self.collection_name,
                        # Cosine space so that distance = 1 - cosine on our normalised vectors.
                        # A denser graph than Chroma's default (16 neighbours, ef 100): with
                        # one document of 3,000 near-identical log lines beside an article,
                        # the default graph returned none of the article's vectors for a
                        # question about it (recall@40 of the exact top 40: 0.05); 32/200
                        # returned them (1.0), for ~30 % more build time.
                        configuration={"hnsw": {"space": "cosine", "max_neighbors": self.config.hnsw_max_neighbors,
                                                "ef_construction": self.config.hnsw_ef_construction}},
                        embedding_function=None,  # we always pass vectors; never load Chroma's own model
                    )
                else:
                    try:
                        self._collection = self.client.get_collection(self.collection_name, embedding_function=None)
                    except Exception as exc:  # noqa: BLE001 - chromadb's NotFoundError and friends
                        raise StoreError(
                            f"the vectors of index generation {self.generation.name} cannot be opened ({exc})"
                        ) from exc
            return self._collection

    @property
    def vector_store(self) -> "ChromaVectorStore":
        """LlamaIndex's view of the collection: what deletes go through."""
        if self._vs is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._vs = ChromaVectorStore(chroma_collection=self.collection)
        return self._vs

    def count(self) -> int:
        return int(self.collection.count())

    def add(self, records: Sequence["VectorRecord"], vectors: np.ndarray) -> None:
        """Add one vector per record; metadata carries the sentence it stands for.

        Writes to the collection directly, not through ``ChromaVectorStore.add``: that
        builds a ``TextNode`` per vector and serialises it into a ``_node_content``
        JSON that nothing here reads back (search uses ids and distances only).
        Measured on the 3,975-vector benchmark corpus: 7.7 s through LlamaIndex vs
        4.2 s in Chroma's own add, i.e. ~45 % of the store time was node building
        (plus ~2.7 s importing llama_index.core in a fresh indexing process). The
        ``ref_doc_id``/``document_id`` keys LlamaIndex writes are kept, so its
        ``delete(ref_doc_id=...)`` (:meth:`delete_document`) still finds them.
        """
        vectors = np.asarray(vectors, dtype=np.float32)
        # Chroma refuses batches above its own limit (5,461 embedded): one large
        # document exceeds it.
        step = self._batch_size()
        for at in range(0, len(records), step):
            part = records[at : at + step]
            self.collection.add(
                ids=[r.id for r in part],
                embeddings=vectors[at : at + step],
                metadatas=[
                    {"sentence_id": r.sentence_id, "kind": r.kind, "doc": r.doc,
                     "document_id": r.doc, "ref_doc_id": r.doc, "doc_id": r.doc}
                    for r in part
                ],
                documents=[r.text for r in part],
            )

    def delete_document(self, doc: str) -> None:
        """Drop every vector of one document (LlamaIndex deletes by ``ref_doc_id``)."""
        self.vector_store.delete(ref_doc_id=doc)

    def delete_ids(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        step = self._batch_size()
        for at in range(0, len(ids), step):
            self.vector_store.delete_nodes(node_ids=ids[at : at + step])

    def _batch_size(self) -> int:
        return max(1, int(self.client.get_max_batch_size()))

    def ids_of(self, doc: str) -> list[str]:
        """Ids of every vector of one document."""
        return list(self.collection.get(where={"doc": doc}, include=[])["ids"])

    def ids(self) -> list[str]:
        return list(self.collection.get(include=[])["ids"])

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of ``ids`` (those that exist)."""
        out: dict[str, np.ndarray] = {}
        ids = list(ids)
        step = self._batch_size()
        for at in range(0, len(ids), step):
            got = self.collection.get(ids=ids[at : at + step], include=["embeddings"])
            out.update({i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])})
        return out

    def score_sentences(self, vector: np.ndarray, sentence_ids: Sequence[str]) -> list[Hit]:
        """Every stored view of ``sentence_ids`` with its exact cosine to ``vector``.

        :meth:`search` is approximate (HNSW): where one document repeats itself thousands
        of times (a log, a generated table), the graph can strand the other documents'
        vectors, and a sentence BM25 finds would otherwise get no dense score at all.
        """
        ids = list(dict.fromkeys(sentence_ids))
        if not ids:
            return []
        got = self.collection.get(where={"sentence_id": {"$in": ids}}, include=["embeddings"])
        if not len(got["ids"]):
            return []
        cos = np.asarray(got["embeddings"], dtype=np.float32) @ np.asarray(vector, dtype=np.float32)
        return [_hit(vid, float(c)) for vid, c in zip(got["ids"], cos)]

    def copy_from(self, other: "SentenceStore") -> None:
        """Fill this (new, empty) generation with every vector of ``other``: a folder
        copy when embedded (see :func:`copy_chroma_folder`), a collection-to-collection
        copy in pages on a server. Nothing is re-embedded."""
        if not self.config.chroma_url:
            self.close()
            shutil.rmtree(self.generation.chroma_path, ignore_errors=True)
            copy_chroma_folder(other.generation.chroma_path, self.generation.chroma_path)
            return
        step = min(self._batch_size(), 2000)
        offset = 0
        while True:
            got = other.collection.get(include=["embeddings", "metadatas", "documents"], limit=step, offset=offset)
            if not got["ids"]:
                break
            self.collection.add(ids=got["ids"], embeddings=np.asarray(got["embeddings"], dtype=np.float32),
                                metadatas=got["metadatas"], documents=got["documents"])
            offset += len(got["ids"])

    def drop(self) -> None:
        """Delete this generation's vectors: its server collection (a folder goes with
        the generation's)."""
        self.close()
        if self.config.chroma_url:
            try:
                make_client(self.config).delete_collection(self.collection_name)
            except Exception:  # noqa: BLE001 - absent already is the goal
                pass

    def close(self) -> None:
        """Release the Chroma client (``client.close()``) and any private copy."""
        with _open_lock:
            client, self._client = self._client, None
            self._vs = None
            self._collection = None
            if client is not None and hasattr(client, "close"):
                try:
                    client.close()
                except Exception as exc:  # noqa: BLE001 - closing must not fail a caller
                    log.debug("closing a Chroma client: %s", exc)
            if self._scratch is not None:
                shutil.rmtree(self._scratch, ignore_errors=True)
                self._scratch = None

    def check(self) -> str | None:
        """None if the vectors can be read, else what is wrong (for the user).

        A server that fails raises StoreError: nothing here can repair a server.
        """
        try:
            if not self.config.chroma_url:
                _check_sqlite(self.generation.chroma_path / SQLITE_FILE)
            self.count()
            self.collection.get(limit=1, include=[])
            return None
        except StoreError:
            if self.config.chroma_url:
                raise
            return f"the Chroma store of generation {self.generation.name} is missing or incomplete"
        except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds for a damaged store
            if self.config.chroma_url:
                raise StoreError(f"the Chroma server at {self.config.chroma_url} failed: {exc}") from exc
            self.close()
            return f"the Chroma store in {self.generation.chroma_path} could not be read ({exc})"

    def search(self, vector: np.ndarray, k: int) -> list[Hit]:
        """The ``k`` nearest vectors to ``vector`` with their cosine similarity.

        Queries the Chroma collection itself, not ``ChromaVectorStore.query``: that
        turns every hit into a LlamaIndex node (metadata JSON, relationships), ~4 ms
        of a warm ask for 120 hits, and importing llama_index.core costs a cold
        ``rag ask`` ~4 s. The sentence and the kind of view are read from the id
        (``<sentence id>:<kind>...``, see indexing.vector_records), so only ids and
        distances are fetched.
        """
        # Chroma 1.x returns fewer results, not an error, when k exceeds the count,
        # so no count() round trip (it matters against a server).
        result = self.collection.query(
            query_embeddings=[np.asarray(vector, dtype=np.float32)], n_results=k, include=["distances"]
        )
        # In cosine space Chroma's distance is 1 - cosine.
        return [_hit(vid, 1.0 - float(dist)) for vid, dist in zip(result["ids"][0], result["distances"][0])]
