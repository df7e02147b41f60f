"""The tests' own shape (issue 16, point 6): what they share lives in
tests/helpers.py, conftest.py holds only fixtures and hooks, and no test module
imports another — a test module can then move or go without breaking others."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent
# Modules a test may import from: the shared helpers, and the gateway helpers
# that only tests/e2e/test_gateways.py uses.
SHARED = {"tests.helpers", "tests.e2e.gateways"}


def imported(path: Path) -> set[str]:
    """The ``tests.*`` modules ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found.update(n for n in names if n == "tests" or n.startswith("tests."))
    return found


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def test_no_test_module_imports_another() -> None:
    modules = {module_name(p) for p in TESTS.rglob("*.py")}
    wrong = {}
    for path in sorted(TESTS.rglob("*.py")):
        # "from tests.e2e import gateways" names tests.e2e.gateways too: keep
        # only the names that are modules, and of those only the shared ones.
        bad = {m for m in imported(path) if m in modules and m not in SHARED}
        # conftest by either name: "tests.conftest", or bare "conftest" (rootdir on sys.path).
        bad |= {m for m in imported(path) if m.split(".")[-1] == "conftest"}
        if bad:
            wrong[module_name(path)] = sorted(bad)
    assert not wrong, f"import from tests/helpers.py instead: {wrong}"


def test_conftest_holds_only_fixtures_and_hooks() -> None:
    tree = ast.parse((TESTS / "conftest.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            fixture = any("fixture" in ast.unparse(d) for d in node.decorator_list)
            assert fixture or node.name.startswith("pytest_"), (
                f"conftest.py: {node.name} is neither a fixture nor a hook: "
                "move it to tests/helpers.py")
        else:
            assert isinstance(node, ast.Import | ast.ImportFrom | ast.Expr), (
                f"conftest.py line {node.lineno}: only fixtures and hooks here")


def test_the_gateway_helpers_serve_only_the_gateway_tests() -> None:
    users = [module_name(p) for p in TESTS.rglob("*.py")
             if "tests.e2e.gateways" in imported(p)]
    assert users == ["tests.e2e.test_gateways"]
