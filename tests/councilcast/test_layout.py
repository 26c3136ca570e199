"""The dependency rule of docs/architecture.md, checked on the source itself."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ["broadcast", "voting", "planfactory"]
WEB = {"aiohttp", "councilcast", "jinja2"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", DOMAIN)
def test_domain_packages_import_neither_each_other_nor_the_web_layer(package):
    forbidden = (set(DOMAIN) - {package}) | WEB
    offenders = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_roots(path) & forbidden
        if bad:
            offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}


def test_the_rule_check_sees_imports():
    # The check above must be able to fail: it finds this module's own imports.
    assert {"ast", "pathlib", "pytest"} <= imported_roots(Path(__file__))
