"""One server: the JSON API (ui/api.py) and the Gradio chat (ui/app.py) on one FastAPI app.

    rag serve [--host 127.0.0.1] [--port 7860] [--workers N]      # or: python -m ui

``/`` is the chat, ``/api/...`` the JSON API, ``/docs`` its OpenAPI page, and
``/gradio_api/...`` the chat's own API (``gradio_client``). ``--workers N`` runs N
processes listening on one port (SO_REUSEPORT), each with its own :class:`rag.Pipeline` over the
same index, opened read-only: a ``rag index`` run elsewhere is picked up by each
worker when it commits, as by a single process.

    >>> from ui.server import create_app
    >>> app = create_app(Pipeline.load(Config()))      # any ASGI server can run it
"""

from __future__ import annotations

import inspect
import logging
import multiprocessing
import os
import signal
import socket
import sys
from typing import Any

from rag import Config, Pipeline

log = logging.getLogger(__name__)

# How many chat events (answers) Gradio's queue runs at once in one process: as for the
# API, two let one answer's onnxruntime/numpy work (which releases the GIL) overlap the
# other's Python; more only interleave the same CPU and lengthen every answer
# (benchmarks/RESULTS.md, "Serving").
CHAT_CONCURRENCY = 2
# How many JSON API answers one process computes at once; the rest wait in order.
# Measured at 32 and 128 sessions, one worker (RESULTS.md, "Serving"): 2 at a time gave
# 48-60 answers/s and p95 1.2x p50; FastAPI's default (40 threads fighting over the GIL)
# gave 29-64 answers/s, p95 2x p50 and p99 up to 4x.
API_CONCURRENCY: int | None = 2


def create_app(
    pipe: Pipeline, *, chat_concurrency: int = CHAT_CONCURRENCY, api_concurrency: int | None = API_CONCURRENCY,
    uploads: bool = False,
) -> Any:
    """The FastAPI app: ``/api`` routes, ``/docs``, and the chat mounted at ``/`` (with
    document uploads when ``uploads``)."""
    import gradio as gr

    # FastAPI's own /docs page loads Swagger UI from a CDN, which an offline machine
    # cannot reach (a blank page); fastapi-offline serves the same files from the package.
    from fastapi_offline import FastAPIOffline

    from . import api
    from .app import build_app, launch_kwargs

    app = FastAPIOffline(
        title="rag: grounded answers with citations",
        summary="Every answer sentence is quoted from the corpus and cited: document[start:end] == quote.",
        version="0.1.0",
        docs_url="/docs",
        redoc_url=None,
    )
    app.include_router(api.router(pipe, api_concurrency))
    api.install_error_handlers(app)
    blocks = build_app(pipe, uploads=uploads).queue(default_concurrency_limit=chat_concurrency)
    # launch_kwargs() is written for Blocks.launch: pass on what mounting accepts too.
    accepted = inspect.signature(gr.mount_gradio_app).parameters
    kwargs = {k: v for k, v in launch_kwargs().items() if k in accepted}
    # Mounted last: "/" catches every path the routes above did not claim.
    return gr.mount_gradio_app(app, blocks, path="/", **kwargs)


def _pipeline(config: Config) -> Pipeline:
    pipe = Pipeline(config)
    pipe.ask("warm up")  # load the model before the first user waits for it
    return pipe


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket of its own for one worker. SO_REUSEPORT: every worker listens on
    the same port and the kernel spreads new connections evenly over them (one socket
    shared by all left most keep-alive connections with one worker: measured p50 60 ms
    but p95 2 s at 32 chat sessions, RESULTS.md)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    return sock


def _run(config: Config, host: str, port: int, chat_concurrency: int, uploads: bool = False) -> None:
    """One worker process: a pipeline, the app, uvicorn on its own socket of host:port."""
    import uvicorn

    from rag.cli import offline_env

    offline_env()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    app = create_app(_pipeline(config), chat_concurrency=chat_concurrency, uploads=uploads)
    sock = _listen(host, port)  # only once warm: no connection waits for a loading worker
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    server.run(sockets=[sock])


def serve(
    config: Config | None = None,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    workers: int = 1,
    chat_concurrency: int = CHAT_CONCURRENCY,
    allow_upload: bool = False,
) -> int:
    """Index if needed, then serve the chat and the JSON API until interrupted.

    Uploads are on when the server listens on loopback only (and not shared), or when
    ``allow_upload`` says so.
    """
    from .app import uploads_allowed

    from rag.cli import offline_env

    offline_env()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    config = config or Config.from_env()
    # Index here, once, before any worker opens the index for reading.
    pipe = Pipeline.load(config)
    if share:
        return _share(pipe, host, port, chat_concurrency)
    if workers <= 1:
        pipe.ask("warm up")
        import uvicorn

        app = create_app(pipe, chat_concurrency=chat_concurrency, uploads=uploads_allowed(host, share, allow_upload))
        print(f"Serving on http://{host}:{port}/ (chat), /api (JSON), /docs (API docs)", flush=True)
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return 0
    del pipe  # each worker opens its own
    return _serve_workers(config, host, port, workers, chat_concurrency, uploads_allowed(host, share, allow_upload))


def _serve_workers(config: Config, host: str, port: int, workers: int, chat_concurrency: int, uploads: bool) -> int:
    """N worker processes listening on one port; stops them all on SIGINT/SIGTERM."""
    _listen(host, port).close()  # the port is free (or say so now, not from N workers)
    # spawn, not fork: chromadb, onnxruntime and the tokenizers' threads do not survive a fork.
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_run, args=(config, host, port, chat_concurrency, uploads), name=f"rag-serve-{i}")
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    print(f"Serving on http://{host}:{port}/ with {workers} worker processes", flush=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        for p in procs:
            p.join()
            code = code or (p.exitcode or 0)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # uvicorn shuts down gracefully on SIGTERM
        for p in procs:
            p.join(timeout=20)
            if p.is_alive():
                p.kill()
    return code


def _share(pipe: Pipeline, host: str, port: int, chat_concurrency: int) -> int:
    """``--share``: Gradio's own launcher and its public link, for the chat only."""
    from .app import build_app, launch_kwargs

    print("--share: the chat only, through Gradio's launcher (the JSON API is served without --share)", file=sys.stderr)
    pipe.ask("warm up")
    build_app(pipe).queue(default_concurrency_limit=chat_concurrency).launch(
        server_name=host, server_port=port, share=True, show_error=True, **launch_kwargs()
    )
    return 0
