"""The Chroma server path: RAG_CHROMA_URL against a real `chroma run`."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rag.config import Config
from rag.store import StoreError, make_client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    # The chroma CLI ships with chromadb, beside this interpreter (the venv need not be on PATH).
    exe = str(Path(sys.executable).parent / "chroma")
    assert Path(exe).exists(), exe
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("chroma run did not come up")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


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
