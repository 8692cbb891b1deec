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


@pytest.mark.parametrize("split, at_least", [("dev", 250), ("test", 150)])
def test_every_gold_span_of_both_splits_slices_to_its_quote(split, at_least):
    folder = ROOT / "evals" / "corpora" / split
    texts = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
    # load_dataset raises if any gold span does not slice to its quote
    items = load_dataset(ROOT / "evals" / f"{split}.jsonl", texts)
    assert len(items) >= at_least
    docs = {it["document"] for it in items}
    assert len(docs) >= 3 and DOC in docs  # the article and at least two other documents
    for d in docs if split == "test" else ():
        mine = [it for it in items if it["document"] == d]
        assert sum(not it["answerable"] for it in mine) / len(mine) >= 0.35  # unanswerable share per document
    cats = {it["category"] for it in items}
    assert {"factoid", "attribution", "paraphrase", "keyword", "typo", "follow_up", "false_premise", "unanswerable"} <= cats
    assert any(it["history"] for it in items)


def test_the_holdout_set_slices_to_its_quotes():
    folder = ROOT / "evals" / "corpora" / "holdout"
    texts = {p.name: p.read_text(encoding="utf-8") for p in folder.iterdir()}
    items = load_dataset(ROOT / "evals" / "holdout.jsonl", texts)  # raises on a span that does not slice
    assert len(items) >= 90 and {it["document"] for it in items} == set(texts)
    assert sum(not it["answerable"] for it in items) / len(items) >= 0.35


def test_the_test_split_predates_the_learned_answerer():
    """The test questions were committed before any answering code changed (and never edited)."""
    log = subprocess.run(["git", "log", "--format=%H", "--diff-filter=A", "--", "evals/test_src.jsonl"],
                         cwd=ROOT, capture_output=True, text=True)
    if log.returncode != 0 or not log.stdout.strip():
        pytest.fail("evals/test_src.jsonl has no history: the test split must be committed")
    added = log.stdout.split()[-1]
    answering = subprocess.run(["git", "log", "--format=%H", "--", "rag/answering"], cwd=ROOT, capture_output=True, text=True)
    first_answering = answering.stdout.split()[-1] if answering.stdout.strip() else None
    if first_answering:
        order = subprocess.run(["git", "merge-base", "--is-ancestor", added, first_answering], cwd=ROOT)
        assert order.returncode == 0


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


def _article_items():
    """The dev split's questions about the article (the test fixtures index the article alone)."""
    return [it for it in load_dataset(ROOT / "evals" / "dev.jsonl") if it["document"] == DOC]


def _cite(pipeline, n, needle):
    text = pipeline.corpus_text(DOC)
    row = next(r for r in pipeline.table.by_doc[DOC] if needle in pipeline.table.text(r))
    return Citation(n, DOC, row.section, row.start, row.end, text[row.start : row.end])


def test_the_gate_fails_on_ungrounded_answers(pipeline):
    items = [it for it in _article_items() if it["id"] in ("f04", "f06")]
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
    (item,) = [it for it in _article_items() if it["id"] == "f04"]
    good = _cite(pipeline, 1, "40,000 inmates")
    shifted = Citation(1, good.doc, good.section, good.start + 1, good.end + 1, good.quote)
    script = {item["question"]: Answer(item["question"], good.quote + " [1]", False, [shifted])}
    result = evaluate(ScriptedPipe(pipeline, script), [item], progress=False)
    result["checker"] = {"missed_swaps": 0}
    assert any("do not slice" in f for f in gate_failures(result, THRESHOLDS))


def test_our_retrieval_metrics_agree_with_llamaindex(pipeline):
    items = _article_items()[:20]
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
    dataset = tmp_path / "article.jsonl"
    dataset.write_text("".join(json.dumps(it) + "\n" for it in _article_items()), encoding="utf-8")
    guard = ROOT / "evals" / "thresholds_article_alone.toml"  # the shipped corpus: one document
    r = subprocess.run(
        [sys.executable, "-m", "rag.cli", "eval", "--dataset", str(dataset), "--out", str(out), "--thresholds", str(guard)],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "eval passed" in r.stdout
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["aggregate"]["groundedness"] == 1.0 and data["aggregate"]["bad_citation_offsets"] == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "Grounding checker" in report and "| labelled supported |" in report
    assert (out / "categories.png").stat().st_size > 5000


@pytest.mark.slow
def test_rag_eval_sample_draws_single_turn_items_and_rejects_a_bad_count(tmp_path):
    make_corpus(tmp_path)
    dataset = tmp_path / "article.jsonl"
    dataset.write_text("".join(json.dumps(it) + "\n" for it in _article_items()), encoding="utf-8")
    base = [sys.executable, "-m", "rag.cli", "eval", "--dataset", str(dataset)]
    runs = []
    for seed, out in (("3", "a"), ("3", "b"), ("4", "c")):
        r = subprocess.run([*base, "--out", str(tmp_path / out), "--sample", "4", "--seed", seed],
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        items = json.loads((tmp_path / out / "results.json").read_text(encoding="utf-8"))["items"]
        assert len(items) == 4 and not any(it["history"] for it in items)
        runs.append([it["id"] for it in items])
    assert runs[0] == runs[1] and runs[0] != runs[2]  # the seed decides the draw
    r = subprocess.run([*base, "--out", str(tmp_path / "d"), "--sample", "0"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--sample: must be at least 1" in r.stderr and "Traceback" not in r.stderr


def test_the_reliability_table_names_what_each_cv_file_measured():
    from evals.runner import _summary_md

    bins_then = [{"lo": 0.0, "hi": 0.1, "n": 5, "rate": 0.2}]  # session 12's file: "rate" is the right share
    bins_now = [{"lo": 0.0, "hi": 0.1, "n": 5, "rate": 0.4, "right": 0.2}]
    then = _summary_md({"leave_one_document_out": {"folds": {}, "reliability": bins_then}}, None, [])
    now = _summary_md({"leave_one_document_out": {"folds": {}, "reliability": bins_now}}, None, [])
    assert "| predicted | items | best sentence right |" in then and "| 0.0–0.1 | 5 | 0.200 |" in then
    assert "| nan |" not in then and "answerable share" not in then
    assert "| 0.0–0.1 | 5 | 0.400 | 0.200 |" in now and "answerable share | best sentence right" in now
