"""Docs that must not fall behind the code (as Datasette's test_docs does)."""

import dataclasses
from pathlib import Path

import pytest

from councilcast.cli import build_parser
from councilcast.config import ENV_PREFIX, Config

ROOT = Path(__file__).resolve().parents[2]


def all_docs() -> str:
    return "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Config) if f.name != "extra"])
def test_every_setting_is_documented(name):
    assert f"`{ENV_PREFIX}{name.upper()}`" in all_docs()


def test_every_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    text = all_docs()
    missing = [name for name in sub.choices if f"councilcast {name}" not in text]
    assert missing == []


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e . && councilcast demo" in readme
    assert "scripts/test" in readme
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
