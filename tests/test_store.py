"""The Chroma server path: RAG_CHROMA_URL against a real `chroma run`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import Config
from rag.generations import current, new_generation
from rag.store import StoreError, make_client



@pytest.mark.server
def test_index_and_ask_through_a_chroma_server(chroma_server, corpus_dir, tmp_path, embedder):
    from rag import Pipeline

    cfg = Config().with_(corpus_dir=corpus_dir, home=tmp_path / "home", chroma_url=chroma_server)
    p = Pipeline.load(cfg, embedder=embedder)
    assert not list((tmp_path / "home").rglob("chroma"))  # nothing embedded locally
    first = current(cfg.index)
    vectors = p.store.count()
    assert vectors > 0 and p.store.collection_name == f"rag_sentences-{first.name}"
    a = p.ask("How many inmates can CECOT hold?")
    assert not a.refused and "40,000" in a.text
    # The same index, seen by a fresh client, is already complete.
    p2 = Pipeline(cfg, embedder=embedder)
    assert p2.index().embedded == 0
    # An edit: a new generation is a new collection, filled by copying the unchanged
    # vectors collection to collection (not re-embedded); the old collection is dropped
    # once no reader holds it.
    (corpus_dir / "notes.md").write_text("# Museum notes\n\nA museum ticket costs 12 dollars at the gate.\n", encoding="utf-8")
    report = p2.index()
    second = current(cfg.index)
    assert second.name != first.name and 0 < report.embedded < 10
    assert report.vectors == vectors + report.embedded == p2.store.count()
    assert "12 dollars" in p2.ask("How much does a museum ticket cost?").text
    p.ask("How many inmates can CECOT hold?")  # p moves to the new generation and lets the old one go
    p.close()
    p2.close()
    p2 = Pipeline(cfg, embedder=embedder)
    p2.index(rebuild=True)  # collects what nobody holds any more
    names = {c.name for c in make_client(cfg.index).list_collections()}
    assert f"rag_sentences-{first.name}" not in names and f"rag_sentences-{second.name}" not in names
    assert f"rag_sentences-{current(cfg.index).name}" in names
    p2.close()


def test_bad_chroma_url_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="http://host:port"):
        make_client(Config().with_(home=tmp_path, chroma_url="localhost:8000").index)


def test_direct_adds_keep_llama_index_document_deletes_working(tmp_path):
    """Adds bypass ChromaVectorStore; its delete by ref_doc_id must still find them."""
    import numpy as np

    from rag.store import SentenceStore, VectorRecord

    cfg = Config().with_(home=tmp_path).index
    store = SentenceStore(cfg, new_generation(cfg), writable=True)
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    store.add([VectorRecord("a1:s", "a1", "s", "a.txt", "one"), VectorRecord("a1:w", "a1", "w", "a.txt", "one two"),
               VectorRecord("b1:s", "b1", "s", "b.txt", "three")], v)
    assert store.ids_of("a.txt") and sorted(store.ids_of("a.txt")) == ["a1:s", "a1:w"]
    got = store.collection.get(ids=["b1:s"], include=["embeddings", "documents", "metadatas"])
    assert np.allclose(got["embeddings"][0], v[2]) and got["documents"] == ["three"]
    assert got["metadatas"][0]["sentence_id"] == "b1" and got["metadatas"][0]["kind"] == "s"
    hit = store.search(v[1], 1)[0]
    assert (hit.id, hit.sentence_id, hit.kind) == ("a1:w", "a1", "w") and hit.cosine > 0.9999
    store.delete_document("a.txt")
    assert store.ids() == ["b1:s"]


def test_a_generation_folder_is_copied_whole_and_the_copy_is_independent(tmp_path):
    """An incremental run starts from a copy of the published generation's Chroma
    folder: same vectors, and writing the copy leaves the original untouched."""
    import numpy as np

    from rag.store import SentenceStore, VectorRecord

    cfg = Config().with_(home=tmp_path).index
    a = SentenceStore(cfg, new_generation(cfg), writable=True)
    v = np.eye(3, 384, dtype=np.float32)
    a.add([VectorRecord(f"x{i}:s", f"x{i}", "s", "a.txt", f"text {i}") for i in range(3)], v)
    b = SentenceStore(cfg, new_generation(cfg), writable=True)
    b.copy_from(a)
    assert sorted(b.ids()) == sorted(a.ids()) == ["x0:s", "x1:s", "x2:s"]
    assert np.allclose(b.vectors(["x1:s"])["x1:s"], v[1])
    b.delete_ids(["x0:s"])
    assert sorted(b.ids()) == ["x1:s", "x2:s"] and len(a.ids()) == 3
    a.close()
    b.close()
