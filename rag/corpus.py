"""Finding and reading the documents of a corpus folder.

A document is every ``.txt`` or ``.md`` file below the corpus folder; its id is its
path relative to that folder, with ``/`` separators. The text is kept exactly as
decoded, because citations are character offsets into it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

log = logging.getLogger(__name__)

SUFFIXES = (".txt", ".md")
METADATA_FILE = "metadata.json"  # optional {doc_id: {"title": ..., ...}} beside the documents


class CorpusError(Exception):
    """The corpus folder is missing or unreadable (the CLI maps this to exit code 2)."""


@dataclass(frozen=True)
class Document:
    """One corpus file, decoded."""

    id: str  # path relative to the corpus folder, '/'-separated
    text: str
    sha256: str  # of the raw bytes, so an edit of any byte is seen
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CorpusScan:
    """What a scan found: the readable documents and what it skipped (with why)."""

    documents: list[Document]
    skipped: list[tuple[str, str]]  # (path, reason)
    warnings: list[str]


def _is_binary(raw: bytes) -> bool:
    # A NUL byte in the first 8 KiB is the same heuristic git and grep use.
    return b"\x00" in raw[:8192]


def iter_paths(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Yield ``(path, skip_reason)`` for candidate files below ``root``, sorted.

    Symlinks that resolve outside ``root`` are not followed: a corpus path can never
    escape the corpus folder.
    """
    root_resolved = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            path = Path(dirpath) / name
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root_resolved):
                    yield path, "symlink points outside the corpus folder"
                    continue
            yield path, None


def scan(root: str | os.PathLike[str]) -> CorpusScan:
    """Read every document below ``root``.

    Raises :class:`CorpusError` if ``root`` is not a readable folder. Files that cannot
    be used (binary, vanished, unreadable) are skipped with a warning naming them; a
    file that is not valid UTF-8 is decoded with replacement characters, also with a
    warning, so nothing readable is lost.
    """
    root = Path(root)
    if not root.exists():
        raise CorpusError(f"corpus folder not found: {root}")
    if not root.is_dir():
        raise CorpusError(f"corpus path is not a folder: {root}")
    if not os.access(root, os.R_OK | os.X_OK):
        raise CorpusError(f"corpus folder is not readable: {root}")
    meta = _read_metadata(root)
    docs: list[Document] = []
    skipped: list[tuple[str, str]] = []
    warnings: list[str] = []
    for path, reason in iter_paths(root):
        rel = path.relative_to(root).as_posix()
        if reason:
            skipped.append((rel, reason))
            warnings.append(f"skipped {rel}: {reason}")
            continue
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            skipped.append((rel, "removed while reading"))
            warnings.append(f"skipped {rel}: removed while reading")
            continue
        except OSError as exc:
            skipped.append((rel, f"unreadable ({exc.strerror or exc})"))
            warnings.append(f"skipped {rel}: unreadable ({exc.strerror or exc})")
            continue
        if _is_binary(raw):
            skipped.append((rel, "binary file"))
            warnings.append(f"skipped {rel}: binary file")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            warnings.append(f"{rel}: not valid UTF-8, decoded with replacement characters")
        if not text.strip():
            skipped.append((rel, "empty file"))
            continue
        docs.append(
            Document(id=rel, text=text, sha256=hashlib.sha256(raw).hexdigest(), meta=meta.get(rel, {}))
        )
    for w in warnings:
        log.warning(w)
    return CorpusScan(documents=docs, skipped=skipped, warnings=warnings)


def _read_metadata(root: Path) -> dict[str, dict[str, Any]]:
    path = root / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("ignoring %s: %s", path, exc)
        return {}
    return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}
