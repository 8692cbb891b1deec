"""The extractive answerer: a learned selector picks the sentence, a learned model decides to answer.

For each question, the retrieved sentences are scored by the selector (a conditional
logit over :data:`.features.SELECTION_FEATURES`: each candidate's share of a softmax
over the question's candidates); the best one, with its
neighbours, gives the answerability model its features; below the threshold chosen
on dev the answer is the fixed refusal, with the closest passages shown as related.
Otherwise the answer quotes the best sentence (and a second one that covers what the
first leaves out), each followed by its ``[n]``, and marks the answer phrase inside
the first quote (:mod:`.span`). Every quote *is* the document slice, so every
citation resolves to ``document[start:end] == quote``.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections import OrderedDict
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from .. import nlp
from ..chunking import is_list_item, is_table_header, is_table_row
from ..config import AnsweringConfig
from ..nlp import collapse
from ..table import SentenceTable
from ..types import Answer, Citation, Embedder, Passage, SentenceRow, Span
from . import detect
from . import features as F
from .model import Models, check_features, load_models
from .question import Question, analyze, asked_part, foreign_question, not_english
from .span import answer_phrase

# An instruction is not a question (general English, no document's words).
_INJECTION = re.compile(
    r"""(?ix)
    \b(ignore|disregard|forget|override|bypass)\b[^.?!]{0,40}\b(instructions?|above|previous|prior|context|rules|document|prompt|system)\b
    | \b(pretend|roleplay|role-play|act\ as|you\ are\ now|from\ now\ on)\b
    | \b(system|developer|admin)\s*(prompt|mode|message)\b
    | ^\s*(system|assistant)\s*:
    | \bjailbreak\b
    | \b(tell\ me\ a\ (joke|story|poem)|write\ (me\ )?a\ (poem|story|song|joke))\b
    """
)


# A question none of whose words the corpus uses is off-topic unless some sentence is at
# least this close in meaning (the article questions of evals/dev.jsonl: off-topic
# questions <= 0.18, paraphrases sharing no word >= 0.26).
OFF_TOPIC_MAX_DENSE = 0.22


# How far beside the best sentence (in sentences of its section) a value of the kind asked
# for is looked for when the chosen sentences hold none. On dev, 2 with every detected kind:
# 7 more answers right (4 a quotation's speaker, 3 a date or sum named beside), none fewer.
BESIDE = 2

#: Said beside a refusal of a question that reads as written in another language.
LANGUAGE_NOTE = "The documents are searched in English: a question in another language may not find what they say."

#: Said beside an answer the answerability model doubts (see ``Models.hedge_below``).
HEDGE_NOTE = "This is the closest passage found, but it may not answer your question: check the quote."


def _off_corpus(d: dict[str, Any]) -> bool:
    a = dict(zip(F.ANSWERABILITY_FEATURES, d["a"]))
    return a["terms_in_corpus"] == 0 and a["dense"] < OFF_TOPIC_MAX_DENSE


def _not_words(d: dict[str, Any], tokens: F.TokenCache, question: str) -> bool:
    """None of the question's words is in the documents or in the model's vocabulary
    ("asdkjh qwpoe"): nothing can be meant, however close a sentence of odd tokens (a
    table of ids) lies in vector space."""
    if dict(zip(F.ANSWERABILITY_FEATURES, d["a"]))["terms_in_corpus"] != 0:
        return False
    got = tokens.get([question])
    return got is not None and F.unknown_words(got[0][0])


def is_link(text: str) -> bool:
    """A line that is only a link ("https://example.org/releases/latest").

    >>> is_link("  https://example.org/a/b "), is_link("See https://example.org.")
    (True, False)
    """
    bare = text.strip()
    return bool(bare) and not any(c.isspace() for c in bare) and ("://" in bare or bare.lower().startswith("www."))


_LABELLED = re.compile(r"[^\W\d_][^:\n]{0,40}:[ \t]+\S")


def is_content(text: str) -> bool:
    """A bare link, a handle, a lone heading word or a table's header (its column names
    over the rule) is not an answer on its own; a labelled contact line is.

    >>> is_content("Kitchen"), is_content("- E-mail: desk@example.org"), is_content("https://example.org")
    (False, True, False)
    >>> is_content("- spare key: £4.50"), is_content("Adult: 9.50"), is_content("Chapter 2")
    (True, True, False)
    """
    if is_table_header(text):
        return False
    if is_link(text):
        return False  # its words are a path: it is quoted beside the sentence that leads to it
    first = text.split("\n", 1)[0]
    if is_table_row(first):
        # A row's cells are its content, however few words: "| 64035 | haclient |".
        return sum(1 for cell in first.split("|") if any(c.isalnum() for c in cell)) >= 2
    words = sum(1 for w in nlp.tokens(text) if w.isalpha())
    if words >= 3:
        return True
    # A list item or a labelled line with a value ("- spare key: £4.50", "Adult: 9.50")
    # is a fact in few words: the answer to "how much is a spare key?".
    if words and any(ch.isdigit() for ch in text) and (is_list_item(text) or _LABELLED.match(text)):
        return True
    # A labelled contact line ("E-mail: help@example.org", "Phone: 555 0100") is one
    # value under a name: the answer to "what is their e-mail?", though few words.
    return bool(re.search(r"[^\W\d_]", text)) and any(detect.has_contact(kind, text) for kind in detect.CONTACT_KINDS)


# "How much ...?", "What is the fee?": a money question that asks for an amount (not
# "reasonable copying fee definition" or "can a fee be charged?").
_ASKS_AMOUNT = re.compile(r"\bhow\s+much\b|\bwhat(?:'s|\s+(?:is|was|are|were|does|did|do))\b", re.I)
# A question that opens with "when" ("since when", "on what date"); one that only holds
# a "when" ("can it be tested when I push?") asks something else.
_ASKS_WHEN = re.compile(r"^\s*(?:(?:since|by|until|till)\s+)?when\b|^\s*(?:on\s+|by\s+)?what\s+(?:date|day)\b", re.I)
_ASKS_WHY = re.compile(r"^\s*(?:why|how\s+come)\b", re.I)
_KIND_NAMES = {"age": "an age", "number": "a number", "money": "an amount"}
# "What time ...?" asks for a time of day, which a date or a weekday does not give.
# ("What time of year", "what time limit" ask for something else; "how early" is often
# answered by a span of time.)
_ASKS_TIME = re.compile(r"\bwhat\s+time\b(?!\s+(?:of|period|frame|limit|zone|span|scale)\b)|\bat\s+what\s+hour\b", re.I)
# "What year ...?" asks for a year, "what percentage ...?" for a share: both are written
# in a form a pattern knows (detect.has_year, detect.has_share).
_ASKS_YEAR = re.compile(r"\b(?:what|which)\s+year\b", re.I)
_ASKS_SHARE = re.compile(r"\b(?:what|which)\s+(?:percentage|percent|proportion|share)\b", re.I)


def _value_needed(q: Question, counts: Callable[[str], bool] | None = None) -> tuple[str, Callable[[str], bool]] | None:
    """What a quote must state for ``q`` to be answered, and a test of a text for it,
    when ``q`` asks what time, what year, what percentage, how many, how old or how
    much; else None.

    A quote without it is about the thing asked of, not the answer: "How old is the
    mayor?" answered with the sentence that names the mayor, "what time does the supper
    start?" with "in late September". Measured on dev (out of the answerability model's
    sight, which weighs type agreement with everything else):

    * how many, how old, how much: of the fitted documents' 324 unanswerable questions
      23 more refused, 1 right answer lost; on the check set, 7 of 137, none lost;
    * "how many" answered by a count (:func:`detect.has_count`), not by a price, a time,
      a year or the question's own number: 5 and 3 more, none lost;
    * "what time" by a time of day: 2 more, none lost;
    * "what year" by a year, "what percentage" by a share (session 13): 3 more, none lost;
    * "how many" by a count of what it asks about (:meth:`ExtractiveAnswerer.counts_asked`),
      "how long did it take / has it run" by a span of time (:func:`detect.has_duration`;
      session 14): 15 more, 2 right answers lost ("how long did he run it?": "until 1979");
    * "when ...?" by a date, a time of day, a span of time or an event ("in three weeks",
      "once the fee is paid": :func:`detect.tells_when`; session 14).

    A name or a place is not required: their detectors miss too often. Nor a date where
    "when" is not the question's opening word ("is it tested when I push?").

    ``counts``: whether a text counts what "how many" asks about (see
    :meth:`ExtractiveAnswerer.counts_asked`), checked beside :func:`detect.has_count`.
    """
    if _ASKS_TIME.search(q.text):
        return "a time of day", detect.has_time
    if _ASKS_YEAR.search(q.text):
        return "a year", detect.has_year
    if _ASKS_SHARE.search(q.text):
        return "a percentage", detect.has_share
    if detect.asks_duration(q.text):
        return "a span of time", detect.has_duration
    asked = asked_part(nlp.normalize(q.text).lower())
    if _ASKS_WHEN.search(asked):
        return "a date or a time", detect.tells_when
    if _ASKS_WHY.search(asked):
        return "a reason", detect.gives_reason
    if q.expects not in _KIND_NAMES or q.expects == "money" and not _ASKS_AMOUNT.search(q.text):
        return None
    # "How many ...?" asks for a count: a price, a time, a year or the question's own
    # number does not answer it.
    if q.expects == "number" and detect.ASKS_COUNT.search(q.text):
        return "a number", lambda t: detect.has_count(t, q.text) and (counts is None or counts(t))
    kind = q.expects
    return _KIND_NAMES[kind], lambda t: detect.holds(kind, t, q.text) or kind == "money" and detect.no_cost(t)


# A sentence that says a list follows ("the following", "as follows"; general English).
_ANNOUNCES = re.compile(r"\b(?:the\s+following|as\s+follows)\b", re.I)
# The most list items quoted beside the sentence that introduces them.
LISTED = 6
# A candidate that states the value asked for replaces a best one that does not when
# its selection probability is at least this share of the best one's (on dev, 0.3 let
# two unanswerable questions be answered with a price or a time of something else).
HOLDING_SHARE = 0.5
# How near (cosine of MiniLM word vectors) a word after a count must be to what "how
# many" asks about for the count to answer it (see ExtractiveAnswerer.counts_asked).
COUNT_AGREEMENT = 0.2


# A question that asks for a link, which a line holding only a link then answers.
_ASKS_LINK = re.compile(r"\b(?:url|urls|link|links|website|web\s+site|web\s+page|homepage|download)\b", re.I)


# An FAQ's question, marked as one even where it does not end in "?" ("Q. I installed
# and now the banner says ..."), Markdown's emphasis around it or not ("**Q: ...**").
_FAQ_QUESTION = re.compile(r"\s*[*_]{0,3}\s*(?:Q\s*[.:)]|Question\s*:)\s", re.I)


def _is_question(text: str) -> bool:
    """A sentence that asks ("**Do you deliver?**") or an FAQ's marked question."""
    return nlp.asks(text) or bool(_FAQ_QUESTION.match(text))


def candidates_of(passages: Sequence[Passage], question: str = "", table: SentenceTable | None = None) -> list[Passage]:
    """The passages an answer may quote: content sentences, each wording once
    (the same words can stand twice: a post quoted, then embedded); a line that is
    only a link too when ``question`` asks for a link ("url", "website", ...). A
    sentence that asks a question (an FAQ's "Q. How do I ...?", or its "Q." line that
    does not end in "?"; with ``table``, every sentence of a paragraph an FAQ's "Q."
    opens) answers none; with ``table``, the line after a question line stands in for
    it (:func:`_faq_answers`)."""
    links = bool(_ASKS_LINK.search(question))
    answers = _faq_answers(passages, table) if table is not None else {}
    answering = {a.row.id: a for a in answers.values()}  # an answer with its question's scores
    out, seen = [], set()
    for p in passages:
        if _is_question(p.text):
            if p.row.id not in answers:
                continue
            p = answers[p.row.id]  # the answer stands where its question was found
        p = answering.get(p.row.id, p)
        key = " ".join(nlp.tokens(p.text))
        if table is not None and _in_faq_question(p.row, table):
            continue
        if (is_content(p.text) or links and is_link(p.text)) and key not in seen:
            seen.add(key)
            out.append(p)
    return out


_FAQ_ANSWER = re.compile(r"\s*[*_]{0,3}\s*(?:A\s*[.:)]|Answer\s*:)\s", re.I)


def _in_faq_question(row: SentenceRow, table: SentenceTable) -> bool:
    """Whether ``row`` belongs to the question of a paragraph an FAQ's "Q." opens: from
    the opening up to an "A:" line, if the answer shares its paragraph ("**Q: ...**" /
    "A: ..."); every sentence of it when it does not."""
    opening = table.paragraph_opening(row)
    if not _FAQ_QUESTION.match(table.text(opening)):
        return False
    rows = table.by_doc.get(row.doc, [])
    return not any(_FAQ_ANSWER.match(table.text(rows[i])) for i in range(opening.position, row.position + 1))


def _faq_answers(passages: Sequence[Passage], table: SentenceTable) -> dict[str, Passage]:
    """For each retrieved question line ("**Do you deliver?**"), the sentence after it in
    its paragraph (its answer: "Not at the moment."), with the better of each retrieval
    score of the two: a question found by the user's words is answered by the line that
    follows, which often shares none of them. Keyed by the question's row id."""
    found = {p.row.id: p for p in passages}
    out: dict[str, Passage] = {}
    for q in passages:
        if not _is_question(q.text):
            continue
        rows = table.by_doc.get(q.row.doc, [])
        at = q.row.position + 1
        if at >= len(rows) or rows[at].paragraph != q.row.paragraph:
            continue
        row = rows[at]
        text = table.text(row)
        if nlp.asks(text) or not is_content(text):
            continue
        # not retrieved itself: no scores of its own (the question's alone count)
        own = found.get(row.id) or replace(q, score=0.0, dense=0.0, window=0.0, sparse=0.0, dense_rank=None,
                                           sparse_rank=None)
        ranks = [r for r in (q.dense_rank, own.dense_rank) if r is not None]
        sranks = [r for r in (q.sparse_rank, own.sparse_rank) if r is not None]
        out[q.row.id] = Passage(
            row, text, max(q.score, own.score), max(q.dense, own.dense), max(q.window, own.window),
            max(q.sparse, own.sparse), min(ranks, default=None), min(sranks, default=None),
        )
    return out


def _bare_line(text: str) -> bool:
    """One line that does not end as a sentence does ("tool : tool-12", "make install")."""
    return "\n" not in text.strip() and not text.rstrip().endswith((".", "!", "?", ";"))


def _quoted(row: SentenceRow, table: SentenceTable) -> Passage:
    """A sentence the answer quotes beside its chosen ones (a table's header, the value
    asked for, the line a colon introduces): retrieval gave it no scores."""
    return Passage(row, table.text(row), 0.0, 0.0, 0.0, 0.0, None, None)


def featurize(
    question: str, passages: Sequence[Passage], table: SentenceTable, tokens: F.TokenCache, stats: F.CorpusStats
) -> tuple[Question, np.ndarray]:
    """The question's analysis and one selection-feature row per passage.

    Rows do not depend on the order ``passages`` come in (rank is by fused score), so a
    reranked list and the fused one give each passage the same features.
    """
    q = analyze(question)
    ordered = sorted(range(len(passages)), key=lambda i: -passages[i].score)
    by_rank = [passages[i] for i in ordered]
    vecs = tokens.get([question, F.subject_of(q), *(F.read_as(p, table) for p in by_rank)])
    x_ranked = F.selection_features(q, by_rank, table, stats, vecs)
    x = np.empty_like(x_ranked)
    x[ordered] = x_ranked
    return q, x


class ExtractiveAnswerer:
    """Answers with verbatim source sentences chosen by the learned selector; refuses below
    the answerability threshold. Also the :class:`rag.types.Reranker` of extractive mode."""

    name = "extractive"
    calibrated = True

    def __init__(self, config: AnsweringConfig, embedder: Embedder | None = None, models: Models | None = None) -> None:
        self.config = config
        self.models = models or load_models()
        check_features(self.models.selector, F.SELECTION_FEATURES)
        check_features(self.models.answerability, F.ANSWERABILITY_FEATURES)
        embed_tokens = getattr(embedder, "embed_tokens", None)
        self.tokens = F.TokenCache(embed_tokens)
        self._stats: weakref.WeakKeyDictionary[SentenceTable, F.CorpusStats] = weakref.WeakKeyDictionary()
        self._stats_lock = threading.Lock()
        # The rerank stage (scores) and the answer (decide) featurize the same candidates
        # of one question: the second use is a lookup (a few recent questions are kept).
        self._recent: OrderedDict[tuple[Any, ...], tuple[Any, Question, dict[tuple[str, int], np.ndarray]]] = OrderedDict()
        self._recent_lock = threading.Lock()

    @property
    def threshold(self) -> float:
        """The probability below which the answer is the refusal: the configured one, else the fitted one."""
        t = self.config.refusal_threshold
        return self.models.threshold if t is None else t

    def stats(self, table: SentenceTable) -> F.CorpusStats:
        with self._stats_lock:
            s = self._stats.get(table)
            if s is None:
                s = self._stats[table] = F.CorpusStats(table)
            return s

    def counts_asked(self, q: Question, text: str) -> bool:
        """Whether a count in ``text`` counts what "how many" asks about: a bare number
        (a table cell), one followed by a word the question names ("41 residents" for
        "how many residents"), or by a word near one in MiniLM's space ("three workers"
        for "how many people"), not "87 reports" for "how many people died"; True for
        other questions, or without token vectors.

        Chosen on dev (session 14), with the span-of-time check of :func:`_value_needed`:
        refused 97 -> 106 of 324 unanswerable questions on the fitted documents and 25 ->
        31 of 137 on the check set, for 2 right answers lost of 471 and 0 of 193. At
        :data:`COUNT_AGREEMENT` 0.3 as many were refused and one more right answer lost
        ("fishermen" is 0.20 from "people"); at 0.15, 3 fewer refused, 1 right kept.
        """
        asked = detect.counted_asked(q.text)
        if not asked:
            return True
        groups = detect.counted(text, q.text)
        if not groups:
            return False
        if any(not g for g in groups):
            return True
        said = [w for g in groups for w in g]
        if {nlp.stem(w) for w in asked} & {nlp.stem(w) for w in said}:
            return True
        near = F.word_similarity(self.tokens, asked, said)
        return near is None or near >= COUNT_AGREEMENT

    # --- scoring ------------------------------------------------------------------

    def featurize(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> tuple[Question, np.ndarray]:
        """See :func:`featurize`."""
        return featurize(question, passages, table, self.tokens, self.stats(table))

    def _features(self, question: str, cands: Sequence[Passage], table: SentenceTable) -> tuple[Question, np.ndarray]:
        """:meth:`featurize`, remembered for the same question over the same candidates
        in any order (rows do not depend on the order)."""
        ids = [(p.row.doc, p.row.start) for p in cands]
        key = (question, id(table), frozenset(zip(ids, (p.score for p in cands))))
        with self._recent_lock:
            hit = self._recent.get(key)
        if hit is not None and hit[0]() is table:
            q, rows = hit[1], hit[2]
            return q, np.stack([rows[i] for i in ids])
        q, x = self.featurize(question, cands, table)
        with self._recent_lock:
            self._recent[key] = (weakref.ref(table), q, dict(zip(ids, x)))
            while len(self._recent) > 32:
                self._recent.popitem(last=False)
        return q, x

    def scores(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> list[float]:
        """Each passage's share of the selector's choice among the question's candidates
        (a Reranker); a passage the answer may not quote (:func:`candidates_of`) scores 0."""
        cands = candidates_of(passages, question, table)
        if not cands:
            return [0.0] * len(passages)
        _, x = self._features(question, cands, table)
        probs = dict(zip(map(id, cands), self.models.selector.probability(x)))
        return [float(probs.get(id(p), 0.0)) for p in passages]

    # --- answering ----------------------------------------------------------------

    def decide(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> dict[str, Any]:
        """Everything the answer is decided from: candidates, their selection
        probabilities, the best one, its answerability features and probability."""
        q = analyze(question)
        cands = candidates_of(passages, question, table)
        if not cands:
            return {"q": q, "cands": [], "probs": np.zeros(0), "best": None, "a": None, "p_answer": 0.0}
        q, x = self._features(question, cands, table)
        probs = self.models.selector.probability(x)
        best = int(np.argmax(probs))
        around = F.window_text(cands[best], table)
        a = F.answerability_features(q, x, probs, best, table, around, self.stats(table))
        p_answer = float(self.models.answerability.probability(a[None, :])[0])
        return {"q": q, "cands": cands, "x": x, "probs": probs, "best": best, "a": a, "p_answer": p_answer}

    def _holding(self, cands: Sequence[Passage], probs: np.ndarray, best: int, table: SentenceTable,
                 holds: Callable[[str], bool], share: float, whose: Sequence[str] = ()) -> int | None:
        """``best`` if it (with the lines it introduces) ``holds`` the value asked for,
        else the likeliest candidate of its document that does, with at least ``share``
        of its selection probability; None when there is none. ``whose``: people the
        value must be written with (in the sentence, the lines it introduces or the two
        before it in its paragraph: a signature's name over its phone line)."""
        surnames = {nlp.tokens(p)[-1] for p in whose if nlp.tokens(p)}
        for i in dict.fromkeys((best, *(int(j) for j in np.argsort(-probs)))):  # best first, once
            if i != best and (cands[i].row.doc != cands[best].row.doc or probs[i] < share * probs[best]):
                continue
            text = "\n".join([cands[i].text, *(p.text for p in self._shown(cands[i], table))])
            if not holds(text):
                continue
            if surnames:
                row = cands[i].row
                before = [table.text(r) for _, r in table.nearby(row, 2)
                          if r.position < row.position and r.paragraph == row.paragraph]
                if not surnames & set(nlp.tokens("\n".join([text, *before]))):
                    continue
            return i
        return None

    @staticmethod
    def _beside(q: Question, chosen: Sequence[Passage], table: SentenceTable) -> Passage | None:
        """For a question that asks for a kind of value none of the chosen sentences
        holds, the nearest sentence beside the best one (same section, at most
        ``BESIDE`` sentences away) that holds it: a quotation's speaker is often named in
        the sentence before or after it ("... messier code." / "said Ana Lopez, who
        maintains it"), and so is the doer of a deed the matching sentence describes.
        It is quoted and cited too; the answer phrase stays in the best sentence (on dev,
        moving it there lost more phrases than it gained)."""
        if q.expects not in detect.KINDS or any(detect.holds(q.expects, p.text, q.text) for p in chosen):
            return None
        taken = {p.row.id for p in chosen}
        for _, row in table.nearby(chosen[0].row, BESIDE):
            text = table.text(row)
            if row.id not in taken and is_content(text) and detect.holds(q.expects, text, q.text):
                return _quoted(row, table)
        return None

    @staticmethod
    def _shown(lead: Passage, table: SentenceTable) -> list[Passage]:
        """What a sentence introduces, quoted beside it:

        * a link alone on the line after it ("You may obtain a copy at" /
          "https://example.org/LICENSE"), which is not quoted on its own;
        * after a colon, the line that follows in its section ("To build it statically,
          run:" / "make LDFLAGS=-all-static"), a command or an item too short to be an
          answer alone; or the lines of one block that follow, when none ends as a
          sentence does ("The defaults are:" / "cc : cc-12" "c++ : c++-12"), a list
          without bullets;
        * the list that follows it in its section, when it ends in a colon or announces
          one ("The following three plans are offered." / "* Basic" "* Plus"), up
          to :data:`LISTED` items: the answer is the list.
        """
        rows = table.by_doc.get(lead.row.doc, [])
        at = lead.row.position + 1

        def here(i: int) -> bool:
            return i < len(rows) and rows[i].section == lead.row.section

        colon = lead.text.rstrip().endswith(":")
        if here(at) and is_link(table.text(rows[at])):
            return [_quoted(rows[at], table)]  # "available from" / "https://...": where it leads
        if not colon:
            if not _ANNOUNCES.search(lead.text):
                return []
            while here(at) and rows[at].paragraph == lead.row.paragraph:
                at += 1  # the rest of its paragraph ("These can be used over both.")
        if colon and here(at) and not is_list_item(table.text(rows[at])):
            # Lines without a full stop, one block ("cc : cc-12" / "ld : ld-12"),
            # are a list without bullets; else the one line ("run:" / "make").
            block = [r for r in rows[at : at + LISTED] if here(r.position) and r.paragraph == rows[at].paragraph]
            block = block[: next((i for i, r in enumerate(block) if not _bare_line(table.text(r))), len(block))]
            return [_quoted(r, table) for r in block[:LISTED]] if len(block) > 1 else [_quoted(rows[at], table)]
        items: list[Passage] = []
        while here(at) and is_list_item(table.text(rows[at])) and len(items) < LISTED:
            items.append(_quoted(rows[at], table))
            at += 1
        return items

    def _refusal(self, question: str, passages: Sequence[Passage], table: SentenceTable, d: dict[str, Any],
                 signals: dict[str, Any]) -> Answer:
        refused = Answer.refusal(question, [p for p in passages if is_content(p.text)],
                                 confidence=d["p_answer"], mode=self.name)
        refused.signals = signals
        if not_english(question, table.vocabulary):
            refused.notes = [LANGUAGE_NOTE]
        return refused

    def answer(self, question: str, passages: Sequence[Passage], table: SentenceTable) -> Answer:
        d = self.decide(question, passages, table)
        q, cands, probs, best = d["q"], d["cands"], d["probs"], d["best"]
        threshold = self.threshold
        signals: dict[str, Any] = {"expects": q.expects, "p_answer": round(d["p_answer"], 4), "threshold": threshold}
        if d["a"] is not None:
            signals["answerability"] = F.describe(F.ANSWERABILITY_FEATURES, d["a"])
        gate = (
            "instruction, not a question" if _INJECTION.search(question)
            else "nothing retrieved" if best is None
            else "about something the documents never mention" if _off_corpus(d)
            else "not words the documents or the model know" if _not_words(d, self.tokens, question)
            # The embedding model and every word feature are English: a question in another
            # language meets the documents only through a name or a number it shares, and
            # what that finds is not its answer (of six on the shipped article, in Spanish,
            # French, German and Chinese, none was answered right by either fitted model).
            # (Not every not_english question: a keyword query can read as one.)
            else "written in another language than the documents" if foreign_question(question, table.vocabulary)
            else "below the answerability threshold" if d["p_answer"] < threshold
            else ""
        )
        signals["gate"] = gate
        if gate:
            return self._refusal(question, passages, table, d, signals)
        contact = detect.contact_asked(q.text)
        needs = _value_needed(q, lambda t: self.counts_asked(q, t))
        if contact is not None:
            # A phone number, an e-mail or a web address is written or it is not: the
            # likeliest sentence that writes one (or whose shown line does) answers, from
            # the document the best sentence is in (another's address is someone else's).
            # Someone's e-mail is written with their name; the office's is not theirs.
            # "How do I contact them?" (any kind) may be answered without one ("write to
            # the office"): a likely sentence that writes one is preferred, none required.
            whose = nlp.persons(q.text)
            named = contact != detect.ANY_CONTACT
            holding = self._holding(cands, probs, best, table, lambda t: detect.has_contact(contact, t), 0.0, whose)
            if holding is None and named:
                signals["gate"] = (f"asks for {'an' if contact[0] in 'aeiou' else 'a'} {contact}"
                                   f"{' of ' + ' and '.join(whose) if whose else ''}, and the passages found give none")
                return self._refusal(question, passages, table, d, signals)
            best = best if holding is None else holding
        elif needs is not None:
            # A count, an amount or a time of day the best sentence does not state may be
            # in a likely one beside it ("what time was it reported?": "at 5:40 a.m."); if
            # none states it, the check below refuses.
            holding = self._holding(cands, probs, best, table, needs[1], HOLDING_SHARE)
            best = best if holding is None else holding
        chosen = [cands[best]]
        covered = set(nlp.stems(cands[best].text))
        for i in np.argsort(-probs):
            if len(chosen) >= self.config.max_answer_sentences or i == best:
                continue
            if probs[i] < self.models.second_ratio * probs[best]:
                break
            new_terms = [t for t in q.terms if t in nlp.stems(cands[i].text) and t not in covered]
            if new_terms:  # a further sentence must answer a part the others do not
                chosen.append(cands[int(i)])
                covered |= nlp.stems(cands[int(i)].text)
        lead = chosen[0]
        beside = self._beside(q, chosen, table)
        if beside is not None:
            chosen.append(beside)
        for shown in self._shown(lead, table):
            if all(p.row.id != shown.row.id for p in chosen):
                chosen.append(shown)
        # (The lines a sentence introduces may hold the value: "Prices:" / "- Adult: 5 euros".)
        if needs is not None and not any(needs[1](p.text) for p in chosen):
            signals["gate"] = f"asks for {needs[0]}, and the passages found state none"
            return self._refusal(question, passages, table, d, signals)
        head = table.header_of(lead.row)
        if head is not None and all(p.row.id != head.id for p in chosen):
            # A table row is quoted with its table's header line, which says what its cells are.
            chosen.append(_quoted(head, table))
        chosen.sort(key=lambda p: (p.row.doc, p.row.start))
        citations = [Citation.of(n, p) for n, p in enumerate(chosen, start=1)]
        if head is not None:
            # Which citation is the header of the table the answer's rows are from (a
            # reader can lay them out as a table).
            signals["table_header"] = next(n for n, p in enumerate(chosen, start=1) if p.row.id == head.id)
        n_lead = chosen.index(lead) + 1
        a, b = answer_phrase(q, lead.text, table.text(head) if head is not None else None)
        span = Span(lead.row.doc, lead.row.start + a, lead.row.start + b, lead.text[a:b])
        # Below the fitted hedge level, or below the fitted refusal threshold when a
        # deployment set a lower one: those answers the fitted model would have refused.
        hedged = d["p_answer"] < max(self.models.hedge_below, self.models.threshold)
        signals["hedged"] = hedged
        return Answer(
            question=question,
            text=" ".join(f"{collapse(p.text)} [{n}]" for n, p in enumerate(chosen, start=1)),
            refused=False,
            citations=citations,
            mode=self.name,
            confidence=d["p_answer"],
            signals=signals,
            answer_span=span,
            answer_n=n_lead,
            notes=[HEDGE_NOTE] if hedged else [],
        )
