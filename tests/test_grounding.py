"""The grounding checker: exact path, hard checks, and the labelled validation set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.grounding import Checker, Support, check, normalize_citations, split_sentences

CASES = Path(__file__).resolve().parents[1] / "evals" / "grounding_cases.jsonl"
P1 = ("During her visit on Wednesday to El Salvador, Sec. Noem joined Salvadoran Minister of Justice Héctor "
      "Gustavo Villatoro for a tour of the Terrorism Confinement Center, known as CECOT, that was first opened "
      "in 2022, can hold up to 40,000 inmates, and is \"notorious\" among human rights groups for its "
      "exceedingly harsh conditions.")
P2 = ("Noem's visit to the Salvadoran prison came during a three-day trip in which she will also travel to "
      "Colombia and Mexico to reach agreements on dealing with illegal aliens and fugitive criminals, among other things.")


@pytest.fixture(scope="module")
def checker(embedder):
    return Checker(embedder, threshold=0.65)


def test_public_signature_and_verbatim_support():
    (s,) = check("Noem joined Salvadoran Minister of Justice Héctor Gustavo Villatoro for a tour [1]", {1: P1})
    assert isinstance(s, Support)
    assert s.supported and s.score == 1.0 and "verbatim" in s.reason


def test_one_support_per_sentence_with_reasons(checker):
    answer = (
        "CECOT can hold up to 40,000 inmates, [1] "
        "CECOT can hold up to 50,000 inmates. [1] "
        "Noem will also travel to Colombia and Mexico. [9] "
        "The prison opened in 2022."
    )
    out = checker.check(answer, {1: P1, 2: P2})
    assert [s.supported for s in out] == [True, False, False, False]
    assert "50000" in out[1].reason
    assert "[9]" in out[2].reason
    assert out[3].reason == "no citation"


def test_whole_quotes_each_with_its_marker_stay_sentences_of_their_own(checker):
    # Quoted lines that start in lower case and end without a stop are not the middle
    # of the sentence before: each keeps its own marker.
    passages = {1: "The defaults are:", 2: "gcc\t: gcc-12", 3: "g++\t: g++-12"}
    out = checker.check("The defaults are: [1] gcc : gcc-12 [2] g++ : g++-12 [3]", passages)
    assert [(s.sentence, s.citations) for s in out] == [
        ("The defaults are:", (1,)), ("gcc : gcc-12", (2,)), ("g++ : g++-12", (3,))
    ]
    # Not all whole quotes: read as any answer, the markers mid-sentence move to its end.
    out = checker.check("The defaults are: [1] gcc : gcc-12 [2] and more [3]", passages)
    assert [s.citations for s in out] == [(1,), (2, 3)]


def test_a_true_sentence_cited_to_the_wrong_passage_is_unsupported(checker):
    (s,) = checker.check("Noem will also travel to Colombia and Mexico. [1]", {1: P1})
    assert not s.supported


def test_faithful_paraphrase_is_supported(checker):
    (s,) = checker.check("CECOT opened in 2022 and can house as many as 40,000 inmates. [1]", {1: P1})
    assert s.supported, s.reason


def test_negation_and_swaps_are_caught(checker):
    cases = {
        "Noem will not travel to Colombia and Mexico.": "negates",
        "Noem's visit came during a five-day trip.": "five",
        "Noem will also travel to Brazil and Mexico.": "brazil",
        "During her visit on Tuesday, Noem toured CECOT.": "tuesday",
    }
    for sentence, why in cases.items():
        s = checker.support(sentence, [P1 + " " + P2])
        assert not s.supported and why in s.reason.lower(), (sentence, s.reason)


@pytest.mark.slow
def test_labelled_cases_no_missed_number_date_or_name_swap(checker):
    from evals.runner import case_verdict

    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines()]
    assert len(cases) >= 200
    styled = [c for c in cases if "style" in c]
    assert {c["style"] for c in styled} >= {"before_stop", "adjacent", "comma_list", "range", "cjk", "footnote"}
    missed, wrong, wrong_styled = [], 0, []
    for c in cases:
        supported, _, _ = case_verdict(checker, c)
        if supported != c["supported"]:
            wrong += 1
            if "style" in c:
                wrong_styled.append(c["id"])
            if c["kind"] in ("number_swap", "date_swap", "name_swap") or (c["kind"] == "negation" and "style" in c):
                missed.append(c["id"])
    assert missed == []
    assert wrong_styled == []  # measured: 0 of 38 (before the style parsing: 19 of 38)
    assert wrong / len(cases) <= 0.04  # measured: 6 of 209 (see the eval report)


# One row per citation style a model is likely to write: (answer, sentences the checker sees).
STYLES = [
    ("CECOT can hold up to 40,000 inmates. [1]", [("CECOT can hold up to 40,000 inmates.", [1])]),
    ("CECOT can hold up to 40,000 inmates [1].", [("CECOT can hold up to 40,000 inmates.", [1])]),
    ("CECOT can hold up to 40,000 inmates [1][2].", [("CECOT can hold up to 40,000 inmates.", [1, 2])]),
    ("CECOT can hold up to 40,000 inmates [1, 2].", [("CECOT can hold up to 40,000 inmates.", [1, 2])]),
    ("CECOT can hold up to 40,000 inmates [1;2].", [("CECOT can hold up to 40,000 inmates.", [1, 2])]),
    ("CECOT can hold up to 40,000 inmates [1-3].", [("CECOT can hold up to 40,000 inmates.", [1, 2, 3])]),
    ("CECOT can hold up to 40,000 inmates [1–2].", [("CECOT can hold up to 40,000 inmates.", [1, 2])]),
    ("CECOT can hold up to 40,000 inmates【1】.", [("CECOT can hold up to 40,000 inmates.", [1])]),
    ("CECOT can hold up to 40,000 inmates.【1†source】", [("CECOT can hold up to 40,000 inmates.", [1])]),
    ("CECOT can hold up to 40,000 inmates.[^1]", [("CECOT can hold up to 40,000 inmates.", [1])]),
    ("CECOT can hold up to 40,000 inmates.¹", [("CECOT can hold up to 40,000 inmates.", [1])]),
    ("CECOT can hold up to 40,000 inmates [Passage 1].", [("CECOT can hold up to 40,000 inmates.", [1])]),
    ("CECOT can hold up to 40,000 inmates [Sources 1 and 2].", [("CECOT can hold up to 40,000 inmates.", [1, 2])]),
    ("CECOT [1], which opened in 2022, holds 40,000 [2].", [("CECOT, which opened in 2022, holds 40,000.", [1, 2])]),
    ('She said "leave now [1]." Then she left. [2]', [('She said "leave now."', [1]), ("Then she left.", [2])]),
    ("A [1]. B [2]. .", [("A.", [1]), ("B.", [2])]),
    ("A [1] — . [2]", [("A", [1, 2])]),
    ("A. [1] B.", [("A.", [1]), ("B.", [])]),
    # Not citations: left as text, so the sentence has no valid citation.
    ("Pages [1-100] of it. [1]", [("Pages [1-100] of it.", [1])]),
]


@pytest.mark.parametrize("answer,expected", STYLES)
def test_citation_styles_are_read_as_sentences_with_numbers(answer, expected):
    assert split_sentences(answer) == expected


def test_the_issue_example_is_one_supported_sentence():
    answer = "CECOT was first opened in 2022 and can hold up to 40,000 inmates [1]."
    (s,) = check(answer, {1: P1})
    assert s.supported and s.sentence == "CECOT was first opened in 2022 and can hold up to 40,000 inmates."


@pytest.mark.parametrize("marker", ["[1]", "[1][2]", "[1, 2]", "[1-2]", "【1】", "[^1]"])
def test_styles_supported_and_swaps_still_rejected(checker, marker):
    ok = checker.check(f"CECOT was first opened in 2022 and can hold up to 40,000 inmates {marker}.", {1: P1, 2: P2})
    assert [s.supported for s in ok] == [True], ok
    for swap, why in [("50,000 inmates", "50000"), ("opened in 2019", "2019")]:
        sentence = "CECOT was first opened in 2022 and can hold up to 40,000 inmates"
        sentence = sentence.replace("40,000 inmates", swap) if "inmates" in swap else sentence.replace("opened in 2022", swap)
        (s,) = checker.check(f"{sentence} {marker}.", {1: P1, 2: P2})
        assert not s.supported and why in s.reason, (marker, s.reason)
    (s,) = checker.check(f"Noem will also travel to Brazil and Mexico {marker}.", {1: P1, 2: P2})
    assert not s.supported and "brazil" in s.reason
    (s,) = checker.check(f"Noem will not travel to Colombia and Mexico {marker}.", {1: P2, 2: P1})
    assert not s.supported and "negates" in s.reason


def test_normalize_citations_keeps_plain_text_and_brackets_that_are_not_citations():
    assert normalize_citations("No markers here.") == "No markers here."
    assert normalize_citations("Pages [1-100].") == "Pages [1-100]."
    assert normalize_citations("[sic] and [a]") == "[sic] and [a]"


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(_text, st.data())
def test_property_any_substring_of_the_passage_is_supported_exactly(passage, data):
    start = data.draw(st.integers(0, len(passage) - 1))
    end = data.draw(st.integers(start + 1, len(passage)))
    sentence = passage[start:end]
    if not sentence.strip() or "[" in sentence:
        return
    # No embedder: the exact path must decide without a model.
    s = Checker(embedder=None).support(sentence, [passage])
    assert s.supported and s.score == 1.0
