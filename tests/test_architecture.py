"""The shape of `streamser` and `training`: no import cycles, no module over 500 lines,
and a runtime whose modules load without torch or the training package.

Read from the source with `ast`; nothing is imported. For the cycles every `import`
statement counts, at module level, inside functions and under `if TYPE_CHECKING:`
alike: a cycle hidden in a function is still two modules that each need the other.
Imports by name at run time (`importlib.import_module`, entry points) are not seen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("streamser", "training")
MAX_LINES = 500
RUNTIME_FORBIDDEN = ("training", "torch", "torchaudio")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def project_modules() -> dict[str, Path]:
    """Every module of the packages, by dotted name."""
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


@cache
def parse(name: str) -> ast.Module:
    path = project_modules()[name]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_package(name: str) -> bool:
    return project_modules()[name].name == "__init__.py"


def import_targets(name: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted names an import statement in module `name` loads, relative ones made
    absolute: `from X import Y` gives X.Y, which may be a submodule or a name in X."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = name.split(".")
        if not is_package(name):
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join([*base, node.module] if node.module else base)
    else:
        prefix = node.module or ""
    return [f"{prefix}.{alias.name}" for alias in node.names]


def resolve(dotted: str) -> str | None:
    """The project module a dotted name lands in: its longest prefix that is one."""
    modules = project_modules()
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(name: str, tree: ast.Module) -> frozenset[str]:
    """The project modules that module `name`, parsed as `tree`, imports anywhere."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for target in import_targets(name, node):
                module = resolve(target)
                if module is not None and module != name:
                    found.add(module)
    return frozenset(found)


@cache
def import_graph() -> dict[str, frozenset[str]]:
    """Module -> the project modules it imports anywhere in its source."""
    return {name: imports_of(name, parse(name)) for name in project_modules()}


def strongly_connected(graph: dict[str, frozenset[str]]) -> list[list[str]]:
    """Tarjan's components of more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components)


def shortest_cycle(graph: dict[str, frozenset[str]], component: list[str]) -> list[str]:
    """A shortest cycle through the component's first module, as a path back to it."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & members):
                if successor == start:
                    return [*paths[node], start]
                if successor not in paths:
                    paths[successor] = [*paths[node], successor]
                    following.append(successor)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def describe(graph: dict[str, frozenset[str]], component: list[str]) -> str:
    cycle = " -> ".join(shortest_cycle(graph, component))
    return f"{cycle}  (component: {', '.join(component)})"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package):
    graph = import_graph()
    cycles = [
        describe(graph, component)
        for component in strongly_connected(graph)
        if any(m == package or m.startswith(package + ".") for m in component)
    ]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_graph_sees_every_kind_of_import():
    """Absolute and relative, `from package import module`, in functions and classes,
    under TYPE_CHECKING; third-party modules are left out."""
    source = """
from typing import TYPE_CHECKING
import numpy
import training.crossval
from training.corpora import base
from training.corpora import Utterance
from ..channel import telephone
from . import metrics
if TYPE_CHECKING:
    from .sets import OodSet
def later():
    from training.ood.odin import odin_scores
class Lazy:
    def method(self):
        import training.classic as classic
"""
    assert imports_of("training.ood.evaluation", ast.parse(source)) == {
        "training.crossval",
        "training.corpora.base",
        "training.corpora",
        "training.channel",
        "training.ood.metrics",
        "training.ood.sets",
        "training.ood.odin",
        "training.classic",
    }
    # in a package's __init__, one dot is the package itself
    assert imports_of("training.ood", ast.parse("from .sets import OodSet")) == {
        "training.ood.sets"
    }


def test_a_cycle_is_found_and_spelled_out():
    graph = {
        "a": frozenset({"b"}),
        "b": frozenset({"c"}),
        "c": frozenset({"a", "d"}),
        "d": frozenset(),
        "e": frozenset({"e"}),  # a module naming itself is no cycle between modules
    }
    assert strongly_connected(graph) == [["a", "b", "c"]]
    assert shortest_cycle(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]


def test_no_module_is_longer_than_the_limit():
    lengths = {
        name: len(path.read_text(encoding="utf-8").splitlines())
        for name, path in project_modules().items()
    }
    long = [f"{name}: {n} lines" for name, n in sorted(lengths.items()) if n > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split them by job):\n" + "\n".join(long)


def imports_run_on_import(nodes: Iterable[ast.AST]) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when a module is imported: at module level, in class
    bodies and in `if`, `try` and `with` blocks, but not in functions nor under
    `if TYPE_CHECKING`."""
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from imports_run_on_import(node.orelse)
        else:
            yield from imports_run_on_import(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_violations(name: str, tree: ast.Module) -> list[str]:
    """`training` or torch imported when module `name` (parsed as `tree`) is imported."""
    found = []
    for statement in imports_run_on_import(tree.body):
        targets = import_targets(name, statement)
        forbidden = [t for t in targets if t.split(".")[0] in RUNTIME_FORBIDDEN]
        if forbidden:
            found.append(f"{name}:{statement.lineno} imports {forbidden[0]}")
    return found


def test_the_runtime_check_sees_imports_that_run_on_import_only():
    source = """
from typing import TYPE_CHECKING
try:
    import torch
except ImportError:
    torch = None
if TYPE_CHECKING:
    from training.corpora import Utterance
class Model:
    from training.config import TrainConfig
def later():
    import torchaudio
"""
    assert runtime_violations("streamser.example", ast.parse(source)) == [
        "streamser.example:4 imports torch",
        "streamser.example:10 imports training.config.TrainConfig",
    ]


def test_runtime_modules_import_neither_training_nor_torch():
    """Checked per module from the source: tests/streamser/test_imports.py imports the
    package and the CLI with torch blocked, this covers every module of the runtime,
    including those the CLI loads only on demand."""
    offending = [
        violation
        for name in project_modules()
        if name == "streamser" or name.startswith("streamser.")
        for violation in runtime_violations(name, parse(name))
    ]
    assert not offending, "the runtime must load without torch:\n" + "\n".join(offending)
