"""Where `rag index --rebuild` spends its time, like for like against raw encode.

    python -m benchmarks.profile_index [--chunks 300]

Builds the synthetic corpus of benchmarks/run_all.py section 3, then, in one process
with the model loaded: raw ``SentenceTransformer.encode`` of the distinct texts the
indexer embeds (the like-for-like peer), our encoder (``embed_documents``) on the same
texts, and a ``Pipeline.index(rebuild=True)`` under cProfile, its time split by stage.
Prints one table (ms and share of the rebuild), for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

# Stage of a function, by where it lives: first match wins (own time is attributed).
STAGES = [
    ("encode: onnxruntime", ("onnxruntime",)),
    ("encode: tokenizers", ("tokenizers",)),
    ("Chroma add/delete/count", ("chromadb", "llama_index/vector_stores", "Bindings")),
    ("BM25 build", ("bm25s", "llama_index/retrievers", "Stemmer", "rag/retrieval/sparse")),
    ("sentence splitting / chunking", ("nltk", "rag/chunking", "rag/nlp")),
    ("vector records, dedup, vector copy", ("rag/indexing",)),
    ("manifest / JSON", ("json", "rag/manifest")),
    ("embedding wrapper (sort, batches, numpy)", ("rag/embedding", "numpy")),
    ("corpus scan / hashing", ("rag/corpus", "hashlib")),
]


def stage_of(file: str, fn: str) -> str:
    for name, keys in STAGES:
        if any(k in file or k in fn for k in keys):
            return name
    return "other (Python, locks, threads)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=300)
    a = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from rag import Config, Pipeline
    from rag.corpus import scan
    from rag.embedding import MiniLMEmbedder
    from rag.indexing import chunks_of, vector_records

    from .make_corpus import make

    work = Path(tempfile.mkdtemp(prefix="rag-profile-index-"))
    corpus = work / "corpus"
    make(corpus, a.chunks)
    cfg = Config().with_(corpus_dir=corpus, home=work / "home")
    p = Pipeline(cfg)
    p.embedder.prepare()
    p.embedder.embed_query("warm")
    st = MiniLMEmbedder(backend="sentence-transformers").sentence_transformer
    texts = [r.text for d in scan(corpus).documents
             for r in vector_records(d, [s for c in chunks_of(d, cfg.chunking) for s in c.sentences])]
    unique = list(dict.fromkeys(texts))
    load0 = " ".join(f"{x:.2f}" for x in os.getloadavg())

    p.index(rebuild=True)  # warm every path once (Chroma's first collection, BM25 imports)
    t = time.perf_counter()
    st.encode(unique, batch_size=cfg.embedding.embed_batch_size, normalize_embeddings=True)
    raw_s = time.perf_counter() - t
    t = time.perf_counter()
    p.embedder.embed_documents(unique)
    ours_encode_s = time.perf_counter() - t
    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    report = p.index(rebuild=True)
    prof.disable()
    index_s = time.perf_counter() - t
    t = time.perf_counter()
    p.index(rebuild=True)
    index_plain_s = time.perf_counter() - t  # without the profiler's overhead
    load1 = " ".join(f"{x:.2f}" for x in os.getloadavg())

    stats = pstats.Stats(prof)
    by_stage: dict[str, float] = {}
    for (file, _line, fn), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        s = stage_of(file, fn)
        by_stage[s] = by_stage.get(s, 0.0) + tt
    total = sum(by_stage.values())
    print(f"corpus: {a.chunks} chunks, {report.sentences} sentences, {report.vectors} vectors, "
          f"{len(unique)} distinct texts encoded ({report.encoded} by the indexer); load {load0} -> {load1}")
    print(f"raw SentenceTransformer.encode of the distinct texts: {raw_s:.2f} s")
    print(f"our encoder (embed_documents, {'onnx' if p.embedder.onnx is not None else 'sentence-transformers'}) "
          f"on the same texts: {ours_encode_s:.2f} s")
    print(f"Pipeline.index(rebuild=True): {index_plain_s:.2f} s (under cProfile {index_s:.2f} s); "
          f"like-for-like ratio raw/ours {raw_s / index_plain_s:.2f}x")
    print("| stage (own time under cProfile) | s | share |")
    print("|---|---|---|")
    for name, secs in sorted(by_stage.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {secs:.2f} | {secs / total:.0%} |")
    stats.sort_stats("tottime").print_stats(15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
