"""Word-level helpers: memoised per text, so what they return must not be shared state."""

from __future__ import annotations

from rag import nlp

SENTENCE = "On Wednesday, Homeland Security Secretary Kristi Noem toured El Salvador's CECOT prison."


def test_memoised_results_cannot_be_changed_by_a_caller():
    toks = nlp.tokens(SENTENCE)
    toks.append("intruder")
    assert "intruder" not in nlp.tokens(SENTENCE)
    people = nlp.persons(SENTENCE)
    people.clear()
    assert nlp.persons(SENTENCE) == ["Kristi Noem"]
    found = nlp.names(SENTENCE)
    found.append("Nowhere")
    assert "Nowhere" not in nlp.names(SENTENCE)
    stems = nlp.stems(SENTENCE)
    assert isinstance(stems, frozenset) and {"tour", "prison"} <= stems


def test_tokens_and_stems():
    assert nlp.tokens("El Salvador’s three-day trip.") == ["el", "salvador", "three-day", "trip"]
    assert {"three", "day", "trip"} <= nlp.stems("a three-day trip")


def test_gazetteer_tells_countries_from_cities_and_people():
    assert nlp.is_country("Mexico") and nlp.is_country("El Salvador")
    assert not nlp.is_country("CECOT") and not nlp.is_country("Kristi Noem")
    assert nlp.is_city("San Salvador") and not nlp.is_city("Mexico")  # the country wins


def test_a_name_ends_with_a_short_line_but_runs_on_over_a_wrapped_one():
    # A signature: the role on the next line is not part of the name.
    assert nlp.persons("Yours sincerely,\nMr. David Okafor\nHeadteacher, Oakfield School") == ["David Okafor"]
    # Hard-wrapped prose: a name broken over the line end is still one name.
    wrapped = ("On Wednesday, the visiting delegation was joined by Homeland Security Secretary Kristi\n"
               "Noem, who toured the new detention centre.")
    assert nlp.persons(wrapped) == ["Kristi Noem"]


def test_genders_come_from_the_texts_own_pronouns_and_honorifics():
    sentences = [
        "Kristi Noem toured the prison with Héctor Villatoro.",  # two people: "her" later is unclear
        "Noem's visit came during a trip in which she will also travel to Colombia.",
        "Mr. Villatoro spoke first.",
        "Ana Ruiz chaired the meeting.",
        "They thanked her.",  # "they" marks nobody; "her" is the one person named before
        "Bo Chen was not there.",  # named, never referred to: no gender
    ]
    people = ["Kristi Noem", "Héctor Villatoro", "Ana Ruiz", "Bo Chen"]
    assert nlp.genders(sentences, people) == {"Kristi Noem": "f", "Héctor Villatoro": "m", "Ana Ruiz": "f"}
    # A pronoun after two people in its sentence gives neither a gender.
    assert nlp.genders(["Ana Ruiz met Bo Chen and thanked him."], ["Ana Ruiz", "Bo Chen"]) == {}


def test_digits_of_a_code_are_no_number():
    from rag import nlp

    assert nlp.numbers("Lowbeck LB4 7QT") == set()  # a postcode
    assert nlp.numbers("see file1.sh or v2") == set()
    assert nlp.numbers("run it under fakeroot(1), see make(1)") == set()  # a manual page's section
    assert nlp.numbers("(1) the first rule") == {"1"}  # a bracketed item number is still a number
    assert nlp.numbers("up to 40,000 inmates, 7km away, in the 1990s") == {"40000", "7", "1990"}


def test_a_capitalised_opening_word_is_no_name():
    # "it" in a follow-up of "Since which version ...?" had been read as "Since"
    assert nlp.names("Since which Debian version has there been a defaults package?") == ["Debian"]
    assert nlp.names("Although the Lowmoor Bridge closed, traffic moved.") == ["Lowmoor Bridge"]
