"""The web chat (Gradio 6): streaming cited answers beside a sources panel.

A thin adapter over :class:`rag.Pipeline`: no retrieval or answering logic lives
here, only rendering. Everything shown from the corpus or the user is HTML-escaped
before it reaches the page; the page loads no fonts or scripts from the internet.

    rag serve [--host 127.0.0.1] [--port 7860]      # or: python -m ui  (ui/server.py runs it)
"""

from __future__ import annotations

import re
import time
from typing import Any, Iterator

from rag import InvalidQuestion, Pipeline
from rag.chat import Turn
from rag.types import Answer

EXAMPLES = [
    "How many inmates can CECOT hold?",
    "Who accompanied Noem on the tour?",
    "What did Vicki Gass say about the visit?",
    "When was the prison opened?",
]

CSS = """
#sources { max-height: 640px; overflow-y: auto; }
.src-card { border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 12px; margin-bottom: 10px; background: #fff; }
.src-card.flash { box-shadow: 0 0 0 3px #f5c542; }
.src-head { font-weight: 600; margin-bottom: 6px; }
.src-meta { color: #57606a; font-size: 0.85em; margin-bottom: 6px; }
.src-card mark { background: #fff3b0; padding: 0 1px; }
.related-card { border-style: dashed; background: #f6f8fa; }
.related-card mark { background: #e8e8e8; }
.refusal { color: #9a6700; }
.cite { text-decoration: none; font-weight: 600; }
.empty { color: #57606a; }
"""

# Clicking [n] in an answer scrolls its source into view and flashes it. Event
# delegation on the document, because chat messages are re-rendered while streaming.
HEAD = """
<script>
document.addEventListener("click", function (event) {
  const link = event.target.closest("a.cite");
  if (!link) return;
  event.preventDefault();
  const id = (link.getAttribute("href") || "").replace("#", "");
  const card = document.getElementById(id);
  if (!card) return;
  card.scrollIntoView({behavior: "smooth", block: "center"});
  card.classList.add("flash");
  setTimeout(function () { card.classList.remove("flash"); }, 1500);
}, true);
</script>
"""

_MARKER = re.compile(r"\[(\d+)\]")
# HTML's special characters, and those Markdown would interpret: as entities, all are
# shown exactly as typed (one pass, so no entity is escaped twice).
_ENTITIES = {
    "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    "*": "&#42;", "_": "&#95;", "`": "&#96;", "[": "&#91;", "]": "&#93;", "#": "&#35;", "~": "&#126;",
    "|": "&#124;", "\\": "&#92;",
}


def escape(text: str) -> str:
    """Escape for HTML and neutralise Markdown, so text is shown exactly as written."""
    return "".join(_ENTITIES.get(ch, ch) for ch in text)


def render_answer_text(text: str, refused: bool) -> str:
    """The chat bubble: escaped text with each ``[n]`` as a footnote link to its source."""
    if refused:
        return f'<span class="refusal">⚠ {escape(text)}</span>'
    parts = []
    pos = 0
    for m in _MARKER.finditer(text):
        parts.append(escape(text[pos : m.start()]))
        n = m.group(1)
        parts.append(f'<a class="cite" href="#src-{n}" title="source {n}">&#91;{n}&#93;</a>')
        pos = m.end()
    parts.append(escape(text[pos:]))
    return "".join(parts)


def _paragraph_with_mark(pipe: Pipeline, doc: str, start: int, end: int, quote: str) -> str:
    """The paragraph around ``doc[start:end]``, escaped, with that span in <mark>."""
    try:
        text = pipe.corpus_text(doc)
    except KeyError:  # removed from the index since it was cited
        text = ""
    if text[start:end] != quote:
        # Re-indexed between the answer and this rendering: the answer quotes the text
        # it was answered from, so show the quote alone rather than a wrong paragraph.
        return f'<mark data-start="{start}" data-end="{end}">{escape(quote)}</mark>'
    lo = text.rfind("\n", 0, start) + 1
    hi = text.find("\n", end)
    hi = len(text) if hi == -1 else hi
    return (
        escape(text[lo:start])
        + f'<mark data-start="{start}" data-end="{end}">{escape(text[start:end])}</mark>'
        + escape(text[end:hi])
    )


def render_sources(pipe: Pipeline, answer: Answer | None) -> str:
    """The sources panel: cited passages, or a refusal's closest passages."""
    if answer is None:
        return '<div class="empty">Sources of the answer appear here, each quote highlighted in its paragraph.</div>'
    cards = []
    if answer.citations:
        for c in answer.citations:
            cards.append(
                f'<div class="src-card" id="src-{c.n}">'
                f'<div class="src-head">[{c.n}] {escape(c.section or "(no section)")}</div>'
                f'<div class="src-meta">{escape(c.doc)} · characters {c.start}–{c.end}</div>'
                f"<div>{_paragraph_with_mark(pipe, c.doc, c.start, c.end, c.quote)}</div></div>"
            )
        return "".join(cards)
    if answer.related:
        cards.append('<div class="src-meta">The article does not answer this. Closest passages (related, not cited):</div>')
        for r in answer.related:
            cards.append(
                f'<div class="src-card related-card">'
                f'<div class="src-head">{escape(r.section or "(no section)")}</div>'
                f'<div class="src-meta">{escape(r.doc)} · characters {r.start}–{r.end}</div>'
                f"<div>{_paragraph_with_mark(pipe, r.doc, r.start, r.end, r.quote)}</div></div>"
            )
        return "".join(cards)
    return '<div class="empty">No passages.</div>'


def status_line(pipe: Pipeline, answer: Answer | None = None) -> str:
    s = pipe.status()
    base = f"Index: {s['documents']} document{'s' * (s['documents'] != 1)}, {s['sentences']} sentences"
    if answer is not None:
        base += f" · answered in {answer.timings_ms.get('total', 0):.0f} ms · mode {answer.mode}"
    return base


def build_app(pipe: Pipeline) -> Any:
    """The Gradio Blocks app over ``pipe``."""
    import gradio as gr

    modes = ["extractive"]
    try:
        import llama_index.llms.openai_like  # noqa: F401  (the optional [llm] extra)

        modes.append("llm")
    except ImportError:
        pass

    def respond(message: str, chat: list[dict[str, Any]], turns: list[dict[str, Any]], top_k: float, mode: str) -> Iterator[tuple]:
        chat = list(chat or [])
        turns = list(turns or [])
        try:
            stream = pipe.stream(message, history=turns, top_k=int(top_k), mode=mode)
            first = next(stream)
        except InvalidQuestion as exc:
            gr.Warning(f"Please ask a question: {exc}.")
            yield chat, turns, gr.update(), gr.update(), gr.update()
            return
        chat.append({"role": "user", "content": escape(message)})
        chat.append({"role": "assistant", "content": ""})
        text = ""
        answer: Answer | None = None
        for piece in [first, *stream]:
            if isinstance(piece, Answer):
                answer = piece
                break
            text += piece
            chat[-1] = {"role": "assistant", "content": render_answer_text(text, refused=False)}
            yield chat, turns, gr.update(), gr.update(), ""
            time.sleep(0.03)  # let the browser paint each verified sentence
        assert answer is not None
        chat[-1] = {"role": "assistant", "content": render_answer_text(answer.text, answer.refused)}
        turns.append(Turn.from_answer(answer).to_dict())
        yield chat, turns, render_sources(pipe, answer), status_line(pipe, answer), ""

    def clear() -> tuple:
        return [], [], render_sources(pipe, None), status_line(pipe), ""

    def ask(question: str, history: list[str] | None = None) -> dict:
        """Answer a question about the corpus; history holds earlier questions, oldest first."""
        try:
            return pipe.ask(question, history=list(history or [])).to_dict()
        except InvalidQuestion as exc:
            # The caller's mistake, said to the caller: no traceback in the server's log.
            raise gr.Error(f"invalid question: {exc}", print_exception=False) from exc

    with gr.Blocks(title="Grounded chat", analytics_enabled=False) as app:
        gr.Markdown("## Ask the article\nEvery sentence of an answer is quoted from the article and cited; choose [n] to see it in place.")
        turns = gr.State([])
        with gr.Row():
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Chat", elem_id="chat", height=520, sanitize_html=True, render_markdown=True,
                    feedback_options=None, buttons=["copy"],
                )
                with gr.Row():
                    box = gr.Textbox(
                        placeholder="Ask about the article…", show_label=False, elem_id="question", scale=8,
                        max_length=pipe.config.answering.max_question_chars, submit_btn=False,
                    )
                    send = gr.Button("Ask", variant="primary", elem_id="ask-btn", scale=1, min_width=80)
                    clear_btn = gr.Button("Clear", elem_id="clear-btn", scale=1, min_width=80)
                gr.Examples(EXAMPLES, inputs=box, label="Examples")
                with gr.Accordion("Settings", open=False):
                    top_k = gr.Slider(3, 10, value=pipe.config.retrieval.top_k, step=1, label="Passages to retrieve (top-k)")
                    mode = gr.Radio(modes, value=modes[0], label="Answer mode")
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources = gr.HTML(render_sources(pipe, None), elem_id="sources")
        status = gr.Markdown(status_line(pipe), elem_id="status")

        outputs = [chatbot, turns, sources, status, box]
        inputs = [box, chatbot, turns, top_k, mode]
        send.click(respond, inputs, outputs, api_visibility="private")
        box.submit(respond, inputs, outputs, api_visibility="private")
        clear_btn.click(clear, None, outputs, api_visibility="private")
        gr.api(ask, api_name="ask")
    return app


def launch_kwargs() -> dict[str, Any]:
    """Theme and assets that keep the page offline (no Google Fonts, no CDN)."""
    import gradio as gr

    system = ["-apple-system", "BlinkMacSystemFont", "Segoe UI", "Helvetica", "Arial", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    theme = gr.themes.Default(font=system, font_mono=mono)
    return {"theme": theme, "css": CSS, "head": HEAD, "ssr_mode": False, "footer_links": ["api"]}

