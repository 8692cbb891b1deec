"""Bad input, one table of cases, through the three ways in: the Python API, the `rag`
command and the web API of a real `rag serve`. Each case gets a clear message or an
answer, in bounded time, and the server still answers normally afterwards."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from rag import REFUSAL, InvalidQuestion

from .conftest import DOC, make_corpus

NORMAL = "How many inmates can CECOT hold?"
LONG = (NORMAL + " ") * 3100  # ~100 KB; truncated to Config.max_question_chars before embedding
BOUND_S = 20.0  # per question; measured well under 1 s warm, but the CPU is shared in CI


@dataclass(frozen=True)
class Case:
    id: str
    question: str  # as a Python str; `raw` when the bytes themselves are the point
    error: str | None = None  # the message expected (a regex), or None for an answer
    fact: str | None = None  # what the answer must state; None: the fixed refusal
    raw: bytes | None = None  # not valid UTF-8: sent as bytes where the surface can

    @property
    def wire(self) -> str:
        """The text a JSON client can send: undecodable bytes become lone surrogates,
        which is what Python itself makes of them in argv and file names."""
        return self.raw.decode("utf-8", "surrogateescape") if self.raw is not None else self.question


CASES = [
    Case("empty", "", error="the question is empty"),
    Case("whitespace", " \t\n\u00a0\u2003 ", error="the question is empty"),
    Case("punctuation", "?!.,;:—…¿¡", error="no words to search for"),
    Case("emoji_only", "🤔🙏🔥", error="no words to search for"),
    Case("control_only", "\x00\x01\x1b\x7f", error="the question is empty"),
    Case("nul_and_controls", "How many\x00 inmates\x07 can\x1b CECOT\x7f hold?", fact="40,000"),
    Case("non_utf8", "How many inmates can CECOT hold? \ufffd\ufffd",
         raw=b"How many inmates can CECOT hold? \xff\xfe\xc3", fact="40,000"),
    Case("rtl_and_emoji", "\u200fكم سجينا يتسع 🤔 How many inmates can CECOT hold? 🙏 \u202eעברית", fact="40,000"),
    Case("rtl_only", "ما هي عاصمة فرنسا؟", fact=None),
    Case("long_100kb", LONG, fact="40,000"),
    # context pasted first, the question after it: the part kept is the one the question ends
    Case("long_preamble", "I read a story about a government trip abroad and want to check a few details. " * 40 + NORMAL,
         fact="40,000"),
]
ERRORS = [c for c in CASES if c.error]
ANSWERS = [c for c in CASES if not c.error]


def test_the_long_case_is_100_kb():
    assert len(LONG.encode("utf-8")) >= 100_000


def _check_answer(case: Case, answer: str, refused: bool, citations: list[dict], texts: dict[str, str]) -> None:
    if case.fact is None:
        assert refused and answer == REFUSAL, (case.id, answer)
        return
    assert not refused and case.fact in answer and "[1]" in answer, (case.id, answer)
    for c in citations:
        assert texts[c["doc"]][c["start"] : c["end"]] == c["quote"]


# --- Python API -----------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_python_api(pipeline, case):
    t0 = time.perf_counter()
    if case.error:
        with pytest.raises(InvalidQuestion, match=case.error):
            pipeline.ask(case.raw if case.raw is not None else case.question)
    else:
        a = pipeline.ask(case.raw if case.raw is not None else case.question)
        texts = {d: pipeline.corpus_text(d) for d in pipeline.status()["titles"]}
        _check_answer(case, a.text, a.refused, [c.to_dict() for c in a.citations], texts)
        assert len(a.question) <= pipeline.config.answering.max_question_chars
    assert time.perf_counter() - t0 < BOUND_S


# --- the `rag` command --------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("robust-cli")
    make_corpus(d)
    return d


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for var in ("RAG_HOME", "RAG_CORPUS", "RAG_CHROMA_URL", "RAG_MODE"):
        env.pop(var, None)
    return env


@pytest.mark.parametrize("case", ERRORS + [Case("non_utf8_only", "", raw=b"\xff\xfe\xc3\x28", error="no words")],
                         ids=lambda c: c.id)
def test_cli_ask_rejects_with_exit_2_and_no_traceback(workdir, case):
    # argv cannot hold NUL: the C string ends there; the control_only case sends the rest.
    arg = case.raw if case.raw is not None else case.question.replace("\x00", "").encode("utf-8")
    t0 = time.perf_counter()
    r = subprocess.run([os.fsencode(sys.executable), b"-m", b"rag.cli", b"ask", arg], cwd=workdir,
                       capture_output=True, timeout=120, env=_env())
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2, err
    assert err.startswith("error:") and re.search(case.error or "", err) and "Traceback" not in err
    assert r.stdout == b""
    assert time.perf_counter() - t0 < BOUND_S  # rejected before the model or the index loads


@pytest.mark.slow
def test_cli_chat_answers_each_odd_line_from_stdin_bytes(workdir):
    """One `rag chat` fed every answerable case as raw stdin bytes (NUL and invalid
    UTF-8 included), then the error cases, then a normal question."""
    # /reset between lines: each is a new conversation, not a follow-up of the last.
    lines = [c.raw if c.raw is not None else c.question.encode("utf-8") for c in ANSWERS]
    lines += [c.question.encode("utf-8") for c in ERRORS if c.question.strip()]
    lines.append(NORMAL.encode())
    lines = [part for line in lines for part in (line, b"/reset")]
    # Strict decoding, as under a UTF-8 locale on a user's machine (CI's C locale is lenient).
    env = {**_env(), "PYTHONIOENCODING": "utf-8:strict"}
    r = subprocess.run([sys.executable, "-m", "rag.cli", "chat", "--json"], cwd=workdir,
                       input=b"\n".join(lines) + b"\n", capture_output=True, timeout=600, env=env)
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0 and "Traceback" not in err, err[-2000:]
    out = r.stdout.decode("utf-8")
    answers, at, dec = [], 0, json.JSONDecoder()
    while (at := out.find("{", at)) != -1:
        d, at = dec.raw_decode(out, at)
        answers.append(d)
    assert len(answers) == len(ANSWERS) + 1
    text = (workdir / "corpus" / DOC).read_text(encoding="utf-8")
    for case, d in zip(ANSWERS, answers):
        _check_answer(case, d["answer"], d["refused"], d["citations"], {DOC: text})
    assert "40,000" in answers[-1]["answer"]
    rejected = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(rejected) == len([c for c in ERRORS if c.question.strip()])
    for case, line in zip([c for c in ERRORS if c.question.strip()], rejected):
        assert re.search(case.error or "", line), (case.id, line)


# --- the web API of a real `rag serve` --------------------------------------------------------


def _raw_post(url: str, body: bytes) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=BOUND_S) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.server
def test_web_api_battery_then_a_normal_question(served):
    from gradio_client import Client

    client = Client(served["url"], verbose=False)
    texts = {p.name: p.read_text(encoding="utf-8") for p in served["corpus"].iterdir() if p.suffix in (".txt", ".md")}
    for case in CASES:
        t0 = time.perf_counter()
        if case.error:
            with pytest.raises(Exception, match="invalid question: .*" + case.error):
                client.predict(case.wire, [], api_name="/ask")
        else:
            # A JSON client cannot send undecodable bytes (they are not text): it sends
            # what a browser would, the replacement characters. Raw bytes: see below.
            d = client.predict(case.question, [], api_name="/ask")
            _check_answer(case, d["answer"], d["refused"], d["citations"], texts)
        assert time.perf_counter() - t0 < BOUND_S, case.id
    status, body = _raw_post(served["url"] + "gradio_api/call/ask",
                             b'{"data": ["How many inmates can CECOT hold? \xff\xfe\xc3", []]}')
    # Undecodable bytes on the wire: refused as a bad request before reaching the pipeline.
    assert status == 400 and b"error parsing the body" in body, (status, body[:300])
    # Bad history items are input too.
    d = client.predict(NORMAL, ["", "\x00", "?!"], api_name="/ask")
    assert "40,000" in d["answer"]
    assert served["proc"].poll() is None  # still running...
    d = Client(served["url"], verbose=False).predict(NORMAL, [], api_name="/ask")  # ...and serving
    assert "40,000" in d["answer"] and d["citations"]
    assert "Traceback" not in served["log"].read_text(encoding="utf-8", errors="replace")


# --- history and configuration (issue 18, items 9 and 10) -----------------------------------


@pytest.mark.parametrize("history,message", [
    (7, "history must be a list of earlier questions or turns, not a number"),
    ("Who runs it?", "history must be a list of earlier questions or turns, not text"),
    ([{"question": 5, "answer": "x"}], "history item 0"),
    ([{"role": "user", "content": 7}], "history item 0: 'content' must be text"),
    ([{"role": "wizard", "content": "hi"}], "'role' must be 'user' or 'assistant'"),
    ([3.5], "history item 0"),
], ids=["int", "string", "dict_non_string", "message_non_string", "bad_role", "float_item"])
def test_wrong_typed_history_is_a_clear_error_not_a_traceback(pipeline, history, message):
    with pytest.raises(InvalidQuestion, match=re.escape(message)):
        pipeline.ask(NORMAL, history=history)
    assert "40,000" in pipeline.ask(NORMAL, history=[]).text  # and the pipeline still answers


@pytest.mark.parametrize("var,value,expected", [
    ("RAG_MODE", "bogus", "RAG_MODE='bogus' is not allowed; use one of: extractive, llm"),
    ("RAG_EMBED_BACKEND", "bogus",
     "RAG_EMBED_BACKEND='bogus' is not allowed; use one of: auto, sentence-transformers, onnx"),
    ("RAG_LLM_BACKEND", "bogus", "RAG_LLM_BACKEND='bogus' is not allowed; use one of: openai-like, llama-cpp"),
    ("RAG_HOME", "FILE", "RAG_HOME='{file}' is a file; it must name a folder for the index"),
], ids=["mode", "embed_backend", "llm_backend", "home_is_a_file"])
@pytest.mark.parametrize("command", ["ask", "index"])
def test_a_configuration_mistake_is_one_line_naming_the_variable_with_exit_2(workdir, tmp_path, var, value, expected,
                                                                            command):
    if value == "FILE":
        value = str(tmp_path / "not-a-folder")
        (tmp_path / "not-a-folder").write_text("x")
    before = sorted(p.name for p in workdir.iterdir())
    argv = [sys.executable, "-m", "rag.cli", command] + ([NORMAL] if command == "ask" else [])
    r = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=120, env={**_env(), var: value})
    assert r.returncode == 2, r.stderr
    assert r.stderr == "error: " + expected.format(file=value) + "\n" and r.stdout == ""
    assert sorted(p.name for p in workdir.iterdir()) == before  # nothing created, nothing lost
