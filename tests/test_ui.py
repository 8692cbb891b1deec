"""The web chat: a real `rag serve`, called through gradio_client and driven in headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

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


def test_rendering_escapes_everything_and_links_citations():
    from ui.app import escape, render_answer_text

    assert escape("<img src=x onerror=alert(1)> a_b *c* [1] El Salvador's") == (
        "&lt;img src=x onerror=alert(1)&gt; a&#95;b &#42;c&#42; &#91;1&#93; El Salvador&#39;s"
    )
    html = render_answer_text("It holds <40,000>. [1] And more. [2]", refused=False)
    assert '<a class="cite" href="#src-1"' in html and '<a class="cite" href="#src-2"' in html
    assert "&lt;40,000&gt;" in html and "<40" not in html
    assert 'class="refusal"' in render_answer_text("The article does not say.", refused=True)


# --- the page in a real browser ---------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    assert exe, "Debian's chromium is installed by .ci/run"
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=exe,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server, tmp_path):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.requests = []  # type: ignore[attr-defined]
    pg.dialogs = []  # type: ignore[attr-defined]
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto(server["url"], wait_until="load")
    pg.wait_for_selector("#question textarea", timeout=60_000)
    yield pg
    pg.screenshot(path=str(tmp_path / "final.png"), full_page=True)
    context.close()


def _ask(page, question: str, expect_bubbles: int) -> None:
    box = page.locator("#question textarea")
    box.fill(question)
    page.click("#ask-btn")
    page.wait_for_function(
        "n => document.querySelectorAll('#chat [data-testid=\"bot\"]').length >= n "
        "&& document.querySelector('#status').innerText.includes('answered in')",
        arg=expect_bubbles, timeout=60_000,
    )
    page.wait_for_timeout(300)


@pytest.mark.browser
def test_answer_streams_with_footnotes_and_highlighted_source(page, tmp_path):
    _ask(page, "How many inmates can CECOT hold?", 1)
    bot = page.locator('#chat [data-testid="bot"]').last
    assert "40,000" in bot.inner_text()
    cite = bot.locator("a.cite").first
    assert cite.inner_text() == "[1]"
    mark = page.locator("#src-1 mark")
    assert "can hold up to 40,000 inmates" in mark.inner_text()
    assert page.locator("#src-1 .src-head").inner_text() == "[1] Noem tours El Salvador's CECOT prison"
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
    if os.environ.get("RAG_SAVE_SCREENSHOT"):
        page.screenshot(path=os.environ["RAG_SAVE_SCREENSHOT"])
    cite.click()
    page.wait_for_function("document.getElementById('src-1').classList.contains('flash')", timeout=5000)
    assert page.evaluate(
        "(() => { const r = document.getElementById('src-1').getBoundingClientRect();"
        " return r.top >= 0 && r.bottom <= window.innerHeight + 1; })()"
    )
    # A follow-up uses the conversation.
    _ask(page, "Who accompanied Noem on the tour?", 2)
    _ask(page, "What is his job title?", 3)
    assert "Minister of Justice" in page.locator('#chat [data-testid="bot"]').last.inner_text()


@pytest.mark.browser
def test_script_in_a_question_is_shown_as_text(page):
    payload = "<img src=x onerror=alert(1)> How many inmates can CECOT hold?"
    _ask(page, payload, 1)
    user = page.locator('#chat [data-testid="user"]').last
    assert "<img src=x onerror=alert(1)>" in user.inner_text()
    assert page.locator("#chat img[src='x']").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []


@pytest.mark.browser
def test_refusal_looks_different_and_shows_related_passages(page):
    _ask(page, "What is the capital of France?", 1)
    bot = page.locator('#chat [data-testid="bot"]').last
    assert bot.locator(".refusal").count() == 1
    assert "The article does not say." in bot.inner_text()
    assert bot.locator("a.cite").count() == 0


@pytest.mark.browser
def test_page_makes_no_request_outside_localhost(page):
    _ask(page, "When was CECOT opened?", 1)
    outside = [u for u in page.requests if urlparse(u).scheme in ("http", "https", "ws", "wss")
               and urlparse(u).hostname not in ("127.0.0.1", "localhost")]
    assert outside == []


@pytest.mark.browser
def test_script_in_a_corpus_document_is_shown_as_text(page, server):
    """The payload document's heading and cited sentence carry <script> and <img onerror>."""
    _ask(page, "What does the prison gift shop sell?", 1)
    bot = page.locator('#chat [data-testid="bot"]').last
    assert "<img src=x onerror=alert('img')>" in bot.inner_text()  # the quote, as text
    card = page.locator("#src-1")
    assert PAYLOAD_DOC in card.inner_text()
    assert "<script>alert('heading')</script>" in card.locator(".src-head").inner_text()
    assert "<script>alert('quote')</script>" in card.locator("mark").inner_text()
    # Nothing was turned into an element: no <img> from the corpus, no script added.
    assert page.locator("#chat img[src='x'], #sources img").count() == 0
    assert page.evaluate("[...document.scripts].filter(s => s.textContent.includes('alert(')).length") == 0
    page.wait_for_timeout(500)
    assert page.dialogs == []
    text = (server["corpus"] / PAYLOAD_DOC).read_text(encoding="utf-8")
    d = page.evaluate("() => [...document.querySelectorAll('#src-1 mark')].map(m => [+m.dataset.start, +m.dataset.end, m.innerText])")
    for start, end, quote in d:
        assert text[start:end] == quote
