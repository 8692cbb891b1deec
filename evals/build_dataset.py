"""Build evals/dataset.jsonl from the hand-written evals/dataset_src.jsonl.

The evaluation dataset for the single-article QA system is written BY HAND in
``dataset_src.jsonl``: questions, conversation history, reference answers, key
facts, categories, and the gold evidence as *verbatim quotes* of whole article
sentences.  Character offsets are NEVER typed by hand: this script locates each
gold quote in the article and computes ``start``/``end`` (Python ``str``
offsets, i.e. code points, into the file decoded as UTF-8 with ``newline=""``),
so that ``article[start:end] == quote`` holds by construction.

Source line format (one JSON object per line)::

    {"id": "f01", "category": "factoid", "question": "...", "history": [],
     "answerable": true, "reference_answer": "...", "key_facts": ["..."],
     "gold": [{"quote": "...", "occurrence": 0}]}

``gold[].doc`` defaults to the one article, ``noem-cecot-2025.txt``.
``gold[].occurrence`` (0-based) picks among repeated occurrences of a quote;
it defaults to 0, but if a quote occurs more than once in the article the
source item MUST give it explicitly (so an ambiguous quote is never silently
resolved to the first match).

The script also validates each item (unique ids, known categories, whole
sentence boundaries of quotes, key facts present in the gold quotes and in the
reference answer, unanswerable items having no gold/key facts, ...).  Any
problem is reported with the offending item id and the script exits non-zero
without writing the output.

Usage (stdlib only)::

    python evals/build_dataset.py [--article PATH] [--src PATH] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC_ID = "noem-cecot-2025.txt"
DEFAULT_ARTICLE = HERE.parent / "corpus" / DOC_ID
FALLBACK_ARTICLE = Path("/work/shared/article") / DOC_ID
DEFAULT_SRC = HERE / "dataset_src.jsonl"
DEFAULT_OUT = HERE / "dataset.jsonl"

REFUSAL = "The article does not say."
CATEGORIES = {
    "factoid",
    "attribution",
    "two_sentence",
    "paraphrase",
    "false_premise",
    "follow_up",
    "unanswerable",
}
SENTENCE_END = (".", "?", "!", '."', '?"', '!"')


class BuildError(Exception):
    pass


def read_article(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


def find_all(text: str, needle: str) -> list[int]:
    """All (possibly overlapping) start offsets of needle in text."""
    hits, i = [], text.find(needle)
    while i != -1:
        hits.append(i)
        i = text.find(needle, i + 1)
    return hits


def check_whole_sentence(article: str, start: int, end: int) -> str | None:
    """Return a complaint if [start, end) is not a run of whole sentences.

    A sentence ends at . ? ! (optionally followed by a closing double quote)
    or at the end of a line; every line of the article is a paragraph.
    """
    line_start = start == 0 or article[start - 1] == "\n"
    after_sentence = start >= 2 and article[start - 1] == " " and (
        article[:start - 1].endswith(SENTENCE_END)
    )
    if not (line_start or after_sentence):
        return f"quote does not start at a sentence start: ...{article[max(0, start - 20):start]!r}"
    line_end = end == len(article) or article[end] in "\r\n"
    ends_sentence = article[:end].endswith(SENTENCE_END) and (
        end == len(article) or article[end] in " \r\n"
    )
    if not (line_end or ends_sentence):
        return f"quote does not end at a sentence end: {article[end:end + 20]!r}..."
    return None


def build_item(raw: dict, article: str) -> dict:
    iid = raw.get("id")
    for key in ("id", "category", "question", "history", "answerable",
                "reference_answer", "key_facts", "gold"):
        if key not in raw:
            raise BuildError(f"missing field {key!r}")
    if raw["category"] not in CATEGORIES:
        raise BuildError(f"unknown category {raw['category']!r}")
    if not isinstance(raw["history"], list) or not all(isinstance(h, str) for h in raw["history"]):
        raise BuildError("history must be a list of strings")
    if raw["category"] == "follow_up" and not raw["history"]:
        raise BuildError("follow_up item needs a non-empty history")
    if not raw["question"].strip():
        raise BuildError("empty question")

    gold_out = []
    for g in raw["gold"]:
        quote = g["quote"]
        doc = g.get("doc", DOC_ID)
        if doc != DOC_ID:
            raise BuildError(f"unknown doc {doc!r}")
        hits = find_all(article, quote)
        if not hits:
            raise BuildError(f"gold quote NOT FOUND in article: {quote[:70]!r}...")
        if len(hits) > 1 and "occurrence" not in g:
            raise BuildError(
                f"gold quote occurs {len(hits)} times; give an explicit 'occurrence': {quote[:70]!r}"
            )
        occ = g.get("occurrence", 0)
        if not isinstance(occ, int) or not 0 <= occ < len(hits):
            raise BuildError(f"occurrence {occ!r} out of range (quote occurs {len(hits)} times)")
        start = hits[occ]
        end = start + len(quote)
        complaint = check_whole_sentence(article, start, end)
        if complaint:
            raise BuildError(complaint)
        gold_out.append({"doc": doc, "start": start, "end": end, "quote": quote})

    if raw["answerable"]:
        if not gold_out:
            raise BuildError("answerable item has no gold")
        if not 1 <= len(raw["key_facts"]) <= 3:
            raise BuildError("answerable item needs 1-3 key_facts")
        if raw["category"] == "two_sentence" and len(gold_out) < 2:
            raise BuildError("two_sentence item needs at least two gold spans")
        evidence = " ".join(g["quote"] for g in gold_out).casefold()
        ref = raw["reference_answer"].casefold()
        for kf in raw["key_facts"]:
            if kf.casefold() not in evidence:
                raise BuildError(f"key fact {kf!r} is not verbatim in the gold quotes")
            if kf.casefold() not in ref:
                raise BuildError(f"key fact {kf!r} is missing from the reference answer")
        if raw["category"] == "unanswerable":
            raise BuildError("category unanswerable but answerable=true")
    else:
        if gold_out or raw["key_facts"]:
            raise BuildError("unanswerable item must have empty gold and key_facts")
        if raw["reference_answer"] != REFUSAL:
            raise BuildError(f"unanswerable reference_answer must be {REFUSAL!r}")

    return {
        "id": iid,
        "question": raw["question"],
        "history": raw["history"],
        "answerable": bool(raw["answerable"]),
        "reference_answer": raw["reference_answer"],
        "key_facts": raw["key_facts"],
        "gold": gold_out,
        "category": raw["category"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--article", type=Path, default=None)
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    article_path = args.article
    if article_path is None:
        article_path = DEFAULT_ARTICLE if DEFAULT_ARTICLE.exists() else FALLBACK_ARTICLE
    article = read_article(article_path)

    errors: list[str] = []
    items: list[dict] = []
    seen: set[str] = set()
    with open(args.src, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"{args.src}:{lineno}: invalid JSON: {exc}")
                continue
            iid = raw.get("id", f"<line {lineno}>")
            if iid in seen:
                errors.append(f"item {iid} (line {lineno}): duplicate id")
                continue
            seen.add(iid)
            try:
                items.append(build_item(raw, article))
            except (BuildError, KeyError, TypeError) as exc:
                errors.append(f"item {iid} (line {lineno}): {exc}")

    if errors:
        for e in errors:
            print(f"ERROR: {e}", file=sys.stderr)
        print(f"build_dataset: {len(errors)} error(s); {args.out} not written", file=sys.stderr)
        return 1

    tmp = args.out.with_suffix(args.out.suffix + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        for item in items:
            fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    tmp.replace(args.out)
    print(f"build_dataset: wrote {len(items)} items to {args.out} (article: {article_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
