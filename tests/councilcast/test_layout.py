"""The dependency rule of docs/architecture.md, checked on the source itself."""

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ["broadcast", "voting", "planfactory", "assembly"]
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


# -- the import allowlist of docs/architecture.md, enforced both ways ----------------------------
STD = set(sys.stdlib_module_names) | {"__future__"}
PARTS = {"broadcast": "broadcast", "voting": "voting", "planfactory": "planfactory", "assembly": "assembly",
         "councilcast.stores": "councilcast/stores", "councilcast.services": "councilcast/services",
         "councilcast.routes": "councilcast/routes", "councilcast": "councilcast"}


def _key(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "councilcast" and len(parts) > 1 and not parts[1].startswith("__"):
        return ".".join(parts[:2])
    return parts[0]


def imports_of(part: str) -> set[str]:
    folder = ROOT / PARTS[part]
    files = folder.glob("*.py") if part == "councilcast" else folder.rglob("*.py")
    out = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                out.update(_key(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == "councilcast":
                    out.update(_key(f"councilcast.{a.name}") for a in node.names)
                else:
                    out.add(_key(node.module))
    out = {m for m in out if m.split(".")[0] not in STD and m != part}
    if part == "councilcast":  # the other application modules may use any part of the application
        out = {m for m in out if not m.startswith("councilcast")}
    return out


def allowlist() -> dict[str, set[str]]:
    """The table under "## Packages and the dependency rule" in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("## Packages and the dependency rule", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`([\w.]+)`\s*\|[^|]*\|\s*([^|]*)\|", line)
        if m and m.group(1) in PARTS:
            cell = m.group(2).strip()
            rows[m.group(1)] = set() if cell in ("", "-", "nothing") else {x.strip(" `") for x in cell.split(",")}
    return rows


def test_the_allowlist_covers_every_part():
    assert set(allowlist()) == set(PARTS)


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_imports_exactly_what_the_architecture_allows(part):
    allowed = allowlist()[part]
    used = imports_of(part)
    assert sorted(used - allowed) == [], "imported but not allowed in docs/architecture.md"
    assert sorted(allowed - used) == [], "allowed in docs/architecture.md but no longer imported"


def test_the_allowlist_check_sees_imports():
    assert {"aiortc", "av"} <= imports_of("broadcast")
    assert "councilcast.stores" in imports_of("councilcast.services")
