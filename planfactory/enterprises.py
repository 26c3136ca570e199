"""Each enterprise's part of a plan: output target, change from today, equipment, hours.

Public API (vectorized over enterprises E and plans m; no Python loop over either)::

    EnterpriseArrays.from_economy(economy) -> EnterpriseArrays
        ids (E,), names (E,), sector (E,) int, share (E,), workforce (E,)
    targets(economy, X, *, new_capacity=None, today=None, weeks_per_year=WEEKS_PER_YEAR,
            arrays=None, v=None) -> EnterpriseTargets
        X: gross output (n,) or (n, m). new_capacity: (n,) or (n, m) capacity added by
        investment (DecisionSweep.new_capacity); today: today's gross output (default
        economy.current_output).
    EnterpriseTargets arrays, shape (E,) or (E, m):
        output       share_e * x[sector_e]                       (output units of its sector)
        today        share_e * today[sector_e]                   (E,) (nan if unknown)
        change       output - today;   change_pct = 100 * change / today (nan where today = 0)
        new_capacity share_e * new_capacity[sector_e]
        equipment_hours  labour value of the equipment it receives:
                         new_capacity_e * (v B)[sector_e]  (hours; 0 without B)
        hours         l[sector_e] * output  (hours of work in the year)
        hours_per_person_week  hours / (workforce_e * weeks_per_year) (nan if workforce 0)
    equipment_detail(economy, enterprise_index, new_capacity_e) -> (n,) equipment by supplying
        sector (B[:, j] * new_capacity_e), for one enterprise.
    to_records(targets, arrays, k=0, economy=None) -> list of dicts for plan k (JSON-able).

The enterprise keeps its workforce; the hours per person follow from its share of the
sector's labour. Equipment follows its share of its sector's new capacity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planfactory.economy import WEEKS_PER_YEAR, Economy
from planfactory.leontief import LeontiefSolver

__all__ = ["EnterpriseArrays", "EnterpriseTargets", "targets", "equipment_detail", "to_records"]


@dataclass
class EnterpriseArrays:
    ids: np.ndarray
    names: np.ndarray
    sector: np.ndarray
    share: np.ndarray
    workforce: np.ndarray

    @classmethod
    def from_economy(cls, economy: Economy) -> "EnterpriseArrays":
        ents = economy.enterprises
        return cls(ids=np.array([e.id for e in ents], dtype=object), names=np.array([e.name for e in ents], dtype=object),
                   sector=np.array([e.sector for e in ents], dtype=np.int64),
                   share=np.array([e.share for e in ents], dtype=float),
                   workforce=np.array([e.workforce for e in ents], dtype=float))

    def __len__(self) -> int:
        return len(self.sector)


@dataclass
class EnterpriseTargets:
    output: np.ndarray
    today: np.ndarray
    change: np.ndarray
    change_pct: np.ndarray
    new_capacity: np.ndarray
    equipment_hours: np.ndarray
    hours: np.ndarray
    hours_per_person_week: np.ndarray


def _rows(vec_or_mat: np.ndarray, sector: np.ndarray, share: np.ndarray) -> np.ndarray:
    if vec_or_mat.ndim == 2:
        return vec_or_mat[sector, :] * share[:, None]
    return vec_or_mat[sector] * share


def targets(economy: Economy, X, *, new_capacity=None, today=None, weeks_per_year: float = WEEKS_PER_YEAR,
            arrays: EnterpriseArrays | None = None, v=None) -> EnterpriseTargets:
    """Per-enterprise targets for one gross output (n,) or many (n, m)."""
    a = arrays or EnterpriseArrays.from_economy(economy)
    X = np.asarray(X, dtype=float)
    out = _rows(X, a.sector, a.share)
    today = economy.current_output if today is None else np.asarray(today, dtype=float)
    t = a.share * today[a.sector] if today is not None else np.full(len(a), np.nan)
    tt = t[:, None] if X.ndim == 2 else t
    change = out - tt
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(tt > 0, 100.0 * change / np.where(tt > 0, tt, 1.0), np.nan)
    if new_capacity is None:
        nc = np.zeros_like(out)
    else:
        nc = _rows(np.asarray(new_capacity, dtype=float), a.sector, a.share)
        if nc.ndim < out.ndim:
            nc = np.broadcast_to(nc[:, None], out.shape)
    if economy.B is not None:
        if v is None:
            v = LeontiefSolver(economy.A).labour_values(economy.labour)
        vB = np.asarray(economy.B.T @ np.asarray(v)).ravel()  # (v B)_j: hours of equipment per unit of new capacity
        eq = nc * (vB[a.sector][:, None] if nc.ndim == 2 else vB[a.sector])
    else:
        eq = np.zeros_like(nc)
    hours = out * (economy.labour[a.sector][:, None] if X.ndim == 2 else economy.labour[a.sector])
    denom = a.workforce * weeks_per_year
    with np.errstate(divide="ignore", invalid="ignore"):
        d = denom[:, None] if X.ndim == 2 else denom
        hpp = np.where(d > 0, hours / np.where(d > 0, d, 1.0), np.nan)
    return EnterpriseTargets(output=out, today=t, change=change, change_pct=pct, new_capacity=nc, equipment_hours=eq,
                             hours=hours, hours_per_person_week=hpp)


def equipment_detail(economy: Economy, enterprise_index: int, new_capacity_e: float) -> np.ndarray:
    """Equipment by supplying sector for one enterprise's new capacity (output units of each supplier)."""
    if economy.B is None:
        return np.zeros(economy.n)
    j = economy.enterprises[enterprise_index].sector
    col = economy.B[:, j]
    col = col.toarray().ravel() if hasattr(col, "toarray") else np.asarray(col).ravel()
    return col * float(new_capacity_e)


def to_records(t: EnterpriseTargets, arrays: EnterpriseArrays, k: int = 0, economy: Economy | None = None) -> list[dict]:
    """One JSON-able dict per enterprise for plan ``k``."""
    def col(a):
        return a[:, k] if a.ndim == 2 else a

    def num(x):
        x = float(x)
        return None if not np.isfinite(x) else x

    out, change, pct = col(t.output), col(t.change), col(t.change_pct)
    eq, hours, hpp, nc = col(t.equipment_hours), col(t.hours), col(t.hours_per_person_week), col(t.new_capacity)
    recs = []
    for e in range(len(arrays)):
        r = {"id": arrays.ids[e], "name": arrays.names[e], "sector_index": int(arrays.sector[e]),
             "share": float(arrays.share[e]), "workforce": int(arrays.workforce[e]), "output": num(out[e]),
             "today": num(t.today[e]), "change": num(change[e]), "change_pct": num(pct[e]),
             "new_capacity": num(nc[e]), "equipment_hours": num(eq[e]), "hours": num(hours[e]),
             "hours_per_person_week": num(hpp[e])}
        if economy is not None:
            r["sector"] = economy.sectors[int(arrays.sector[e])]
        recs.append(r)
    return recs
