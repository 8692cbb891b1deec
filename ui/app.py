"""The web chat (Gradio 6): streamed cited answers beside a reader of the cited document.

A thin adapter over :class:`rag.Pipeline`: no retrieval or answering logic lives
here, only rendering, conversation bookkeeping and uploads into the corpus folder.
Everything shown from the corpus or the user is HTML-escaped before it reaches the
page; the page loads no fonts or scripts from the internet.

    rag serve [--host 127.0.0.1] [--port 7860] [--allow-upload]   # or: python -m ui (ui/server.py runs it)

What the page does:

* every answer keeps its own citations: ``[n]`` of answer ``t`` links to ``#t{t}-{n}``,
  its quote is listed under the answer and marked in the reader with that same ref,
  so an earlier answer's ``[1]`` never opens a later answer's source;
* hovering or focusing ``[n]`` shows its quote; clicking opens the reader at it;
* the copy button copies plain text (``[n]`` and the sources listed below).
"""

from __future__ import annotations

import html
import ipaddress
import itertools
import os
import re
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gradio as gr

from rag import InvalidQuestion, Pipeline
from rag.chat import Turn
from rag.chunking import heading_lines, is_table_row, is_table_rule, table_cells
from rag.nlp import quote_marks
from rag.pipeline import clean_question
from rag.types import REFUSAL, Answer, AnswerDict

#: Example questions for the shipped corpus (the article in corpus/), each with the words
#: its answer holds there. The page offers only those the documents being served answer
#: with those words and without doubt (see answered_examples): over someone else's
#: documents they would be noise ("When was the prison opened?" answered with a rowing
#: club's Saturday session).
EXAMPLES = {
    "How many inmates can CECOT hold?": "40,000",
    "Who accompanied Noem on the tour?": "Villatoro",
    "What did Vicki Gass say about the visit?": "Gass",
    "When was the prison opened?": "2022",
}


def answered_examples(pipe: Pipeline, examples: dict[str, str]) -> list[str]:
    """The questions of ``examples`` that ``pipe``'s documents answer, not doubtfully,
    with the words given for them."""
    out = []
    for q, words in examples.items():
        a = pipe.ask(q)
        if not a.refused and not a.signals.get("hedged") and words in a.text:
            out.append(q)
    return out

#: Uploads: the types the corpus reader indexes, at most this size, into this subfolder
#: of the corpus folder (only documents there can be removed from the page: the page
#: never deletes a file the owner put into the corpus folder).
UPLOAD_TYPES = (".txt", ".md")
UPLOAD_MAX_BYTES = 1 << 20  # 1 MB (MiB), as Gradio's own size check counts it
UPLOAD_DIR = "uploads"
#: An answer not ready this soon shows its question first (a frame of its own).
SHOW_QUESTION_AFTER_S = 0.15
# Runs the answering of a question while its session waits for it (as many as the queue's
# concurrency: a session waits on its own future only).
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rag-answer")

#: The reader shows every document while they are this small together; past it, the
#: cited ones (and the first), so a large corpus does not ship itself to every page.
READER_ALL_DOCS_CHARS = 300_000

WELCOME = (
    "**Ask about the documents.** Every sentence of an answer is quoted word for word from "
    "them and marked [n]; hover [n] for its quote, click it to read it in place.\n\n"
    "It cannot answer what the documents do not say (it says so and shows the closest "
    "passages), and it does not browse the web or give opinions."
)

# Colours are the theme's variables except for highlights, which are set for both
# themes; tests/test_ui_look.py checks text/background contrast of each in both.
CSS = """
#chat .answer-text { line-height: 1.55; }
#chat .answer-sources { margin: 8px 0 0; padding: 8px 0 0 1.6em; border-top: 1px solid var(--border-color-primary); font-size: 0.92em; }
#chat .answer-sources li { margin: 2px 0 6px; color: var(--body-text-color); }
.src-where { color: var(--body-text-color); opacity: 1; font-style: italic; }
.plain { display: none !important; }
a.cite { text-decoration: none; font-weight: 700; color: #0b5cad; padding: 0 1px; border-radius: 3px; cursor: pointer; }
a.cite:hover, a.cite:focus { text-decoration: underline; outline: 2px solid #0b5cad; outline-offset: 1px; }
.dark a.cite { color: #8cc4ff; }
.dark a.cite:hover, .dark a.cite:focus { outline-color: #8cc4ff; }
.refusal { color: #8a5a00; font-weight: 600; }
.dark .refusal { color: #f5c86a; }
.related-list { font-size: 0.92em; margin-top: 6px; color: var(--body-text-color); }
.answer-note { font-size: 0.92em; margin-top: 4px; font-style: italic; color: var(--body-text-color); }
strong.ans-span { font-weight: 800; }
#reader strong.ans-span.off { font-weight: inherit; }
#cite-pop { position: fixed; z-index: 1000; max-width: min(420px, 90vw); padding: 10px 12px; border-radius: 8px;
  background: #ffffff; color: #1f2328; border: 1px solid #8c959f; box-shadow: 0 4px 16px rgba(0,0,0,.18);
  font-size: 14px; line-height: 1.45; pointer-events: none; }
.dark #cite-pop { background: #1c2128; color: #e6edf3; border-color: #6e7681; }
#cite-pop .pop-where { display: block; margin-top: 6px; font-size: 12.5px; color: #424a53; }
.dark #cite-pop .pop-where { color: #c9d1d9; }
#cite-pop .pop-gone { display: block; margin-top: 6px; font-size: 12.5px; font-style: italic; color: #424a53; }
.dark #cite-pop .pop-gone { color: #c9d1d9; }
#reader .reader { display: flex; flex-direction: column; max-height: calc(100vh - 140px); }
#reader .reader-bar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 6px; }
#reader .reader-back { display: none; }
#reader button.doc-tab, #reader button.reader-back { border: 1px solid var(--border-color-primary); border-radius: 6px;
  padding: 3px 10px; background: var(--background-fill-secondary); color: var(--body-text-color); cursor: pointer; font-size: 0.9em; }
#reader button.doc-tab[aria-selected="true"] { background: var(--background-fill-primary); font-weight: 700; border-color: var(--body-text-color); }
#reader .doc { overflow-y: auto; padding: 4px 14px 14px 2px; min-height: 0; }
/* The bar and the tabs keep their height; the document below them scrolls (it ran
   under the tabs once they wrapped onto several lines on a phone). */
#reader .reader-bar, #reader .doc-tabs { flex-shrink: 0; }
#reader .doc-tabs { display: flex; flex-wrap: wrap; gap: 4px; margin-bottom: 6px; }
#reader .doc[hidden] { display: none; }
#reader .doc-title { margin: 4px 0 10px; font-size: 1.15em; color: var(--body-text-color); }
#reader .doc-text { white-space: pre-wrap; line-height: 1.65; font-size: 15px; color: var(--body-text-color); max-width: 70ch; overflow-x: auto; }
#reader mark { background: transparent; color: inherit; }
#reader .sb { white-space: normal; }  /* a hard-wrapped paragraph's line break, shown as a space */
.md-hide { display: none; }  /* Markdown markers: kept in the text, out of view */
/* A table answer scrolls sideways rather than break a word or an [n]. */
.answer-table { border-collapse: collapse; margin: 2px 0; font-size: 0.95em; display: block; max-width: 100%; overflow-x: auto; }
.answer-table th, .answer-table td { border-bottom: 1px solid var(--border-color-primary); padding: 3px 10px 3px 0; text-align: left;
  word-break: normal; overflow-wrap: normal; }
.answer-table th { font-weight: 600; }
.src-quote .md-table { font-family: var(--font-mono, monospace); font-size: 0.9em; }
#reader .md-h { font-weight: 700; font-size: 1.1em; }
#reader .md-h1 { font-size: 1.3em; }
#reader .md-h2 { font-size: 1.2em; }
#reader .md-table { font-family: var(--font-mono, monospace); font-size: 0.82em; white-space: pre; }
#reader a.md-link { color: var(--link-text-color, #0969da); text-decoration: underline; }
#reader code.md-code { font-family: var(--font-mono, monospace); font-size: 0.92em; color: inherit; background: transparent; }
#reader mark.on { background: #fff1a8; color: #1f2328; border-radius: 2px; }
#reader mark.on strong.ans-span:not(.off) { background: #ffd33d; color: #1f2328; }
#reader mark.rel { text-decoration: underline dotted #57606a; text-underline-offset: 3px; }
.dark #reader mark.rel { text-decoration-color: #8b949e; }
#reader mark.focus { background: #ffd33d; color: #1f2328; box-shadow: 0 0 0 2px #bf8700; }
.dark #reader mark.on { background: #5a4a00; color: #ffffff; }
.dark #reader mark.on strong.ans-span:not(.off) { background: #8a6a00; color: #ffffff; }
.dark #reader mark.focus { background: #7a5e00; color: #ffffff; box-shadow: 0 0 0 2px #e3b341; }
#reader .reader-empty { color: var(--body-text-color); }
#docs .doc-list { margin: 0 0 8px; padding-left: 1.2em; color: var(--body-text-color); }
#docs .doc-list .doc-size { font-size: 0.9em; }
#notice, #status { color: var(--body-text-color); font-size: 0.9em; min-height: 0; }
#notice p, #status p { margin: 2px 0; }
#notice.stale { display: none; }
#open-reader { display: none; }
@media (max-width: 760px) {
  #chat { height: 62vh !important; }
  #reader-col { display: none !important; }
  #reader-col.open { display: flex !important; position: fixed !important; left: 0; right: 0; bottom: 0; top: 8vh;
    z-index: 900; margin: 0 !important; padding: 10px 12px !important; background: var(--background-fill-primary);
    border-top: 2px solid var(--border-color-primary); box-shadow: 0 -8px 24px rgba(0,0,0,.25); overflow: hidden; }
  #reader-col.open #reader .reader { max-height: calc(92vh - 30px); }
  #reader .reader-back { display: inline-block; }
  #reader .doc-tabs { flex-wrap: nowrap; overflow-x: auto; }
  #reader button.doc-tab { flex-shrink: 0; }
  #reader .md-table { font-size: 0.72em; }
  #open-reader { display: block; position: fixed; right: 14px; bottom: 14px; z-index: 800; padding: 8px 14px; border-radius: 20px;
    border: 1px solid var(--border-color-primary); background: var(--background-fill-primary); color: var(--body-text-color);
    box-shadow: 0 2px 10px rgba(0,0,0,.2); font-size: 14px; }
  #open-reader.hide { display: none; }
  #chat-col.under-sheet .scroll-down-button-container { display: none; }
}
"""

# Page behaviour, by event delegation on the document (chat messages and the reader are
# re-rendered while answers stream, so nothing binds to one element).
HEAD = r"""
<script>
(function () {
  // Gradio scopes the page's CSS to its container, so the sheet's state is a class on
  // the reader column itself (not on <body>).
  function setReaderOpen(open) {
    var col = document.getElementById('reader-col');
    if (col) col.classList.toggle('open', open);
    var btn = document.getElementById('open-reader');
    if (btn) btn.classList.toggle('hide', open);
    var chat = document.getElementById('chat-col');  // its floating buttons stay under the sheet
    if (chat) chat.classList.toggle('under-sheet', open);
  }
  window.ragSetReaderOpen = setReaderOpen;
  function marksOf(ref) { return document.querySelectorAll('#reader mark[data-refs~="' + ref + '"]'); }
  function showDoc(doc) {
    document.querySelectorAll('#reader .doc').forEach(function (a) { a.hidden = a.dataset.doc !== doc; });
    document.querySelectorAll('#reader .doc-tab').forEach(function (b) {
      b.setAttribute('aria-selected', b.dataset.doc === doc ? 'true' : 'false'); });
  }
  function revealTab() {
    // On a phone the tabs are one scrolling row: the shown document's tab comes into view
    // (else the sheet looks like another document's). Measured once the reader is shown.
    var b = document.querySelector('#reader .doc-tab[aria-selected="true"]');
    if (!b) return;
    var row = b.parentElement, r = b.getBoundingClientRect(), box = row.getBoundingClientRect();
    if (r.left < box.left || r.right > box.right) row.scrollLeft += r.left - box.left - 8;
  }
  function activateTurn(turn) {
    // A passage the answer cites is highlighted; one a refusal only shows as related
    // ("t2-r1") is marked more faintly, so it is not read as cited.
    document.querySelectorAll('#reader mark').forEach(function (m) {
      var mine = (m.dataset.refs || '').split(' ').filter(function (r) { return r.split('-')[0] === turn; });
      var cited = mine.some(function (r) { return r.split('-')[1].charAt(0) !== 'r'; });
      m.classList.toggle('on', cited);
      m.classList.toggle('rel', mine.length > 0 && !cited);
    });
    // The answer phrase in bold is the shown answer's only.
    document.querySelectorAll('#reader strong.ans-span[data-turn]').forEach(function (b) {
      b.classList.toggle('off', b.dataset.turn !== turn);
    });
  }
  function openRef(ref) {
    var marks = marksOf(ref);
    if (!marks.length) return false;
    activateTurn(ref.split('-')[0]);
    var mark = marks[0];
    showDoc(mark.closest('.doc').dataset.doc);
    setReaderOpen(true);
    revealTab();
    document.querySelectorAll('#reader mark.focus').forEach(function (m) { m.classList.remove('focus'); });
    mark.classList.add('focus');
    var box = mark.closest('.doc');
    // Scroll the reader only: the chat stays where the reader left it.
    box.scrollTop += mark.getBoundingClientRect().top - box.getBoundingClientRect().top - box.clientHeight / 3;
    return true;
  }
  window.ragOpenRef = openRef;
  var pop = null;
  function hidePop() { if (pop) { pop.remove(); pop = null; } }
  function showPop(link) {
    hidePop();
    var ref = (link.getAttribute('href') || '').replace('#', '');
    var answer = link.closest('.answer');
    // The chat's sanitiser keeps no data- attributes: an answer's sources are found by
    // the list item's number, inside that same answer.
    var src = answer && answer.querySelector('.answer-sources li[value="' + ref.split('-')[1] + '"]');
    if (!src) return;
    pop = document.createElement('div');
    pop.id = 'cite-pop';
    pop.setAttribute('role', 'tooltip');
    var q = document.createElement('span');
    q.className = 'pop-quote';
    // innerText: a Markdown quote's hidden markers stay out of the pop too.
    q.textContent = src.querySelector('.src-quote').innerText;
    var w = document.createElement('span');
    w.className = 'pop-where';
    w.textContent = src.querySelector('.src-where').textContent;
    pop.appendChild(q); pop.appendChild(w);
    document.body.appendChild(pop);
    var r = link.getBoundingClientRect();
    var top = r.bottom + 6;
    if (top + pop.offsetHeight > window.innerHeight - 8) top = Math.max(8, r.top - pop.offsetHeight - 6);
    var left = Math.min(Math.max(8, r.left - 20), window.innerWidth - pop.offsetWidth - 8);
    pop.style.top = top + 'px'; pop.style.left = left + 'px';
  }
  document.addEventListener('mouseover', function (e) {
    var link = e.target.closest && e.target.closest('a.cite');
    if (link) showPop(link); else if (pop && !(e.target.closest && e.target.closest('#cite-pop'))) hidePop();
  });
  document.addEventListener('focusin', function (e) {
    var link = e.target.closest && e.target.closest('a.cite');
    if (link) showPop(link); else hidePop();
  });
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') { hidePop(); setReaderOpen(false); }
  });
  // A file chosen or dropped for upload: the last upload's message is not about it (the
  // page itself may refuse this one, with a toast of its own, and never ask the server).
  // Hidden until the server next writes the notice.
  function staleNotice(e) {
    var n = document.getElementById('notice');
    if (!n || !(e.target.closest && e.target.closest('#upload'))) return;
    n.classList.add('stale');
    if (!n.ragWatched) {
      n.ragWatched = true;
      new MutationObserver(function () { n.classList.remove('stale'); })
        .observe(n, {childList: true, subtree: true, characterData: true});
    }
  }
  document.addEventListener('change', staleNotice, true);
  document.addEventListener('drop', staleNotice, true);
  function plainOf(el) {
    var p = el && el.querySelector('.plain');
    return p ? p.textContent : null;
  }
  document.addEventListener('click', function (e) {
    var t = e.target;
    if (!t.closest) return;
    var link = t.closest('a.cite');
    if (link) {
      e.preventDefault(); e.stopPropagation();
      hidePop();
      if (!openRef((link.getAttribute('href') || '').replace('#', ''))) {
        // Its document was removed (or changed) since: say so beside the quote, which
        // the answer still holds, rather than do nothing.
        showPop(link);
        if (pop) {
          var gone = document.createElement('span');
          gone.className = 'pop-gone';
          gone.textContent = 'This document is no longer in the index: the quote is what it said then.';
          pop.appendChild(gone);
        }
      }
      return;
    }
    var tab = t.closest('#reader .doc-tab');
    if (tab) { showDoc(tab.dataset.doc); return; }
    if (t.closest('#reader .reader-back')) { setReaderOpen(false); return; }
    if (t.closest('#open-reader')) { setReaderOpen(true); return; }
    // The chat's copy button copies the message's plain text ([n] and its sources),
    // not the HTML it is rendered from.
    var btn = t.closest('#chat button');
    if (btn && /copy/i.test((btn.getAttribute('aria-label') || '') + ' ' + (btn.getAttribute('title') || ''))) {
      // A message's buttons sit in a box just after its row (Gradio 6), not inside it:
      // the message is the nearest row before that box. (Searching up from the button
      // reaches the whole log, whose first answer every button then copied.)
      var plain = null, row = btn.closest('.message-row');
      if (!row) {
        var box = btn.closest('[class*="message-buttons"]');
        row = box && box.previousElementSibling;
        while (row && !(row.classList && row.classList.contains('message-row'))) row = row.previousElementSibling;
      }
      if (row) plain = plainOf(row);
      if (plain !== null && navigator.clipboard) {
        e.preventDefault(); e.stopPropagation();
        navigator.clipboard.writeText(plain).catch(function () {});
        btn.setAttribute('data-copied', '1');
      }
    }
  }, true);
  // Screen readers read a message's aria-label: make it the plain text, not markup.
  new MutationObserver(function () {
    document.querySelectorAll('#chat [data-testid="bot"][aria-label]').forEach(function (el) {
      var plain = plainOf(el);
      if (plain !== null && el.getAttribute('aria-label') !== plain) el.setAttribute('aria-label', plain);
    });
  }).observe(document.documentElement, {subtree: true, childList: true});
})();
</script>
"""

_MARKER = re.compile(r"\[(\d+)\]")
# HTML's special characters, and those Markdown would interpret: as entities, all are
# shown exactly as typed (one pass, so no entity is escaped twice).
_ENTITIES = {
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    "*": "&#42;", "_": "&#95;", "`": "&#96;", "[": "&#91;", "]": "&#93;", "#": "&#35;", "~": "&#126;",
    "|": "&#124;", "\\": "&#92;", "$": "&#36;",
}


def escape(text: str) -> str:
    """Escape for HTML and neutralise Markdown, so text is shown exactly as written.

    >>> escape("<b>*x*</b>")
    '&lt;b&gt;&#42;x&#42;&lt;/b&gt;'
    """
    return "".join(_ENTITIES.get(ch, ch) for ch in text)


def _attr(text: str) -> str:
    return html.escape(text, quote=True)


# --- conversation state ---------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One question and its answer, as a session keeps them.

    ``turn`` is :meth:`rag.chat.Turn.to_dict` of the answer: what the pipeline is handed
    back as history (``rag.chat.parse_history`` validates it), so the UI's stored format
    is the one the follow-up logic is tested with.
    """

    question: str
    answer: Answer
    turn: dict[str, Any]

    @classmethod
    def of(cls, question: str, answer: Answer) -> Exchange:
        return cls(question, answer, Turn.from_answer(answer).to_dict())


def history(state: list[Exchange]) -> list[dict[str, Any]]:
    """The follow-up history the pipeline is asked with, oldest first."""
    return [e.turn for e in state]


# --- rendering ---------------------------------------------------------------------------


def _doc_title(titles: dict[str, str], doc: str) -> str:
    return titles.get(doc) or doc


def _where(section: str, title: str) -> str:
    """Where a quote stands: its section, then its document's title (once if they are the same)."""
    return " · ".join(dict.fromkeys(x for x in (section, title) if x))


def _between_marks(quote: str, html: str) -> str:
    """``html`` (the quote's markup) between quotation marks, unless the quote opens with its own."""
    opening, closing = quote_marks(quote)
    return f"{opening}{html}{closing}"


def _quote_html(
    quote: str, start: int, span: Any, turn: str | None = None, current: bool = True, markdown: bool = False
) -> str:
    """The quote, escaped, with the answer phrase in bold when the span lies inside it.
    In the reader, ``turn`` names the answer the phrase is of: it is bold only while that
    answer is the one shown (``current``; the page's script moves it on a click). With
    ``markdown`` (a quote of a Markdown document shown on its own), its ``**`` and
    heading markers are hidden as in the reader: still in the text, not in view."""
    # Only the markers are hidden: the answer phrase, often the very words a "**" pair
    # marks, is what stands out in a quote.
    # (A link keeps its target in view: a quote has no other place to show it.)
    spans = [((a, b, k),) for parts in markdown_spans(quote) if not any(k.startswith("link ") for _, _, k in parts)
             for a, b, k in parts if k == "hide"] if markdown else []
    if span is None:
        return _styled(quote, 0, len(quote), spans)
    lo, hi = span.start - start, span.end - start
    if not (0 <= lo < hi <= len(quote)) or quote[lo:hi] != span.text:
        return _styled(quote, 0, len(quote), spans)
    attrs = "" if turn is None else f' data-turn="{_attr(turn)}"'
    cls = "ans-span" if current else "ans-span off"
    return (_styled(quote, 0, lo, spans) + f'<strong class="{cls}"{attrs}>{_styled(quote, lo, hi, spans)}</strong>'
            + _styled(quote, hi, len(quote), spans))


def _is_markdown(doc: str) -> bool:
    return doc.lower().endswith((".md", ".markdown"))


def _cells(row: str) -> list[str]:
    """A table row's cells, from its first line ("| a | b |", "a | b" or "| a | b")."""
    line = row.split("\n", 1)[0]
    return [line[a:b] for a, b in table_cells(line)]


def _table_html(answer: Answer, turn: int) -> str | None:
    """An answer made of table rows (its header and the rows that answer) as a small
    table, each row's [n] in its last cell; None for any other answer. Read as text,
    "Instalment | Amount | Due [1] Deposit | 50 | 7 May [2]" runs the rows together."""
    cits = answer.citations
    if answer.signals.get("table_header") != 1 or len(cits) < 2 or len({c.doc for c in cits}) > 1:
        return None
    if not all(is_table_row(c.quote.split("\n", 1)[0]) for c in cits):
        return None
    width = len(_cells(cits[0].quote))
    if any(len(_cells(c.quote)) != width for c in cits):
        return None

    def link(n: int) -> str:
        return f'<a class="cite" href="#t{turn}-{n}" aria-label="source {n}">&#91;{n}&#93;</a>'

    def cell(text: str, tag: str, n: int) -> str:
        phrase = answer.answer_span.text.strip() if answer.answer_span is not None and answer.answer_n == n else ""
        at = text.find(phrase) if phrase else -1
        if at < 0:
            return f"<{tag}>{escape(text)}</{tag}>"
        bold = f'<strong class="ans-span">{escape(phrase)}</strong>'
        return f"<{tag}>{escape(text[:at])}{bold}{escape(text[at + len(phrase):])}</{tag}>"

    head = "".join(cell(c, "th", cits[0].n) for c in _cells(cits[0].quote)) + f"<th>{link(cits[0].n)}</th>"
    body = "".join("<tr>" + "".join(cell(x, "td", c.n) for x in _cells(c.quote)) + f"<td>{link(c.n)}</td></tr>"
                   for c in cits[1:])
    return f'<table class="answer-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _linked(text: str, turn: int) -> str:
    """Escaped text with each ``[n]`` as a link to citation n of answer ``turn``."""
    parts = []
    pos = 0
    for m in _MARKER.finditer(text):
        parts.append(escape(text[pos : m.start()]))
        n = m.group(1)
        parts.append(f'<a class="cite" href="#t{turn}-{n}" aria-label="source {n}">&#91;{n}&#93;</a>')
        pos = m.end()
    parts.append(escape(text[pos:]))
    return "".join(parts)


def plain_text(answer: Answer, titles: dict[str, str] | None = None) -> str:
    """What the copy button yields: the answer with ``[n]``, then its sources listed.

    >>> from rag.types import Answer, Citation
    >>> a = Answer("q", "It opened in 2022. [1]", False, [Citation(1, "a.txt", "", 0, 17, "It opened in 2022.")])
    >>> print(plain_text(a, {"a.txt": "A"}))
    It opened in 2022. [1]
    <BLANKLINE>
    Sources:
    [1] "It opened in 2022." (A)
    """
    titles = titles or {}
    lines = [answer.text, *(f"({n})" for n in answer.notes)]
    if answer.citations:
        lines += ["", "Sources:"]
        for c in answer.citations:
            where = _where(c.section, _doc_title(titles, c.doc))
            lines.append(f'[{c.n}] "{c.quote}" ({where})')
    elif answer.related:
        lines += ["", "Closest passages (related, not cited):"]
        lines += [f'- "{r.quote}" ({_doc_title(titles, r.doc)})' for r in answer.related]
    return "\n".join(lines)


def render_answer(answer: Answer, turn: int, titles: dict[str, str] | None = None) -> str:
    """An answer's bubble: its text with linked ``[n]``, then its own sources.

    A refusal is styled as one and lists the closest passages as related, not cited.
    """
    titles = titles or {}
    # Newlines as entities: the chat's Markdown would turn a bare one into <br>, which
    # the copied text would lose.
    plain = f'<span class="plain">{escape(plain_text(answer, titles)).replace(chr(10), "&#10;")}</span>'
    if answer.refused and answer.signals.get("small_talk"):  # "hi", "thanks": a reply, not a refusal
        return f'<div class="answer small-talk" data-turn="{turn}"><div class="answer-text">{escape(answer.text)}</div>{plain}</div>'
    if answer.refused:
        body = f'<div class="answer-text refusal">⚠ {escape(answer.text)}</div>'
        if answer.related:
            related_items = "".join(
                f'<li><span class="src-quote">{_between_marks(r.quote, _quote_html(r.quote, r.start, None, markdown=_is_markdown(r.doc)))}</span> '
                f'<span class="src-where">— {escape(_doc_title(titles, r.doc))}</span></li>'
                for r in answer.related
            )
            body += f'<div class="related-list">Closest passages (related, not cited):<ul>{related_items}</ul></div>'
        # A refusal's notes say why it may have failed ("searched in English").
        notes = "".join(f'<div class="answer-note">{escape(n)}</div>' for n in answer.notes)
        return f'<div class="answer refused" data-turn="{turn}">{body}{notes}{plain}</div>'
    items = []
    for c in answer.citations:
        span = answer.answer_span if answer.answer_n == c.n else None
        where = _where(c.section, _doc_title(titles, c.doc))
        items.append(
            f'<li value="{c.n}"><span class="src-quote">{_between_marks(c.quote, _quote_html(c.quote, c.start, span, markdown=_is_markdown(c.doc)))}</span> '
            f'<span class="src-where">— {escape(where)}</span></li>'
        )
    # Beside the answer, not in it (every answer sentence is cited): a part of the
    # question the documents do not answer, a source changed since it was indexed.
    notes = "".join(f'<div class="answer-note">{escape(n)}</div>' for n in answer.notes)
    return (
        f'<div class="answer" data-turn="{turn}"><div class="answer-text">{_table_html(answer, turn) or _linked(answer.text, turn)}</div>{notes}'
        f'<ol class="answer-sources" aria-label="Sources">{"".join(items)}</ol>{plain}</div>'
    )


def render_partial(text: str, turn: int) -> str:
    """A bubble while the answer streams in: the sentences so far (a refusal styled as one)."""
    if text.strip() == REFUSAL:
        return f'<div class="answer refused" data-turn="{turn}"><div class="answer-text refusal">⚠ {escape(text.strip())}</div></div>'
    return f'<div class="answer" data-turn="{turn}"><div class="answer-text">{_linked(text, turn)}</div></div>'


def messages(state: list[Exchange], titles: dict[str, str]) -> list[dict[str, str]]:
    """The chatbot's messages for a conversation."""
    out = []
    for i, e in enumerate(state, start=1):
        out.append({"role": "user", "content": escape(e.question)})
        out.append({"role": "assistant", "content": render_answer(e.answer, i, titles)})
    return out


def _reader_docs(documents: list[dict[str, Any]], cited: list[str]) -> list[str]:
    ids = [d["id"] for d in documents]
    if sum(d["characters"] for d in documents) <= READER_ALL_DOCS_CHARS:
        return ids
    return [d for d in ids if d in cited or d == ids[0]]


# Markdown the reader styles: a heading line, **strong** and `code`. The reader shows the
# source text itself (citations are offsets into it, and a reader must see the exact
# words quoted), so the markers stay in the text and are only hidden from view.
_MD_HEADING = re.compile(r"(?m)^(#{1,6}[ \t]+)(\S.*?)$")
_MD_TABLE_LINE = re.compile(r"(?m)^[ \t]*\|.*\|[ \t]*$")
_MD_INLINE = ((re.compile(r"(\*\*)(?=\S)([^*\n]+?)(?<=\S)(\*\*)"), "strong"), (re.compile(r"(`)([^`\n]+)(`)"), "code"))
# "[text](https://...)": the text a link; other targets (a relative path, javascript:)
# stay as written.
_MD_LINK = re.compile(r"(\[)([^\]\n]+)(\]\((https?://[^\s()]+)\))")


def markdown_spans(text: str) -> list[tuple[tuple[int, int, str], ...]]:
    r"""Where ``text``'s Markdown is styled in the reader: per heading, table line,
    strong, code or web link, its parts in order, each a range and its kind (``hide``
    for a marker, else ``h1``..``h6``, ``table``, ``strong``, ``code`` or ``link <url>``).
    Sorted, and no two overlap: inline marks inside a heading or a table line are left
    as written.

    >>> markdown_spans("# Hours\nOpen **daily**.")
    [((0, 2, 'hide'), (2, 7, 'h1')), ((13, 15, 'hide'), (15, 20, 'strong'), (20, 22, 'hide'))]
    >>> markdown_spans("See [the map](https://example.org/map).")
    [((4, 5, 'hide'), (5, 12, 'link https://example.org/map'), (12, 38, 'hide'))]
    """
    found: list[tuple[tuple[int, int, str], ...]] = []
    for m in _MD_HEADING.finditer(text):
        found.append(((m.start(1), m.end(1), "hide"), (m.start(2), m.end(2), f"h{len(m.group(1).strip())}")))
    # A pipe table's lines in a fixed-width font, so that its columns line up as written.
    for m in _MD_TABLE_LINE.finditer(text):
        found.append(((m.start(), m.end(), "table"),))
    whole_lines = [(f[0][0], f[-1][1]) for f in found]
    for rx, kind in _MD_INLINE:
        for m in rx.finditer(text):
            if not any(m.start() < b and a < m.end() for a, b in whole_lines):
                found.append(((m.start(1), m.end(1), "hide"), (m.start(2), m.end(2), kind), (m.start(3), m.end(3), "hide")))
    taken = [(f[0][0], f[-1][1]) for f in found]
    for m in _MD_LINK.finditer(text):
        if not any(m.start() < b and a < m.end() for a, b in taken):
            found.append(((m.start(1), m.end(1), "hide"), (m.start(2), m.end(2), "link " + m.group(4)),
                          (m.start(3), m.end(3), "hide")))
    return sorted(found)


_MD_TAG = {"hide": ('<span class="md-hide">', "</span>"), "strong": ('<strong class="md-strong">', "</strong>"),
           "code": ('<code class="md-code">', "</code>"), "table": ('<span class="md-table">', "</span>"),
           **{f"h{n}": (f'<span class="md-h md-h{n}">', "</span>") for n in range(1, 7)}}


def _styled(text: str, a: int, b: int, spans: Sequence[tuple[tuple[int, int, str], ...]]) -> str:
    """``text[a:b]`` escaped, with the Markdown of ``spans`` that lies wholly inside it
    styled (one whose markers a citation mark cuts through is left as written)."""
    out, pos = [], a
    for parts in spans:
        if parts[0][0] < pos or parts[-1][1] > b:
            continue
        for start, end, kind in parts:
            if kind.startswith("link "):
                opening = f'<a class="md-link" href="{_attr(kind[5:])}" target="_blank" rel="noopener noreferrer">'
                closing = "</a>"
            else:
                opening, closing = _MD_TAG[kind]
            out += [escape(text[pos:start]), opening, escape(text[start:end]), closing]
            pos = end
    out.append(escape(text[pos:b]))
    return "".join(out)


def _marked(
    text: str, marks: list[tuple[int, int, list[str], Any]], markdown: bool = False, title: tuple[int, int] | None = None,
    headings: Sequence[tuple[int, int]] = (),
) -> str:
    """``text`` escaped, each (start, end, refs, span) wrapped in <mark data-refs>; with
    ``markdown``, its headings, table lines, strong and code styled outside the marks,
    and its markers hidden inside them too (a cited table row keeps the table's font). ``span`` is an answer phrase, or in the reader (phrase, turn, shown).
    ``title`` is the range of a plain-text document's title line, styled as a heading,
    and ``headings`` those of its other headings (``chunking.heading_lines``)."""
    spans = markdown_spans(text) if markdown else []
    lines = [(*title, "h1")] if title is not None else []
    lines += [(a, b, "h3") for a, b in headings if title is None or (a, b) != title]
    for a, b, kind in lines:
        if not any(p[0][0] < b and a < p[-1][1] for p in spans):
            spans = sorted([*spans, ((a, b, kind),)])
    out, pos = [], 0
    for start, end, refs, span in marks:
        if start < pos or text[start:end] == "":
            continue  # overlapping spans of different sentences cannot happen; skip rather than nest
        out.append(_styled(text, pos, start, spans))
        phrase, turn, current = span if isinstance(span, tuple) else (span, None, True)
        # Its Markdown markers hidden as outside the mark ("**Ana**" reads "Ana" either way).
        inner = _quote_html(text[start:end], start, phrase, turn, current, markdown=markdown)
        if any(p[0][2] == "table" and p[0][0] <= start and end <= p[0][1] for p in spans):
            inner = f'<span class="md-table">{inner}</span>'  # a cited row keeps its table's font
        out.append(f'<mark data-refs="{_attr(" ".join(refs))}" data-start="{start}" data-end="{end}">{inner}</mark>')
        pos = end
    out.append(_styled(text, pos, len(text), spans))
    return "".join(out)


# A line break inside a hard-wrapped paragraph (a document whose lines stop near one
# width, at most this many characters): after a line that reaches near that width,
# before a line that starts no block of its own and is indented no deeper. Shown as a
# space, so that the reader's column re-wraps the paragraph instead of breaking it twice
# (the newline stays in the text: citations are offsets into it).
_WRAP_WIDTH_MAX = 100
_OWN_LINE = re.compile(r"[ \t]*(?:[-*+•][ \t]|\d{1,3}[.)][ \t]|\||#|>|```|[=\-*_]{3,}[ \t]*$)")


def soft_breaks(text: str) -> list[bool]:
    r"""For each newline of ``text`` in order, whether it only wraps a paragraph.

    >>> soft_breaks("A paragraph hard-wrapped by its author at forty\ncolumns, which the reader re-wraps.\n\n- item")
    [True, False, False]
    """
    lines = text.split("\n")
    lengths = sorted(len(x.rstrip()) for x in lines if x.strip())
    width = lengths[int(0.95 * (len(lengths) - 1))] if lengths else 0
    if not lengths or width > _WRAP_WIDTH_MAX:
        return [False] * (len(lines) - 1)  # a line a paragraph: nothing was wrapped
    out = []
    for cur, nxt in itertools.pairwise(lines):
        indent = len(cur) - len(cur.lstrip())
        out.append(len(cur.rstrip()) >= 0.6 * width and bool(nxt.strip()) and len(nxt) - len(nxt.lstrip()) <= indent
                   and not any(_OWN_LINE.match(x) or is_table_row(x) or is_table_rule(x) for x in (cur, nxt)))
    return out


def _soften(html_text: str, text: str) -> str:
    """``html_text`` (``text`` rendered: escaped, with tags that hold no newline) with each
    wrapping newline in a span the reader shows as a space."""
    soft = iter(soft_breaks(text))
    # The next line's indent goes with its break: "you\n    modified" reads "you modified".
    return re.sub("\n[ \t]*", lambda m: f'<span class="sb">{m.group(0)}</span>' if next(soft, False) else m.group(0),
                  html_text)


def _mark_class(refs: list[str], active: int) -> str:
    """The class of a reader mark for answer ``active``: ``on`` where it cites the passage,
    ``rel`` where it only shows it as related (a refusal's closest passages), else none."""
    mine = [r.split("-")[1] for r in refs if r.split("-")[0] == f"t{active}"]
    if any(not n.startswith("r") for n in mine):
        return ' class="on"'
    return ' class="rel"' if mine else ""


def render_reader(pipe: Pipeline, state: list[Exchange], active: int | None = None) -> str:
    """The document reader: the documents with every citation of the conversation marked.

    Marks carry the refs (``t{turn}-{n}``) that cite them; those of answer ``active``
    (default: the latest) are highlighted, its first cited document is shown, and the
    answer phrase of a citation is in bold.
    """
    documents = pipe.documents()
    if not documents:
        return '<div class="reader"><p class="reader-empty">No documents are indexed yet.</p></div>'
    titles = {d["id"]: d["title"] for d in documents}
    active = active if active is not None else len(state)
    per_doc: dict[str, dict[tuple[int, int], tuple[list[str], Any]]] = {}
    shown_doc = None
    for t, e in enumerate(state, start=1):
        a = e.answer
        spans = [(c.doc, c.start, c.end, f"t{t}-{c.n}", a.answer_span if a.answer_n == c.n else None) for c in a.citations]
        spans += [(r.doc, r.start, r.end, f"t{t}-r{i}", None) for i, r in enumerate(a.related, start=1)]
        for doc, start, end, ref, span in spans:
            refs, old_span = per_doc.setdefault(doc, {}).get((start, end), ([], None))
            # One phrase per passage: the shown answer's, else the latest answer's (not bold).
            if span is not None and (old_span is None or not old_span[2] or t == active):
                old_span = (span, f"t{t}", t == active)
            per_doc[doc][(start, end)] = (refs + [ref], old_span)
            if t == active and shown_doc is None and doc in titles:
                shown_doc = doc
    ids = _reader_docs(documents, list(per_doc))
    shown_doc = shown_doc or ids[0]
    tabs = ""
    if len(ids) > 1:
        tabs = '<div class="doc-tabs" role="tablist" aria-label="Documents">' + "".join(
            f'<button type="button" class="doc-tab" role="tab" data-doc="{_attr(d)}" '
            f'aria-selected="{"true" if d == shown_doc else "false"}">{escape(titles[d])}</button>'
            for d in ids
        ) + "</div>"
    articles = []
    for d in ids:
        try:
            text = pipe.corpus_text(d)
        except KeyError:  # removed since this rendering began
            continue
        marks = sorted(
            (s, e_, refs, span) for (s, e_), (refs, span) in per_doc.get(d, {}).items() if text[s:e_] != "" and e_ <= len(text)
        )
        markdown = _is_markdown(d)
        # A document that opens with its title ("# Handbook", or a plain first line the
        # title was read from) shows it as its heading: a title above it would say it twice.
        lead = len(text) - len(text.lstrip())
        first = text[lead:].split("\n", 1)[0].rstrip()
        own = first.lstrip("#").strip() == titles[d]
        # A plain-text document's headings (found as the chunker finds them) read as headings.
        heads = [] if markdown else heading_lines(text)
        body = _soften(_marked(text, marks, markdown=markdown, title=(lead, lead + len(first)) if own else None,
                               headings=heads), text)
        # Highlight the active answer's marks now; the page's script re-highlights on click.
        body = re.sub(r'<mark data-refs="([^"]*)"', lambda m: m.group(0) + _mark_class(m.group(1).split(), active), body)
        hidden = "" if d == shown_doc else " hidden"
        head = "" if own else f'<h3 class="doc-title">{escape(titles[d])}</h3>'
        articles.append(
            f'<article class="doc" data-doc="{_attr(d)}" aria-label="{_attr(titles[d])}"{hidden}>{head}'
            f'<div class="doc-text">{body}</div></article>'
        )
    bar = '<div class="reader-bar"><button type="button" class="reader-back">← Back to chat</button></div>'
    return f'<div class="reader" aria-label="Document reader">{bar}{tabs}{"".join(articles)}</div>'


def render_documents(pipe: Pipeline) -> str:
    """The document list: titles and sizes, uploaded ones marked."""
    docs = pipe.documents()
    if not docs:
        return '<p class="doc-list">No documents yet.</p>'
    items = "".join(
        f'<li>{escape(d["title"])} <span class="doc-size">· {d["characters"]:,} characters'
        f'{" · uploaded" if d["id"].startswith(UPLOAD_DIR + "/") else ""}</span></li>'
        for d in docs
    )
    return f'<ul class="doc-list">{items}</ul>'


def uploaded_choices(pipe: Pipeline) -> list[tuple[str, str]]:
    return [(d["title"], d["id"]) for d in pipe.documents() if d["id"].startswith(UPLOAD_DIR + "/")]


# --- uploads ---------------------------------------------------------------------------------


class UploadRejected(ValueError):
    """An upload the corpus cannot take; the message says why, for the user."""


def save_upload(corpus_dir: Path, src: Path, name: str | None = None, max_bytes: int = UPLOAD_MAX_BYTES) -> str:
    """Copy an uploaded file into ``corpus_dir/uploads/`` and return its document id.

    The name is reduced to safe characters; only ``.txt``/``.md`` UTF-8 text up to
    ``max_bytes`` is taken. Raises :class:`UploadRejected` with a message for the user.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); f = d / "My notes!.md"; _ = f.write_text("# Notes\\nHi.")
    >>> save_upload(d / "corpus", f)
    'uploads/My-notes-.md'
    """
    name = Path(name or src.name).name
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise UploadRejected(f"“{name}” is not a text document: upload .txt or .md files")
    size = src.stat().st_size
    if size > max_bytes:
        raise UploadRejected(f"“{name}” is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.1f} MB")
    data = src.read_bytes()
    if b"\x00" in data:
        raise UploadRejected(f"“{name}” is not text (it holds binary data)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRejected(f"“{name}” is not UTF-8 text; save it as UTF-8 and upload it again") from None
    if not text.strip():
        raise UploadRejected(f"“{name}” is empty")
    # The same text under another name would be indexed twice and every answer cited twice.
    for other in sorted(corpus_dir.rglob("*")) if corpus_dir.is_dir() else []:
        if other.suffix.lower() in UPLOAD_TYPES and other.is_file() and other.stat().st_size == size \
                and other.read_bytes() == data:
            raise UploadRejected(f"“{name}” is already in the documents, as “{other.relative_to(corpus_dir).as_posix()}”")
    stem = re.sub(r"[^\w.-]+", "-", Path(name).stem).strip(".") or "document"
    safe = f"{stem[:80]}{suffix}"
    folder = (corpus_dir / UPLOAD_DIR).resolve()
    target = (folder / safe).resolve()
    if target.parent != folder or not str(target).startswith(str(corpus_dir.resolve()) + os.sep):
        raise UploadRejected(f"“{name}” cannot be stored under that name")
    folder.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so an indexer never reads half a file.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-", suffix=".part")
    # mkstemp's file is private (0600); a document of the corpus is readable like the
    # others (0644, as an editor saves one), or a backup or a second server cannot read it.
    os.chmod(fd, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, target)
    return f"{UPLOAD_DIR}/{safe}"


def remove_upload(corpus_dir: Path, doc: str) -> None:
    """Delete an uploaded document (only those under ``uploads/``) from the corpus folder."""
    folder = (corpus_dir / UPLOAD_DIR).resolve()
    target = (corpus_dir / doc).resolve()
    if target.parent != folder or not doc.startswith(UPLOAD_DIR + "/"):
        raise UploadRejected("only documents uploaded from this page can be removed here")
    target.unlink(missing_ok=True)


# --- the API endpoint's documented shape (the JSON itself: rag.types.AnswerDict) -----------------


ASK_DESCRIPTION = (
    "Answer a question about the documents; every sentence of the answer is quoted from them and cited. "
    "Parameters: `question` (1st), the question in plain words (over 2,000 characters: only its last question is asked); "
    "`history` (2nd, optional), the earlier questions of the conversation, oldest first, so that follow-ups "
    "such as \"What is his job?\" are understood. "
    "Returns Answer.to_dict(): `answer` (text with [n] markers), `refused` (true when the documents do not say; "
    "then `related` lists the closest passages), `citations` (n, doc, section, start, end, quote, with "
    "document[start:end] == quote), `answer_span` (the phrase that answers, inside citation n, or null), "
    "`rewritten_query` (the question as resolved from the history), `mode`, `timings_ms`, "
    "and `notes` when there is something to say beside the answer (a part of the question the documents do not answer). "
    "An empty or unusable question is an error whose message starts with \"invalid question\"."
)


# --- the app --------------------------------------------------------------------------------------


def _cut_notice(message: str, max_chars: int) -> str:
    n = len(" ".join((message or "").split()))
    if n > max_chars and "?" in message:
        return (f"Your question was {n:,} characters long (over {max_chars:,}); only its last question, the "
                f"sentence ending with its last question mark, was asked.")
    if n > max_chars:
        return (f"Your question was {n:,} characters long (over {max_chars:,}) with no question mark; only its "
                f"last {max_chars:,} characters were asked.")
    return ""


def build_app(pipe: Pipeline, *, uploads: bool = False) -> Any:
    """The Gradio Blocks app over ``pipe``; ``uploads`` lets visitors add documents to its corpus folder."""

    modes = ["extractive"]
    try:
        import llama_index.llms.openai_like  # noqa: F401  (the optional [llm] extra)

        modes.append("llm")
    except ImportError:
        pass
    max_chars = pipe.config.answering.max_question_chars
    corpus_dir = Path(pipe.config.index.corpus_dir)
    examples = answered_examples(pipe, EXAMPLES)

    def titles() -> dict[str, str]:
        return {d["id"]: d["title"] for d in pipe.documents()}

    def status(answer: Answer | None = None) -> str:
        if answer is None:
            return ""
        return f"Answered in {answer.timings_ms.get('total', 0):.0f} ms."

    skip = gr.skip

    def respond(message: str, state: list[Exchange], mode: str) -> Iterator[tuple]:
        """Stream one answer: the question (with its first sentence when that is quick), each verified sentence, its sources."""
        state = list(state or [])
        try:
            clean_question(message, max_chars)
        except InvalidQuestion as exc:
            yield skip(), skip(), skip(), skip(), skip(), f"Please ask a question: {exc}.", skip()
            return
        notice = _cut_notice(message, max_chars)
        tt = titles()
        turn = len(state) + 1
        chat = messages(state, tt) + [{"role": "user", "content": escape(message)}]
        first_frame = (skip(), skip(), "", "", notice, gr.update(visible=False))
        text = ""
        answer: Answer | None = None
        try:
            pieces = pipe.stream(message, history=history(state), mode=mode)
            # A fast answer arrives with its question in one frame (one render less before
            # the first words); a slow one shows the question first, then its sentences.
            pending = _pool.submit(next, pieces)
            try:
                first = pending.result(timeout=SHOW_QUESTION_AFTER_S)
            except FutureTimeout:
                yield (chat, *first_frame)
                first_frame = (skip(),) * 6
                first = pending.result()
            for i, piece in enumerate(itertools.chain([first], pieces)):
                if isinstance(piece, Answer):
                    answer = piece
                    break
                if i:
                    time.sleep(0.02)  # let the browser paint each verified sentence
                text += piece
                yield (chat + [{"role": "assistant", "content": render_partial(text, turn)}], *first_frame)
                first_frame = (skip(),) * 6
        except InvalidQuestion as exc:  # a history the pipeline cannot use
            yield messages(state, tt), skip(), skip(), skip(), message, f"Could not ask that: {exc}.", skip()
            return
        assert answer is not None
        state.append(Exchange.of(message, answer))
        yield messages(state, tt), state, render_reader(pipe, state), status(answer), skip(), skip(), skip()

    def on_example(evt: gr.SelectData, state: list[Exchange], mode: str) -> Iterator[tuple]:
        value = evt.value
        text = value.get("text", "") if isinstance(value, dict) else str(value)
        yield from respond(text, state, mode)

    def on_retry(state: list[Exchange], mode: str) -> Iterator[tuple]:
        state = list(state or [])
        if not state:
            return
        last = state.pop()
        yield from respond(last.question, state, mode)

    def on_undo(state: list[Exchange]) -> tuple:
        state = list(state or [])
        if not state:
            return skip(), skip(), skip(), skip(), skip()
        last = state.pop()
        return messages(state, titles()), state, render_reader(pipe, state), "", last.question

    def on_clear(state: list[Exchange]) -> tuple:
        # Everything goes (messages, memory, reader, status); the old conversation is
        # kept aside until the next question, so the clear can be undone.
        return [], [], render_reader(pipe, []), "", "", list(state or []), gr.update(visible=bool(state))

    def on_restore(saved: list[Exchange]) -> tuple:
        saved = list(saved or [])
        return messages(saved, titles()), saved, render_reader(pipe, saved), "", [], gr.update(visible=False)

    def on_load(state: list[Exchange]) -> tuple:
        state = list(state or [])
        return render_reader(pipe, state), render_documents(pipe), gr.update(choices=uploaded_choices(pipe), value=None)

    def on_upload(path: str | None, state: list[Exchange], progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:  # noqa: B008 (Gradio's way)
        if not path:
            yield skip(), skip(), skip(), skip(), skip(), skip()
            return
        # The last upload's message goes first: it is not about this file.
        yield skip(), skip(), skip(), "", skip(), skip()
        try:
            doc = save_upload(corpus_dir, Path(path))
        except UploadRejected as exc:
            yield skip(), skip(), skip(), f"Not added: {exc}.", None, skip()
            return
        progress((0, None), desc="Indexing")
        pipe.index(progress=lambda done, total: progress((done, total), desc="Indexing", unit="sentences"))
        title = titles().get(doc, doc)
        yield (
            render_documents(pipe), gr.update(choices=uploaded_choices(pipe), value=None),
            render_reader(pipe, list(state or [])), f"Added “{title}”; questions now span all documents.", None,
            "",  # the last answer's "Answered in ..." is no longer the latest news
        )

    def on_remove(doc: str | None, state: list[Exchange], confirmed: bool) -> tuple:
        if not doc:
            return skip(), skip(), skip(), "Choose an uploaded document to remove.", skip()
        if not confirmed:  # the page's "Remove this document?" was answered Cancel
            return skip(), skip(), skip(), f"Kept “{titles().get(doc, doc)}”: nothing was removed.", skip()
        try:
            remove_upload(corpus_dir, doc)
        except UploadRejected as exc:
            return skip(), skip(), skip(), f"Not removed: {exc}.", skip()
        title = titles().get(doc, doc)
        pipe.index()
        return (
            render_documents(pipe), gr.update(choices=uploaded_choices(pipe), value=None),
            render_reader(pipe, list(state or [])), f"Removed “{title}”.", "",
        )

    def ask(question: str, history: list[str] | None = None) -> AnswerDict:
        try:
            return pipe.ask(question, history=list(history or [])).to_dict()  # type: ignore[return-value]
        except InvalidQuestion as exc:
            # The caller's mistake, said to the caller: no traceback in the server's log.
            raise gr.Error(f"invalid question: {exc}", print_exception=False) from exc

    # Gradio reads the endpoint's types from the annotations as objects; this module's
    # `from __future__ import annotations` leaves them strings, which it would type `Any`.
    ask.__annotations__ = {"question": str, "history": list[str] | None, "return": AnswerDict}

    # Uploaded files sit in Gradio's cache until copied into the corpus: purge them hourly.
    with gr.Blocks(title="Ask the documents", analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(
            "## Ask the documents\nEvery sentence of an answer is quoted from the documents and cited: "
            "hover [n] to see its quote, click or tap it to read it in place.",
            elem_id="intro",
        )
        state = gr.State([])
        cleared = gr.State([])
        with gr.Row(elem_id="main", equal_height=False):
            with gr.Column(scale=3, min_width=300, elem_id="chat-col"):
                chatbot = gr.Chatbot(
                    elem_id="chat", show_label=False, height="62vh", sanitize_html=True, render_markdown=True,
                    feedback_options=None, buttons=["copy"], placeholder=WELCOME, layout="bubble",
                    examples=[{"text": q} for q in examples] or None, autoscroll=True,
                )
                box = gr.Textbox(
                    placeholder="Ask about the documents…", show_label=False, elem_id="question",
                    max_lines=6, submit_btn="Ask", autofocus=True,
                )
                notice = gr.Markdown("", elem_id="notice")
                restore = gr.Button("Undo clear", visible=False, size="sm", elem_id="restore-btn")
                status_md = gr.Markdown("", elem_id="status")
                mode = gr.Radio(modes, value=modes[0], label="Answer with", visible=len(modes) > 1)
                with gr.Accordion("Documents", open=False, elem_id="docs"):
                    # Filled on page load (below): corpus text never sits in the page's config script.
                    docs_html = gr.HTML("", js_on_load=None)
                    if uploads:
                        upload = gr.File(
                            label=f"Add a document (.txt or .md, up to {UPLOAD_MAX_BYTES / 2**20:.0f} MB)",
                            file_types=list(UPLOAD_TYPES), type="filepath", elem_id="upload", height=110,
                        )
                        with gr.Row():
                            remove_dd = gr.Dropdown(choices=[], value=None, label="Uploaded documents",
                                                    elem_id="remove-doc", scale=3)
                            # Enabled once a document is chosen: a red button that can do nothing misleads.
                            remove_btn = gr.Button("Remove", variant="stop", elem_id="remove-btn", scale=1, min_width=90,
                                                   interactive=False)
                            # The answer to the page's confirm(), handed to the server with the choice.
                            remove_ok = gr.Checkbox(False, visible=False)
                    else:
                        gr.Markdown("Adding documents from the page is off on this server (start it with `--allow-upload`).")
                        remove_dd = gr.Dropdown(visible=False)
            with gr.Column(scale=2, min_width=300, elem_id="reader-col"):
                reader = gr.HTML("", elem_id="reader", js_on_load=None)
        gr.HTML('<button type="button" id="open-reader">Document ▸</button>', js_on_load=None)

        outputs = [chatbot, state, reader, status_md, box, notice, restore]
        quiet: dict[str, Any] = {"show_progress": "hidden", "api_visibility": "private"}
        box.submit(respond, [box, state, mode], outputs, **quiet)
        chatbot.example_select(on_example, [state, mode], outputs, **quiet)
        chatbot.retry(on_retry, [state, mode], outputs, **quiet)
        chatbot.undo(on_undo, [state], [chatbot, state, reader, status_md, box], **quiet)
        chatbot.clear(on_clear, [state], [chatbot, state, reader, status_md, notice, cleared, restore], **quiet)
        restore.click(on_restore, [cleared], [chatbot, state, reader, status_md, cleared, restore], **quiet)
        app.load(on_load, [state], [reader, docs_html, remove_dd], **quiet)
        if uploads:
            upload.upload(on_upload, [upload, state], [docs_html, remove_dd, reader, notice, upload, status_md],
                          show_progress="full", api_visibility="private")
            remove_dd.change(lambda doc: gr.update(interactive=bool(doc)), [remove_dd], [remove_btn], **quiet)
            remove_btn.click(
                on_remove, [remove_dd, state, remove_ok], [docs_html, remove_dd, reader, notice, status_md],
                api_visibility="private",
                js="(doc, state, ok) => [doc, state, doc ? confirm('Remove “' + ((document.querySelector('#remove-doc input') || {}).value || doc) + '” from the corpus?') : false]",
            )
        gr.api(ask, api_name="ask", api_description=ASK_DESCRIPTION)
    return app


def launch_kwargs() -> dict[str, Any]:
    """Theme, assets that keep the page offline (no Google Fonts, no CDN), and the upload cap.

    ``max_file_size`` limits Gradio's own upload route, whatever the page does.
    """

    system = ["-apple-system", "BlinkMacSystemFont", "Segoe UI", "Helvetica", "Arial", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    theme = gr.themes.Default(font=system, font_mono=mono)
    return {
        "theme": theme, "css": CSS, "head": HEAD, "ssr_mode": False, "footer_links": ["api"],
        "max_file_size": UPLOAD_MAX_BYTES,
    }


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds to this machine only.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def uploads_allowed(host: str, share: bool = False, allow_upload: bool = False) -> bool:
    """Whether visitors may add documents: on loopback (and not shared), or when asked for.

    >>> uploads_allowed("127.0.0.1"), uploads_allowed("0.0.0.0"), uploads_allowed("0.0.0.0", allow_upload=True)
    (True, False, True)
    """
    return allow_upload or (is_loopback(host) and not share)
