"""Alternative processes: choosing between them is a linear programme (activity analysis).

Koopmans' activity analysis (essay, section 7b): a sector may make its product by more
than one process, each with its own inputs per unit (a column like A's) and its own
hours of labour per unit. The sector's column in A is its current process (named
``current``); ``parameters["processes"]`` adds the others::

    {"sector": "Steel", "name": "electric arc", "inputs": {"Energy": 0.2, "Mining": 0.1},
     "labour": 0.4}

The programme (scipy's HiGHS), activity levels z >= 0, one per process k of sector j(k)::

    minimize    sum_k l_k z_k                        hours of labour
    subject to  sum_k (e_j(k) - a_k) z_k >= f        the net product covers the final demand
                sum_{k in j} z_k <= capacity_j        each sector's capacity (when known)

Its duals say why: y (hours per unit of each product, the labour values of the chosen
technique) and the capacity rents mu; the reduced cost of a process,
``l_k - y . (e_j - a_k) + mu_j``, is zero for the processes used and, for the others, the
extra hours per unit they would cost. Without binding capacity the choice does not
depend on the final demand (Samuelson's non-substitution theorem), so one programme at
the status quo's final demand chooses for every variant; when capacity binds, a sector
may use a mix, which the report shows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from planfactory.economy import Economy
from planfactory.errors import PlanError

__all__ = ["Process", "parse_processes", "ProcessChoice", "choose", "apply"]


@dataclass(frozen=True)
class Process:
    sector: int
    name: str
    inputs: np.ndarray
    """(n,) units of each product per unit of output."""
    labour: float


def parse_processes(items: list[dict], economy: Economy) -> list[Process]:
    idx = {s: i for i, s in enumerate(economy.sectors)}
    out = []
    for k, it in enumerate(items or []):
        f = f"processes[{k}]"
        if not isinstance(it, dict) or "sector" not in it or "labour" not in it:
            raise PlanError(f, "needs sector, name, inputs, labour")
        j = it["sector"] if isinstance(it["sector"], int) else idx.get(it["sector"])
        if j is None or not 0 <= j < economy.n:
            raise PlanError(f"{f}.sector", f"no sector {it['sector']!r}")
        a = np.zeros(economy.n)
        inputs = it.get("inputs", {})
        if isinstance(inputs, dict):
            for name, val in inputs.items():
                if name not in idx:
                    raise PlanError(f"{f}.inputs", f"no sector {name!r}")
                a[idx[name]] = float(val)
        else:
            a = np.asarray(inputs, dtype=float)
            if a.shape != (economy.n,):
                raise PlanError(f"{f}.inputs", f"needs {economy.n} numbers")
        lab = float(it["labour"])
        if np.any(a < 0) or not np.isfinite(a).all() or lab < 0 or a[j] >= 1:
            raise PlanError(f, "inputs and labour must be >= 0 and the own input below 1")
        out.append(Process(sector=int(j), name=str(it.get("name", f"process {k + 1}")), inputs=a, labour=lab))
    return out


@dataclass
class ProcessChoice:
    sectors: list[str]
    names: list[str]
    """Name of every activity (current processes first, then the alternatives)."""
    sector_of: np.ndarray
    levels: np.ndarray
    reduced_cost: np.ndarray
    prices: np.ndarray
    """y: hours of labour per unit of each product under the chosen technique."""
    capacity_rent: np.ndarray
    A: object
    labour: np.ndarray
    status: str

    def to_dict(self) -> dict:
        out = []
        for j in sorted(set(int(s) for s in self.sector_of[len(self.sectors):])):
            ks = np.flatnonzero(self.sector_of == j)
            tot = float(self.levels[ks].sum())
            procs = [{"name": self.names[k], "share_of_output": (float(self.levels[k]) / tot) if tot > 0 else
                      (1.0 if abs(self.reduced_cost[k]) < 1e-9 else 0.0),
                      "extra_hours_per_unit": float(max(self.reduced_cost[k], 0.0))} for k in ks]
            used = [p for p in procs if p["share_of_output"] > 1e-9]
            others = [p for p in procs if p["share_of_output"] <= 1e-9]
            why = (f"{self.sectors[j]} uses " + " and ".join(f"'{p['name']}' ({100 * p['share_of_output']:.0f}%)"
                                                              for p in used))
            if others:
                why += "; " + "; ".join(f"'{p['name']}' would cost {p['extra_hours_per_unit']:+.3g} hours of labour "
                                        "per unit at the labour values of this technique" for p in others)
            binding = [self.sectors[i] for i in np.flatnonzero(self.capacity_rent > 1e-12)]
            if len(used) > 1 and binding:
                why += "; a mix, because the capacity of " + ", ".join(binding) + " binds"
            out.append({"sector": self.sectors[j], "processes": procs, "why": why})
        return {"status": self.status, "sectors": out}


def choose(economy: Economy, processes: list[Process], final_demand: np.ndarray) -> ProcessChoice:
    """Solve the activity-analysis programme for ``final_demand`` (HiGHS)."""
    n = economy.n
    A = economy.A.toarray() if sp.issparse(economy.A) else np.asarray(economy.A, dtype=float)
    cols = [A[:, j] for j in range(n)] + [p.inputs for p in processes]
    sector_of = np.array(list(range(n)) + [p.sector for p in processes], dtype=np.int64)
    lab = np.concatenate([economy.labour, [p.labour for p in processes]])
    K = len(cols)
    net = -np.column_stack(cols)
    net[sector_of, np.arange(K)] += 1.0  # (n, K): e_j - a_k
    A_ub = [-net]
    b_ub = [-np.asarray(final_demand, dtype=float)]
    cap = economy.capacity
    if cap is not None:
        S = np.zeros((n, K))
        S[sector_of, np.arange(K)] = 1.0
        A_ub.append(S)
        b_ub.append(cap)
    res = linprog(lab, A_ub=np.vstack(A_ub), b_ub=np.concatenate(b_ub), bounds=(0, None), method="highs")
    if res.status != 0:
        raise PlanError("processes", f"no choice of processes meets the final demand within capacity: {res.message}")
    marg = -res.ineqlin.marginals  # >= 0 for <= rows of a minimization
    y = marg[:n]
    mu = marg[n:] if cap is not None else np.zeros(n)
    rc = lab - y @ net + mu[sector_of]
    z = res.x
    # the effective technique: each sector's column is the output-weighted mix of its processes
    A_eff = A.copy()
    l_eff = economy.labour.astype(float).copy()
    for j in set(int(s) for s in sector_of[n:]):
        ks = np.flatnonzero(sector_of == j)
        tot = z[ks].sum()
        w = z[ks] / tot if tot > 1e-12 else (np.abs(rc[ks]) < 1e-9).astype(float) / max((np.abs(rc[ks]) < 1e-9).sum(), 1)
        A_eff[:, j] = np.column_stack([cols[k] for k in ks]) @ w
        l_eff[j] = lab[ks] @ w
    return ProcessChoice(sectors=list(economy.sectors),
                         names=["current"] * n + [p.name for p in processes], sector_of=sector_of, levels=z,
                         reduced_cost=rc, prices=y, capacity_rent=mu,
                         A=sp.csr_matrix(A_eff) if sp.issparse(economy.A) else A_eff, labour=l_eff,
                         status=str(res.message))


def apply(economy: Economy, choice: ProcessChoice) -> Economy:
    """A copy of ``economy`` using the chosen technique."""
    e = copy.copy(economy)
    e.A = choice.A
    e.labour = choice.labour
    return e
