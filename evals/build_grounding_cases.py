"""Build the grounding-checker validation set.

The cases in grounding_cases_src.jsonl are hand-written: every sentence,
its cited passages, its supported label and its kind were written by a
person from the article. Only the character offsets are computed here.

The script reads grounding_cases_src.jsonl and checks that:
  * every line is a JSON object with the required fields and types;
  * ids are unique;
  * kind is one of KINDS, and `supported` agrees with the kind;
  * every case cites 1 or 2 passages;
  * a case with a "style" (one of STYLES) writes its citation markers in that
    style inside the sentence, [n] meaning its n-th passage: the checker reads
    the whole answer (markers and all) with rag.grounding.check, so these cases
    test the citation parsing as well as the support decision;
  * every passage is an exact substring of the article;
  * a "verbatim" sentence is an exact substring of one of its passages.
It then writes grounding_cases.jsonl, in which each passage is given as
{"doc", "start", "end", "text"}. The offsets are Python str indexes into the
article as read with open(path, encoding="utf-8", newline="").read(),
so article[start:end] == text.

If a passage occurs more than once in the article, the script uses the
occurrence that is a whole line, if one is, and otherwise the first one,
and prints a warning.

If any check fails, the script names the id, exits with status 1 and writes
nothing. Uses only the standard library.

Usage: python evals/build_grounding_cases.py [--article PATH] [--src PATH] [--out PATH]
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOC = "noem-cecot-2025.txt"
DEFAULT_ARTICLE = os.path.join("/work/shared/article", DOC)
DEFAULT_SRC = os.path.join(HERE, "grounding_cases_src.jsonl")
DEFAULT_OUT = os.path.join(HERE, "grounding_cases.jsonl")

SUPPORTED_KINDS = {"verbatim", "paraphrase"}
UNSUPPORTED_KINDS = {
    "number_swap", "date_swap", "name_swap", "speaker_swap", "negation", "outside",
}
KINDS = SUPPORTED_KINDS | UNSUPPORTED_KINDS
# Citation styles models write: "… . [1]", "… [1].", "[1][2]", "[1, 2]", "[1-2]", "【1】",
# footnotes ("[^1]", "¹"), markers inside the sentence, "[Passage 1]", and word-less
# fragments left behind a marker.
STYLES = {
    "after_stop", "before_stop", "adjacent", "comma_list", "range", "cjk", "footnote",
    "mid_sentence", "passage_word", "fragment",
}
MARKER_CHARS = ("[", "【", "¹", "²")


def locate(article, text):
    """Return (start, number_of_occurrences) for text in article, or (-1, 0)."""
    starts = []
    i = article.find(text)
    while i != -1:
        starts.append(i)
        i = article.find(text, i + 1)
    if not starts:
        return -1, 0
    for s in starts:
        e = s + len(text)
        whole_line = (s == 0 or article[s - 1] == "\n") and (
            e == len(article) or article[e] == "\n")
        if whole_line:
            return s, len(starts)
    return starts[0], len(starts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--article", default=DEFAULT_ARTICLE)
    ap.add_argument("--src", default=DEFAULT_SRC)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    with open(args.article, encoding="utf-8", newline="") as f:
        article = f.read()

    errors = []
    out_rows = []
    seen_ids = set()

    with open(args.src, encoding="utf-8") as f:
        lines = f.read().splitlines()

    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            case = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: invalid JSON: {e}")
            continue
        if not isinstance(case, dict):
            errors.append(f"{where}: not a JSON object")
            continue
        cid = case.get("id")
        if isinstance(cid, str) and cid:
            where = f"{cid} ({where})"
        else:
            errors.append(f"{where}: missing or non-string id")
        extra = set(case) - {"id", "sentence", "passages", "supported", "kind", "style"}
        if extra:
            errors.append(f"{where}: unexpected fields {sorted(extra)}")
        if cid in seen_ids:
            errors.append(f"{where}: duplicate id {cid!r}")
        seen_ids.add(cid)

        sentence = case.get("sentence")
        passages = case.get("passages")
        supported = case.get("supported")
        kind = case.get("kind")

        if not isinstance(sentence, str) or not sentence.strip():
            errors.append(f"{where}: sentence must be a non-empty string")
        style = case.get("style")
        if style is not None and style not in STYLES:
            errors.append(f"{where}: unknown style {style!r} (allowed: {sorted(STYLES)})")
        if style is not None and isinstance(sentence, str) and not any(c in sentence for c in MARKER_CHARS):
            errors.append(f"{where}: a case with a style must carry its citation markers")
        if style is not None and kind == "verbatim":
            errors.append(f"{where}: styled cases are paraphrases or perturbations (markers are not verbatim)")
        if kind not in KINDS:
            errors.append(f"{where}: unknown kind {kind!r} (allowed: {sorted(KINDS)})")
        if not isinstance(supported, bool):
            errors.append(f"{where}: supported must be true or false")
        elif kind in KINDS and supported != (kind in SUPPORTED_KINDS):
            errors.append(f"{where}: supported={supported} does not fit kind {kind!r}")
        if (not isinstance(passages, list) or not 1 <= len(passages) <= 2
                or not all(isinstance(p, str) and p for p in passages)):
            errors.append(f"{where}: passages must be a list of 1 or 2 non-empty strings")
            continue

        spans = []
        for n, text in enumerate(passages, 1):
            start, count = locate(article, text)
            if count == 0:
                errors.append(
                    f"{where}: passage {n} is not an exact substring of the article: "
                    f"{text[:70]!r}...")
                continue
            if count > 1:
                print(f"warning: {where}: passage {n} occurs {count} times in the article; "
                      f"using offset {start}", file=sys.stderr)
            end = start + len(text)
            assert article[start:end] == text
            spans.append({"doc": DOC, "start": start, "end": end, "text": text})

        if kind == "verbatim" and isinstance(sentence, str) and not any(
                sentence in p for p in passages):
            errors.append(f"{where}: verbatim sentence is not an exact substring of its passages")

        row = {"id": cid, "sentence": sentence, "passages": spans, "supported": supported, "kind": kind}
        if style is not None:
            row["style"] = style
        out_rows.append(row)

    if errors:
        for e in errors:
            print(f"ERROR: {e}", file=sys.stderr)
        print(f"{len(errors)} error(s); {args.out} not written", file=sys.stderr)
        return 1

    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for row in out_rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, args.out)

    counts = {}
    for row in out_rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    n_sup = sum(1 for row in out_rows if row["supported"])
    print(f"wrote {len(out_rows)} cases to {args.out}")
    for k in ["verbatim", "paraphrase", "number_swap", "date_swap", "name_swap",
              "speaker_swap", "negation", "outside"]:
        print(f"  {k:13s} {counts.get(k, 0)}")
    print(f"  supported {n_sup}, unsupported {len(out_rows) - n_sup}")
    styled = [row for row in out_rows if "style" in row]
    print(f"  with citation markers in a style: {len(styled)} "
          f"({', '.join(sorted({row['style'] for row in styled}))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
