"""Bring your own document: upload a .md from the page, ask about it, see it cited, remove it.

Its own `rag serve` over a temporary corpus (the shared server's corpus stays untouched).
"""

from __future__ import annotations

import contextlib

import pytest

from .conftest import free_port, make_corpus, start_server, stop
from .test_ui import BOT, ask, no_errors, open_page, reader_mark_in_view

NOTE = (
    "# Lighthouse keeping notes\n\n"
    "The Skerry Point lighthouse was painted red and white in 1931.\n\n"
    "Its keeper, Agnes Morrow, logged every passing ship for forty years.\n"
)


@pytest.fixture(scope="module")
def upload_server(tmp_path_factory):
    work = tmp_path_factory.mktemp("serve-upload")
    corpus = make_corpus(work)
    port = free_port()
    proc = start_server(work, port)
    yield {"url": f"http://127.0.0.1:{port}/", "corpus": corpus}
    stop(proc)


@pytest.fixture(scope="module")
def browser():
    import shutil

    from playwright.sync_api import sync_playwright

    from .test_ui import ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        yield b
        b.close()


def _open_documents(pg) -> None:
    if not pg.locator("#upload").is_visible():
        pg.locator("#docs").get_by_text("Documents").first.click()
    pg.wait_for_selector("#upload", state="visible")


def _first_cited(pg, question: str) -> str:
    """Ask ``question`` as the page's first, click its [1]: the reader's mark it opens."""
    ask(pg, question)
    pg.locator(f"{BOT} .answer").last.locator("a.cite").first.click()
    return reader_mark_in_view(pg, "t1-1")


@contextlib.contextmanager
def _page_with(browser, upload_server, path, size: str = "desktop"):
    """A page of the upload server with ``path`` added from it; on leaving, no page errors,
    and the document is taken out of the corpus again."""
    pg = open_page(browser, upload_server["url"], size)
    try:
        _upload(pg, path)
        yield pg
        no_errors(pg)
    finally:
        pg.context.close()
        (upload_server["corpus"] / "uploads" / path.name).unlink(missing_ok=True)


def _upload(pg, path) -> None:
    """Add ``path`` from the page, as a person does, and wait until it is indexed."""
    _open_documents(pg)
    pg.locator("#upload input[type=file]").set_input_files(str(path))
    pg.wait_for_function("document.querySelector('#notice').innerText.includes('Added')", timeout=120_000)


@pytest.mark.browser
def test_upload_ask_cite_and_remove(browser, upload_server, tmp_path):
    note = tmp_path / "lighthouse.md"
    note.write_text(NOTE, encoding="utf-8")
    pg = open_page(browser, upload_server["url"])
    try:
        _upload(pg, note)
        assert "Lighthouse keeping notes" in pg.locator("#docs .doc-list").inner_text()
        stored = upload_server["corpus"] / "uploads" / "lighthouse.md"
        assert stored.read_text(encoding="utf-8") == NOTE  # inside the corpus folder, byte for byte
        assert stored.stat().st_mode & 0o777 == 0o644  # readable like the corpus's other files
        assert sorted(p.name for p in (upload_server["corpus"] / "uploads").iterdir()) == ["lighthouse.md"]

        # (The answerer quotes the wrong sentence for "Who was the keeper of the Skerry Point
        # lighthouse?": a known miss of the learned selector, measured by `rag eval`.)
        ask(pg, "What colours was the Skerry Point lighthouse painted?")
        bot = pg.locator(f"{BOT} .answer").last
        assert "red and white" in bot.locator(".answer-text").inner_text()
        sources = bot.locator(".answer-sources li")
        n = next(i for i in range(1, sources.count() + 1) if "red and white" in sources.nth(i - 1).inner_text())
        assert "Lighthouse keeping notes" in sources.nth(n - 1).locator(".src-where").inner_text()
        bot.locator(f'a.cite[href="#t1-{n}"]').click()
        assert "red and white" in reader_mark_in_view(pg, f"t1-{n}")
        # Questions still reach the article too.
        ask(pg, "How many inmates can CECOT hold?")
        assert "40,000" in pg.locator(f"{BOT} .answer").last.inner_text()

        assert pg.locator("#remove-btn").is_disabled()  # nothing chosen: nothing to remove
        pg.locator("#remove-doc input").click()
        pg.get_by_role("option", name="Lighthouse keeping notes").click()
        pg.wait_for_function("!document.querySelector('#remove-btn').disabled", timeout=30_000)
        # Cancel in the confirm dialog keeps the document and says so.
        pg.locator("#remove-btn").click()
        pg.wait_for_function("document.querySelector('#notice').innerText.includes('Kept')", timeout=60_000)
        assert "Kept “Lighthouse keeping notes”: nothing was removed." in pg.locator("#notice").inner_text()
        assert "Answered in" in pg.locator("#status").inner_text()  # nothing changed: the last answer's time stays
        asked = "Remove “Lighthouse keeping notes” from the corpus?"  # names what it removes
        assert stored.exists() and pg.dialogs == [asked]
        pg.accept_dialogs = True
        pg.locator("#remove-btn").click()
        pg.wait_for_function("document.querySelector('#notice').innerText.includes('Removed')", timeout=120_000)
        assert pg.dialogs == [asked] * 2
        assert not stored.exists()
        # The last answer's "Answered in ..." is not left beside "Removed ...".
        pg.wait_for_function("!document.querySelector('#status').innerText.includes('Answered in')", timeout=30_000)
        pg.wait_for_function("document.querySelector('#remove-btn').disabled", timeout=30_000)  # none chosen again
        # [n] of the earlier answer that cited it: the quote, and a word that its document is gone.
        pg.locator(f"{BOT} .answer").first.locator(f'a.cite[href="#t1-{n}"]').click()
        pop = pg.locator("#cite-pop")
        pop.wait_for(state="visible", timeout=10_000)
        assert "red and white" in pop.inner_text() and "no longer in the index" in pop.inner_text()
        assert "Lighthouse" not in pg.locator("#docs .doc-list").inner_text()
        ask(pg, "Who was the keeper of the Skerry Point lighthouse?")
        assert "Agnes Morrow" not in pg.locator(f"{BOT} .answer").last.locator(".answer-text").inner_text()
        no_errors(pg)
    finally:
        pg.context.close()


@pytest.mark.browser
def test_an_answer_from_an_uploaded_table_is_a_table_in_the_chat(browser, upload_server, tmp_path):
    doc = tmp_path / "fees.md"
    doc.write_text("# Pool fees\n\n| Ticket | Price |\n|---|---|\n| Adult swim | 6 euros |\n| Child swim | 3 euros |\n",
                   encoding="utf-8")
    with _page_with(browser, upload_server, doc) as pg:
        ask(pg, "how much is a child swim ticket?")
        table = pg.locator(f"{BOT} .answer").last.locator("table.answer-table")
        assert table.count() == 1  # kept by the chat's HTML sanitiser
        assert table.locator("th").nth(0).inner_text() == "Ticket"
        assert table.locator("tbody tr").first.inner_text().split("\t")[:2] == ["Child swim", "3 euros"]
        assert table.locator("strong.ans-span").inner_text() == "3 euros"
        table.locator("a.cite").last.click()  # a row's [n] opens it in the reader
        assert "Child swim" in reader_mark_in_view(pg, "t1-2")


WRAPPED = (
    "Harbour notes\n\n"
    "The harbour wall was rebuilt in granite after the great storm of the\n"
    "winter of 1881, when the old timber pier was carried away by the sea\n"
    "in a single night and three fishing boats were lost with it.\n\n"
    "The lifeboat station opened beside the wall eight years later.\n"
)


@pytest.mark.browser
def test_the_reader_reflows_a_hard_wrapped_paragraph(browser, upload_server, tmp_path):
    doc = tmp_path / "harbour.txt"
    doc.write_text(WRAPPED, encoding="utf-8")
    with _page_with(browser, upload_server, doc) as pg:
        shown = _first_cited(pg, "what was the harbour wall rebuilt in after the storm?")
        # On screen the cited sentence is one paragraph, its source line breaks read as
        # spaces; in the page's text it is still the document's exact characters.
        assert "rebuilt in granite" in shown and "\n" not in shown, shown
        exact = pg.evaluate("document.querySelector('#reader mark[data-refs~=\"t1-1\"]').textContent")
        assert "\n" in exact and exact in WRAPPED


@pytest.mark.browser
def test_on_a_phone_the_shown_documents_tab_is_in_view(browser, upload_server, tmp_path):
    doc = tmp_path / "pool.md"
    doc.write_text("# Pool rules\n\nThe pool opens at 7 am and lanes are kept for swimmers over 60 until 9 am.\n",
                   encoding="utf-8")
    with _page_with(browser, upload_server, doc, "phone") as pg:
        assert "over 60" in _first_cited(pg, "until when are lanes kept for swimmers over 60?")
        # The article's long title fills the row of tabs; the pool's tab is scrolled into it.
        tab, row = pg.evaluate("""() => { const t = document.querySelector('#reader .doc-tab[aria-selected="true"]');
            const r = t.getBoundingClientRect(), b = t.parentElement.getBoundingClientRect();
            return [[t.innerText, r.left, r.right], [b.left, b.right]]; }""")
        assert tab[0] == "Pool rules" and row[0] - 1 <= tab[1] and tab[2] <= row[1] + 1, (tab, row)


@pytest.mark.browser
def test_wrong_type_and_too_big_uploads_are_refused_with_a_message(browser, upload_server, tmp_path):
    """Gradio's own checks (max_file_size, file_types) refuse them in the page, saying why."""
    pg = open_page(browser, upload_server["url"])
    try:
        _open_documents(pg)
        big = tmp_path / "big.txt"
        big.write_bytes(b"word " * 300_000)  # 1.4 MB, over the 1 MB limit
        pdf = tmp_path / "scan.pdf"
        pdf.write_bytes(b"%PDF-1.4 not a text document")
        empty = tmp_path / "empty.txt"
        empty.write_bytes(b"")
        pg.locator("#upload input[type=file]").set_input_files(str(empty))  # refused by the server
        pg.wait_for_function("document.querySelector('#notice').innerText.includes('is empty')", timeout=60_000)
        for f, message in ((big, 'exceed the maximum allowed size of 1.0 Mb: "big.txt"'),
                           (pdf, "Invalid file type: scan.pdf. Only .txt, .md allowed.")):
            pg.locator("#upload input[type=file]").set_input_files(str(f))
            pg.wait_for_function(
                "m => [...document.querySelectorAll('.toast-body')].some(t => t.innerText.includes(m))",
                arg=message, timeout=30_000,
            )
            # The empty file's message is not about this one: it is gone from view.
            assert not pg.locator("#notice").is_visible() or "empty" not in pg.locator("#notice").inner_text()
        pg.locator("#upload input[type=file]").set_input_files(str(empty))  # the same message again: shown again
        pg.wait_for_function("document.querySelector('#notice').innerText.includes('is empty')"
                             " && getComputedStyle(document.querySelector('#notice')).display !== 'none'", timeout=60_000)
        uploads = upload_server["corpus"] / "uploads"
        assert not (uploads / "big.txt").exists() and not (uploads / "scan.pdf").exists()
    finally:
        pg.context.close()
