"""One scale measurement in a fresh process (so peak RSS is this run's alone).

    python -m benchmarks.scale_worker --corpus DIR --home DIR [--chroma-url URL] [--queries N]

Prints one JSON object: index seconds, vectors, sentences, on-disk bytes, peak RSS,
warm query p50/p95 (full Pipeline.ask) and retrieval-only p50.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import time
from pathlib import Path

QUESTIONS = [
    "How many inmates can the prison hold?", "Who joined the minister on the tour?", "When was the facility opened?",
    "Which countries are on the trip?", "What did the rights groups say about the video?", "Who reported the warning?",
    "What law was invoked?", "What did the secretary thank the president for?", "Where were the deportees from?",
    "What is the prison notorious for?",
]


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * len(xs) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--home", type=Path, required=True)
    ap.add_argument("--chroma-url")
    ap.add_argument("--queries", type=int, default=3, help="rounds over the question list")
    a = ap.parse_args()
    from rag import Config, Pipeline

    cfg = Config().with_(corpus_dir=a.corpus, home=a.home, chroma_url=a.chroma_url)
    p = Pipeline(cfg)
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    t0 = time.perf_counter()
    report = p.index(rebuild=True)
    index_s = time.perf_counter() - t0
    p.ask(QUESTIONS[0])  # warm: model, BM25, table
    ask_ms, retrieve_ms = [], []
    for _ in range(a.queries):
        for q in QUESTIONS:
            t = time.perf_counter()
            p.ask(q)
            ask_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            p.retrieve(q)
            retrieve_ms.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    again = p.index()
    reindex_s = time.perf_counter() - t
    print(json.dumps({
        "documents": report.documents, "chunks": report.chunks, "sentences": report.sentences,
        "vectors": report.vectors, "encoded": report.encoded, "index_s": index_s, "vectors_per_s": report.vectors / index_s,
        "disk_bytes": disk_bytes(a.home),  # with a server: the manifest and BM25 only
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "ask_p50_ms": statistics.median(ask_ms), "ask_p95_ms": pct(ask_ms, 95),
        "retrieve_p50_ms": statistics.median(retrieve_ms), "retrieve_p95_ms": pct(retrieve_ms, 95),
        "reindex_unchanged_s": reindex_s, "reindex_embedded": again.embedded,
        "encoder": "onnx" if p.embedder.onnx is not None else "sentence-transformers",
        "load": f"{' '.join(load_before)} -> {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
        "pid": os.getpid(),
    }))


if __name__ == "__main__":
    main()
