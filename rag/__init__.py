"""Grounded question answering over documents, offline: every answer cites its exact words.

    from rag import Pipeline, Config
    p = Pipeline.load(Config())
    a = p.ask("What does the warranty cover?")

The stages, bottom to top (each imports only from below it):

    types, config, nlp                       shared data types, settings, general NLP
    manifest, generations                    what an index holds; its versions and their pointer
    corpus, chunking, embedding, store       reading files, sentences, vectors, Chroma (per generation)
    indexing | table                         the index: written | read
    retrieval (dense, sparse, fusion, rerank), chat (follow-ups)
    answer, llm | grounding                  answering | checking every answer sentence
    pipeline                                 composes the stages; the one facade
    cli, ui, evals                           thin adapters over the pipeline
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import Config
from .types import REFUSAL, Answer, Citation, InvalidQuestion, Related

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Pipeline

__all__ = ["Pipeline", "Config", "Answer", "Citation", "Related", "InvalidQuestion", "REFUSAL"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy: `import rag` (and so `rag --help`) must not pay for numpy, Chroma or torch.
    if name == "Pipeline":
        from .pipeline import Pipeline

        return Pipeline
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
