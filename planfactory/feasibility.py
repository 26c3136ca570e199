"""Does capacity suffice, do the hours suffice, and which sectors bind by how much.

Public API::

    check(economy, X, hours_available=None, *, labour=None, capacity=None, tol=1e-9) -> Feasibility
        X: gross output, shape (n,) for one plan or (n, m) for m plans (one per column).
        hours_available: scalar or shape (m,); default economy.hours_available.
    Feasibility fields (arrays have a last axis m; for a single plan they are scalars / 1-d):
        feasible (bool | (m,)), capacity_ok, labour_ok,
        utilisation (n,) | (n, m): x / capacity (inf where capacity is 0 and x > 0; nan if no capacity data),
        hours_needed, hours_available, labour_ratio = hours_needed / hours_available,
        binding(k=0) -> list of {"sector", "index", "ratio", "excess"[, "stocks_cover"]} for one plan (k),
            sectors with x > capacity, worst first; ``excess`` = x - capacity in output units;
            ``stocks_cover`` = share of the excess that the sector's stocks could supply (once).
        to_dict(k=0, top=10) -> JSON-able summary of plan k.

A sector "binds" when it would have to produce more than its capacity (ratio > 1 + tol).
Labour binds when the hours needed exceed the hours available.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Feasibility", "check"]


@dataclass
class Feasibility:
    sectors: list[str]
    gross_output: np.ndarray
    capacity: np.ndarray | None
    utilisation: np.ndarray
    capacity_ok: np.ndarray | bool
    hours_needed: np.ndarray | float
    hours_available: np.ndarray | float | None
    labour_ratio: np.ndarray | float | None
    labour_ok: np.ndarray | bool
    feasible: np.ndarray | bool
    tol: float = 1e-9
    stocks: np.ndarray | None = None

    @property
    def many(self) -> bool:
        return self.gross_output.ndim == 2

    def binding(self, k: int = 0, top: int | None = None) -> list[dict]:
        """Sectors over capacity in plan ``k``, worst ratio first."""
        if self.capacity is None:
            return []
        u = self.utilisation[:, k] if self.many else self.utilisation
        x = self.gross_output[:, k] if self.many else self.gross_output
        idx = np.flatnonzero(u > 1.0 + self.tol)
        idx = idx[np.argsort(-u[idx], kind="stable")]
        if top is not None:
            idx = idx[:top]
        out = []
        for i in idx:
            excess = float(x[i] - self.capacity[i])
            b = {"sector": self.sectors[i], "index": int(i), "ratio": float(u[i]), "excess": excess}
            if self.stocks is not None:  # how much of the excess this year's stocks could supply once
                b["stocks_cover"] = float(min(1.0, self.stocks[i] / excess)) if excess > 0 else 1.0
            out.append(b)
        return out

    def tightest(self, k: int = 0, top: int = 5) -> list[dict]:
        """The ``top`` sectors closest to (or over) capacity in plan ``k``."""
        if self.capacity is None:
            return []
        u = self.utilisation[:, k] if self.many else self.utilisation
        idx = np.argsort(-np.nan_to_num(u, nan=-1.0), kind="stable")[:top]
        return [{"sector": self.sectors[i], "index": int(i), "ratio": float(u[i])} for i in idx]

    def to_dict(self, k: int = 0, top: int = 10) -> dict:
        # hours_available may be one scalar shared by every plan (np.ndim 0) even when many
        pick = (lambda a: a if np.ndim(a) == 0 else a[k]) if self.many else (lambda a: a)
        ha = None if self.hours_available is None else float(pick(np.asarray(self.hours_available)) if self.many else self.hours_available)
        lr = None if self.labour_ratio is None else float(pick(np.asarray(self.labour_ratio)) if self.many else self.labour_ratio)
        return {
            "feasible": bool(pick(self.feasible) if self.many else self.feasible),
            "capacity_ok": bool(pick(self.capacity_ok) if self.many else self.capacity_ok),
            "labour_ok": bool(pick(self.labour_ok) if self.many else self.labour_ok),
            "hours_needed": float(pick(self.hours_needed) if self.many else self.hours_needed),
            "hours_available": ha,
            "labour_ratio": lr,
            "binding_sectors": self.binding(k, top=top),
            "tightest_sectors": self.tightest(k, top=min(top, 5)),
            "capacity_known": self.capacity is not None,
        }


def check(economy, X, hours_available=None, *, labour=None, capacity=None, tol: float = 1e-9,
          stocks=None) -> Feasibility:
    """Capacity and labour check for one gross output (n,) or many (n, m)."""
    X = np.asarray(X, dtype=float)
    l = np.asarray(economy.labour if labour is None else labour, dtype=float)
    cap = economy.capacity if capacity is None else np.asarray(capacity, dtype=float)
    if hours_available is None:
        hours_available = economy.hours_available
    hours = l @ X
    if cap is not None:
        c = cap[:, None] if X.ndim == 2 else cap
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(c > 0, X / np.where(c > 0, c, 1.0), np.where(X > tol, np.inf, 0.0))
        cap_ok = np.all(u <= 1.0 + tol, axis=0)
    else:
        u = np.full(X.shape, np.nan)
        cap_ok = np.ones(X.shape[1], dtype=bool) if X.ndim == 2 else np.bool_(True)
    if hours_available is not None:
        ha = np.asarray(hours_available, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(ha > 0, hours / np.where(ha > 0, ha, 1.0), np.where(hours > 0, np.inf, 0.0))
        lab_ok = ratio <= 1.0 + tol
        if X.ndim == 1:
            ha, ratio, lab_ok = float(ha), float(ratio), bool(lab_ok)
    else:
        ha, ratio = None, None
        lab_ok = np.ones(X.shape[1], dtype=bool) if X.ndim == 2 else True
    feasible = np.logical_and(cap_ok, lab_ok)
    if X.ndim == 1:
        feasible, cap_ok, hours = bool(feasible), bool(cap_ok), float(hours)
    return Feasibility(sectors=list(economy.sectors), gross_output=X, capacity=cap, utilisation=u, capacity_ok=cap_ok,
                       hours_needed=hours, hours_available=ha, labour_ratio=ratio, labour_ok=lab_ok,
                       feasible=feasible, tol=tol,
                       stocks=getattr(economy, "stocks", None) if stocks is None else np.asarray(stocks, dtype=float))
