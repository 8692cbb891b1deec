"""Queries while the index changes: each answer comes from one consistent index
(old or new, never a mix), and nothing raises; one writer at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from rag import Pipeline


def _notes(version: int) -> str:
    # Each version shifts the offsets (more filler first) and changes the fact.
    filler = "The museum has a garden. " * version
    return f"# Museum notes\n\n{filler}A museum ticket costs {10 + version} dollars at the gate.\n"


def _reader(pipe, versions, article, stop, results, errors):
    questions = ["How much does a museum ticket cost?", "How many inmates can CECOT hold?"]
    i = 0
    while not stop.is_set():
        q = questions[i % 2]
        i += 1
        try:
            a = pipe.ask(q)
        except Exception as exc:  # noqa: BLE001 - any exception is a failure, collected
            errors.append(repr(exc))
            continue
        results.append((q, a))
        if q.startswith("How many"):
            if "40,000" not in a.text or not all(article[c.start : c.end] == c.quote for c in a.citations):
                errors.append(f"article answer changed during re-index: {a.text!r}")
            continue
        if a.refused or not a.citations:
            errors.append(f"notes question refused during re-index: {a.text!r} {a.signals}")
            continue
        # Every citation resolves in one and the same version of the file, and the
        # answer states that version's fact.
        cited = [c for c in a.citations if c.doc == "notes.md"]
        fits = [v for v, text in enumerate(list(versions)) if all(text[c.start : c.end] == c.quote for c in cited)]
        if not cited or not fits:
            errors.append(f"citations fit no version of notes.md: {[c.to_dict() for c in a.citations]}")
        elif not any(f"{10 + v} dollars" in a.text for v in fits):
            errors.append(f"answer {a.text!r} is not the fact of the version it cites")


@pytest.mark.slow
def test_questions_during_reindex_in_process_and_from_another_process(config, embedder):
    article = (config.index.corpus_dir / "noem-cecot-2025.txt").read_text(encoding="utf-8")
    notes = config.index.corpus_dir / "notes.md"
    versions = [_notes(0)]
    notes.write_text(versions[0], encoding="utf-8")
    pipe = Pipeline.load(config, embedder=embedder)
    stop, results, errors = threading.Event(), [], []
    readers = [threading.Thread(target=_reader, args=(pipe, versions, article, stop, results, errors)) for _ in range(2)]
    for t in readers:
        t.start()
    try:
        # In this process, as a server that re-indexes would.
        for v in range(1, 4):
            versions.append(_notes(v))
            notes.write_text(versions[v], encoding="utf-8")
            report = pipe.index()
            assert report.embedded > 0 and report.skipped == 1
            time.sleep(0.3)
        # From another process (`rag index` while `rag serve` answers): the readers
        # notice the committed index and switch to it.
        versions.append(_notes(4))
        notes.write_text(versions[4], encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("RAG_HOME", "RAG_CORPUS", "RAG_CHROMA_URL")}
        r = subprocess.run(
            [sys.executable, "-m", "rag.cli", "index", "--corpus", str(config.index.corpus_dir), "--home", str(config.index.home)],
            capture_output=True, text=True, timeout=300, env=env,
        )
        assert r.returncode == 0, r.stderr
        deadline = time.time() + 20
        while time.time() < deadline and "14 dollars" not in pipe.ask("How much does a museum ticket cost?").text:
            time.sleep(0.2)
    finally:
        stop.set()
        for t in readers:
            t.join(timeout=60)
    assert errors == [], errors[:5]
    answered = [a for q, a in results if q.startswith("How much")]
    assert len(results) >= 20 and answered, len(results)
    seen = {p for a in answered for p in range(10, 15) if f"{p} dollars" in a.text}
    assert len(seen) >= 3, seen  # the readers saw the index change several times, not one frozen view
    assert "14 dollars" in pipe.ask("How much does a museum ticket cost?").text


def test_one_writer_at_a_time(config, embedder):
    """A second indexer waits for the lock instead of writing beside the first;
    the lock is a file lock, so it holds across processes too."""
    from filelock import FileLock

    from rag.indexing import Indexer

    config.index.home.mkdir(parents=True, exist_ok=True)
    held = FileLock(str(config.index.lock_path))
    held.acquire()
    other = subprocess.run(
        [sys.executable, "-c", "import sys, filelock; filelock.FileLock(sys.argv[1]).acquire(timeout=0.5)",
         str(config.index.lock_path)], capture_output=True, text=True, timeout=60,
    )
    assert other.returncode != 0 and "Timeout" in other.stderr
    done = threading.Event()

    def index():
        Indexer.from_config(config, embedder).run()
        done.set()

    t = threading.Thread(target=index)
    t.start()
    time.sleep(2)
    assert not done.is_set() and not config.index.pointer_path.exists()  # blocked behind the writer
    held.release()
    t.join(timeout=120)
    assert done.is_set() and config.index.pointer_path.exists()
