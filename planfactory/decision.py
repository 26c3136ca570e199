"""The fundamental decision (essay, section 7f): hours of work and the split of the product.

Public API::

    FundamentalDecision(hours_per_week, consumption_share, public_share, investment_share)
        shares >= 0 and summing to 1 (ValueError otherwise).
    investment_basket(economy, expansion=None) -> (k, w)
        k: structure (sums to 1) of the equipment bought by investment, k = B w / sum(B w);
        w: the structure of the new capacity (default: proportional to current output,
        else to capacity; i.e. balanced expansion). None, None when B is absent.
    operating_matrix(economy, depreciation) -> A + depreciation * B
        what one unit of output uses up: materials (A) and the wear of the equipment it
        runs on (delta B); A itself when B is absent or depreciation is 0.
    DecisionBasis.build(economy, solver=None, expansion=None, depreciation=DEPRECIATION) -> DecisionBasis
        ONE multi-column solve of (I - A - delta B) X = F for the three baskets, scaled so
        that each column of F is worth one hour of labour (v . F[:, b] = 1):
          F (n, 3)   final demand per hour of net product, columns [private, public, investment]
          X (n, 3)   gross output per hour (l . X[:, b] = 1 exactly, up to rounding)
          v (n,)     labour values, l (I - A - delta B)^-1: the hours of a product including
                     its share of the equipment worn out making it;
          new_capacity_per_hour (n,): capacity added by one hour of (net) investment
                     (= w / (v . B w)); zero when B is absent;
          replacement_per_hour (3,): hours of equipment that replace what one hour of each
                     basket wears out (delta v . B X[:, b]).
        A solver given must have been built on operating_matrix(economy, depreciation).
    basis.hours_available(hours_per_week) -> H = workforce * hours_per_week * WEEKS_PER_YEAR
    basis.evaluate(decisions) -> DecisionSweep    (vectorized: matrix products only)
        decisions: a FundamentalDecision, a list of them, or an array (m, 4) of
        [hours_per_week, consumption_share, public_share, investment_share].
        DecisionSweep arrays (m = number of decisions): hours_available (m,), weights (3, m)
        = hours going to each basket, final_demand (n, m), gross_output (n, m),
        labour_hours (m,), private_hours_per_worker (m,) per year,
        public_hours (m,), investment_hours (m,) (net: new capacity), replacement_hours (m,),
        new_capacity (n, m).
    decide(economy, decision, basis=None, depreciation=DEPRECIATION) -> DecisionOutcome
        one decision, with feasibility; DecisionOutcome.to_dict() is JSON-able.

The model: the economy uses up materials A x and wears out equipment delta B x (the
capital used up: a share delta of the equipment B x that the output x runs on, replaced
every year). What is left, the net product f = (I - A - delta B) x, is what the decision
splits. With labour values v = l (I - A - delta B)^-1 and H hours available in the year,
the net product is worth H hours: f = H (s_c c/(v.c) + s_p g/(v.g) + s_i k/(v.k)), so
v.f = H and the hours needed l.x = v.f = H: the labour constraint holds exactly and the
question is whether capacity suffices (feasibility). By linearity
x = H (s_c x_c + s_p x_g + s_i x_k) with x_b the gross output of one hour of basket b.
The investment share is therefore net investment (new capacity); the replacement of worn
equipment, delta v.B x hours, is paid before the split and shown beside it (gross
investment = replacement + net). This is the growth path's model (planfactory/growth.py:
K_{t+1} = (1 - delta) K_t + dK_t) at its first year, with the same delta.

Weeks per year: WEEKS_PER_YEAR = 46 (52 weeks less 6 of holidays and public days off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planfactory.economy import WEEKS_PER_YEAR, Economy, EconomyError
from planfactory.feasibility import Feasibility, check
from planfactory.leontief import LeontiefSolver
from planfactory.errors import PlanError

__all__ = ["FundamentalDecision", "DecisionBasis", "DecisionSweep", "DecisionOutcome", "decide",
           "investment_basket", "decisions_array", "operating_matrix", "DEPRECIATION", "WEEKS_PER_YEAR", "BASKETS"]

BASKETS = ("private", "public", "investment")

DEPRECIATION = 0.05
"""Share of the equipment worn out in a year (the growth path's default too)."""


def operating_matrix(economy: Economy, depreciation: float = DEPRECIATION):
    """A + delta B: what a unit of output uses up, materials and the wear of its equipment."""
    if not 0 <= depreciation < 1:
        raise PlanError("depreciation", "depreciation must be in [0, 1)")
    if economy.B is None or depreciation == 0:
        return economy.A
    A, B = economy.A, economy.B
    if sp.issparse(A):
        return (sp.csr_matrix(A) + depreciation * sp.csr_matrix(B)).tocsr()
    return A + depreciation * (B.toarray() if sp.issparse(B) else B)  # never np.matrix


@dataclass(frozen=True)
class FundamentalDecision:
    """How many hours a week everyone works, and how the net product is split."""

    hours_per_week: float
    consumption_share: float
    """Share of the net product (in hours) going to private consumption."""
    public_share: float
    """Share going to public consumption (health, education, ...)."""
    investment_share: float
    """Share going to investment: equipment that becomes new capacity next year (through B)."""

    def __post_init__(self):
        vals = (self.hours_per_week, self.consumption_share, self.public_share, self.investment_share)
        if not all(np.isfinite(v) for v in vals):
            raise PlanError("decision", "hours_per_week and the shares must be finite numbers")
        if not 0 <= self.hours_per_week <= 168:
            raise PlanError("decision", "hours_per_week must be between 0 and 168")
        shares = vals[1:]
        if min(shares) < 0:
            raise PlanError("decision", "shares must be >= 0")
        if abs(sum(shares) - 1.0) > 1e-6:
            raise PlanError("decision", f"shares must sum to 1, got {sum(shares):.9g}")

    @property
    def shares(self) -> np.ndarray:
        return np.array([self.consumption_share, self.public_share, self.investment_share])

    def as_row(self) -> list[float]:
        return [self.hours_per_week, self.consumption_share, self.public_share, self.investment_share]

    def to_dict(self) -> dict:
        return {"hours_per_week": self.hours_per_week, "consumption_share": self.consumption_share,
                "public_share": self.public_share, "investment_share": self.investment_share}


def decisions_array(decisions) -> np.ndarray:
    """(m, 4) array [hours_per_week, s_c, s_p, s_i] from one decision, a list, or an array."""
    if isinstance(decisions, FundamentalDecision):
        return np.array([decisions.as_row()])
    if isinstance(decisions, (list, tuple)) and decisions and isinstance(decisions[0], FundamentalDecision):
        return np.array([d.as_row() for d in decisions])
    D = np.atleast_2d(np.asarray(decisions, dtype=float))
    if D.shape[1] != 4:
        raise PlanError("decisions", "decisions must have 4 columns: hours_per_week, consumption, public, investment shares")
    if np.any(D < 0) or np.any(np.abs(D[:, 1:].sum(axis=1) - 1) > 1e-6):
        raise PlanError("decisions", "shares must be >= 0 and sum to 1 in every decision")
    return D


def _uniform(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def investment_basket(economy: Economy, expansion=None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(k, w): equipment structure k = B w / sum(B w) for new capacity with structure w."""
    if economy.B is None:
        return None, None
    if expansion is not None:
        w = np.asarray(expansion, dtype=float)
    elif economy.current_output is not None:
        w = economy.current_output.copy()
    elif economy.capacity is not None:
        w = economy.capacity.copy()
    else:
        w = np.ones(economy.n)
    if w.shape != (economy.n,) or np.any(w < 0) or w.sum() <= 0:
        raise EconomyError("expansion", "must be n non-negative numbers, not all zero")
    w = w / w.sum()
    Bw = economy.B @ w
    if Bw.sum() <= 0:
        raise EconomyError("capital_coefficients", "B w is zero: new capacity would need no equipment")
    return Bw / Bw.sum(), w


@dataclass
class DecisionSweep:
    """Many decisions evaluated at once (columns = decisions)."""

    decisions: np.ndarray
    hours_available: np.ndarray
    weights: np.ndarray
    final_demand: np.ndarray
    gross_output: np.ndarray
    labour_hours: np.ndarray
    private_hours_per_worker: np.ndarray
    """Private consumption per worker in the year, in hours."""
    public_hours: np.ndarray
    investment_hours: np.ndarray
    """Net investment: equipment for new capacity."""
    replacement_hours: np.ndarray
    """Equipment replacing what the year's output wears out (delta v . B x)."""
    new_capacity: np.ndarray


@dataclass
class DecisionBasis:
    """Per-hour final demands and gross outputs of the three baskets (one solve)."""

    sectors: list[str]
    F: np.ndarray
    X: np.ndarray
    v: np.ndarray
    labour: np.ndarray
    hours_per_unit: np.ndarray
    new_capacity_per_hour: np.ndarray
    expansion: np.ndarray | None
    workforce: float | None
    residual: float
    has_investment: bool
    depreciation: float = 0.0
    replacement_per_hour: np.ndarray = field(default_factory=lambda: np.zeros(3))
    weeks_per_year: float = WEEKS_PER_YEAR
    solver: LeontiefSolver | None = field(default=None, repr=False)

    @classmethod
    def build(cls, economy: Economy, solver: LeontiefSolver | None = None, expansion=None,
              depreciation: float = DEPRECIATION) -> "DecisionBasis":
        depreciation = float(depreciation) if economy.B is not None else 0.0
        solver = solver or LeontiefSolver(operating_matrix(economy, depreciation))
        n = economy.n
        v = solver.labour_values(economy.labour)
        c = economy.consumption_basket if economy.consumption_basket is not None else _uniform(n)
        g = economy.public_basket if economy.public_basket is not None else _uniform(n)
        k, w = investment_basket(economy, expansion)
        cols = [c, g, k if k is not None else np.zeros(n)]
        F = np.zeros((n, 3))
        for b, basket in enumerate(cols):
            worth = float(v @ basket)
            if worth > 0:
                F[:, b] = basket / worth
            elif basket.any():
                raise EconomyError("labour", f"the {BASKETS[b]} basket costs no labour: cannot scale it to hours")
        sol = solver.solve(F)
        X = sol.gross_output
        if k is not None:
            vBw = float(v @ (economy.B @ w))
            new_cap = w / vBw
            replacement = depreciation * np.asarray(v @ (economy.B @ X)).ravel()
        else:
            new_cap = np.zeros(n)
            replacement = np.zeros(3)
        return cls(sectors=list(economy.sectors), F=F, X=X, v=v, labour=economy.labour, hours_per_unit=economy.labour @ X,
                   new_capacity_per_hour=new_cap, expansion=w, workforce=economy.workforce, residual=sol.residual,
                   has_investment=k is not None, depreciation=depreciation, replacement_per_hour=replacement,
                   solver=solver)

    def hours_available(self, hours_per_week) -> np.ndarray:
        if self.workforce is None:
            raise EconomyError("workforce", "is needed to turn hours per week into hours available")
        return self.workforce * np.asarray(hours_per_week, dtype=float) * self.weeks_per_year

    def evaluate(self, decisions) -> DecisionSweep:
        D = decisions_array(decisions)
        if not self.has_investment and np.any(D[:, 3] > 0):
            raise EconomyError("capital_coefficients", "are needed to turn an investment share into equipment")
        H = self.hours_available(D[:, 0])
        W = D[:, 1:].T * H  # (3, m): hours going to each basket
        F = self.F @ W
        X = self.X @ W
        return DecisionSweep(decisions=D, hours_available=H, weights=W, final_demand=F, gross_output=X,
                             labour_hours=self.labour @ X, private_hours_per_worker=W[0] / self.workforce,
                             public_hours=W[1], investment_hours=W[2], replacement_hours=self.replacement_per_hour @ W,
                             new_capacity=np.outer(self.new_capacity_per_hour, W[2]))


@dataclass
class DecisionOutcome:
    """What one fundamental decision means (items b-d of the essay; e is in growth.py).

    Names say whose and what: ``private_hours`` is private consumption only (public
    consumption is ``public_hours``), "per worker" divides by the workforce (not the
    population, which the economy may not state), and the investment is split into the
    replacement of worn equipment and net investment (new capacity).
    """

    decision: FundamentalDecision
    sectors: list[str]
    hours_available: float
    final_demand: np.ndarray
    gross_output: np.ndarray
    labour_hours: float
    labour_values: np.ndarray
    private_hours_per_worker: float
    private_hours: float
    public_hours: float
    investment_hours: float
    replacement_hours: float
    depreciation: float
    new_capacity: np.ndarray
    residual: float
    feasibility: Feasibility
    workforce: float

    def to_dict(self) -> dict:
        gross = self.investment_hours + self.replacement_hours
        return {
            "decision": self.decision.to_dict(),
            "weeks_per_year": WEEKS_PER_YEAR,
            "depreciation": self.depreciation,
            "hours_available": self.hours_available,
            "labour_hours": self.labour_hours,
            "workforce": self.workforce,
            "net_product_hours": self.private_hours + self.public_hours + self.investment_hours,
            "private_hours_per_worker": self.private_hours_per_worker,
            "private_hours_per_worker_per_week": self.private_hours_per_worker / WEEKS_PER_YEAR,
            "private_hours": self.private_hours,
            "public_hours": self.public_hours,
            "investment_hours": self.investment_hours,
            "replacement_hours": self.replacement_hours,
            "gross_investment_hours": gross,
            "replacement_share_of_gross_investment": self.replacement_hours / gross if gross > 0 else None,
            "final_demand": self.final_demand.tolist(),
            "gross_output": self.gross_output.tolist(),
            "labour_values": self.labour_values.tolist(),
            "new_capacity": self.new_capacity.tolist(),
            "residual": self.residual,
            "feasible": bool(self.feasibility.feasible),
            "feasibility": self.feasibility.to_dict(),
        }


def decide(economy: Economy, decision: FundamentalDecision, basis: DecisionBasis | None = None,
           depreciation: float = DEPRECIATION) -> DecisionOutcome:
    """The net product of ``decision``, what it implies, and whether capacity allows it.

    ``final_demand`` is the net product (what is left after materials and the replacement
    of worn equipment); ``gross_output`` includes both. ``depreciation`` is used only when
    no ``basis`` is given (a basis carries its own).
    """
    basis = basis or DecisionBasis.build(economy, depreciation=depreciation)
    s = basis.evaluate(decision)
    x = s.gross_output[:, 0]
    f = s.final_demand[:, 0]
    solver = basis.solver
    residual = solver.residual(x, f) if solver is not None else basis.residual
    H = float(s.hours_available[0])
    return DecisionOutcome(
        decision=decision, sectors=basis.sectors, hours_available=H, final_demand=f, gross_output=x,
        labour_hours=float(s.labour_hours[0]), labour_values=basis.v,
        private_hours_per_worker=float(s.private_hours_per_worker[0]),
        private_hours=float(s.weights[0, 0]), public_hours=float(s.public_hours[0]),
        investment_hours=float(s.investment_hours[0]), replacement_hours=float(s.replacement_hours[0]),
        depreciation=basis.depreciation, new_capacity=s.new_capacity[:, 0], residual=residual,
        feasibility=check(economy, x, hours_available=H), workforce=float(economy.workforce))
