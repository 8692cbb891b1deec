"""The answer phrase: the part of a quoted sentence that answers, with exact offsets.

For "how many" the number with what it counts ("up to 40,000 inmates"), for "when"
the date, for "who" a name the question does not already give, for "where" a place;
otherwise the clause of the sentence that says most beyond the question's own words.
Offsets are into the sentence text, so ``sentence[start:end]`` is the phrase.
"""

from __future__ import annotations

import re

from .. import nlp
from ..chunking import split_clauses, table_cells
from .detect import ASKS_COUNT, DURATION, QUANTIFIER, asks_duration, contact_asked, contact_pattern, holds
from .question import Question, analyze

_QUANT = QUANTIFIER
# What follows a number and says what it counts ("40,000 inmates"), never a joining
# word or a preposition ("six members of"); then a rate ("three days per week").
_COUNTED = (r"(?:[\s-]+(?!(?:and|or|of|to|in|the|for|with|from|at|by|on|as|than|a|an|per)\b)[a-z][\w-]*){0,2}"
            r"(?:\s+(?:per|of)\s+(?!(?:the|a|an|its|their|his|her|our|this|that|these|those)\b)[a-z]+)?")
_NUMBER = re.compile(
    # not a part of a time of day ("9:30"): that is when, not how many; nor of a word
    # ("file1.sh", "v2"), nor of a code ("ZX9 4QW"), nor a manual page's section ("make(1)")
    _QUANT + r"(?:[$€£]\s?)?(?<![\w:])(?<![A-Za-z]\()\d[\d,.]*\d?(?![\dA-Z])(?!\d*:\d)(?:\s?(?:%|percent|million|billion|thousand|hundred))?" + _COUNTED
    + r"|" + _QUANT + r"\b(?:" + nlp.NUMBER_WORDS_RE + r")\b" + _COUNTED,
    re.I,
)
# A length, height or distance ("2.8-kilometre", "40 metres", "12 ft"), which "how long
# is the wall?", "how tall", "how far" ask for.
_LENGTH = re.compile(
    _QUANT + r"(?<![\w:])\d[\d,.]*(?:\s?|-)(?:kilometres?|kilometers?|km|metres?|meters?|m|miles?|mi|feet|foot|ft|"
    r"inches|inch|in\.|centimetres?|centimeters?|cm|millimetres?|millimeters?|mm|yards?|yd)\b"
    r"(?:\s+(?:long|high|tall|wide|deep|away))?",
    re.I,
)
_ASKS_SIZE = re.compile(r"\bhow\s+(?:long|tall|high|wide|deep|far|big|large)\b", re.I)

_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
_TIME_OF_DAY = r"\b\d{1,2}[:.]\d\d(?:\s?[ap]\.?m\b\.?)?|\b\d{1,2}\s?[ap]\.?m\b\.?|\b(?:noon|midnight)\b"
_TIME = re.compile(_TIME_OF_DAY)
_WEEKDAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_DATE = re.compile(
    # a weekday before a date is part of it ("Saturday 5 April 2025")
    rf"(?:\b{_WEEKDAY},?\s+(?:the\s+)?)?\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+\d{{4}})?"
    rf"|(?:\b{_WEEKDAY},?\s+)?{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|{_MONTH}\s+\d{{4}}"
    rf"|(?:\b{_WEEKDAY},?\s+)?{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?"
    r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(?:1[5-9]|20)\d\d\b"
    r"|" + _TIME_OF_DAY + r"|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
)
_ASKS_TIME = re.compile(r"\bwhat time\b|\bhow early\b|\bhow late\b", re.I)
# A question about when something stops, which a range ("from 8 a.m. to 4 p.m.")
# answers with its second end.
_ASKS_END = re.compile(r"\b(?:close|closes|closing|closed|shut|shuts|shutting|end|ends|ending|finish|finishes|until|till|how\s+late)\b", re.I)
_RANGE_TO = re.compile(r"\s*(?:to|until|till|through|-|–|—)\s*", re.I)


def _range_end(text: str, span: tuple[int, int], value: re.Pattern[str] | None = None) -> tuple[int, int]:
    """The other end of a range ``span`` opens ("8:00 a.m. to 4:00 p.m." -> "4:00 p.m."),
    else ``span``. ``value``: what an end is (default a date or time)."""
    joint = _RANGE_TO.match(text, span[1])
    other = (value or _DATE).match(text, joint.end()) if joint else None
    return _phrase_at(other) if other else span


def _range_whole(text: str, span: tuple[int, int], value: re.Pattern[str] | None = None) -> tuple[int, int]:
    """The whole range ``span`` opens or closes ("8 a.m. to 4 p.m.", "12:15–13:00",
    with ``value`` a count: "six to nine months"), else ``span``."""
    end = _range_end(text, span, value)
    if end != span:
        return span[0], end[1]
    window = max(0, span[0] - 40)
    for m in (value or _DATE).finditer(text, window, span[0]):
        if m.end() < span[0] and _RANGE_TO.fullmatch(text, m.end(), span[0]):
            return _phrase_at(m)[0], span[1]
    return span


_AT_TIME = re.compile(r",?\s+(?:at|from)\s+(?=\d|noon|midnight)", re.I)


def _with_time(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """A date ``span`` with the time of day that follows it ("21 June 2025 at 05:45")."""
    joint = _AT_TIME.match(text, span[1])
    time = _TIME.match(text, joint.end()) if joint else None
    return (span[0], _phrase_at(time)[1]) if time else span


def _phrase_at(m: re.Match[str]) -> tuple[int, int]:
    """Where a match's phrase stands, without the punctuation around it ("a.m." keeps
    its last full stop)."""
    phrase = m.group(0).strip(" ,.;:")
    if re.search(r"\b[ap]\.m$", phrase) and m.group(0).strip().endswith("."):
        phrase += "."
    start = m.start() + m.group(0).find(phrase)
    return start, start + len(phrase)


_MONEY = re.compile(
    _QUANT + r"(?:[$€£¥]\s?\d[\d,.]*\d?(?:\s?(?:million|billion|thousand|[mbk]n?)\b)?|\d[\d,.]*\s*(?:million\s+|billion\s+)?(?:dollars|euros|pounds))",
    re.I,
)
# What a count of things is not: an amount, a share, or a year ("opened in 2022, can
# hold ..." is no count for "how many guards").
_NOT_A_COUNT = re.compile(_QUANT + r"(?:[$€£¥]|\d[\d,.]*\s?(?:%|percent\b|per\s+cent\b|dollars\b|euros\b|pounds\b)"
                          r"|(?:1[5-9]|20)\d\d(?![\d.]|,\d)(?!\s+[a-z]))", re.I)
_AGE = re.compile(r"\b\d{1,3}[-\s]years?[-\s]old\b|\baged?\s+\d{1,3}\b|\b\d{1,3}\s+years\s+of\s+age\b", re.I)


def _first(pattern: re.Pattern[str], text: str, avoid: set[str], terms: tuple[str, ...] = (),
           skip: re.Pattern[str] | None = None) -> tuple[int, int] | None:
    """The value of ``pattern`` in ``text`` nearest the question's words (``terms``,
    stems), the longest among equally near: in "On Monday she toured the hall, which
    opened in 1920", "when did the hall open" is answered by 1920, not Monday. A value
    that ``skip`` matches where it starts is passed over (a price is no count)."""
    wanted = set(terms)
    near = _term_spans(text, wanted)
    best, best_key = None, None
    for m in pattern.finditer(text):
        start, end = _phrase_at(m)
        phrase = text[start:end]
        if skip is not None and skip.match(phrase):
            continue
        if not phrase or nlp.numbers(phrase) & avoid and not (nlp.numbers(phrase) - avoid):
            continue  # the question's own number is not the answer
        said = nlp.stems(phrase)
        if said and said <= wanted:
            continue  # nor its own words: "what time on Tuesday" is not answered by "Tuesday"
        # One that holds a question word first ("60 volunteers" for "how many
        # volunteers"), then the nearest to the question's other words: of "last 75
        # years, against 30 years for the old one", "how many years would it last" is
        # answered by the first.
        inside = [(a, b) for a, b in near if start <= a and b <= end]
        around = [(a, b) for a, b in near if b <= start or a >= end]
        key = (not inside, _gap(around, start, end) if around else len(text), -(end - start))
        if best_key is None or key < best_key:
            best, best_key = (start, end), key
    return best


def _term_spans(text: str, wanted: set[str]) -> list[tuple[int, int]]:
    """Where the question's words (stems) stand in ``text``."""
    return [m.span() for m in re.finditer(r"[\w'-]+", text) if nlp.stem(m.group(0).lower()) in wanted]


def _gap(near: list[tuple[int, int]], start: int, end: int) -> int:
    """Characters between ``text[start:end]`` and the nearest of ``near`` (0 when none)."""
    return min((max(0, a - end, start - b) for a, b in near), default=0)


def _name_span(names: list[str], text: str, asked: tuple[str, ...], terms: tuple[str, ...] = ()) -> tuple[int, int] | None:
    """The name nearest the question's words (``terms``, stems), the first among equally
    near, that the question does not give itself: in "Our captain is Ana Ruiz, and the
    secretary is Li Wei", "who is the secretary" is answered by Li Wei."""
    # The question may write a name in lower case ("who did ruiz meet"): its stems count too.
    asked_words = {w for n in asked for w in nlp.tokens(n)} | set(terms)
    near = _term_spans(text, set(terms))
    best, best_gap = None, None
    for n in names:
        if set(nlp.tokens(n)) <= asked_words or {nlp.stem(w) for w in nlp.tokens(n)} <= asked_words:
            continue
        at = text.find(n)
        if at < 0:
            continue
        gap = _gap(near, at, at + len(n))
        if best_gap is None or gap < best_gap:
            best, best_gap = (at, at + len(n)), gap
    if best is None:
        return None
    # Names listed together answer together: "Robert Haskell and Dana Pruitt".
    start, end = best
    while True:
        joint = _JOINT.match(text, end)
        after = joint.end() if joint else -1
        nxt = next((text.find(n, after) + len(n) for n in names if joint and text.startswith(n, after)), None)
        if nxt is None:
            return start, end
        end = nxt


_JOINT = re.compile(r",\s*(?:and\s+)?|\s+(?:and|&)\s+")


def answer_phrase(q: Question, text: str, header: str | None = None) -> tuple[int, int]:
    """``(start, end)`` of the answering part of ``text`` (the whole sentence when nothing narrower fits).

    ``header``: when ``text`` is a table row, its table's header line; the cell under
    the column the question names is read first (one column, in the row's own terms).

    >>> from rag.answering.question import analyze
    >>> s = "The hall, built in 1920, can seat up to 800 people."
    >>> a, b = answer_phrase(analyze("How many people can the hall seat?"), s)
    >>> s[a:b]
    'up to 800 people'
    >>> row = "| Tent | £18 | £26 |"
    >>> a, b = answer_phrase(analyze("price of a tent in august"), row, "| Pitch | Low (Apr–Jun) | High (Jul–Aug) |")
    >>> row[a:b]
    '£26'
    """
    cell = _named_cell(q, text, header) if header else None
    if cell is not None:
        a, b = cell
        inner = answer_phrase(q, text[a:b])
        return a + inner[0], a + inner[1]
    if _ASKS_WORDS.search(q.text) and (quoted := _quotation(text)) is not None:
        return quoted  # "what did she say?": her words, not the name beside them
    if (described := _described(q, text)) is not None:
        return described  # "who is Ana Ruiz?": what the text says she is, not another name
    contact = contact_asked(q.text)
    # "what's her phone number?": the number, not her name
    span = _first(contact_pattern(contact), text, set(), q.terms) if contact is not None else None
    span = span or _value_span(q, text)
    if span is not None:
        return _balanced(text, *span)
    return _balanced(text, *_best_clause(q, text))


# "what did she say", "what does the notice tell members", "what did he write in his post"
_ASKS_WORDS = re.compile(
    r"\bwhat\s+(?:did|does|do|has|have|had|will|would)\s+(?:[\w.'’-]+\s+){1,4}?"
    r"(?:say|said|tell|told|write|written|add|added|claim|claimed|warn|warned|announce|announced|post|posted|promise|promised)\b",
    re.I)
_QUOTED = re.compile(r"[\"“]([^\"“”]{8,})[\"”]")


def _quotation(text: str) -> tuple[int, int] | None:
    """The longest passage of ``text`` in double quotes (three words or more), without
    its quote marks."""
    best = max(_QUOTED.finditer(text), key=lambda m: len(m.group(1)), default=None)
    if best is None or len(best.group(1).split()) < 3:
        return None
    return _trim(text, *best.span(1))


_DETERMINERS = {"the", "a", "an", "this", "that", "our", "your", "their", "its", "his", "her", "my"}
_WHO_IS = re.compile(r"^\s*who\s+(?:is|was)\s+(.+?)\s*\??\s*$", re.I)
# An office before a name: capitalised words, "of" and "the" among them
# ("Brazilian Minister of Finance Ana Ruiz").
_OFFICE = re.compile(r"(?:\b[A-Z][\w.'’-]*\s+(?:(?:of|the|for)\s+)*)+$")


def _described(q: Question, text: str) -> tuple[int, int] | None:
    """For "who is <name>?", the name with what the text says of them beside it: the
    office before it ("Minister of Justice Ana Ruiz"), the phrase after it between
    commas ("Ana Ruiz, of the Rights Committee,"), else the clause it stands in (another
    name in it is not the answer); None for other questions or a name not in ``text``."""
    m = _WHO_IS.match(q.text)
    if m is None or m.group(1).split()[0].lower() in _DETERMINERS:
        return None  # "who is the head of operations?" asks for a name
    asked = nlp.persons(m.group(1)) or [n for n in nlp.names(m.group(1)) if len(n.split()) == 1]
    if not asked:
        return None
    last = asked[0].split()[-1]
    # The fullest form of the name the text writes ("Ruiz" -> "Ana María Ruiz").
    forms = sorted({n for n in nlp.names(text) if n.split()[-1] == last} | {last}, key=len, reverse=True)
    found = next((f for f in (re.search(r"\b" + re.escape(form) + r"\b", text) for form in forms) if f), None)
    if found is None:
        return None
    start, end = found.span()
    if len(found.group(0).split()) > len((nlp.persons(found.group(0)) or [found.group(0)])[0].split()):
        return start, end  # the office is part of the name as written: "Minister of Justice Ana Ruiz"
    after = re.match(r",\s+([^,;:()]{4,}?)\s*(?:[,;:)]|$|\.(?:\s|$))", text[end:])
    if after:
        return start, end + after.end(1)
    office = _OFFICE.search(text[:start])
    if office and office.end() == start and office.group(0).split()[0] not in ("The", "A", "An"):
        return office.start(), end
    clause = next(((a, b) for a, b in split_clauses(text, 0, len(text)) if a <= start < b), (0, len(text)))
    return _trim(text, *clause)


def _names_column(words: set[str], terms: tuple[str, ...]) -> int:
    """How many of the question's words (stems) a header cell's words name; one that
    starts the other counts ("Aug" for "August", "teach" for "Teacher")."""
    # A heading may shorten a word ("Aug"), a question's word is not one ("per" is no "period").
    return sum(any(t == w or (len(w) >= 3 and t.startswith(w)) or (len(t) >= 4 and w.startswith(t)) for w in words)
               for t in terms)


def _named_cell(q: Question, row: str, header: str) -> tuple[int, int] | None:
    """The cell of table ``row`` under the one column of ``header`` whose heading the
    question names ("in August" -> "High season (Jul–Aug)"), when that cell holds the
    kind of value asked for (if the row holds any); None when no column, or several,
    are named."""
    head = header.split("\n", 1)[0]
    cells, heads = table_cells(row), table_cells(head)
    if len(cells) != len(heads) or len(cells) < 3:
        return None
    row_words = {nlp.stem(w) for w in nlp.tokens(row)}
    terms = tuple(t for t in q.terms if t not in row_words)  # the row already matches the rest
    scores = [_names_column({nlp.stem(w) for w in nlp.tokens(head[a:b])} | set(nlp.tokens(head[a:b])), terms)
              for a, b in heads]
    best = max(scores[1:])  # the first column names the row, not a value
    if best == 0 or scores[1:].count(best) > 1:
        return None
    a, b = cells[scores.index(best, 1)]
    # Where the row holds values of the kind asked for, the cell must hold one too (an
    # amount for "how much", not any number: "14 days" is no price).
    def holds_kind(cell: str) -> bool:
        return (_first(_MONEY, cell, set()) if q.expects == "money" else _value_span(q, cell)) is not None

    return (a, b) if b > a and (holds_kind(row[a:b]) or not holds_kind(row)) else None


def _value_span(q: Question, text: str) -> tuple[int, int] | None:
    """Where ``text`` states the kind of value ``q`` expects (a number, a date, a name...), if it does."""
    span = None
    if q.expects == "money":
        span = _first(_MONEY, text, set(q.numbers), q.terms) or _first(_NUMBER, text, set(q.numbers), q.terms)
        span = _range_whole(text, span, _MONEY) if span is not None else None  # "$549 to $799"
    elif q.expects == "age":
        span = _first(_AGE, text, set(q.numbers), q.terms) or _first(_NUMBER, text, set(q.numbers), q.terms)
        span = _range_whole(text, span, _NUMBER) if span is not None else None  # "aged 8 to 12"
    elif q.expects == "number":
        avoid = set(q.numbers)
        # "how long did it take" a span of time; "how long / tall / far is it" a length
        # first (a span of time next: "how long is the course?" may ask either).
        if asks_duration(q.text):
            span = _first(DURATION, text, avoid, q.terms)
        elif _ASKS_SIZE.search(q.text):
            span = _first(_LENGTH, text, avoid, q.terms) or _first(DURATION, text, avoid, q.terms)
        # "how many" counts things: a price ("£45"), a share or a year is not a count of them.
        span = span or _first(_NUMBER, text, avoid, q.terms, _NOT_A_COUNT if ASKS_COUNT.search(q.text) else None)
        # "six to nine months", "3-5 days": a range of counts is bolded whole
        span = _range_whole(text, span, _NUMBER) if span is not None else None
    elif q.expects == "date":
        # "what time" asks for a time of day, not the weekday beside it
        if _ASKS_TIME.search(q.text):
            span = _first(_TIME, text, set(q.numbers), q.terms)
        span = span or _first(_DATE, text, set(q.numbers), q.terms)
        if span is not None:
            # Of a range, its second end for "when does it close", else all of it
            # ("06:30–08:00"); a date keeps the time it is given at ("21 June at 05:45").
            span = _range_end(text, span) if _ASKS_END.search(q.text) else _range_whole(text, span)
            span = _with_time(text, span)
    elif q.expects == "manner" and _ASKS_SIZE.search(q.text):
        # "how tall / high / wide / deep" (read as "how", not as a count: on dev, asking
        # them for a number lost a refusal and gained nothing) is answered by a length.
        span = _first(_LENGTH, text, set(q.numbers), q.terms)
    elif q.expects == "person":
        span = _name_span(nlp.persons(text), text, q.names, q.terms)
    elif q.expects == "place":
        span = _name_span([n for n in nlp.names(text) if nlp.is_place(n)], text, q.names, q.terms)
    return span


def _best_clause(q: Question, text: str) -> tuple[int, int]:
    clauses = split_clauses(text, 0, len(text))
    if len(clauses) <= 1:
        return _trim(text, 0, len(text))
    asked = set(q.terms)

    # The question's words a clause shares and the new words it adds count alike (up to
    # four new ones): weighing the shared words double picked the clause that restates
    # the question ("If you paid with a gift card") over the one that answers it ("the
    # refund is issued as store credit").
    def worth(span: tuple[int, int]) -> float:
        stems = nlp.stems(text[span[0] : span[1]])
        new = [s for s in stems if s not in asked and s not in nlp.stopwords()]
        return len(stems & asked) + min(len(new), 4)

    start, end = _trim(text, *max(clauses, key=worth))
    # A clause the rest of its sentence negates ("ANY WARRANTIES ... ARE DISCLAIMED")
    # would say the opposite in bold: the phrase then runs on to the sentence's end.
    if _NEGATES.search(text, end):
        end = _trim(text, start, len(text))[1]
    return start, end


_NEGATES = re.compile(r"\b(?:not|no|never|nor|none|disclaimed|disclaims|excluded|prohibited|forbidden|unless)\b|n't\b", re.I)


# A heading's underline or a rule ("=====", "-----", "*****") is layout, not words.
_RULE = re.compile(r"\s*[=\-*_#~]{3,}\s*$")


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Without surrounding white space, trailing punctuation or a trailing rule line."""
    rule = _RULE.search(text, start, end)
    if rule and rule.end() == end and rule.start() > start:
        end = rule.start()
    while start < end and (text[start].isspace() or text[start] in ",;:—–-\"“”'‘’("):
        start += 1
    while end > start and (text[end - 1].isspace() or text[end - 1] in ",;:.—–-\"“”'‘’)"):
        end -= 1
    return (start, end) if end > start else (0, len(text))


def _balanced(text: str, start: int, end: int) -> tuple[int, int]:
    """The span grown to close a bracket it opens (or open one it closes), so a phrase
    never ends inside "(excluding …"; where the other bracket is not in ``text``, the
    span stops before the lone one.

    >>> s = "It ends if you sue (except counter-claims, and cross-claims) over a patent."
    >>> a, b = _balanced(s, 0, 41)
    >>> s[a:b]
    'It ends if you sue (except counter-claims, and cross-claims)'
    >>> s = '"Fee" means what you can justify.'
    >>> s[slice(*_balanced(s, 1, 12))]
    '"Fee" means'
    """
    for opener, closer in ("()", "[]", "“”"):
        seg = text[start:end]
        if seg.count(opener) > seg.count(closer):
            close = _match_forward(text, end, seg.count(opener) - seg.count(closer), opener, closer)
            end = close if close is not None else start + seg.rfind(opener)
        elif seg.count(closer) > seg.count(opener):
            open_ = _match_backward(text, start, seg.count(closer) - seg.count(opener), opener, closer)
            start = open_ if open_ is not None else start + seg.find(closer) + 1
    if text.count('"', start, end) % 2:
        # A straight quote has no direction: it closes one opened before the span when
        # an odd number precede it ('fee" is ...' grows back to '"fee" is ...'), else it
        # opens one, closed after the span or dropped.
        if text.count('"', 0, start) % 2:
            start = text.rfind('"', 0, start)
        else:
            close = text.find('"', end)
            end = close + 1 if close >= 0 else text.rfind('"', start, end)
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else (0, len(text))


def _match_forward(text: str, at: int, depth: int, opener: str, closer: str) -> int | None:
    for i in range(at, len(text)):
        depth += (text[i] == opener) - (text[i] == closer)
        if depth == 0:
            return i + 1
    return None


def _match_backward(text: str, at: int, depth: int, opener: str, closer: str) -> int | None:
    for i in range(at - 1, -1, -1):
        depth += (text[i] == closer) - (text[i] == opener)
        if depth == 0:
            return i
    return None


def checked_phrase(question: str, text: str, found: tuple[int, int]) -> tuple[int, int]:
    """``found`` if ``text[found[0]:found[1]]`` holds the kind of value ``question`` asks
    for, else :func:`answer_phrase` of ``text`` (for a phrase picked by someone else,
    such as a small LLM, that is words of the sentence but not the answer).

    >>> s = "The hall was opened in 2022 by Mayor Ana Lopez."
    >>> a, b = checked_phrase("Who opened the hall?", s, (23, 27))  # "2022": no person
    >>> s[a:b]
    'Ana Lopez'
    """
    q = analyze(question)
    return found if holds(q.expects, text[found[0] : found[1]], question) else answer_phrase(q, text)
