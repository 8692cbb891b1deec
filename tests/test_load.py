"""Load: 32 concurrent sessions × 10 questions against a real `rag serve` on loopback, through
the chat's Gradio API and the JSON API; every answer correct and cited, zero errors
(benchmarks/load.py reports the latency of the same kind of run in benchmarks/RESULTS.md)."""

from __future__ import annotations

import pytest

from benchmarks.load import QUESTIONS, render_section, run_level, write_section


def _texts(served):
    return {p.name: p.read_text(encoding="utf-8") for p in served["corpus"].iterdir() if p.suffix in (".txt", ".md")}


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.parametrize("target", ["chat", "api"])
def test_32_sessions_x_10_questions_all_correct_and_cited(served, target):
    res = run_level(served["url"], target, 32, _texts(served), questions=10, timeout_s=300,
                    server_pid=served["proc"].pid)
    assert res["requests"] == 320
    assert res["errors"] == 0, res["failures"]
    assert res["correct_and_cited"] == 320
    assert 0 < res["p50_ms"] <= res["p95_ms"] <= res["p99_ms"] <= res["max_ms"]
    assert res["server_cpu_ms_per_req"] > 0 and res["client_cpu_ms_per_req"] > 0
    assert served["proc"].poll() is None


@pytest.mark.server
def test_the_load_checks_can_fail(served):
    """run_level must count a wrong answer: with a fact no answer states, every request fails."""
    import benchmarks.load as load

    texts = _texts(served)
    real = list(load.QUESTIONS)
    try:
        load.QUESTIONS[:] = [(q, "a fact no answer states") for q, _ in real[:2]]
        for target in ("chat", "api"):
            res = run_level(served["url"], target, 2, texts, questions=2, timeout_s=60)
            assert res["errors"] == 4 and all("wrong answer" in f["error"] for f in res["failures"])
    finally:
        load.QUESTIONS[:] = real
    bad_texts = {k: "x" * len(v) for k, v in texts.items()}  # citations no longer slice back
    res = run_level(served["url"], "api", 1, bad_texts, questions=2, timeout_s=60)
    assert res["errors"] == 2 and all("does not slice back" in f["error"] for f in res["failures"])
    # A server that is not there is an error per request, not a crash of the client.
    res = run_level("http://127.0.0.1:9/", "api", 1, texts, questions=2, timeout_s=5)
    assert res["errors"] == 2
    assert len(QUESTIONS) == 10


def test_results_section_is_replaced_not_appended(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmarks\n\n## 1. Other\n\nkept\n", encoding="utf-8")
    run = {"workers": 1, "target": "api", "sessions": 32, "requests": 320, "correct_and_cited": 320, "errors": 0,
           "offered_qps": 80.0, "achieved_qps": 80.0, "p50_ms": 100.0, "p95_ms": 200.0, "p99_ms": 250.0,
           "max_ms": 300.0, "client_cpu_cores": 0.1, "server_cpu_cores": 1.0, "server_cpu_ms_per_req": 12.0,
           "load_before": "1.00 1.00 1.00", "load_after": "1.00 1.00 1.00"}
    res = {"when": "then", "command": "python -m benchmarks.load", "machine": "here", "seconds": 10, "warmup": 1,
           "load_before": "1", "load_after": "1", "runs": [run]}
    write_section(path, render_section(res))
    write_section(path, render_section({**res, "runs": [{**run, "p95_ms": 777.0}]}))
    text = path.read_text(encoding="utf-8")
    assert text.count("## Serving") == 1 and "| 777.0 |" in text and "kept" in text
    assert "p95 777.0 ms, 0 errors, **not met**" in text
