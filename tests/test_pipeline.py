"""The public Python API: Pipeline.load / ask / stream and Answer.to_dict()."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import REFUSAL, Config, InvalidQuestion, Pipeline
from rag.pipeline import clean_question
from rag.answering.answerer import HEDGE_NOTE

KEYS = {"question", "answer", "refused", "citations", "related", "rewritten_query", "mode", "timings_ms", "answer_span"}


def test_to_dict_has_exactly_the_documented_shape(pipeline):
    d = pipeline.ask("How many inmates can CECOT hold?").to_dict()
    assert set(d) == KEYS
    assert d["refused"] is False and d["mode"] == "extractive"
    (c,) = [c for c in d["citations"] if "40,000" in c["quote"]]
    assert set(c) == {"n", "doc", "section", "start", "end", "quote"}
    assert pipeline.corpus_text(c["doc"])[c["start"] : c["end"]] == c["quote"]
    assert d["timings_ms"]["total"] > 0


def test_refusal_shows_related_passages_not_citations(pipeline):
    d = pipeline.ask("What is the capital of France?").to_dict()
    assert d["answer"] == REFUSAL and d["refused"] and d["citations"] == []
    assert all(set(r) == {"doc", "section", "start", "end", "quote", "score"} for r in d["related"])


def test_follow_up_reports_the_rewritten_query(pipeline):
    a = pipeline.ask("What is his job title?", history=["Who accompanied Noem on the tour?"])
    assert "Villatoro" in a.rewritten_query
    assert "Minister of Justice" in a.text
    b = pipeline.ask("Where is her group based?", history=[{"question": "Who is Vicki Gass?", "answer": ""}])
    assert "Washington" in b.text
    # The article calls Noem "she" and her companion nothing: "she" is not the companion.
    c = pipeline.ask("what did she say?", history=["Who accompanied Noem on the tour?"])
    assert "Noem" in c.rewritten_query.split("(")[0] and "Villatoro" not in c.rewritten_query


@pytest.mark.parametrize("question, phrase", [("how much is a private double", "64 euros"), ("price family room", "90 euros")])
def test_a_table_row_is_answered_from_its_own_row_under_its_header(hostel_pipeline, question, phrase):
    a = hostel_pipeline.ask(question)
    assert a.answer_span is not None and a.answer_span.text == phrase
    head, row = a.citations  # the header line says what the row's cells are
    assert head.quote == "| Room type       | Price per night | Breakfast included |"
    assert row.quote.startswith("|") and phrase in row.quote and "\n" not in row.quote  # the row, not the table
    # shown without the outer pipes, which read as noise in a sentence
    assert a.answer_n == 2 and a.text.startswith("Room type | Price per night | Breakfast included [1] ")
    text = hostel_pipeline.corpus_text(head.doc)
    for c in a.citations:
        assert text[c.start : c.end] == c.quote



@pytest.mark.parametrize("question, history, expected", [
    # a question of its own after another topic: answered as if asked alone
    ("when is checkout", ["how much is the dorm"], "10 am"),
    ("what about pets", ["how much is the dorm", "and the family room?"], "7 euros"),
    # a real follow-up still leans on the question before it
    ("and the family room?", ["how much is the dorm"], "90 euros"),
    ("since when has she run it?", ["who runs the hostel?"], "2016"),
])
def test_a_follow_up_is_read_alone_when_that_answers_better(hostel_pipeline, question, history, expected):
    a = hostel_pipeline.ask(question, history=history)
    assert not a.refused and expected in a.text, (a.rewritten_query, a.text)


def test_a_follow_up_whose_pronoun_was_replaced_is_not_read_alone(hostel_pipeline):
    # Alone, "how much does it cost?" is about any price; with "it" replaced by what it
    # points back to, it is about the late check-out, and that reading is the one answered.
    a = hostel_pipeline.ask("how much does it cost?", history=["Until when is the late check-out?"])
    assert a.rewritten_query == "how much does the late check-out cost?" and "12 euros" in a.text


def test_without_the_alone_reading_history_steers_a_self_contained_question(hostel_pipeline):
    # The setting does something: with it off, the earlier price question takes over.
    off = Pipeline(hostel_pipeline.config.with_(self_contained_margin=None), embedder=hostel_pipeline.embedder)
    a = off.ask("what about pets", history=["how much is the dorm", "and the family room?"])
    assert "7 euros" not in a.text and "(" in a.rewritten_query


def test_people_are_found_sentence_by_sentence_not_across_a_heading(hostel_pipeline):
    with hostel_pipeline._searching() as snap:  # noqa: SLF001 - the gazetteer the resolver uses
        assert hostel_pipeline._known_people(snap, [])[0] == ("Marta Kowalczyk",)


def test_a_two_part_question_is_answered_part_by_part(pipeline, article_text):
    a = pipeline.ask("How many inmates can CECOT hold, and who is the president of El Salvador?")
    assert "40,000" in a.text and "Bukele" in a.text and not a.refused
    assert all(article_text[c.start : c.end] == c.quote for c in a.citations)
    assert [c.n for c in a.citations] == list(range(1, len(a.citations) + 1))
    assert a.rewritten_query == "How many inmates can CECOT hold? | who is the president of El Salvador?"
    # A part the article does not answer is said so beside the answer, not guessed at.
    b = pipeline.ask("How many inmates can CECOT hold, and what is Noem's salary?")
    assert "40,000" in b.text and b.notes == ['Not in the documents: "what is Noem\'s salary?"']
    old = pipeline.ask("How many inmates can CECOT hold, and how old is Noem?")
    assert "40,000" in old.text and old.notes == ['Not in the documents: "how old is Noem?"']
    # A part the answerer doubts, and does not refuse, carries the doubt note instead.
    d = pipeline.ask("How many inmates can CECOT hold, and what party is Noem in?")
    assert "40,000" in d.text and d.notes == [HEDGE_NOTE]
    # Off, the question is one retrieval: one part's sentence only.
    off = Pipeline(pipeline.config.with_(split_two_part=False), embedder=pipeline.embedder)
    c = off.ask("How many inmates can CECOT hold, and who is the president of El Salvador?")
    assert not ("40,000" in c.text and "Bukele" in c.text) and c.notes == []


def test_a_quotation_is_answered_with_its_speaker_named_beside_it(pipeline, article_text):
    # "Who said ..." matches the quoted sentence best, which names no one; the sentence
    # before it names the speaker, and is quoted and cited with it (in document order).
    a = pipeline.ask('Who said Noem used CECOT "as a cinematographic space"?')
    assert not a.refused and "Ivania Cruz" in a.text and len(a.citations) == 2
    speaker, quote = a.citations
    assert "Ivania Cruz" in speaker.quote and "cinematographic space" in quote.quote and speaker.end < quote.start
    assert all(article_text[c.start : c.end] == c.quote for c in a.citations)
    assert a.answer_n == quote.n and a.answer_span.text in quote.quote  # the phrase stays in the best sentence
    # A question whose best sentence holds the kind of value asked for gets no extra sentence.
    b = pipeline.ask("When was CECOT first opened?")
    assert "2022" in b.text and len(b.citations) == 1


def test_a_sentence_ending_in_a_colon_is_quoted_with_the_line_it_introduces(tmp_path, embedder):
    # The command a README sets off after "run:" is too short to be an answer alone, and
    # is the answer: it is quoted and cited after the sentence that introduces it.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = ("Building\n========\n\nThe tool builds with make on any POSIX system.\n\n"
            "To build a statically linked version of the tool, run:\n\n    make LDFLAGS=-all-static\n\n"
            "After make finishes, copy the binary anywhere you like.\n")
    (corpus / "README.txt").write_text(text, encoding="utf-8")
    pipe = Pipeline.load(Config().with_(corpus_dir=corpus, home=tmp_path / ".rag"), embedder=embedder)
    a = pipe.ask("how do I build a statically linked version?")
    assert not a.refused and [c.quote for c in a.citations] == [
        "To build a statically linked version of the tool, run:", "make LDFLAGS=-all-static"]
    assert all(text[c.start : c.end] == c.quote for c in a.citations)


def test_a_question_in_another_language_is_refused_with_a_word_on_why(pipeline):
    from rag.answering.answerer import LANGUAGE_NOTE

    # ("¿" is Spanish's; "a" is a Spanish word too, not the English stop word; a few CJK
    # characters are a question of any length.)
    for question in ("Wie viele Gefangene kann das Gefängnis aufnehmen?", "¿Cuántos presos puede albergar la prisión?",
                     "Combien de prisonniers la prison peut-elle accueillir ?", "¿Quién acompañó a Noem?",
                     "谁陪同她参观了监狱?"):
        a = pipeline.ask(question)
        assert a.refused and a.notes == [LANGUAGE_NOTE], (question, a.text, a.notes)
        assert a.to_dict()["notes"] == [LANGUAGE_NOTE]
    # An English question the documents do not answer, or a keyword query, gets no such note.
    assert pipeline.ask("What is the capital of Australia?").notes == []
    assert LANGUAGE_NOTE not in pipeline.ask("cecot capacity inmates max number").notes


def test_stream_yields_text_pieces_then_the_answer(pipeline):
    pieces = list(pipeline.stream("When did CECOT first open?"))
    answer = pieces[-1]
    assert all(isinstance(p, str) for p in pieces[:-1]) and len(pieces) >= 2
    assert "".join(pieces[:-1]) == answer.text


@pytest.mark.parametrize("bad", ["", "   \n\t ", "?!...", "\x00\x01"])
def test_bad_questions_raise_a_clear_error(pipeline, bad):
    with pytest.raises(InvalidQuestion):
        pipeline.ask(bad)


def test_questions_are_cleaned_and_bounded():
    assert clean_question("  How\x00 many\n inmates? ", 100) == "How many inmates?"
    long = "word " * 10_000
    assert len(clean_question(long, 2000)) <= 2000
    assert clean_question(b"bytes \xff question", 100).startswith("bytes")


def test_load_indexes_a_missing_index_and_reuses_a_fresh_one(config, embedder):
    p = Pipeline.load(config, embedder=embedder)
    assert p.status()["sentences"] > 20
    assert Pipeline(config, embedder=embedder).index().embedded == 0


def test_unknown_mode_is_an_error(pipeline):
    with pytest.raises(ValueError, match="unknown answer mode"):
        pipeline.ask("When did CECOT open?", mode="oracle")


def test_config_from_env_reads_only_rag_variables():
    c = Config.from_env({"RAG_HOME": "/x", "RAG_CHROMA_URL": "http://127.0.0.1:1", "HOME": "/root"})
    assert str(c.index.home) == "/x" and c.index.chroma_url == "http://127.0.0.1:1"


def test_config_groups_take_settings_by_their_own_names():
    c = Config().with_(top_k=3, home=Path("/tmp/i"), grounding_threshold=0.5)
    assert (c.retrieval.top_k, c.index.home, c.grounding.grounding_threshold) == (3, Path("/tmp/i"), 0.5)
    assert Config().retrieval.top_k == 5  # a copy; the default is untouched
    with pytest.raises(TypeError, match="no setting 'nonsense'"):
        Config().with_(nonsense=1)


@pytest.mark.parametrize("env, var", [({"RAG_MODE": "bogus"}, "RAG_MODE"), ({"RAG_EMBED_BACKEND": "gpu"}, "RAG_EMBED_BACKEND"),
                                      ({"RAG_LLM_BACKEND": "x"}, "RAG_LLM_BACKEND")])
def test_a_bad_setting_names_the_variable_and_the_allowed_values(env, var):
    from rag.config import ConfigError

    with pytest.raises(ConfigError, match=var) as exc:
        Config.from_env(env)
    assert "one of" in str(exc.value)


@pytest.mark.parametrize("value, says", [("high", "is not a float"), ("1.5", "from 0 to 1"), ("-0.1", "from 0 to 1")])
def test_a_bad_refusal_threshold_is_a_one_line_error(value, says):
    from rag.config import ConfigError

    with pytest.raises(ConfigError, match="RAG_REFUSAL_THRESHOLD") as exc:
        Config.from_env({"RAG_REFUSAL_THRESHOLD": value})
    assert says in str(exc.value)
    assert Config.from_env({"RAG_REFUSAL_THRESHOLD": "0.2"}).answering.refusal_threshold == 0.2


def test_the_refusal_threshold_setting_moves_the_refusals(pipeline):
    """The fitted threshold by default; a configured one decides instead, both ways."""
    question = "How many inmates can CECOT hold?"
    fitted = pipeline.ask(question)
    p = fitted.signals["p_answer"]
    assert not fitted.refused and fitted.signals["threshold"] == pipeline.answerer("extractive").models.threshold
    strict = Pipeline(pipeline.config.with_(refusal_threshold=min(1.0, p + 0.01)), embedder=pipeline.embedder)
    a = strict.ask(question)
    assert a.refused and a.signals["gate"] == "below the answerability threshold" and a.related
    # Just under this answer's probability it is answered again: the setting is the line.
    lenient = Pipeline(pipeline.config.with_(refusal_threshold=max(0.0, p - 0.01)), embedder=pipeline.embedder)
    b = lenient.ask(question)
    assert not b.refused and b.signals["threshold"] == pytest.approx(max(0.0, p - 0.01))


def test_rag_home_pointing_at_a_file_is_a_one_line_error(tmp_path):
    from rag.config import ConfigError

    f = tmp_path / "afile"
    f.write_text("x")
    with pytest.raises(ConfigError, match="RAG_HOME"):
        Config.from_env({"RAG_HOME": str(f)})


def test_it_points_back_to_the_phrase_the_documents_say(hostel_pipeline):
    # "the kitchen opened" is said nowhere; "the kitchen" is: the verb after the noun is
    # not part of what "it" stands for (was: "how late is the kitchen opened open?").
    a = hostel_pipeline.ask("how late is it open?", history=["when is the kitchen opened?"])
    assert a.rewritten_query == "how late is the kitchen open?"
    assert "midnight" in a.text


README_WITH_LISTS = """# pagefetch

## Authentication

The following three kinds of login are supported. Each works over HTTP and HTTPS.

* Digest
* Basic
* Token

## Building

To build it without network access, run:

    make offline

## Reporting bugs

Please include these items in every report:

- the version you run;
- the command that failed;
- what you expected instead.
"""


def one_document_pipeline(tmp_path_factory, embedder, name: str, text: str) -> Pipeline:
    """A pipeline over one document written for a test, indexed in a folder of its own."""
    tmp = tmp_path_factory.mktemp(name.split(".")[0])
    (tmp / "corpus").mkdir()
    (tmp / "corpus" / name).write_text(text, encoding="utf-8")
    return Pipeline.load(Config().with_(corpus_dir=tmp / "corpus", home=tmp / ".rag"), embedder=embedder)


@pytest.fixture(scope="module")
def readme_pipeline(tmp_path_factory, embedder):
    return one_document_pipeline(tmp_path_factory, embedder, "pagefetch.md", README_WITH_LISTS)


@pytest.mark.parametrize("question, lead, shown", [
    # a sentence that announces a list is quoted with the list
    ("which kinds of login are supported?", "The following three kinds", ["* Digest", "* Basic", "* Token"]),
    # a colon before a list: the list; before a command: that line
    ("what should a bug report include?", "Please include these items", ["- the version you run;", "- the command that failed;",
                                                                        "- what you expected instead."]),
    ("how do I build it without network access?", "To build it without network access", ["make offline"]),
])
def test_what_a_sentence_introduces_is_quoted_with_it(readme_pipeline, question, lead, shown):
    a = readme_pipeline.ask(question)
    quotes = [c.quote for c in a.citations]
    assert not a.refused and quotes[0].startswith(lead), quotes
    assert quotes[1:] == shown
    for c in a.citations:
        assert README_WITH_LISTS[c.start : c.end] == c.quote


def test_a_count_age_or_amount_no_quote_states_is_refused(hostel_pipeline):
    # The page names her but gives no age: the sentence naming her would answer a
    # question nobody asked. (Only a quote with no number, age or amount at all is
    # refused: "how much does breakfast cost?" still gets a price row, with the note.)
    # "run by Marta Kowalczyk since 2016" says how long she has run it, not its age.
    a = hostel_pipeline.ask("How old is the hostel?")
    assert a.refused and a.text == REFUSAL, a.text
    assert a.signals["gate"] == "asks for an age, and the passages found state none"
    assert a.related  # the closest passages are still shown, as related
    # Asked of her, the answerability model refuses first; "X's age" asks for an age too
    # (it had been answered with the sentence that names her).
    for question in ("How old is Marta Kowalczyk?", "What is Marta Kowalczyk's age?"):
        assert hostel_pipeline.ask(question).refused, question


@pytest.mark.parametrize("question, answered", [
    # the family room's row gives its price, not how many it sleeps
    ("How many guests can stay in the family room?", False),
    ("how many beds are in the dorm", True),  # "Dorm (6 beds)"
])
def test_how_many_is_answered_by_a_count_not_a_year_or_a_price(hostel_pipeline, question, answered):
    a = hostel_pipeline.ask(question)
    assert a.refused != answered, a.text
    if not answered:
        assert a.signals["gate"] == "asks for a number, and the passages found state none"
    else:
        assert "6" in a.answer_span.text


CLUB_NOTICE = """Harbour Rowing Club

The club meets every Saturday at the old boathouse. Questions about membership go to
the secretary, Ana Ruiz, who keeps the waiting list.

Bo Chen
Head coach
E-mail: bo.chen@example.org

Call the boathouse on 01632 960 123 on weekday evenings. Results and the season's
calendar are posted on harbourrowing.example.org after each regatta.
"""


@pytest.fixture(scope="module")
def club_pipeline(tmp_path_factory, embedder):
    return one_document_pipeline(tmp_path_factory, embedder, "club.txt", CLUB_NOTICE)


@pytest.mark.parametrize("question, written", [
    ("what is the club's phone number?", "01632 960 123"),
    ("rowing club website", "harbourrowing.example.org"),
    ("what is Bo Chen's email", "bo.chen@example.org"),  # a signature: the name over its line
    ("What is Ana Ruiz's email address?", None),  # she is named; no address is written
    ("What is Ana Ruiz's phone number?", None),  # the boathouse's number is not hers
])
def test_a_contact_detail_is_quoted_where_written_else_refused(club_pipeline, question, written):
    a = club_pipeline.ask(question)
    if written is None:
        assert a.refused and a.signals["gate"].endswith("of Ana Ruiz, and the passages found give none")
        assert a.related
    else:
        assert not a.refused and any(written in c.quote for c in a.citations), a.text
        assert a.answer_span.text == written  # the number or address itself is the phrase


FAQ = """Frequently asked questions

Q. How do I know which release of the system I am running?

A. Look in the file /etc/release-version, which names the release you installed.

Q. Why are the default files not updated on upgrade?

A. Files under /etc belong to the administrator, so an upgrade never overwrites them.
"""


def test_a_question_in_the_text_is_not_an_answer(tmp_path_factory, embedder):
    pipe = one_document_pipeline(tmp_path_factory, embedder, "faq.txt", FAQ)
    for question, answer in (("how do i tell which release im running", "Look in the file /etc/release-version"),
                             ("why aren't default files updated when i upgrade", "Files under /etc belong")):
        a = pipe.ask(question)
        assert not a.refused and a.citations[0].quote.startswith(("A. " + answer, answer)), a.text
        assert not any(c.quote.rstrip().endswith("?") for c in a.citations)


def test_what_time_is_answered_by_a_time_of_day(club_pipeline, hostel_pipeline):
    # "The club meets every Saturday at the old boathouse": a day, not a time.
    a = club_pipeline.ask("What time does the club meet?")
    assert a.refused and a.signals["gate"] == "asks for a time of day, and the passages found state none"
    b = hostel_pipeline.ask("what time is check-out")
    assert not b.refused and b.answer_span.text == "10 am"


@pytest.mark.parametrize("question, value", [("How much are towels?", "2 euros"), ("how much is a dog per night", "7 euros")])
def test_an_amount_a_quote_states_is_answered(hostel_pipeline, question, value):
    a = hostel_pipeline.ask(question)
    assert not a.refused and value in a.answer_span.text


PARTS = """# Repair café

## What it costs

Using the workshop is free. Spare parts are sold at cost. Typical prices are:

- inner tube: £4.50
- brake pads (pair): £3
- chain (new): £11
"""


def test_a_short_list_item_with_a_value_is_an_answer(tmp_path_factory, embedder):
    # "- inner tube: £4.50" has two words: it was no candidate, and the next item's
    # price (three words: "brake pads (pair)") answered in its place.
    pipe = one_document_pipeline(tmp_path_factory, embedder, "cafe.md", PARTS)
    a = pipe.ask("how much for an inner tube")
    assert not a.refused and a.answer_span is not None and a.answer_span.text == "£4.50", a.text


BRIDGE_NOTE = """Millbrook footbridge

The Millbrook footbridge was rebuilt in 1998, after the spring flood carried the old one away.
Tom Hale became the bridge keeper when the new span opened, and he still lives beside its east ramp.
A survey by the parish found that 60% of residents cross it at least once a day.
The keeper's cottage was extended by the parish council to add a workshop.
"""


@pytest.fixture(scope="module")
def bridge_pipeline(tmp_path_factory, embedder):
    return one_document_pipeline(tmp_path_factory, embedder, "bridge.txt", BRIDGE_NOTE)


@pytest.mark.parametrize("question, value, gate", [
    ("What year was the footbridge rebuilt?", "1998", None),
    ("what percentage of residents use the bridge every day", "60%", None),
    # Named, but with no year or share of their own: the sentence that names them is no answer.
    ("What year was the keeper's cottage extended?", None, "asks for a year, and the passages found state none"),
    ("What percentage of the old bridge survived the flood?", None, "asks for a percentage, and the passages found state none"),
])
def test_what_year_and_what_percentage_need_a_year_and_a_share(bridge_pipeline, question, value, gate):
    a = bridge_pipeline.ask(question)
    if value is None:
        assert a.refused and a.signals["gate"] == gate, (a.text, a.signals["gate"])
        assert a.related  # the sentences that name it are still shown
    else:
        assert not a.refused and value in a.answer_span.text, a.text


FAQ_STATEMENTS = """Questions about the release banner

Q. There is a new point release and I have just upgraded my system.
The version file now says 10.2 but the login banner still says 10.
Is this ok?

A. Yes. The banner names only the major release, so it changes once every two years.

Post: Harbour Rowing Club, The Boathouse, Quay Lane, Lowtown LT4 7QT
"""


def test_an_faq_question_written_as_a_statement_is_no_answer(tmp_path_factory, embedder):
    pipe = one_document_pipeline(tmp_path_factory, embedder, "banner.txt", FAQ_STATEMENTS)
    a = pipe.ask("after a point release upgrade the login banner still shows the old number, is that ok?")
    assert not a.refused and not any(c.quote.startswith("Q.") for c in a.citations), a.text
    assert any("major release" in c.quote for c in a.citations), a.text
    # The digits of a postcode count nothing.
    b = pipe.ask("How many members does the Harbour Rowing Club have?")
    assert b.refused or "7" not in b.answer_span.text, b.text


@pytest.mark.parametrize("question, written", [
    ("how do I get in touch with Bo Chen?", "bo.chen@example.org"),
    ("How can I contact the boathouse?", "01632 960 123"),
    # no contact detail of hers is written: "how do I contact" is still answered (a
    # sentence may say whom to write to), not refused as "what's her e-mail?" is
    ("how do i contact ana ruiz", None),
])
def test_how_do_i_contact_prefers_a_written_contact_detail(club_pipeline, question, written):
    a = club_pipeline.ask(question)
    assert not a.refused, a.signals.get("gate")
    if written is not None:
        assert any(written in c.quote for c in a.citations), a.text
        assert a.answer_span.text == written
    else:
        assert any("Ana Ruiz" in c.quote for c in a.citations), a.text


FERRY_NOTICE = """Kelby Point Ferry

The ferry has run between Kelby Point and Ansty Quay since 1921. It carries up to 40 cars
on each crossing, and three crew members work on every sailing.

Last winter the operator received 87 complaints about late departures. The crossing takes
about twenty minutes in calm weather. Two sailings were cancelled last week because of high
winds.
"""


@pytest.fixture(scope="module")
def ferry_pipeline(tmp_path_factory, embedder):
    return one_document_pipeline(tmp_path_factory, embedder, "ferry.txt", FERRY_NOTICE)


@pytest.mark.parametrize("question, phrase", [
    ("how many cars can the ferry carry?", "up to 40 cars"),
    ("how many people work on each sailing", "three crew members"),  # near in meaning, not in words
    ("how long does the crossing take?", "about twenty minutes"),
    ("how long has the ferry been running?", None),  # "since 1921" is a span by its start
])
def test_a_count_or_a_span_of_time_answers_when_it_is_what_was_asked(ferry_pipeline, question, phrase):
    a = ferry_pipeline.ask(question)
    assert not a.refused, a.signals.get("gate")
    if phrase is not None:
        assert a.answer_span.text == phrase
    else:
        assert any("since 1921" in c.quote for c in a.citations), a.text


def test_a_count_of_something_else_is_refused(ferry_pipeline):
    # the counts written are of cars, crew and complaints: none of chickens
    a = ferry_pipeline.ask("How many chickens does the ferry carry?")
    assert a.refused and a.signals["gate"] == "asks for a number, and the passages found state none", a.text


def test_how_long_is_refused_without_a_span_of_time(club_pipeline):
    a = club_pipeline.ask("how long has the club been meeting at the boathouse?")
    assert a.refused and a.signals["gate"] == "asks for a span of time, and the passages found state none", a.text


GARDEN_NOTICE = """Orchard Lane Garden

The community garden has 40 plots and a shed of shared tools. Each plot holder pays a small
yearly fee and must keep the paths beside their plot clear of weeds.
"""


@pytest.fixture(scope="module")
def garden_pipeline(tmp_path_factory, embedder):
    return one_document_pipeline(tmp_path_factory, embedder, "garden.txt", GARDEN_NOTICE)


def test_when_is_answered_by_a_date_or_refused(ferry_pipeline, club_pipeline, garden_pipeline):
    a = ferry_pipeline.ask("when did the ferry start running?")
    assert not a.refused and any("since 1921" in c.quote for c in a.citations), a.signals.get("gate")
    # the notice names the garden and its plots, and no date at all
    a = garden_pipeline.ask("When was the community garden opened?")
    assert a.refused and a.signals["gate"] == "asks for a date or a time, and the passages found state none", a.text
    # "when" inside a yes/no question asks for no date
    assert club_pipeline.ask("can I call the boathouse when it is evening?").signals.get("gate") != (
        "asks for a date or a time, and the passages found state none")


def test_why_is_answered_by_a_reason_or_refused(ferry_pipeline, garden_pipeline):
    a = ferry_pipeline.ask("why were the sailings cancelled?")
    assert not a.refused and any("because of high" in c.quote for c in a.citations), a.signals.get("gate")
    # the fee is written, and nothing of why it is charged
    a = garden_pipeline.ask("Why does each plot holder pay a yearly fee?")
    assert a.refused and a.signals["gate"] == "asks for a reason, and the passages found state none", a.text


TOOL_FAQ = """# Riverbend Tool Library

## Questions

**Do you deliver?**
Not at the moment. We hope to start a delivery service once we find funding.

**Can I borrow tools for my business?**
No. Loans are for personal and community use only.

**What does membership cost?**
Membership is £20 a year, or £5 for students.
"""


@pytest.fixture(scope="module")
def faq_pipeline(tmp_path_factory, embedder):
    return one_document_pipeline(tmp_path_factory, embedder, "faq.md", TOOL_FAQ)


@pytest.mark.parametrize("question, answer", [
    ("do u guys deliver", "Not at the moment."),
    ("can I borrow tools for my building company", "No. Loans are for personal and community use only."),
])
def test_an_faq_question_is_answered_by_the_line_after_it(faq_pipeline, question, answer):
    a = faq_pipeline.ask(question)
    assert not a.refused and a.citations[0].quote.startswith(answer.split(".")[0]), a.text
    assert all("?" not in c.quote for c in a.citations)  # the bold question line is never quoted


KETTLE_FAQ = """# Troubleshooting

**Q: The display shows E4. What does it mean?**
A: E4 means that the lid is open. Close the lid until it clicks, then press START.

**Q: The light blinks red.**
A: The base is not seated. Lift the kettle and set it down again.
"""


def test_an_faq_answer_sharing_its_questions_paragraph_is_quoted(tmp_path_factory, embedder):
    faq = one_document_pipeline(tmp_path_factory, embedder, "kettle.md", KETTLE_FAQ)
    a = faq.ask("what does E4 mean on the display")
    assert not a.refused and any(c.quote.startswith("A: E4 means") for c in a.citations), a.text
    assert not any("Q:" in c.quote for c in a.citations)
