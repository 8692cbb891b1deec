"""Grounded question answering over a document, offline: every answer cites its exact words.

    from rag import Pipeline, Config
    p = Pipeline.load(Config())
    a = p.ask("How many inmates can CECOT hold?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import REFUSAL, Config

if TYPE_CHECKING:  # pragma: no cover
    from .answer import Answer, Citation
    from .pipeline import InvalidQuestion, Pipeline

__all__ = ["Pipeline", "Config", "Answer", "Citation", "InvalidQuestion", "REFUSAL"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy: `import rag` (and so `rag --help`) must not pay for numpy, Chroma or torch.
    if name in ("Pipeline", "InvalidQuestion"):
        from . import pipeline

        return getattr(pipeline, name)
    if name in ("Answer", "Citation"):
        from . import answer

        return getattr(answer, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
