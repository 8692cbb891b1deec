"""Index generations: re-indexing under live traffic, across real processes.

The acceptance test of issue 18: a real `rag serve` answers a client asking in a
loop, and a second reader process polls the index, while `rag index --rebuild` and
then an incremental `rag index` of 100 edited (and 20 new) documents run beside them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rag.config import Config
from rag.generations import Lease, all_generations, collect, current, new_generation, publish

from .conftest import ARTICLE, DOC, free_port, start_server, stop

CONTROL = "How many inmates can CECOT hold?"
NAMES = ["Alvarez", "Brennan", "Castellano", "Dufresne", "Eriksen", "Fontaine", "Galloway", "Haverford"]


def _doc(i: int, version: int) -> str:
    # Two short paragraphs; an edit changes the fact and shifts every offset.
    filler = "The platform was repainted last spring. " * version
    return (f"# Station {i} notes\n\n{filler}A ticket to station {i} costs {i + version * 7} dollars. "
            f"The keeper of station {i} is {NAMES[i % len(NAMES)]}.\n")


def _env() -> dict[str, str]:
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    for var in ("RAG_HOME", "RAG_CORPUS", "RAG_CHROMA_URL", "RAG_MODE"):
        env.pop(var, None)
    return env


_READER = r"""
import json, sys, time
from pathlib import Path
from rag import Config, Pipeline
work, stop = Path(sys.argv[1]), Path(sys.argv[2])
p = Pipeline(Config().with_(corpus_dir=work / "corpus", home=work / ".rag"))
out = open(work / "reader.jsonl", "a", buffering=1)
while not stop.exists():
    try:
        n = p.status()["documents"]
        a = p.ask("How many inmates can CECOT hold?")
        out.write(json.dumps({"n": n, "ok": "40,000" in a.text and not a.refused}) + "\n")
    except Exception as exc:
        out.write(json.dumps({"error": repr(exc)}) + "\n")
    time.sleep(0.05)
"""


def _consistent(cfg: Config) -> None:
    """The published generation: manifest, Chroma, BM25 and texts agree; old ones are gone."""
    from rag.indexing import bm25_problem, is_fresh
    from rag.manifest import load_manifest, model_key, recorded_vectors
    from rag.store import SentenceStore

    gen = current(cfg.index)
    assert gen is not None
    m = load_manifest(gen.manifest_path)
    store = SentenceStore(cfg.index, gen)
    ids = store.ids()
    store.close()
    assert len(ids) == len(set(ids)) == recorded_vectors(m["docs"])
    assert {i.split(":")[0] for i in ids} == {r[0] for e in m["docs"].values() for r in e["sentences"]}
    assert bm25_problem(gen.bm25_path, m["docs"]) is None
    assert is_fresh(cfg.index, model_key(None))


@pytest.mark.slow
@pytest.mark.server
def test_rebuild_and_incremental_index_under_live_traffic(tmp_path):
    from gradio_client import Client

    work = tmp_path
    corpus = work / "corpus"
    corpus.mkdir()
    (corpus / DOC).write_bytes(ARTICLE.read_bytes())
    versions: dict[str, list[str]] = {DOC: [ARTICLE.read_text(encoding="utf-8")]}
    for i in range(100, 300):
        name = f"station-{i}.txt"
        versions[name] = [_doc(i, 0)]
        (corpus / name).write_text(versions[name][0], encoding="utf-8")
    port = free_port()
    server = start_server(work, port)
    stop_file = work / "stop"
    reader = subprocess.Popen([sys.executable, "-c", _READER, str(work), str(stop_file)], env=_env(),
                              stdout=subprocess.DEVNULL, stderr=open(work / "reader.err", "w"))
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    answers: list[tuple[str, dict]] = []
    failures: list[str] = []
    done = threading.Event()

    def ask_in_a_loop() -> None:
        i = 0
        while not done.is_set():
            q = CONTROL if i % 3 == 0 else f"How much does a ticket to station {100 + (i * 37) % 220} cost?"
            i += 1
            try:
                answers.append((q, client.predict(q, [], api_name="/ask")))
            except Exception as exc:  # noqa: BLE001 - every failed request is collected
                failures.append(f"{q}: {exc!r}")

    asker = threading.Thread(target=ask_in_a_loop)
    asker.start()
    try:
        time.sleep(3)
        r = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--rebuild", "--json"], cwd=work, env=_env(),
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, r.stderr[-2000:]
        rebuilt = json.loads(r.stdout)
        assert rebuilt["documents"] == 201 and rebuilt["embedded"] == rebuilt["vectors"]
        during_rebuild = len(answers)
        # 100 edited documents and 20 new ones, indexed incrementally.
        for i in range(100, 200):
            name = f"station-{i}.txt"
            versions[name].append(_doc(i, 1))
            (corpus / name).write_text(versions[name][1], encoding="utf-8")
        for i in range(300, 320):
            name = f"station-{i}.txt"
            versions[name] = [_doc(i, 0)]
            (corpus / name).write_text(versions[name][0], encoding="utf-8")
        r = subprocess.run([sys.executable, "-m", "rag.cli", "index", "--json"], cwd=work, env=_env(),
                           capture_output=True, text=True, timeout=1800)
        assert r.returncode == 0, r.stderr[-2000:]
        incremental = json.loads(r.stdout)
        assert incremental["documents"] == 221 and incremental["skipped"] == 101
        assert 0 < incremental["embedded"] < rebuilt["embedded"]  # unchanged documents were not re-embedded
        # The server answers from the new generation now.
        deadline = time.time() + 30
        while time.time() < deadline:
            d = client.predict("How much does a ticket to station 150 cost?", [], api_name="/ask")
            if "157 dollars" in d["answer"]:
                break
            time.sleep(0.5)
        assert "157 dollars" in d["answer"], d["answer"]
        time.sleep(2)
    finally:
        done.set()
        asker.join(timeout=120)
        stop_file.touch()
        try:
            reader.wait(timeout=60)
        except subprocess.TimeoutExpired:
            reader.kill()
        stop(server)

    assert failures == [], failures[:5]
    assert during_rebuild >= 3 and len(answers) > during_rebuild + 3, (during_rebuild, len(answers))
    for q, d in answers:
        if q == CONTROL:  # answered before and after: never refused during the runs
            assert not d["refused"] and "40,000" in d["answer"], d["answer"]
        by_doc: dict[str, set[int]] = {}
        for c in d["citations"]:
            fits = {v for v, text in enumerate(versions[c["doc"]]) if text[c["start"] : c["end"]] == c["quote"]}
            assert fits, f"citation does not slice to its quote in any version: {c}"
            by_doc.setdefault(c["doc"], set(fits)).intersection_update(fits)
        assert all(by_doc.values()), f"citations of one document from two versions: {d['citations']}"
        edited = [min(v) for doc, v in by_doc.items() if len(versions[doc]) > 1 and len(v) == 1]
        assert len(set(edited)) <= 1, f"an answer mixing generations: {d['citations']}"
    lines = [json.loads(line) for line in (work / "reader.jsonl").read_text().splitlines()]
    assert lines and not [x for x in lines if "error" in x], [x for x in lines if "error" in x][:3]
    counts = [x["n"] for x in lines]
    assert set(counts) <= {201, 221} and 201 in counts, sorted(set(counts))
    assert all(x["ok"] for x in lines)
    assert "Traceback" not in (work / "serve.log").read_text(errors="replace")
    cfg = Config().with_(corpus_dir=corpus, home=work / ".rag")
    _consistent(cfg)
    # Nobody reads any more: only the published generation is left after the next collection.
    collect(cfg.index)
    assert [g.name for g in all_generations(cfg.index)] == [current(cfg.index).name]


# --- the generation protocol itself (no model) -----------------------------------------


def _published(cfg, n: int = 1):
    gens = []
    for _ in range(n):
        g = new_generation(cfg.index)
        g.manifest_path.write_text("{}", encoding="utf-8")
        publish(cfg.index, g)
        gens.append(g)
    return gens


def test_old_generations_go_once_no_reader_holds_them(tmp_path):
    cfg = Config().with_(home=tmp_path / "home")
    a, b = _published(cfg, 2)
    lease = Lease.take(a)  # a reader still answering from the old one
    assert collect(cfg.index) == [] and a.path.exists()
    lease.release()
    assert collect(cfg.index) == [a.name] and not a.path.exists()
    assert current(cfg.index) == b and b.path.exists()


def test_a_lease_on_a_removed_generation_is_refused_so_the_reader_reads_the_pointer_again(tmp_path):
    cfg = Config().with_(home=tmp_path / "home")
    a, b = _published(cfg, 2)
    collect(cfg.index)
    assert Lease.take(a) is None and Lease.take(b) is not None


def test_a_held_generation_goes_after_the_grace_period(tmp_path):
    cfg = Config().with_(home=tmp_path / "home", generation_grace_s=0.0)
    a, _ = _published(cfg, 2)
    lease = Lease.take(a)
    assert collect(cfg.index) == [a.name]
    lease.release()


def test_a_lease_from_another_process_blocks_removal(tmp_path):
    cfg = Config().with_(home=tmp_path / "home")
    a, _ = _published(cfg, 2)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from rag.generations import Generation, Lease;"
        "l = Lease.take(Generation(Path(sys.argv[1]), sys.argv[2])); print('held', flush=True); time.sleep(60)"),
        str(cfg.index.home), a.name], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert collect(cfg.index) == [] and a.path.exists()
    finally:
        holder.kill()
        holder.wait()
    assert collect(cfg.index) == [a.name]  # the kernel dropped the dead reader's lock


def test_an_unpublished_generation_is_left_to_the_indexer(tmp_path):
    cfg = Config().with_(home=tmp_path / "home")
    (a,) = _published(cfg, 1)
    building = new_generation(cfg.index)
    assert collect(cfg.index) == [] and building.path.exists()
    assert collect(cfg.index, include_building=True) == [building.name]
    assert current(cfg.index) == a


def test_a_damaged_pointer_reads_as_no_index(tmp_path):
    cfg = Config().with_(home=tmp_path / "home")
    _published(cfg, 1)
    for bad in ("{not json", '{"generation": "../../etc"}', "[]", '{"generation": 7}'):
        Path(cfg.index.pointer_path).write_text(bad, encoding="utf-8")
        assert current(cfg.index) is None


# --- a read-only index folder (issue 18, item 5) ------------------------------------------


def _read_only(home: Path, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run ``argv`` with ``home`` bind-mounted read-only (EROFS, as in a container image),
    in a private mount namespace: the mount ends with the process."""
    import shlex

    cmd = f"mount --bind -o ro {shlex.quote(str(home))} {shlex.quote(str(home))} && exec {shlex.join(argv)}"
    return subprocess.run(["unshare", "-m", "sh", "-c", cmd], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=300)


def _snapshot_of(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_read_only_index_answers_questions_and_says_it_cannot_re_index(tmp_path, config, embedder):
    from rag import Pipeline

    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount --bind -o ro {tmp_path} {tmp_path} && true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.strip()}")
    p = Pipeline.load(config, embedder=embedder)
    p.close()
    home = config.index.home
    before = _snapshot_of(home)
    ask = [sys.executable, "-m", "rag.cli", "ask", CONTROL, "--corpus", str(config.index.corpus_dir), "--home", str(home)]
    r = _read_only(home, *ask, cwd=tmp_path)
    assert r.returncode == 0 and "40,000" in r.stdout and "Traceback" not in r.stderr, r.stderr[-2000:]
    # The corpus moved on: still answered, from the index as it is, with a warning.
    (config.index.corpus_dir / "notes.md").write_text("# Notes\n\nA ticket costs 12 dollars.\n", encoding="utf-8")
    r = _read_only(home, *ask, cwd=tmp_path)
    assert r.returncode == 0 and "40,000" in r.stdout, r.stderr[-2000:]
    assert "read-only and out of date" in r.stderr
    r = _read_only(home, sys.executable, "-m", "rag.cli", "index", "--corpus", str(config.index.corpus_dir),
                   "--home", str(home), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"error: the index folder {home} is read-only: it answers questions but cannot be re-indexed"
    assert _snapshot_of(home) == before  # nothing was written, nothing lost


# --- a cited file that changed under a running server (issue 18, item 12) -----------------


@pytest.mark.slow
def test_an_answer_citing_a_file_edited_or_deleted_since_indexing_says_so_and_quotes_what_was_indexed(config, embedder):
    from rag import Pipeline

    p = Pipeline.load(config, embedder=embedder)
    path = config.index.corpus_dir / DOC
    indexed = path.read_text(encoding="utf-8")
    a = p.ask(CONTROL)
    assert "40,000" in a.text and not a.notes and "changed_sources" not in a.signals
    path.write_text("Edited away.\n\n" + indexed.replace("40,000", "50,000"), encoding="utf-8")
    a = p.ask(CONTROL)
    assert "40,000" in a.text and a.signals["changed_sources"] == [DOC]
    assert a.notes == [f"{DOC} changed on disk after it was indexed; the quotes are from the indexed version "
                       "until `rag index` runs."] and a.to_dict()["notes"] == a.notes
    assert "changed on disk" not in a.text  # a note beside the answer; every answer sentence stays cited
    for c in a.citations:  # every citation still slices to its quote: in the text that was indexed
        assert indexed[c.start : c.end] == c.quote == p.corpus_text(c.doc)[c.start : c.end]
    path.unlink()
    a = p.ask(CONTROL)
    assert a.signals["changed_sources"] == [DOC] and all(indexed[c.start : c.end] == c.quote for c in a.citations)
    path.write_text(indexed, encoding="utf-8")  # put back byte for byte: nothing to say any more
    a = p.ask(CONTROL)
    assert "changed_sources" not in a.signals and not a.notes
    p.close()
