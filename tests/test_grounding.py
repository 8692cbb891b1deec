"""The grounding checker: exact path, hard checks, and the labelled validation set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.grounding import Checker, Support, check

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
    cases = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines()]
    assert len(cases) >= 150
    missed, wrong = [], 0
    for c in cases:
        s = checker.support(c["sentence"], [p["text"] for p in c["passages"]])
        if s.supported != c["supported"]:
            wrong += 1
            if c["kind"] in ("number_swap", "date_swap", "name_swap"):
                missed.append(c["id"])
    assert missed == []
    assert wrong / len(cases) <= 0.06  # measured: 6 of 171 (see the eval report)


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
