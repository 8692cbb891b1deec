"""Load: concurrent gradio_client sessions asking a real `rag serve` on loopback.

    python -m benchmarks.load [--sessions 32] [--questions 10] [--results benchmarks/RESULTS.md]

Starts `rag serve` over a copy of corpus/ on a free 127.0.0.1 port, opens ``--sessions``
clients at once (each its own gradio_client session, started together), and has each
ask ``--questions`` questions in turn through the ``/ask`` API. Every answer is checked:
its key fact present, at least one citation, and each citation slicing back to its
quote in the file. Latency is per request, as a client sees it (queueing included).
Writes the section "Load: N sessions × M questions" into RESULTS.md (replacing an
earlier one) and the raw figures to benchmarks/load.json. tests/test_load.py runs
:func:`run_load` against the test server and asserts what this reports.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# (question, a fact the answer must state): answered correctly today (tests/test_answer.py).
QUESTIONS: list[tuple[str, str]] = [
    ("How many inmates can CECOT hold?", "40,000"),
    ("When was CECOT first opened?", "2022"),
    ("Who accompanied Noem on the tour?", "Villatoro"),
    ("Which countries will Noem also travel to on this trip?", "Mexico"),
    ("How long is Noem's trip?", "three-day"),
    ("Which outlet reported Noem's warning to illegal aliens?", "Fox News"),
    ("Where were many of the deported gang members from?", "Venezuela"),
    ("Which law did the administration invoke?", "Alien Enemies Act"),
    ("Who is the president of El Salvador?", "Nayib Bukele"),
    ("What organization is Vicki Gass with?", "Latin America Working Group"),
]

BEGIN, END = "<!-- load:begin -->", "<!-- load:end -->"


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    at = (len(ordered) - 1) * q
    lo, hi = int(at), min(int(at) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)


def run_load(
    url: str,
    texts: dict[str, str],
    sessions: int = 32,
    questions: int = 10,
    timeout_s: float = 600.0,
) -> dict[str, Any]:
    """Run the load; returns figures and every failure (an error or a wrong answer)."""
    from gradio_client import Client

    start = threading.Barrier(sessions)
    deadline = time.monotonic() + timeout_s

    def session(i: int) -> list[dict[str, Any]]:
        client = Client(url, verbose=False)
        start.wait(timeout=timeout_s)  # every session connected: they ask together
        out = []
        for j in range(questions):
            question, fact = QUESTIONS[(i + j) % len(QUESTIONS)]
            if time.monotonic() > deadline:
                out.append({"question": question, "ms": None, "error": "not asked: time budget spent"})
                continue
            t0 = time.perf_counter()
            try:
                d = client.predict(question, [], api_name="/ask")
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                out.append({"question": question, "ms": None, "error": f"{type(exc).__name__}: {exc}"})
                continue
            ms = (time.perf_counter() - t0) * 1000
            problem = ""
            if d.get("refused") or fact not in d.get("answer", ""):
                problem = f"wrong answer: {d.get('answer', '')[:120]!r}"
            elif not d.get("citations") or "[1]" not in d["answer"]:
                problem = "no citation"
            else:
                for c in d["citations"]:
                    if texts.get(c["doc"], "")[c["start"] : c["end"]] != c["quote"]:
                        problem = f"citation [{c['n']}] does not slice back to its quote"
            out.append({"question": question, "ms": ms, "error": problem or None})
        return out

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        per_session = list(pool.map(session, range(sessions)))
    wall = time.perf_counter() - t0
    rows = [r for rs in per_session for r in rs]
    ms = [r["ms"] for r in rows if r["ms"] is not None and not r["error"]]
    failures = [r for r in rows if r["error"]]
    return {
        "sessions": sessions,
        "questions_per_session": questions,
        "requests": len(rows),
        "correct_and_cited": len(rows) - len(failures),
        "errors": len(failures),
        "failures": failures[:20],
        "p50_ms": round(_percentile(ms, 0.50), 1),
        "p95_ms": round(_percentile(ms, 0.95), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "wall_s": round(wall, 2),
        "throughput_qps": round(len(rows) / wall, 2) if wall else None,
    }


def render_section(res: dict[str, Any], when: str, machine: str) -> str:
    n, m = res["sessions"], res["questions_per_session"]
    return "\n".join([
        BEGIN,
        f"## Load: {n} sessions × {m} questions",
        "",
        f"Run: {when}, `python -m benchmarks.load --sessions {n} --questions {m}` on {machine}.  ",
        f"{n} `gradio_client` sessions connect to one `rag serve` on 127.0.0.1 (Gradio queue, "
        "`default_concurrency_limit=4`), start together, and each asks "
        f"{m} questions in turn through `/ask`; latency is per request as the client sees it, queueing included.",
        "",
        "| requests | correct and cited | errors | p50 ms | p95 ms | max ms | wall s | throughput q/s |",
        "|---|---|---|---|---|---|---|---|",
        f"| {res['requests']} | {res['correct_and_cited']} | {res['errors']} | {res['p50_ms']} | {res['p95_ms']} "
        f"| {res['max_ms']} | {res['wall_s']} | {res['throughput_qps']} |",
        "",
        "Correct: the expected fact is in the answer, it carries `[1]`, and every citation slices "
        "back to its quote in the file. `tests/test_load.py` runs the same load in CI and fails on any error.",
        END,
    ])


def write_section(path: Path, section: str) -> None:
    """Put ``section`` into ``path`` in place of an earlier one (or at the end)."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=32)
    ap.add_argument("--questions", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "load.json")
    a = ap.parse_args(argv)

    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    shutil.copytree(ROOT / "corpus", work / "corpus")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    log = open(work / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)], cwd=work,
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(480):
            if proc.poll() is not None:
                raise SystemExit(f"rag serve exited (see {work / 'serve.log'})")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        texts = {p.name: p.read_text(encoding="utf-8") for p in (work / "corpus").glob("*.txt")}
        res = run_load(url, texts, a.sessions, a.questions, a.timeout)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # The machine may be shared (CI runners, other jobs): say how busy it was.
    machine = (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
               f"load average {load_before:.1f} before the run")
    a.json.write_text(json.dumps({"when": when, **res}, indent=2), encoding="utf-8")
    write_section(a.results, render_section(res, when, machine))
    print(json.dumps(res, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0 if res["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
