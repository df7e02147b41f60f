"""The package's layout: no import cycle, between modules or between packages.

A cycle hides which part builds on which: each module (and each package of
``bulkupdate``, a top-level module counting as its own) must sit above what it
imports. Imports under ``if TYPE_CHECKING:`` are annotations and do not count;
an import inside a function does (it runs).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "bulkupdate"


def modules(root: Path = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Dotted name → (file, is a package's ``__init__``)."""
    out: dict[str, tuple[Path, bool]] = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_init = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_init else parts)] = (path, is_init)
    return out


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and \
                getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING":
            skip.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return skip


def _targets(node: ast.AST, name: str, is_init: bool, known: Iterable[str]) -> set[str]:
    """The bulkupdate modules one import statement of module ``name`` loads."""
    found: set[str] = set()
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = name.split(".") if is_init else name.split(".")[:-1]
            base = base[:len(base) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        if target.startswith("bulkupdate"):
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    elif isinstance(node, ast.Import):
        found.update(a.name for a in node.names if a.name.startswith("bulkupdate"))
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module → the bulkupdate modules it imports at run time."""
    mods = modules(root)
    graph: dict[str, set[str]] = {}
    for name, (path, is_init) in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_only(tree)
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) not in skip:
                deps |= _targets(node, name, is_init, mods)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def package_graph(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """The same edges between ``bulkupdate.<package or top-level module>``."""
    def unit(module: str) -> str:
        return ".".join(module.split(".")[:2])

    out: dict[str, set[str]] = {unit(m): set() for m in graph}
    for module, deps in graph.items():
        out[unit(module)] |= {unit(d) for d in deps} - {unit(module)}
    return out


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_relative_imports_and_skips_annotations() -> None:
    graph = import_graph()
    assert "bulkupdate.rundir.files" in graph["bulkupdate.rundir.lock"]
    # auth names Credentials only under TYPE_CHECKING.
    assert "bulkupdate.settings" not in graph["bulkupdate.capillary.auth"]


def test_no_module_imports_itself_back() -> None:
    assert cycles(import_graph()) == []


def test_no_package_imports_itself_back() -> None:
    assert cycles(package_graph(import_graph())) == []
