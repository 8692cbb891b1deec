"""A tiny run of the benchmark script so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_synthetic_corpus_is_deterministic(tmp_path):
    from benchmarks.make_corpus import make

    make(tmp_path / "a", 48, seed=3)
    make(tmp_path / "b", 48, seed=3)
    a = sorted(p.read_text(encoding="utf-8") for p in (tmp_path / "a").iterdir())
    b = sorted(p.read_text(encoding="utf-8") for p in (tmp_path / "b").iterdir())
    assert a == b and len(a) == 4


@pytest.mark.slow
def test_benchmark_smoke_run_writes_every_section(tmp_path):
    r = subprocess.run([sys.executable, "-m", "benchmarks.run_all", "--smoke", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    text = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    for heading in ("## 1.", "## 2.", "## 3.", "## 4.", "## 5.", "## 6."):
        assert heading in text
    assert "error" not in text.split("## 5.")[1].split("## 6.")[0]
    assert (tmp_path / "results.png").stat().st_size > 5000


def test_only_scale_keeps_rows_of_sizes_not_rerun():
    from benchmarks.run_all import merge_rows

    kept = [{"chunks_target": 1000, "v": "old"}, {"chunks_target": 10000, "v": "old"}]
    new = [{"chunks_target": 100000, "v": "new"}, {"chunks_target": 1000, "v": "new"}]
    assert [(r["chunks_target"], r["v"]) for r in merge_rows(kept, new)] == [
        (1000, "new"), (10000, "old"), (100000, "new")]
