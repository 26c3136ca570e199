"""Real tables in: a flows table to coefficients, and BEA make-use (supply-use) tables.

Public API::

    flows_to_coefficients(Z, x) -> A
        A[i, j] = Z[i, j] / x[j] (columns of zero output give zero coefficients).
    economy_from_flows(sectors, Z, x, *, labour=None, value_added=None, final_demand=None,
                       public_demand=None, name="flows table") -> Economy
        labour: hours (or labour cost) per sector, turned into per-unit coefficients l = labour / x;
        without it, value added per unit of output is used (dollars, not hours: say so in units).
        final_demand / public_demand: the baskets (normalized to sum to 1, negatives dropped).
    read_bea(folder) -> BeaTables               the 1997 summary files of ../shared/data (README there)
    bea_industry_by_industry(tables) -> (codes, A)
        BEA's own derivation (Miller & Blair 2009, ch. 5; BEA, "Concepts and Methods of the
        U.S. Input-Output Accounts", 2006, ch. 12):
          g industry output = row sums of the make table V (scrap included)
          q commodity output = column sums of V;   B = U g^-1  (commodity x industry)
          D = V q^-1 (market shares, scrap column excluded);  p = scrap / g
          W = (I - p^)^-1 D;   A = W B   (industry x industry);   L = (I - A)^-1 = Table 8
    read_bea_total_requirements(folder) -> (codes, L)   BEA Table 8 as published
    economy_from_bea(folder) -> Economy
        A as above; labour = compensation of employees (V001) per dollar of output (a labour
        cost coefficient, units "$"); consumption basket = personal consumption (F010),
        public basket = government consumption (F06C..F09C), both turned from commodities to
        industries with W; current_output = g.

BEA files have no header; codes may be quoted; values in millions of dollars.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planfactory.economy import Economy, EconomyError

__all__ = ["flows_to_coefficients", "economy_from_flows", "read_bea", "BeaTables", "bea_industry_by_industry",
           "read_bea_total_requirements", "economy_from_bea", "BEA_FILES"]

BEA_FILES = {
    "codes": "bea1997-summary-io-codes.csv",
    "make": "bea1997-summary-make-after-redefinitions.csv",
    "use": "bea1997-summary-use-after-redefinitions.csv",
    "total": "bea1997-summary-total-requirements-industry-by-industry.csv",
    "direct": "bea1997-summary-direct-requirements-commodity-by-industry.csv",
}
SCRAP = "S004"
GOVERNMENT_CONSUMPTION = ("F06C", "F07C", "F08C", "F09C")


def flows_to_coefficients(Z, x) -> np.ndarray:
    """Technical coefficients from inter-industry flows and gross output."""
    Z = np.asarray(Z, dtype=float)
    x = np.asarray(x, dtype=float)
    if Z.ndim != 2 or Z.shape[0] != Z.shape[1] or x.shape != (Z.shape[0],):
        raise EconomyError("flows", f"Z must be n x n and x of length n; got {Z.shape} and {x.shape}")
    if np.any(x < 0):
        raise EconomyError("gross_output", "must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x[None, :] > 0, Z / np.where(x > 0, x, 1.0)[None, :], 0.0)


def _basket(f, n: int):
    if f is None:
        return None
    f = np.clip(np.asarray(f, dtype=float), 0, None)
    if f.shape != (n,) or f.sum() <= 0:
        raise EconomyError("final_demand", "must be n numbers with a positive sum")
    return f / f.sum()


def economy_from_flows(sectors, Z, x, *, labour=None, value_added=None, final_demand=None, public_demand=None,
                       name: str = "flows table") -> Economy:
    """An economy from a flows table (Z, x, value added or labour, final demand)."""
    A = flows_to_coefficients(Z, x)
    x = np.asarray(x, dtype=float)
    n = len(sectors)
    with np.errstate(divide="ignore", invalid="ignore"):
        if labour is not None:
            l = np.where(x > 0, np.asarray(labour, dtype=float) / np.where(x > 0, x, 1), 0.0)
        elif value_added is not None:
            l = np.where(x > 0, np.asarray(value_added, dtype=float) / np.where(x > 0, x, 1), 0.0)
        else:
            l = np.clip(1.0 - A.sum(axis=0), 0, None)  # value added per unit = 1 - column sum
    return Economy(sectors=list(sectors), A=A, labour=l, consumption_basket=_basket(final_demand, n),
                   public_basket=_basket(public_demand, n), current_output=x, name=name)


# --------------------------------------------------------------------------- BEA
@dataclass
class BeaTables:
    industries: list[str]
    commodities: list[str]
    """Commodity codes of the make table's columns (incl. scrap S004)."""
    make: np.ndarray
    """V: industries x commodities, $M."""
    use: np.ndarray
    """U: commodities x industries, $M at producers' prices (rows = ``commodities``)."""
    final_uses: dict[str, np.ndarray]
    """Final-use column code -> commodity vector ($M)."""
    value_added: dict[str, np.ndarray]
    """V001..V003 -> industry vector ($M)."""
    descriptions: dict[str, str]


def _rows(path: Path) -> list[list[str]]:
    if not path.exists():
        raise EconomyError("bea", f"{path} is missing")
    with open(path, newline="") as fh:
        return [[c.strip().strip('"') for c in r] for r in csv.reader(fh) if r and any(c.strip() for c in r)]


def read_bea(folder) -> BeaTables:
    folder = Path(folder)
    desc = {r[0]: r[1] for r in _rows(folder / BEA_FILES["codes"]) if len(r) >= 2}
    make_rows = _rows(folder / BEA_FILES["make"])
    industries = sorted({r[0] for r in make_rows})
    commodities = sorted({r[1] for r in make_rows})
    ii = {c: k for k, c in enumerate(industries)}
    ci = {c: k for k, c in enumerate(commodities)}
    V = np.zeros((len(industries), len(commodities)))
    for r in make_rows:
        V[ii[r[0]], ci[r[1]]] += float(r[3])
    U = np.zeros((len(commodities), len(industries)))
    finals: dict[str, np.ndarray] = {}
    va: dict[str, np.ndarray] = {}
    for r in _rows(folder / BEA_FILES["use"]):
        row, col, value = r[0], r[1], float(r[4])
        if row in ci and col in ii:
            U[ci[row], ii[col]] += value
        elif row in ci and col.startswith("F"):
            finals.setdefault(col, np.zeros(len(commodities)))[ci[row]] += value
        elif row.startswith("V") and col in ii:
            va.setdefault(row, np.zeros(len(industries)))[ii[col]] += value
    return BeaTables(industries, commodities, V, U, finals, va, desc)


def _bea_transform(t: BeaTables):
    if SCRAP not in t.commodities:
        raise EconomyError("bea", "the make table has no scrap column S004")
    s = t.commodities.index(SCRAP)
    keep = [k for k in range(len(t.commodities)) if k != s]
    g = t.make.sum(axis=1)
    q = t.make.sum(axis=0)
    if np.any(g <= 0) or np.any(q[keep] <= 0):
        raise EconomyError("bea", "an industry or commodity has zero output")
    D = t.make[:, keep] / q[keep][None, :]
    p = t.make[:, s] / g
    W = D / (1.0 - p)[:, None]
    # commodities must line up: make columns (less scrap) are the industries' codes
    com = [t.commodities[k] for k in keep]
    if com != t.industries:
        raise EconomyError("bea", "commodity and industry codes differ; cannot build industry-by-industry A")
    return W, g, keep


def bea_industry_by_industry(t: BeaTables) -> tuple[list[str], np.ndarray]:
    """Industry-by-industry direct requirements A = W B, as BEA computes it."""
    W, g, keep = _bea_transform(t)
    Bc = t.use[keep, :] / g[None, :]
    return list(t.industries), W @ Bc


def read_bea_total_requirements(folder) -> tuple[list[str], np.ndarray]:
    rows = _rows(Path(folder) / BEA_FILES["total"])
    codes = sorted({r[0] for r in rows} | {r[1] for r in rows})
    k = {c: i for i, c in enumerate(codes)}
    L = np.zeros((len(codes), len(codes)))
    for r in rows:
        L[k[r[0]], k[r[1]]] = float(r[3])
    return codes, L


def economy_from_bea(folder) -> Economy:
    """The BEA 1997 summary economy (131 industries) from the make and use tables."""
    t = read_bea(folder)
    codes, A = bea_industry_by_industry(t)
    W, g, keep = _bea_transform(t)
    comp = t.value_added.get("V001", np.zeros(len(codes)))
    # W maps commodity demand to industry output: f_ind[i] = sum_c W[i, c] f_com[c]
    pce = W @ t.final_uses["F010"][keep] if "F010" in t.final_uses else None
    gov = W @ sum((t.final_uses[c][keep] for c in GOVERNMENT_CONSUMPTION if c in t.final_uses), np.zeros(len(keep)))
    names = [f"{c} {t.descriptions.get(c, '')}".strip() for c in codes]
    return Economy(sectors=names, A=A, labour=comp / g, consumption_basket=_basket(pce, len(codes)),
                   public_basket=_basket(gov, len(codes)) if gov.any() else None, current_output=g,
                   units=["$M"] * len(codes), name="US BEA 1997 summary, industry by industry (after redefinitions)")
