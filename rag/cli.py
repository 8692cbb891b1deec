"""The ``rag`` command: index, ask, chat, eval, serve.

A thin adapter over :class:`rag.Pipeline`. It is the edge where environment
variables are read (``Config.from_env``). Heavy modules are imported inside the
commands so ``rag --help`` answers at once. Bad input exits with code 2 and a
one-line message, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

EXIT_BAD_INPUT = 2


class _Progress:
    """A tqdm bar fed by ``progress(done, total)`` callbacks (created on first call)."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit="vec", file=sys.stderr, leave=False)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _config(args: argparse.Namespace) -> Any:
    from .config import Config

    overrides: dict[str, Any] = {}
    if getattr(args, "corpus", None):
        overrides["corpus_dir"] = Path(args.corpus)
    if getattr(args, "home", None):
        overrides["home"] = Path(args.home)
    if getattr(args, "mode", None):
        overrides["mode"] = args.mode
    if getattr(args, "top_k", None):
        overrides["top_k"] = args.top_k
    if getattr(args, "refusal_threshold", None) is not None:
        overrides["refusal_threshold"] = args.refusal_threshold
    for name in ("llm_backend", "llm_base_url", "llm_model", "llm_gguf_path"):
        if getattr(args, name, None):
            overrides[name] = getattr(args, name)
    return Config.from_env(**overrides)


def _load(args: argparse.Namespace) -> Any:
    from .corpus import CorpusError
    from .pipeline import Pipeline

    progress = _Progress("indexing")
    try:
        pipe = Pipeline.load(_config(args), progress=progress)
    finally:
        progress.close()
    if not pipe.status()["documents"]:
        raise CorpusError(f"the corpus folder {pipe.config.index.corpus_dir} has no .txt or .md documents to answer from")
    return pipe


def cmd_index(args: argparse.Namespace) -> int:
    from .pipeline import Pipeline

    pipe = Pipeline(_config(args))
    progress = _Progress("embedding")
    try:
        report = pipe.index(rebuild=args.rebuild, progress=progress)
    finally:
        progress.close()
    for msg in report.repaired:
        print(f"repaired: {msg}", file=sys.stderr)
    if not report.documents:
        print(f"warning: {pipe.config.index.corpus_dir} has no .txt or .md documents", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.summary())
    return 0


def _answer_lines(answer: Any) -> str:
    """The answer's text; an answer of table rows (its header first) a row per line."""
    from .nlp import collapse

    if answer.signals.get("table_header") == 1 and len(answer.citations) > 1:
        return "\n".join(f"{collapse(c.quote)} [{c.n}]" for c in answer.citations)
    return answer.text


def _print_answer(answer: Any, as_json: bool) -> None:
    from .nlp import collapse, quote_marks

    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return
    if answer.answer_span is not None:
        # The answer phrase leads, in bold on a terminal (** ** when piped, as Markdown).
        bold = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("**", "**")
        print(f"{bold[0]}{collapse(answer.answer_span.text)}{bold[1]} [{answer.answer_n}]\n")
    print(_answer_lines(answer))
    for note in answer.notes:
        print(f"({note})")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"  [{c.n}] {c.doc} — {c.section or '(no section)'} [{c.start}:{c.end}]")
            # A quote over several lines keeps its lines, each under the first.
            opening, closing = quote_marks(c.quote)
            print(f"      {opening}" + c.quote.replace("\n", "\n" + " " * (6 + len(opening))) + closing)
    elif answer.related:
        print("\nClosest passages (related, not cited):")
        for r in answer.related:
            opening, closing = quote_marks(r.quote)
            print(f"  - {r.doc} — {r.section or '(no section)'}: {opening}{r.quote}{closing}")
    if answer.rewritten_query and answer.rewritten_query != answer.question:
        print(f"\n(searched for: {answer.rewritten_query})")


def cmd_ask(args: argparse.Namespace) -> int:
    from .pipeline import clean_question

    # Validate before loading anything heavy, so bad input fails fast.
    clean_question(args.question, 10**9)
    pipe = _load(args)
    answer = pipe.ask(args.question, history=args.history or [], top_k=args.top_k)
    limit = pipe.config.answering.max_question_chars
    if len(" ".join(args.question.split())) > limit:
        part = "its last question was" if "?" in args.question else f"its last {limit:,} characters were"
        print(f"note: the question is over {limit:,} characters; only {part} asked: "
              f"{answer.question[:80]!r}", file=sys.stderr)
    _print_answer(answer, args.json)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from .chat import Turn
    from .pipeline import InvalidQuestion

    pipe = _load(args)
    history: list[Turn] = []
    if hasattr(sys.stdin, "reconfigure"):
        # Bytes that are not UTF-8 must not end the session with a traceback; as lone
        # surrogates they are dropped by clean_question like any control character.
        sys.stdin.reconfigure(errors="surrogateescape")
    interactive = sys.stdin.isatty()
    help_text = "Ask about the corpus. /reset forgets the conversation, /quit, quit or Ctrl-D leaves, /help shows this."
    if interactive:
        print(help_text)
    while True:
        try:
            line = input("you> " if interactive else "")
        except EOFError:
            break
        except KeyboardInterrupt:
            print()
            break
        cmd = line.strip()
        # "quit" and "exit" alone are what people type to leave, not questions.
        if cmd.lower() in ("/quit", "/exit", "quit", "exit", "quit()", "exit()", ":q"):
            break
        if cmd == "/reset":
            history.clear()
            print("(conversation cleared)")
            continue
        if cmd in ("/help", "/?"):
            print(help_text)
            continue
        if re.fullmatch(r"/[A-Za-z]+", cmd):
            # "/hepl": a mistyped command, not a question about the documents
            print(f"error: unknown command {cmd}; {help_text}", file=sys.stderr)
            continue
        if not cmd:
            continue
        try:
            answer = pipe.ask(line, history=history)
        except InvalidQuestion as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        if not interactive and not args.json:
            # Piped questions are not on the screen: say which one this answers (as asked,
            # cleaned of control characters and undecodable bytes; JSON carries it itself).
            print(f"> {answer.question}")
        _print_answer(answer, args.json)
        print()
        history.append(Turn.from_answer(answer))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from evals.runner import run_eval

    thresholds = Path(args.thresholds) if args.thresholds else None
    dataset = Path(args.dataset) if args.dataset else None
    splits = tuple(args.split) if args.split else ("dev", "test")
    return run_eval(_config(args), dataset=dataset, out=Path(args.out), thresholds_path=thresholds, splits=splits,
                    sample=args.sample, seed=args.seed)


def cmd_serve(args: argparse.Namespace) -> int:
    from ui.server import serve

    if args.workers < 1 or args.chat_concurrency < 1:
        print("error: --workers and --chat-concurrency must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    return serve(
        _config(args), host=args.host, port=args.port, share=args.share,
        workers=args.workers, chat_concurrency=args.chat_concurrency, allow_upload=args.allow_upload,
    )


def _positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse turns the error into exit code 2)."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def _port(value: str) -> int:
    """An argparse type: a TCP port a server can be told to listen on (1-65535); the
    server would otherwise pick another and print the one it was given."""
    n = _positive_int(value)
    if n > 65535:
        raise argparse.ArgumentTypeError(f"a port is at most 65535, got {n}")
    return n


def _probability(value: str) -> float:
    """An argparse type: a number from 0 to 1."""
    try:
        p = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= p <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {p:g}")
    return p


def answer_options(p: argparse.ArgumentParser) -> None:
    """--mode and the LLM settings, shared by every command that answers."""
    p.add_argument("--mode", choices=["extractive", "llm"], help="answerer (default extractive or RAG_MODE)")
    p.add_argument("--refusal-threshold", dest="refusal_threshold", type=_probability, metavar="P",
                   help="refuse below this answerability (0-1; default the one fitted on dev, or RAG_REFUSAL_THRESHOLD)")
    g = p.add_argument_group("LLM mode (needs the [llm] extra)")
    g.add_argument("--llm-backend", dest="llm_backend", choices=["openai-like", "llama-cpp"])
    g.add_argument("--llm-base-url", dest="llm_base_url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1")
    g.add_argument("--llm-model", dest="llm_model")
    g.add_argument("--llm-gguf", dest="llm_gguf_path", help="GGUF file for the llama-cpp backend")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rag",
        description="Grounded question answering over a corpus; every answer cites its exact words.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        # Each command's parser is kept with its arguments, so that an option it does
        # not know is reported with its usage, not the top-level one.
        p = sub.add_parser(name, **kwargs)
        p.set_defaults(parser=p)
        return p

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--corpus", help="corpus folder (default ./corpus or RAG_CORPUS)")
        p.add_argument("--home", help="index folder (default ./.rag or RAG_HOME)")

    p = command("index", help="index the corpus (incremental)")
    common(p)
    p.add_argument("--rebuild", action="store_true", help="drop the index and start clean")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_index)

    p = command("ask", help="answer one question")
    common(p)
    p.add_argument("question")
    p.add_argument("--history", action="append", metavar="QUESTION", help="an earlier question (repeatable)")
    p.add_argument("--json", action="store_true", help="print Answer.to_dict() as JSON")
    p.add_argument("--top-k", type=_positive_int, dest="top_k", help="passages to retrieve (1 or more)")
    answer_options(p)
    p.set_defaults(func=cmd_ask)

    p = command("chat", help="interactive chat with follow-up questions")
    common(p)
    p.add_argument("--json", action="store_true")
    answer_options(p)
    p.set_defaults(func=cmd_chat)

    p = command("eval", help="run the evaluation suite (a CI gate)")
    common(p)
    p.add_argument("--split", action="append", choices=["dev", "test", "holdout"],
                   help="which split (default dev and test; the gate is on test; holdout: a second held-out "
                        "set, reported only), each over evals/corpora/<split>")
    p.add_argument("--dataset", help="one dataset file against --corpus instead of the splits")
    p.add_argument("--out", default="evals/out")
    p.add_argument("--thresholds", help="gate file (default evals/thresholds.toml)")
    p.add_argument("--sample", type=_positive_int, metavar="N",
                   help="only N single-turn items of each split, drawn at random (measured, not gated)")
    p.add_argument("--seed", type=int, default=0, help="the draw of --sample")
    answer_options(p)
    p.set_defaults(func=cmd_eval)

    p = command("serve", help="start the web chat and the JSON API (/api, docs at /docs)")
    common(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=_port, default=7860, help="1-65535 (default 7860)")
    p.add_argument("--workers", type=_positive_int, default=1,
                   help="server processes sharing the port, each answering from the same index (default 1)")
    p.add_argument("--chat-concurrency", type=_positive_int, dest="chat_concurrency", default=2,
                   help="chat answers Gradio's queue runs at once per process (default 2, measured)")
    p.add_argument("--share", action="store_true",
                   help="ask Gradio for a public link to the chat (off by default; the JSON API is not shared)")
    p.add_argument("--allow-upload", dest="allow_upload", action="store_true",
                   help="let visitors add documents even when --host is not loopback (on by default only for loopback)")
    answer_options(p)
    p.set_defaults(func=cmd_serve)
    return parser


def offline_env() -> None:
    """The edge's promise that nothing reaches a model hub: huggingface_hub and
    transformers read these once, when first imported, so they are set here, before
    any model code loads (the loaders also pass ``local_files_only``)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main(argv: Sequence[str] | None = None) -> int:
    offline_env()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    # Third-party chatter (bm25s's progress, Chroma telemetry notices) is not ours to print.
    for noisy in ("bm25s", "chromadb", "httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from .config import ConfigError
    from .corpus import CorpusError
    from .llm import LLMError
    from .store import StoreError
    from .types import InvalidQuestion

    handler: Callable[[argparse.Namespace], int] = args.func
    try:
        return handler(args)
    except (InvalidQuestion, CorpusError, StoreError, LLMError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `rag ask ... | head`: the reader left; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
