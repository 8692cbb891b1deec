"""The Chroma server path: RAG_CHROMA_URL against a real `chroma run`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag.config import Config
from rag.store import StoreError, make_client

from .conftest import free_port, stop, wait_for_http


@pytest.fixture
def chroma_server(tmp_path):
    # The chroma CLI ships with chromadb, beside this interpreter (the venv need not be on PATH).
    exe = str(Path(sys.executable).parent / "chroma")
    assert Path(exe).exists(), exe
    port = free_port()
    proc = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_http(f"{url}/api/v2/heartbeat", proc, 60, "chroma run")
    yield url
    stop(proc)


@pytest.mark.server
def test_index_and_ask_through_a_chroma_server(chroma_server, corpus_dir, tmp_path, embedder):
    from rag import Pipeline

    cfg = Config(corpus_dir=corpus_dir, home=tmp_path / "home", chroma_url=chroma_server)
    p = Pipeline.load(cfg, embedder=embedder)
    assert not (tmp_path / "home" / "chroma").exists()  # nothing embedded locally
    assert p.store.count() > 0
    a = p.ask("How many inmates can CECOT hold?")
    assert not a.refused and "40,000" in a.text
    # The same index, seen by a fresh client, is already complete.
    p2 = Pipeline(cfg, embedder=embedder)
    assert p2.index().embedded == 0


def test_bad_chroma_url_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="http://host:port"):
        make_client(Config(home=tmp_path, chroma_url="localhost:8000"))
