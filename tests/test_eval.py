"""`rag eval`: the gate passes on the real pipeline and fails on ungrounded answers."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from evals.runner import evaluate, gate_failures, load_dataset, validate_checker
from rag.types import Answer, Citation

from .conftest import DOC, make_corpus

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = tomllib.loads((ROOT / "evals" / "thresholds.toml").read_text(encoding="utf-8"))


def test_every_gold_span_slices_to_its_quote(article_text):
    items = load_dataset(ROOT / "evals" / "dataset.jsonl", {DOC: article_text})
    assert len(items) >= 60
    assert sum(not it["answerable"] for it in items) >= 15
    cats = {it["category"] for it in items}
    assert {"factoid", "attribution", "two_sentence", "paraphrase", "false_premise", "follow_up", "unanswerable"} <= cats
    assert any(it["history"] for it in items)


@dataclass
class ScriptedPipe:
    """Answers from a script, without the answer-time gate, to prove the eval catches them."""

    real: object
    script: dict[str, Answer]
    checker: object = field(init=False)

    def __post_init__(self):
        self.checker = self.real.checker

    def ask(self, question, history=()):
        return self.script[question]

    def retrieve(self, query, k=5, reranked=True):
        return self.real.retrieve(query, k, reranked=reranked)

    def corpus_text(self, doc):
        return self.real.corpus_text(doc)


def _cite(pipeline, n, needle):
    text = pipeline.corpus_text(DOC)
    row = next(r for r in pipeline.table.by_doc[DOC] if needle in pipeline.table.text(r))
    return Citation(n, DOC, row.section, row.start, row.end, text[row.start : row.end])


def test_the_gate_fails_on_ungrounded_answers(pipeline):
    items = [it for it in load_dataset(ROOT / "evals" / "dataset.jsonl") if it["id"] in ("f04", "f06")]
    capacity = _cite(pipeline, 1, "40,000 inmates")
    trip = _cite(pipeline, 1, "Colombia and Mexico")
    script = {
        # a wrong number with a real citation
        items[0]["question"]: Answer(items[0]["question"], "CECOT can hold up to 50,000 inmates. [1]", False, [capacity]),
        # a real sentence cited to the wrong passage
        items[1]["question"]: Answer(items[1]["question"], trip.quote + " [1]", False, [capacity]),
    }
    result = evaluate(ScriptedPipe(pipeline, script), items, progress=False)
    result["checker"] = {"missed_swaps": 0}
    assert result["aggregate"]["unsupported_sentences"] == 2
    assert result["aggregate"]["groundedness"] == 0.0
    fails = gate_failures(result, THRESHOLDS)
    assert any("not supported" in f for f in fails)
    assert any(f.startswith("groundedness") for f in fails)


def test_a_citation_that_does_not_slice_to_its_quote_fails(pipeline):
    (item,) = [it for it in load_dataset(ROOT / "evals" / "dataset.jsonl") if it["id"] == "f04"]
    good = _cite(pipeline, 1, "40,000 inmates")
    shifted = Citation(1, good.doc, good.section, good.start + 1, good.end + 1, good.quote)
    script = {item["question"]: Answer(item["question"], good.quote + " [1]", False, [shifted])}
    result = evaluate(ScriptedPipe(pipeline, script), [item], progress=False)
    result["checker"] = {"missed_swaps": 0}
    assert any("do not slice" in f for f in gate_failures(result, THRESHOLDS))


def test_our_retrieval_metrics_agree_with_llamaindex(pipeline):
    items = load_dataset(ROOT / "evals" / "dataset.jsonl")[:20]
    result = evaluate(pipeline, items, progress=False)
    li = result["llamaindex_crosscheck"]
    assert li["hit_rate@5"] == pytest.approx(result["aggregate"]["hit@5"])
    assert li["mrr"] == pytest.approx(result["aggregate"]["mrr"])


def test_checker_validation_reports_a_confusion_matrix(pipeline):
    v = validate_checker(pipeline.checker, ROOT / "evals" / "grounding_cases.jsonl")
    assert v["cases"] >= 150 and v["missed_swaps"] == 0
    assert v["tp"] + v["fn"] + v["fp"] + v["tn"] == v["cases"]


@pytest.mark.slow
def test_rag_eval_end_to_end_writes_the_report(tmp_path):
    make_corpus(tmp_path)
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-m", "rag.cli", "eval", "--dataset", str(ROOT / "evals" / "dataset.jsonl"), "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "eval passed" in r.stdout
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["aggregate"]["groundedness"] == 1.0 and data["aggregate"]["bad_citation_offsets"] == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Grounding checker" in report and "| labelled supported |" in report
    assert (out / "categories.png").stat().st_size > 5000
