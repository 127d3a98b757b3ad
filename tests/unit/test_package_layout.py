"""The helpers package stays layered: imports point down, at module top, never into another
module's private names, no cycles, no module over 600 lines.

Layers, lowest first (a module may import its own layer and those below it):

    base        env, runs, profiles, layout, plots, distributed, colab, lesson
    data        helpers.data.*
    models      helpers.models.*
    evaluation  helpers.evaluation.*
    training    helpers.training.*
    report      helpers.report (and helpers.report.*)
    runner      helpers.runner (the papermill runner)
    batch       helpers.batch.* (grading students' notebooks with the runner)
    pipeline    helpers.pipeline (the command line)

Every import of a helpers module is read from the source with ``ast``, including the imports
inside functions, so a lazy import cannot hide an upward edge or a cycle.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "helpers"
MAX_LINES = 600

BASE_MODULES = ("env", "runs", "profiles", "layout", "plots", "distributed", "colab", "lesson")
LAYERS = ("base", "data", "models", "evaluation", "training", "report", "runner", "batch", "pipeline")


@dataclass(frozen=True)
class Import:
    source: str        # importing module, e.g. "helpers.training.experiments"
    target: str        # imported helpers module, e.g. "helpers.evaluation.metrics"
    names: tuple       # names taken from it (``from target import a, b``); () for ``import target``
    line: int
    in_function: bool

    @property
    def where(self) -> str:
        return f"{module_path(self.source).relative_to(PACKAGE.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file (a package is its ``__init__.py``)."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def module_path(name: str) -> Path:
    return modules()[name]


def layer_of(name: str) -> str | None:
    """The layer of a helpers module, or None when the table above does not place it."""
    parts = name.split(".")
    if len(parts) == 1:
        return "base"  # the package itself (its __init__ holds only the version)
    if parts[1] in LAYERS[1:]:
        return parts[1]
    if len(parts) == 2 and parts[1] in BASE_MODULES:
        return "base"
    return None


def is_package(name: str) -> bool:
    return module_path(name).name == "__init__.py"


def resolve(source: str, node: ast.ImportFrom) -> str:
    """The absolute module named by a (possibly relative) ``from ... import``."""
    if not node.level:
        return node.module or ""
    base = source.split(".")
    if not is_package(source):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Collector(ast.NodeVisitor):
    def __init__(self, source: str):
        self.source = source
        self.depth = 0
        self.found: list[Import] = []

    def _function(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def _add(self, target: str, names: tuple, line: int):
        self.found.append(Import(self.source, target, names, line, self.depth > 0))

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            if alias.name == "helpers" or alias.name.startswith("helpers."):
                self._add(alias.name, (), node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom):
        target = resolve(self.source, node)
        if not (target == "helpers" or target.startswith("helpers.")):
            return
        plain = []
        for alias in node.names:
            submodule = f"{target}.{alias.name}"
            if submodule in modules():  # ``from helpers import env``: the module helpers.env
                self._add(submodule, (), node.lineno)
            else:
                plain.append(alias.name)
        if plain or target in modules():  # ``from helpers.report import readers`` also reads helpers.report
            self._add(target, tuple(plain), node.lineno)


@cache
def parsed(name: str) -> ast.Module:
    path = module_path(name)
    return ast.parse(path.read_text(), filename=str(path))


@cache
def imports() -> tuple[Import, ...]:
    found = []
    for name in modules():
        collector = _Collector(name)
        collector.visit(parsed(name))
        found.extend(collector.found)
    return tuple(found)


def graph() -> dict[str, set[str]]:
    """Module -> the helpers modules it imports (a package's ``__init__`` counts as a module)."""
    edges: dict[str, set[str]] = {name: set() for name in modules()}
    for imp in imports():
        if imp.target in modules() and imp.target != imp.source:
            edges[imp.source].add(imp.target)
    return edges


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module, as one cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str):  # Tarjan's algorithm (the package is small: recursion is fine)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return [cycle_through(sorted(group), edges) for group in groups]


def cycle_through(group: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One closed path inside a strongly connected group, starting at its first module."""
    members = set(group)
    start = group[0]
    path, seen = [start], {start}
    while True:
        nxt = sorted(n for n in edges[path[-1]] if n in members)
        back = [n for n in nxt if n in seen]
        if back and (back[0] != path[-1]):
            return path[path.index(back[0]):] + [back[0]]
        fresh = [n for n in nxt if n not in seen]
        if not fresh:  # unreachable for a strongly connected group; keep the message useful anyway
            return path + ["..."]
        path.append(fresh[0])
        seen.add(fresh[0])


def private_attribute_uses() -> list[str]:
    """``module._name`` where ``module`` is another helpers module bound by an import."""
    found = []
    for name in modules():
        bound = {}
        for node in ast.walk(parsed(name)):
            if isinstance(node, ast.ImportFrom):
                target = resolve(name, node)
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules():
                        bound[alias.asname or alias.name] = f"{target}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name.startswith("helpers."):
                        bound[alias.asname] = alias.name
        for node in ast.walk(parsed(name)):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in bound
                    and bound[node.value.id] != name and is_private(node.attr)):
                found.append(f"{module_path(name).relative_to(PACKAGE.parent)}:{node.lineno}: "
                             f"{node.value.id}.{node.attr} (private to {bound[node.value.id]})")
    return found


def is_private(attribute: str) -> bool:
    return attribute.startswith("_") and not (attribute.startswith("__") and attribute.endswith("__"))


# --- the rules ---------------------------------------------------------------------------------


def test_the_parser_sees_the_package():
    assert "helpers.env" in modules() and "helpers.training.experiments" in modules()
    targets = {(i.source, i.target) for i in imports()}
    assert ("helpers.training.experiments", "helpers.runs") in targets


def test_every_module_has_a_layer():
    unplaced = [name for name in modules() if layer_of(name) is None]
    assert not unplaced, (f"modules outside the layer table {unplaced}: move them into a layer's package "
                          f"or add them to BASE_MODULES in {Path(__file__).name}")


def test_no_import_cycles():
    cycles = find_cycles(graph())
    assert not cycles, "import cycles (imports inside functions count):\n" + "\n".join(
        "  " + " -> ".join(c) for c in cycles)


def test_imports_point_down_the_layers():
    upward = []
    for imp in imports():
        have, want = layer_of(imp.source), layer_of(imp.target)
        if have is None or want is None:
            continue  # reported by test_every_module_has_a_layer
        if LAYERS.index(want) > LAYERS.index(have):
            upward.append(f"{imp.where}: {imp.source} ({have}) imports {imp.target} ({want})")
    assert not upward, ("imports pointing up the layers " + " < ".join(LAYERS) + ":\n  " + "\n  ".join(upward))


def test_no_import_of_another_modules_private_names():
    private = [f"{imp.where}: from {imp.target} import {', '.join(n for n in imp.names if is_private(n))}"
               for imp in imports() if imp.target != imp.source and any(is_private(n) for n in imp.names)]
    private += [f"{imp.where}: import {imp.target}" for imp in imports()
                if any(is_private(part) for part in imp.target.split("."))
                and imp.target.rsplit(".", 1)[0] != imp.source.rsplit(".", 1)[0]]
    private += private_attribute_uses()
    assert not private, "uses of another module's private (_underscore) names:\n  " + "\n  ".join(private)


def test_helpers_imports_are_at_module_top():
    inside = [f"{imp.where}: {imp.source} imports {imp.target} inside a function"
              for imp in imports() if imp.in_function]
    assert not inside, ("helpers modules are imported at module top (only heavy third-party imports may "
                        "wait inside functions):\n  " + "\n  ".join(inside))


def test_no_module_over_the_line_limit():
    long = {str(p.relative_to(PACKAGE.parent)): n for p in modules().values()
            if (n := p.read_text().count("\n")) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (wc -l): " + ", ".join(
        f"{k} ({v})" for k, v in sorted(long.items(), key=lambda kv: -kv[1]))


# --- the checker itself, on hand-made graphs -----------------------------------------------------


def test_find_cycles_names_the_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(edges) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("name, layer", [
    ("helpers.env", "base"), ("helpers.data.images", "data"), ("helpers.report", "report"),
    ("helpers.pipeline", "pipeline"), ("helpers.runner", "runner"), ("helpers.batch.grading", "batch"), ("helpers.training.experiments", "training"), ("helpers.nowhere", None),
])
def test_layer_table(name, layer):
    assert layer_of(name) == layer


def test_relative_imports_resolve():
    node = ast.parse("from .metrics import x").body[0]
    assert resolve("helpers.evaluation.verdicts", node) == "helpers.evaluation.metrics"
    node = ast.parse("from ..runs import Run").body[0]
    assert resolve("helpers.training.experiments", node) == "helpers.runs"
    node = ast.parse("from . import metrics").body[0]
    assert resolve("helpers.evaluation", node) == "helpers.evaluation"
