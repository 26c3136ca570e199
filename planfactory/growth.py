"""Multi-year paths: investment becomes capacity through B (essay 7f, item e).

Public API::

    GrowthAssumptions(years=10, depreciation=0.05, labour_productivity_growth=0.02,
                      workforce_growth=0.0)
    path_for_investment_share(economy, decision, assumptions=None, basis=None) -> GrowthPath
        the investment share of the decision held every year; HiGHS chooses where the
        equipment goes so as to maximize consumption summed over the years.
    investment_for_growth(economy, decision, target_growth, assumptions=None, basis=None) -> GrowthPath
        consumption must grow by target_growth a year; the highest first-year consumption
        compatible with that, and the investment (hours, share) it needs every year.
        (decision gives the hours and the private/public proportion; its investment share is ignored.)
    approximate_growth(economy, basis, sweep, assumptions=None) -> (m,) array
        the LP's average growth estimated for many decisions at once (no LP): the path of
        the aggregate in each decision's own structure, capacity or hours binding each
        year; for sweeping variants (docs/planfactory.md, "Growth").
    long_run_growth(economy, basis, sweep, assumptions=None) -> (m,) array
        s / kappa capped by labour's growth (s: net investment share; kappa: capital / net product).
    GrowthPath: years (T,), consumption_hours (T,) (private + public, valued at year-0
        labour values), consumption_hours_per_person (T,), growth (T-1,), average_growth,
        investment_hours (T,), investment_share (T,), gross_output (n, T), capacity (n, T),
        new_capacity (n, T), hours_needed (T,), hours_available (T,), feasible (T,) bool,
        binding (list per year), status (HiGHS message), to_dict().

The linear programme (docs/planfactory.md, "Growth"), years t = 0..T-1, everything scaled
by H_0 (hours available in year 0)::

    (I - A) x_t = theta_t f_cp + B dK_t            balance: consumption plus equipment
    K_{t+1} = (1 - delta) K_t + dK_t,  K_0 = capacity   equipment made in year t works from t+1
    x_t <= K_t                                      capacity, every year
    l_t . x_t <= H_t,  l_t = l / (1 + pi)^t,  H_t = H_0 (1 + w)^t      labour, every year
    share mode:   v . B (dK_t - delta x_t) = s_i / (1 - s_i) theta_t
                  (net investment, beyond the replacement of the equipment in use, is s_i of
                  the net product, as in the fundamental decision: planfactory/decision.py)
    growth mode:  theta_t = (1 + g)^t theta_0
    x, K, dK, theta >= 0

f_cp is the decision's private and public baskets in its proportion, worth one hour
(v . f_cp = 1), so theta_t is consumption in year-0 hours. Without productivity or
workforce growth, hours cap the net product and consumption cannot grow for long: the
model says so rather than inventing growth. The LP is solved for T + LOOKAHEAD (3) years
and only the first T are reported: near the end of a horizon the LP may send equipment
where it serves only the last year, which a longer horizon would not do.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from planfactory.decision import DecisionBasis, DecisionSweep, FundamentalDecision
from planfactory.economy import WEEKS_PER_YEAR, Economy, EconomyError
from planfactory.feasibility import check
from planfactory.errors import PlanError

LOOKAHEAD = 3
"""Years solved beyond the reported horizon: near its end the LP may send equipment where
it serves only the last year (nothing after it counts); with 3 more years solved and
dropped, the reported years equal those of a much longer horizon (tests/planfactory/test_growth.py)."""

__all__ = ["GrowthAssumptions", "GrowthPath", "path_for_investment_share", "investment_for_growth",
           "approximate_growth", "long_run_growth"]


@dataclass(frozen=True)
class GrowthAssumptions:
    years: int = 10
    """Length of the path (T >= 2)."""
    depreciation: float = 0.05
    """Share of capacity that wears out each year."""
    labour_productivity_growth: float = 0.02
    """pi: yearly fall of the hours needed per unit of output (l_t = l / (1 + pi)^t)."""
    workforce_growth: float = 0.0
    """Yearly growth of the workforce."""

    def __post_init__(self):
        if int(self.years) < 2 or int(self.years) > 100:
            raise PlanError("growth.years", "years must be between 2 and 100")
        if not 0 <= self.depreciation < 1:
            raise PlanError("growth.depreciation", "depreciation must be in [0, 1)")
        if not -0.5 < self.labour_productivity_growth < 1 or not -0.5 < self.workforce_growth < 1:
            raise PlanError("growth", "growth rates must be in (-0.5, 1)")

    def to_dict(self) -> dict:
        return {"years": self.years, "depreciation": self.depreciation,
                "labour_productivity_growth": self.labour_productivity_growth,
                "workforce_growth": self.workforce_growth}


@dataclass
class GrowthPath:
    mode: str
    decision: FundamentalDecision
    assumptions: GrowthAssumptions
    sectors: list[str]
    years: np.ndarray
    consumption_hours: np.ndarray
    consumption_hours_per_person: np.ndarray
    growth: np.ndarray
    average_growth: float
    investment_hours: np.ndarray
    investment_share: np.ndarray
    gross_output: np.ndarray
    capacity: np.ndarray
    new_capacity: np.ndarray
    hours_needed: np.ndarray
    hours_available: np.ndarray
    feasible: np.ndarray
    binding: list
    status: str
    target_growth: float | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self, sectors: bool = False) -> dict:
        d = {
            "mode": self.mode, "decision": self.decision.to_dict(), "assumptions": self.assumptions.to_dict(),
            "target_growth": self.target_growth, "years": self.years.tolist(),
            "consumption_hours": self.consumption_hours.tolist(),
            "consumption_hours_per_person": self.consumption_hours_per_person.tolist(),
            "growth": self.growth.tolist(), "average_growth": self.average_growth,
            "investment_hours": self.investment_hours.tolist(), "investment_share": self.investment_share.tolist(),
            "hours_needed": self.hours_needed.tolist(), "hours_available": self.hours_available.tolist(),
            "feasible": self.feasible.tolist(), "binding": self.binding, "status": self.status,
        }
        if sectors:
            d.update(gross_output=self.gross_output.T.tolist(), capacity=self.capacity.T.tolist(),
                     new_capacity=self.new_capacity.T.tolist())
        return d


def _prepare(economy: Economy, decision: FundamentalDecision, basis: DecisionBasis | None,
             depreciation: float):
    if economy.B is None:
        raise EconomyError("capital_coefficients", "are needed for a growth path (investment -> capacity)")
    if economy.capacity is None:
        raise EconomyError("capacity", "is needed for a growth path")
    if economy.workforce is None:
        raise EconomyError("workforce", "is needed for a growth path")
    # one model: the year-0 values and baskets wear equipment out at the path's rate (a
    # basis built for another rate would value the path with the wrong values)
    if basis is None or basis.depreciation != depreciation:
        basis = DecisionBasis.build(economy, depreciation=depreciation)
    cp = decision.consumption_share + decision.public_share
    if cp <= 0:
        raise PlanError("decision", "a growth path needs some consumption (private or public share > 0)")
    f = (decision.consumption_share * basis.F[:, 0] + decision.public_share * basis.F[:, 1]) / cp
    return basis, f


def _solve(economy: Economy, decision: FundamentalDecision, a: GrowthAssumptions, basis: DecisionBasis,
           f: np.ndarray, mode: str, target: float | None) -> GrowthPath:
    n, Tr = economy.n, int(a.years)
    T = Tr + LOOKAHEAD  # solved years; the last LOOKAHEAD are not reported (end-of-horizon effect)
    H0 = float(basis.hours_available(decision.hours_per_week))
    if H0 <= 0:
        raise PlanError("decision", "no hours available: hours_per_week and workforce must be > 0")
    A = sp.csr_matrix(economy.A)
    B = sp.csr_matrix(economy.B)
    vB = np.asarray(B.T @ basis.v).ravel()
    K0 = economy.capacity / H0
    nv = 3 * n + 1  # per year: x, K, dK, theta

    def ix(t, part):
        base = t * nv
        return {"x": base, "K": base + n, "dK": base + 2 * n, "th": base + 3 * n}[part]

    N = T * nv
    I = sp.identity(n, format="csr")
    eq_blocks, eq_rhs = [], []
    ub_blocks, ub_rhs = [], []

    def block(rows, entries):
        r, c, v = [], [], []
        for col0, sub in entries:
            sub = sp.coo_matrix(sub)
            r.append(sub.row)
            c.append(sub.col + col0)
            v.append(sub.data)
        return sp.csr_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))), shape=(rows, N))

    s_i = decision.investment_share
    if mode == "share" and s_i >= 1:
        raise PlanError("decision", "investment share must be below 1 for a path (something must be consumed)")
    r = s_i / (1 - s_i) if mode == "share" else None
    for t in range(T):
        eq_blocks.append(block(n, [(ix(t, "x"), I - A), (ix(t, "dK"), -B), (ix(t, "th"), -f[:, None])]))
        eq_rhs.append(np.zeros(n))
        if t >= 1:
            eq_blocks.append(block(n, [(ix(t, "K"), I), (ix(t - 1, "K"), -(1 - a.depreciation) * I),
                                       (ix(t - 1, "dK"), -I)]))
            eq_rhs.append(np.zeros(n))
        if mode == "share":  # net investment (beyond replacing the equipment x_t wears) is s_i of the net product
            eq_blocks.append(block(1, [(ix(t, "dK"), vB[None, :]), (ix(t, "x"), -a.depreciation * vB[None, :]),
                                       (ix(t, "th"), np.array([[-r]]))]))
            eq_rhs.append(np.zeros(1))
        elif t >= 1:
            eq_blocks.append(block(1, [(ix(t, "th"), np.array([[1.0]])), (ix(0, "th"), np.array([[-(1 + target) ** t]]))]))
            eq_rhs.append(np.zeros(1))
        ub_blocks.append(block(n, [(ix(t, "x"), I), (ix(t, "K"), -I)]))
        ub_rhs.append(np.zeros(n))
        lt = economy.labour / (1 + a.labour_productivity_growth) ** t
        ub_blocks.append(block(1, [(ix(t, "x"), lt[None, :])]))
        ub_rhs.append(np.array([(1 + a.workforce_growth) ** t]))
    bounds = [(0, None)] * N
    for j in range(n):
        bounds[ix(0, "K") + j] = (K0[j], K0[j])
    cost = np.zeros(N)
    if mode == "share":
        for t in range(T):
            cost[ix(t, "th")] = -1.0
    else:
        cost[ix(0, "th")] = -1.0
        for t in range(T):  # least investment among the best plans
            cost[ix(t, "dK"):ix(t, "dK") + n] = 1e-7 * vB
    res = linprog(cost, A_ub=sp.vstack(ub_blocks), b_ub=np.concatenate(ub_rhs), A_eq=sp.vstack(eq_blocks),
                  b_eq=np.concatenate(eq_rhs), bounds=bounds, method="highs-ipm")
    if res.status != 0 or res.x is None:
        raise EconomyError("growth", f"the linear programme has no solution: {res.message}")
    z = res.x
    T = Tr
    X = np.stack([z[ix(t, "x"):ix(t, "x") + n] for t in range(T)], axis=1) * H0
    K = np.stack([z[ix(t, "K"):ix(t, "K") + n] for t in range(T)], axis=1) * H0
    dK = np.stack([z[ix(t, "dK"):ix(t, "dK") + n] for t in range(T)], axis=1) * H0
    theta = np.array([z[ix(t, "th")] for t in range(T)]) * H0
    replacement = a.depreciation * (vB @ X)  # the equipment in use, worn out and replaced
    inv = vB @ dK - replacement  # net investment, as in the fundamental decision
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(theta[:-1] > 0, theta[1:] / np.where(theta[:-1] > 0, theta[:-1], 1) - 1, np.nan)
        avg = float((theta[-1] / theta[0]) ** (1 / (T - 1)) - 1) if theta[0] > 0 else float("nan")
        share = np.where(theta + inv > 0, inv / (theta + inv), 0.0)
    hours_avail = H0 * (1 + a.workforce_growth) ** np.arange(T)
    hours_needed = np.empty(T)
    feasible = np.empty(T, dtype=bool)
    binding = []
    for t in range(T):  # independent check of every year, outside the LP
        lt = economy.labour / (1 + a.labour_productivity_growth) ** t
        fe = check(economy, X[:, t], hours_available=hours_avail[t], labour=lt, capacity=K[:, t], tol=1e-6)
        hours_needed[t] = fe.hours_needed
        feasible[t] = fe.feasible
        binding.append([b["sector"] for b in fe.tightest(top=n) if b["ratio"] >= 1 - 1e-6])
    workforce = float(economy.workforce) * (1 + a.workforce_growth) ** np.arange(T)
    return GrowthPath(mode=mode, decision=decision, assumptions=a, sectors=list(economy.sectors), years=np.arange(T),
                      consumption_hours=theta, consumption_hours_per_person=theta / workforce, growth=growth,
                      average_growth=avg, investment_hours=inv, investment_share=share, gross_output=X, capacity=K,
                      new_capacity=dK, hours_needed=hours_needed, hours_available=hours_avail, feasible=feasible,
                      binding=binding, status=str(res.message), target_growth=target)


def path_for_investment_share(economy: Economy, decision: FundamentalDecision,
                              assumptions: GrowthAssumptions | None = None,
                              basis: DecisionBasis | None = None) -> GrowthPath:
    """Consumption year by year when the decision's investment share is held every year."""
    a = assumptions or GrowthAssumptions()
    basis, f = _prepare(economy, decision, basis, a.depreciation)
    return _solve(economy, decision, a, basis, f, "share", None)


def investment_for_growth(economy: Economy, decision: FundamentalDecision, target_growth: float,
                          assumptions: GrowthAssumptions | None = None,
                          basis: DecisionBasis | None = None) -> GrowthPath:
    """The highest first-year consumption that can grow by ``target_growth`` a year, and its investment."""
    if not -0.5 < target_growth < 1:
        raise PlanError("growth.target_growth", "target_growth must be in (-0.5, 1)")
    a = assumptions or GrowthAssumptions()
    basis, f = _prepare(economy, decision, basis, a.depreciation)
    return _solve(economy, decision, a, basis, f, "growth", float(target_growth))


def approximate_growth(economy: Economy, basis: DecisionBasis, sweep,
                       assumptions: GrowthAssumptions | None = None) -> np.ndarray:
    """Average growth of consumption per year over the horizon, for many decisions (no LP).

    ``sweep`` needs ``gross_output`` (n, m) and ``investment_hours`` (m,) (a
    :class:`DecisionSweep` has both). For each decision (a column x of gross output):

    - net product y_0 = l . x hours (= v . f), investment share s = investment / y_0;
    - kappa = v . B x / y_0: hours of equipment per hour of net product yearly capacity
      in the decision's own structure (the capital / net product ratio);
    - m_0 = y_0 min_j (capacity_j / x_j): the net product today's capacity allows in
      that structure (the tightest sector decides);
    - year by year (t = 0..T-1), the aggregate of the LP in the balanced direction::

          y_t = min(m_t, y_0 (1 + pi)^t (1 + omega)^t)        capacity or hours bind
          m_{t+1} = (1 - delta) m_t + delta y_t + s y_t / kappa

      the capacity in use is kept by the replacement paid before the split (the static
      model's delta B x, :func:`planfactory.decision.operating_matrix`), spare capacity
      wears out, and the net investment s y_t becomes new capacity.

    Consumption is (1 - s) y_t, so its average growth is (y_{T-1} / y_0)^(1/(T-1)) - 1,
    the same statistic as :attr:`GrowthPath.average_growth`. The long-run rate, once
    spare capacity is used up, is s / kappa (capped by labour's growth). The LP
    (:func:`path_for_investment_share`) can also steer investment to the tightest
    sectors first, so it is a little higher while spare capacity lasts; the tests hold
    the two within 0.5 percentage points a year on the demo economy. NaN when the
    economy has no capital coefficients or no capacity/output data.
    """
    a = assumptions or GrowthAssumptions()
    X = np.asarray(sweep.gross_output, dtype=float)
    m = X.shape[1]
    K0 = economy.capacity if economy.capacity is not None else economy.current_output
    if K0 is None or economy.B is None or not basis.has_investment:
        return np.full(m, np.nan)
    T = int(a.years)
    y0 = np.asarray(basis.labour @ X, dtype=float).ravel()  # l . x = v . (I - A) x: net product in hours
    inv = np.asarray(sweep.investment_hours, dtype=float).ravel()
    vB = np.asarray(economy.B.T @ basis.v, dtype=float).ravel()
    out = np.full(m, np.nan)
    ok = y0 > 0
    if not ok.any():
        return out
    y0, Xo = y0[ok], X[:, ok]
    s = inv[ok] / y0
    kappa = (vB @ Xo) / y0
    with np.errstate(divide="ignore", invalid="ignore"):
        room = np.where(Xo > 0, K0[:, None] / np.where(Xo > 0, Xo, 1.0), np.inf)
    y_first = y0 * np.minimum(1.0, np.min(room, axis=0))  # year 0: today's capacity, sector by sector
    mt = y0 * (vB @ K0) / (vB @ Xo)  # later: the capital stock in the aggregate (investment relieves bottlenecks)
    lab = (1 + a.labour_productivity_growth) * (1 + a.workforce_growth)
    y = y_first
    with np.errstate(divide="ignore", invalid="ignore"):
        add = np.where(kappa > 0, s / np.where(kappa > 0, kappa, 1.0), 0.0)
        for t in range(1, T):
            mt = (1 - a.depreciation) * mt + a.depreciation * y + add * y
            y = np.minimum(mt, y0 * lab ** t)
        out[ok] = np.where(y_first > 0, (y / np.where(y_first > 0, y_first, 1.0)) ** (1.0 / (T - 1)) - 1, np.nan)
    return out


def long_run_growth(economy: Economy, basis: DecisionBasis, sweep,
                    assumptions: GrowthAssumptions | None = None) -> np.ndarray:
    """s / kappa, capped by labour's growth: the rate once spare capacity is used up (s is net
    investment: the replacement of worn equipment is paid before the split)."""
    a = assumptions or GrowthAssumptions()
    X = np.asarray(sweep.gross_output, dtype=float)
    if economy.B is None or not basis.has_investment:
        return np.full(X.shape[1], np.nan)
    y0 = np.asarray(basis.labour @ X, dtype=float).ravel()
    vB = np.asarray(economy.B.T @ basis.v, dtype=float).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.asarray(sweep.investment_hours, dtype=float) / (vB @ X)
    return np.minimum(g, (1 + a.labour_productivity_growth) * (1 + a.workforce_growth) - 1)
