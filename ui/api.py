"""The JSON HTTP API for programs, beside the web chat on the same server.

A thin adapter over :class:`rag.Pipeline`: the routes validate the request, call
``Pipeline.ask`` / ``stream`` / ``documents`` / ``status`` and return what they give.

    POST /api/ask          {"question": "...", "history": [...]}  -> Answer.to_dict()
    POST /api/ask/stream   the same body; server-sent events: one ``sentence`` event per
                           cited sentence, then one ``answer`` event with Answer.to_dict()
    GET  /api/health       {"status": "ok", "documents": n, "sentences": n}
    GET  /api/documents    [{"id", "title", "characters"}, ...]

Bad input (an empty, oversized or non-text question, a malformed history, a body that is
not JSON) is answered ``400 {"error": "<what is wrong>"}`` with the CLI's messages; no
response ever carries a traceback. OpenAPI docs are served at ``/docs``.

    >>> import httpx
    >>> httpx.post("http://127.0.0.1:7860/api/ask", json={"question": "Who runs it?"}).json()["answer"]
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, Iterator, Literal, Mapping, Optional, TypeVar, Union

import anyio
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel, Field, StrictInt, field_validator

from rag import InvalidQuestion, Pipeline
from rag.chat import parse_history
from rag.llm import LLMError
from rag.types import Answer, AnswerDict, json_kind

log = logging.getLogger(__name__)
T = TypeVar("T")

# --- request and response models -------------------------------------------------------


class AskRequest(BaseModel):
    """A question, and the conversation so far (oldest first)."""

    question: str = Field(description="The question, as a user typed it.", examples=["When did it open?"])
    history: Optional[list[Union[str, dict[str, Any]]]] = Field(
        default=None,
        description=(
            "Earlier turns, oldest first: earlier questions (text), turns as the previous answer's "
            '`{"question", "answer", "cited"}`, or chat messages `{"role": "user"|"assistant", "content"}`.'
        ),
        examples=[["Who accompanied her on the tour?"]],
    )
    # Strict: JSON's true is not the number 1.
    top_k: Optional[StrictInt] = Field(default=None, ge=1, le=50, description="Passages to retrieve (default: the server's setting).")
    mode: Optional[Literal["extractive", "llm"]] = Field(default=None, description="Answerer (default: the server's mode).")

    # The CLI's messages for the CLI's mistakes: validated by the same functions, before
    # pydantic's generic type errors ("Input should be a valid string") can speak.
    @field_validator("question", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"the question must be text, not {json_kind(value)}")
        return value

    @field_validator("history", mode="before")
    @classmethod
    def _history(cls, value: Any) -> Any:
        try:
            parse_history(value)
        except InvalidQuestion as exc:
            raise ValueError(str(exc)) from None
        return value


class SentenceEvent(BaseModel):
    """The data of one ``sentence`` event of ``/api/ask/stream``: a cited sentence, as shown."""

    text: str


class ErrorOut(BaseModel):
    """What a 4xx/5xx response carries: one line a user can act on."""

    error: str


class HealthOut(BaseModel):
    status: Literal["ok"]
    documents: int
    sentences: int
    worker: int = Field(description="Id of the server process that answered (one of `rag serve --workers N`).")


class DocumentOut(BaseModel):
    id: str
    title: str
    characters: int


# --- routes ------------------------------------------------------------------------------

BAD_INPUT: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut, "description": "The question or its history cannot be asked; `error` says why."}}


def router(pipe: Pipeline, concurrency: int | None = None) -> APIRouter:
    """The ``/api`` routes over ``pipe``. Add :func:`install_error_handlers` to the app too.

    ``concurrency``: answers computed at once by this process (the rest wait their turn
    in order); None: as many as FastAPI's thread pool has threads (40).
    """
    api = APIRouter(prefix="/api", tags=["api"])
    max_chars = pipe.config.answering.max_question_chars
    limiter = anyio.CapacityLimiter(concurrency) if concurrency else None

    async def answered(fn: Callable[[], T]) -> T:
        # In a worker thread, so the event loop keeps accepting while answers are
        # computed (Pipeline is safe to share between threads).
        return await anyio.to_thread.run_sync(fn, limiter=limiter)

    def _checked(req: AskRequest) -> AskRequest:
        # The chat's textbox stops at this length; a program is told rather than silently cut.
        if len(req.question) > max_chars:
            raise InvalidQuestion(f"the question is longer than {max_chars} characters")
        return req

    @api.post("/ask", response_model=AnswerDict, responses=BAD_INPUT, summary="Answer a question with citations")
    async def ask(req: AskRequest) -> AnswerDict:
        """Answer ``question`` (a follow-up of ``history``), every sentence cited, or refuse."""
        req = _checked(req)
        answer = await answered(lambda: pipe.ask(req.question, history=req.history, top_k=req.top_k, mode=req.mode))
        return answer.to_dict()

    @api.post(
        "/ask/stream",
        # The response is returned whole (not yielded) so that a bad question is a 400
        # before any event is sent; the 200 is described here for the docs.
        responses={
            **BAD_INPUT,
            200: {
                "description": "`event: sentence` with `{\"text\"}` per cited sentence, then `event: answer` with Answer.to_dict().",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
        },
        summary="Answer a question, one cited sentence per server-sent event",
    )
    async def ask_stream(req: AskRequest) -> EventSourceResponse:
        req = _checked(req)
        # Answered before the response starts: a bad question is a 400, not a broken stream.
        pieces = await answered(lambda: list(pipe.stream(req.question, history=req.history, top_k=req.top_k, mode=req.mode)))

        def events() -> Iterator[str]:
            for piece in pieces:
                if isinstance(piece, Answer):
                    yield _event("answer", piece.to_dict())
                else:
                    yield _event("sentence", {"text": piece})

        return EventSourceResponse(events())

    @api.api_route("/ask", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    @api.api_route("/ask/stream", methods=["GET", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def wrong_method(request: Request) -> JSONResponse:
        # Without these the chat mounted at "/" answers a GET with its own 404 page.
        return JSONResponse({"error": f"{request.url.path} takes POST with a JSON body such as {{\"question\": \"...\"}}"},
                            status_code=405, headers={"Allow": "POST"})

    @api.get("/health", response_model=HealthOut, summary="Is the server up, and over how big an index")
    def health() -> dict[str, Any]:
        s = pipe.status()
        return {"status": "ok", "documents": s["documents"], "sentences": s["sentences"], "worker": os.getpid()}

    @api.get("/documents", response_model=list[DocumentOut], summary="The indexed documents")
    def documents() -> list[dict[str, Any]]:
        return pipe.documents()

    @api.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    def no_such_endpoint(request: Request, rest: str) -> JSONResponse:
        # Last of the routes: an unknown /api path is the API's 404, in its own {"error"} shape.
        return JSONResponse({"error": f"no such endpoint: {request.url.path}; the API has POST /api/ask, "
                                      "POST /api/ask/stream, GET /api/health and GET /api/documents (see /docs)"},
                            status_code=404)

    return api


def _event(name: str, data: Mapping[str, Any]) -> str:
    # json.dumps escapes newlines, so the data is always one `data:` line.
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def install_error_handlers(app: FastAPI) -> None:
    """400 ``{"error"}`` for bad input (and so documented at /docs, not 422), 500
    ``{"error"}`` without a traceback for our bugs."""

    async def invalid_question(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        body_error = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors())
        sent = request.headers.get("content-length", "0") not in ("", "0")
        if body_error and sent and "json" not in request.headers.get("content-type", "").lower():
            # curl -d '{"question": ...}' sends form encoding: the JSON is fine, the header is not.
            return JSONResponse({"error": "send the body as JSON, with the header Content-Type: application/json"},
                                status_code=400)
        return JSONResponse({"error": _validation_message(exc)}, status_code=400)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("error answering %s %s", request.method, request.url.path)  # the log keeps the detail
        return JSONResponse({"error": "internal error; the server log has the details"}, status_code=500)

    async def llm_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The LLM answerer was asked for but is not configured or not reachable: the
        # message says which setting or server; the extractive mode still works.
        return JSONResponse({"error": str(exc)}, status_code=503)

    # Bad input is a 400 (above), never FastAPI's 422: the schema at /docs says so too.
    schema = app.openapi

    def openapi() -> dict[str, Any]:
        out = schema()  # built once and kept by FastAPI; dropping twice is harmless
        for operations in out.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation.get("responses", {}).pop("422", None)
        return out

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it
    app.add_exception_handler(InvalidQuestion, invalid_question)
    app.add_exception_handler(LLMError, llm_unavailable)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)


def _validation_message(exc: RequestValidationError) -> str:
    """One line from pydantic's errors: ours verbatim, the others prefixed with their field."""
    parts = []
    for err in exc.errors():
        kind, msg = err.get("type", ""), str(err.get("msg", "invalid"))
        loc = [str(x) for x in err.get("loc", ()) if x != "body"]
        if kind == "json_invalid":
            parts.append("the request body is not valid JSON")
        elif kind == "missing" and not loc:
            parts.append('the request needs a JSON body such as {"question": "..."}')
        elif not loc and kind in ("model_attributes_type", "dict_type", "model_type"):
            parts.append('the request body must be a JSON object such as {"question": "..."}')
        elif kind == "value_error":
            parts.append(msg.removeprefix("Value error, "))
        elif kind == "missing":
            parts.append(f"{'.'.join(loc)} is required")
        else:
            parts.append(f"{'.'.join(loc) or 'body'}: {msg}")
    return "; ".join(dict.fromkeys(parts)) or "invalid request"
