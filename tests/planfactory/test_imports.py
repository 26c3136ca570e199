"""planfactory's own imports: no cycle (lazy imports included), no private name across modules."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "planfactory"


def _imports(path: Path):
    """(module, name) for every ``planfactory`` import anywhere in the file (functions, try blocks)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("planfactory."):
                    yield a.name, None
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "planfactory":
                for a in node.names:
                    yield f"planfactory.{a.name}", None
            elif node.module.startswith("planfactory."):
                for a in node.names:
                    yield node.module, a.name


def _graph() -> dict[str, set[str]]:
    graph = {}
    for path in sorted(PACKAGE.glob("*.py")):
        mod = f"planfactory.{path.stem}"
        graph[mod] = {m for m, _ in _imports(path) if m != mod}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycle_lazy_imports_included():
    assert _cycle(_graph()) is None


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_private_name_imported_from_planfactory():
    offenders = []
    for folder in ("planfactory", "councilcast", "scripts", "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for mod, name in _imports(path):
                if name and name.startswith("_") and mod != "planfactory.__init__":
                    offenders.append(f"{path.relative_to(ROOT)}: from {mod} import {name}")
    assert offenders == []
