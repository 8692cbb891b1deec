"""Follow-up questions: resolve pronouns and ellipsis from earlier turns, without an LLM.

Entity carry-over: the previous turn's question and answer are searched for the
person or thing a pronoun points back to, by the grammatical role the previous
question gave it:

* "Who is Ana Lopez?" -> "Where is her group headquartered?": the person asked about.
* "Who accompanied the mayor on the tour?" -> "What is his job title?": the new person
  the answer introduced (the question's "who" was the subject).
* "Who did Ana Lopez thank?" -> "What was she standing in front of?": the subject of
  the previous question ("who" was the object).
* "it/its" -> the first non-person name of the previous question ("the Riverside Library").

What cannot be resolved this way (or elliptical follow-ups such as "And Mexico?")
is given the previous question as context, in brackets, so retrieval still sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence, Union

from . import nlp
from .nlp import persons, things
from .types import Answer, InvalidQuestion, json_kind

PERSON_SUBJECT = {"he", "she"}
PERSON_OBJECT = {"him", "her"}
PERSON_POSSESSIVE = {"his", "her", "hers"}
THING = {"it", "its"}
VAGUE = {"they", "them", "their", "theirs", "this", "that", "these", "those", "there", "else", "same"}

Cited = tuple[tuple[str, int, int], ...]  # (doc, start, end) of each citation


@dataclass(frozen=True)
class Turn:
    """An earlier exchange; ``answer`` may be empty when only the question is known.

    The one record of a conversation turn: the CLI chat, the web UI and the HTTP API
    all keep these (as :meth:`to_dict` where state must be JSON) and hand them back.
    """

    question: str
    answer: str = ""
    cited: Cited = ()

    @classmethod
    def from_answer(cls, answer: Answer) -> "Turn":
        """The turn a given answer makes: what was asked (as resolved), what was said, what was cited."""
        return cls(
            question=answer.rewritten_query or answer.question,
            answer="" if answer.refused else answer.text,
            cited=tuple((c.doc, c.start, c.end) for c in answer.citations),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"question": self.question, "answer": self.answer, "cited": [list(c) for c in self.cited]}


HistoryItem = Union[str, Mapping[str, Any], Turn]
MAX_HISTORY_TURNS = 50  # only the last turn matters for resolution; a cap keeps requests bounded


def _cited(value: Any, where: str) -> Cited:
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise InvalidQuestion(f"{where}: 'cited' must be a list of [document, start, end]")
    out = []
    for c in value:
        if not (isinstance(c, (list, tuple)) and len(c) == 3 and isinstance(c[0], str)
                and all(isinstance(x, int) and not isinstance(x, bool) for x in c[1:])):
            raise InvalidQuestion(f"{where}: each cited span must be [document, start, end], got {c!r}")
        if not 0 <= c[1] < c[2]:
            raise InvalidQuestion(f"{where}: a cited span needs 0 <= start < end, got {c!r}")
        out.append((c[0], int(c[1]), int(c[2])))
    return tuple(out)


def parse_history(history: Any) -> list[Turn]:
    """Earlier turns from any history a caller may hold, validated.

    Accepts ``None``, or a list of: earlier questions (``str``), :class:`Turn` objects,
    ``Turn.to_dict()`` mappings (``{"question", "answer", "cited"}``, cited spans as
    lists or tuples), or chat messages (``{"role": "user"|"assistant", "content"}``:
    user messages are the questions, each assistant message answers the one before).

    >>> parse_history(["Who runs it?"])
    [Turn(question='Who runs it?', answer='', cited=())]

    Raises :class:`InvalidQuestion` with a message naming what is wrong.
    """
    if history is None:
        return []
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise InvalidQuestion(
            f"history must be a list of earlier questions or turns, not {json_kind(history)}"
        )
    turns: list[Turn] = []
    for i, item in enumerate(list(history)[-2 * MAX_HISTORY_TURNS :]):
        where = f"history item {i}"
        if isinstance(item, Turn):
            turns.append(item)
        elif isinstance(item, str):
            turns.append(Turn(item))
        elif isinstance(item, Mapping):
            if "role" in item:
                role, content = item.get("role"), item.get("content")
                if "content" not in item:
                    raise InvalidQuestion(f"{where}: a chat message needs 'content'")
                if not isinstance(content, str):
                    raise InvalidQuestion(f"{where}: 'content' must be text")
                if role == "user":
                    turns.append(Turn(content))
                elif role == "assistant":
                    if turns and not turns[-1].answer:
                        turns[-1] = Turn(turns[-1].question, content, turns[-1].cited)
                else:
                    raise InvalidQuestion(f"{where}: 'role' must be 'user' or 'assistant'")
                continue
            if "question" not in item:
                raise InvalidQuestion(
                    f"{where}: a turn needs 'question' (and may have 'answer' and 'cited'), or 'role' and 'content'"
                )
            question, answer = item.get("question", ""), item.get("answer", "")
            if not isinstance(question, str) or not isinstance(answer, str):
                raise InvalidQuestion(f"{where}: 'question' and 'answer' must be text")
            turns.append(Turn(question, answer, _cited(item.get("cited"), where)))
        else:
            raise InvalidQuestion(f"{where} must be a question (text) or a turn, not {json_kind(item)}")
    return [t for t in turns if t.question.strip()][-MAX_HISTORY_TURNS:]


@dataclass(frozen=True)
class Resolution:
    """The retrieval query for a follow-up, what an "else" question excludes, and
    whether a pronoun in it was replaced by what it points back to (then the question
    read alone is about anything: "how much does it cost?")."""

    query: str
    exclude: frozenset[tuple[str, int, int]] = frozenset()
    replaced: bool = False


def _same_person(a: str, b: str) -> bool:
    return a.split()[-1].lower() == b.split()[-1].lower()


def _referents(prev: Turn, known: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The people a pronoun in the next question may point back to, likeliest first, and
    those of them the previous question itself named."""
    q = nlp.normalize(prev.question).strip()
    low = q.lower()
    asked = persons(q, known)
    in_answer = persons(prev.answer, known)
    first: list[str] = []
    m = re.match(r"(?i)^\s*who(?:m)?\s+(?:is|was|are|were)\s+(.+?)\??$", q)
    if m and persons(m.group(1), known):
        first = persons(m.group(1), known)[:1]
    elif re.match(r"^\s*who(?:m)?\s+(did|does|do|will|would|has|have|had|can|could)\b", low) and asked:
        first = asked[:1]  # "who" was the object: the subject is the topic
    elif re.match(r"^\s*who\b", low):
        first = [p for p in in_answer if not any(_same_person(p, a) for a in asked)][:1]
    return list(dict.fromkeys([*first, *asked, *in_answer])), asked


def _referent_person(
    prev: Turn, known: tuple[str, ...], gender: str | None = None, genders: Mapping[str, str] | None = None
) -> str | None:
    """The person a pronoun of ``gender`` ("m", "f" or None) points back to: one the
    previous question named and the documents give that gender, else the likeliest of
    :func:`_referents` they do not give the other. So "she" after "who went with Ana
    Lopez?" is Ana Lopez, not the man who went with her, while "he" after "who took
    over from Ana Lopez?" is still the new person of the answer."""
    cands, asked = _referents(prev, known)
    if not gender or not genders:
        return cands[0] if cands else None
    named = [p for p in asked if genders.get(p) == gender]
    unopposed = [p for p in cands if genders.get(p, gender) == gender]
    return (named or unopposed or [None])[0]


_QUESTION_WORD = re.compile(r"\b(what|which|who|whom|whose|when|where|why|how|whats|wat)\b")
# The pronouns above that stand for a person (the gender of each: nlp.pronoun_gender).
_PERSON_PRONOUN = re.compile(r"\b(" + "|".join(sorted(PERSON_SUBJECT | PERSON_OBJECT | PERSON_POSSESSIVE)) + r")\b", re.I)


def _named_before_pronoun(question: str, known: tuple[str, ...]) -> bool:
    """Whether the question names a person before its first personal pronoun: then the
    pronoun is that person ("When did Dana post her message?"), not someone earlier.

    >>> _named_before_pronoun("When did Dana Reyes post her message?", ())
    True
    >>> _named_before_pronoun("What did she tell Dana Reyes?", ())
    False
    """
    m = _PERSON_PRONOUN.search(question)
    return bool(m and persons(question[: m.start()], known))


_INNER_CONTEXT = re.compile(r"\s\([^()]*\)(?=\)$)")


def _one_level(question: str) -> str:
    """An earlier resolved question with the context it carried cut to one level, so
    that a chain of follow-ups does not drag every earlier question along.

    >>> _one_level("and the double? (and the family room? (how much is the dorm))")
    'and the double? (and the family room?)'
    """
    while True:
        shorter = _INNER_CONTEXT.sub("", question)
        if shorter == question:
            return question
        question = shorter


def topic_phrase(question: str, known: Callable[[str], bool] | None = None) -> str | None:
    """The last "the ..." noun phrase of a question: its determiner and up to three words
    that are not stop words, so that "it" in the next question can be replaced by what it
    most likely points back to when the question named nothing.

    ``known``: whether the documents say a phrase. The longest start of the phrase they
    say is taken: in "when was the club founded?" the verb follows the noun, and "the
    club founded" is said nowhere, "the club" is.

    >>> topic_phrase("where will the temporary reading room be during construction?")
    'the temporary reading room'
    >>> topic_phrase("when was the club founded?", known=lambda p: p.lower() == "the club")
    'the club'
    >>> topic_phrase("how much is it?") is None
    True
    """
    stop = nlp.stopwords()  # question words included
    found: list[str] = []
    for m in re.finditer(r"\bthe\s+((?:[\w'-]+\s*){1,3})", question, re.I):
        words = []
        for w in m.group(1).split():
            w = w.rstrip("?.!,;:")
            if not w or w.lower().strip("'") in stop or not any(ch.isalpha() for ch in w):
                break
            words.append(w)
        if words:
            found = [question[m.start() : m.start() + 4] + " ".join(words[:n]) for n in range(len(words), 0, -1)]
    if not found:
        return None
    return next((f for f in found if known(f)), found[0]) if known else found[0]


def _replace_word(text: str, words: set[str], repl: str) -> tuple[str, bool]:
    pattern = re.compile(r"\b(" + "|".join(sorted(words, key=len, reverse=True)) + r")\b", re.I)
    new, n = pattern.subn(repl, text, count=1)
    return new, n > 0


def resolve(
    question: str, history: Sequence[Turn], known_people: tuple[str, ...] = (),
    known_phrase: Callable[[str], bool] | None = None, genders: Mapping[str, str] | None = None,
) -> Resolution:
    """The query to retrieve with for ``question`` given earlier ``history`` turns.

    ``known_people``: full person names of the corpus (see :func:`persons`);
    ``known_phrase``: whether the documents say a phrase (see :func:`topic_phrase`);
    ``genders``: the gender the documents give some of those people (see
    :func:`rag.nlp.genders`), so that "she" is not resolved to a man.

    >>> resolve("what did she say?", [Turn("Who went with Ana Lopez?", "Ana Lopez went with Bo Chen.")],
    ...         ("Ana Lopez", "Bo Chen"), genders={"Ana Lopez": "f"}).query
    'what did Ana Lopez say? (Who went with Ana Lopez?)'
    """
    if not history:
        return Resolution(question)
    prev = history[-1]
    toks = set(nlp.tokens(question))
    words = question.strip()
    low = words.lower()
    query = words
    resolved_any = False
    unresolved = False

    if toks & (PERSON_SUBJECT | PERSON_OBJECT | PERSON_POSSESSIVE) and not _named_before_pronoun(words, known_people):
        pronoun = _PERSON_PRONOUN.search(words)
        person = _referent_person(
            prev, known_people, nlp.pronoun_gender(pronoun.group(1)) if pronoun else None, genders
        )
        if person:
            # "her" before a noun is possessive ("her group"), else an object ("thank her").
            query = re.sub(
                r"\b(his|her)\b(?=\s+(?!own\b)[a-z])(?!\s+(?:to|in|on|at|for|with|and|or|about|that|from|by)\b)",
                f"{person}'s",
                query,
                count=1,
                flags=re.I,
            )
            query, _ = _replace_word(query, PERSON_SUBJECT | PERSON_OBJECT | {"hers"}, person)
            resolved_any = True
        else:
            unresolved = True
    if toks & THING:
        # Only the previous question's own topic; guessing from a long answer misleads.
        cands = things(prev.question, known_people)
        if not cands and (topic := topic_phrase(prev.question, known_phrase)):
            cands = [topic]  # "when is the regatta?" -> "how much is it?": the regatta
        if cands:
            query = re.sub(r"\bits\b", f"{cands[0]}'s", query, count=1, flags=re.I)
            query, _ = _replace_word(query, {"it"}, cands[0])
            resolved_any = True
        else:
            unresolved = True
    replaced = query != words
    # "and the double?", "why?", "price?": no question of its own. "When is check-out?"
    # (a question word and a thing) is one, even though it is short.
    n_terms = len(nlp.content_terms(words))
    elliptical = low.startswith(("and ", "what about", "how about", "and?")) or n_terms == 0 or (
        n_terms == 1 and not _QUESTION_WORD.search(low)
    )
    if toks & VAGUE or unresolved or elliptical:
        query = f"{query} ({_one_level(prev.question.strip())})"
        resolved_any = True
    exclude = frozenset(prev.cited) if "else" in toks or "other" in toks else frozenset()
    return Resolution(query if resolved_any else question, exclude, replaced)
