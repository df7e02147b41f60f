"""The package's layout: no import cycle, between modules or between packages;
the top level only the public face; classes and functions of a size to read.

A cycle hides which part builds on which: each module (and each package of
``bulkupdate``, a top-level module counting as its own) must sit above what it
imports. An import inside a function counts (it runs), and so does one under
``if TYPE_CHECKING:``, between modules and between packages alike: an annotation
is a dependency to a reader all the same (``import_graph(annotations=False)``
leaves them out).
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


def import_graph(root: Path = PACKAGE, *, annotations: bool = True) -> dict[str, set[str]]:
    """Module → the bulkupdate modules it imports (at run time alone when not
    ``annotations``)."""
    mods = modules(root)
    graph: dict[str, set[str]] = {}
    for name, (path, is_init) in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = set() if annotations else _type_checking_only(tree)
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


def top_level(root: Path = PACKAGE) -> list[str]:
    """The modules directly in the package (packages are not counted)."""
    return sorted(p.stem for p in root.glob("*.py"))


def sizes(root: Path = PACKAGE) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(classes, functions) as (lines, "module:Name"), largest first; a method
    counts as a function, and a nested function inside its enclosing one too."""
    classes: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root.parent).with_suffix("").as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                found = (node.end_lineno - node.lineno + 1, f"{where}:{node.name}")
                (classes if isinstance(node, ast.ClassDef) else functions).append(found)
    return sorted(classes, reverse=True), sorted(functions, reverse=True)


def public_functions(root: Path = PACKAGE) -> dict[str, list[str]]:
    """Name → the modules that define a public function of that name at top level."""
    out: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    not node.name.startswith("_"):
                out.setdefault(node.name, []).append(
                    path.relative_to(root.parent).with_suffix("").as_posix())
    return out


def derived(root: Path = PACKAGE) -> list[tuple[str, str]]:
    """(class, base) for each class deriving from another class of the package
    that is not an exception: inheritance where composition would do."""
    bases: dict[str, list[str]] = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                # A dotted base (logging.Handler) is another library's.
                bases[node.name] = [b.id for b in node.bases if isinstance(b, ast.Name)]

    def is_exception(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in ("Exception", "BaseException") or name.endswith(("Error", "Exception")):
            return True
        return name not in seen and any(is_exception(b, seen | {name})
                                        for b in bases.get(name, ()))

    return sorted((name, base) for name, own in bases.items() for base in own
                  if base in bases and not is_exception(base))


def _package(tmp_path: Path, files: Mapping[str, str]) -> Path:
    root = tmp_path / "bulkupdate"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_measures_see_what_they_measure(tmp_path: Path) -> None:
    long_body = "".join(f"    x{i} = {i}\n" for i in range(70))
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": f"def decide():\n{long_body}\nclass Base:\n    pass\n",
        "sub/__init__.py": "",
        "sub/b.py": "from ..a import Base\n\n\nclass Child(Base):\n    pass\n\n\n"
                    "class Oops(ValueError):\n    pass\n\n\nclass Worse(Oops):\n    pass\n\n\n"
                    "def decide():\n    pass\n",
    })
    assert top_level(root) == ["__init__", "a"]
    classes, functions = sizes(root)
    assert functions[0] == (71, "bulkupdate/a:decide")
    assert (2, "bulkupdate/a:Base") in classes
    assert public_functions(root)["decide"] == ["bulkupdate/a", "bulkupdate/sub/b"]
    assert derived(root) == [("Child", "Base")]


def test_the_graph_sees_relative_imports_and_annotations() -> None:
    graph = import_graph()
    assert "bulkupdate.rundir.files" in graph["bulkupdate.rundir.lock"]
    # auth names Credentials only under TYPE_CHECKING: an edge, but not at run time.
    assert "bulkupdate.settings" in graph["bulkupdate.capillary.auth"]
    assert "bulkupdate.settings" not in import_graph(annotations=False)["bulkupdate.capillary.auth"]


def test_no_module_imports_itself_back_even_through_annotations() -> None:
    assert cycles(import_graph()) == []


def test_no_package_imports_itself_back_even_through_annotations() -> None:
    assert cycles(package_graph(import_graph())) == []


def test_the_top_level_is_the_public_face() -> None:
    """__init__, __main__ and a few modules a caller names (errors, results,
    version); the layers are packages: night, source, planning, base ..."""
    assert len(top_level()) <= 6, top_level()


def test_no_class_over_200_lines() -> None:
    classes, _ = sizes()
    assert [c for c in classes if c[0] > 200] == []


def test_at_most_one_function_over_60_lines() -> None:
    _, functions = sizes()
    assert len([f for f in functions if f[0] > 60]) <= 1, [f for f in functions if f[0] > 60]


# Two backends of one store, each a module with the same functions: the name
# is the interface, chosen by the caller (state/store.py).
SAME_INTERFACE = {"connect": ["bulkupdate/state/postgres", "bulkupdate/state/sqlite"]}


def test_no_two_public_functions_share_a_name() -> None:
    shared = {name: where for name, where in public_functions().items()
              if len(where) > 1 and SAME_INTERFACE.get(name) != where}
    assert shared == {}


def test_inheritance_only_among_exceptions() -> None:
    assert derived() == []
