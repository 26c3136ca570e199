"""What the parts of :mod:`broadcast.libinternals` share: the self-check's cached result and
lock, and the two helpers its checks are written with."""

from __future__ import annotations

import threading

__all__ = ["lock", "result", "cached", "store_result", "run_with", "has", "reads"]

lock = threading.Lock()
"""Held while the self-check runs and while the join's hooks are installed."""
_result: dict | None = None


_run = None  # the self-check, set by broadcast.libinternals.selfcheck when it is imported (no cycle)


def run_with(self_check) -> None:
    """Name the function that runs the self-check (:func:`broadcast.libinternals.self_check`)."""
    global _run
    _run = self_check


def result() -> dict:
    """The self-check's result (not a copy: read it, never change it), run now if it never ran."""
    found = _result
    if found is None:
        _run()
        found = _result
    return found


def cached() -> dict | None:
    """The self-check's result if it ran, else None."""
    return _result


def store_result(value: dict) -> None:
    """Keep ``value`` as the self-check's result (called by :func:`~broadcast.libinternals.self_check`)."""
    global _result
    _result = value


def has(obj, name: str, what: str) -> str:
    if not hasattr(obj, name):
        raise AttributeError(f"{what} has no {name}")
    return f"{what}.{name} present"


def reads(func, names, what: str) -> None:
    """Check that upstream's ``func`` still uses ``names`` (its code's attribute names)."""
    code = getattr(func, "__code__", None)
    missing = [n for n in names if code is None or n not in code.co_names]
    if missing:
        raise LookupError(f"{what} no longer uses {', '.join(missing)}")
