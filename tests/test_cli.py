"""The `rag` command as a user runs it: a fresh process, exit codes, output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import make_corpus


def rag(*args: str, cwd: Path, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("RAG_HOME", "RAG_CHROMA_URL")}
    env = {**base, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args],
        cwd=cwd, input=input, capture_output=True, text=True, timeout=300, env=env,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    make_corpus(d)
    return d


@pytest.mark.slow
def test_index_then_ask_then_json(workdir):
    r = rag("index", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "1 document, " in r.stdout and "embedded" in r.stdout
    again = rag("index", cwd=workdir)
    assert "embedded 0 vectors" in again.stdout

    r = rag("ask", "How many inmates can CECOT hold?", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert "40,000" in r.stdout and "[1]" in r.stdout and "Sources:" in r.stdout

    r = rag("ask", "What is his job title?", "--history", "Who accompanied Noem on the tour?", "--json", cwd=workdir)
    d = json.loads(r.stdout)
    assert "Villatoro" in d["rewritten_query"] and "Minister of Justice" in d["answer"]

    r = rag("ask", "How many inmates can CECOT hold, and what is Noem's salary?", cwd=workdir)
    assert "40,000" in r.stdout and '(Not in the documents: "what is Noem\'s salary?")' in r.stdout

    # A long paste: stderr says what was asked of it (its last question, else its end).
    r = rag("ask", "Some context here. " * 120 + "How many inmates can CECOT hold?", cwd=workdir)
    assert r.returncode == 0 and "only its last question was asked: 'How many inmates" in r.stderr
    r = rag("ask", "inmates " * 400, cwd=workdir)
    assert r.returncode == 0 and "only its last 2,000 characters were asked" in r.stderr


@pytest.mark.slow
def test_ask_after_index_imports_no_torch(workdir):
    """`rag index` leaves the ONNX encoder behind, so `rag ask` never imports the
    ~10 s of torch / sentence-transformers / transformers / llama_index.core."""
    assert rag("index", cwd=workdir).returncode == 0
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_HOME", "RAG_CHROMA_URL")}
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "rag.cli", "ask", "When did CECOT open?"],
                       cwd=workdir, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "2022" in r.stdout
    imported = {line.split("|")[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}
    heavy = {"torch", "sentence_transformers", "transformers", "llama_index.core"} & imported
    assert not heavy


@pytest.mark.slow
def test_chat_keeps_history(workdir):
    r = rag("chat", cwd=workdir, input="Who accompanied Noem on the tour?\n/help\n/hepl\nWhat is his job title?\nquit\nHow many?\n")
    assert r.returncode == 0, r.stderr
    assert "Minister of Justice" in r.stdout
    assert "searched for: What is Héctor Gustavo Villatoro's job title?" in r.stdout
    # Commands are not questions, piped or typed: /help answers, a typo is named.
    assert "/reset forgets the conversation" in r.stdout
    assert "unknown command /hepl" in r.stderr
    assert r.stdout.count("Sources:") == 2  # two answers: the commands were not asked, "quit" left
    # Piped, each answer follows the question it answers.
    assert r.stdout.index("> Who accompanied Noem on the tour?") < r.stdout.index("Minister of Justice")
    assert r.stdout.index("Minister of Justice") < r.stdout.index("> What is his job title?")


def test_top_k_below_one_exits_2(workdir):
    r = rag("ask", "How many inmates can CECOT hold?", "--top-k", "0", cwd=workdir)
    assert r.returncode == 2 and "--top-k: must be at least 1, got 0" in r.stderr


def test_an_answer_from_table_rows_prints_a_row_per_line(tmp_path):
    from .conftest import ROOT

    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "hostel-rules.md").write_bytes((ROOT / "tests" / "data" / "hostel-rules.md").read_bytes())
    r = rag("ask", "how much is the family room", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    body = r.stdout.split("\n\n")[1]  # after the bold phrase, before the sources
    assert body.splitlines() == ["Room type | Price per night | Breakfast included [1]", "Family room | 90 euros | yes [2]"]


@pytest.mark.parametrize("question", ["", "   ", "?!"])
def test_bad_question_exits_2_without_traceback(workdir, question):
    r = rag("ask", question, cwd=workdir)
    assert r.returncode == 2
    assert r.stderr.startswith("error:") and "Traceback" not in r.stderr


def test_unreadable_corpus_exits_2(tmp_path):
    r = rag("ask", "anything?", "--corpus", str(tmp_path / "missing"), "--home", str(tmp_path / "home"), cwd=tmp_path)
    assert r.returncode == 2 and "corpus folder not found" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "home").exists()  # no index folder (nor its lock) for a corpus that is not there


@pytest.mark.parametrize("args, says", [
    (["ask", "anything?", "--bogus"], "rag ask: error: unrecognized arguments: --bogus"),  # the command's usage
    (["serve", "--port", "99999"], "a port is at most 65535, got 99999"),  # it used to serve on a random port
    (["serve", "--workers", "0"], "must be at least 1, got 0"),
])
def test_a_bad_option_exits_2_naming_it(tmp_path, args, says):
    r = rag(*args, cwd=tmp_path)
    assert r.returncode == 2 and says in r.stderr, r.stderr


def test_help_is_instant_and_lists_commands(tmp_path):
    r = rag("--help", cwd=tmp_path)
    assert r.returncode == 0
    for cmd in ("index", "ask", "chat", "eval", "serve"):
        assert cmd in r.stdout


def test_empty_corpus_is_a_clear_error_not_a_silent_refusal(tmp_path):
    (tmp_path / "corpus").mkdir()
    r = rag("ask", "How many inmates can CECOT hold?", cwd=tmp_path)
    assert r.returncode == 2 and "no .txt or .md documents" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("var, value, says", [
    ("RAG_MODE", "bogus", "RAG_MODE='bogus' is not allowed; use one of: extractive, llm"),
    ("RAG_EMBED_BACKEND", "bogus", "RAG_EMBED_BACKEND='bogus' is not allowed"),
    ("RAG_HOME", "afile", "RAG_HOME='afile' is a file"),
])
def test_a_configuration_mistake_is_one_line_and_exit_2(tmp_path, var, value, says):
    (tmp_path / "afile").write_text("x")
    r = rag("ask", "anything?", cwd=tmp_path, env={var: value})
    assert r.returncode == 2 and says in r.stderr, r.stderr
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


CLUB = """# Harbour Rowing Club Handbook

## About the club

The club was founded in 1987 and owns **twelve
boats**, kept in the boathouse on the east quay.
"""


@pytest.mark.slow
def test_markdown_reads_plainly_in_the_answer_and_keeps_its_title(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "club.md").write_text(CLUB, encoding="utf-8")
    r = rag("ask", "how many boats does the club own?", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    answer, sources = r.stdout.split("\nSources:\n")
    lead, body = answer.split("\n\n", 1)
    assert lead == "**twelve boats** [1]"  # the phrase in bold (piped: as Markdown), not nested in its own markers
    assert "owns twelve boats, kept" in body and "**" not in body  # markers dropped, lines joined
    quote = sources.split("\u201c", 1)[1]
    assert quote.startswith("The club was founded in 1987 and owns **twelve\n       boats**")  # exact, lines kept under the first
    d = json.loads(rag("ask", "how many boats does the club own?", "--json", cwd=tmp_path).stdout)
    c = d["citations"][0]
    assert CLUB[c["start"] : c["end"]] == c["quote"] and "**twelve\nboats**" in c["quote"]
    from rag import Config, Pipeline

    docs = Pipeline.load(Config().with_(corpus_dir=tmp_path / "corpus", home=tmp_path / ".rag")).documents()
    assert docs[0]["title"] == "Harbour Rowing Club Handbook"  # the document's title, not its first subheading
