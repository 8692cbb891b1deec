"""The web chat: a real `rag serve`, called through gradio_client and driven in headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from rag import REFUSAL

from .conftest import DOC, PAYLOAD_DOC

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(served):
    return served


@pytest.mark.server
def test_serve_binds_loopback_only(server):
    """The listening socket's local address is 127.0.0.1, read from the kernel's table."""
    port_hex = f"{server['port']:04X}"
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and local.endswith(":" + port_hex):  # 0A = LISTEN
                listening.append(local.split(":")[0])
    assert listening, "rag serve is not listening"
    assert all(addr == "0100007F" for addr in listening), listening  # 127.0.0.1, little-endian hex


@pytest.mark.server
def test_ask_endpoint_through_gradio_client(server):
    from gradio_client import Client

    client = Client(server["url"], verbose=False)
    d = client.predict("How many inmates can CECOT hold?", [], api_name="/ask")
    assert set(d) >= {"question", "answer", "refused", "citations", "related", "rewritten_query", "mode", "timings_ms"}
    assert not d["refused"] and "40,000" in d["answer"] and "[1]" in d["answer"]
    text = (server["corpus"] / DOC).read_text(encoding="utf-8")
    for c in d["citations"]:
        assert text[c["start"] : c["end"]] == c["quote"]
    follow = client.predict("What is his job title?", ["Who accompanied Noem on the tour?"], api_name="/ask")
    assert "Minister of Justice" in follow["answer"]
    with pytest.raises(Exception, match="invalid question"):
        client.predict("   ", [], api_name="/ask")


@pytest.mark.server
def test_api_page_documents_the_answer_shape(server):
    """The "Use via API" page: a typed answer (not `Any`) and described parameters."""
    import json
    import urllib.request

    info = json.load(urllib.request.urlopen(server["url"] + "gradio_api/info", timeout=30))
    ask_info = info["named_endpoints"]["/ask"]
    returned = ask_info["returns"][0]["python_type"]["type"]
    assert returned.startswith("dict(question: str, answer: str, refused: bool, citations: list[dict(n: int, doc: str")
    assert [p["parameter_name"] for p in ask_info["parameters"]] == ["question", "history"]
    assert "`history` (2nd, optional), the earlier questions" in ask_info["description"]
    assert "document[start:end] == quote" in ask_info["description"]
    # The chat's own events are not offered as API endpoints.
    assert list(info["named_endpoints"]) == ["/ask"]


def test_rendering_escapes_everything_and_links_citations():
    from ui.app import escape, render_partial

    assert escape("<img src=x onerror=alert(1)> a_b *c* [1] El Salvador's") == (
        "&lt;img src=x onerror=alert(1)&gt; a&#95;b &#42;c&#42; &#91;1&#93; El Salvador&#39;s"
    )
    html = render_partial("It holds <40,000>. [1] And more. [2]", turn=3)
    assert '<a class="cite" href="#t3-1"' in html and '<a class="cite" href="#t3-2"' in html
    assert "&lt;40,000&gt;" in html and "<40" not in html
    # A refusal is styled as one from its first frame.
    assert 'class="answer-text refusal"' in render_partial(REFUSAL, turn=1)


def _fake_answer(span: bool):
    from rag.types import Answer, Citation, Span

    text = "Doc one. It opened in 2022 under a new law."
    c1 = Citation(1, "a.txt", "History", 9, 43, text[9:43])
    c2 = Citation(2, "a.txt", "History", 0, 8, text[:8])
    a = Answer("When did it open?", "It opened in 2022 under a new law. [1] Doc one. [2]", False, [c1, c2])
    if span:
        a.answer_span, a.answer_n = Span("a.txt", 22, 26, "2022"), 1
    return a, text


def test_a_quote_that_opens_with_its_own_quotation_mark_gets_no_second_pair():
    from rag.types import Answer, Citation
    from ui.app import render_answer

    text = '"It is a warning," she said. It opened in 2022.'
    a = Answer("What did she say?", f"{text[:28]} [1] {text[29:]} [2]", False,
               [Citation(1, "a.txt", "", 0, 28, text[:28]), Citation(2, "a.txt", "", 29, len(text), text[29:])])
    html = render_answer(a, 1, {"a.txt": "Doc A"})
    assert '<span class="src-quote">&quot;It is a warning,&quot; she said.</span>' in html
    assert '<span class="src-quote">“It opened in 2022.”</span>' in html


@pytest.mark.parametrize("span", [True, False])
def test_answer_phrase_is_bold_in_its_quote_and_reader(span):
    """The answer span (when the answerer gives one) is bold inside its own cited quote only."""
    from ui.app import _marked, plain_text, render_answer

    a, text = _fake_answer(span)
    html = render_answer(a, 2, {"a.txt": "Doc A"})
    assert 'href="#t2-1"' in html and 'href="#t2-2"' in html
    assert '<li value="1">' in html and "History · Doc A" in html
    if span:
        assert html.count('<strong class="ans-span">') == 1
        assert '“It opened in <strong class="ans-span">2022</strong> under a new law.”' in html
    else:
        assert "ans-span" not in html
        assert "“It opened in 2022 under a new law.”" in html
    marks = [(9, 43, ["t2-1"], a.answer_span), (0, 8, ["t2-2"], None)]
    reader = _marked(text, sorted(marks))
    assert reader.count("<mark ") == 2 and ('<strong class="ans-span">2022</strong>' in reader) == span
    # Copy yields plain text: [n] kept, sources listed below, no markup.
    plain = plain_text(a, {"a.txt": "Doc A"})
    assert plain.startswith("It opened in 2022 under a new law. [1] Doc one. [2]\n\nSources:\n[1] ")
    assert "<" not in plain and "&" not in plain


def test_a_markdown_web_link_is_a_link_in_the_reader_and_written_out_in_a_quote():
    import html as html_lib
    import re

    from ui.app import _marked, _quote_html

    text = "Book at [the centre's site](https://example.org/book) or [here](javascript:alert(1))."
    body = _marked(text, [], markdown=True)
    assert ('<a class="md-link" href="https://example.org/book" target="_blank" rel="noopener noreferrer">'
            "the centre&#39;s site</a>") in body
    assert "javascript" not in re.findall(r'href="([^"]*)"', body)[0] and body.count("<a ") == 1  # only web links
    assert html_lib.unescape(re.sub(r"<[^>]+>", "", body)) == text  # the target is hidden, not dropped
    # Under an answer, a quote keeps its link written out: it has nowhere else to show it.
    assert "md-hide" not in _quote_html(text, 0, None, markdown=True)


def test_a_markdown_quote_hides_its_markers_and_copies_them_exactly():
    from rag.types import Answer, Citation, Related, Span
    from ui.app import plain_text, render_answer

    quote = "The trip runs from **Monday 12 May** to Wednesday."
    c = Citation(1, "trip.md", "Dates", 40, 40 + len(quote), quote)
    a = Answer("when does the trip start", "The trip runs from Monday 12 May to Wednesday. [1]", False, [c])
    a.answer_span, a.answer_n = Span("trip.md", 40 + 21, 40 + 34, "Monday 12 May"), 1
    html = render_answer(a, 1, {"trip.md": "Trip"})
    src = html.split('<span class="src-quote">', 1)[1].split("</span> <span", 1)[0]
    hidden = '<span class="md-hide">&#42;&#42;</span>'
    assert src == f'“The trip runs from {hidden}<strong class="ans-span">Monday 12 May</strong>{hidden} to Wednesday.”'
    assert '"The trip runs from **Monday 12 May** to Wednesday."' in plain_text(a)  # copied as written
    # A plain-text document's asterisks are its own characters; a refusal's related
    # passages from Markdown hide them too.
    c_txt = Citation(1, "notes.txt", "", 0, len(quote), quote)
    assert "md-hide" not in render_answer(Answer("q", quote + " [1]", False, [c_txt]), 1)
    refused = Answer.refusal("q", [])
    refused.related = [Related("trip.md", "Dates", 40, 40 + len(quote), quote, 0.5)]
    assert render_answer(refused, 1).count(hidden) == 2


def test_an_answer_from_table_rows_is_shown_as_a_table(hostel_pipeline, pipeline):
    from ui.app import plain_text, render_answer

    a = hostel_pipeline.ask("how much is the family room")
    assert a.signals["table_header"] == 1 and len(a.citations) == 2
    html = render_answer(a, 3)
    table = html.split('<div class="answer-text">', 1)[1].split("</div>", 1)[0]
    assert table.startswith('<table class="answer-table"><thead><tr><th>Room type</th><th>Price per night</th>')
    assert '<td>Family room</td><td><strong class="ans-span">90 euros</strong></td><td>yes</td>' in table
    assert table.count('<a class="cite" href="#t3-') == 2  # each row keeps its [n]
    assert plain_text(a).startswith(a.text)  # copied as the answer's own text
    # Prose answers are not tables.
    prose = pipeline.ask("How many inmates can CECOT hold?")
    assert "table_header" not in prose.signals and "answer-table" not in render_answer(prose, 1)


def test_rows_with_only_a_leading_pipe_are_laid_out_with_their_own_cells():
    from rag.types import Answer, Citation
    from ui.app import render_answer

    doc = "| Ticket | Price\n|---|---\n| Child | 3 euros\n"
    head, row = doc.index("| Ticket"), doc.index("| Child")
    cits = [Citation(1, "fees.md", "", head, doc.index("\n| Child"), doc[head:doc.index("\n| Child")]),
            Citation(2, "fees.md", "", row, len(doc) - 1, doc[row:-1])]
    a = Answer("q", f"{cits[0].quote} [1] {cits[1].quote} [2]", False, cits, signals={"table_header": 1})
    table = render_answer(a, 1).split('<div class="answer-text">', 1)[1]
    # Two cells a row, as the header has: no empty first cell before the leading pipe.
    assert "<thead><tr><th>Ticket</th><th>Price</th><th>" in table and "<tr><td>Child</td><td>3 euros</td><td>" in table, table


def test_a_plain_text_title_line_is_shown_once_as_the_heading(pipeline, gpl_pipeline):
    import html as html_lib
    import re

    from ui.app import escape, render_reader

    (doc,) = pipeline.documents()
    text, title = pipeline.corpus_text(doc["id"]), doc["title"]
    assert text.startswith(title + "\n")
    page = render_reader(pipeline, [])
    body = page.split('<div class="doc-text">', 1)[1].rsplit("</div></article>", 1)[0]
    # The first line is the title: styled in place, not repeated above the text.
    assert 'class="doc-title"' not in page and page.count(escape(title) + "</") == 1
    assert body.startswith(f'<span class="md-h md-h1">{escape(title)}</span>\n')
    # Its section headings read as headings too (they looked like any other line).
    assert body.count('<span class="md-h md-h3">') == 3
    assert '<span class="md-h md-h3">Human rights groups speak out</span>' in body
    assert html_lib.unescape(re.sub(r"<[^>]+>", "", body)) == text
    # A title the text does not open with (here the file name) is still shown above it.
    assert '<h3 class="doc-title">gpl-3.txt</h3>' in render_reader(gpl_pipeline, [])


def test_the_reader_reflows_hard_wrapped_paragraphs_and_keeps_every_character(gpl_pipeline, hostel_pipeline):
    import html as html_lib
    import re

    from ui.app import render_reader, soft_breaks

    text = gpl_pipeline.corpus_text("gpl-3.txt")
    page = render_reader(gpl_pipeline, [])
    body = page.split('<div class="doc-text">', 1)[1].rsplit("</div></article>", 1)[0]
    # "... with a warranty; and\n  give all recipients ..." is one paragraph on screen...
    assert body.count('<span class="sb">') == sum(soft_breaks(text)) > 300
    # ... but not the blank line between paragraphs, nor a list item's own line.
    assert "\n\n" in body and '<span class="sb">\n  a)' not in body
    assert html_lib.unescape(re.sub(r"<[^>]+>", "", body)) == text  # every character kept
    # Table rows are lines of their own.
    assert '<span class="sb">' not in render_reader(hostel_pipeline, []).split("Room type", 1)[1].split("Towels", 1)[0]


def test_the_reader_styles_markdown_and_keeps_every_character(hostel_pipeline):
    import html as html_lib
    import re

    from ui.app import _marked, render_reader

    doc = "hostel-rules.md"
    text = hostel_pipeline.corpus_text(doc)
    page = render_reader(hostel_pipeline, [])
    body = page.split('<div class="doc-text">', 1)[1].split("</div>", 1)[0]
    assert '<span class="md-hide">&#35; </span><span class="md-h md-h1">Linden Court Hostel: House Rules</span>' in body
    assert '<span class="md-h md-h2">Quiet hours</span>' in body
    # Its "# Linden Court Hostel: House Rules" is its title: shown once, not again above it.
    assert page.count("Linden Court Hostel: House Rules</") == 1 and 'class="doc-title"' not in page
    assert '<strong class="md-strong">Marta Kowalczyk</strong>' in body
    assert '<span class="md-table">&#124; Dorm (6 beds)   &#124; 22 euros' in body  # a table keeps its columns
    # Styling only adds tags: the text shown (hidden markers included) is the document.
    assert html_lib.unescape(re.sub(r"<[^>]+>", "", body)) == text
    # A plain-text document's "#" and "**" are its own characters, shown as written.
    assert "md-" not in _marked("# 1 of 3\n**NOTE** see `x`", [])
    assert "md-hide" in _marked("# 1 of 3\n**NOTE** see `x`", [], markdown=True)
    # A cited table row keeps its table's font inside the mark; a citation cutting through
    # a "**" pair leaves that pair as written rather than hide one half.
    row = "| Dorm | 22 euros |"
    assert f'<mark data-refs="t1-1" data-start="0" data-end="{len(row)}"><span class="md-table">' in _marked(
        row + "\n", [(0, len(row), ["t1-1"], None)], markdown=True)
    # A mark hides a whole pair's markers as the text outside does ("**Ana**" reads "Ana").
    whole = _marked("Run by **Ana**.", [(0, 15, ["t1-1"], None)], markdown=True)
    assert whole.count('<span class="md-hide">&#42;&#42;</span>') == 2 and whole.index("<mark") < whole.index("md-hide")
    cut = _marked("a **b c** d", [(0, 5, ["t1-1"], None)], markdown=True)
    assert "md-" not in cut and html_lib.unescape(re.sub(r"<[^>]+>", "", cut)) == "a **b c** d"


def test_the_reader_bolds_the_shown_answers_phrase_only(hostel_pipeline):
    from ui.app import Exchange, render_reader

    state = [Exchange.of(q, hostel_pipeline.ask(q)) for q in ("When are quiet hours?", "What time is check-out?")]
    assert all(e.answer.answer_span is not None for e in state)
    latest = render_reader(hostel_pipeline, state)
    assert latest.count('<strong class="ans-span" data-turn="t2">') == 1
    assert latest.count('<strong class="ans-span off" data-turn="t1">') == 1  # not bold: an earlier answer's
    first = render_reader(hostel_pipeline, state, active=1)
    assert '<strong class="ans-span" data-turn="t1">' in first and '<strong class="ans-span off" data-turn="t2">' in first


def test_a_span_outside_its_quote_is_ignored():
    from rag.types import Span
    from ui.app import render_answer

    a, _ = _fake_answer(True)
    a.answer_span = Span("a.txt", 22, 26, "1999")  # disagrees with the quote: shown plain
    assert "ans-span" not in render_answer(a, 1)


def test_a_note_beside_the_answer_is_shown_and_copied_not_cited():
    from ui.app import plain_text, render_answer

    a, _ = _fake_answer(True)
    a.notes = ['Not in the documents: "how old is <the> mayor?"']
    html = render_answer(a, 1)
    assert '<div class="answer-note">Not in the documents: &quot;how old is &lt;the&gt; mayor?&quot;</div>' in html
    assert html.index("answer-note") < html.index("answer-sources")
    assert '(Not in the documents: "how old is <the> mayor?")\n\nSources:' in plain_text(a)


def test_ui_state_is_the_turn_format_and_else_follow_up_is_answered(pipeline):
    """The UI hands back Turn.to_dict() (cited spans as lists) and the 'else' follow-up works."""
    from ui.app import Exchange, history

    first = pipeline.ask("Who accompanied Noem on the tour?")
    state = [Exchange.of("Who accompanied Noem on the tour?", first)]
    assert isinstance(history(state)[0]["cited"][0], list)
    second = pipeline.ask("Who else was there?", history=history(state))
    assert second.text
    first_spans = {(c.doc, c.start, c.end) for c in first.citations}
    assert not first_spans & {(c.doc, c.start, c.end) for c in second.citations}


def test_example_questions_are_offered_only_where_the_documents_answer_them(pipeline, hostel_pipeline, rowing_pipeline):
    from ui.app import EXAMPLES, answered_examples

    assert answered_examples(pipeline, EXAMPLES) == list(EXAMPLES)  # the article they were written for
    assert answered_examples(hostel_pipeline, EXAMPLES) == []  # someone else's documents
    # Answered there, and not doubtfully, but with a Saturday training session: not an example.
    assert not rowing_pipeline.ask("When was the prison opened?").refused
    assert answered_examples(rowing_pipeline, EXAMPLES) == []


def test_long_question_notice_and_uploads_are_checked(tmp_path):
    from ui.app import (
        UploadRejected,
        _cut_notice,
        is_loopback,
        remove_upload,
        save_upload,
    )

    assert _cut_notice("x " * 3000 + "why?", 2000) == (
        "Your question was 6,004 characters long (over 2,000); only its last question, the sentence ending with its "
        "last question mark, was asked."
    )
    assert _cut_notice("x " * 3000, 2000) == (  # no question in it: no claim of one
        "Your question was 5,999 characters long (over 2,000) with no question mark; only its last 2,000 characters "
        "were asked."
    )
    assert _cut_notice("short", 2000) == ""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    good = tmp_path / "notes.md"
    good.write_text("# Notes\n\nThe lighthouse was painted red in 1931.\n", encoding="utf-8")
    assert save_upload(corpus, good, "../../etc/My notes.md") == "uploads/My-notes.md"
    assert (corpus / "uploads" / "My-notes.md").read_text(encoding="utf-8").startswith("# Notes")
    cases = {
        "a.pdf": (b"%PDF-1.4", "not a text document"),
        "big.txt": (b"a" * (1 << 20 | 1), "the limit is 1.0 MB"),
        "bin.txt": (b"ab\x00cd", "binary"),
        "latin.txt": ("café".encode("latin-1"), "not UTF-8"),
        "empty.md": (b"  \n", "empty"),
    }
    for name, (data, message) in cases.items():
        f = tmp_path / name
        f.write_bytes(data)
        with pytest.raises(UploadRejected, match=message):
            save_upload(corpus, f)
    assert sorted(p.name for p in (corpus / "uploads").iterdir()) == ["My-notes.md"]
    # The same text again, under any name, is refused: it would be indexed (and cited) twice.
    with pytest.raises(UploadRejected, match="already in the documents, as “uploads/My-notes.md”"):
        save_upload(corpus, good, "copy of notes.md")
    (corpus / "article.txt").write_text("Some article text.\n", encoding="utf-8")
    (tmp_path / "same.txt").write_text("Some article text.\n", encoding="utf-8")
    with pytest.raises(UploadRejected, match="as “article.txt”"):
        save_upload(corpus, tmp_path / "same.txt")
    assert sorted(p.name for p in (corpus / "uploads").iterdir()) == ["My-notes.md"]
    with pytest.raises(UploadRejected):
        remove_upload(corpus, "noem-cecot-2025.txt")  # only uploaded documents
    remove_upload(corpus, "uploads/My-notes.md")
    assert not (corpus / "uploads" / "My-notes.md").exists()
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0") and not is_loopback("example.org")


def test_uploads_are_off_unless_loopback_or_asked_for(pipeline):
    from rag.cli import build_parser
    from ui.app import build_app, uploads_allowed

    assert uploads_allowed("127.0.0.1") and uploads_allowed("localhost") and uploads_allowed("::1")
    assert not uploads_allowed("0.0.0.0") and not uploads_allowed("192.168.1.5")
    assert not uploads_allowed("127.0.0.1", share=True)  # a public link is not loopback
    assert uploads_allowed("0.0.0.0", allow_upload=True)
    assert build_parser().parse_args(["serve", "--host", "0.0.0.0", "--allow-upload"]).allow_upload
    assert not build_parser().parse_args(["serve"]).allow_upload

    def elem_ids(app):
        return {c.get("props", {}).get("elem_id") for c in app.get_config_file()["components"]}

    assert {"upload", "remove-btn"} <= elem_ids(build_app(pipeline, uploads=True))
    assert not {"upload", "remove-btn"} & elem_ids(build_app(pipeline, uploads=False))


# --- the page in a real browser ---------------------------------------------------

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
BOT = '#chat [data-testid="bot"]'


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    assert exe, "Debian's chromium is installed by .ci/run"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=ARGS)
        yield b
        b.close()


def open_page(browser, url: str, size: str = "desktop", theme: str = "light"):
    w, h = SIZES[size]
    context = browser.new_context(viewport={"width": w, "height": h}, color_scheme=theme,
                                  is_mobile=size == "phone", has_touch=size == "phone")
    pg = context.new_page()
    pg.requests, pg.dialogs, pg.errors = [], [], []  # type: ignore[attr-defined]
    pg.accept_dialogs = False  # type: ignore[attr-defined]  (a test that confirms something sets it)
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.accept() if pg.accept_dialogs else d.dismiss()))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.goto(url + ("?__theme=dark" if theme == "dark" else ""), wait_until="load")
    pg.wait_for_selector("#question textarea", timeout=60_000)
    return pg


@pytest.fixture
def page(browser, server, tmp_path):
    pg = open_page(browser, server["url"])
    yield pg
    pg.screenshot(path=str(tmp_path / "final.png"), full_page=True)
    pg.context.close()


def ask(page, question: str) -> None:
    """Type a question, press Enter, wait until its answer (with its sources) is complete."""
    n = page.locator(f"{BOT} .answer .plain").count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat [data-testid=\"bot\"] .answer .plain').length > n",
        arg=n, timeout=60_000,
    )


def no_errors(page) -> None:
    """No red error boxes, no error toasts, no script errors."""
    assert page.locator(".toast-body.error, .error").filter(has_text="Error").count() == 0
    assert "Error" not in page.locator("#chat").inner_text()
    assert page.errors == []


def reader_mark_in_view(page, ref: str) -> str:
    """The reader's focused mark for ``ref``: it must be visible on screen; returns its text."""
    page.wait_for_function("document.querySelector('#reader mark.focus') !== null", timeout=5000)
    info = page.evaluate(
        """ref => { const m = document.querySelector('#reader mark.focus');
        const r = m.getBoundingClientRect(); const box = m.closest('.doc').getBoundingClientRect();
        return {refs: m.dataset.refs.split(' '), text: m.innerText, top: r.top, bottom: r.bottom,
                boxTop: box.top, boxBottom: box.bottom, h: innerHeight, w: r.width}; }""",
        ref,
    )
    assert ref in info["refs"], info
    assert info["w"] > 0 and info["top"] >= max(0, info["boxTop"]) - 1, info
    assert info["top"] < min(info["h"], info["boxBottom"]), info  # its first line is on screen
    return info["text"]


def hover_popover(page, link) -> str:
    """Hover ``link`` and read the popover it opens (re-hovered if the chat scrolled under the mouse)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        link.scroll_into_view_if_needed()
        page.wait_for_timeout(200)  # let the chat's own scrolling settle
        link.hover()
        try:
            handle = page.wait_for_function("() => { const p = document.getElementById('cite-pop'); return p && p.innerText; }",
                                            timeout=3000)
            return handle.json_value()
        except PlaywrightTimeout:
            continue
    raise AssertionError("hovering [n] showed no popover")


@pytest.mark.browser
@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_follow_ups_and_each_answers_own_citations(browser, server, size, theme, tmp_path):
    """"else" follow-up without error; [1] of the first answer after a second answer opens the
    first answer's quote (hover popover and reader), in both themes and both widths."""
    pg = open_page(browser, server["url"], size, theme)
    try:
        ask(pg, "Who accompanied Noem on the tour?")
        ask(pg, "Who else was there?")
        no_errors(pg)
        bots = pg.locator(f"{BOT} .answer")
        assert bots.count() == 2
        first_quote = bots.nth(0).locator(".answer-sources li").first.locator(".src-quote").inner_text().strip("“”")
        second_quote = bots.nth(1).locator(".answer-sources li").first.locator(".src-quote").inner_text().strip("“”")
        assert "Villatoro" in first_quote
        assert first_quote != second_quote  # "else" excluded what the first answer cited
        text = (server["corpus"] / DOC).read_text(encoding="utf-8")
        assert first_quote in text and second_quote in text
        link = bots.nth(0).locator("a.cite").first
        assert link.inner_text() == "[1]"
        pop = hover_popover(pg, link)
        assert first_quote in pop and "CECOT" in pop.split(first_quote)[-1]  # the quote, then where it stands
        pg.screenshot(path=str(tmp_path / f"hover-{size}-{theme}.png"))
        link.click()
        assert reader_mark_in_view(pg, "t1-1") == first_quote
        # Every citation of that answer is marked in the reader, and only those.
        on = pg.evaluate("[...document.querySelectorAll('#reader mark.on')].map(m => m.innerText)")
        cited = [q.strip("“”") for q in bots.nth(0).locator(".answer-sources li .src-quote").all_inner_texts()]
        assert sorted(on) == sorted(set(cited)) and len(on) >= 1
        # The document's text starts below the tabs (it ran under them on a phone).
        tabs = pg.locator("#reader .doc-tabs").bounding_box()
        doc = pg.locator("#reader article.doc:not([hidden])").bounding_box()
        assert tabs and doc and tabs["y"] + tabs["height"] <= doc["y"] + 1
        pg.screenshot(path=str(tmp_path / f"reader-{size}-{theme}.png"))
        if size == "phone":  # the reader is a sheet over the chat, with a way back
            pg.locator("#reader .reader-back").click()
            pg.wait_for_function("!document.getElementById('reader-col').classList.contains('open')")
            assert pg.locator("#question textarea").is_visible()
            assert pg.locator("#open-reader").is_visible()
        # The second answer's [1] opens the second answer's quote.
        link2 = bots.nth(1).locator("a.cite").first
        assert second_quote in hover_popover(pg, link2)
        link2.click()
        assert reader_mark_in_view(pg, "t2-1") == second_quote
        no_errors(pg)
    finally:
        pg.context.close()


@pytest.mark.browser
def test_answer_with_sources_and_a_pronoun_follow_up(page):
    ask(page, "How many inmates can CECOT hold?")
    bot = page.locator(f"{BOT} .answer").last
    assert "40,000" in bot.locator(".answer-text").inner_text()
    assert "can hold up to 40,000 inmates" in bot.locator(".answer-sources li").first.inner_text()
    assert "Noem tours El Salvador's CECOT prison" in bot.locator(".answer-sources li .src-where").first.inner_text()
    assert "Answered in" in page.locator("#status").inner_text()
    if os.environ.get("RAG_SAVE_SCREENSHOT"):
        page.screenshot(path=os.environ["RAG_SAVE_SCREENSHOT"])
    ask(page, "Who accompanied Noem on the tour?")
    ask(page, "What is his job title?")
    assert "Minister of Justice" in page.locator(f"{BOT} .answer").last.inner_text()
    # Three answers quote the same sentence: the reader bolds the shown answer's phrase only.
    bold = page.locator("#reader strong.ans-span:not(.off)")
    assert bold.count() == 1 and "Minister of Justice" in bold.inner_text()
    page.locator(f"{BOT} .answer").first.locator("a.cite").first.click()
    page.wait_for_selector("#reader mark.focus")
    turns = page.eval_on_selector_all("#reader strong.ans-span:not(.off)", "els => els.map(e => e.dataset.turn)")
    assert set(turns) <= {"t1"}


@pytest.mark.browser
def test_examples_send_retry_undo_and_clear_clears_everything(page):
    page.wait_for_selector("#chat .placeholder-content, #chat [class*=placeholder]", timeout=10_000)
    assert "cannot answer what the documents do not say" in page.locator("#chat").inner_text()
    page.locator("#chat button.example").filter(has_text="How many inmates can CECOT hold?").click()
    page.wait_for_function(f"document.querySelectorAll('{BOT} .answer .plain').length === 1", timeout=60_000)
    assert "40,000" in page.locator(f"{BOT} .answer").last.inner_text()
    ask(page, "Who accompanied Noem on the tour?")
    # Retry re-asks the last question in place.
    page.get_by_role("button", name="Retry").click()
    page.wait_for_timeout(1500)
    page.wait_for_function(f"document.querySelectorAll('{BOT} .answer .plain').length === 2", timeout=60_000)
    assert page.locator('#chat [data-testid="user"]').count() == 2
    # Undo removes the last exchange and gives its question back to the box.
    page.get_by_role("button", name="Undo").click()
    page.wait_for_function(f"document.querySelectorAll('{BOT} .answer').length === 1", timeout=10_000)
    assert page.locator("#question textarea").input_value() == "Who accompanied Noem on the tour?"
    # Clear clears messages, reader highlights, status and memory; it can be undone.
    page.get_by_role("button", name="Clear").click()
    page.wait_for_selector("#restore-btn", state="visible", timeout=10_000)
    assert page.locator(f"{BOT}").count() == 0
    assert page.locator("#reader mark").count() == 0 and page.locator("#status").inner_text().strip() == ""
    ask(page, "What is his job?")  # no memory of the cleared conversation: "his" resolves to nobody
    assert "Minister of Justice" not in page.locator(f"{BOT} .answer").last.inner_text()
    page.get_by_role("button", name="Clear").click()
    page.locator("#restore-btn").click()
    page.wait_for_function(f"document.querySelectorAll('{BOT} .answer').length === 1", timeout=10_000)
    assert page.locator("#reader mark").count() >= 1


@pytest.mark.browser
def test_copy_yields_plain_text_and_long_paste_says_it_was_cut(browser, server):
    pg = open_page(browser, server["url"])
    try:
        pg.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server["url"].rstrip("/"))
        ask(pg, "How many inmates can CECOT hold?")
        bot = pg.locator(f"{BOT}").last
        bot.hover()
        pg.locator('#chat button[aria-label="Copy message"]').last.click()
        pg.wait_for_timeout(300)
        copied = pg.evaluate("navigator.clipboard.readText()")
        assert "40,000 inmates" in copied and "[1]" in copied and "\n\nSources:\n[1] " in copied
        assert "<" not in copied and "&quot;" not in copied and "&#" not in copied
        label = pg.evaluate("document.querySelector('#chat [data-testid=\"bot\"]').getAttribute('aria-label')")
        assert label == copied  # what a screen reader reads: the same plain text
        # Each message's Copy copies that message: a second answer, then the first again.
        ask(pg, "Who called the visit a typical gross and cruel display of political theater?")
        pg.locator(f"{BOT}").last.hover()
        pg.locator('#chat button[aria-label="Copy message"]').last.click()
        pg.wait_for_timeout(300)
        second = pg.evaluate("navigator.clipboard.readText()")
        assert "Vicki Gass" in second and "40,000 inmates" not in second and "\n\nSources:\n[1] " in second
        first_bot = pg.locator(f"{BOT}").first
        first_bot.hover()
        # (Gradio puts an answer's buttons in a box after its row: "message-buttons-left".)
        pg.locator('#chat .message-buttons-left button[aria-label="Copy message"]').first.click()
        pg.wait_for_timeout(300)
        assert pg.evaluate("navigator.clipboard.readText()") == copied
        # The chat log's own label is not an answer's text.
        log_label = pg.evaluate("(document.querySelector('#chat [role=log]') || {getAttribute: () => ''}).getAttribute('aria-label') || ''")
        assert "Sources:" not in log_label
        long = "How many inmates can CECOT hold? " + "very " * 4000
        ask(pg, long)
        notice = pg.locator("#notice").inner_text()
        assert "20,032 characters long" in notice and "only its last question" in notice
        assert "40,000" in pg.locator(f"{BOT} .answer").last.inner_text()  # the question itself was asked
    finally:
        pg.context.close()


@pytest.mark.browser
def test_script_in_a_question_is_shown_as_text(page):
    payload = "<img src=x onerror=alert(1)> How many inmates can CECOT hold?"
    ask(page, payload)
    user = page.locator('#chat [data-testid="user"]').last
    assert "<img src=x onerror=alert(1)>" in user.inner_text()
    assert page.locator("#chat img[src='x']").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []


@pytest.mark.browser
def test_refusal_looks_different_and_shows_related_passages(page):
    ask(page, "How many inmates can CECOT hold?")
    ask(page, "What is the capital of France?")
    bot = page.locator(f"{BOT} .answer").last
    assert bot.locator(".refusal").count() == 1
    assert REFUSAL in bot.inner_text()
    assert "related, not cited" in bot.inner_text()
    assert bot.locator("a.cite").count() == 0
    # In the reader, the refusal's related passages are marked as related, and nothing
    # is highlighted as cited (the first answer's citation is not the active answer's).
    page.wait_for_function("document.querySelectorAll('#reader mark.rel').length > 0", timeout=5000)
    classes = page.evaluate("[...document.querySelectorAll('#reader mark')].map(m => m.className)")
    assert "on" not in " ".join(classes).split(), classes
    related = [q.strip("“”") for q in bot.locator(".related-list .src-quote").all_inner_texts()]
    marked = page.evaluate("[...document.querySelectorAll('#reader mark.rel')].map(m => m.innerText)")
    assert set(marked) <= set(related) and marked, (marked, related)


@pytest.mark.browser
def test_a_refusal_in_another_language_says_the_documents_are_in_english(page):
    ask(page, "¿cuál es el horario de la biblioteca?")
    bot = page.locator(f"{BOT} .answer").last
    assert bot.locator(".refusal").count() == 1
    note = bot.locator(".answer-note")
    assert note.count() == 1 and note.is_visible() and "searched in English" in note.inner_text()


@pytest.mark.browser
def test_a_greeting_gets_a_reply_not_a_refusal_or_a_quote(page):
    ask(page, "hi!")
    bot = page.locator(f"{BOT} .answer").last
    assert bot.locator(".refusal").count() == 0 and bot.locator("a.cite").count() == 0
    assert "Ask a question about the documents" in bot.inner_text()
    no_errors(page)


@pytest.mark.browser
def test_a_two_part_question_shows_both_answers_and_a_note_for_a_missing_part(page):
    ask(page, "how many inmates can cecot hold, and what is noem's salary?")
    bot = page.locator(f"{BOT} .answer").last
    assert "40,000" in bot.locator(".answer-text").inner_text()
    note = bot.locator(".answer-note")
    assert note.count() == 1 and note.inner_text() == 'Not in the documents: "what is noem\'s salary?"'
    assert note.is_visible() and bot.locator("a.cite").count() >= 1
    no_errors(page)


@pytest.mark.browser
def test_page_makes_no_request_outside_localhost(page):
    ask(page, "When was CECOT opened?")
    outside = [u for u in page.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert outside == []


@pytest.mark.browser
def test_script_in_a_corpus_document_is_shown_as_text(page, server):
    """The payload document's heading and cited sentence carry <script> and <img onerror>."""
    ask(page, "What does the prison gift shop sell?")
    bot = page.locator(f"{BOT} .answer").last
    assert "<img src=x onerror=alert('img')>" in bot.locator(".answer-text").inner_text()
    src = bot.locator(".answer-sources li").first
    assert "<script>alert('quote')</script>" in src.inner_text()
    assert "<script>alert('heading')</script>" in src.locator(".src-where").inner_text()
    bot.locator("a.cite").first.click()
    mark = reader_mark_in_view(page, "t1-1")
    assert "<script>alert('quote')</script>" in mark
    assert page.locator("#chat img[src='x'], #reader img").count() == 0
    assert page.evaluate("[...document.scripts].filter(s => s.textContent.includes('alert(')).length") == 0
    # The Markdown heading is shown as a heading, its payload as text, its "# " hidden.
    heading = page.locator("#reader article.doc:not([hidden]) .md-h1")
    assert heading.inner_text() == "Visitor notes <script>alert('heading')</script>"
    assert not page.locator("#reader article.doc:not([hidden]) .md-hide").first.is_visible()
    page.wait_for_timeout(500)
    assert page.dialogs == []
    text = (server["corpus"] / PAYLOAD_DOC).read_text(encoding="utf-8")
    marks = page.evaluate("() => [...document.querySelectorAll('#reader mark')].map(m => [+m.dataset.start, +m.dataset.end, m.innerText])")
    assert marks
    for start, end, quote in marks:
        assert text[start:end] == quote


# Every element the page styles itself, and the theme's text around them.
STYLED = ("#intro, #notice, #status, #chat .answer-text, #chat .answer-note, #chat .answer-sources li, #chat .src-where, a.cite, "
          ".refusal, .related-list, #cite-pop, #cite-pop .pop-where, #reader .doc-title, #reader .doc-text, "
          "#reader mark.on, #reader mark.focus, #reader strong.ans-span, #reader button.doc-tab, #reader button.reader-back, "
          "#docs .doc-list, #open-reader, #chat [data-testid=\"user\"]")
CONTRAST_JS = """sel => {
  function rgba(s) { const m = s.match(/[\\d.]+/g) || []; return m.map(Number).concat([1]).slice(0, 4); }
  function lum(c) { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); }
  function over(top, under) { const a = top[3]; return [0,1,2].map(i => top[i] * a + under[i] * (1 - a)).concat([1]); }
  function background(el) {  // composite the backgrounds from the page down to the element
    const chain = []; for (let e = el; e; e = e.parentElement) chain.push(rgba(getComputedStyle(e).backgroundColor));
    let bg = [255, 255, 255, 1]; const root = chain.pop(); if (root[3] > 0) bg = over(root, bg);
    while (chain.length) { const c = chain.pop(); if (c[3] > 0) bg = over(c, bg); } return bg; }
  const out = [];
  for (const el of document.querySelectorAll(sel)) {
    if (!el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
    if (!(el.innerText || '').trim()) continue;
    const st = getComputedStyle(el); const bg = background(el);
    const fg = over(rgba(st.color), bg); const a = lum(fg), b = lum(bg);
    out.push({el: el.id || el.className || el.tagName, text: el.innerText.slice(0, 40), ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), fg: st.color, bg: bg.join(',')});
  }
  return out; }"""


@pytest.mark.browser
@pytest.mark.parametrize("size", ["desktop", "phone"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_contrast_of_every_custom_style(browser, server, theme, size):
    """Text/background contrast >= 4.5:1 (WCAG AA) from computed styles, in both themes."""
    pg = open_page(browser, server["url"], size, theme)
    try:
        seen = {}

        def measure():
            for r in pg.evaluate(CONTRAST_JS, STYLED):
                seen.setdefault((r["el"], r["text"]), r)

        measure()
        ask(pg, "How many inmates can CECOT hold, and what is Noem's salary?")
        ask(pg, "What is the capital of France?")
        link = pg.locator(f"{BOT} .answer").first.locator("a.cite").first
        for _ in range(3):  # the popover closes if the chat scrolls under the mouse: hover again
            hover_popover(pg, link)
            measure()
            if any("cite-pop" in el for el, _ in seen):
                break
        link.click()
        pg.wait_for_selector("#reader mark.focus")
        pg.mouse.move(0, 0)
        measure()
        if size == "desktop":
            pg.locator("#docs").get_by_text("Documents").first.click()
            pg.wait_for_selector("#docs .doc-list", state="visible")
            measure()
        kinds = {r["el"] for r in seen.values()}
        for needed in ("answer-text", "answer-note", "refusal", "cite", "cite-pop", "focus", "doc-text"):
            assert any(needed in k for k in kinds), (needed, kinds)
        low = [r for r in seen.values() if r["ratio"] < 4.5]
        assert low == [], low
    finally:
        pg.context.close()
