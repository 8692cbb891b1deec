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
    assert "\ufffd" in found.documents[1].text
    reasons = dict(found.skipped)
    assert reasons["binary.txt"] == "binary file"
    assert reasons["empty.txt"] == "empty file"
    assert "outside" in reasons["link.txt"]
    assert any("latin1.txt" in w and "UTF-8" in w for w in found.warnings)


def test_missing_or_non_folder_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        scan(tmp_path / "nope")
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(CorpusError, match="not a folder"):
        scan(f)
