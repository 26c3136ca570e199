"""Variants of the plan, mass-produced: sweep, solve in batches, keep the feasible, pick a few.

A variant is a fundamental decision (hours per week; private, public and investment
shares of the net product) together with a set of proposals. Everything is linear in
the economy's structure (docs/plan-variants.md, "Method"), so V variants are evaluated
with matrix products over one factorization:

- ``H_v = workforce * hours_per_week_v * WEEKS + sum_p t_pv dL_p``: hours worked in the year;
- proposals in the set take their final demand ``d_p`` (extra product and equipment) out of
  the net product; the rest ``R_v = H_v - sum_p t_pv (v.d_p)`` is split by the shares;
- gross output ``X = D T + X_basis (s * R)``  (n x V): one (n x P)(P x V) and one
  (n x 3)(3 x V) product, with ``X_basis`` the gross output of one hour of each basket;
- feasible when ``X <= capacity + dcap T`` in every sector and ``R >= 0``;
- private consumption per person per week ``C_v / (workforce * WEEKS)``, with
  ``C_v = s_c R_v + v.dy_S s_c / (s_c + s_p)``, public ``s_p R_v + v.dy_S s_p / (s_c + s_p)``
  (the proposals' extra product is consumed), investment ``s_i R_v + v.Z_S`` (equipment);
  the three add up to the hours worked;
- growth of consumption per year (item e), averaged over the growth horizon (10 years by
  default): investment becomes capacity, capacity (less depreciation) and hours (with
  productivity growth) bound the net product each year; the solver's estimate of its LP
  (:func:`planfactory.growth.approximate_growth`; the LP gives the exact multi-year path).

Then :func:`select` picks 3 to 5 variants that are not dominated by any feasible variant
(fewer hours, more private and public consumption, more growth) and span the trade-off,
:func:`group` puts every other feasible variant behind the chosen one whose concrete
implications are closest, and the chosen ones are named A, B, C... by hours per week.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from planfactory.decision import DecisionBasis, FundamentalDecision, operating_matrix
from planfactory.economy import WEEKS_PER_YEAR, Economy
from planfactory.growth import GrowthAssumptions, approximate_growth
from planfactory.incompat import structure
from planfactory.leontief import LeontiefSolver
from planfactory.proposals import Proposal, ResolvedProposals, resolve
from planfactory.errors import PlanError

__all__ = ["DEFAULT_PARAMETERS", "Context", "VariantSpecs", "VariantArrays", "build_context", "parameters_with_defaults",
           "sweep_specs", "evaluate", "pareto_mask", "select", "group", "compatible_sets", "NAMES", "spec_key"]

NAMES = [chr(ord("A") + k) for k in range(26)]
TOL = 1e-9

DEFAULT_PARAMETERS: dict = {
    "status_quo": {"hours_per_week": None, "consumption_share": 0.74, "public_share": 0.21, "investment_share": 0.05},
    "hours_per_week": [32.0, 34.0, 36.0, 38.0, 40.0, 42.0],
    "investment_shares": [0.0, 0.015, 0.03, 0.045, 0.06, 0.075, 0.09],
    "public_shares": [0.18, 0.21, 0.25],
    "proposal_sets": 4,
    "select": 5,
    "threshold_pct": 1.0,
    "estimates": [],
    "processes": [],
    "growth": {"years": 10, "depreciation": 0.05, "labour_productivity_growth": 0.02, "workforce_growth": 0.0},
    "samples": 16,
    "seed": 0,
    "variants": None,
}
"""Parameters of a run; ``None`` hours in the status quo means the economy's hours today.

Shares are of the net product, what is left after the materials and the replacement of
worn equipment (``growth.depreciation`` of it a year, the same rate on the growth path):
the investment shares are net investment, new capacity (docs/plan-variants.md).

Without capital coefficients B the investment shares default to 0 (the status quo's
investment share goes to private consumption); a positive one is refused.

``variants``, when given, pins the variants (a list of ``{"decision": {...}, "proposals": [ids]}``):
no sweep, no selection; a revision recomputes the published variants this way.
"""


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _check_object(v, name: str, known: dict) -> None:
    """``parameters.<name>`` is an object of numbers with known keys (hours may be null)."""
    if not isinstance(v, dict):
        raise PlanError(f"parameters.{name}", "must be an object")
    for key, x in v.items():
        if key not in known:
            raise PlanError(f"parameters.{name}.{key}", f"unknown; known: {', '.join(sorted(known))}")
        if not (_number(x) or (x is None and name == "status_quo" and key == "hours_per_week")):
            raise PlanError(f"parameters.{name}.{key}", "must be a number")


def _check_types(p: dict) -> None:
    """Every parameter has the type the computation reads: client input, refused with its name."""
    for key, lo, hi in (("proposal_sets", 0, 64), ("samples", 1, 10_000), ("seed", 0, 2 ** 32 - 1)):
        v = p[key]
        if not _number(v) or v != int(v) or not lo <= v <= hi:
            raise PlanError(f"parameters.{key}", f"must be an integer in [{lo}, {hi}]")
    if not _number(p["threshold_pct"]) or p["threshold_pct"] < 0:
        raise PlanError("parameters.threshold_pct", "must be a number >= 0")
    for key in ("estimates", "processes"):
        if not isinstance(p[key], list) or not all(isinstance(x, dict) for x in p[key]):
            raise PlanError(f"parameters.{key}", "must be a list of objects")
    if p["variants"] is not None:
        if not isinstance(p["variants"], list) or not p["variants"]:
            raise PlanError("parameters.variants", "must be a non-empty list of {decision, proposals}")
        for k, item in enumerate(p["variants"]):
            if not isinstance(item, dict) or not isinstance(item.get("decision"), dict):
                raise PlanError(f"parameters.variants[{k}]", "must be an object with a decision object")
            _check_object(item["decision"], f"variants[{k}].decision", DEFAULT_PARAMETERS["status_quo"])
            missing = sorted(set(DEFAULT_PARAMETERS["status_quo"]) - set(item["decision"]))
            if missing or item["decision"]["hours_per_week"] is None:
                raise PlanError(f"parameters.variants[{k}].decision", "needs hours_per_week, consumption_share, "
                                "public_share and investment_share, as numbers")
            props = item.get("proposals", [])
            if not isinstance(props, list) or not all(isinstance(x, str) for x in props):
                raise PlanError(f"parameters.variants[{k}].proposals", "must be a list of proposal ids")


def parameters_with_defaults(parameters: dict | None, economy: Economy) -> dict:
    """Complete ``parameters`` with the defaults (the completed dict is what gets hashed)."""
    if parameters is not None and not isinstance(parameters, dict):
        raise PlanError("parameters", "parameters must be a JSON object")
    p = {k: (v.copy() if isinstance(v, dict) else v) for k, v in DEFAULT_PARAMETERS.items()}
    for k, v in (parameters or {}).items():
        if k not in p:
            raise PlanError("parameters", f"unknown parameter {k!r}")
        if k in ("status_quo", "growth"):
            _check_object(v, k, DEFAULT_PARAMETERS[k])
            p[k] = {**p[k], **v}
        else:
            p[k] = v
    _check_types(p)
    if economy.B is None:  # no capital coefficients: investment cannot become equipment
        given = parameters or {}
        if "investment_shares" not in given:
            p["investment_shares"] = [0.0]
        if "investment_share" not in (given.get("status_quo") or {}):
            sq = p["status_quo"]
            p["status_quo"] = {**sq, "consumption_share": sq["consumption_share"] + sq["investment_share"],
                               "investment_share": 0.0}
        if any(float(x) > 0 for x in p["investment_shares"]) or p["status_quo"]["investment_share"] > 0:
            raise PlanError("parameters", "the economy has no capital coefficients (B): investment shares must be 0")
    if p["status_quo"]["hours_per_week"] is None:
        p["status_quo"]["hours_per_week"] = float(economy.hours_per_week if economy.hours_per_week is not None else 40.0)
    FundamentalDecision(**p["status_quo"])  # validates
    for name in ("hours_per_week", "investment_shares", "public_shares"):
        vals = p[name]
        if not isinstance(vals, list) or not vals or not all(isinstance(x, (int, float)) for x in vals):
            raise PlanError("parameters", f"{name} must be a non-empty list of numbers")
    select = p["select"]
    if isinstance(select, bool) or not isinstance(select, (int, float)) or select != int(select) \
            or not 1 <= select <= 26:
        raise PlanError("parameters", "select must be an integer between 1 and 26")
    return p


@dataclass
class Context:
    """What every variant of one set of inputs shares: one factorization, one multi-column solve."""

    economy: Economy
    proposals: list[Proposal]
    parameters: dict
    solver: LeontiefSolver
    basis: DecisionBasis
    resolved: ResolvedProposals
    today: np.ndarray
    """Each sector's output today (economy.current_output, else the status quo's)."""
    status_quo: FundamentalDecision
    vB: np.ndarray
    """(v B)_j: hours of equipment per unit of new capacity of sector j (0 without B)."""
    vBX: np.ndarray = field(default=None)
    """(3,) v B X_basis: equipment hours to double the output of one hour of each basket."""
    ent_sector: np.ndarray = field(default=None)
    ent_share: np.ndarray = field(default=None)
    ent_workforce: np.ndarray = field(default=None)

    @property
    def n(self) -> int:
        return self.economy.n

    @property
    def workforce(self) -> float:
        return float(self.economy.workforce)


def build_context(economy: Economy, proposals: list[Proposal], parameters: dict | None = None,
                  A=None, overrides: dict | None = None) -> Context:
    """Factorize once, build the basket basis and resolve the proposals.

    ``A`` or ``overrides`` (``{"A": ..., "B": ..., "labour": ...}``) replace the economy's data
    (for sampling estimated coefficients).
    """
    if economy.workforce is None or economy.workforce <= 0:
        raise PlanError("economy.workforce", "the economy needs a workforce (persons) for variants")
    params = parameters_with_defaults(parameters, economy)
    if A is not None:
        overrides = {**(overrides or {}), "A": A}
    if overrides:
        economy = _with(economy, overrides)
    # one model with the growth path: output wears equipment out at the path's rate, so
    # values, gross outputs and capacity use include the replacement (decision.operating_matrix)
    delta = float(params["growth"]["depreciation"]) if economy.B is not None else 0.0
    solver = LeontiefSolver(operating_matrix(economy, delta))
    basis = DecisionBasis.build(economy, solver, depreciation=delta)
    sq = FundamentalDecision(**params["status_quo"])
    if economy.current_output is not None:
        today = np.asarray(economy.current_output, dtype=float)
    else:
        today = basis.evaluate(sq).gross_output[:, 0]
    res = resolve(economy, proposals, solver, basis.v, today)
    if economy.B is not None:
        vB = np.asarray(economy.B.T @ basis.v).ravel()
    else:
        vB = np.zeros(economy.n)
    ents = economy.enterprises
    return Context(economy=economy, proposals=list(proposals), parameters=params, solver=solver, basis=basis,
                   resolved=res, today=today, status_quo=sq, vB=vB, vBX=vB @ basis.X,
                   ent_sector=np.array([e.sector for e in ents], dtype=np.int64),
                   ent_share=np.array([e.share for e in ents], dtype=float),
                   ent_workforce=np.array([e.workforce for e in ents], dtype=float))


def _with(economy: Economy, overrides: dict) -> Economy:
    """A shallow copy of ``economy`` with some of A, B, labour replaced (sampled estimates)."""
    e = copy.copy(economy)
    for name, value in overrides.items():
        setattr(e, name, value)
    return e


@dataclass
class VariantSpecs:
    """V variants: decisions (V, 4) = [hours per week, s_c, s_p, s_i] and proposal sets T (P, V)."""

    decisions: np.ndarray
    T: np.ndarray

    @property
    def V(self) -> int:
        return self.decisions.shape[0]

    def take(self, idx) -> "VariantSpecs":
        idx = np.asarray(idx, dtype=np.int64)
        return VariantSpecs(self.decisions[idx], self.T[:, idx])


def spec_key(decision_row, proposal_ids) -> str:
    """A stable text key of a variant's specification (used to match published versions)."""
    h, c, p, i = (float(x) for x in decision_row)
    return f"h={h:.6g};c={c:.6g};p={p:.6g};i={i:.6g};S={','.join(sorted(proposal_ids))}"


@dataclass
class VariantArrays:
    """Every number of V variants, as arrays (columns = variants)."""

    specs: VariantSpecs
    X: np.ndarray
    """(n, V) gross output."""
    capacity: np.ndarray | None
    """(n, V) capacity including proposals' additions (None without capacity data)."""
    hours_total: np.ndarray
    """(V,) hours worked in the year."""
    rest: np.ndarray
    """(V,) hours of net product left for the three baskets after the proposals' demands."""
    consumption: np.ndarray
    public: np.ndarray
    investment: np.ndarray
    """(V,) hours of labour (value) going to each use in the year."""
    basket_investment: np.ndarray
    """(V,) investment bought through the investment basket (becomes new capacity next year)."""
    growth: np.ndarray
    """(V,) growth of consumption per year (fraction)."""
    feasible: np.ndarray
    max_utilisation: np.ndarray
    """(V,) largest output / capacity over sectors."""
    tightest: np.ndarray
    """(V,) index of that sector."""
    workforce: float
    replacement: np.ndarray | None = None
    """(V,) hours of equipment replacing what the year's output wears out (delta v . B x),
    paid before the net product is split (so not in ``investment``, which is net)."""

    @property
    def V(self) -> int:
        return self.X.shape[1]

    @property
    def consumption_pp_week(self) -> np.ndarray:
        return self.consumption / (self.workforce * WEEKS_PER_YEAR)

    @property
    def public_pp_week(self) -> np.ndarray:
        return self.public / (self.workforce * WEEKS_PER_YEAR)

    @property
    def hours_pp_week(self) -> np.ndarray:
        return self.hours_total / (self.workforce * WEEKS_PER_YEAR)

    @property
    def shares(self) -> np.ndarray:
        """(3, V) realized shares of the net product: private, public, investment."""
        tot = self.consumption + self.public + self.investment
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.vstack([self.consumption, self.public, self.investment]) / np.where(tot > 0, tot, 1.0)

    def objectives(self) -> np.ndarray:
        """(V, 4) to maximize: minus the hours per person per week (the decision's hours plus the
        proposals' changes, averaged over the workforce), private and public consumption per person,
        growth."""
        return np.column_stack([-self.hours_pp_week, self.consumption_pp_week, self.public_pp_week,
                                np.nan_to_num(self.growth, nan=0.0)])  # NaN (no B): the same for all


def evaluate(ctx: Context, specs: VariantSpecs) -> VariantArrays:
    """All numbers of all variants in ``specs`` (matrix products only)."""
    r = ctx.resolved
    D = specs.decisions
    T = specs.T.astype(float)
    W = ctx.workforce
    H = W * D[:, 0] * WEEKS_PER_YEAR + (r.dL @ T if r.P else 0.0)
    vd = r.value_Z + r.value_dy
    R = H - (vd @ T if r.P else 0.0)
    S = D[:, 1:].T  # (3, V)
    X = ctx.basis.X @ (S * R)
    if r.P:
        X = X + r.D @ T
    cap = ctx.economy.capacity
    if cap is not None:
        capv = np.repeat(cap[:, None], specs.V, axis=1)
        if r.P:
            np.add.at(capv, r.sector, r.dcap[:, None] * T)
        with np.errstate(divide="ignore", invalid="ignore"):
            util = np.where(capv > 0, X / np.where(capv > 0, capv, 1.0), np.where(X > TOL, np.inf, 0.0))
        tight = np.argmax(util, axis=0)
        maxu = util[tight, np.arange(specs.V)]
        feasible = (maxu <= 1.0 + 1e-9) & (R >= -TOL)
    else:
        capv = None
        tight = np.zeros(specs.V, dtype=np.int64)
        maxu = np.full(specs.V, np.nan)
        feasible = R >= -TOL
    vdy = r.value_dy @ T if r.P else np.zeros(specs.V)
    vZ = r.value_Z @ T if r.P else np.zeros(specs.V)
    # the proposals' extra product goes to consumption, private and public in the decision's proportion
    cp = S[0] + S[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(cp > 0, S[0] / np.where(cp > 0, cp, 1.0), 0.5)
    cons, pub = S[0] * R + frac * vdy, S[1] * R + (1 - frac) * vdy
    basket_inv = S[2] * R
    inv = basket_inv + vZ
    growth = _growth(ctx, X, basket_inv)
    replacement = ctx.basis.depreciation * (ctx.vB @ X)
    return VariantArrays(specs=specs, X=X, capacity=capv, hours_total=H, rest=R, consumption=cons, public=pub,
                         investment=inv, basket_investment=basket_inv, growth=growth, feasible=feasible,
                         max_utilisation=maxu, tightest=tight, workforce=W, replacement=replacement)


def _growth(ctx: Context, X: np.ndarray, basket_inv: np.ndarray) -> np.ndarray:
    """Item e by the solver's estimate of the LP's average growth (:func:`planfactory.growth.approximate_growth`).

    The investment bought through the basket becomes new capacity; year by year the
    variant's net product grows as far as capacity (less depreciation) and hours (with
    productivity and workforce growth) allow. NaN (shown as "not known") when the
    economy has no capital coefficients or no output data.
    """
    sweep = SimpleNamespace(gross_output=X, investment_hours=basket_inv)
    return np.asarray(approximate_growth(ctx.economy, ctx.basis, sweep, GrowthAssumptions(**ctx.parameters["growth"])),
                      dtype=float)


# --------------------------------------------------------------------------- the sweep
def compatible_sets(ctx: Context, sets_incompatible: list[list[int]], limit: int) -> list[np.ndarray]:
    """Up to ``limit`` proposal sets (0/1 vectors) that fit together at the status quo decision.

    The empty set first; then maximal sets that fit (no proposal can be added), the first
    a largest one, each next one with a proposal outside every earlier one and preferring
    proposals the earlier ones left out (:func:`planfactory.incompat.maximal_feasible_sets`,
    HiGHS). Ties go by proposal id, never by position, so symmetric proposals are tried
    alike: three proposals of which any two overdraw a sector give {}, {1}, {2}, {3}. A
    sector the status quo already overdraws counts as full. ``sets_incompatible`` (the
    named sets) is not needed: the sets are computed from the structure itself, which also
    admits a set that holds only because one of its proposals frees capacity.
    """
    from planfactory.incompat import maximal_feasible_sets, proposal_key

    P = ctx.resolved.P
    out = [np.zeros(P, dtype=bool)]
    if P == 0 or limit <= 1:
        return out
    G, h, _rows = structure(ctx)
    for S in maximal_feasible_sets(G, h, limit - 1, keys=[proposal_key(i) for i in ctx.resolved.ids()]):
        t = np.zeros(P, dtype=bool)
        t[S] = True
        if t.any():
            out.append(t)
    return out


def sweep_specs(ctx: Context, proposal_sets: list[np.ndarray]) -> VariantSpecs:
    """The grid: hours x public share x investment share x proposal set (private takes the rest)."""
    p = ctx.parameters
    rows, cols = [], []
    for t in proposal_sets:
        for h, sp_, si in itertools.product(p["hours_per_week"], p["public_shares"], p["investment_shares"]):
            sc = 1.0 - sp_ - si
            if sc < 0:
                continue
            rows.append([float(h), sc, float(sp_), float(si)])
            cols.append(t)
    P = ctx.resolved.P
    T = np.array(cols, dtype=bool).T if cols else np.zeros((P, 0), dtype=bool)
    return VariantSpecs(np.array(rows, dtype=float).reshape(-1, 4), T.reshape(P, len(rows)))


def pinned_specs(ctx: Context, pinned: list[dict]) -> VariantSpecs:
    """Specs from ``parameters["variants"]`` (a revision keeps the published variants)."""
    ids = ctx.resolved.ids()
    pos = {pid: k for k, pid in enumerate(ids)}
    rows, T = [], np.zeros((len(ids), len(pinned)), dtype=bool)
    for v, item in enumerate(pinned):
        d = FundamentalDecision(**item["decision"])
        rows.append(d.as_row())
        for pid in item.get("proposals", []):
            if pid not in pos:
                raise PlanError("parameters.variants", f"a pinned variant names unknown proposal {pid!r}")
            T[pos[pid], v] = True
    return VariantSpecs(np.array(rows, dtype=float).reshape(-1, 4), T)


# --------------------------------------------------------------------------- choosing
def pareto_mask(obj: np.ndarray) -> np.ndarray:
    """True for rows not dominated by another row (all >=, one >), objectives maximized."""
    V = obj.shape[0]
    keep = np.ones(V, dtype=bool)
    # sort by the first objective so that dominators come early; compare in blocks
    order = np.lexsort(obj.T[::-1])[::-1]
    o = obj[order]
    scale = np.maximum(np.abs(o).max(axis=0), 1.0) * 1e-12
    for a in range(V):
        if not keep[order[a]]:
            continue
        ge = np.all(o >= o[a] - scale, axis=1)
        gt = np.any(o > o[a] + scale, axis=1)
        if np.any(ge & gt):
            keep[order[a]] = False
    return keep


def select(arr: VariantArrays, k: int = 5) -> np.ndarray:
    """Indices of up to ``k`` (at least 3 when there are) feasible, non-dominated variants.

    The front's extremes first: fewest hours per person, most private consumption, most growth
    (each tie broken by the other objectives); then farthest-point picks in the
    objectives scaled to [0, 1] until ``k``.
    """
    feas = np.flatnonzero(arr.feasible)
    if feas.size == 0:
        return feas
    obj = arr.objectives()[feas]
    front = feas[pareto_mask(obj)]
    fo = arr.objectives()[front]
    chosen: list[int] = []
    for col in (0, 1, 3):
        keys = [fo[:, c] for c in range(fo.shape[1]) if c != col][::-1] + [fo[:, col]]
        best = front[np.lexsort(keys)[-1]]
        if best not in chosen:
            chosen.append(int(best))
    lo, hi = fo.min(axis=0), fo.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    z = (fo - lo) / span
    pos = {int(v): i for i, v in enumerate(front)}
    while len(chosen) < min(k, front.size):
        d = np.min(np.linalg.norm(z[:, None, :] - z[[pos[c] for c in chosen]][None, :, :], axis=2), axis=1)
        d[[pos[c] for c in chosen]] = -1
        nxt = int(front[int(np.argmax(d))])
        if d.max() <= 0:
            break
        chosen.append(nxt)
    chosen = chosen[:k]
    # name by hours per week, then private consumption (neutral order)
    chosen.sort(key=lambda i: (round(float(arr.hours_pp_week[i]), 9), -arr.consumption_pp_week[i], i))
    return np.array(chosen, dtype=np.int64)


def group(arr: VariantArrays, chosen: np.ndarray, today: np.ndarray) -> np.ndarray:
    """For each variant, the position in ``chosen`` of the chosen variant it is grouped behind.

    Concrete implications: first the same proposal set; then the smallest largest
    difference in any sector's output target, in % of today's output. Infeasible
    variants get -1.
    """
    V = arr.V
    out = np.full(V, -1, dtype=np.int64)
    if chosen.size == 0:
        return out
    feas = np.flatnonzero(arr.feasible)
    scale = np.where(today > 0, today, 1.0)[:, None]
    Xc = arr.X[:, chosen] / scale
    Tc = arr.specs.T[:, chosen]
    step = max(1, int(2e7 // max(1, arr.X.shape[0] * chosen.size)))  # bound the (n, b, c) temporary
    for start in range(0, feas.size, step):
        idx = feas[start:start + step]
        Xv = arr.X[:, idx] / scale
        dist = np.max(np.abs(Xv[:, :, None] - Xc[:, None, :]), axis=0)  # (b, c)
        same = np.all(arr.specs.T[:, idx][:, :, None] == Tc[:, None, :], axis=0)
        dist = dist + np.where(same, 0.0, 1e6)
        out[idx] = np.argmin(dist, axis=1)
    out[chosen] = np.arange(chosen.size)
    return out
