"""The plan area's work functions: what runs in the solver's worker processes (and the CLI).

Top-level functions of plain arguments (an economy spec, JSON-able dicts), so that they
pickle into a ``spawn`` process pool; their answers are JSON-able dicts. Bad input raises
:class:`planfactory.errors.PlanError` (picklable, so it crosses back to the event loop and
the error middleware answers it); any other exception is a bug and stays a 500.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp

from planfactory.decision import DEPRECIATION, DecisionBasis, FundamentalDecision, decide
from planfactory.demo import demo_economy
from planfactory.enterprises import EnterpriseArrays, targets
from planfactory.errors import PlanError, SolverError
from planfactory.feasibility import check
from planfactory.formats import load
from planfactory.growth import GrowthAssumptions, investment_for_growth, path_for_investment_share
from planfactory.leontief import LeontiefSolver
from planfactory.spectral import productiveness

__all__ = ["load_economy", "read_demand", "solve_payload", "info_payload", "job_solve", "job_decide", "job_growth",
           "job_info", "API_LIMITS"]


def load_economy(spec: str):
    if spec == "demo":
        return demo_economy()
    return load(spec)


def read_demand(data, economy) -> np.ndarray:
    """A final demand: list in sector order, object by sector name, or a list of those (n x k)."""
    n = economy.n
    if isinstance(data, dict):
        index = {s: i for i, s in enumerate(economy.sectors)}
        f = np.zeros(n)
        for k, v in data.items():
            if k not in index:
                raise PlanError("final_demand", f"no sector named {k!r}")
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise PlanError("final_demand", f"value for {k!r} is not a number")
            f[index[k]] = float(v)
        return f
    if isinstance(data, list) and data and all(isinstance(d, (list, dict)) for d in data):
        return np.column_stack([read_demand(d, economy) for d in data])
    if not isinstance(data, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data):
        raise PlanError("final_demand", "must be a list of numbers in sector order, an object by sector name, "
                                           "or a list of those")
    if len(data) != n:
        raise PlanError("final_demand", f"length {len(data)} does not match {n} sectors")
    f = np.asarray(data, dtype=float)
    if not np.all(np.isfinite(f)):
        raise PlanError("final_demand", "contains a value that is not a finite number")
    return f


def solve_payload(economy, f: np.ndarray, method: str = "auto", progress=None) -> dict:
    """The answer of ``plan solve`` and ``POST /api/plan/solve``."""
    t = time.perf_counter()
    solver = LeontiefSolver(economy.A, method=method, callback=progress)
    sol = solver.solve(f)
    v = solver.labour_values(economy.labour)
    x = sol.gross_output
    fe = check(economy, x)
    many = x.ndim == 2
    out = {
        "economy": economy.name,
        "sectors": list(economy.sectors),
        "gross_output": x.T.tolist() if many else x.tolist(),
        "labour_hours": (economy.labour @ x).tolist() if many else float(economy.labour @ x),
        "labour_values": v.tolist(),
        "residual": sol.residual,
        "condition": sol.condition,
        "error_bound": sol.error_bound,
        "feasible": fe.feasible.tolist() if many else bool(fe.feasible),
        "feasibility": [fe.to_dict(k) for k in range(x.shape[1])] if many else fe.to_dict(),
        "method": sol.method,
        "iterations": sol.iterations,
        "seconds": round(time.perf_counter() - t, 6),
        "warnings": economy.warnings,
    }
    return out


def info_payload(economy) -> dict:
    """The answer of ``plan info`` and ``GET /api/plan/economy``.

    ``productive`` is the verdict the economy was loaded with (:func:`planfactory.spectral.productiveness`,
    the same steps): an economy that loads is never called not productive here. Labour values
    that cannot be computed (a productive economy whose Leontief inverse overflows) are null,
    with ``labour_values_problem`` naming the cause, so that the answer stays standard JSON.
    """
    p = productiveness(economy.A, tight=True)
    nnz = int(economy.A.nnz) if sp.issparse(economy.A) else int(np.count_nonzero(economy.A))
    try:
        sol = LeontiefSolver(economy.A).solve(economy.labour, transposed=True)
        v, problem = sol.gross_output, None
        lv = {"min": float(v.min()), "median": float(np.median(v)), "max": float(v.max()),
              "highest": [{"sector": economy.sectors[i], "value": float(v[i])} for i in np.argsort(-v)[:5]]}
    except SolverError as exc:
        sol, lv, problem = None, None, {"field": exc.field, "reason": exc.reason}
    return {
        "name": economy.name, "sectors": economy.n, "sparse": economy.is_sparse, "nonzeros": nnz,
        "spectral_radius": {"lower": p.lower, "upper": p.upper, "method": p.method}, "productive": p.productive,
        "condition": None if sol is None else sol.condition,
        "max_column_sum": float(np.max(np.asarray(economy.A.sum(axis=0)).ravel())),
        "has": {k: getattr(economy, a) is not None for k, a in (
            ("capital_coefficients", "B"), ("capacity", "capacity"), ("stocks", "stocks"),
            ("current_output", "current_output"), ("consumption_basket", "consumption_basket"),
            ("public_basket", "public_basket"))},
        "workforce": economy.workforce, "hours_per_week": economy.hours_per_week,
        "hours_available": economy.hours_available, "enterprises": len(economy.enterprises),
        "labour_values": lv, "labour_values_problem": problem,
        "first_sectors": economy.sectors[:10],
        "warnings": economy.warnings,
    }


API_LIMITS = {"dense": 10_000, "splu": 20_000}
"""Largest n the API accepts for an explicitly requested direct method (dense LU needs 8 n^2
bytes; SuperLU's fill-in can make large factorizations run for hours in a shared pool)."""


def job_solve(spec, demand, method):
    economy = load_economy(spec)
    if method in API_LIMITS and economy.n > API_LIMITS[method]:
        raise PlanError("method", f"method {method} is limited to {API_LIMITS[method]} sectors over HTTP; "
                         f"this economy has {economy.n}: use auto or iterative")
    return solve_payload(economy, read_demand(demand, economy), method)


def job_decide(spec, decision: dict, growth: dict | None):
    economy = load_economy(spec)
    d = FundamentalDecision(**decision)
    # one model: the decision wears equipment out at the growth path's rate
    basis = DecisionBasis.build(economy, depreciation=_depreciation(growth))
    out = decide(economy, d, basis).to_dict()
    out["warnings"] = economy.warnings
    if economy.current_output is not None:
        out["current_output"] = economy.current_output.tolist()
    if economy.capacity is not None:
        out["capacity"] = economy.capacity.tolist()
    if economy.enterprises:
        sweep = basis.evaluate(d)
        t = targets(economy, sweep.gross_output[:, 0], new_capacity=sweep.new_capacity[:, 0], v=basis.v)
        arr = EnterpriseArrays.from_economy(economy)
        hpp = t.hours_per_person_week
        out["enterprises"] = {"count": len(arr), "hours_per_person_week": {
            "min": float(hpp[arr.workforce > 0].min()), "max": float(hpp[arr.workforce > 0].max())}}
    if growth is not None:
        g = _growth(economy, decision, growth, basis)
        wanted = out["private_hours"] + out["public_hours"]
        g["decision_consumption_hours"] = wanted
        g["year0_shortfall"] = max(0.0, 1.0 - g["consumption_hours"][0] / wanted) if wanted > 0 else 0.0
        out["growth"] = g
    return out


def _depreciation(growth: dict | None) -> float:
    value = (growth or {}).get("depreciation", DEPRECIATION)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else DEPRECIATION


def job_growth(spec, decision: dict, growth: dict):
    return _growth(load_economy(spec), decision, growth, None)


def _growth(economy, decision: dict, growth: dict, basis):
    g = dict(growth)
    target = g.pop("target_growth", None)
    sectors = bool(g.pop("sectors", False))
    a = GrowthAssumptions(**g)
    d = FundamentalDecision(**decision)
    if target is not None:
        return investment_for_growth(economy, d, float(target), a, basis).to_dict(sectors=sectors)
    return path_for_investment_share(economy, d, a, basis).to_dict(sectors=sectors)


def job_info(spec):
    return info_payload(load_economy(spec))


