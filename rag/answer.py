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
import threading
import weakref
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Callable, Sequence

from . import nlp
import numpy as np

from .config import AnsweringConfig
from .table import SentenceTable
from .types import Answer, Citation, Embedder, Passage, SentenceRow


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
                    "advocate advocates activist activists spokesperson men women".split(), "person"),
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
    subject: str | None = None  # X of "what does X stand for" / "X's title": the word the value stands beside
    count: int = 1  # "name the two advocates": that many distinct values
    current: bool = False  # "how many are *currently* held": a capacity ("can hold up to") does not say
    city: bool = False  # "which city or town": a country or a facility's name does not answer
    # "Why is she heading to Brazil?" where the corpus names no Brazil: the premise is
    # wrong, and the answer names the places the text does ("Colombia and Mexico").
    absent_places: tuple[str, ...] = ()


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


@lru_cache(maxsize=1024)  # pure, and reranking and answering both need it per ask
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
    if "person" in kinds and _WHO_IS.match(nlp.normalize(question)):
        kinds.remove("person")  # "Who is Nayib Bukele?" asks what the text says of him, not for a name
    if re.search(r"\bname of\b", low) and not kinds:
        kinds.append("name")
    for noun in (focus, kind_noun):
        if noun in TYPE_NOUNS and not kinds:
            kinds.append(TYPE_NOUNS[noun])
    if (focus in TYPE_NOUNS and focus not in ROLE_NOUNS) or {"age", "percent", "money"} & set(kinds):
        focus = None  # a kind of answer, checked by type; not a word to find
    if kind_noun in ROLE_NOUNS and focus is None:
        focus = kind_noun  # "which senator": the text must speak of a senator (or the like)
    subject = None
    for kind, pattern in _SUBJECT_PATTERNS:
        m = re.search(pattern, nlp.normalize(question), re.I)
        if m:
            # One group per alternative (a regex cannot reuse a group name).
            word = next(g for g in m.groups() if g).strip(" ?.'\"").lower()
            if word in nlp.stopwords() or word in nlp.FRAME_WORDS:
                continue
            subject = word
            kinds = [kind] + [k for k in kinds if k not in {"name", kind}]
            break
    count = 1
    m = _COUNTED.search(low)
    if m:
        count = _COUNT_WORDS.get(m.group("n"), 1)
        noun = m.group("noun")
        if noun in TYPE_NOUNS and TYPE_NOUNS[noun] not in kinds:
            kinds.append(TYPE_NOUNS[noun])
        if focus == noun and noun not in ROLE_NOUNS:
            focus = None
    return QuestionInfo(
        text=question,
        terms=tuple(nlp.content_terms(question)),
        expects=tuple(kinds),
        exact=bool(_EXACT.search(low)) and "number" in kinds,
        injection=bool(_INJECTION.search(question)),
        focus=focus,
        meta=bool(_META.search(question)),
        named=_named(low),
        subject=subject,
        count=count,
        current=bool(_CURRENT.search(low)) and "number" in kinds,
        city=bool(re.search(r"\b(which|what|name of the)\s+(city|cities|town|towns|village|villages)\b", low)),
    )


# Questions whose answer is a value standing right beside a word of the question:
# an acronym's expansion, a person's title.
_SUBJECT_PATTERNS: tuple[tuple[str, str], ...] = (
    ("expansion", r"\bwhat (?:does|did) (?:the )?(?:acronym |abbreviation )?(?P<subj>[\w\-.]+) stand for\b"
                  r"|\b(?:the )?(?P<subj2>[\w\-.]+)'s (?:full|complete|official|formal) name\b"
                  r"|\b(?:full|complete|formal) name of (?:the )?(?P<subj3>[A-Z][\w\-.]+)(?:\?|$)"
                  r"|\bwhat(?:'s| is) (?:the )?(?P<subj4>[\w\-.]+) (?:short for|an acronym for|an abbreviation for)\b"),
    # "post" and a mid-sentence "role"/"position" mean something else ("Noem's post on
    # X", "El Salvador's role in the deal").
    ("title", r"\b(?P<subj>[\w\-.]+)'s (?:official |job |formal |exact )?(?:title|job)\b"
              r"|\b(?P<subj2>[\w\-.]+)'s (?:official |formal )?(?:position|role)\s*\??\s*$"
              r"|\bwhat (?:title|position|job) (?:does|did) (?P<subj3>[\w\-.]+) (?:hold|have)\b"
              r"|\b(?:title|position|job|role) of (?:the )?(?P<subj4>[A-Z][\w\-.]+)\s*\??\s*$"),
)
_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "both": 2, "2": 2, "3": 3, "4": 4, "5": 5}
# "name the two advocates", "which three countries", "who are the two officials"
_COUNTED = re.compile(
    r"\b(?:name|list|which|what|who\s+(?:are|were)|identify)\s+(?:the\s+|both\s+)?(?P<n>two|three|four|five|both|[2-5])\s+"
    r"(?:[\w\-]+\s+){0,3}?(?P<noun>"
    + "|".join(sorted({k for k in TYPE_NOUNS if k.endswith("s")} | {"people", "men", "women"}, key=len, reverse=True))
    + r")\b"
)
_CURRENT = re.compile(r"\b(currently|right now|at present|presently|at the moment|today|nowadays|now)\b")
# A capacity is not a count: "can hold up to 40,000 inmates" does not say how many are there.
_CAPACITY = re.compile(r"\b(?:up to|capacity(?: of| for| to hold)?|room for|(?:can|could) (?:hold|house|accommodate|take)(?: up to)?)\s+(?:some |about |around |nearly |almost )?([\d,]+|\w+)", re.I)


_NAMED = re.compile(r"\bname of (?:the |a |an |this |that |their |its )?((?:[\w\-.']+\s+){0,3}[\w\-.']+)", re.I)


def _named(low: str) -> str | None:
    head = _focus(low, _NAMED)  # "the name of the old law whose ..." -> "law"
    return None if head is None or head in TYPE_NOUNS else head


# "Who is/was <a name>?": the name is given; the answer is what the text says of it.
_WHO_IS = re.compile(r"^\s*(?i:who\s+(?:is|was|are|were))\s+(?:[A-Z][\w.'\-]*\s*){1,4}(?:\?|$|,|\s+and\b)")

_KIND_PATTERNS: tuple[tuple[str, str], ...] = (
    ("age", r"\bhow old\b|\bwhat age\b"),
    ("percent", r"\bwhat percent|\bpercentage\b|\bwhat share\b"),
    ("money", r"\bhow much\b"),
    ("number", r"\bhow (many|much|long(?! ago)|big|large)\b|\bwhat (number|amount)\b"),
    ("date", r"\bwhen\b|\b(what|which) (year|date|day|month)\b|\bsince when\b|\bhow long ago\b"),
    ("person", r"^\s*(who|whom|whose)\b|\b(and|,) (who|whom)\b|\bwho (is|was|are|were|said|wrote|joined|posted|described)\b"),
    ("place", r"^\s*where\b|\b(and|,) where\b"),
)


# Where a question asks a second thing: "..., and on what date?", "... and which
# countries ...?", or a second question mark.
_PART = re.compile(
    r",?\s+and\s+(?=(?:who|whom|what|when|where|which|why|how|(?:on|in|at|for|from|to|with) (?:what|which|whom))\b)"
    r"|(?<=\?)\s+(?=\S)",
    re.I,
)


def split_parts(question: str) -> list[str]:
    """The parts of a question that asks several things at once, or ``[question]``.

    ``"Who posted it, and on what date?"`` -> ``["Who posted it", "on what date?"]``.
    A part of fewer than three words ("Why and how ...") is not a question of its own.
    """
    parts = [p.strip(" ,") for p in _PART.split(question) if p.strip(" ,?")]
    if len(parts) < 2 or any(len(p.split()) < 3 and not p.endswith("?") for p in parts):
        return [question]
    return parts


def part_info(part: str, first: str) -> QuestionInfo:
    """:func:`analyze` for one part; a part too short to say what it is about ("on
    what date?") borrows the first part's words for coverage, not for its kind."""
    info = analyze(part)
    if len(info.terms) < 2 and part != first:
        rest = re.sub(r"^\s*(?:who|whom|whose|what|which|where|when|why|how)\b", "", first, flags=re.I)
        info = replace(info, terms=tuple(dict.fromkeys([*info.terms, *nlp.content_terms(rest)])))
    return info


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


# A proper name of two or more capitalised words ("Terrorism Confinement Center").
_PROPER = r"(?:[A-Z\u00C0-\u00DE][\w\u00C0-\u024F'.\-]*\s+(?:of\s+|the\s+|de\s+)?){1,6}[A-Z\u00C0-\u00DE][\w\u00C0-\u024F\-]*"


def _beside(subject: str, sentence: str) -> list[tuple[str, str]]:
    """(text before, text after) the first mentions of ``subject`` in ``sentence``.

    Bounded (a few mentions, 200 characters each side) so that a pathological
    sentence repeating the word cannot make matching quadratic.
    """
    norm = nlp.normalize(sentence)
    pat = re.compile(r"(?<![\w])" + re.escape(subject) + r"(?:'s)?(?![\w])", re.I)
    out = []
    for m in pat.finditer(norm):
        out.append((norm[max(0, m.start() - 200) : m.start()], norm[m.end() : m.end() + 200]))
        if len(out) == 5:
            break
    return out


def _has_expansion(subject: str, sentence: str) -> bool:
    """An acronym or short name next to its long form: "Terrorism Confinement Center,
    known as CECOT", "the CECOT, El Salvador's Terrorism Confinement Center", "X (Y)".

    The long form must be an apposition (closed by a comma, bracket, quote or the
    sentence end) and not a person ("After touring CECOT, Secretary Noem said").
    """
    for before, after in _beside(subject, sentence):
        m = re.search("(" + _PROPER + r")\s*,?\s*(?:\(|(?:also |better |commonly )(?:known as|called)\s+|(?:known as|dubbed)\s+)(?:the\s+)?$", before)
        if m and not nlp.persons(m.group(1)):
            return True
        m = re.match(r"\s*(?:,|\(|\u2014|--|:)\s*(?:the\s+)?(" + _PROPER + r")\s*(?:[,)\"'\u201d.;]|$)", after)
        if m and not nlp.persons(m.group(1)):
            return True
    return False


def _title_words(subject: str, sentence: str) -> int:
    """How many words of title stand with the person ``subject`` names: "Homeland
    Security Secretary Kristi Noem" 3, "President Nayib Bukele" 1, "Noem, the secretary
    of homeland security" 4; an abbreviation alone ("Sec. Noem") 0."""
    best = 0
    for before, after in _beside(subject, sentence):
        run = re.search(r"((?:[A-Z][\w.\-]*\s+(?:of\s+)?){1,8})$", before)
        if run:
            own = {w for p in nlp.persons(run.group(1) + subject) for w in nlp.tokens(p)}
            words = [w for w in run.group(1).split() if w.lower() not in own and w.lower() != "of"]
            if any(w.lower() in ROLE_NOUNS for w in words):
                best = max(best, len(words))
        m = re.match(r"\s*,\s*(?:the|a|an)\s+((?:(?!who\b|that\b|which\b)[\w.\-]+\s+){0,4}?(?:"
                     + "|".join(ROLE_NOUNS) + r")\b(?:\s+of(?:\s+[\w\-]+){1,3})?)", after, re.I)
        if m:
            best = max(best, len(m.group(1).split()))
    return best


def _has_title(subject: str, sentence: str) -> bool:
    return _title_words(subject, sentence) > 0


def _new_persons(info: QuestionInfo, sentence: str) -> set[str]:
    """Persons ``sentence`` names other than those the question names: "Kristi Noem" does
    not answer "who showed Noem around" (same surname), "Kristi Smith" would."""
    asked = nlp.name_tokens(info.text)
    return {p for p in nlp.persons(sentence) if nlp.tokens(p) and nlp.tokens(p)[-1] not in asked}


def _unasked_names(info: QuestionInfo, sentence: str) -> list[str]:
    """Names in ``sentence`` that the question does not already contain."""
    asked = nlp.name_tokens(info.text)
    return [n for n in nlp.names(sentence) if not set(nlp.tokens(n)) <= asked]


def _city_names(info: QuestionInfo, sentence: str) -> list[str]:
    norm = nlp.normalize(sentence).lstrip(" \"'\u201c\u2018\u2014-")
    return [
        n for n in _unasked_names(info, sentence)
        # "Police said ...": a capitalised first word is not a name
        if not (" " not in n and norm.startswith(n)) and nlp.is_city(n)
    ]


def _new_places(info: QuestionInfo, sentence: str) -> list[str]:
    """Countries or cities in ``sentence`` that the question does not name."""
    return [n for n in _unasked_names(info, sentence) if nlp.is_place(n)]


# Where a question says someone goes: "heading to Brazil and Argentina", "visit Peru".
_DESTINATION = re.compile(
    r"\b(?:(?:go(?:es|ing)?|went|head(?:s|ed|ing)?|travel(?:s|ed|led|ing|ling)?|fl(?:y|ies|ew|ying)|trip|"
    r"journey|mov(?:e|es|ed|ing)|return(?:s|ed|ing)?)\s+to|visit(?:s|ed|ing)?|tour(?:s|ed|ing)?)\s+(?:the\s+)?"
    r"((?:[A-Z][\w.\-]*)(?:\s+(?:and|or|&)\s+|,\s*|\s+)?(?:[A-Z][\w.\-]*(?:\s+(?:and|or|&)\s+|,\s*|\s+)?)*)"
)


def with_corpus(info: QuestionInfo, table: SentenceTable) -> QuestionInfo:
    """``info`` completed with what only the corpus can tell.

    A question asking why or what of a trip to places the corpus never names ("Why
    is Noem heading to Brazil and Argentina?") rests on a false premise: its answer
    is the sentence naming the places the text does ("Colombia and Mexico"). Only
    destinations count: a name after "in" may be an alias the text spells otherwise
    ("the United States" for "U.S."), and a person may bear a place's name (Georgia).
    """
    if info.expects:
        return info
    places = [
        n for m in _DESTINATION.finditer(nlp.normalize(info.text)) for n in nlp.names(m.group(1))
        if nlp.is_place(n)
    ]
    absent = tuple(n for n in places if not any(nlp.stem(w) in table.vocabulary for w in nlp.tokens(n)))
    if not absent:
        return info
    return replace(info, absent_places=absent, expects=("place",))


def _counted_numbers(info: QuestionInfo, sentence: str) -> set[str]:
    found = nlp.exact_numbers(sentence) if info.exact else nlp.numbers(sentence)
    if info.current:
        capacity = {m.group(1).replace(",", "").lower() for m in _CAPACITY.finditer(nlp.normalize(sentence))}
        found = found - capacity
    return found


def _has_kind(kind: str, info: QuestionInfo, sentence: str) -> bool:
    if kind in ("expansion", "title"):
        if not info.subject:
            return False
        return (_has_expansion if kind == "expansion" else _has_title)(info.subject, sentence)
    if kind == "number":
        found = _counted_numbers(info, sentence)
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
    if kind == "name" and info.named:
        # "the name of the gang": a proper name right beside "gang" ("the X gang", "gang X").
        # If the text calls the thing something else ("law" -> "Act"), any new name will do.
        asked = nlp.name_tokens(info.text)
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
        return bool(_new_persons(info, sentence))
    if kind == "place" and info.city:
        return bool(_city_names(info, sentence))
    if kind == "place" and info.absent_places:
        return bool(_new_places(info, sentence))
    # place / name: a name the question did not already contain.
    return bool(_unasked_names(info, sentence))


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


def _embedded_bylines(best: Passage, table: SentenceTable) -> list[tuple[int, SentenceRow]]:
    """Bylines of an embedded post that repeats the words ``best`` quotes.

    A story quotes a post ("'I toured the CECOT,' Noem wrote in an X post") and then
    embeds it, its byline dating it: the byline answers "when did she post it".
    """
    words = f" {' '.join(nlp.tokens(best.text))} "
    return [
        b
        for row, echo, bylines in _posts(table).get(best.row.doc, [])
        if row.id != best.row.id and f" {echo} " in words
        for b in bylines
    ]


# Per table (immutable once loaded): the sentences of embedded posts, each with its
# words and the bylines below it, so answering does not scan the document for them.
_POSTS: "weakref.WeakKeyDictionary[SentenceTable, dict[str, list[tuple[SentenceRow, str, list[tuple[int, SentenceRow]]]]]]"
_POSTS = weakref.WeakKeyDictionary()
_POSTS_LOCK = threading.Lock()


def _posts(table: SentenceTable) -> dict[str, list[tuple[SentenceRow, str, list[tuple[int, SentenceRow]]]]]:
    with _POSTS_LOCK:
        found = _POSTS.get(table)
        if found is None:
            found = {}
            for doc, rows in table.by_doc.items():
                above: dict[str, list[tuple[int, SentenceRow]]] = {}
                for b in rows:
                    if _is_byline(table.text(b)):
                        for d, r in table.nearby(b, 4):
                            if r.start < b.start:
                                above.setdefault(r.id, []).append((d, b))
                posts = []
                for r in rows:  # document order, as a reader meets them
                    if r.id not in above:
                        continue
                    echo = " ".join(nlp.tokens(table.text(r)))
                    if len(echo.split()) >= 6:
                        posts.append((r, echo, sorted(above[r.id], key=lambda x: x[0])))
                found[doc] = posts
            _POSTS[table] = found
        return found


def _window(p: Passage, table: SentenceTable) -> str:
    return " ".join(table.text(r) for r in [p.row, *table.neighbours(p.row)])


def _is_byline(text: str) -> bool:
    return text.lstrip().startswith(("\u2014", "\u2013", "--"))


def _is_content(text: str) -> bool:
    # A bare link or handle is not an answer on its own.
    return sum(1 for w in nlp.tokens(text) if w.isalpha()) >= 3


# --- the extractive answerer -------------------------------------------------


class ExtractiveAnswerer:
    """Answers with verbatim source sentences; refuses below the answerability threshold."""

    name = "extractive"

    def __init__(self, config: AnsweringConfig, embedder: Embedder | None = None) -> None:
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

    def merit(self, info: QuestionInfo, p: Passage, table: SentenceTable) -> float:
        """A retrieved sentence's worth as an answer: its fused retrieval score, then
        what answering needs: the kind of value asked for, the thing asked about, and
        the question's words (weights in ``Config.selection_weights``)."""
        w = self.config.selection_weights
        around = _window(p, table)
        if not info.subject:
            typed = w["type"] * type_match(info, around)
        elif "title" in info.expects:
            # A value anchored on a word of the question (Noem's title) is relevant
            # wherever it stands, so it weighs more; a fuller title more ("Homeland
            # Security Secretary" over "Secretary").
            typed = w["anchored_type"] * min(1.0, _title_words(info.subject, around) / 3) * type_match(info, around)
        else:
            typed = w["anchored_type"] * type_match(info, around)
        return p.score + typed + w["focus"] * self._focus_ok(info, around) + w["coverage"] * coverage(info, p.text)

    def scores(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> list[float]:
        """Each passage's :meth:`merit` for ``question`` (a :class:`rag.types.Reranker`).

        Classic answer-type reranking: retrieval scores meaning and words; a sentence
        holding the kind of value asked for ("when" -> a date) next to the thing asked
        about is likelier the evidence (hit@1 0.714 -> 0.810 on evals/dataset.jsonl).
        A bare link is never an answer (select drops it): it keeps its fused score.
        """
        info = with_corpus(analyze(question), table)
        return [self.merit(info, p, table) if _is_content(p.text) else p.score for p in passages]

    def select(
        self,
        info: QuestionInfo,
        passages: Sequence[Passage],
        table: SentenceTable,
        extend: bool = True,
    ) -> tuple[list[Passage], dict[str, float]]:
        """The sentences to answer with, and the features of that choice.

        ``extend=False`` keeps to the core: the best sentence and what completes it.
        """
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

        merits = {id(p): self.merit(info, p, table) for p in cands}
        ranked = sorted(cands, key=lambda p: -merits[id(p)])
        if not extend and info.expects:
            # One part of a question that asks two things: the passages were retrieved
            # for the whole, so the part's kind of value, not rank, decides first.
            ranked.sort(key=lambda p: not type_match(info, _window(p, table)))
        best = ranked[0]
        chosen = [best]
        # A value asked for may sit beside the best sentence: a quote and then "X said",
        # a post and then its byline. Complete from the nearest sentences of the section.
        # The adjacent sentence may complete it as is; one further away must also
        # share a word with the question (a byline names who posted).
        missing = missing_kinds(info, best.text)
        nearby = [*table.nearby(best.row, 4), *_embedded_bylines(best, table)] if missing else []
        for kind in missing:
            around = list(nearby)
            if kind == "date":  # "March 26, 2025" answers "when" better than "Wednesday"
                around.sort(key=lambda dr: (not (nlp.dates(table.text(dr[1])) & nlp.MONTHS), dr[0]))
            for distance, r in around:
                text = table.text(r)
                if not _is_content(text) or not _has_kind(kind, info, text) or any(c.id == r.id for c in chosen):
                    continue
                if kind == "number" and not self._focus_ok(info, text):
                    continue  # a count of something else ("three-day trip" for "how many people")
                # A byline ("— Secretary Kristi Noem (@Sec_Noem) March 26, 2025") speaks
                # for the whole post above it, however many lines that post has.
                if distance == 1 or set(info.terms) & nlp.stems(text) or (r.start > best.row.start and _is_byline(text)):
                    chosen.append(_as_passage(r, text, best))
                    break
        if info.count > 1 and "person" in info.expects:
            # "Name the two advocates": one more sentence per person still missing.
            people = {x for c in chosen for x in _new_persons(info, c.text)}
            for p in ranked[1:]:
                if len(people) >= info.count or len(chosen) >= self.config.max_answer_sentences:
                    break
                new = _new_persons(info, p.text) - people
                if new and self._focus_ok(info, _window(p, table)) and all(p.id != c.id for c in chosen):
                    chosen.append(p)
                    people |= new
        core = list(chosen)
        covered = set().union(*(nlp.stems(p.text) for p in chosen))
        for p in ([] if not extend else ranked[1:]):
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
        ctx = " ".join(_window(p, table) for p in chosen)
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

    def select_parts(
        self, whole: QuestionInfo, passages: Sequence[Passage], table: SentenceTable
    ) -> tuple[list[Passage], dict[str, float]]:
        """:meth:`select` for each part of a question that asks two things at once.

        Each part gets its own best sentence (and what completes it); a part whose
        kind of value or counted thing no passage holds adds nothing. The features
        are those of the first part that can be answered, so a question is refused
        only when no part of it can be.
        """
        chosen, features = self.select(whole, passages, table)
        parts = split_parts(whole.text)
        if len(parts) == 1:
            return chosen, features
        whole_ok = bool(chosen and features["type_match"] and features["focus"])
        infos = [part_info(part, parts[0]) for part in parts]
        picks = [(i, *self.select(i, passages, table, extend=False)) for i in infos]
        # A part asking for no kind of value ("..., and why?") matches anything; it may
        # add a sentence to an answer, never rescue one the gates would refuse.
        answered = [(c, f) for i, c, f in picks if c and f["type_match"] and f["focus"] and (i.expects or whole_ok)]
        if not answered:
            return chosen, features
        if not whole_ok:
            # The question as a whole asks for values no one sentence holds ("who, and
            # on what date"); its parts decide.
            chosen, features = [], dict(answered[0][1])
        for c, _ in answered:
            for p in c:
                if len(chosen) < self.config.max_answer_sentences and all(p.id != x.id for x in chosen):
                    chosen.append(p)
        chosen.sort(key=lambda p: (p.row.doc, p.row.start))
        features["coverage"] = coverage(whole, " ".join(p.text for p in chosen))
        return chosen, features

    def answer(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> Answer:
        info = with_corpus(analyze(question), table)
        chosen, features = self.select_parts(info, passages, table)
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
        citations = [Citation.of(n, p) for n, p in enumerate(chosen, start=1)]
        parts = [f"{p.text} [{n}]" for n, p in enumerate(chosen, start=1)]
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
    """The fixed refusal, with up to three closest passages (not bare links) shown as related."""
    return Answer.refusal(question, [p for p in passages if _is_content(p.text)], confidence=confidence, mode=mode)
