"""Follow-ups: pronouns and ellipsis resolved from earlier turns, no LLM."""

from __future__ import annotations

import pytest

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


def test_it_refers_to_the_previous_questions_noun_phrase_when_it_named_nothing():
    r = resolve("how much does it cost to enter", [Turn("when is the regatta", "")], KNOWN)
    assert r.query == "how much does the regatta cost to enter" and r.replaced
    r = resolve("what services will it have?", [Turn("where will the temporary reading room be?", "")], KNOWN)
    assert r.query == "what services will the temporary reading room have?"
    # Nothing to point back to: the previous question is given as context instead.
    r = resolve("how much is it?", [Turn("when does it open?", "")], KNOWN)
    assert r.query == "how much is it? (when does it open?)" and not r.replaced


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


# --- one record of a turn, and any history a caller may hold --------------------------

def test_a_turn_round_trips_through_the_json_the_web_ui_stores():
    from rag.chat import parse_history
    from rag.types import Answer, Citation

    a = Answer("Who went?", "Ana went. [1]", False, [Citation(1, "d.txt", "", 0, 9, "Ana went.")], rewritten_query="Who went?")
    stored = Turn.from_answer(a).to_dict()  # what the UI keeps: cited spans as lists
    assert stored["cited"] == [["d.txt", 0, 9]]
    (back,) = parse_history([stored])
    assert back == Turn("Who went?", "Ana went. [1]", (("d.txt", 0, 9),))
    hash(back.cited)  # the "else" exclusion makes a set of these: lists crashed it


def test_an_else_follow_up_after_a_stored_turn_excludes_what_was_cited():
    from rag.chat import parse_history

    turns = parse_history([{"question": "Who went with her?", "answer": "Ana went. [1]", "cited": [["d.txt", 0, 9]]}])
    r = resolve("Who else was there?", turns)
    assert r.exclude == frozenset({("d.txt", 0, 9)})


def test_chat_messages_become_turns():
    from rag.chat import parse_history

    turns = parse_history([{"role": "user", "content": "Who runs it?"}, {"role": "assistant", "content": "Bo does. [1]"},
                           {"role": "user", "content": "Since when?"}])
    assert [(t.question, t.answer) for t in turns] == [("Who runs it?", "Bo does. [1]"), ("Since when?", "")]


@pytest.mark.parametrize("bad, says", [
    (7, "history must be a list"),
    ("Who runs it?", "history must be a list"),
    ([3], "history item 0 must be a question"),
    ([{"question": 5}], "must be text"),
    ([{"question": "q", "cited": [["d", "0", 1]]}], "cited span"),
    ([{"role": "system", "content": "x"}], "'role' must be"),
    ([{"foo": "bar"}], "a turn needs 'question'"),  # not silently an empty turn
])
def test_a_malformed_history_is_a_clear_error(bad, says):
    from rag.chat import parse_history
    from rag.types import InvalidQuestion

    with pytest.raises(InvalidQuestion, match=says):
        parse_history(bad)


def test_a_gendered_pronoun_skips_a_person_the_documents_give_the_other_gender():
    # "Who accompanied X?" makes the companion the likeliest "he"/"she"; but the article
    # calls Noem "she" and Villatoro nothing, so "she" is Noem and "his" is still Villatoro.
    history = [Turn("Who accompanied Noem on the tour?", VISIT)]
    genders = {"Kristi Noem": "f"}
    assert resolve("What did she say?", history, KNOWN, genders=genders).query.startswith("What did Kristi Noem say?")
    assert resolve("What is his job title?", history, KNOWN, genders=genders).query == (
        "What is Héctor Gustavo Villatoro's job title?"
    )
    # Nobody of the pronoun's gender and nobody of unknown gender: left for the context.
    r = resolve("What did he say?", [Turn("Who is Vicki Gass?", "")], KNOWN, genders={"Vicki Gass": "f"})
    assert "Vicki Gass" not in r.query.split("(")[0] and "(Who is Vicki Gass?)" in r.query
    # The person the previous question named stays the referent when the text gives
    # her no gender, even if it calls someone else in the answer "she".
    r = resolve("Where is her group based?", [Turn("Who is Vicki Gass?", VISIT)], KNOWN, genders={"Kristi Noem": "f"})
    assert r.query == "Where is Vicki Gass's group based?"
    # "he" after "who took over from X?" is the new person of the answer, not X, when
    # the text gives neither a gender.
    r = resolve("How long did he run it?", [Turn("Who took over from Kristi Noem?", VISIT)], KNOWN, genders={"Nayib Bukele": "m"})
    assert r.query.startswith("How long did Héctor Gustavo Villatoro run")


def test_every_person_pronoun_the_chat_resolves_has_a_gender_in_nlp():
    from rag import chat, nlp

    words = chat.PERSON_SUBJECT | chat.PERSON_OBJECT | chat.PERSON_POSSESSIVE
    assert {w for w in words if nlp.pronoun_gender(w) is None} == set()
    assert {m.group(1) for m in chat._PERSON_PRONOUN.finditer(" ".join(sorted(words)))} == words
