"""Follow-ups: pronouns and ellipsis resolved from earlier turns, no LLM."""

from __future__ import annotations

from rag.chat import Turn, resolve
from rag.nlp import persons

VISIT = ("During her visit on Wednesday to El Salvador, Sec. Noem joined Salvadoran Minister of Justice "
         "Héctor Gustavo Villatoro for a tour of the Terrorism Confinement Center, known as CECOT.")
VIDEO = ("The post included a brief video that featured the secretary standing in front of a packed cell "
         "of inmates while she thanked El Salvador and President Nayib Bukele for their \"partnership\".")
KNOWN = ("Kristi Noem", "Héctor Gustavo Villatoro", "Nayib Bukele", "Ivania Cruz", "Vicki Gass")


def test_persons_strip_titles_and_skip_places_and_acronyms():
    assert persons(VISIT) == ["Noem", "Héctor Gustavo Villatoro"]
    assert persons(VISIT, KNOWN) == ["Kristi Noem", "Héctor Gustavo Villatoro"]
    assert persons("CECOT and DHS in El Salvador said LEAVE NOW.") == []


def test_who_subject_question_carries_the_new_person_from_the_answer():
    r = resolve("What is his job title?", [Turn("Who accompanied Noem on the tour?", VISIT)], KNOWN)
    assert r.query == "What is Héctor Gustavo Villatoro's job title?"


def test_who_is_question_carries_the_person_asked_about():
    r = resolve("Where is her group headquartered?", [Turn("Who is Vicki Gass?", "")], KNOWN)
    assert r.query == "Where is Vicki Gass's group headquartered?"


def test_who_object_question_carries_the_subject():
    r = resolve("What was she standing in front of?", [Turn("Who did Noem thank in her video?", VIDEO)], KNOWN)
    assert r.query.startswith("What was Kristi Noem standing in front of?")


def test_it_refers_to_the_thing_in_the_previous_question():
    r = resolve("What is it notorious for?", [Turn("When did CECOT open?", VISIT)], KNOWN)
    assert r.query.startswith("What is CECOT notorious for?")


def test_ellipsis_gets_the_previous_question_as_context():
    r = resolve("And Mexico?", [Turn("Why is Noem visiting Colombia?", "")], KNOWN)
    assert r.query == "And Mexico? (Why is Noem visiting Colombia?)"


def test_else_excludes_what_was_already_cited():
    prev = Turn("Who criticized the visit?", "x", [("doc", 1, 5)])
    assert resolve("Who else criticized it?", [prev], KNOWN).exclude == {("doc", 1, 5)}


def test_self_contained_questions_are_left_alone():
    q = "How many inmates can CECOT hold?"
    assert resolve(q, [Turn("Who is Vicki Gass?", "")], KNOWN).query == q
    assert resolve(q, []).query == q
