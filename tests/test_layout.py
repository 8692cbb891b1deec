"""The package's layout: stages side by side, shared types at the bottom, no import cycles."""

from __future__ import annotations

import ast
import collections
import pathlib

RAG = pathlib.Path(__file__).resolve().parents[1] / "rag"


def _graph() -> dict[str, set[str]]:
    """Runtime imports between rag's modules (``if TYPE_CHECKING`` blocks skipped)."""
    mods = {}
    for p in RAG.rglob("*.py"):
        parts = list(p.with_suffix("").relative_to(RAG).parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(["rag", *parts])] = p

    def walk(node):
        for ch in ast.iter_child_nodes(node):
            if isinstance(ch, ast.If) and "TYPE_CHECKING" in ast.unparse(ch.test):
                continue
            yield ch
            yield from walk(ch)

    g: dict[str, set[str]] = collections.defaultdict(set)
    for name, p in mods.items():
        pkg = name if p.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                g[name].update(subs or ([target] if target in mods else []))
    return {m: g[m] for m in mods}


def _reach(g: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in g[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_import_graph_has_no_cycles():
    g = _graph()
    cyclic = [m for m in g if m in _reach(g, m)]
    assert not cyclic


def test_types_are_the_bottom_floor():
    g = _graph()
    assert g["rag.types"] == set()
    assert g["rag.config"] <= {"rag.types"}


def test_checking_retrieval_and_follow_ups_do_not_depend_on_answering_or_indexing():
    g = _graph()
    for module in ("rag.grounding", "rag.retrieval", "rag.chat", "rag.table"):
        reached = _reach(g, module)
        assert "rag.answer" not in reached and "rag.indexing" not in reached, module
        assert not any(m.startswith("rag.answering") for m in reached), module


def test_only_the_pipeline_imports_the_answerer():
    g = _graph()
    importers = {m for m, deps in g.items() if any(d == "rag.answer" or d.startswith("rag.answering") for d in deps)}
    assert importers <= {"rag.pipeline"} | {m for m in g if m.startswith("rag.answering")}


def test_no_word_of_any_particular_document_in_the_library():
    import re

    words = re.compile(r"noem|cecot|salvador|bukele|villatoro|venezuela|homeland|dhs", re.I)
    hits = [f"{p.relative_to(RAG.parent)}:{i}" for p in RAG.rglob("*") if p.suffix in (".py", ".json")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if words.search(line)]
    assert hits == []


def test_no_private_attribute_of_a_library_is_touched():
    import re

    pattern = re.compile(r"\._[a-z]")
    libs = re.compile(r"chromadb|gradio|llama_index|SharedSystemClient")
    roots = [RAG, RAG.parent / "ui"]
    hits = [f"{p}:{i}" for root in roots for p in root.rglob("*.py")
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
            if pattern.search(line) and libs.search(line)]
    assert hits == []


def test_the_docstring_examples_run():
    import doctest
    import importlib

    for name in ("rag.types", "rag.config", "rag.chat", "rag.grounding", "rag.retrieval.fusion",
                 "rag.answering.question", "rag.answering.detect", "rag.answering.span"):
        result = doctest.testmod(importlib.import_module(name))
        assert result.failed == 0, name
