"""Corpus scanning: which files are documents, and what happens to the odd ones."""

from __future__ import annotations

import os

import pytest

from rag.corpus import CorpusError, scan


def test_txt_and_md_below_the_folder_are_documents_with_relative_ids(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("Alpha text.", encoding="utf-8")
    (tmp_path / "sub" / "b.md").write_text("# B\n\nBeta text.", encoding="utf-8")
    (tmp_path / "c.json").write_text("{}", encoding="utf-8")
    (tmp_path / ".hidden.txt").write_text("secret", encoding="utf-8")
    found = scan(tmp_path)
    assert [d.id for d in found.documents] == ["a.txt", "sub/b.md"]
    assert found.documents[0].text == "Alpha text."
    assert len(found.documents[0].sha256) == 64


def test_files_of_other_kinds_are_named_in_one_warning(tmp_path):
    (tmp_path / "a.txt").write_text("Alpha text.", encoding="utf-8")
    (tmp_path / "LICENSE").write_text("Plain text with no extension.", encoding="utf-8")
    for name in ("notes.pdf", "b.png", "c.rst", "d.html", "e.doc", "f.odt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "metadata.json").write_text("{}", encoding="utf-8")  # the corpus's own, not a document
    found = scan(tmp_path)
    assert [d.id for d in found.documents] == ["a.txt"] and found.skipped == []
    (line,) = [w for w in found.warnings if w.startswith("not indexed")]
    assert line == "not indexed (only .txt and .md files are): LICENSE, b.png, c.rst, d.html, e.doc and 2 more"
    assert "metadata.json" not in line


def test_metadata_file_attaches_titles(corpus_dir):
    (doc,) = scan(corpus_dir).documents
    assert doc.meta["published"] == "2025-03"
    assert doc.meta["title"].startswith("DHS Sec. Noem issues stern warning")


def test_bad_files_are_skipped_or_decoded_with_a_warning_naming_them(tmp_path):
    (tmp_path / "good.txt").write_text("Fine.", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 ol\xe9.".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.txt").write_bytes(b"")
    outside = tmp_path.parent / f"outside-{tmp_path.name}.txt"
    outside.write_text("Not yours.", encoding="utf-8")
    os.symlink(outside, tmp_path / "link.txt")
    found = scan(tmp_path)
    ids = [d.id for d in found.documents]
    assert ids == ["good.txt", "latin1.txt"]
    assert found.documents[1].text == "Caf\xe9 ol\xe9."  # read in its own encoding, nothing lost
    reasons = dict(found.skipped)
    assert reasons["binary.txt"] == "binary file"
    assert reasons["empty.txt"] == "empty file"
    assert "outside" in reasons["link.txt"]
    assert any("latin1.txt" in w and "UTF-8" in w for w in found.warnings)
    assert "skipped empty.txt: empty file" in found.warnings  # as the README says


def test_a_freshness_check_reads_the_corpus_without_repeating_its_warnings(tmp_path, caplog):
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 ol\xe9.".encode("latin-1"))
    with caplog.at_level("WARNING", logger="rag.corpus"):
        scan(tmp_path, quiet=True)
    assert not caplog.records
    with caplog.at_level("WARNING", logger="rag.corpus"):
        scan(tmp_path)
    assert any("latin1.txt" in r.getMessage() for r in caplog.records)


def test_missing_or_non_folder_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        scan(tmp_path / "nope")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(CorpusError, match="not a folder"):
        scan(f)


# --- the faults a real folder throws at an indexer (issue 18, items 4, 8, 11) ----------


def test_fifos_and_sockets_are_skipped_without_being_opened(tmp_path):
    import socket
    import threading

    (tmp_path / "good.txt").write_text("Fine.", encoding="utf-8")
    os.mkfifo(tmp_path / "pipe.txt")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "socket.md"))
    result = {}
    # A FIFO opened for reading waits for a writer forever: the scan must not open it.
    t = threading.Thread(target=lambda: result.setdefault("scan", scan(tmp_path)), daemon=True)
    t.start()
    t.join(timeout=20)
    sock.close()
    assert not t.is_alive(), "scan hung on a FIFO"
    found = result["scan"]
    assert [d.id for d in found.documents] == ["good.txt"]
    reasons = dict(found.skipped)
    assert reasons["pipe.txt"] == "not a regular file (a FIFO)"
    assert reasons["socket.md"] == "not a regular file (a socket)"
    assert "skipped pipe.txt: not a regular file (a FIFO)" in found.warnings


def test_a_file_swapped_for_a_fifo_after_the_listing_is_refused_on_open_not_waited_on(tmp_path):
    from rag.corpus import _NotRegular, _read_limited

    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(_NotRegular):
        _read_limited(tmp_path / "pipe.txt", 1000)  # returns at once: opened non-blocking


def test_a_file_over_the_size_limit_is_skipped_with_a_message_naming_it_and_the_limit(tmp_path):
    (tmp_path / "small.txt").write_text("Small and fine.", encoding="utf-8")
    (tmp_path / "big.txt").write_text("A sentence of filler text. " * 80_000, encoding="utf-8")  # ~2.1 MB
    found = scan(tmp_path, max_bytes=1024 * 1024)
    assert [d.id for d in found.documents] == ["small.txt"]
    assert "skipped big.txt: 2.1 MB is over the 1.0 MB limit per file (index.max_file_bytes)" in found.warnings
    assert [d.id for d in scan(tmp_path, max_bytes=4 * 1024 * 1024).documents] == ["big.txt", "small.txt"]


def test_the_default_size_limit_is_10_mb():
    from rag.config import Config

    assert Config().index.max_file_bytes == 10 * 1024 * 1024


def test_text_is_detected_by_decoding_not_by_nul_bytes(tmp_path):
    rng = __import__("random").Random(7)
    noise = bytes(rng.choice(range(1, 256)) for _ in range(20_000))  # random, and no NUL byte
    (tmp_path / "noise.txt").write_bytes(noise)
    text = "Le café ouvre à neuf heures. Les billets coûtent cinq euros.\n"
    (tmp_path / "utf16.txt").write_bytes(text.encode("utf-16"))  # with its byte-order mark
    (tmp_path / "utf16le-no-bom.txt").write_bytes(text.encode("utf-16-le"))
    (tmp_path / "utf8-bom.md").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "latin1.txt").write_bytes(text.encode("latin-1"))
    found = scan(tmp_path)
    docs = {d.id: d.text for d in found.documents}
    assert dict(found.skipped)["noise.txt"] == "binary file"
    assert docs["utf16.txt"] == docs["utf16le-no-bom.txt"] == docs["utf8-bom.md"] == text
    assert docs["latin1.txt"] == text  # Windows-1252 / Latin-1, not replacement characters
    assert any("latin1.txt" in w and "UTF-8" in w for w in found.warnings)
