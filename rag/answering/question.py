"""What a question asks for, from general English only (question words, not any document's words).

    >>> analyze("How many people can the hall hold?").expects
    'number'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from .. import nlp

# The kind of value a question expects, by its opening words. Order matters: the
# first pattern that matches decides ("how many" before "how").
_EXPECTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.I))
    for kind, pattern in (
        ("age", r"\bhow\s+old\b|\b(what|which)\s+age\b|['’]s\s+age\b|\b(his|her|their)\s+age\b"),
        # "how much is the class?", "how much money": a price or a sum ("how much of it",
        # "how much time", "how much does it weigh" are quantities, below).
        ("money", r"\bhow\s+much\b.*\b(cost|costs|pay|paid|paying|spend|spent|charge|charged|earn|earns|worth|price|fund|funding|"
                  r"fee|fees|salary|wage|wages|budget|rent)\b|\bhow\s+much\s+(?:money|is|are|was|were)\b"),
        ("number", r"\bhow\s+(many|much|long|far|big|large|often)\b|\b(what|which)\s+(number|percentage|amount|size|fee|price|cost)\b|\bnumber\s+of\b"),
        ("date", r"\bwhen\b|\b(what|which)\s+(year|date|day|month|time|version)\b|\bwhat\s+time\b|\bsince\s+when\b"),
        ("person", r"\bwho(m|se)?\b|\b(what|which)\s+(person|people|man|woman|official|officials|author|journalist|writer|"
                   r"spokesperson|lawyer|attorney|judge|ceo|president|director|manager|maintainer|reviewer|founder|"
                   r"chair|chairman|chairwoman|mayor|senator|minister|secretary|member|members|customer|engineer)\b"),
        ("place", r"\bwhere\b|\b(what|which)\s+(country|countries|city|cities|place|state|town|location|region)\b"),
        ("reason", r"\bwhy\b|\bwhat\s+(is|was|were|are)\s+the\s+(reason|purpose|goal)\b|\bfor\s+what\s+reason\b"),
        # A money word with no question word that asks for something else: "what is the
        # fee?", "membership fee"; but "when are fees due?" asks for a date.
        ("money", r"\b(salary|wage|wages|price|fee|fees|budget|cost)\b"),
        ("manner", r"\bhow\b"),
        ("yesno", r"^\s*(is|are|was|were|do|does|did|can|could|will|would|should|has|have|had|may|must)\b"),
        ("what", r"\b(what|which|whats|what's|wat|wut)\b"),
    )
)


_WH = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how|whats|what's|wat|wut)\b")
# Words after which a question word still opens a question: "In what year", "and who",
# "According to X, who"; after any other word it is relative: "people who left".
_OPENS_AFTER = frozenset(
    "in on at for from to of with by about since until into under over during and or but so then".split()
)
# "When you X, should I Y?", "If X, can Y?": the question is the main clause.
_LEADING_CLAUSE = re.compile(
    r"^\s*(?:when|whenever|if|once|after|before|while)\b[^,?]*,\s*(?=(?:is|are|was|were|do|does|did|can|could|will|"
    r"would|should|has|have|had|may|must|what|which|who|whom|whose|when|where|why|how)\b)"
)


def asked_part(low: str) -> str:
    """The lower-cased question with what does not say what is asked blanked out: a
    leading conditional clause, and relative question words ("the people *who* left").

    >>> asked_part("when the light blinks, should i unplug it?")
    'should i unplug it?'
    >>> asked_part("what happens to people who leave?")
    'what happens to people ___ leave?'
    """
    low = _LEADING_CLAUSE.sub("", low, count=1)
    out = low
    for m in _WH.finditer(low):
        before = low[: m.start()].rstrip()
        word = before.split()[-1] if before else ""
        # "exactly how many", "roughly how long": an adverb before it still opens the question
        if not before or before[-1] in ",;:(\"'" or word in _OPENS_AFTER or word.endswith("ly"):
            continue
        out = out[: m.start()] + "_" * (m.end() - m.start()) + out[m.end():]
    return out


def expected_kind(text: str) -> str:
    """The kind of value ``text`` asks for, by its question words (see :data:`_EXPECTS`).

    >>> expected_kind("What did the mayor say would happen to people who leave?")
    'what'
    """
    low = asked_part(nlp.normalize(text).lower())
    return next((kind for kind, pattern in _EXPECTS if pattern.search(low)), "keyword")


@dataclass(frozen=True)
class Question:
    """A question's text, the kind of value it expects, and its content words."""

    text: str
    expects: str  # number, date, person, place, reason, manner, yesno, what, or keyword
    terms: tuple[str, ...]  # content stems, in order
    names: tuple[str, ...]  # capitalised names written in the question
    numbers: frozenset[str]  # numbers and years written in the question
    focus: tuple[str, ...] = ()  # the words naming what is asked for ("party" in "which party")


@lru_cache(maxsize=4096)
def analyze(text: str) -> Question:
    """The :class:`Question` for ``text``; a query with no question word is a keyword search."""
    expects = expected_kind(text)
    terms = tuple(dict.fromkeys(nlp.stem(t) for t in nlp.content_terms(text)))
    # The first word is capitalised anyway: alone, it is not a name.
    names = tuple(n for n in nlp.names(text) if len(n.split()) > 1 or not text.lstrip().startswith(n))
    return Question(text=text, expects=expects, terms=terms, names=names, numbers=frozenset(nlp.numbers(text)),
                    focus=focus_words(text))


_AUX = frozenset("is are was were be been do does did can could will would shall should may might must has have had".split())
_FOCUS_AFTER = re.compile(r"\b(?:which|what|whose|how\s+many|how\s+much|what\s+kind\s+of|what\s+type\s+of)\s+((?:[\w'-]+\s+){0,2}[\w'-]+)", re.I)
_OF = re.compile(r"\b(?:what|who)(?:'s|\s+(?:is|are|was|were))\s+(?:the\s+|a\s+|an\s+)?([\w-]+)\s+(?:of|for|at|in)\b", re.I)
_THE = re.compile(r"\bwhat(?:'s|\s+(?:is|are|was|were))\s+(?:the|a|an)\s+((?:[\w-]+\s+){0,1}[\w-]+)", re.I)
_POSSESSIVE = re.compile(r"['’]s\s+([\w-]+)", re.I)


def focus_words(text: str) -> tuple[str, ...]:
    """The words that name what is asked for: "party" in "Which political party does
    she belong to?", "salary" in "What is the mayor's salary?", "days" in "How many
    days ...". Empty when the question names no such thing ("Who ...", "When ...").

    >>> focus_words("Which political party does she belong to?")
    ('political', 'party')
    """
    low = nlp.normalize(text).lower()
    stop = nlp.stopwords()
    m = _OF.search(low) or (_POSSESSIVE.search(low) if re.search(r"\bwhat\b", low) else None)
    if m:
        return tuple(w for w in [m.group(1)] if w not in stop and w not in _AUX)
    m = _THE.search(low) or _FOCUS_AFTER.search(low)
    if not m:
        return ()
    out = []
    for w in m.group(1).split():
        if w in _AUX or w in stop:
            break
        out.append(w)
    return tuple(out)


# "…, and which …?": a second question joined to the first by "and" and a question word
# (general English). Only a clause that starts like a question is split off, so "salt and
# pepper" or "black and white" never are.
_SECOND = re.compile(
    r",?\s+and\s+(?=(?:what|which|who|whom|whose|when|where|why|how|is|are|was|were|do|does|did|can|could|"
    r"may|might|will|would|should|has|have)\b)",
    re.I,
)


def split_parts(text: str, min_words: int = 3) -> list[str]:
    """A two-part question as its two questions, else ``[text]``.

    >>> split_parts("Who built the hall, and when did it open?")
    ['Who built the hall?', 'when did it open?']
    >>> split_parts("Is the hall black and white?")
    ['Is the hall black and white?']
    """
    parts = _SECOND.split(text.strip(), maxsplit=1)
    if len(parts) != 2 or any(len(p.split()) < min_words for p in parts):
        return [text]
    first = parts[0].rstrip(" ,;")
    return [first if first.endswith("?") else first + "?", parts[1].strip()]


# A whole message that is only a greeting, thanks or goodbye (general English): it asks
# nothing, so it is not searched. Anything more ("hi, when does it open?") is a question.
_SMALL_TALK: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rf"^(?:{pattern})(?:\s+(?:there|all|everyone|again|bot|friend))?$"))
    for kind, pattern in (
        ("greeting", r"hi|hello|hey|hiya|howdy|yo|greetings|good\s+(?:morning|afternoon|evening|day)|"
                     r"how\s+are\s+you(?:\s+doing)?(?:\s+today)?|how'?s\s+it\s+going|what'?s\s+up|sup"),
        ("thanks", r"(?:(?:ok|okay|great|perfect|cool|nice|awesome|got\s+it|that\s+helps)\s+)?"
                   r"(?:thanks?|thank\s+you|thx|ty|cheers|much\s+appreciated)"
                   r"(?:\s+(?:a\s+lot|so\s+much|very\s+much|a\s+bunch))?"
                   r"(?:\s+for\s+(?:the|your|that|this)\s+(?:help|info|information|answer|answers|explanation))?"),
        # An acknowledgement alone or beside the others ("great, thanks"): taken as thanks.
        ("ok", r"ok|okay|great|perfect|cool|nice|awesome|got\s+it|i\s+see|understood|that\s+helps"),
        ("goodbye", r"bye|goodbye|bye\s+bye|see\s+you|see\s+ya|good\s*night|that'?s\s+all"),
    )
)


def other_script(text: str) -> bool:
    """Whether a question is plainly not English by its writing alone: most of its
    letters are of another script than the Latin one, or it opens a question or an
    exclamation as Spanish does ("¿", "¡").

    >>> other_script("¿Quién es?"), other_script("谁陪同她?"), other_script("Who is Héctor?")
    (True, True, False)
    """
    if "¿" in text or "¡" in text:
        return True
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(unicodedata.name(ch, "").startswith("LATIN") for ch in letters) < len(letters) / 2


def not_english(text: str, vocabulary: frozenset[str]) -> bool:
    """Whether a question reads as written in another language than English: four words
    or more, none of them an English stop word, and most unknown to the documents
    (``vocabulary``: their stems). A keyword query ("hall capacity seats max") has no
    stop word either, but its words are the documents'.

    >>> not_english("Wie viele Plätze hat der Saal?", frozenset({"hall", "seat"}))
    True
    >>> not_english("hall capacity seats max", frozenset({"hall", "capac", "seat", "max"}))
    False

    Most letters of another script than the Latin one, or Spanish's opening "¿" or "¡",
    say so at any length; a one-letter word ("a" is Spanish too) is no English stop word.

    >>> not_english("¿Quién acompañó a Ana?", frozenset()), not_english("谁陪同她参观?", frozenset())
    (True, True)
    """
    if other_script(text):
        return True
    words = [w for w in nlp.tokens(text) if w.isalpha()]
    if len(words) < 4 or any(len(w) > 1 and w in nlp.stopwords() for w in words):
        return False
    known = sum(nlp.stem(w) in vocabulary for w in words)
    return known <= len(words) / 2


def foreign_question(text: str, vocabulary: frozenset[str]) -> bool:
    """Whether a question is surely in another language: :func:`other_script`, or one
    that :func:`not_english` reads as foreign *and* is written as a question (it ends
    with "?"). A keyword query can meet :func:`not_english` (no stop word, words the
    documents lack) but is seldom typed with a question mark, and an English question
    with one nearly always has a stop word ("what", "is", "the").

    >>> foreign_question("Wie viele Plätze hat der Saal?", frozenset({"hall"}))
    True
    >>> foreign_question("quantum teleport protocol overview", frozenset())
    False
    """
    return other_script(text) or (text.rstrip().endswith("?") and not_english(text, vocabulary))


def small_talk(text: str) -> str | None:
    """``"greeting"``, ``"thanks"`` or ``"goodbye"`` when the whole message is one (or a
    few in a row: "hi, how are you?"), else None.

    >>> small_talk("Hello there!"), small_talk("thanks a lot :)"), small_talk("hi, who wrote it?")
    ('greeting', 'thanks', None)
    """
    low = nlp.normalize(text).lower()
    pieces = [" ".join(re.sub(r"[^\w\s']", " ", p).split()) for p in re.split(r"[,.!?;:]+", low)]
    pieces = [p for p in pieces if p]
    if not pieces or len(pieces) > 3:
        return None
    kinds = [next((kind for kind, pattern in _SMALL_TALK if pattern.match(p)), None) for p in pieces]
    if None in kinds:
        return None
    # "great, thanks, bye": the last thing said is what is answered.
    said = [k for k in kinds if k != "ok"]
    return said[-1] if said else "thanks"
