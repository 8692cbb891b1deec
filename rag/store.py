"""The vector store: Chroma, behind LlamaIndex's ``ChromaVectorStore`` for deletes;
adds and searches go to the collection directly (see :meth:`SentenceStore.add` and
:meth:`SentenceStore.search` for why).

Embedded (``chromadb.PersistentClient`` under ``Config.home``) by default; with
``Config.chroma_url`` set, the same code talks to a ``chroma run`` server through
``chromadb.HttpClient``. The store holds a few vectors per sentence (the sentence,
its clauses, and the sentence within its neighbours); each node's
``ref_doc_id`` is its document id so a document's vectors can be dropped at once.
"""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence
from urllib.parse import urlparse

import numpy as np

from .config import IndexConfig

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.vector_stores.chroma import ChromaVectorStore



SQLITE_FILE = "chroma.sqlite3"  # what an embedded Chroma keeps in its folder


class StoreError(Exception):
    """The vector store could not be reached or opened."""


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


def make_client(config: IndexConfig) -> Any:
    """A Chroma client: HTTP if ``chroma_url`` is set, else embedded and persistent."""
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
    config.chroma_path.mkdir(parents=True, exist_ok=True)
    if _replaced(config.chroma_path):
        _forget(config.chroma_path)
    client = chromadb.PersistentClient(path=str(config.chroma_path), settings=settings)
    _opened[str(config.chroma_path)] = _identity(config.chroma_path)
    return client


# chromadb registers a path's shared system before it has started it: a thread opening
# the path meanwhile gets the half-started one ("'RustBindingsAPI' object has no
# attribute 'bindings'", seen when two readers reopened after another process's index
# run). Opening a client or a collection is serialised for the process, as chromadb's
# cache is per process; it happens once per path and reopen, never per search.
_open_lock = threading.RLock()

# chromadb keeps one open "system" per persist path for the life of the process
# (SharedSystemClient's class-level cache), so a client asked for again after the
# folder was deleted or replaced gets the old handle: writes then land in an unlinked
# file ("readonly database", or silently lost). We remember which file each cached
# system opened and drop the cache entry when the file on disk is no longer it.
_opened: dict[str, tuple[int, int] | None] = {}


def _identity(chroma_path: Path) -> tuple[int, int] | None:
    try:
        st = (Path(chroma_path) / SQLITE_FILE).stat()
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _forget(chroma_path: Path) -> None:
    """Drop chromadb's cached system for ``chroma_path`` so the next client opens the disk afresh.

    The old system is not stopped: another object of this process may still be
    reading through it (a server answering from the index it loaded).
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    key = str(chroma_path)
    with _open_lock, SharedSystemClient._refcount_lock:
        SharedSystemClient._identifier_to_system.pop(key, None)
        SharedSystemClient._identifier_to_refcount.pop(key, None)
    _opened.pop(key, None)


def _replaced(chroma_path: Path) -> bool:
    """Was the folder chromadb opened at ``chroma_path`` deleted or replaced since?"""
    key = str(chroma_path)
    return key in _opened and _opened[key] != _identity(chroma_path)


class SentenceStore:
    """One Chroma collection of sentence vectors, behind LlamaIndex's ChromaVectorStore."""

    def __init__(self, config: IndexConfig, client: Any | None = None) -> None:
        self.config = config
        self._client = client
        self._vs: ChromaVectorStore | None = None
        self._collection: Any = None

    @property
    def client(self) -> Any:
        with _open_lock:
            if self._client is None:
                self._client = make_client(self.config)
            return self._client

    @property
    def collection(self) -> Any:
        collection = self._collection
        if collection is not None:
            return collection
        with _open_lock:
            if self._collection is None:
                self._collection = self.client.get_or_create_collection(
                    self.config.collection,
                    # Cosine space so that distance = 1 - cosine on our normalised vectors.
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,  # we always pass vectors; never load Chroma's own model
                )
            return self._collection

    @property
    def vector_store(self) -> "ChromaVectorStore":
        """LlamaIndex's view of the collection: what indexing writes through."""
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

    def reset(self) -> None:
        """Drop the whole collection (``rag index --rebuild``).

        Embedded, the folder itself is deleted: that recovers from any damage to it,
        where a corrupt database could not even be asked to drop a collection.
        """
        if self.config.chroma_url:
            try:
                self.client.delete_collection(self.config.collection)
            except Exception:  # noqa: BLE001 - absent collection is the goal anyway
                pass
        else:
            self._drop(delete_folder=True)
        self._vs = None
        self._collection = None

    def reopen(self) -> None:
        """See what another process wrote: an embedded Chroma searches an in-memory copy
        of the vectors that a second process's writes do not reach."""
        if not self.config.chroma_url:
            self._drop()

    def _drop(self, delete_folder: bool = False) -> None:
        """Close this store's handles and chromadb's cached system for the folder, so
        the next use opens the disk afresh; ``delete_folder`` deletes it too."""
        with _open_lock:
            _forget(self.config.chroma_path)
            if delete_folder:
                shutil.rmtree(self.config.chroma_path, ignore_errors=True)
            self._client = None
            self._vs = None
            self._collection = None

    def check(self) -> str | None:
        """Make sure the store can be read; repair an embedded one that cannot.

        Returns what was repaired (for the user), or None if nothing was wrong. An
        embedded folder that was deleted or replaced since this process opened it is
        reopened; one that cannot be read (a corrupt database) is deleted, so the
        caller re-embeds into a fresh one. A server that fails raises StoreError.
        """
        replaced = None
        if not self.config.chroma_url and _replaced(self.config.chroma_path):
            self._drop()
            replaced = f"the Chroma store in {self.config.chroma_path} was deleted or replaced while open; reopened it"
        try:
            self.count()
            self.collection.get(limit=1, include=[])
            return replaced
        except StoreError:
            raise
        except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds for a damaged store
            if self.config.chroma_url:
                raise StoreError(f"the Chroma server at {self.config.chroma_url} failed: {exc}") from exc
            self._drop(delete_folder=True)
            self.count()  # a fresh, empty store
            return f"the Chroma store in {self.config.chroma_path} could not be read ({exc}); it was deleted and is rebuilt"

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
        out = []
        for vid, dist in zip(result["ids"][0], result["distances"][0]):
            sid, _, view = vid.partition(":")
            # In cosine space Chroma's distance is 1 - cosine.
            out.append(Hit(id=vid, sentence_id=sid, kind=view[:1] or "s", cosine=1.0 - float(dist)))
        return out
