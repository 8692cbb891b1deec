"""Index generations: every index run writes a new one and publishes it by one rename.

Layout of ``RAG_HOME``::

    CURRENT                      {"generation": "000007-3fa9c1"}: the published one
    index.lock                   one indexer at a time (readers never take it)
    generations/000007-3fa9c1/   manifest.json, bm25/, texts/, chroma/ (embedded Chroma)
                                 lease: readers hold a shared flock on it while they use it

A reader reads ``CURRENT``, takes a shared lease on that generation and answers from
it until it is done; the indexer writes a new generation beside it, then replaces
``CURRENT`` (``os.replace``: atomic), and removes old generations once no reader holds
their lease (or ``IndexConfig.generation_grace_s`` after they were superseded). With a
Chroma server the generation's vectors are the collection ``<collection>-<generation>``.

    gen = current(config)                 # None before the first index run
    with Lease.take(gen) as lease: ...    # or lease = Lease.take(gen); lease.release()
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .config import IndexConfig
from .manifest import write_json_atomic

log = logging.getLogger(__name__)

BUILDING = "building"  # present while a generation is being written (removed before publish)
SUPERSEDED = "superseded"  # written into a generation when a newer one is published
LEASE = "lease"
_NAME = re.compile(r"^(\d{6,})-[0-9a-f]{6}$")


@dataclass(frozen=True)
class Generation:
    """One immutable, self-contained version of the index."""

    home: Path
    name: str  # "<number>-<random>", numbers increase with every index run

    @property
    def number(self) -> int:
        return int(self.name.split("-", 1)[0])

    @property
    def path(self) -> Path:
        return Path(self.home) / "generations" / self.name

    @property
    def chroma_path(self) -> Path:
        return self.path / "chroma"

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    @property
    def bm25_path(self) -> Path:
        return self.path / "bm25"

    @property
    def texts_path(self) -> Path:
        """The decoded text of every indexed document, by content hash: what citations
        point into, so a corpus file edited later never shifts an answer's offsets."""
        return self.path / "texts"

    @property
    def lease_path(self) -> Path:
        return self.path / LEASE

    def collection(self, base: str) -> str:
        """This generation's collection on a Chroma server."""
        return f"{base}-{self.name}"

    @property
    def building(self) -> bool:
        return (self.path / BUILDING).exists()


def _valid_name(name: object) -> bool:
    return isinstance(name, str) and bool(_NAME.match(name))


def current(config: IndexConfig) -> Generation | None:
    """The published generation, or None (never indexed, or the pointer is unusable)."""
    try:
        data = json.loads(Path(config.pointer_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    name = data.get("generation") if isinstance(data, dict) else None
    if not _valid_name(name):
        return None
    gen = Generation(Path(config.home), name)
    return gen if gen.path.is_dir() else None


def pointer_stamp(config: IndexConfig) -> tuple[int, int, int]:
    """Changes whenever a generation is published (the pointer is replaced by rename)."""
    try:
        st = os.stat(config.pointer_path)
    except OSError:
        return (0, 0, 0)
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def all_generations(config: IndexConfig) -> list[Generation]:
    """Every generation folder, oldest first."""
    root = Path(config.generations_path)
    try:
        names = [p.name for p in root.iterdir() if p.is_dir() and _valid_name(p.name)]
    except OSError:
        return []
    return sorted((Generation(Path(config.home), n) for n in names), key=lambda g: g.number)


def writable(config: IndexConfig) -> bool:
    """Can an indexer write below ``home`` (create it, if missing)?"""
    home = Path(config.home)
    probe = home if home.exists() else next((p for p in home.absolute().parents if p.exists()), home)
    if not os.access(probe, os.W_OK | os.X_OK):
        return False
    if home.exists():  # access() says yes on a read-only mount for root: try it
        try:
            fd, tmp = _mkstemp(home)
            os.close(fd)
            os.unlink(tmp)
        except OSError:
            return False
    return True


def _mkstemp(folder: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(dir=folder, prefix=".probe")


def new_generation(config: IndexConfig) -> Generation:
    """A fresh, empty generation folder marked as being built."""
    last = max([g.number for g in all_generations(config)] + [0])
    gen = Generation(Path(config.home), f"{last + 1:06d}-{secrets.token_hex(3)}")
    gen.path.mkdir(parents=True)
    (gen.path / BUILDING).write_text(str(os.getpid()), encoding="utf-8")
    gen.lease_path.touch()
    return gen


def publish(config: IndexConfig, gen: Generation) -> Generation | None:
    """Make ``gen`` the generation readers open; returns the one it replaces.

    The pointer is written to a temporary file, flushed, and renamed over ``CURRENT``:
    a reader (in any process) reads the old name or the new one, never a mix.
    """
    previous = current(config)
    (gen.path / BUILDING).unlink(missing_ok=True)
    write_json_atomic(Path(config.pointer_path), {"generation": gen.name, "published": time.time()}, fsync=True)
    if previous is not None and previous.name != gen.name:
        try:
            (previous.path / SUPERSEDED).write_text(str(time.time()), encoding="utf-8")
        except OSError:  # pragma: no cover - removed meanwhile
            pass
    return previous


class Lease:
    """A reader's hold on a generation: a shared ``flock`` on its lease file.

    Shared locks never block each other, and the file is opened read-only, so a
    read-only ``RAG_HOME`` can be leased; the kernel drops the lock when the process
    dies, so a killed reader holds nothing.
    """

    def __init__(self, gen: Generation, fd: int) -> None:
        self.generation = gen
        self._fd: int | None = fd

    @classmethod
    def take(cls, gen: Generation) -> "Lease | None":
        """A lease on ``gen``, or None if it was removed meanwhile (read the pointer again)."""
        try:
            fd = os.open(gen.lease_path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a collector is deleting it
        except OSError:  # pragma: no cover - flock unsupported: the grace period protects
            pass
        if not gen.lease_path.exists() or not gen.manifest_path.exists():
            os.close(fd)  # removed between open and lock
            return None
        return cls(gen, fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _held(gen: Generation) -> tuple[bool, int | None]:
    """(held by a reader, fd holding it exclusively if not)."""
    try:
        fd = os.open(gen.lease_path, os.O_RDONLY)
    except FileNotFoundError:
        return False, None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True, None
        raise
    return False, fd


def collect(
    config: IndexConfig,
    *,
    keep: tuple[str, ...] = (),
    include_building: bool = False,
    drop: Callable[[Generation], None] | None = None,
) -> list[str]:
    """Remove old generations no reader holds (or superseded longer than the grace period).

    Never the published one or those in ``keep``; unpublished (building) ones only with
    ``include_building`` (the indexer, under the index lock, discarding what it will not
    resume). ``drop(gen)`` removes what lives outside the folder (a server collection).
    Returns the names removed. Best effort: a folder that cannot be removed stays.
    """
    if not writable(config):
        return []
    published = current(config)
    newest_published = published.number if published else -1
    removed = []
    for gen in all_generations(config):
        if (published and gen.name == published.name) or gen.name in keep:
            continue
        if gen.number > newest_published and not include_building:
            continue  # being built by an indexer right now (or left by a killed one)
        held, fd = _held(gen)
        if held:
            stamp = gen.path / SUPERSEDED
            try:
                age = time.time() - float(stamp.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                age = 0.0
            if age < config.generation_grace_s:
                continue
            log.warning("generation %s is still held after %.0f s; removed anyway", gen.name, age)
        try:
            if drop is not None:
                drop(gen)
            # The lease file goes last: a reader opening it meanwhile finds the manifest gone.
            for child in sorted(gen.path.iterdir(), key=lambda p: p.name == LEASE):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
            shutil.rmtree(gen.path, ignore_errors=True)
            removed.append(gen.name)
        except OSError as exc:  # pragma: no cover - permissions changed under us
            log.warning("could not remove generation %s: %s", gen.name, exc)
        finally:
            if fd is not None:
                os.close(fd)
    return removed


def disk_bytes(path: Path) -> int:
    """Bytes of the files below ``path`` (blocks really used, so reflinked copies count once per file)."""
    total = 0
    for p in _walk(Path(path)):
        try:
            total += p.stat().st_blocks * 512
        except OSError:
            pass
    return total


def _walk(path: Path) -> Iterator[Path]:
    for dirpath, _, files in os.walk(path):
        for f in files:
            yield Path(dirpath) / f
