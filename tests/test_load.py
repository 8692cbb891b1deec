"""Load: 32 concurrent gradio_client sessions × 10 questions against a real `rag serve`
on loopback; every answer correct and cited, zero errors (benchmarks/load.py reports
the same run's latency in benchmarks/RESULTS.md)."""

from __future__ import annotations

import pytest

from benchmarks.load import QUESTIONS, render_section, run_load, write_section


@pytest.mark.slow
@pytest.mark.server
def test_32_sessions_x_10_questions_all_correct_and_cited(served):
    texts = {p.name: p.read_text(encoding="utf-8") for p in served["corpus"].iterdir() if p.suffix in (".txt", ".md")}
    res = run_load(served["url"], texts, sessions=32, questions=10, timeout_s=300)
    assert res["requests"] == 320
    assert res["errors"] == 0, res["failures"]
    assert res["correct_and_cited"] == 320
    assert 0 < res["p50_ms"] <= res["p95_ms"] <= res["max_ms"]
    assert served["proc"].poll() is None


def test_the_load_checks_can_fail(served):
    """run_load must count a wrong answer: with a fact no answer states, every request fails."""
    import benchmarks.load as load

    texts = {p.name: p.read_text(encoding="utf-8") for p in served["corpus"].iterdir() if p.suffix in (".txt", ".md")}
    real = list(load.QUESTIONS)
    try:
        load.QUESTIONS[:] = [(q, "a fact no answer states") for q, _ in real[:2]]
        res = run_load(served["url"], texts, sessions=2, questions=2, timeout_s=60)
    finally:
        load.QUESTIONS[:] = real
    assert res["errors"] == 4 and all("wrong answer" in f["error"] for f in res["failures"])
    bad_texts = {k: "x" * len(v) for k, v in texts.items()}  # citations no longer slice back
    res = run_load(served["url"], bad_texts, sessions=1, questions=2, timeout_s=60)
    assert res["errors"] == 2 and all("does not slice back" in f["error"] for f in res["failures"])
    assert len(QUESTIONS) == 10


def test_results_section_is_replaced_not_appended(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmarks\n\n## 1. Other\n\nkept\n", encoding="utf-8")
    res = {"sessions": 32, "questions_per_session": 10, "requests": 320, "correct_and_cited": 320, "errors": 0,
           "p50_ms": 100.0, "p95_ms": 200.0, "max_ms": 300.0, "wall_s": 30.0, "throughput_qps": 10.7}
    write_section(path, render_section(res, "then", "here"))
    write_section(path, render_section({**res, "p50_ms": 111.0}, "now", "here"))
    text = path.read_text(encoding="utf-8")
    assert text.count("## Load: 32 sessions × 10 questions") == 1 and "| 111.0 |" in text and "kept" in text
