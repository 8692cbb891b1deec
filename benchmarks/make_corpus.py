"""Deterministic synthetic corpus for scale benchmarks.

    python -m benchmarks.make_corpus OUT_DIR --chunks 1000 [--seed 7]

Article-like documents are built by recombining and perturbing the real article's
sentences: names, numbers, weekdays and places are swapped from small lists, and
sentences are drawn into paragraphs under headings. The chunker decides the real
chunk count; the generator aims at ``--chunks`` by writing ~3 sentences per chunk.
"""

from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMES = ["Kristi Noem", "Maria Lopez", "John Carter", "Ana Ruiz", "Peter Hale", "Lucia Gomez", "Omar Haddad"]
PLACES = ["El Salvador", "Honduras", "Guatemala", "Colombia", "Mexico", "Panama", "Peru", "Ecuador"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
HEADINGS = ["Officials respond", "A visit abroad", "Rights groups react", "What comes next", "The facility", "Background"]


def _sentences() -> list[str]:
    from rag.chunking import sentences_of

    text = (ROOT / "corpus" / "noem-cecot-2025.txt").read_text(encoding="utf-8")
    return [s.text for s in sentences_of("a", text) if len(s.text.split()) >= 6]


def perturb(sentence: str, rng: random.Random) -> str:
    s = re.sub(r"\b\d[\d,]*\b", lambda m: f"{rng.randint(2, 90000):,}" if "," in m.group(0) else str(rng.randint(1900, 2030)), sentence)
    for day in DAYS:
        s = s.replace(day, rng.choice(DAYS))
    for place in PLACES:
        if place in s and rng.random() < 0.5:
            s = s.replace(place, rng.choice(PLACES))
    if "Noem" in s and rng.random() < 0.5:
        s = s.replace("Kristi Noem", rng.choice(NAMES)).replace("Noem", rng.choice(NAMES).split()[-1])
    return s


def make(out: Path, chunks: int, seed: int = 7, chunks_per_doc: int = 12) -> int:
    """Write the corpus; returns the number of documents."""
    rng = random.Random(seed)
    pool = _sentences()
    out.mkdir(parents=True, exist_ok=True)
    docs = max(1, chunks // chunks_per_doc)
    for d in range(docs):
        lines = [f"Report {d}: {rng.choice(NAMES)} in {rng.choice(PLACES)}"]
        for section in range(chunks_per_doc // 3):
            lines.append(rng.choice(HEADINGS))
            for _ in range(3):  # three paragraphs of three sentences: about three chunks
                lines.append(" ".join(perturb(rng.choice(pool), rng) for _ in range(3)))
        (out / f"doc-{d:06d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return docs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--chunks", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    print(f"{make(a.out, a.chunks, a.seed)} documents written to {a.out}")


if __name__ == "__main__":
    main()
