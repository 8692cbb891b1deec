"""The shared types: the citation parser, and Answer's JSON shape."""

from __future__ import annotations

from rag.types import Answer, Citation, Passage, SentenceRow, Span, split_cited


def test_split_cited_parses_markers():
    assert split_cited("A. [1] B, C. [2][3] D.") == [("A.", [1]), ("B, C.", [2, 3]), ("D.", [])]
    assert split_cited("A. [1] [2]") == [("A.", [1, 2])]
    assert split_cited("") == []


def test_answer_span_is_in_the_json_and_null_when_refused():
    a = Answer("q", "The hall seats 800 people. [1]", False, [Citation(1, "d.txt", "", 10, 36, "The hall seats 800 people.")],
               answer_span=Span("d.txt", 25, 35, "800 people"), answer_n=1)
    assert a.to_dict()["answer_span"] == {"n": 1, "doc": "d.txt", "start": 25, "end": 35, "text": "800 people"}
    assert Answer.refusal("q").to_dict()["answer_span"] is None


def test_a_refusal_shows_the_first_three_passages_ranked_by_the_score_they_show():
    passages = [Passage(SentenceRow(f"s{i}", "d.txt", i, i + 1, "", 0, 0, i), f"p{i}", score, 0, 0, 0, None, None)
                for i, score in enumerate([0.66, 0.70, 0.56, 0.99])]
    related = Answer.refusal("q", passages).related
    assert [(r.quote, r.score) for r in related] == [("p1", 0.70), ("p0", 0.66), ("p2", 0.56)]


# --- property: the citation parser ----------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Sentence text that holds no marker of its own (brackets with digits would be one).
_plain = st.text(alphabet=st.characters(blacklist_characters="[]", blacklist_categories=("Cs",)), min_size=1, max_size=60)
_cited_sentence = st.tuples(
    _plain.filter(lambda s: s.strip()), st.lists(st.integers(1, 999), min_size=1, max_size=4)
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_cited_sentence, min_size=0, max_size=6), st.one_of(st.just(""), _plain))
def test_property_split_cited_recovers_sentences_and_numbers(pairs, tail):
    text = " ".join(s + " " + "".join(f"[{n}]" for n in nums) for s, nums in pairs)
    text = text + " " + tail if tail else text
    got = split_cited(text)
    want = [(s.strip(), nums) for s, nums in pairs]
    if tail.strip():
        want.append((tail.strip(), []))
    assert got == want
    # Whatever the input, every number the text carries is attributed exactly once.
    assert sorted(n for _, ns in got for n in ns) == sorted(n for _, ns in pairs for n in ns)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab .[]12\n")) | st.characters(), max_size=200))
def test_property_split_cited_never_invents_or_loses_text(text):
    import re as _re
    from collections import Counter

    got = split_cited(text)
    markers = Counter(int(x) for x in _re.findall(r"\[(\d+)\]", text))
    attributed = Counter(n for _, ns in got for n in ns)
    assert not attributed - markers  # no number that the text does not carry
    if _re.match(r"\s*[^\s\[]", text) or not markers:  # text first: nothing can be orphaned
        assert attributed == markers
    for sentence, _ in got:
        assert sentence and sentence == sentence.strip() and sentence in text
        assert not _re.search(r"\[\d+\]", sentence)


# --- joined: one answer to a two-part question --------------------------------------------

DOC = "The hall opened in 2022. It seats 800 people. Tickets cost $5."


def _cite(n: int, quote: str) -> Citation:
    at = DOC.index(quote)
    return Citation(n, "a.txt", "", at, at + len(quote), quote)


def test_joined_renumbers_the_second_parts_citations_and_keeps_each_once():
    from rag.types import joined

    first = Answer("When did it open?", "The hall opened in 2022. [1]", False, [_cite(1, "The hall opened in 2022.")],
                   answer_span=Span("a.txt", 19, 23, "2022"), answer_n=1)
    second = Answer("how many does it seat?", "It seats 800 people. [1] The hall opened in 2022. [2]", False,
                    [_cite(1, "It seats 800 people."), _cite(2, "The hall opened in 2022.")])
    a = joined("When did it open, and how many does it seat?", first, second)
    assert a.question == "When did it open, and how many does it seat?" and not a.refused
    assert a.text == "The hall opened in 2022. [1] It seats 800 people. [2]"
    assert [(c.n, c.quote) for c in a.citations] == [(1, "The hall opened in 2022."), (2, "It seats 800 people.")]
    assert all(DOC[c.start : c.end] == c.quote for c in a.citations)
    assert [n for _, ns in split_cited(a.text) for n in ns] == [1, 2]
    assert a.answer_span.text == "2022" and a.answer_n == 1 and a.notes == []


def test_joined_says_which_part_the_documents_do_not_answer():
    from rag.types import REFUSAL, joined

    first = Answer("How old is the mayor?", REFUSAL, True)
    second = Answer("what do tickets cost?", "Tickets cost $5. [1]", False, [_cite(1, "Tickets cost $5.")],
                    answer_span=Span("a.txt", DOC.index("$5"), DOC.index("$5") + 2, "$5"), answer_n=1)
    a = joined("How old is the mayor, and what do tickets cost?", first, second)
    assert a.text == "Tickets cost $5. [1]" and a.citations[0].n == 1 and a.answer_n == 1
    assert a.notes == ['Not in the documents: "How old is the mayor?"'] and a.to_dict()["notes"] == a.notes
    both = joined("How old is the mayor, and is she married?", first, Answer("is she married?", REFUSAL, True))
    assert both.refused and both.text == REFUSAL and both.citations == []
