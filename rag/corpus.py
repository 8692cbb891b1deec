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
import stat
import unicodedata
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


MAX_FILE_BYTES = 10 * 1024 * 1024  # IndexConfig.max_file_bytes' default
# A text may hold a few control characters (a stray escape) or undecodable bytes (a
# Latin-1 "é" in a UTF-8 file); random or binary data decoded as text is full of both:
# ~10 % controls and ~45 % replacement characters for random bytes.
MAX_CONTROL_RATIO = 0.05
MAX_REPLACEMENT_RATIO = 0.30
_BOMS = (  # longest first: the UTF-32 LE mark starts with the UTF-16 LE one
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _control(ch: str) -> bool:
    return ch not in "\t\n\r\f\v" and unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn")


def _utf16_without_mark(raw: bytes) -> str | None:
    """"utf-16-le"/"utf-16-be" if NUL bytes sit in every other byte, as in mostly-ASCII UTF-16."""
    sample = raw[:4096]
    pairs = len(sample) // 2
    if pairs < 2 or len(raw) % 2:
        return None
    even, odd = sample[0 : 2 * pairs : 2].count(0), sample[1 : 2 * pairs : 2].count(0)
    if odd > 0.4 * pairs and even == 0:
        return "utf-16-le"
    if even > 0.4 * pairs and odd == 0:
        return "utf-16-be"
    return None


def decode_text(raw: bytes) -> tuple[str | None, str | None]:
    """``(text, warning)`` for bytes that are text, ``(None, reason)`` for bytes that are not.

    Text is recognised by decoding, not by looking for NUL bytes: a byte-order mark
    selects UTF-8/16/32 (and is not part of the text); otherwise UTF-8, falling back to
    UTF-8 with replacement characters (a warning). Either way, the text must be mostly
    printable: 20 KB of random bytes is not a document, UTF-16 without its mark is
    (NUL bytes in every other byte) is read as UTF-16.

    >>> decode_text("héllo".encode("utf-16"))
    ('héllo', None)
    """
    warning = None
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom):].decode(codec)
            except UnicodeDecodeError:
                return None, f"binary file (invalid {codec.upper()} after its byte-order mark)"
            break
    else:
        codec = _utf16_without_mark(raw) if b"\x00" in raw[:4096] else None
        try:
            text = raw.decode(codec or "utf-8")
        except UnicodeDecodeError:
            if codec:
                return None, "binary file"
            text, warning = _decode_legacy(raw)
    sample = text[:65536]
    if sample and (
        "\x00" in sample
        or sum(map(_control, sample)) > MAX_CONTROL_RATIO * len(sample)
        or sample.count("\ufffd") > MAX_REPLACEMENT_RATIO * len(sample)
    ):
        return None, "binary file"
    return text, warning


def _decode_legacy(raw: bytes) -> tuple[str, str]:
    """Bytes that are not UTF-8, in the encoding charset-normalizer finds most likely
    (a Latin-1 or Windows-1252 file, mostly: "Jérôme" stays "Jérôme"), else UTF-8 with
    replacement characters; with a warning saying which."""
    from charset_normalizer import from_bytes  # only for the rare file that needs it

    found = list(from_bytes(raw[:1 << 20]))
    best = found[0] if found else None
    # On a short text several code pages read equally cleanly and the guess among them
    # is a coin toss (French came out as cp775): prefer Windows-1252, the most common
    # non-UTF-8 encoding of text (and a superset of Latin-1's letters), when it is one.
    clean = [m for m in found if best is not None and m.chaos <= best.chaos]
    western = next((m for m in clean if "cp1252" in m.could_be_from_charset), None)
    encoding = "cp1252" if western is not None else best.encoding if best is not None else None
    if encoding is not None and encoding not in ("utf_8", "ascii"):
        try:
            return raw.decode(encoding), f"not valid UTF-8, read as {encoding}"
        except (UnicodeDecodeError, LookupError):
            pass
    return raw.decode("utf-8", errors="replace"), "not valid UTF-8, decoded with replacement characters"


# The skip reason of a file of another kind than the corpus takes (said once for all).
NOT_INDEXED = "not a .txt or .md file"


def iter_paths(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Yield ``(path, skip_reason)`` for candidate files below ``root``, sorted.

    Symlinks that resolve outside ``root`` are not followed: a corpus path can never
    escape the corpus folder. Anything that is not a regular file (a FIFO, a device,
    a socket) is skipped without being opened: opening a FIFO for reading waits for a
    writer forever.
    """
    root_resolved = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or Path(dirpath) == root and name == METADATA_FILE:
                continue
            path = Path(dirpath) / name
            if not name.lower().endswith(SUFFIXES):
                yield path, NOT_INDEXED
                continue
            if path.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root_resolved):
                    yield path, "symlink points outside the corpus folder"
                    continue
            try:
                mode = path.stat().st_mode
            except OSError:
                yield path, "removed while reading"
                continue
            if not stat.S_ISREG(mode):
                yield path, f"not a regular file ({_kind(mode)})"
                continue
            yield path, None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a file"


def _read_limited(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file, at most ``max_bytes`` (else :class:`_TooLarge`).

    Opened non-blocking and checked again on the open descriptor: a file swapped for a
    FIFO between the listing and the open must not hang the indexer (holding its lock).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotRegular(_kind(st.st_mode))
        if st.st_size > max_bytes:
            raise _TooLarge(st.st_size)
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(max_bytes + 1)
        if len(raw) > max_bytes:  # grew since fstat
            raise _TooLarge(len(raw))
        return raw
    finally:
        os.close(fd)


class _TooLarge(Exception):
    pass


class _NotRegular(Exception):
    pass


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def check_folder(root: str | os.PathLike[str]) -> Path:
    """``root`` as a path, if it is a readable folder; else :class:`CorpusError` saying
    what is wrong with it."""
    root = Path(root)
    if not root.exists():
        raise CorpusError(f"corpus folder not found: {root}")
    if not root.is_dir():
        raise CorpusError(f"corpus path is not a folder: {root}")
    if not os.access(root, os.R_OK | os.X_OK):
        raise CorpusError(f"corpus folder is not readable: {root}")
    return root


def scan(root: str | os.PathLike[str], max_bytes: int = MAX_FILE_BYTES, *, quiet: bool = False) -> CorpusScan:
    """Read every document below ``root``.

    Raises :class:`CorpusError` if ``root`` is not a readable folder. Files that cannot
    be used (not regular files, binary, larger than ``max_bytes``, vanished,
    unreadable) are skipped with a warning naming them; a file that is not valid UTF-8
    is decoded in the encoding it most likely has (else with replacement characters),
    also with a warning, so nothing readable is lost. The warnings are logged unless
    ``quiet`` (a freshness check reads the corpus on every start: it does not repeat them).
    """
    root = check_folder(root)
    meta = _read_metadata(root)
    docs: list[Document] = []
    skipped: list[tuple[str, str]] = []
    warnings: list[str] = []

    def skip(rel: str, reason: str) -> None:
        skipped.append((rel, reason))
        warnings.append(f"skipped {rel}: {reason}")

    others: list[str] = []
    for path, reason in iter_paths(root):
        rel = path.relative_to(root).as_posix()
        if reason == NOT_INDEXED:
            others.append(rel)
            continue
        if reason:
            skip(rel, reason)
            continue
        try:
            raw = _read_limited(path, max_bytes)
        except FileNotFoundError:
            skip(rel, "removed while reading")
            continue
        except _TooLarge as exc:
            skip(rel, f"{_mb(exc.args[0])} is over the {_mb(max_bytes)} limit per file (index.max_file_bytes)")
            continue
        except _NotRegular as exc:
            skip(rel, f"not a regular file ({exc.args[0]})")
            continue
        except OSError as exc:
            skip(rel, f"unreadable ({exc.strerror or exc})")
            continue
        text, note = decode_text(raw)
        if text is None:
            skip(rel, note or "binary file")
            continue
        if note:
            warnings.append(f"{rel}: {note}")
        if not text.strip():
            skip(rel, "empty file")
            continue
        docs.append(
            Document(id=rel, text=text, sha256=hashlib.sha256(raw).hexdigest(), meta=meta.get(rel, {}))
        )
    if others:
        # One line, not one per file: a folder may hold images or notes beside its texts.
        listed = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        warnings.append(f"not indexed (only .txt and .md files are): {listed}")
    for w in warnings if not quiet else ():
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
