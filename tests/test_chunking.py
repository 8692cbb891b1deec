"""Chunking: exact offsets, human sentence cuts on the article's traps, headings as sections."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_document, sentences_of, split_blocks, split_clauses

from .conftest import DOC, ROOT

ROOT_DATA = ROOT / "tests" / "data"


def test_every_sentence_and_chunk_slices_back_exactly(article_text):
    chunks = chunk_document(DOC, article_text, "h")
    assert len(chunks) >= 8
    n = 0
    for c in chunks:
        assert article_text[c.start : c.end] == c.text
        assert c.sentences and c.sentences[0].start == c.start and c.sentences[-1].end == c.end
        for s in c.sentences:
            assert article_text[s.start : s.end] == s.text
            assert s.doc == DOC
            n += 1
    assert n == len(sentences_of(DOC, article_text))


def _texts_in(article_text, line_no):
    line_start = sum(len(l) + 1 for l in article_text.split("\n")[:line_no])
    line_end = line_start + len(article_text.split("\n")[line_no])
    return [s.text for s in sentences_of(DOC, article_text) if line_start <= s.start < line_end]


def test_sec_abbreviation_does_not_end_a_sentence(article_text):
    assert _texts_in(article_text, 5) == [
        "During her visit on Wednesday to El Salvador, Sec. Noem joined Salvadoran Minister of Justice "
        "Héctor Gustavo Villatoro for a tour of the Terrorism Confinement Center, known as CECOT, that was "
        "first opened in 2022, can hold up to 40,000 inmates, and is \"notorious\" among human rights groups "
        "for its exceedingly harsh conditions."
    ]
    assert _texts_in(article_text, 14)[0].startswith("Rather predictably, Sec. Noem's video")


def test_quotes_ending_in_period_quote_split_where_a_reader_would(article_text):
    assert _texts_in(article_text, 6) == [
        "\"I toured the CECOT, El Salvador’s Terrorism Confinement Center,\" Noem wrote in an X post.",
        "\"President Trump and I have a clear message to criminal illegal aliens: LEAVE NOW.",
        "If you do not leave, we will hunt you down, arrest you, and you could end up in this El Salvadorian prison.\"",
    ]
    assert _texts_in(article_text, 8) == [
        "\"I also want everybody to know, if you come to our country illegally, this is one of the consequences you could face,\" Noem added.",
        "\"First of all, do not come to our country illegally.",
        "You will be removed, and you will be prosecuted.",
        "But know that this facility is one of the tools in our toolkit that we will use if you commit crimes against the American people.\"",
    ]


def test_us_and_dc_abbreviations_stay_inside_sentences(article_text):
    (gass,) = _texts_in(article_text, 17)
    assert gass.startswith("Vicki Gass, of the Washington D.C.-based Latin America Working Group")
    assert gass.endswith("is outrageous and frightening.\"")
    (line2,) = _texts_in(article_text, 2)
    assert "in the U.S. that they might end up there" in line2


def test_tweet_link_and_byline(article_text):
    assert _texts_in(article_text, 11) == [
        "If you do not leave, we will hunt you down, arrest you, and you could end up in this El Salvadorian prison.",
        "pic.twitter.com/OItDqNsFxM",
    ]
    assert _texts_in(article_text, 12) == ["— Secretary Kristi Noem (@Sec_Noem) March 26, 2025"]


def test_headings_become_sections_not_sentences(article_text):
    sents = sentences_of(DOC, article_text)
    headings = [
        "DHS Sec. Noem issues stern warning to criminal illegal aliens in U.S. during tour of El Salvador's CECOT prison",
        "Noem tours El Salvador's CECOT prison",
        "Human rights groups speak out",
        "Not a place that anybody would want to be",
    ]
    sections = []
    for s in sents:
        if not sections or sections[-1] != s.section:
            sections.append(s.section)
        assert all(h not in s.text for h in headings[1:]), "a heading was glued into a sentence"
    assert sections == headings
    by_start = {s.text[:30]: s.section for s in sents}
    assert by_start["Rather predictably, Sec. Noem'"] == "Human rights groups speak out"
    assert by_start["To be sure, El Salvador's CECO"] == "Not a place that anybody would want to be"


def test_chunks_group_whole_sentences_within_a_section(article_text):
    for c in chunk_document(DOC, article_text, "h", max_sentences=3):
        assert 1 <= len(c.sentences) <= 3
        assert {s.section for s in c.sentences} == {c.section}


def test_ids_are_stable_and_content_derived(article_text):
    a = chunk_document(DOC, article_text, "hash1")
    b = chunk_document(DOC, article_text, "hash1")
    c = chunk_document(DOC, article_text, "hash2")
    assert [x.id for x in a] == [x.id for x in b]
    assert {x.id for x in a}.isdisjoint({x.id for x in c})
    ids = [s.id for x in a for s in x.sentences]
    assert len(ids) == len(set(ids))


def _exact_texts(name: str, text: str) -> list[str]:
    """The sentence texts of ``text``, each checked to slice back from its offsets."""
    sents = sentences_of(name, text)
    for s in sents:
        assert text[s.start : s.end] == s.text
    return [s.text for s in sents]


def test_markdown_headings_and_wrapped_paragraphs():
    text = "# Report\n\nThe first paragraph is\nwrapped over two lines. It has two sentences.\n\n## Details\n\nMr. Smith arrived at 5 p.m. on Monday. He left.\n"
    assert _exact_texts("r.md", text) == [
        "The first paragraph is\nwrapped over two lines.",
        "It has two sentences.",
        "Mr. Smith arrived at 5 p.m. on Monday.",
        "He left.",
    ]
    assert [s.section for s in sentences_of("r.md", text)] == ["Report", "Report", "Details", "Details"]


def test_a_bold_question_keeps_its_closing_marks_and_the_answer_starts_clean():
    # An FAQ in Markdown: Punkt ends the question at "?", before the "**" that closes it.
    text = "## FAQ\n\n**Q: It shows E1. What does it mean?**\nA: E1 means the sensor failed.\n* Unplug it.\n* Wait a minute.\n"
    assert _exact_texts("faq.md", text) == [
        "**Q: It shows E1.",
        "What does it mean?**",
        "A: E1 means the sensor failed.",
        "* Unplug it.",  # a bullet's "* " is not a closing mark
        "* Wait a minute.",
    ]


HANDBOOK = """# Rooms

Prices per night:

| Room | Beds | Price |
|------|------|-------|
| Dorm | 6 | 24 euros |
| Double | 2 | 68 euros |

Contact:
- Phone: 555 0100
- Mail: desk@hostel.example
  (answered within a day)

1. Fill in the form.
2. Pay the deposit.

*  NO WARRANTY: the software is provided  *
*  as is, without any warranty at all.     *
"""


def test_list_items_and_table_rows_are_sentences_of_their_own():
    assert _exact_texts("h.md", HANDBOOK) == [
        "Prices per night:",
        "| Room | Beds | Price |\n|------|------|-------|",  # the rule stays with its header
        "| Dorm | 6 | 24 euros |",
        "| Double | 2 | 68 euros |",
        "Contact:",
        "- Phone: 555 0100",
        "- Mail: desk@hostel.example\n  (answered within a day)",  # a continuation line stays
        "1. Fill in the form.",  # Punkt's "1." goes with its item
        "2. Pay the deposit.",
        # a box drawn in asterisks is prose, not bullets
        "*  NO WARRANTY: the software is provided  *\n*  as is, without any warranty at all.     *",
    ]


def test_a_table_row_knows_its_header_and_is_embedded_with_it():
    from rag.chunking import table_headers
    from rag.corpus import Document
    from rag.indexing import vector_records

    sents = sentences_of("h.md", HANDBOOK)
    row = next(i for i, s in enumerate(sents) if "Double" in s.text)
    headers = table_headers(sents)
    assert headers[row].text.startswith("| Room | Beds | Price |")
    assert headers[row - 2] is None  # the header row itself
    assert headers[0] is None  # prose
    views = [r.text for r in vector_records(Document("h.md", HANDBOOK, "x"), sents) if r.sentence_id == sents[row].id]
    assert "| Room | Beds | Price |\n| Double | 2 | 68 euros |" in views


def test_clauses_are_exact_substrings(article_text):
    s = sentences_of(DOC, article_text)[3]
    spans = split_clauses(article_text, s.start, s.end)
    assert len(spans) >= 3
    assert any(article_text[a:b] == "can hold up to 40,000 inmates," for a, b in spans)
    for a, b in spans:
        assert s.start <= a < b <= s.end


# --- property: offsets always slice back -------------------------------------

_words = st.sampled_from(
    ["Noem", "toured", "the", "prison", "Sec.", "U.S.", "D.C.-based", "Dr.", "40,000", "inmates", "said",
     "pic.twitter.com/abc", "—", "--", "“quoted”", "El Salvador’s", "in", "2022", "Mr.", "e.g.", "a.m."]
)
_sentence = st.builds(
    lambda ws, end, q: (("\"" if q else "") + " ".join(ws) + end + ("\"" if q else "")),
    st.lists(_words, min_size=1, max_size=12),
    st.sampled_from([".", "?", "!", ".\"", "", "..."]),
    st.booleans(),
)
_block = st.one_of(
    st.lists(_sentence, min_size=1, max_size=4).map(" ".join),
    st.sampled_from(["Human rights groups speak out", "# A heading", "## Another one", "— Name (@handle) March 26, 2025"]),
)
_doc = st.builds(
    lambda blocks, sep: sep.join(blocks),
    st.lists(_block, min_size=1, max_size=8),
    st.sampled_from(["\n", "\n\n", "\r\n", "\n \n"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_doc)
def test_property_offsets_slice_back_exactly(text):
    sents = sentences_of("d.txt", text)
    last_end = 0
    for s in sents:
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip() and s.text
        assert s.start >= last_end  # ordered, never overlapping
        last_end = s.end
    for c in chunk_document("d.txt", text):
        assert text[c.start : c.end] == c.text
    for b in split_blocks(text):
        assert 0 <= b.start <= b.end <= len(text)


def test_a_plain_text_table_is_a_row_per_sentence_with_its_header():
    """A README's grid ("uid | name", a "----+----" rule, no leading pipes) is cut like a
    Markdown table: one sentence per row, each row embedded with its header; a line of
    prose with one pipe in it is not a table."""
    from rag.chunking import sentences_of, table_headers

    text = ("Reserved ids:\n    id    | name     | what\n    ------+----------+---------\n"
            "    64001 | mysql    | database server\n    64002 | mail     | mail daemon\n\n"
            "Pipe the output, as in ls | sort, to sort it.\n")
    sentences = sentences_of("t.txt", text)
    texts = [s.text for s in sentences]
    assert "64001 | mysql    | database server" in texts and "64002 | mail     | mail daemon" in texts
    assert "Pipe the output, as in ls | sort, to sort it." in texts
    heads = dict(zip(texts, table_headers(sentences)))
    assert heads["64001 | mysql    | database server"].text.startswith("id    | name")
    assert heads["Pipe the output, as in ls | sort, to sort it."] is None
    for s in sentences:
        assert text[s.start : s.end] == s.text


def test_an_underlined_heading_is_a_heading_and_the_title():
    """"Title\n-----" (setext style, as plain-text READMEs write it) is a heading like
    "# Title": the sentences under it carry it as their section, and it is no sentence."""
    from rag.chunking import sentences_of

    text = ("base-files for Debian\n=====================\n\nThis package holds the basic files.\n\n"
            "Reporting bugs\n--------------\n\nUse the reportbug tool. It asks a few questions.\n")
    sentences = sentences_of("README.txt", text)
    assert [(s.text, s.section) for s in sentences] == [
        ("This package holds the basic files.", "base-files for Debian"),
        ("Use the reportbug tool.", "Reporting bugs"),
        ("It asks a few questions.", "Reporting bugs"),
    ]


def test_an_underlined_question_is_a_heading_but_an_underlined_sentence_is_text():
    # FAQ-style READMEs underline questions (gcc's README.Debian): it was a "sentence"
    # with its dashes, and answered a question as if it were the answer.
    from rag.chunking import sentences_of

    text = ("How are the defaults selected?\n------------------------------\n\n"
            "A package set picks them.\n\nThat is all there is to it.\n---------------------------\n")
    sentences = sentences_of("README.txt", text)
    assert [(s.text, s.section) for s in sentences][0] == ("A package set picks them.", "How are the defaults selected?")
    assert any(s.text.startswith("That is all there is to it.") for s in sentences)


def test_a_block_of_records_is_a_line_per_sentence():
    # A maintainers list and a "key : value" list have no full stops: each was one long
    # sentence, and a question about one person quoted all of them.
    from rag.chunking import sentences_of

    text = ("Maintainers\n-----------\n\nAna Ruiz <ana@example.org>\nBo Chen <bo@example.org>     (docs)\n\n"
            "The defaults are:\n\ncc\t: cc-12\nc++\t: c++-12\n\nIt wraps a line\nof prose: no records here.\n")
    texts = [s.text for s in sentences_of("README.txt", text)]
    assert texts[:2] == ["Ana Ruiz <ana@example.org>", "Bo Chen <bo@example.org>     (docs)"]
    assert "cc\t: cc-12" in texts and "c++\t: c++-12" in texts
    assert "It wraps a line\nof prose: no records here." in texts


def test_a_line_ending_in_inline_html_is_text_not_a_heading():
    # "... at 4pm. <script>...</script>" ended in ">", so it passed for a heading, and the
    # sentence could not be found (an upload in a new user's session).
    from rag.chunking import sentences_of

    text = "# Club notes\n\nThe chess club meets in room <b>B12</b> at 4pm. <script>x=1</script>\n\nFees are low.\n"
    sentences = sentences_of("notes.md", text)
    assert sentences[0].text == "The chess club meets in room <b>B12</b> at 4pm."
    assert {s.section for s in sentences} == {"Club notes"}


def test_a_title_over_a_subtitle_is_the_documents_heading_not_a_sentence():
    # Minutes that open "MINUTES OF THE SPRING MEETING" / "Larkfield Residents'
    # Association": the two lines were one sentence, and answered "who runs the meetings?".
    from rag.chunking import document_title, sentences_of

    text = ("MINUTES OF THE SPRING MEETING\nLarkfield Residents' Association\n\n"
            "Date: Tuesday 11 March 2025\nPlace: The church hall\n\nThe chair opened the meeting.\n")
    sentences = sentences_of("minutes.txt", text)
    assert [s.text for s in sentences][0] == "Date: Tuesday 11 March 2025"
    assert document_title(text) == "MINUTES OF THE SPRING MEETING — Larkfield Residents' Association"
    # Two lines of prose open a document as text.
    prose = "The club met on Tuesday and agreed\nto raise the fees.\n\nMore news follows.\n"
    assert sentences_of("news.txt", prose)[0].text.startswith("The club met on Tuesday")


def test_a_short_title_underlined_to_its_length_is_a_heading():
    # "jq" over "==" (jq's README): as many marks as a short title has letters.
    from rag.chunking import sentences_of

    text = "jq\n==\n\njq is a small JSON processor.\n\nOK\n==\n\nFine.\n"
    sentences = sentences_of("README.txt", text)
    assert [(s.text, s.section) for s in sentences] == [
        ("jq is a small JSON processor.", "jq"), ("Fine.", "OK"),
    ]
    # Fewer marks than a longer line has letters: no heading, the line is text.
    text = "Install it\n==\n\nRun make.\n"
    assert "Install it" in " ".join(s.text for s in sentences_of("README.txt", text))


def test_an_indented_code_line_is_never_a_heading():
    # "    # git clean ..." is a shell comment in a code block, and "    sudo make install"
    # a command: neither names the section that follows (jq's README).
    from rag.chunking import sentences_of

    text = ("Build it\n========\n\nTo install it, run:\n\n    sudo make install\n\n"
            "Cross-compiling needs a clean tree, then:\n\n    # git clean ...\n    ./configure\n\nThat is all.\n")
    sections = {s.text: s.section for s in sentences_of("README.txt", text)}
    assert set(sections.values()) == {"Build it"}
    assert sections["sudo make install"] == "Build it" and sections["That is all."] == "Build it"


def test_a_table_row_is_read_under_its_header_not_beside_other_rows():
    from rag.chunking import windows

    text = (ROOT_DATA / "ferry-winter.txt").read_text(encoding="utf-8")
    sents = sentences_of("ferry-winter.txt", text)
    by_text = {s.text.split(" ", 1)[0]: i for i, s in enumerate(sents)}
    read = windows(text, sents)
    window, ids = read[by_text["09:30"]]
    assert window == "Departs            | Arrives            | Days        | Vessel\n" + sents[by_text["09:30"]].text
    assert "08:00" not in window and "12:15" not in window  # the rows beside it are other departures
    assert ids[-1] == sents[by_text["09:30"]].id
    prose = next(i for i, s in enumerate(sents) if s.text.startswith("Tickets"))
    assert read[prose][0].startswith("From 2 November") and read[prose][0].endswith("on board.")  # prose keeps its neighbours


MINUTES = """Riverside Tenants Association - Meeting Minutes

Date: 3 March 2025
Venue: Community Room, Mill Lane
Present: Ana Ruiz (chair), Li Wei (treasurer)

1. Minutes of the last meeting
The minutes of 6 January were approved.

2. Treasurer's report
Li Wei reported a balance of 1,204 pounds.
Dues raised 880 pounds in 2024.

3. Steps to join
1. Fill in the form
2. Pay the dues
"""


def test_numbered_titles_are_headings_and_fields_are_lines_of_their_own():
    sents = sentences_of("m.txt", MINUTES)
    texts = [s.text for s in sents]
    assert texts[:3] == ["Date: 3 March 2025", "Venue: Community Room, Mill Lane", "Present: Ana Ruiz (chair), Li Wei (treasurer)"]
    report = next(s for s in sents if s.text.startswith("Li Wei reported"))
    assert report.section == "2. Treasurer's report" and report.text == "Li Wei reported a balance of 1,204 pounds."
    assert not any("Treasurer's report" in t or "Minutes of the last meeting" in t for t in texts)  # headings, not text
    # a numbered list stays a list: its items are sentences, under their own heading
    assert [s.text for s in sents if s.section == "3. Steps to join"] == ["1. Fill in the form", "2. Pay the dues"]


def test_a_byline_is_text_not_a_heading():
    text = ("Harbour ferry crews end strike\n\n"
            "By Niamh Delaney, Transport Correspondent — Thursday 13 March 2025\n\n"
            "Ferry crews voted to end their strike on Wednesday.\n\n"
            "By the Numbers\n\n"
            "The deal costs 2 million euros.\n")
    sents = sentences_of("news.txt", text)
    # Who wrote it is a sentence one can ask about, and not the section of what follows.
    assert sents[0].text.startswith("By Niamh Delaney") and sents[1].section == "Harbour ferry crews end strike"
    assert sents[-1].section == "By the Numbers"  # a heading that starts with "By" is still one


def test_table_cells_are_offsets_of_each_cell_however_the_row_is_piped():
    from rag.chunking import table_cells

    for line, cells in [
        ("| Ticket | Price |", ["Ticket", "Price"]),
        ("Ticket | Price", ["Ticket", "Price"]),
        ("| Ticket | Price", ["Ticket", "Price"]),  # a leading pipe only: no empty first cell
        ("| a |  | c |", ["a", "", "c"]),  # an empty cell between pipes stays a cell
    ]:
        assert [line[a:b] for a, b in table_cells(line)] == cells, line


def test_an_faq_marker_starts_its_sentence_not_one_of_its_own():
    # Punkt ends a sentence at "Q." before a capital: the marker would be a sentence
    # alone, and the question after it would read as a statement.
    text = "Q. There is a new release and I upgraded.\nIs this ok?\n\nA. Yes. Nothing else changes.\n"
    got = [text[s.start : s.end] for s in sentences_of("faq.txt", text)]
    assert got == ["Q. There is a new release and I upgraded.", "Is this ok?", "A. Yes.", "Nothing else changes."], got
