"""Checks of an economy's data: shapes, signs, baskets, workplaces, productiveness.

:func:`validate_economy` is what :class:`planfactory.economy.Economy` runs on
construction (and :func:`planfactory.formats.load` through it). It reads the economy's
attributes only, so it needs neither :mod:`planfactory.economy` nor
:mod:`planfactory.formats`: both import this module, and it imports neither back
(errors and spectral radius come from :mod:`planfactory.errors` and
:mod:`planfactory.spectral`).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from planfactory.errors import PlanError
from planfactory.spectral import productiveness

__all__ = ["validate_economy", "economy_warnings", "VECTOR_FIELDS", "HOURS_USED_RANGE"]

VECTOR_FIELDS = ("capacity", "stocks", "current_output", "consumption_basket", "public_basket")
"""The optional per-sector vectors of an economy."""

HOURS_USED_RANGE = (0.5, 1.1)
"""Share of the workforce's hours that today's output may take without a warning at load.

A decision spends all the hours the workforce offers (``workforce * hours_per_week *
WEEKS_PER_YEAR``); an economy whose current output takes 1% of them is told, by ``decide``,
that every sector must produce about a hundred times today's output (40-55 times its
capacity on such data). The data are accepted, since they may be right, but the warning
says which numbers disagree."""


def _check_matrix(M, field: str, n: int):
    if M.ndim != 2 or M.shape != (n, n):
        raise PlanError(field, f"shape {tuple(M.shape)} does not match {n} sectors (expected {n} x {n})")
    data = M.data if sp.issparse(M) else M
    if not np.all(np.isfinite(data)):
        raise PlanError(field, "contains a value that is not a finite number")
    if data.size and float(np.min(data)) < 0:
        if sp.issparse(M):
            k = int(np.argmin(M.data))
            coo = M.tocoo()
            k = int(np.argmin(coo.data))
            i, j = int(coo.row[k]), int(coo.col[k])
        else:
            i, j = (int(t) for t in np.unravel_index(int(np.argmin(M)), M.shape))
        raise PlanError(field, f"negative entry at row {i}, column {j}: coefficients must be >= 0")


def _check_vector(v, field: str, n: int, *, basket: bool = False):
    if v.ndim != 1 or v.shape[0] != n:
        raise PlanError(field, f"length {v.shape[0] if v.ndim else 0} does not match {n} sectors")
    if not np.all(np.isfinite(v)):
        raise PlanError(field, "contains a value that is not a finite number")
    if v.size and float(np.min(v)) < 0:
        raise PlanError(field, f"negative entry at position {int(np.argmin(v))}: must be >= 0")
    if basket and abs(float(v.sum()) - 1.0) > 1e-6:
        raise PlanError(field, f"a basket's structure must sum to 1, got {float(v.sum()):.9g}")


def validate_economy(e) -> None:
    """Raise :class:`~planfactory.errors.PlanError` naming the first problem found in ``e`` (an Economy)."""
    n = len(e.sectors)
    if n == 0:
        raise PlanError("sectors", "at least one sector is needed")
    if len(set(e.sectors)) != n:
        seen = set()
        dup = next(s for s in e.sectors if s in seen or seen.add(s))
        raise PlanError("sectors", f"duplicate sector name {dup!r}")
    _check_matrix(e.A, "technical_coefficients", n)
    _check_vector(e.labour, "labour", n)
    if e.B is not None:
        _check_matrix(e.B, "capital_coefficients", n)
    for name in VECTOR_FIELDS:
        v = getattr(e, name)
        if v is not None:
            _check_vector(v, name, n, basket=name.endswith("basket"))
    if e.units is not None and len(e.units) != n:
        raise PlanError("units", f"length {len(e.units)} does not match {n} sectors")
    for name in ("workforce", "hours_per_week"):
        v = getattr(e, name)
        if v is not None and (not math.isfinite(v) or v < 0):
            raise PlanError(name, "must be a finite number >= 0")
    if e.hours_per_week is not None and e.hours_per_week > 168:
        raise PlanError("hours_per_week", "a week has 168 hours")
    ids = set()
    shares = np.zeros(n)
    for k, ent in enumerate(e.enterprises):
        f = f"enterprises[{k}]"
        if ent.id in ids:
            raise PlanError(f + ".id", f"duplicate enterprise id {ent.id!r}")
        ids.add(ent.id)
        if not 0 <= ent.sector < n:
            raise PlanError(f + ".sector", f"sector index {ent.sector} out of range")
        if not (math.isfinite(ent.share) and 0 <= ent.share <= 1):
            raise PlanError(f + ".share", "share of the sector's capacity must be in [0, 1]")
        if ent.workforce < 0:
            raise PlanError(f + ".workforce", "must be >= 0")
        shares[ent.sector] += ent.share
    if e.enterprises:
        covered = np.array(sorted({ent.sector for ent in e.enterprises}))
        bad = covered[np.abs(shares[covered] - 1.0) > 1e-6]
        if bad.size:
            j = int(bad[0])
            raise PlanError("enterprises", f"shares of sector {e.sectors[j]!r} sum to {shares[j]:.9g}, not 1")
    p = productiveness(e.A)
    if not p.productive:
        r = f"{p.lower:.6g}" if p.lower == p.upper else f"at least {p.lower:.6g}"
        raise PlanError("technical_coefficients",
                        f"not productive: spectral radius of A is {r} >= 1, so no non-negative "
                        "gross output can meet every final demand")


def economy_warnings(e, weeks_per_year: float = 46.0) -> list[dict]:
    """Data that load but disagree with each other: ``[{"field", "reason"}]``, empty when none.

    - today's output takes a share of the workforce's hours outside :data:`HOURS_USED_RANGE`
      (``labour . current_output`` against ``workforce * hours_per_week * weeks_per_year``);
    - today's output above a sector's capacity.

    Cheap (two dot products), so every load computes it (:attr:`Economy.warnings`).
    """
    out = []
    x = e.current_output
    if x is not None and e.workforce and e.hours_per_week:
        offered = float(e.workforce) * float(e.hours_per_week) * weeks_per_year
        used = float(e.labour @ x)
        share = used / offered
        lo, hi = HOURS_USED_RANGE
        if not lo <= share <= hi:
            out.append({"field": "current_output", "reason": (
                f"today's output takes {100 * share:.3g}% of the hours the workforce offers ({used:,.0f} of "
                f"{offered:,.0f} hours a year at {e.hours_per_week:g} hours a week); a decision spends all the hours "
                f"offered, so its outputs would be about {1 / share if share > 0 else float('inf'):.3g} times "
                "today's: check current_output, labour, workforce and hours_per_week")})
    if x is not None and e.capacity is not None:
        over = np.flatnonzero(x > e.capacity * (1 + 1e-9))
        if over.size:
            with np.errstate(divide="ignore"):
                ratio = x[over] / e.capacity[over]
            worst = over[np.argsort(-ratio, kind="stable")][:3]
            named = ", ".join(f"{e.sectors[j]} {100 * x[j] / e.capacity[j]:.3g}%" if e.capacity[j] > 0
                              else f"{e.sectors[j]} (capacity 0)" for j in worst)
            out.append({"field": "current_output", "reason": (
                f"today's output is above capacity in {over.size} sector{'s' if over.size > 1 else ''} "
                f"({named} of capacity): check current_output and capacity")})
    return out

