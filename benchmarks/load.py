"""Load: many sessions asking a real `rag serve` on loopback, through the JSON API and the chat's API.

    python -m benchmarks.load                         # the serving section of RESULTS.md
    python -m benchmarks.load --sessions 1,8,32 --targets api --workers 1 --seconds 5
    python -m benchmarks.load --profile               # where the server's time goes (cProfile)

Starts `rag serve --workers W` over a copy of corpus/ on a free 127.0.0.1 port (W = 1,
then 2), and for each target (``api``: ``POST /api/ask``; ``chat``: Gradio's queue API,
``POST /gradio_api/call/ask`` then its event stream, what ``gradio_client`` does) and
each session count, runs that many sessions at once for ``--seconds``, each asking the
next question as soon as its answer arrives (or paced to ``--rate`` questions/s in all).

The client is deliberately light, so it measures the server and not itself: one process,
asyncio, plain HTTP/1.1 over one keep-alive connection per session, written on the raw
socket (no HTTP library, no gradio_client). Its own CPU time is reported beside the
server's (read from /proc for the server and its worker processes), so a reader can tell
client from server, and the server's CPU per answer says what more cores would give.

Every answer is checked: the expected fact present, cited, and each citation slicing back
to its quote in the file. Reported per run: offered and achieved rate, p50/p95/p99/max
latency as the client sees it (queueing included), errors, client and server CPU, and
the load average before and after (the machine is shared). Writes the section between
``<!-- load:begin -->`` and ``<!-- load:end -->`` of RESULTS.md and the figures to
benchmarks/load.json. tests/test_load.py runs :func:`run_level` against the test server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

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

TARGETS = ("api", "chat")
BEGIN, END = "<!-- load:begin -->", "<!-- load:end -->"


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in [0, 1]); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    at = (len(ordered) - 1) * q
    lo, hi = int(at), min(int(at) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (at - lo)


# --- a minimal HTTP/1.1 client on asyncio streams ------------------------------------------


class HTTPError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection; reconnects when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        """Send one request; the status and the whole body (Content-Length, chunked or to EOF)."""
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            self.close()
            raise HTTPError("connection closed by the server")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(await self.reader.readexactly(size + 2))
            data = b"".join(p[:-2] for p in parts)
        else:
            data = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def ask_api(conn: Connection, question: str, session: str = "") -> dict[str, Any]:
    """``POST /api/ask``: the Answer.to_dict() of one question."""
    status, data = await conn.request("POST", "/api/ask", json.dumps({"question": question}).encode())
    if status != 200:
        raise HTTPError(f"HTTP {status}: {data[:200]!r}")
    return json.loads(data)


async def ask_chat(conn: Connection, question: str, session: str = "") -> dict[str, Any]:
    """The chat's ``ask`` through Gradio's queue API: join, then read the event stream.

    ``session``: Gradio's session hash, one per session as gradio_client and the page
    keep it (without one, Gradio builds a new session state, ~all components' config,
    for every call)."""
    body: dict[str, Any] = {"data": [question, []]}
    if session:
        body["session_hash"] = session
    status, data = await conn.request("POST", "/gradio_api/call/ask", json.dumps(body).encode())
    if status != 200:
        raise HTTPError(f"HTTP {status}: {data[:200]!r}")
    event_id = json.loads(data)["event_id"]
    status, data = await conn.request("GET", f"/gradio_api/call/ask/{event_id}")
    if status != 200:
        raise HTTPError(f"HTTP {status}: {data[:200]!r}")
    event = None
    for line in data.decode("utf-8").splitlines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event in ("complete", "error"):
            payload = json.loads(line[5:])
            if event == "error":
                raise HTTPError(f"gradio error: {payload}")
            return payload[0]
    raise HTTPError(f"no complete event in the stream: {data[:200]!r}")


ASK: dict[str, Callable[[Connection, str, str], Any]] = {"api": ask_api, "chat": ask_chat}


def check_answer(d: dict[str, Any], fact: str, texts: dict[str, str]) -> str:
    """What is wrong with an answer ('' if nothing): fact, citation, every quote slicing back."""
    if d.get("refused") or fact not in d.get("answer", ""):
        return f"wrong answer: {d.get('answer', '')[:120]!r}"
    if not d.get("citations") or "[1]" not in d["answer"]:
        return "no citation"
    for c in d["citations"]:
        if texts.get(c["doc"], "")[c["start"] : c["end"]] != c["quote"]:
            return f"citation [{c['n']}] does not slice back to its quote"
    return ""


# --- CPU accounting from /proc ----------------------------------------------------------------


def _proc_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the server and its worker processes)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(parents.get(p, []))
    return out


def cpu_seconds(pid: int | list[int]) -> float:
    """User + system CPU seconds of ``pid`` (or of each of several) and live descendants."""
    total = 0
    for p in [q for root in (pid if isinstance(pid, list) else [pid]) for q in _proc_tree(root)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- one run: N sessions against one target ---------------------------------------------------


def run_level(
    url: str,
    target: str,
    sessions: int,
    texts: dict[str, str],
    *,
    seconds: float = 10.0,
    warmup: float = 1.0,
    questions: int | None = None,
    rate: float | None = None,
    timeout_s: float = 60.0,
    server_pid: int | list[int] | None = None,
    keep_session: bool = True,
) -> dict[str, Any]:
    """``sessions`` sessions asking ``target`` ("api" or "chat") at once.

    By time (default): each session asks back to back for ``warmup`` + ``seconds``;
    requests started in the warm-up are not counted. By count: ``questions`` per session,
    all counted. ``rate``: questions/s offered in all, spread evenly over the sessions
    (a session that falls behind its schedule asks at once; none is skipped).
    ``keep_session``: each chat session keeps one Gradio session hash (as a page or a
    gradio_client does); False: a new one per call (Gradio's default for ``/call``).
    """
    split = urlsplit(url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    ask = ASK[target]
    load_before = loadavg()
    cpu0, srv0 = _own_cpu(), cpu_seconds(server_pid) if server_pid else None

    async def session(i: int, t0: float) -> list[dict[str, Any]]:
        conn = Connection(host, port)
        session_hash = f"load-{os.getpid()}-{i}-{int(t0 * 1e6)}" if keep_session else ""
        rows: list[dict[str, Any]] = []
        interval = sessions / rate if rate else 0.0
        end = t0 + warmup + seconds
        j = 0
        try:
            while (j < questions) if questions is not None else (time.perf_counter() < end):
                if interval:
                    due = t0 + (i / sessions + j) * interval
                    if due > time.perf_counter():
                        await asyncio.sleep(due - time.perf_counter())
                question, fact = QUESTIONS[(i + j) % len(QUESTIONS)]
                j += 1
                start = time.perf_counter()
                try:
                    d = await asyncio.wait_for(ask(conn, question, session_hash), timeout_s)
                    error = check_answer(d, fact, texts)
                except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                    conn.close()
                    error = f"{type(exc).__name__}: {exc}"[:300]
                done = time.perf_counter()
                counted = questions is not None or start >= t0 + warmup
                rows.append({"question": question, "start": start, "done": done, "ms": (done - start) * 1000,
                             "error": error or None, "counted": counted})
        finally:
            conn.close()
        return rows

    async def main() -> tuple[list[dict[str, Any]], float, float]:
        t0 = time.perf_counter()
        per = await asyncio.gather(*(session(i, t0) for i in range(sessions)))
        return [r for rs in per for r in rs], t0, time.perf_counter()

    rows, t0, t_end = asyncio.run(main())
    cpu1, srv1 = _own_cpu(), cpu_seconds(server_pid) if server_pid else None
    counted = [r for r in rows if r["counted"]]
    ok = [r for r in counted if not r["error"]]
    if questions is not None:
        window, opened = t_end - t0, t0
    else:
        opened = t0 + warmup
        window = max(r["done"] for r in counted) - opened if counted else seconds
    # Achieved: every good answer that arrived in the window, whenever it was asked (at
    # 128 sessions an answer takes seconds, and the warm-up's answers arrive in the window).
    arrived = [r for r in rows if not r["error"] and r["done"] >= opened]
    ms = [r["ms"] for r in ok]
    failures = [{"question": r["question"], "error": r["error"]} for r in counted if r["error"]]
    all_wall = t_end - t0
    return {
        "target": target,
        "sessions": sessions,
        "requests": len(counted),
        "correct_and_cited": len(ok),
        "errors": len(failures),
        "failures": failures[:20],
        "window_s": round(window, 2),
        # Offered: questions sent in the window (back to back: as fast as answers came).
        "offered_qps": round(rate if rate else len(counted) / window, 1) if window else None,
        "achieved_qps": round(len(arrived) / window, 1) if window else None,
        "p50_ms": round(percentile(ms, 0.50), 1),
        "p95_ms": round(percentile(ms, 0.95), 1),
        "p99_ms": round(percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        # CPU over the whole run (warm-up included), in cores used and ms per request sent.
        "client_cpu_cores": round((cpu1 - cpu0) / all_wall, 2),
        "client_cpu_ms_per_req": round((cpu1 - cpu0) * 1000 / max(len(rows), 1), 2),
        "server_cpu_cores": round((srv1 - srv0) / all_wall, 2) if server_pid else None,
        "server_cpu_ms_per_req": round((srv1 - srv0) * 1000 / max(len(rows), 1), 2) if server_pid else None,
        "load_before": load_before,
        "load_after": loadavg(),
    }


# --- the server under test ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    work: Path, workers: int, extra: list[str] = (), command: list[str] | None = None, env_extra: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """`rag serve --workers N` in ``work`` (which holds corpus/), waited for until it answers.
    ``command``: another server command line, ``{port}`` filled in; ``env_extra``: its
    RAG_ settings (none else are passed on)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | (env_extra or {})
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    log = open(work / f"serve-{workers}-{port}.log", "w")
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--workers", str(workers), *extra]
    if command is not None:
        cmd = [part.format(port=port) for part in command]
    proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"rag serve exited (see {log.name})")
        try:
            with urllib.request.urlopen(url + "api/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise SystemExit("rag serve did not come up")
    # Every worker warms up before it listens: wait until each has answered (each
    # request is a new connection, which the kernel gives to any listening worker).
    seen: set[int] = set()
    for _ in range(1200):
        with urllib.request.urlopen(url + "api/health", timeout=10) as r:
            seen.add(json.loads(r.read()).get("worker", 0))
        if len(seen) >= workers or command is not None:
            break
        time.sleep(0.1)
    else:
        raise SystemExit(f"only {len(seen)} of {workers} workers answered")
    return proc, url


def start_chroma(work: Path) -> tuple[subprocess.Popen, str]:
    """A `chroma run` server (the CLI beside this interpreter) on a free port, data in
    ``work``: its process and URL, once its heartbeat answers. The test suite's
    ``chroma_server`` fixture starts its servers with this too."""
    # The chroma CLI ships with chromadb, beside this interpreter (the venv need not be on PATH).
    exe = Path(sys.executable).parent / "chroma"
    if not exe.exists():
        raise RuntimeError(f"no chroma CLI at {exe}")
    port = free_port()
    proc = subprocess.Popen([str(exe), "run", "--path", str(work / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            with urllib.request.urlopen(url + "/api/v2/heartbeat", timeout=2):
                return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"chroma run did not come up (exit code {proc.poll()})")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def corpus_texts(corpus: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in corpus.iterdir() if p.suffix in (".txt", ".md")}


# --- the report -----------------------------------------------------------------------------------


def _goal(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render_section(res: dict[str, Any]) -> str:
    """The RESULTS.md section for one full run (see :func:`main`)."""
    runs = res["runs"]

    def find(workers: int, target: str, sessions: int, store: str = "embedded") -> dict[str, Any] | None:
        return next((r for r in runs if r["workers"] == workers and r["target"] == target and r["sessions"] == sessions
                     and r.get("store", "embedded") == store), None)

    lines = [
        BEGIN,
        "## Serving: JSON API and chat under load, 1 and 2 workers, embedded and over `chroma run`",
        "",
        f"Run: {res['when']}, `{res['command']}` on {res['machine']}. "
        f"Load average (1/5/15 min) before -> after the whole run: {res['load_before']} -> {res['load_after']}.",
        "",
        "Each row: that many sessions at once against one `rag serve --workers W` on 127.0.0.1, each asking the "
        f"next of {len(QUESTIONS)} questions as soon as its answer arrives, for {res['seconds']:g} s after "
        f"{res['warmup']:g} s of warm-up. `api`: `POST /api/ask`; `chat`: the chat's `ask` through Gradio's "
        "queue (`POST /gradio_api/call/ask`, then its event stream, one `session_hash` per session: what "
        "`gradio_client` does). Latency as the "
        "client sees it, queueing included. The client is one asyncio process on raw sockets; its CPU "
        "(client cores) and the server's (all its processes, from /proc) are measured over the run; "
        "`server ms/req` is server CPU per answer. Errors: HTTP errors, timeouts, and answers without the "
        "expected fact, without a citation, or with a citation that does not slice back to its quote. "
        "Store `chroma`: the workers' vectors on one `chroma run` server (`RAG_CHROMA_URL`) on the same "
        "machine, indexed once into a home folder the workers share (manifest, BM25, texts); the Chroma "
        "server's CPU is counted as server CPU.",
        "",
        "| store | workers | target | sessions | requests | errors | offered q/s | achieved q/s | p50 ms | p95 ms | p99 ms "
        "| max ms | client cores | server cores | server ms/req | load before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.get('store', 'embedded')} | {r['workers']} | {r['target']} | {r['sessions']} | {r['requests']} "
            f"| {r['errors']} | {r['offered_qps']} "
            f"| {r['achieved_qps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} "
            f"| {r['client_cpu_cores']} | {r['server_cpu_cores']} | {r['server_cpu_ms_per_req']} "
            f"| {r['load_before']} -> {r['load_after']} |"
        )
    lines.append("")
    goals = []
    one = find(1, "api", 1)
    if one:
        goals.append(f"JSON API, one client, p50 <= 15 ms: {one['p50_ms']} ms, {_goal(one['p50_ms'] <= 15)}.")
    for w in sorted({r["workers"] for r in runs}):
        api32, chat32 = find(w, "api", 32), find(w, "chat", 32)
        if api32:
            goals.append(
                f"{w} worker{'s' * (w > 1)}, JSON API, 32 sessions, p95 <= 500 ms and 0 errors: p95 {api32['p95_ms']} ms, "
                f"{api32['errors']} errors, {_goal(api32['p95_ms'] <= 500 and api32['errors'] == 0)}."
            )
        if chat32:
            goals.append(
                f"{w} worker{'s' * (w > 1)}, chat (Gradio API), 32 sessions, p95 <= 1000 ms: p95 {chat32['p95_ms']} ms, "
                f"{chat32['errors']} errors, {_goal(chat32['p95_ms'] <= 1000 and chat32['errors'] == 0)}."
            )
        chroma32 = find(w, "api", 32, "chroma")
        if chroma32:
            goals.append(
                f"{w} worker{'s' * (w > 1)} over one `chroma run`, JSON API, 32 sessions: p95 {chroma32['p95_ms']} ms, "
                f"{chroma32['errors']} errors, {chroma32['achieved_qps']} answers/s."
            )
        for target in TARGETS:
            rows = [r for r in runs if r["workers"] == w and r["target"] == target and r.get("store", "embedded") == "embedded"]
            if rows:
                best = max(rows, key=lambda r: r["achieved_qps"] or 0)
                goals.append(
                    f"{w} worker{'s' * (w > 1)}, {target}: throughput at saturation {best['achieved_qps']} answers/s "
                    f"({best['sessions']} sessions), server CPU {best['server_cpu_ms_per_req']} ms an answer."
                )
    lines += [f"- {g}" for g in goals]
    # What more cores give, from measured CPU per answer (not a guess): each worker is
    # one process bounded by one core (the GIL), so N free cores and N workers serve N
    # times one core's answers; closed-loop latency at S sessions is then ~S / rate.
    per = {t: [r["server_cpu_ms_per_req"] for r in runs if r["target"] == t and r.get("server_cpu_ms_per_req")
               and r.get("store", "embedded") == "embedded"] for t in TARGETS}
    for t, ms in per.items():
        if ms:
            cpu = sorted(ms)[len(ms) // 2]
            rate = 1000 / cpu
            need = 32 / (0.5 if t == "api" else 1.0) / rate
            lines.append(
                f"- Bigger machine, {t}: median server CPU {cpu:.1f} ms an answer over these runs, so one free core "
                f"serves ~{rate:.0f} answers/s and N free cores with `--workers N` ~N x {rate:.0f}; 32 back-to-back "
                f"sessions need ~{32 / (0.5 if t == 'api' else 1.0):.0f} answers/s for a mean latency of "
                f"{0.5 if t == 'api' else 1.0:g} s, i.e. >= {need:.1f} free cores (more for the p95)."
            )
    lines.append(END)
    return "\n".join(lines)


def write_section(path: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Put ``section`` (which starts with ``begin`` and ends with ``end``) into ``path`` in
    place of an earlier one (or at the end). benchmarks/ui_latency.py uses it too."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")


# --- profile of the server -----------------------------------------------------------------------------


def profiled_server(port: int, out: str) -> None:
    """`rag serve` (one process) whose main thread is profiled between SIGUSR1 and SIGUSR2.

    The main thread runs the event loop: HTTP, routing, Gradio's queue and event
    streams, (de)serialisation. Answers are computed in worker threads, which cProfile
    does not see; their time is ``timings_ms`` of each answer."""
    import cProfile
    import signal

    import uvicorn

    from rag import Config, Pipeline
    from rag.cli import offline_env
    from ui.server import create_app

    offline_env()
    pipe = Pipeline.load(Config.from_env())
    pipe.ask("warm up")
    app = create_app(pipe)
    prof = cProfile.Profile()
    signal.signal(signal.SIGUSR1, lambda *_: prof.enable())
    signal.signal(signal.SIGUSR2, lambda *_: (prof.disable(), prof.dump_stats(out)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def profile(work: Path, target: str, sessions: int, seconds: float, top: int = 20) -> str:
    """The server's event-loop thread under cProfile while ``sessions`` sessions ask
    ``target``: own time per answer by package, and the top functions."""
    import pstats
    import signal

    out = work / f"profile-{target}.prof"
    code = f"from benchmarks.load import profiled_server; profiled_server({{port}}, {str(out)!r})"
    proc, url = start_server(work, 1, command=[sys.executable, "-c", code])
    texts = corpus_texts(work / "corpus")
    try:
        run_level(url, target, sessions, texts, seconds=1.0, warmup=0.0)  # warm every path first
        proc.send_signal(signal.SIGUSR1)
        res = run_level(url, target, sessions, texts, seconds=seconds, warmup=0.0, server_pid=proc.pid)
        proc.send_signal(signal.SIGUSR2)
        for _ in range(100):
            if out.exists():
                break
            time.sleep(0.1)
        time.sleep(0.5)
    finally:
        stop_server(proc)
    stats = pstats.Stats(str(out))
    n = max(res["requests"], 1)
    by_pkg: dict[str, float] = {}
    rows = []
    for (file, line, fn), (cc, nc, tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        m = re.search(r"site-packages/([A-Za-z_0-9]+)", file)
        if m:
            pkg = m.group(1)
        elif "/wt-" in file or "/rag/" in file or "/ui/" in file or "/benchmarks/" in file:
            pkg = "ours"
        elif file == "~":
            pkg = "builtins"
        else:
            pkg = "stdlib"
        by_pkg[pkg] = by_pkg.get(pkg, 0.0) + tt
        rows.append((tt, ct, nc, f"{pkg}:{Path(file).name}:{line}({fn})"))
    rows.sort(reverse=True)
    total = sum(by_pkg.values())
    lines = [
        f"{target}, {sessions} sessions, {seconds:g} s: {res['requests']} answers, {res['achieved_qps']} q/s, "
        f"p50 {res['p50_ms']} ms; server CPU {res['server_cpu_ms_per_req']} ms an answer (all threads, profiler "
        f"included); event-loop thread {total * 1000 / n:.2f} ms an answer (profiler included), by package:",
        "  " + ", ".join(f"{k} {v * 1000 / n:.2f}" for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:10]),
        "  top functions by own time (ms an answer, own / cumulative, calls an answer):",
    ]
    for tt, ct, nc, name in rows[:top]:
        lines.append(f"  {tt * 1000 / n:7.3f} {ct * 1000 / n:7.3f} {nc / n:7.1f}  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", default="1,8,32,128", help="session counts, comma-separated")
    ap.add_argument("--targets", default="api,chat")
    ap.add_argument("--workers", default="1,2", help="server processes to compare, comma-separated")
    ap.add_argument("--stores", default="embedded,chroma",
                    help="embedded Chroma, and/or all workers over one `chroma run` server (JSON API only)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds per run not measured")
    ap.add_argument("--rate", type=float, help="offered questions/s in all (default: back to back)")
    ap.add_argument("--chat-concurrency", type=int, help="passed to rag serve")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the server instead")
    ap.add_argument("--from-json", action="store_true", help="only re-write RESULTS.md from --json")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "load.json")
    a = ap.parse_args(argv)
    sessions = [int(x) for x in a.sessions.split(",")]
    targets = [t for t in a.targets.split(",") if t]
    if set(targets) - set(TARGETS):
        ap.error(f"--targets: choose from {', '.join(TARGETS)}")

    if a.from_json:
        write_section(a.results, render_section(json.loads(a.json.read_text(encoding="utf-8"))))
        return 0
    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    shutil.copytree(ROOT / "corpus", work / "corpus")
    texts = corpus_texts(work / "corpus")
    extra = ["--chat-concurrency", str(a.chat_concurrency)] if a.chat_concurrency else []
    if a.profile:
        for target in targets:
            print(profile(work, target, sessions[0] if len(sessions) == 1 else 8, a.seconds))
        shutil.rmtree(work, ignore_errors=True)
        return 0

    load_before = loadavg()
    runs = []
    for store in [x for x in a.stores.split(",") if x]:
        chroma, env, home = None, {}, []
        if store == "chroma":
            chroma, chroma_url = start_chroma(work)
            env, home = {"RAG_CHROMA_URL": chroma_url}, ["--home", str(work / ".rag-chroma")]
        try:
            for workers in [int(x) for x in a.workers.split(",")]:
                proc, url = start_server(work, workers, extra + home, env_extra=env)
                pids = [proc.pid] + ([chroma.pid] if chroma else [])
                try:
                    for target in targets if store == "embedded" else ["api"]:
                        for n in sessions:
                            r = run_level(url, target, n, texts, seconds=a.seconds, warmup=a.warmup, rate=a.rate,
                                          server_pid=pids)
                            r["workers"], r["store"] = workers, store
                            runs.append(r)
                            print(json.dumps({k: v for k, v in r.items() if k != "failures"}), flush=True)
                finally:
                    stop_server(proc)
        finally:
            if chroma:
                stop_server(chroma)
    shutil.rmtree(work, ignore_errors=True)
    machine = f"{os.cpu_count()} cores, Python {platform.python_version()}"
    command = "python -m benchmarks.load" + (f" {' '.join(argv)}" if argv else " " + " ".join(sys.argv[1:])).rstrip()
    res = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": command.strip(),
        "machine": machine,
        "seconds": a.seconds,
        "warmup": a.warmup,
        "load_before": load_before,
        "load_after": loadavg(),
        "runs": runs,
    }
    a.json.write_text(json.dumps(res, indent=2), encoding="utf-8")
    write_section(a.results, render_section(res))
    return 0 if all(r["errors"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
