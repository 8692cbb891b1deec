"""The shared types: the citation parser, and Answer's JSON shape."""

from __future__ import annotations

from rag.types import Answer, Citation, Span, split_cited


def test_split_cited_parses_markers():
    assert split_cited("A. [1] B, C. [2][3] D.") == [("A.", [1]), ("B, C.", [2, 3]), ("D.", [])]
    assert split_cited("A. [1] [2]") == [("A.", [1, 2])]
    assert split_cited("") == []


def test_answer_span_is_in_the_json_and_null_when_refused():
    a = Answer("q", "The hall seats 800 people. [1]", False, [Citation(1, "d.txt", "", 10, 36, "The hall seats 800 people.")],
               answer_span=Span("d.txt", 25, 35, "800 people"), answer_n=1)
    assert a.to_dict()["answer_span"] == {"n": 1, "doc": "d.txt", "start": 25, "end": 35, "text": "800 people"}
    assert Answer.refusal("q").to_dict()["answer_span"] is None


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
