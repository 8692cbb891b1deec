"""Is each sentence of an answer supported by the passages it cites?

    from rag.grounding import check
    check("The hall can hold up to 800 people. [1]", {1: passage_text})
    -> [Support(sentence="The hall can hold up to 800 people.", supported=True, score=..., reason=...)]

Used at answer time (the gate every answer passes) and by the evaluation. Per
sentence, in order:

0. citation markers in the styles models write (``… [1].``, ``[1][2]``, ``[1, 2]``,
   ``[1-3]``, ``【1】``, ``[^1]``, ``¹``, ``[Passage 1]``) are normalised to ``[n]`` after
   the sentence (:func:`normalize_citations`), and pieces with no words (a ``.`` left
   behind a marker) are not sentences (:func:`split_sentences`);
1. no citation, or a citation number with no passage -> unsupported;
2. the sentence (minus markers) is a substring of a cited passage -> supported (exact);
3. every number, date and name in the sentence must appear in the cited passages,
   and a negation must not appear or vanish -> otherwise unsupported, saying which;
4. a support score, the mean of content-word coverage by the cited passages and the
   MiniLM cosine between the sentence and its best cited passage, must reach the
   threshold (``Config.grounding_threshold``, validated on evals/grounding_cases.jsonl).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from typing import Any, Mapping, Sequence

import numpy as np

from . import nlp
from .config import GroundingConfig
from .types import Answer, Embedder, split_cited

__all__ = ["Support", "Checker", "check", "gate", "normalize_citations", "split_sentences", "DEFAULT_THRESHOLD"]


# Validated on evals/grounding_cases.jsonl (the eval report prints the confusion matrix).
DEFAULT_THRESHOLD = GroundingConfig.grounding_threshold


@dataclass(frozen=True)
class Support:
    """The verdict on one answer sentence."""

    sentence: str
    supported: bool
    score: float
    reason: str
    citations: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _name_words(sentence: str) -> set[str]:
    """Lower-cased words of the sentence's names, skipping a lone sentence-initial word."""
    out: set[str] = set()
    names = nlp.names(sentence)
    first = sentence.lstrip(" \"'“‘(").split(" ", 1)[0].strip(".,;:\"'”’") if sentence.strip() else ""
    for n in names:
        words = n.split()
        if len(words) == 1 and words[0] == first and not words[0].isupper():
            continue  # "Critics said ..." — capitalised because it starts the sentence
        for w in nlp.tokens(n):
            if w not in nlp.stopwords() and not w.isdigit():
                out.add(w)
    return out


_CLAUSE = re.compile(r"[,;:.!?()\"“”]|\s--\s|\s—\s")


# "instead of X" and "rather than X" deny X as much as "not X" does.
_SCOPE_END = set("who whom which that will would shall should can could may might must and or but if when "
                 "while because".split())
_PREPOSITIONS = set("to in by at for from with of on into about as".split())


def _polarity(text: str) -> tuple[set[str], set[str]]:
    """(stems under a negation, stems stated plainly).

    A negation scopes over the content words that follow it in its clause, up to
    two and stopping at a preposition, conjunction or modal: "will not be removed"
    -> {remov}; "will not include travel to Colombia" -> {includ, travel};
    "do not leave, we will hunt" -> {leav}.
    """
    negated: set[str] = set()
    plain: set[str] = set()
    for clause in _CLAUSE.split(nlp.normalize(text)):
        toks = [p for t in nlp.tokens(clause) for p in t.split("-") if p]
        scope = 0
        for i, t in enumerate(toks):
            nxt = toks[i + 1] if i + 1 < len(toks) else ""
            if t in nlp.NEGATIONS or t.endswith("n't") or (t, nxt) in (("instead", "of"), ("rather", "than")):
                scope = 2
                continue
            if t in _PREPOSITIONS and scope == 2:
                continue  # "not to their home nations": the scope starts after it
            if t in _SCOPE_END or t in _PREPOSITIONS:
                scope = 0
                continue
            if t in nlp.stopwords():
                continue
            if scope:
                negated.add(nlp.stem(t))
                scope -= 1
            else:
                plain.add(nlp.stem(t))
    return negated, plain


def _hard_checks(sentence: str, cited: str) -> str:
    """A reason the sentence cannot be supported by ``cited``, or '' if none."""
    cited_numbers = nlp.numbers(cited)
    missing = sorted(nlp.numbers(sentence) - cited_numbers - {"one"})
    if missing:
        return f"number {missing[0]} is not in the cited passage"
    missing = sorted(nlp.dates(sentence) - nlp.dates(cited))
    if missing:
        return f"date {missing[0]} is not in the cited passage"
    cited_words = set(nlp.tokens(cited)) | nlp.stems(cited)
    cited_words |= {part.strip(".") for w in nlp.tokens(cited) for part in w.split("-")}
    missing = sorted(
        w for w in _name_words(sentence)
        if w not in cited_words and nlp.stem(w) not in cited_words and w.strip(".") not in cited_words
    )
    if missing:
        return f"name '{missing[0]}' is not in the cited passage"
    s_neg, s_plain = _polarity(sentence)
    p_neg, p_plain = _polarity(cited)
    flipped = sorted((s_neg - p_neg) & p_plain)
    if flipped:
        return f"the sentence negates '{flipped[0]}', which the passage states"
    dropped = sorted((p_neg - p_plain) & s_plain)
    if dropped:
        return f"the passage negates '{dropped[0]}', which the sentence states"
    return ""


# --- citation styles -----------------------------------------------------------------

# A range or list inside one bracket never names more passages than this ("[1-9999]" is not a citation).
_MAX_RANGE = 20
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
# "【1】", "【1†source】" (OpenAI file citations), fullwidth "［1］" -> "[1]".
_CJK = re.compile(r"[【［]\s*(\d+)(?:†[^】］]*)?\s*[】］]")
# "[^1]" (Markdown footnote references).
_FOOTNOTE = re.compile(r"\[\^(\d+)\]")
# Runs of superscript digits used as footnotes: "inmates.¹" or "inmates¹²".
_SUPER = re.compile(r"[⁰¹²³⁴⁵⁶⁷⁸⁹]+")
# "[1, 2]", "[1;2]", "[1-3]", "[1–3]", "[Passage 1]", "[Source 2, 3]", "[passages 1 and 2]".
_BRACKET = re.compile(
    r"\[\s*(?:(?:passages?|sources?|docs?|documents?|refs?)\s*)?"
    r"(\d+(?:\s*(?:[,;–—-]|and|&)\s*(?:(?:passages?|sources?)\s*)?\d+)*)\s*\]",
    re.I,
)
# A run of markers right before the closing punctuation of its sentence (and any
# closing quote or bracket after it): "… inmates [1]." -> "… inmates. [1]".
_BEFORE_STOP = re.compile(r"((?:\s*\[\d+\])+)\s*([.!?。]+[\"'”’)\]]*)(?=\s|$)")
# A run of markers inside a sentence: the sentence goes on after it ("In 2022 [1], it
# opened [2]." or "The hall [1] holds ...").
_MID = re.compile(r"((?:\s*\[\d+\])+)(?=\s*(?:[,;:]|[a-z]))")
_RUN = re.compile(r"(?:\s*\[\d+\])+")
_ENDED = re.compile(r"[.!?:…][\"'”’)]*\s*$")  # the text before a marker ends a sentence (or a lead-in)


def _expand(body: str) -> str:
    """"1, 2" -> "[1][2]"; "1-3" -> "[1][2][3]"; anything implausible stays as it was."""
    nums: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and|&)\s*", body, flags=re.I):
        part = re.sub(r"(?i)passages?|sources?", "", part).strip()
        bounds = [int(x) for x in re.split(r"\s*[–—-]\s*", part) if x.strip().isdigit()]
        if len(bounds) == 2 and 0 < bounds[1] - bounds[0] < _MAX_RANGE:
            nums.extend(range(bounds[0], bounds[1] + 1))
        elif len(bounds) == 1:
            nums.append(bounds[0])
        else:
            return ""
    return "".join(f"[{n}]" for n in nums) if 0 < len(nums) <= _MAX_RANGE else ""


def normalize_citations(text: str) -> str:
    """Citation markers in the styles models write, as ``[n]`` after their sentence.

    >>> normalize_citations("It opened in 2022 [1]. It holds 40,000 [1, 2].")
    'It opened in 2022. [1] It holds 40,000. [1][2]'
    >>> normalize_citations("In 2022 [1], it opened【2】.")
    'In 2022, it opened. [1][2]'
    """
    text = _CJK.sub(r"[\1]", text)
    text = _FOOTNOTE.sub(r"[\1]", text)
    text = _SUPER.sub(lambda m: f"[{m.group(0).translate(_SUPERSCRIPT)}]", text)
    text = _BRACKET.sub(lambda m: _expand(m.group(1)) or m.group(0), text)
    text = _BEFORE_STOP.sub(lambda m: f"{m.group(2)}{m.group(1)}", text)
    return _mid_to_end(text)


def _mid_to_end(text: str) -> str:
    """Markers inside a sentence move to its end: the sentence rests on all of them.
    A marker after a full stop or a colon ends its sentence, whatever follows: quoted
    sentences may start in lower case ("restarted. [1] npm needs ...", "from: [2]
    https://...").

    >>> _mid_to_end("In 2022 [1], it opened. [2]")
    'In 2022, it opened. [1][2]'
    >>> _mid_to_end("It can be restarted. [1] npm needs node. [2]")
    'It can be restarted. [1] npm needs node. [2]'
    """
    out, carried, pos = [], "", 0
    for m in _RUN.finditer(text):
        if _MID.match(text, m.start()) and not _ENDED.search(text, pos, m.start()):
            out.append(text[pos : m.start()])
            carried += m.group(0).strip().replace(" ", "")
        else:
            out.append(text[pos : m.start()].rstrip() + " " + carried + m.group(0).strip().replace(" ", ""))
            carried = ""
        pos = m.end()
    tail = text[pos:]
    if carried:
        tail = tail.rstrip() + " " + carried
    return "".join(out) + tail


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def split_sentences(answer: str) -> list[tuple[str, list[int]]]:
    """(sentence, cited numbers) pairs of an answer in any citation style.

    Pieces with no words are not sentences: their markers join the sentence before
    (or, at the start, the one after) and their punctuation is dropped.

    >>> split_sentences("The hall opened in 2022 [1].")
    [('The hall opened in 2022.', [1])]
    >>> split_sentences("A [1][2]. ! [3]")
    [('A.', [1, 2, 3])]
    """
    out: list[tuple[str, list[int]]] = []
    pending: list[int] = []  # markers of word-less pieces before the first sentence
    for sentence, nums in split_cited(normalize_citations(answer)):
        if _has_words(sentence):
            out.append((sentence, list(dict.fromkeys(pending + nums))))
            pending = []
        elif out:
            out[-1] = (out[-1][0], list(dict.fromkeys(out[-1][1] + nums)))
        else:
            pending += nums
    return out


class Checker:
    """Grounding checker with an embedder for the similarity part (loaded lazily)."""

    def __init__(self, embedder: Embedder | None = None, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.embedder = embedder
        self.threshold = threshold

    def _embedder(self) -> Embedder:
        if self.embedder is None:
            from .embedding import MiniLMEmbedder

            self.embedder = MiniLMEmbedder()
        return self.embedder

    def similarity(self, sentence: str, passages: Sequence[str]) -> float:
        """Best cosine between the sentence and any cited passage or passage clause."""
        from .chunking import split_clauses

        views: list[str] = []
        for p in passages:
            views.append(p)
            views.extend(p[a:b] for a, b in split_clauses(p, 0, len(p)))
        vecs = self._embedder().embed_documents([sentence, *views])
        return float(np.max(vecs[1:] @ vecs[0]))

    def support(self, sentence: str, passages: Sequence[str], citations: tuple[int, ...] = ()) -> Support:
        """Verdict for one sentence against the texts it cites."""
        if not passages:
            return Support(sentence, False, 0.0, "no citation", citations)
        # As the answer shows a quote (nlp.collapse: white space, Markdown markers).
        flat = nlp.collapse(sentence)
        if any(flat and flat in nlp.collapse(p) for p in passages):
            return Support(sentence, True, 1.0, "verbatim in the cited passage", citations)
        cited = " ".join(passages)
        reason = _hard_checks(sentence, cited)
        terms = nlp.content_terms(sentence)
        have = nlp.stems(cited)
        coverage = sum(t in have for t in terms) / len(terms) if terms else 1.0
        sim = self.similarity(sentence, passages)
        score = 0.5 * coverage + 0.5 * sim
        if reason:
            return Support(sentence, False, round(score, 4), reason, citations)
        if score < self.threshold:
            return Support(
                sentence, False, round(score, 4),
                f"support {score:.2f} below {self.threshold:.2f} (coverage {coverage:.2f}, similarity {sim:.2f})",
                citations,
            )
        return Support(
            sentence, True, round(score, 4), f"paraphrase (coverage {coverage:.2f}, similarity {sim:.2f})", citations
        )

    def check(self, answer: str, passages: Mapping[int, str]) -> list[Support]:
        """One :class:`Support` per answer sentence; ``passages[n]`` is the text cited as ``[n]``."""
        out = []
        pieces = split_cited(answer)
        # An answer made of whole quotes, each followed by its own marker (the extractive
        # answerer's), is split where its markers are: a quoted line that starts in lower
        # case and ends without a stop ("cc : cc-12 [3]") is a sentence of its own, not
        # the middle of the one before.
        quoted = bool(pieces) and all(
            nums and any(n in passages and nlp.collapse(sentence) == nlp.collapse(passages[n]) for n in nums)
            for sentence, nums in pieces
        )
        for sentence, nums in pieces if quoted else split_sentences(answer):
            bad = [n for n in nums if n not in passages]
            if bad:
                out.append(Support(sentence, False, 0.0, f"cites [{bad[0]}], which is not a passage", tuple(nums)))
                continue
            out.append(self.support(sentence, [passages[n] for n in dict.fromkeys(nums)], tuple(nums)))
        return out


def check(
    answer: str,
    passages: Mapping[int, str],
    *,
    embedder: Embedder | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Support]:
    """Decide for each sentence of ``answer`` whether the passages it cites support it.

    ``answer`` carries citation markers (``[n]`` after or before the closing punctuation,
    ``[1][2]``, ``[1, 2]``, ``[1-3]``, ``【1】``, footnotes); ``passages[n]`` is the text
    cited as ``[n]``. Without ``embedder`` the bundled MiniLM is loaded when a
    sentence is not verbatim (verbatim sentences need no model).
    """
    return Checker(embedder, threshold).check(answer, passages)


def gate(answer: Answer, checker: Checker) -> Answer:
    """Keep only the sentences of ``answer`` its citations support.

    Unsupported sentences (and those without valid citations) are removed and listed
    in the returned answer's ``dropped`` with their reasons; the remaining citations are renumbered
    densely in order of first use. An answer left with nothing is returned with no
    text; the caller decides what to fall back to.
    """
    if answer.refused:
        return answer
    by_n = {c.n: c for c in answer.citations}
    supports = checker.check(answer.text, {n: c.quote for n, c in by_n.items()})
    kept: list[tuple[str, tuple[int, ...]]] = []
    dropped = list(answer.dropped)
    for s in supports:
        if s.supported:
            kept.append((s.sentence, s.citations))
        else:
            dropped.append({"sentence": s.sentence, "reason": s.reason, "score": s.score})
    renumber: dict[int, int] = {}
    parts = []
    for sentence, nums in kept:
        for n in nums:
            renumber.setdefault(n, len(renumber) + 1)
        parts.append(sentence + " " + "".join(f"[{renumber[n]}]" for n in dict.fromkeys(nums)))
    citations = [by_n[old].renumbered(new) for old, new in sorted(renumber.items(), key=lambda kv: kv[1])]
    # The answer phrase stays with its citation, or goes with it.
    span_n = renumber.get(answer.answer_n) if answer.answer_n is not None else None
    return replace(answer, text=" ".join(parts), citations=citations, dropped=dropped,
                   answer_n=span_n, answer_span=answer.answer_span if span_n is not None else None)
