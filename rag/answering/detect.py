"""General detectors of the kinds of value a question can ask for, in any English text.

Dates, numbers, person names, places, reasons and quotations: what "when", "how many",
"who", "where", "why" and "who said" are answered by. Built on :mod:`rag.nlp` (tokens,
names) and the GeoNames gazetteer (places); no word of any particular document.
"""

from __future__ import annotations

import re
from functools import lru_cache

from .. import nlp

_DATE = re.compile(
    r"\b(1[5-9]\d\d|20\d\d)\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(19|20)\d\d-\d\d-\d\d\b"
    r"|\b(jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?\s+\d{1,2}\b",
    re.I,
)
_REASON = re.compile(
    r"\b(because|due to|in order to|so that|so as to|as a result|owing to|thanks to|the reason|purpose|aims? to|intended to|in an effort to)\b",
    re.I,
)
_QUOTE = re.compile(r"[\"“”]|(?:^|\s)['‘][A-Z]")
_MONEY = re.compile(r"[$€£¥]\s?\d|\b\d[\d,.]*\s*(?:dollars|euros|pounds|usd|eur|gbp)\b|\b(?:million|billion)\s+(?:dollars|euros|pounds)\b|\bfree of charge\b|\bno charge\b", re.I)
_AGE = re.compile(r"\b\d{1,3}[-\s]years?[-\s]old\b|\baged?\s+\d{1,3}\b|\bage\s+of\s+\d{1,3}\b|\b\d{1,3}\s+years\s+of\s+age\b", re.I)
_MANNER = re.compile(r"\b(by|through|using|via|with|run|type|use|install|configure|build|set|enter|press|follow)\b", re.I)


def has_date(text: str) -> bool:
    """A year, a calendar date, a month or a weekday."""
    return bool(_DATE.search(text)) or bool(nlp.dates(text))


_TIME_OF_DAY = re.compile(r"\b\d{1,2}[:.]\d\d\b|\b\d{1,2}\s*[ap]\.?m\b\.?|\b(?:noon|midday|midnight)\b|\bo'?clock\b", re.I)


def has_time(text: str) -> bool:
    """A time of day ("9:30", "6 pm", "noon").

    >>> has_time("Doors open at 6 pm."), has_time("It opens in late September.")
    (True, False)
    """
    return bool(_TIME_OF_DAY.search(text))


# A year or a decade ("1984", "the 1990s"): what "what year" asks for, and a number
# that is no count.
_YEARS = re.compile(r"\b(?:1[5-9]\d\d|20\d\d)s?\b")
# A share of a whole ("40%", "12 per cent", "half", "two-thirds").
_SHARE = re.compile(r"\d\s*(?:%|percent\b|per\s+cent\b)|\b(?:half|a\s+third|a\s+quarter|two[- ]thirds|three[- ]quarters)\b", re.I)


def has_year(text: str) -> bool:
    """A year or a decade.

    >>> has_year("It opened in the 1990s."), has_year("It opened on 5 May.")
    (True, False)
    """
    return bool(_YEARS.search(text))


def has_share(text: str) -> bool:
    """A percentage or a fraction of a whole.

    >>> has_share("About 31 percent bleached."), has_share("Half of them left."), has_share("31 bleached.")
    (True, True, False)
    """
    return bool(_SHARE.search(text))


def has_number(text: str) -> bool:
    """A quantity in digits or words ("40,000", "three")."""
    return bool(nlp.numbers(text))


def has_person(text: str) -> bool:
    """A person-like name (two capitalised words, or a titled name)."""
    return bool(nlp.persons(text))


@lru_cache(maxsize=16384)
def has_place(text: str) -> bool:
    """A country or city the gazetteer knows."""
    return any(nlp.is_place(n) for n in nlp.names(text))


def has_reason(text: str) -> bool:
    return bool(_REASON.search(text))


# A cause given otherwise than by has_reason's words: "which it attributed to rising
# costs", "Since the standard does not say how, ...", "..., saying it would flood".
_CAUSE = re.compile(r"\b(?:attributed\s+to|caused\s+by|the\s+result\s+of|led\s+to|blamed|citing|in\s+response\s+to|"
                    r"given\s+that|therefore|thus|hence)\b|(?:^|[,;:(]\s*)(?:since|as(?!\s+well\b)|so|saying)\b", re.I)


def gives_reason(text: str) -> bool:
    """Does ``text`` give a reason, by a word that says so ("because", "due to",
    "attributed to", a clause opening "since" or ", saying")?

    >>> gives_reason("Since the draft does not say how, it is built anew."), gives_reason("It is built anew.")
    (True, False)
    """
    return has_reason(text) or bool(_CAUSE.search(text))


def has_quote(text: str) -> bool:
    return bool(_QUOTE.search(text))


def has_manner(text: str) -> bool:
    return bool(_MANNER.search(text))


def has_money(text: str) -> bool:
    """An amount of money ("$4.2 million", "300 euros")."""
    return bool(_MONEY.search(text))


_NO_COST = re.compile(r"\bfree\b|\bat no (?:extra )?(?:cost|charge)\b|\bno (?:fee|charge|cost)\b", re.I)


def no_cost(text: str) -> bool:
    """Says something costs nothing ("Return shipping is free"): an amount of zero.

    >>> no_cost("Return shipping is free for members."), no_cost("It costs $5.")
    (True, False)
    """
    return bool(_NO_COST.search(text))


def has_age(text: str) -> bool:
    """Someone's age ("52-year-old", "aged 40")."""
    return bool(_AGE.search(text))


# What a number in a text can be other than a count of things, each kept when the
# question asks in its unit ("how many dollars", "how many years").
_NOT_COUNTS = (
    (re.compile(r"[$€£¥]\s?\d[\d,.]*|\b\d[\d,.]*\s*(?:(?:million|billion|thousand)\s+)?(?:dollars|euros|pounds|cents|usd|eur|gbp)\b", re.I),
     re.compile(r"\b(?:dollars?|euros?|pounds?|cents?|money)\b", re.I)),
    (re.compile(r"\b\d{1,2}[:.]\d\d\s*(?:[ap]\.?m\.?)?|\b\d{1,2}\s*[ap]\.?m\.?(?!\w)", re.I), re.compile(r"\b(?:hours?|minutes?|o'?clock)\b", re.I)),
    (re.compile(r"\b\d[\d.,]*\s*(?:%|percent\b|per\s+cent\b)", re.I), re.compile(r"percent|%|per\s+cent", re.I)),
    (_YEARS, re.compile(r"\byears?\b", re.I)),
    (re.compile(r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?\s+\d{1,2}(?:st|nd|rd|th)?\b"
                r"|\b\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b", re.I),
     re.compile(r"\bdays?\b", re.I)),
)


def has_count(text: str, question: str = "") -> bool:
    """Does ``text`` state how many of something there are, as "how many ...?" asks: a
    number that is not an amount of money, a time of day, a percentage, a year or a day
    of a month, and not one ``question`` itself gives.

    >>> has_count("The club has 40 boats."), has_count("Rides cost $0.15 per minute.")
    (True, False)
    >>> has_count("Of the 38 sites, 9 were hit.", "How many of the 38 sites were hit?")
    True
    >>> has_count("The storm of 11 January 1991.", "How many crew were aboard?")
    False
    """
    return bool(nlp.numbers(_counts_only(text, question)) - nlp.numbers(question))


def _counts_only(text: str, question: str) -> str:
    """``text`` with what :data:`_NOT_COUNTS` says is no count blanked out (each kept
    when ``question`` asks in its unit)."""
    for pattern, unit_asked in _NOT_COUNTS:
        if not unit_asked.search(question):
            text = pattern.sub(" ", text)
    return text


#: A contact detail of any kind: what "how do I contact them?" asks for.
ANY_CONTACT = "contact detail"
#: Words before a number that make it approximate or a bound ("up to 40", "about 60").
QUANTIFIER = (r"(?:(?:up to|about|around|approximately|roughly|nearly|almost|more than|over|at least|at most|"
              r"fewer than|less than|some)\s+)?")
#: A span of time ("eleven months", "three more weeks", "90 days"), which "how long did
#: it take / was it shut for" asks for.
DURATION = re.compile(
    QUANTIFIER + r"\b(?:\d[\d,.]*|an|" + nlp.NUMBER_WORDS_RE
    + r"|several|a\s+few|many)(?:[\s-]+(?:more|full|working|business|calendar|consecutive|school))?"
    r"[\s-]+(?:seconds?|minutes?|hours?|days?|nights?|weeks?|fortnights?|months?|years?|decades?)\b"
    r"(?:\s+and\s+(?:a\s+half|\d[\d,.]*\s+(?:seconds?|minutes?|hours?|days?|weeks?|months?)\b))?",
    re.I,
)
# A span given by its ends: "since 1874", "from March 1979 until ...".
_SINCE = re.compile(r"\bsince\s+(?:\w+\s+){0,2}(?:1[5-9]|20)\d\d\b|\bfrom\s+(?:\w+\s+){0,2}(?:1[5-9]|20)\d\d\s+(?:to|until|till)\b",
                    re.I)
# "how long" with a verb of time or a closing "for"; "how long is the bridge?" and "how
# long will the wall be?" ask for a length, "how long ago" for a date.
_ASKS_DURATION = re.compile(
    r"\bhow\s+long\b(?!\s+ago\b)(?=.*(?:\bfor\s*\??\s*$|\b(?:did|does|do|has|have|had|will|would|take|takes|took|last|lasts|lasted|"
    r"been|since|ago|until|stay|stayed|run|ran|spend|spent|wait|waited)\b))",
    re.I,
)
_ENDS_BE = re.compile(r"\bbe\s*\??\s*$", re.I)


def asks_duration(question: str) -> bool:
    """Does ``question`` ask for a span of time?

    >>> asks_duration("How long did the repairs take?"), asks_duration("How long will the wall be?")
    (True, False)
    """
    return bool(_ASKS_DURATION.search(question)) and not _ENDS_BE.search(question)


# A time given by an event ("once the fee is paid", "on the date it is first distributed"):
# "when" in a rule or a manual is often answered so.
_TIME_CLAUSE = re.compile(r"\b(?:when|whenever|once|after|before|upon|until|till|as\s+soon\s+as|prior\s+to|"
                          r"immediately|on\s+the\s+(?:date|day)|from\s+the\s+(?:date|day)|at\s+the\s+time)\b", re.I)


def tells_when(text: str) -> bool:
    """Does ``text`` say when: a date, a time of day, a span of time ("in three weeks") or
    an event ("once the fee is paid")?

    >>> tells_when("Fees are due once you join."), tells_when("The garden has 40 plots.")
    (True, False)
    """
    return has_date(text) or has_time(text) or has_duration(text) or bool(_TIME_CLAUSE.search(text))


def has_duration(text: str) -> bool:
    """Does ``text`` state a span of time, or one by its ends ("since 1874")?

    >>> has_duration("It ran for eighteen months."), has_duration("It has run since 1874."), has_duration("It runs daily.")
    (True, True, False)
    """
    return bool(DURATION.search(text) or _SINCE.search(text))


#: "How many ...?" asks for a count of things.
ASKS_COUNT = re.compile(r"\bhow\s+many\b", re.I)
# "How many <words>": what is counted, up to the verb ("how many night dives did ...").
_HOW_MANY = re.compile(r"\bhow\s+many\s+((?:[\w'-]+\s*){1,4})", re.I)
_AUXILIARIES = frozenset("is are was were do does did can could will would should shall have has had may might must".split())
# A count and the words after it: "87 reports of batteries", "around 60 volunteers".
_COUNT_WORDS = re.compile(
    r"(?<![\w:.,])(\d[\d,]*(?:\.\d+)?|once|twice|thrice|" + nlp.NUMBER_WORDS_RE
    + r")(?![\w,.]\d)((?:[\s-]+[^\W\d_][\w'-]*){0,4})", re.I)
# An age ("aged 8", "aged 8 to 12") is no count of things.
_AGE_BEFORE = re.compile(r"\b(?:aged?|ages)\s+(?:\d+\s*(?:to|-|–|and)\s*)?$", re.I)


def counted_asked(question: str) -> tuple[str, ...]:
    """The words that name what a "how many" question counts, up to its verb; () for
    other questions.

    >>> counted_asked("How many night dives did the team make?"), counted_asked("Who came?")
    (('night', 'dives'), ())
    """
    m = _HOW_MANY.search(nlp.normalize(question))
    if m is None:
        return ()
    stop = nlp.stopwords()
    out: list[str] = []
    for w in m.group(1).split():
        w = w.strip("?,.!;:").lower()
        if w in _AUXILIARIES:
            break
        if w and w not in stop and not w[0].isdigit():
            out.append(nlp.SHORTHAND.get(w, w))
    return tuple(out[:3])


def counted(text: str, question: str = "") -> list[tuple[str, ...]]:
    """What each count in ``text`` counts (see :func:`has_count`): up to four words after
    it that are not stop words, before the first one that is; ``()`` for a bare number
    (a table cell, "9 to 4"), which may count anything. A number that opens a line as
    an item's ("3. Grant of licence") or says an age is none.

    >>> counted("Crews launched 112 times and saved 247 lives; 3 of them were children.")
    [('times',), ('lives',), ()]
    """
    text = _counts_only(text, question)
    given = nlp.numbers(question)
    stop = nlp.stopwords()
    out: list[tuple[str, ...]] = []
    norm = nlp.normalize(text)
    for m in _COUNT_WORDS.finditer(norm):
        if m.group(1).replace(",", "").lower() in given:
            continue
        line_start = norm.rfind("\n", 0, m.start()) + 1
        numbers_item = not norm[line_start : m.start()].strip() and norm[m.end(1) : m.end(1) + 1] in (".", ")")
        if numbers_item or _AGE_BEFORE.search(norm[max(0, m.start() - 16) : m.start()]):
            continue
        words: list[str] = []
        for w in m.group(2).split():
            w = w.strip("-").lower()
            if not w:
                continue
            if w in stop:
                break
            words.append(nlp.SHORTHAND.get(w, w))
        out.append(tuple(words[:4]))
    return out


# A way to reach someone or something that a question asks for, and how it is written.
_CONTACT_ASKED = (
    ("phone number", re.compile(r"\b(?:phone|telephone|fax)\s*(?:number|no\.?|#)|\bnumber\s+(?:to|should\s+i|can\s+i)\s+call\b", re.I)),
    ("e-mail address", re.compile(r"\be-?mail\s+(?:address|addr)\b|\be-?mail(?:\s+(?:for|of)\s+[^?]*)?\s*\??\s*$", re.I)),
    ("web address", re.compile(r"\b(?:url|web\s*address|web\s*site|website|homepage|home\s+page|web\s*page)\b", re.I)),
    # "how do I contact them?", "how can residents get in touch?", "contact details": any
    # of the three (asked last, so a named kind wins). Unlike a named kind, a quote
    # without one may still answer ("write to the office"): preferred, not required.
    (ANY_CONTACT, re.compile(
        r"\bhow\s+(?:do|does|can|could|should|would|may|might|will|to)\b[^?.]*?"
        r"\b(?:contact|reach|get\s+in\s+touch|get\s+hold|write\s+to|e-?mail|phone|ring)\b"
        r"|\bcontact\s+(?:details?|info(?:rmation)?|number)\b", re.I)),
)
_CONTACT_WRITTEN = {
    "phone number": re.compile(r"\+?\(?\d[\d\s().-]{5,}\d"),
    "e-mail address": re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|[\w.+-]+\s*(?:\[at\]|\(at\)| at )\s*[\w-]+\s*(?:\[dot\]|\(dot\)|\.| dot )\s*\w+"),
    "web address": re.compile(r"(?:https?|ftp)://[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+"
                              r"|(?<![@\w.-])[\w-]+(?:\.[\w-]+)*\.(?:org|com|net|io|gov|edu|info|dev|co|uk|de|fr|eu)\b(?!\.\w)"
                              r"(?:/[^\s<>\"')\]]*)?", re.I),
}
_CONTACT_WRITTEN[ANY_CONTACT] = re.compile("|".join(f"(?:{rx.pattern})" for rx in _CONTACT_WRITTEN.values()), re.I)


#: The kinds of contact detail :func:`contact_asked` tells apart (:data:`ANY_CONTACT`, any of them, aside).
CONTACT_KINDS = ("phone number", "e-mail address", "web address")


def contact_asked(question: str) -> str | None:
    """The kind of contact detail ``question`` asks for: ``"phone number"``,
    ``"e-mail address"``, ``"web address"`` or any of them (:data:`ANY_CONTACT`), else None.

    >>> contact_asked("what's the club's phone number?"), contact_asked("Who runs the club?")
    ('phone number', None)
    >>> contact_asked("how can I get in touch with the coach?"), contact_asked("Who did she contact?")
    ('contact detail', None)
    """
    return next((kind for kind, rx in _CONTACT_ASKED if rx.search(question)), None)


def contact_pattern(kind: str) -> re.Pattern[str]:
    """How a contact detail of ``kind`` is written (see :func:`contact_asked`)."""
    return _CONTACT_WRITTEN[kind]


def has_contact(kind: str, text: str) -> bool:
    """Does ``text`` write a contact detail of ``kind`` (see :func:`contact_asked`)?

    >>> has_contact("web address", "Rules are at example.org/rules."), has_contact("phone number", "Call us.")
    (True, False)
    """
    return bool(_CONTACT_WRITTEN[kind].search(text))


_DETECT = {
    "money": has_money,
    "age": has_age,
    "number": has_number,
    "date": has_date,
    "person": has_person,
    "place": has_place,
    "reason": has_reason,
    "manner": has_manner,
}

#: The kinds of value a detector here can find in a text.
KINDS = frozenset(_DETECT)


def holds(expects: str, text: str, question: str = "") -> bool:
    """Does ``text`` hold a value of the kind ``expects``? (True for kinds no detector covers.)

    For "who" and "where" the name must be one the question does not already give: the
    lighthouse's own name does not answer "who kept the lighthouse".

    >>> holds("person", "Its keeper, Ana Lopez, logged every ship.", "Who kept the Gull Rock light?")
    True
    >>> holds("person", "Gull Rock was painted red.", "Who kept the Gull Rock light?")
    False
    """
    detect = _DETECT.get(expects)
    if detect is None:
        return True
    if not detect(text):
        return False
    if expects in ("person", "place") and question:
        asked = set(nlp.tokens(question))
        found = nlp.persons(text) if expects == "person" else [n for n in nlp.names(text) if nlp.is_place(n)]
        return any(not set(nlp.tokens(n)) <= asked for n in found)
    return True
