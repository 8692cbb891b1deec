"""Answers, citations and the embedded extractive answerer (no LLM).

The extractive answerer picks the smallest set of retrieved sentences (usually one,
at most ``Config.max_answer_sentences``) that answers the question and writes them
out verbatim, each followed by its ``[n]``. Every citation resolves to
``corpus_text(doc)[start:end] == quote`` because the quote *is* that slice.

Whether to answer at all is decided by a calibrated answerability score, a
logistic model over retrieval and selection signals (see :func:`answerability`).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Protocol, Sequence

from . import nlp
import numpy as np

from .config import REFUSAL, Config
from .embedding import Embedder
from .indexing import SentenceTable
from .retrieval import Passage


@dataclass(frozen=True)
class Citation:
    """``[n]`` in an answer: the exact words it rests on."""

    n: int
    doc: str
    section: str
    start: int
    end: int
    quote: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Related:
    """A closest passage shown beside a refusal: related, not cited."""

    doc: str
    section: str
    start: int
    end: int
    quote: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """What the pipeline returns for one question."""

    question: str
    text: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    related: list[Related] = field(default_factory=list)
    rewritten_query: str = ""
    mode: str = "extractive"
    timings_ms: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.0  # calibrated answerability in [0, 1]
    signals: dict[str, Any] = field(default_factory=dict)  # what the confidence was computed from
    dropped: list[dict[str, Any]] = field(default_factory=list)  # LLM sentences the gate removed

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "related": [r.to_dict() for r in self.related],
            "rewritten_query": self.rewritten_query,
            "mode": self.mode,
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }
        if self.dropped:
            d["dropped"] = self.dropped
        return d

    def sentences(self) -> list[tuple[str, list[int]]]:
        """The answer split into (sentence, cited numbers) pairs."""
        return split_cited(self.text)


_MARKERS = re.compile(r"(?:\s*\[\d+\])+")
_NUM = re.compile(r"\[(\d+)\]")


def split_cited(text: str) -> list[tuple[str, list[int]]]:
    """Split an answer into sentences at its citation markers.

    ``"A. [1] B, C. [2][3]"`` -> ``[("A.", [1]), ("B, C.", [2, 3])]``. Text after the
    last marker is a sentence with no citations.
    """
    out: list[tuple[str, list[int]]] = []
    pos = 0
    for m in _MARKERS.finditer(text):
        sentence = text[pos : m.start()].strip()
        nums = [int(x) for x in _NUM.findall(m.group(0))]
        if sentence:
            out.append((sentence, nums))
        elif out:  # markers right after markers: attach to the previous sentence
            out[-1] = (out[-1][0], out[-1][1] + nums)
        pos = m.end()
    tail = text[pos:].strip()
    if tail:
        out.append((tail, []))
    return out


class Answerer(Protocol):
    """Turns a question and retrieved passages into an :class:`Answer`."""

    name: str

    def answer(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> Answer: ...


# --- question analysis -----------------------------------------------------

_INJECTION = re.compile(
    r"""(?ix)
    \b(ignore|disregard|forget|override|bypass)\b[^.?!]{0,40}\b(article|instructions?|above|previous|prior|context|rules|document|prompt|system)\b
    | \b(pretend|roleplay|role-play|act\ as|you\ are\ now|from\ now\ on)\b
    | \b(system|developer|admin)\s*(prompt|mode|message)\b
    | ^\s*(system|assistant)\s*:
    | \bjailbreak\b
    | \b(tell\ me\ a\ (joke|story|poem)|write\ (me\ )?a\ (poem|story|song|joke))\b
    """
)
_EXACT = re.compile(r"\b(exact(ly)?|precise(ly)?|specific(ally)?)\b", re.I)
# Questions about the document itself (its author, its publication), which its text
# does not state about itself.
_META = re.compile(
    r"""(?ix)
    \bwho\s+(wrote|authored|published|is\s+the\s+(author|writer|reporter|publisher)\s+of)\b[^?]*\b(article|story|piece|report|this)\b
    | \bwho\s+is\s+the\s+(author|writer|reporter|journalist)\b
    | \b(when|where)\s+was\s+(this|the)\s+(article|story|piece)\s+(published|written|posted)\b
    | \bwhat\s+(outlet|publication|site|newspaper)\s+(published|ran|posted)\s+(this|the)\s+(article|story|piece)\b
    """
)


ROLE_NOUNS = frozenset(
    "judge judges senator senators minister ministers secretary president governor mayor lawyer attorney "
    "reporter journalist author writer director officer ambassador spokesman spokeswoman critic critics".split()
)
# Nouns that name a kind of answer rather than a thing the text must mention:
# "which country" is answered by any place name, "which judge" only by a judge.
TYPE_NOUNS: dict[str, str] = {
    **dict.fromkeys("person people official officials individual man woman figure leader politician "
                    "advocate advocates activist activists spokesperson".split(), "person"),
    # Roles: "which judge" is answered by a person the text names in that role.
    **dict.fromkeys(ROLE_NOUNS, "person"),
    **dict.fromkeys("country countries nation nations city cities town place location region state "
                    "states area".split(), "place"),
    **dict.fromkeys("outlet outlets newspaper newspapers paper network organization organizations "
                    "organisation organisations group groups agency media publication source".split(), "name"),
    **dict.fromkeys("year years date day days month time".split(), "date"),
    **dict.fromkeys("name names title".split(), "name"),
    **dict.fromkeys("number amount total figure".split(), "number"),
    **dict.fromkeys("username handle account".split(), "handle"),
}
_MONEY = re.compile(r"[$€£]|\b(dollars?|euros?|cost|costs|paid|pay|paying|budget|price|funds?|million|billion)\b", re.I)
_PERCENT = re.compile(r"%|\bper ?cent", re.I)
_AUX = set("is are was were be been being do does did done can could will would shall should may might must has have had".split())
# Only counted things are checked for presence ("how many guards": the text must
# mention guards). Measured: checking "which X" too refused answerable questions whose
# X is paraphrased in the text ("which law" -> "Act"), more than it caught.
_FOCUS = re.compile(r"\bhow\s+many\s+((?:[\w\-.']+\s+){0,3}[\w\-.']+)", re.I)
_KIND_FOCUS = re.compile(
    r"\b(?:which|what\s+(?:kind|sort|type)\s+of"
    r"|what(?:'s|\s+is|\s+are|\s+was|\s+were)?(?:\s+the)?(?:\s+name\s+of(?:\s+the)?)?)"
    r"\s+((?:[\w\-.']+\s+){0,3}[\w\-.']+)",
    re.I,
)
# Words that end the noun phrase after "which"/"how many" (no POS tagger offline).
_PHRASE_END = set(
    """besides except beyond like among between during since until across after before
    work works worked live lives go goes come comes make makes say says hold holds cost costs
    spend spends get gets happen happens need needs take takes keep keeps run runs serve serves
    belong belongs own owns""".split()
)


@dataclass(frozen=True)
class QuestionInfo:
    """What a question asks for."""

    text: str
    terms: tuple[str, ...]  # content stems
    expects: tuple[str, ...]  # kinds of value asked for: "number", "date", "person", "place", ...
    exact: bool  # "exactly how many": vague quantities do not answer it
    injection: bool
    focus: str | None  # head noun of "how many X" ("inmates")
    meta: bool = False  # about the document itself (who wrote it), not its content
    named: str | None = None  # X of "the name of the X": a name must stand beside X


def _focus(question: str, pattern: re.Pattern[str] = _FOCUS) -> str | None:
    m = pattern.search(nlp.normalize(question))
    if not m:
        return None
    head = None
    for w in m.group(1).split():
        lw = w.lower().strip(".,?")
        if lw.endswith("'s"):  # "CECOT's full name": the possessor is not the head
            continue
        if lw in _AUX or lw in _PHRASE_END or lw in nlp.stopwords() - {"other"}:
            break
        if head and (lw.endswith("ed") or lw.endswith("ing")) and len(lw) > 4:
            break  # a verb: "which judge blocked"
        if lw in {"other", "u.s", "u.s.", "else"}:
            continue
        head = lw
    return head


def analyze(question: str) -> QuestionInfo:
    low = nlp.normalize(question).lower()
    focus = _focus(question)
    kind_noun = _focus(question, _KIND_FOCUS)
    kinds: list[str] = []
    # A question may ask for several values: "Who posted it, and on what date?"
    for kind, pattern in _KIND_PATTERNS:
        if re.search(pattern, low) and kind not in kinds:
            if kind == "money" and not _MONEY.search(low):
                continue
            if kind == "number" and {"age", "percent", "money"} & set(kinds):
                continue
            kinds.append(kind)
    if re.search(r"\bname of\b", low) and not kinds:
        kinds.append("name")
    for noun in (focus, kind_noun):
        if noun in TYPE_NOUNS and not kinds:
            kinds.append(TYPE_NOUNS[noun])
    if (focus in TYPE_NOUNS and focus not in ROLE_NOUNS) or {"age", "percent", "money"} & set(kinds):
        focus = None  # a kind of answer, checked by type; not a word to find
    if kind_noun in ROLE_NOUNS and focus is None:
        focus = kind_noun  # "which senator": the text must speak of a senator (or the like)
    return QuestionInfo(
        text=question,
        terms=tuple(nlp.content_terms(question)),
        expects=tuple(kinds),
        exact=bool(_EXACT.search(low)) and "number" in kinds,
        injection=bool(_INJECTION.search(question)),
        focus=focus,
        meta=bool(_META.search(question)),
        named=_named(low),
    )


_NAMED = re.compile(r"\bname of (?:the |a |an |this |that |their |its )?((?:[\w\-.']+\s+){0,3}[\w\-.']+)", re.I)


def _named(low: str) -> str | None:
    head = _focus(low, _NAMED)  # "the name of the old law whose ..." -> "law"
    return None if head is None or head in TYPE_NOUNS else head


_KIND_PATTERNS: tuple[tuple[str, str], ...] = (
    ("age", r"\bhow old\b|\bwhat age\b"),
    ("percent", r"\bwhat percent|\bpercentage\b|\bwhat share\b"),
    ("money", r"\bhow much\b"),
    ("number", r"\bhow (many|much|long|big|large)\b|\bwhat (number|amount)\b"),
    ("date", r"\bwhen\b|\b(what|which) (year|date|day|month)\b|\bsince when\b"),
    ("person", r"^\s*(who|whom|whose)\b|\b(and|,) (who|whom)\b|\bwho (is|was|are|were|said|wrote|joined|posted|described)\b"),
    ("place", r"^\s*where\b|\b(and|,) where\b"),
)


def focus_match(info: QuestionInfo, text: str, similar: Callable[[str, list[str]], float] | None = None, threshold: float = 0.6) -> bool:
    """Does ``text`` mention the thing asked about ("how many guards" -> guards)?

    Exact stems first; then, if ``similar`` is given, a word of ``text`` whose
    similarity to the focus word reaches ``threshold`` (prisoners ~ inmates 0.85,
    guards ~ inmates 0.48 with MiniLM).
    """
    if not info.focus:
        return True
    if nlp.stem(info.focus) in nlp.stems(text):
        return True
    if similar is None:
        return False
    words = sorted({w for w in nlp.tokens(text) if w.isalpha() and w not in nlp.stopwords()})
    return bool(words) and similar(info.focus, words) >= threshold


def _has_kind(kind: str, info: QuestionInfo, sentence: str) -> bool:
    if kind == "number":
        found = nlp.exact_numbers(sentence) if info.exact else nlp.numbers(sentence)
        # A year is a date, not a count ("opened in 2022" does not say how many).
        return bool(found - nlp.numbers(info.text) - nlp.dates(sentence))
    if kind == "date":
        return bool(nlp.dates(sentence) - nlp.dates(info.text))
    if kind == "age":  # "how old": an age; for a thing (not a person), a year it dates from
        if re.search(r"\b\d+[- ]years?[- ]old\b|\baged? \d+|\bborn\b", sentence):
            return True
        return not nlp.persons(info.text) and bool(nlp.dates(sentence) - nlp.dates(info.text))
    if kind == "money":
        return bool(re.search(r"[$€£]\s?\d|\b\d[\d,.]*\s*(dollars|euros|million|billion)\b", sentence))
    if kind == "percent":
        return bool(_PERCENT.search(sentence))
    if kind == "handle":
        return bool(re.search(r"@\w+", sentence))
    asked = nlp.name_tokens(info.text)
    if kind == "name" and info.named:
        # "the name of the gang": a proper name right beside "gang" ("the X gang", "gang X").
        # If the text calls the thing something else ("law" -> "Act"), any new name will do.
        toks = sentence.split()
        stem = nlp.stem(info.named)
        hits = [i for i, t in enumerate(toks) if nlp.stem(t.strip(".,;:\"'").lower()) == stem]
        if hits:
            for i in hits:
                near = toks[max(0, i - 2) : i] + toks[i + 1 : i + 3]
                if any(w[:1].isupper() and w.strip(".,;:\"'").lower() not in asked for w in near):
                    return True
            return False
    if kind == "person":
        return any(not (set(nlp.tokens(p)) <= asked) for p in nlp.persons(sentence))
    # place / name: a name the question did not already contain.
    return any(not (set(nlp.tokens(n)) <= asked) for n in nlp.names(sentence))


def missing_kinds(info: QuestionInfo, text: str) -> list[str]:
    """The kinds of value the question asks for that ``text`` does not contain."""
    return [k for k in info.expects if not _has_kind(k, info, text)]


def type_match(info: QuestionInfo, text: str) -> bool:
    """Does ``text`` contain a value of every kind the question asks for?"""
    return not missing_kinds(info, text)


def coverage(info: QuestionInfo, text: str) -> float:
    """Share of the question's content stems found in ``text`` (1.0 if it has none)."""
    if not info.terms:
        return 1.0
    have = nlp.stems(text)
    return sum(t in have for t in info.terms) / len(info.terms)


def answerability(features: dict[str, float], weights: dict[str, float]) -> float:
    """Logistic score ``sigma(bias + sum w_i * f_i)``; weights fitted by evals/calibrate.py."""
    z = weights.get("bias", 0.0) + sum(weights.get(k, 0.0) * v for k, v in features.items())
    return 1.0 / (1.0 + math.exp(-z))


def _off_corpus(question: str, table: SentenceTable, dense: float, min_dense: float) -> bool:
    """True if the question is about something the corpus never mentions.

    Either none of its content words occurs anywhere in the corpus and its meaning is
    not close to any sentence either (``dense < min_dense``: "How do I reset my
    router?" 0.08, while a paraphrase sharing no word, "Does the author think the
    arrangement was worthwhile?", reaches 0.27); or it names things and none of those
    names occurs ("Who won the FIFA World Cup?"). "Why is Noem going to Brazil?" names
    Noem, so it is about the article and is answered with what the article does say.
    """
    # Not one word of it (stop words included) is in the corpus: a question in another
    # script or language. Its content terms are empty (the tokenizer reads Latin
    # script), and MiniLM places such text near anything, so neither test below sees it.
    letters = re.findall(r"[^\W\d_]+", question.lower())
    if letters and not any(w in table.vocabulary or nlp.stem(w) in table.vocabulary for w in letters):
        return True
    terms = nlp.content_terms(question)
    if terms and not any(t in table.vocabulary for t in terms) and dense < min_dense:
        return True
    first = question.strip().split(" ", 1)[0].lower()
    words = {w for n in nlp.names(question) for w in nlp.tokens(n) if w not in nlp.stopwords()}
    words = {w for w in words if w.isalpha() and w != first}
    return bool(words) and not any(nlp.stem(w) in table.vocabulary for w in words)


def _as_passage(row: Any, text: str, like: Passage) -> Passage:
    return Passage(row=row, text=text, score=like.score, dense=like.dense, window=like.window,
                   sparse=0.0, dense_rank=None, sparse_rank=None)


def _is_content(text: str) -> bool:
    # A bare link or handle is not an answer on its own.
    return sum(1 for w in nlp.tokens(text) if w.isalpha()) >= 3


# --- the extractive answerer -------------------------------------------------


class ExtractiveAnswerer:
    """Answers with verbatim source sentences; refuses below the answerability threshold."""

    name = "extractive"

    def __init__(self, config: Config, embedder: Embedder | None = None) -> None:
        self.config = config
        self.embedder = embedder
        self._word_vectors: dict[str, np.ndarray] = {}

    def similar(self, word: str, words: list[str]) -> float:
        """Best cosine between ``word`` and any of ``words`` (MiniLM on single words, cached)."""
        if self.embedder is None:
            return 0.0
        # Threads share the cache (the web UI answers sessions at once): this call reads
        # its own reference and its own new vectors, so another thread replacing the
        # cache meanwhile cannot pull a vector from under it.
        cache = self._word_vectors
        missing = list(dict.fromkeys(w for w in [word, *words] if w not in cache))
        fresh = dict(zip(missing, self.embedder.embed_documents(missing))) if missing else {}
        if fresh:
            if len(cache) > 50_000:  # bounded: a long-running server
                self._word_vectors = {}
            self._word_vectors.update(fresh)
        vec = lambda w: fresh[w] if w in fresh else cache[w]  # noqa: E731
        q = vec(word)
        return float(max(q @ vec(w) for w in words))

    def _focus_ok(self, info: QuestionInfo, text: str) -> bool:
        return focus_match(info, text, self.similar, self.config.focus_similarity)

    def select(self, info: QuestionInfo, passages: Sequence[Passage], table: SentenceTable) -> tuple[list[Passage], dict[str, float]]:
        """The sentences to answer with, and the features of that choice."""
        cands = [p for p in passages if _is_content(p.text)]
        # The same words can stand twice (a post quoted, then embedded); keep the better.
        seen: set[str] = set()
        unique = []
        for p in cands:
            key = " ".join(nlp.tokens(p.text))
            if key not in seen:
                seen.add(key)
                unique.append(p)
        cands = unique
        if not cands:
            return [], {"dense": 0.0, "coverage": 0.0, "type_match": 0.0, "focus": 0.0}

        def window(p: Passage) -> str:
            return " ".join(table.text(r) for r in [p.row, *table.neighbours(p.row)])

        def merit(p: Passage) -> float:
            # Retrieval rank, then what answering needs: the asked-for kind of value,
            # the asked-about thing, and the question's words.
            w = self.config.selection_weights
            return (
                p.score
                + w["type"] * type_match(info, window(p))
                + w["focus"] * self._focus_ok(info, window(p))
                + w["coverage"] * coverage(info, p.text)
            )

        merits = {id(p): merit(p) for p in cands}
        ranked = sorted(cands, key=lambda p: -merits[id(p)])
        best = ranked[0]
        chosen = [best]
        # A value asked for may sit beside the best sentence: a quote and then "X said",
        # a post and then its byline. Complete from the nearest sentences of the section.
        # The adjacent sentence may complete it as is; one further away must also
        # share a word with the question (a byline names who posted).
        for kind in missing_kinds(info, best.text):
            for distance, r in table.nearby(best.row, 4):
                text = table.text(r)
                if not _is_content(text) or not _has_kind(kind, info, text) or any(c.id == r.id for c in chosen):
                    continue
                if kind == "number" and not self._focus_ok(info, text):
                    continue  # a count of something else ("three-day trip" for "how many people")
                if distance == 1 or set(info.terms) & nlp.stems(text):
                    chosen.append(_as_passage(r, text, best))
                    break
        core = list(chosen)
        covered = set().union(*(nlp.stems(p.text) for p in chosen))
        for p in ranked[1:]:
            if len(chosen) >= self.config.max_answer_sentences:
                break
            if any(p.id == c.id for c in chosen) or merits[id(p)] < self.config.second_sentence_ratio * merits[id(best)]:
                continue
            # A further sentence must answer a part of the question the others do not.
            new_terms = [t for t in info.terms if t in nlp.stems(p.text) and t not in covered]
            if new_terms:
                chosen.append(p)
                covered |= nlp.stems(p.text)
        chosen.sort(key=lambda p: (p.row.doc, p.row.start))
        ctx = " ".join(window(p) for p in chosen)
        # The value asked for must be in the answer's core (the best sentence and what
        # completed it), not in a sentence added for another part of the question.
        core_text = " ".join(p.text for p in core)
        features = {
            "dense": max(max(p.dense, p.window) for p in chosen),
            "coverage": coverage(info, ctx),
            "type_match": 1.0 if type_match(info, core_text) else 0.0,
            "focus": 1.0 if self._focus_ok(info, ctx) else 0.0,
        }
        return chosen, features

    def answer(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> Answer:
        info = analyze(question)
        chosen, features = self.select(info, passages, table)
        # Hard gates first: an instruction is not a question, and passages without the
        # kind of value asked for (or without the thing asked about) cannot answer it.
        gate = (
            "instruction, not a question" if info.injection
            else "about the document itself, which its text does not state" if info.meta
            else "about something the corpus never mentions"
            if _off_corpus(question, table, features["dense"], self.config.offtopic_max_dense)
            else "nothing retrieved" if not chosen
            else "no value of the kind asked for" if not features["type_match"]
            else "the thing asked about is not mentioned" if not features["focus"]
            else ""
        )
        confidence = 0.0 if gate else answerability(
            {k: features[k] for k in ("dense", "coverage")}, self.config.answerability_weights
        )
        signals = {**features, "gate": gate, "expects": list(info.expects), "focus_noun": info.focus}
        if gate or confidence < self.config.answerability_threshold:
            refused = refusal(question, passages, confidence, mode=self.name)
            refused.signals = signals
            return refused
        citations = []
        parts = []
        for n, p in enumerate(chosen, start=1):
            citations.append(
                Citation(n=n, doc=p.row.doc, section=p.row.section, start=p.row.start, end=p.row.end, quote=p.text)
            )
            parts.append(f"{p.text} [{n}]")
        return Answer(
            question=question,
            text=" ".join(parts),
            refused=False,
            citations=citations,
            mode=self.name,
            confidence=confidence,
            signals=signals,
        )


def refusal(question: str, passages: Sequence[Passage], confidence: float = 0.0, mode: str = "extractive") -> Answer:
    """The fixed refusal, with up to three closest passages shown as related."""
    related = [
        Related(doc=p.row.doc, section=p.row.section, start=p.row.start, end=p.row.end, quote=p.text, score=round(p.score, 4))
        for p in passages
        if _is_content(p.text)
    ][:3]
    return Answer(question=question, text=REFUSAL, refused=True, related=related, mode=mode, confidence=confidence)
