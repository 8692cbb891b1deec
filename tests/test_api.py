"""The JSON API (ui/api.py) on a real `rag serve`, called over HTTP as a program would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from rag import REFUSAL

from .conftest import DOC, free_port, make_corpus, stop, wait_for_http

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def api(served):
    """The session's `rag serve` (tests/conftest.py) and an HTTP client for it."""
    with httpx.Client(base_url=served["url"], timeout=60) as client:
        yield {**served, "client": client}


def _assert_error(r: httpx.Response, *words: str) -> str:
    """A 400 with one JSON field, ``error``, naming the problem; never a traceback."""
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str)
    assert "Traceback" not in r.text and 'File "' not in r.text
    for w in words:
        assert w in body["error"], body["error"]
    return body["error"]


def _sse(text: str) -> list[tuple[str, dict]]:
    """(event, data) pairs of a server-sent event stream."""
    out = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def test_ask_returns_the_documented_answer(api):
    r = api["client"].post("/api/ask", json={"question": "How many inmates can CECOT hold?"})
    assert r.status_code == 200
    d = r.json()
    assert set(d) >= {"question", "answer", "refused", "citations", "related", "answer_span",
                      "rewritten_query", "mode", "timings_ms"}
    assert not d["refused"] and "40,000" in d["answer"] and "[1]" in d["answer"]
    text = (api["corpus"] / DOC).read_text(encoding="utf-8")
    for c in d["citations"]:
        assert set(c) == {"n", "doc", "section", "start", "end", "quote"}
        assert text[c["start"] : c["end"]] == c["quote"]
    # The same JSON as Answer.to_dict(): the OpenAPI schema lists exactly these fields.
    schema = api["client"].get("/openapi.json").json()["components"]["schemas"]["AnswerDict"]
    assert set(d) <= set(schema["properties"])


def test_follow_up_with_history_and_refusal(api):
    c = api["client"]
    d = c.post("/api/ask", json={"question": "What is his job title?",
                                 "history": ["Who accompanied Noem on the tour?"]}).json()
    assert "Minister of Justice" in d["answer"]
    turn = {"question": "Who accompanied Noem on the tour?", "answer": d["answer"],
            "cited": [[x["doc"], x["start"], x["end"]] for x in d["citations"]]}
    assert c.post("/api/ask", json={"question": "What is his job title?", "history": [turn]}).status_code == 200
    no = c.post("/api/ask", json={"question": "What is the capital of France?"}).json()
    assert no["refused"] and no["answer"] == REFUSAL and no["citations"] == [] and no.get("notes") is None
    half = c.post("/api/ask", json={"question": "How many inmates can CECOT hold, and what is Noem's salary?"}).json()
    assert "40,000" in half["answer"] and half["notes"] == ['Not in the documents: "what is Noem\'s salary?"']


@pytest.mark.parametrize(
    "body, words",
    [
        ({"question": ""}, ["empty"]),
        ({"question": "   \n\t "}, ["empty"]),
        ({"question": "?!… 🙂"}, ["no words"]),
        ({"question": "\x00\x01"}, ["empty"]),
        ({"question": 42}, ["must be text", "number"]),
        ({"question": None}, ["must be text", "null"]),
        ({"question": ["How many inmates?"]}, ["must be text", "list"]),
        ({"question": {"text": "hi"}}, ["must be text", "object"]),
        ({}, ["question", "required"]),
        ({"question": "Who runs it?", "history": "Who runs it?"}, ["history must be a list"]),
        ({"question": "Who runs it?", "history": [{"role": "robot", "content": "x"}]}, ["history item 0", "role"]),
        ({"question": "Who runs it?", "history": [{"question": "q", "cited": [["a.txt", "1", 2]]}]}, ["cited"]),
        ({"question": "Who runs it?", "history": [7]}, ["history item 0"]),
        ({"question": "Who runs it?", "history": [{"role": "user"}]}, ["history item 0", "content"]),
        ({"question": "Who runs it?", "history": [{"question": "q", "cited": [["a.txt", -5, 99]]}]}, ["start < end"]),
        ({"question": "Who runs it?", "history": [{"question": "q", "cited": [["a.txt", 9, 9]]}]}, ["start < end"]),
        ({"question": "Who runs it?", "top_k": 0}, ["top_k"]),
        ({"question": "Who runs it?", "top_k": True}, ["top_k"]),  # JSON true is not 1
        ({"question": "Who runs it?", "top_k": "3"}, ["top_k"]),
        ({"question": "Who runs it?", "mode": "oracle"}, ["mode"]),
    ],
)
def test_bad_input_is_a_400_with_the_cli_message(api, body, words):
    msg = _assert_error(api["client"].post("/api/ask", json=body), *words)
    # The stream refuses the same way, before any event is sent.
    assert _assert_error(api["client"].post("/api/ask/stream", json=body)) == msg


def test_oversized_and_malformed_bodies(api):
    c = api["client"]
    _assert_error(c.post("/api/ask", json={"question": "How many inmates? " * 200}), "longer than 2000 characters")
    _assert_error(c.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"}), "not valid JSON")
    _assert_error(c.post("/api/ask", content=b"[1, 2]", headers={"content-type": "application/json"}), "a JSON object")
    _assert_error(c.post("/api/ask"), "JSON body")
    # Valid JSON sent as a form (curl -d without -H): the header is what is wrong, and the error says so.
    _assert_error(c.post("/api/ask", content=b'{"question": "hi"}',
                         headers={"content-type": "application/x-www-form-urlencoded"}), "Content-Type: application/json")
    # Questions the CLI accepts are accepted here too (the CLI's own check agrees).
    from rag.pipeline import clean_question

    assert clean_question("How many inmates can CECOT hold?", 2000)
    assert c.post("/api/ask", json={"question": "x" * 2000}).status_code == 200


def test_stream_yields_sentences_then_the_answer(api):
    r = api["client"].post("/api/ask/stream", json={"question": "Who accompanied Noem on the tour?"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _sse(r.text)
    kinds = [e for e, _ in events]
    assert kinds[-1] == "answer" and kinds[:-1] == ["sentence"] * (len(kinds) - 1) and len(kinds) >= 2
    answer = events[-1][1]
    pieces = [d["text"] for _, d in events[:-1]]
    assert all("[" in p for p in pieces)  # each sentence carries its citation
    assert " ".join(p.strip() for p in pieces) == answer["answer"]
    text = (api["corpus"] / DOC).read_text(encoding="utf-8")
    assert answer["citations"] and all(text[c["start"] : c["end"]] == c["quote"] for c in answer["citations"])


def test_health_documents_and_docs(api):
    c = api["client"]
    h = c.get("/api/health").json()
    assert h["status"] == "ok" and h["documents"] == 2 and h["sentences"] > 20 and h["worker"] > 0
    docs = c.get("/api/documents").json()
    assert [d["id"] for d in docs] == sorted(p.name for p in api["corpus"].iterdir() if p.suffix in (".txt", ".md"))
    text = (api["corpus"] / DOC).read_text(encoding="utf-8")
    assert next(d for d in docs if d["id"] == DOC)["characters"] == len(text)
    page = c.get("/docs")
    assert page.status_code == 200
    # Offline: Swagger UI's script and style come from this server, not from a CDN.
    assert "cdn.jsdelivr.net" not in page.text and "unpkg.com" not in page.text
    assets = [a for a in page.text.split('"') if a.endswith((".js", ".css"))]
    assert len(assets) >= 2 and all(c.get(a).status_code == 200 for a in assets), assets
    paths = c.get("/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/ask/stream", "/api/health", "/api/documents"} <= set(paths)
    # Bad input is documented as it is answered: a 400, not FastAPI's 422.
    assert "400" in paths["/api/ask"]["post"]["responses"]
    assert not [p for p, ops in paths.items() for op in ops.values() if "422" in op.get("responses", {})]
    # The chat is on the same server.
    assert c.get("/").status_code == 200 and "gradio" in c.get("/").text.lower()


def test_unknown_route_and_method(api):
    c = api["client"]
    # An unknown path under /api is the API's 404, in the API's error shape, naming what there is.
    for r in (c.get("/api/nothing-here"), c.post("/api/ask/more", json={"question": "x"})):
        assert r.status_code == 404 and set(r.json()) == {"error"}
        assert "/api/nothing-here" in r.json()["error"] or "/api/ask/more" in r.json()["error"]
        assert "POST /api/ask" in r.json()["error"]
    # Paths outside /api fall through to the chat's app, which has no such page.
    r = c.get("/nothing-here")
    assert r.status_code == 404 and "Traceback" not in r.text
    # The API's own paths with the wrong method: a 405 in the API's error shape.
    for r in (c.get("/api/ask"), c.delete("/api/ask/stream")):
        assert r.status_code == 405 and r.headers["allow"] == "POST"
        assert set(r.json()) == {"error"} and "POST" in r.json()["error"]


def test_llm_mode_on_a_server_without_an_llm_is_a_503_that_says_why(api):
    r = api["client"].post("/api/ask", json={"question": "When did CECOT open?", "mode": "llm"})
    assert r.status_code == 503 and set(r.json()) == {"error"}
    assert "RAG_LLM_BASE_URL" in r.json()["error"] and "Traceback" not in r.text
    # The extractive mode still answers.
    assert api["client"].post("/api/ask", json={"question": "When did CECOT open?"}).status_code == 200


# --- replicas: two workers while the index changes ------------------------------------------------


def _notes(version: int) -> str:
    filler = "The museum has a garden. " * version  # shifts the offsets
    return f"# Museum notes\n\n{filler}A museum ticket costs {10 + version} dollars at the gate.\n"


@pytest.mark.slow
@pytest.mark.parametrize("replicas", ["workers", "servers-over-chroma-run"])
def test_replicas_answer_during_rag_index_without_a_mixed_read(tmp_path, replicas, request):
    """Replicas serving while `rag index` runs from outside: every response comes from the
    old index or the new one (document count 2 or 3; each answer's citations slice to
    their quotes in one version of the file, whose fact it states), never a mix, never an error.

    ``workers``: one `rag serve --workers 2` over the embedded index. ``servers-over-chroma-run``:
    two separate `rag serve` processes on their own ports sharing one index folder
    (manifest, BM25, texts) and one `chroma run` server for the vectors."""
    corpus = make_corpus(tmp_path)
    notes = corpus / "notes.md"
    versions = [_notes(0), _notes(1)]
    notes.write_text(versions[0], encoding="utf-8")
    article = (corpus / DOC).read_text(encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_HOME", "RAG_CORPUS", "RAG_CHROMA_URL", "RAG_MODE")}
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    if replicas == "servers-over-chroma-run":
        env["RAG_CHROMA_URL"] = request.getfixturevalue("chroma_server")
    index = [sys.executable, "-m", "rag.cli", "index", "--corpus", str(corpus), "--home", str(tmp_path / ".rag")]
    assert subprocess.run(index, env=env, capture_output=True, text=True, timeout=600).returncode == 0
    serve = [sys.executable, "-m", "rag.cli", "serve", "--corpus", str(corpus), "--home", str(tmp_path / ".rag")]
    ports = [free_port()] if replicas == "workers" else [free_port(), free_port()]
    procs = [
        subprocess.Popen([*serve, "--port", str(port), "--workers", "2" if replicas == "workers" else "1"],
                         cwd=tmp_path, env=env, stdout=open(tmp_path / f"serve-{port}.log", "w"), stderr=subprocess.STDOUT)
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    stop_readers, errors, seen_docs, seen_facts, workers = threading.Event(), [], [], [], set()

    def reader(url: str) -> None:
        # A new connection per request, so the kernel spreads them over both workers.
        with httpx.Client(base_url=url, timeout=60, headers={"Connection": "close"}) as c:
            while not stop_readers.is_set():
                try:
                    docs = c.get("/api/documents")
                    h = c.get("/api/health").json()
                    r = c.post("/api/ask", json={"question": "How much does a museum ticket cost?"})
                    art = c.post("/api/ask", json={"question": "How many inmates can CECOT hold?"})
                except httpx.HTTPError as exc:
                    errors.append(repr(exc))
                    continue
                workers.add(h["worker"])
                if docs.status_code != 200 or r.status_code != 200 or art.status_code != 200:
                    errors.append(f"HTTP {docs.status_code}/{r.status_code}/{art.status_code}: {r.text[:200]}")
                    continue
                seen_docs.append(len(docs.json()))
                if h["documents"] not in (2, 3):
                    errors.append(f"health saw {h['documents']} documents")
                a = art.json()
                if "40,000" not in a["answer"] or not all(article[x["start"] : x["end"]] == x["quote"] for x in a["citations"]):
                    errors.append(f"article answer changed: {a['answer'][:120]!r}")
                d = r.json()
                cited = [x for x in d["citations"] if x["doc"] == "notes.md"]
                fits = [v for v, t in enumerate(versions) if all(t[x["start"] : x["end"]] == x["quote"] for x in cited)]
                if d["refused"] or not cited or not fits:
                    errors.append(f"notes answer cites no one version: {d['answer'][:120]!r} {cited}")
                elif not any(f"{10 + v} dollars" in d["answer"] for v in fits):
                    errors.append(f"answer {d['answer']!r} is not the fact of the version it cites")
                else:
                    seen_facts.append(next(v for v in fits if f"{10 + v} dollars" in d["answer"]))

    threads = [threading.Thread(target=reader, args=(urls[i % len(urls)],)) for i in range(4)]
    try:
        for url, proc in zip(urls, procs):
            wait_for_http(url + "/api/health", proc, 300, f"rag serve ({replicas})")
        # Both workers up (each listens once warm): each request is a new connection.
        deadline = time.time() + 120
        while len({httpx.get(u + "/api/health", headers={"Connection": "close"}).json()["worker"]
                   for u in urls for _ in range(8)}) < 2:
            assert time.time() < deadline, "the second replica never answered"
            time.sleep(1)
        for t in threads:
            t.start()
        time.sleep(3)
        notes.write_text(versions[1], encoding="utf-8")
        (corpus / "extra.md").write_text("# Extra\n\nThe garden opens at nine in the morning.\n", encoding="utf-8")
        r = subprocess.run(index, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        deadline = time.time() + 30
        while time.time() < deadline and seen_docs[-8:].count(3) < 8:
            time.sleep(0.5)
        time.sleep(2)
    finally:
        stop_readers.set()
        for t in threads:
            t.join(timeout=120)
        for proc in procs:
            stop(proc)
    assert errors == [], errors[:5]
    assert set(seen_docs) == {2, 3} and seen_docs[-1] == 3, sorted(set(seen_docs))
    assert set(seen_facts) == {0, 1} and seen_facts[-1] == 1
    assert len(workers) == 2, workers  # both replicas answered
