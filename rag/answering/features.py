"""General features of a (question, candidate sentence) pair, for the learned selector and
the answerability model.

Every feature is document-independent: retrieval's own scores (dense cosine, window
cosine, BM25, fused rank), late interaction between the question's and the sentence's
MiniLM token vectors (ColBERT-style MaxSim: "jail" finds "prison", "house" finds
"hold"), question-term coverage after stemming (plain and IDF-weighted, in the
sentence and with its neighbours), whether the sentence holds the kind of value the
question asks for (:mod:`.detect`), how much it says beyond the question, and whether
names and numbers the question writes appear near it at all.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable, Sequence

import numpy as np

from .. import nlp
from ..table import SentenceTable
from ..types import Passage
from . import detect
from .question import Question

TokenVectors = tuple[list[str], np.ndarray]

#: Per candidate, in this order (the saved models name them; a change needs a refit).
SELECTION_FEATURES = (
    "fused", "dense", "window", "sparse", "rrank",
    "maxsim", "maxsim_gap", "cover", "cover_gap", "idf_cover", "cover_window",
    "type_ok", "type_ok_window", "typed", "type_x_cover",
    "novelty", "length", "names_here", "names_near", "maxsim_min", "missing_idf",
    "focus_sim", "focus_window", "ask_gain",
    "dense_gap", "window_gap", "dense_top", "window_top",
)
#: Per question (its best candidate and the set), in this order.
ANSWERABILITY_FEATURES = (
    "p_best", "p_margin", "dense", "window", "maxsim", "cover", "idf_cover", "cover_window",
    "type_ok", "typed", "names_near", "names_corpus", "numbers_near", "terms_in_corpus", "novelty",
    "maxsim_min", "missing_idf", "missing_idf_window", "focus_sim", "focus_window", "has_focus", "ask_gain",
    "dense_gap", "window_gap", "dense_top", "window_top",
)


def _content_tokens(tokens: list[str]) -> list[int]:
    """Indexes of word pieces that carry content (not stop words or punctuation)."""
    stop = nlp.stopwords()
    return [i for i, t in enumerate(tokens) if any(c.isalnum() for c in t) and t.lstrip("#") not in stop]


def _focus_tokens(q_tokens: list[str], focus: Sequence[str]) -> list[int]:
    """The question's word pieces that begin each focus word."""
    out = []
    for word in focus:
        at = next((i for i, t in enumerate(q_tokens) if t == word or (len(t) >= 3 and word.startswith(t))), None)
        if at is not None:
            out.append(at)
    return out


def focus_sim(question: TokenVectors, sentence: TokenVectors, focus: Sequence[str]) -> float:
    """The least, over the focus words, of their best cosine in the sentence (1 with no focus)."""
    keep = _focus_tokens(question[0], focus)
    if not keep:
        return 1.0
    if not len(sentence[1]):
        return 0.0
    return float((question[1][keep] @ sentence[1].T).max(axis=1).min())


def unknown_words(q_tokens: Sequence[str]) -> bool:
    """Whether every content word of a question is split by the embedding model's
    tokenizer into several word pieces, i.e. none is a word its vocabulary knows
    ("asdkjh qwpoe" -> "as ##d ##k ##j ##h", "q ##w ##po ##e"). Typed words are mostly
    in it; keyboard mash and random strings are not.

    >>> unknown_words(["as", "##d", "##k", "q", "##w"]), unknown_words(["as", "##d", "prison"])
    (True, False)
    """
    stop = nlp.stopwords()
    words: list[list[str]] = []
    for t in q_tokens:
        if t.startswith("##") and words:
            words[-1].append(t)
        else:
            words.append([t])
    content = [w for w in words if w[0].isalpha() and "".join(p.lstrip("#") for p in w) not in stop]
    return bool(content) and all(len(w) > 1 for w in content)


def pooled(t: TokenVectors) -> np.ndarray:
    """The mean of a text's token vectors, normalised: a sentence vector from its tokens."""
    if not len(t[1]):
        return np.zeros(t[1].shape[1] if t[1].ndim == 2 else 1, dtype=np.float32)
    v = t[1].mean(axis=0)
    return v / max(float(np.linalg.norm(v)), 1e-12)


def subject_of(q: Question) -> str:
    """The question without what it asks for: its names, else its words but the focus.
    A sentence that matches the question no better than this only mentions the subject."""
    if q.names:
        return " ".join(q.names)
    focus = {nlp.stem(w) for w in q.focus}
    rest = [t for t in nlp.content_terms(q.text) if nlp.stem(t) not in focus]
    return " ".join(rest) or q.text


def maxsim(question: TokenVectors, sentence: TokenVectors) -> tuple[float, float]:
    """Over the question's content word pieces, the mean and the least of their best
    cosine in the sentence: a question about something the sentence never touches
    has one word nothing matches ("age", "salary"), however well the rest match."""
    q_tokens, q_vecs = question
    s_tokens, s_vecs = sentence
    keep = _content_tokens(q_tokens) or list(range(len(q_tokens)))
    if not keep or not len(s_vecs):
        return 0.0, 0.0
    best = (q_vecs[keep] @ s_vecs.T).max(axis=1)
    return float(best.mean()), float(best.min())


# Token vectors are computed for at most this many characters of a text: the cost of a
# cold answer grows with the square of a sentence's length, and a long legal sentence
# states its subject early (measured on dev: the same selector accuracy at 400 as at 2000).
TOKEN_CHARS = 400


class TokenCache:
    """Token vectors of texts, computed once (the same corpus sentences come back question after question)."""

    def __init__(self, embed_tokens: Callable[[Sequence[str]], list[TokenVectors]] | None, limit: int = 50_000) -> None:
        self.embed_tokens = embed_tokens
        self.limit = limit
        self._cache: dict[str, TokenVectors] = {}
        self._lock = threading.Lock()

    def get(self, texts: Sequence[str]) -> list[TokenVectors] | None:
        if self.embed_tokens is None:
            return None
        with self._lock:
            cache = self._cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        fresh = dict(zip(missing, self.embed_tokens([t[:TOKEN_CHARS] for t in missing]))) if missing else {}
        if fresh:
            with self._lock:
                if len(self._cache) > self.limit:  # bounded: a long-running server
                    self._cache = {}
                self._cache.update(fresh)
        return [fresh[t] if t in fresh else cache[t] for t in texts]


def word_similarity(tokens: TokenCache, a: Sequence[str], b: Sequence[str]) -> float | None:
    """The highest cosine between a word of ``a`` and a word of ``b``, each word read
    alone as the mean of its MiniLM word-piece vectors ("people" and "workers" are
    near, "chickens" and "weeks" are not); None without token vectors.

    >>> word_similarity(TokenCache(None), ["people"], ["workers"]) is None
    True
    """
    words = list(dict.fromkeys([*a, *b]))
    got = tokens.get(words) if words else None
    if not got or not a or not b:
        return None
    unit = {}
    for w, (_, vecs) in zip(words, got):
        v = np.asarray(vecs, dtype=np.float32).mean(axis=0) if len(vecs) else np.zeros(1, dtype=np.float32)
        n = float(np.linalg.norm(v))
        unit[w] = v / n if n else v
    return max(float(unit[x] @ unit[y]) if unit[x].shape == unit[y].shape else 0.0 for x in a for y in b)


class CorpusStats:
    """Document frequencies of stems over the table's sentences (for IDF), once per table."""

    def __init__(self, table: SentenceTable) -> None:
        df: dict[str, int] = {}
        for rows in table.by_doc.values():
            for r in rows:
                for s in nlp.stems(table.text(r)):
                    df[s] = df.get(s, 0) + 1
        self.df = df
        self.n = max(1, len(table))

    def idf(self, stem: str) -> float:
        return math.log((self.n + 1) / (self.df.get(stem, 0) + 0.5))


def read_as(p: Passage, table: SentenceTable) -> str:
    """The text a candidate's words are compared in: the sentence itself, a table row
    under its header line (a row says "09:30 | MV Ada", its header that the cell
    is the "Vessel" a question asks for as the "boat"), or an FAQ's answer under the
    question its paragraph opens with ("Do you deliver?" / "Not at the moment."):
    the answer often repeats none of the question's words."""
    head = table.header_of(p.row)
    if head is not None:
        return table.text(head) + "\n" + p.text
    opening = table.paragraph_opening(p.row)
    if opening.id != p.row.id and nlp.asks(table.text(opening)):
        return table.text(opening) + "\n" + p.text
    return p.text


def window_text(p: Passage, table: SentenceTable) -> str:
    """The sentence with its paragraph neighbours."""
    rows = [*table.neighbours(p.row), p.row]
    rows.sort(key=lambda r: r.start)
    return " ".join(table.text(r) for r in rows)


def _share(terms: Sequence[str], have: frozenset[str]) -> float:
    return sum(t in have for t in terms) / len(terms) if terms else 0.0


def _names_share(names: Sequence[str], text: str) -> float:
    """Share of the question's names whose every word appears in ``text`` (1 when it names none)."""
    if not names:
        return 1.0
    low = set(nlp.tokens(text))
    return sum(all(w in low for w in nlp.tokens(n)) for n in names) / len(names)


def _token_features(
    q: Question, question: TokenVectors, subject: TokenVectors, sentences: Sequence[TokenVectors]
) -> tuple[list[tuple[float, float]], list[float], list[float]]:
    """Per sentence: :func:`maxsim`, :func:`focus_sim` and the ask gain (how much closer
    its pooled vector is to the question's than to the bare subject's), computed with
    one matrix product over all sentences' tokens instead of one per sentence (this is
    most of an answer's own time)."""
    lengths = [len(t[1]) for t in sentences]
    if not sentences or not sum(lengths) or not len(question[0]):
        return [maxsim(question, t) for t in sentences], [focus_sim(question, t, q.focus) for t in sentences], [0.0] * len(sentences)
    q_tokens, q_vecs = question
    keep = _content_tokens(q_tokens) or list(range(len(q_tokens)))
    focus = _focus_tokens(q_tokens, q.focus)
    rows = sorted(set(keep) | set(focus))
    at = {r: i for i, r in enumerate(rows)}
    all_vecs = np.concatenate([t[1] for t in sentences if len(t[1])])
    sim = q_vecs[rows] @ all_vecs.T  # (question tokens, all sentence tokens)
    starts = np.cumsum([0] + [n for n in lengths if n])[:-1]
    best = np.maximum.reduceat(sim, starts, axis=1)  # (question tokens, non-empty sentences)
    qv, sv = pooled(question), pooled(subject)
    sims, fsims, gains = [], [], []
    j = 0
    for t, n in zip(sentences, lengths):
        if not n:
            sims.append((0.0, 0.0))
            fsims.append(0.0 if focus else 1.0)
            gains.append(0.0)
            continue
        b = best[:, j]
        j += 1
        k = b[[at[r] for r in keep]]
        sims.append((float(k.mean()), float(k.min())))
        fsims.append(float(b[[at[r] for r in focus]].min()) if focus else 1.0)
        pv = pooled(t)
        gains.append(float(pv @ qv - pv @ sv))
    return sims, fsims, gains


def selection_features(
    q: Question,
    passages: Sequence[Passage],
    table: SentenceTable,
    stats: CorpusStats,
    tokens: list[TokenVectors] | None,
) -> np.ndarray:
    """One row of :data:`SELECTION_FEATURES` per passage; ``tokens`` = [question, subject, *passages] or None."""
    if not passages:
        return np.zeros((0, len(SELECTION_FEATURES)), dtype=np.float32)
    max_sparse = max((p.sparse for p in passages), default=0.0) or 1.0
    if tokens:
        sims, fsims, gains = _token_features(q, tokens[0], tokens[1], tokens[2:])
    else:
        sims, fsims, gains = [(0.0, 0.0)] * len(passages), [1.0] * len(passages), [0.0] * len(passages)
    focus_stems = [nlp.stem(w) for w in q.focus]
    max_idf = max((stats.idf(t) for t in q.terms), default=1.0) or 1.0
    idf_total = sum(stats.idf(t) for t in q.terms) or 1.0
    typed = float(q.expects in ("number", "date", "person", "place", "reason"))
    rows: list[list[float]] = []
    covers = []
    for i, p in enumerate(passages):
        stems = nlp.stems(p.text)
        around = window_text(p, table)
        cover = _share(q.terms, stems)
        covers.append(cover)
        type_ok = float(detect.holds(q.expects, p.text, q.text))
        novel = [s for s in stems if s not in q.terms and s not in nlp.stopwords()]
        rows.append([
            p.score, p.dense, p.window, p.sparse / max_sparse, 1.0 / (1 + i),
            sims[i][0], 0.0, cover, 0.0, sum(stats.idf(t) for t in q.terms if t in stems) / idf_total,
            _share(q.terms, nlp.stems(around)),
            type_ok, float(detect.holds(q.expects, around, q.text)), typed, type_ok * cover,
            len(novel) / max(1, len(stems)), math.log1p(len(p.text.split())),
            _names_share(q.names, p.text), _names_share(q.names, around), sims[i][1],
            max((stats.idf(t) for t in q.terms if t not in stems), default=0.0) / max_idf,
            fsims[i], _share(focus_stems, nlp.stems(around)) if focus_stems else 1.0, gains[i],
            0.0, 0.0, 0.0, 0.0,
        ])
    x = np.asarray(rows, dtype=np.float32)
    x[:, SELECTION_FEATURES.index("maxsim_gap")] = x[:, 5] - x[:, 5].max()
    x[:, SELECTION_FEATURES.index("cover_gap")] = x[:, 7] - x[:, 7].max()
    # The list as a whole: how far each candidate is from the closest one in meaning, and
    # how close that one is (a question whose best match is weak is often not answered).
    # Cosines only: a raw BM25 top score was tried too and dropped, its scale depends on
    # the corpus (one document alone scores unlike five), and it raised false refusals
    # over a single document (dev, each document indexed alone).
    for name in ("dense", "window"):
        col = x[:, SELECTION_FEATURES.index(name)]
        x[:, SELECTION_FEATURES.index(f"{name}_gap")] = col - col.max()
        x[:, SELECTION_FEATURES.index(f"{name}_top")] = col.max()
    return x


def answerability_features(
    q: Question, x: np.ndarray, probs: np.ndarray, best: int, table: SentenceTable, around: str,
    stats: "CorpusStats | None" = None,
) -> np.ndarray:
    """The row of :data:`ANSWERABILITY_FEATURES` for a question whose best candidate is ``best``."""
    f = dict(zip(SELECTION_FEATURES, x[best]))
    second = float(np.partition(probs, -2)[-2]) if len(probs) > 1 else 0.0
    vocabulary = table.vocabulary
    names_corpus = (
        sum(all(nlp.stem(w) in vocabulary for w in nlp.tokens(n)) for n in q.names) / len(q.names) if q.names else 1.0
    )
    near_numbers = nlp.numbers(around)
    numbers_near = sum(n in near_numbers for n in q.numbers) / len(q.numbers) if q.numbers else 1.0
    return np.asarray([
        float(probs[best]), float(probs[best]) - second, f["dense"], f["window"], f["maxsim"], f["cover"],
        f["idf_cover"], f["cover_window"], f["type_ok"], f["typed"], f["names_near"], names_corpus,
        numbers_near, _share(q.terms, vocabulary), f["novelty"],
        f["maxsim_min"], f["missing_idf"], _missing_idf(q, nlp.stems(around), stats),
        f["focus_sim"], f["focus_window"], float(bool(q.focus)), f["ask_gain"],
        f["dense_gap"], f["window_gap"], f["dense_top"], f["window_top"],
    ], dtype=np.float32)


def _missing_idf(q: Question, have: frozenset[str], stats: "CorpusStats | None") -> float:
    """The rarest question word missing from ``have``, as a share of the rarest question word."""
    if stats is None or not q.terms:
        return 0.0
    top = max(stats.idf(t) for t in q.terms) or 1.0
    return max((stats.idf(t) for t in q.terms if t not in have), default=0.0) / top


def describe(names: Sequence[str], row: np.ndarray) -> dict[str, Any]:
    """A feature row as a dict (for ``Answer.signals``)."""
    return {n: round(float(v), 4) for n, v in zip(names, row)}
