"""Multi-year paths: investment becomes capacity through B (essay 7f, item e).

Public API::

    GrowthAssumptions(years=10, depreciation=0.05, labour_productivity_growth=0.02,
                      workforce_growth=0.0)
    path_for_investment_share(economy, decision, assumptions=None, basis=None, *, method="auto") -> GrowthPath
        the investment share of the decision held every year; the LP chooses where the
        equipment goes so as to maximize consumption summed over the years.
    investment_for_growth(economy, decision, target_growth, assumptions=None, basis=None, *,
                          method="auto") -> GrowthPath
        consumption must grow by target_growth a year; the highest first-year consumption
        compatible with that and with the terminal condition (below), and the investment
        (hours, share) it needs every year. (decision gives the hours and the private/public
        proportion; its investment share is ignored.) A target above the highest sustainable
        rate is computed over the horizon and flagged (GrowthPath.sustainable = False).
    sustainable_growth(economy, assumptions=None) -> SustainableGrowth
        the highest rate consumption can keep for ever: min(labour's growth
        (1 + pi)(1 + omega) - 1, the capital-limited balanced rate 1 / lambda - delta),
        lambda the Perron root of (I - A)^-1 B.
    growth_note(years, capped, sustainable_rate) -> str
        the sentence a card shows beside a growth figure: an estimate, over what horizon.
    approximate_growth(economy, basis, sweep, assumptions=None) -> (m,) array
        the LP's average growth estimated for many decisions at once (no LP): the path of
        the aggregate in each decision's own structure, capacity or hours binding each
        year; for sweeping variants (docs/planfactory.md, "Growth").
    long_run_growth(economy, basis, sweep, assumptions=None) -> (m,) array
        s / kappa capped by labour's growth (s: net investment share; kappa: capital / net product).
    GrowthPath: years (T,), consumption_hours (T,) (private + public, valued at year-0
        labour values), consumption_hours_per_worker (T,), growth (T-1,), average_growth,
        investment_hours (T,), investment_share (T,), gross_output (n, T), capacity (n, T),
        new_capacity (n, T), hours_needed (T,), hours_available (T,), feasible (T,) bool,
        binding (list per year), status (solver message), sustainable_rate, sustainable,
        terminal_condition, solver, to_dict().

The linear programme (docs/planfactory.md, "Growth"), years t = 0..T-1::

    (I - A) x_t = theta_t f_cp + B dK_t            balance: consumption plus equipment
    K_{t+1} = (1 - delta) K_t + dK_t,  K_0 = capacity   equipment made in year t works from t+1
    x_t <= K_t                                      capacity, every year
    l_t . x_t <= H_t,  l_t = l / (1 + pi)^t,  H_t = H_0 (1 + w)^t      labour, every year
    share mode:   v . B (dK_t - delta x_t) = s_i / (1 - s_i) theta_t
                  (net investment, beyond the replacement of the equipment in use, is s_i of
                  the net product, as in the fundamental decision: planfactory/decision.py)
    growth mode:  theta_t = (1 + g)^t theta_0,  and the terminal condition
                  K_T >= theta_T k*,  l_T . theta_T k* <= H_T,   k* = (I - A - (g' + delta) B)^-1 f_cp
    x, K, dK, theta >= 0

f_cp is the decision's private and public baskets in its proportion, worth one hour
(v . f_cp = 1), so theta_t is consumption in year-0 hours. Without productivity or
workforce growth, hours cap the net product and consumption cannot grow for long: the
model says so rather than inventing growth.

The terminal condition (growth mode): the capital carried past the horizon must be at
least that of the balanced path at rate g' for the last consumption, k* per unit. From
such a K_T the economy can go on for ever at g' (produce theta k*, invest (g' + delta)
theta k*: every year balances, capacity and hours hold when g' <= labour's growth), so a
target is never met by running investment down at the end. g' is the target when it is
sustainable, else the highest sustainable rate (the path then shows the target over the
horizon, flagged, and its first-year consumption falls with the horizon: growing faster
than hours for longer must start lower). The share mode keeps the look-ahead: it is
solved for T + LOOKAHEAD (3) years and only the first T are reported.

How it is solved. Only the rows of B with an entry (the m capital-goods sectors: 7 in
the demo economies) deliver equipment, so with z_t = B_S dK_t (m values a year) the output
is x_t = theta_t L f_cp + L_S z_t (L = (I - A)^-1, m + 1 Leontief solves, once) and the LP
falls apart into one small chain per sector (its dK_{j,t}, capacity rows K_{j,t} >= x_{j,t})
linked only by T (m + 2) global values (theta, z, the labour slacks). An interior-point
method (Mehrotra's predictor-corrector) that eliminates the sector chains exactly solves
each Newton step in O(n T^2 m^2 + (T m)^3) operations (:func:`_arrow_ipm`), linear in n;
HiGHS (scipy.optimize.linprog) solves the same LP when the structured method does not
converge or when m is large (docs/planfactory.md, "Growth", for the measurements).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.optimize import linprog

from planfactory.decision import DecisionBasis, DecisionSweep, FundamentalDecision
from planfactory.economy import WEEKS_PER_YEAR, Economy, EconomyError
from planfactory.feasibility import check
from planfactory.errors import PlanError
from planfactory.leontief import LeontiefSolver

LOOKAHEAD = 3
"""Share mode: years solved beyond the reported horizon: near its end the LP may send
equipment where it serves only the last year (nothing after it counts); with 3 more years
solved and dropped, the reported years equal those of a much longer horizon
(tests/planfactory/test_growth.py). The growth mode has a terminal condition instead."""

__all__ = ["GrowthAssumptions", "GrowthPath", "SustainableGrowth", "path_for_investment_share",
           "investment_for_growth", "sustainable_growth", "growth_note", "approximate_growth", "long_run_growth"]


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


@dataclass(frozen=True)
class SustainableGrowth:
    """The highest rate at which consumption can grow for ever, and what limits it."""

    rate: float
    """min(labour_rate, capital_rate): a target above it is not sustainable."""
    labour_rate: float
    """(1 + pi)(1 + omega) - 1: hours in efficiency units grow no faster."""
    capital_rate: float
    """1 / lambda - delta, lambda the Perron root of (I - A)^-1 B: the balanced growth
    rate with nothing consumed (von Neumann's, for this Leontief technology); inf without
    capital goods."""
    limited_by: str
    """"labour" or "capital"."""

    def to_dict(self) -> dict:
        return {"rate": self.rate, "labour_rate": self.labour_rate,
                "capital_rate": self.capital_rate if np.isfinite(self.capital_rate) else None,
                "limited_by": self.limited_by}


@dataclass
class GrowthPath:
    mode: str
    decision: FundamentalDecision
    assumptions: GrowthAssumptions
    sectors: list[str]
    years: np.ndarray
    consumption_hours: np.ndarray
    consumption_hours_per_worker: np.ndarray
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
    sustainable_rate: SustainableGrowth | None = None
    """The highest sustainable rate (growth mode)."""
    sustainable: bool | None = None
    """Growth mode: whether target_growth can be kept for ever (<= sustainable_rate.rate)."""
    terminal_condition: str = ""
    """The condition the path meets beyond its last year, in words."""
    solver: str = ""
    """"structured interior point" or "HiGHS"."""
    extra: dict = field(default_factory=dict)

    def to_dict(self, sectors: bool = False) -> dict:
        d = {
            "mode": self.mode, "decision": self.decision.to_dict(), "assumptions": self.assumptions.to_dict(),
            "target_growth": self.target_growth, "years": self.years.tolist(),
            "consumption_hours": self.consumption_hours.tolist(),
            "consumption_hours_per_worker": self.consumption_hours_per_worker.tolist(),
            "growth": self.growth.tolist(), "average_growth": self.average_growth,
            "investment_hours": self.investment_hours.tolist(), "investment_share": self.investment_share.tolist(),
            "hours_needed": self.hours_needed.tolist(), "hours_available": self.hours_available.tolist(),
            "feasible": self.feasible.tolist(), "binding": self.binding, "status": self.status,
            "sustainable": self.sustainable,
            "sustainable_growth": self.sustainable_rate.to_dict() if self.sustainable_rate else None,
            "terminal_condition": self.terminal_condition, "solver": self.solver,
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


# --- the highest sustainable rate ---------------------------------------------------------------

def _capital_goods(economy: Economy, solver: LeontiefSolver | None = None, extra=None):
    """S (rows of B with an entry), B_S (m, n) dense, and L [extra | E_S] (one multi-RHS solve)."""
    B = sp.csr_matrix(economy.B)
    S = np.flatnonzero(np.diff(B.indptr))
    m = len(S)
    n = economy.n
    E = np.zeros((n, m))
    E[S, np.arange(m)] = 1.0
    rhs = E if extra is None else np.column_stack([extra, E])
    solver = solver or LeontiefSolver(economy.A)
    Y = solver.solve(rhs).gross_output.reshape(n, -1)
    k = 0 if extra is None else 1
    return S, B[S].toarray(), Y[:, :k], Y[:, k:]


def sustainable_growth(economy: Economy, assumptions: GrowthAssumptions | None = None,
                       _capital=None) -> SustainableGrowth:
    """The highest rate consumption can keep for ever on this technology and these assumptions.

    Labour: hours in efficiency units grow by (1 + pi)(1 + omega) - 1 a year, and on any
    path consumption (worth l . x less investment) cannot outgrow them for ever. Capital:
    on a balanced path x_t = (1 + g)^t x, (I - A) x = theta f + (g + delta) B x has a
    non-negative x with theta > 0 only if (g + delta) lambda < 1, lambda the Perron root of
    (I - A)^-1 B (Perron-Frobenius; the left eigenvector prices out theta). So
    g* = min(labour, 1 / lambda - delta). With B = E_S B_S (only the m capital-goods rows
    of B have entries), (I - A)^-1 B has the same non-zero eigenvalues as the m x m matrix
    B_S (I - A)^-1 E_S, whose eigenvalues are computed exactly (numpy.linalg.eigvals).
    The capital rate is a supremum: at exactly 1 / lambda - delta nothing is left to consume.
    """
    a = assumptions or GrowthAssumptions()
    if economy.B is None:
        raise EconomyError("capital_coefficients", "are needed for a growth path (investment -> capacity)")
    labour = (1 + a.labour_productivity_growth) * (1 + a.workforce_growth) - 1
    S, BS, _, LS = _capital if _capital is not None else _capital_goods(economy)
    lam = float(np.max(np.abs(np.linalg.eigvals(BS @ LS)))) if len(S) else 0.0
    capital = 1.0 / lam - a.depreciation if lam > 0 else float("inf")
    rate = min(labour, capital)
    return SustainableGrowth(rate=float(rate), labour_rate=float(labour), capital_rate=float(capital),
                             limited_by="labour" if labour <= capital else "capital")


def growth_note(years: int, capped: bool = False, sustainable_rate: float | None = None) -> str:
    """The words a card puts beside a growth figure: it is an estimate, over what horizon.

    >>> growth_note(10)
    'estimate: average a year over 10 years'
    >>> growth_note(10, capped=True, sustainable_rate=0.02)
    'estimate: average a year over 10 years; capped by labour, at most +2.0% a year for ever'
    """
    s = f"estimate: average a year over {int(years)} years"
    if capped:
        s += "; capped by labour"
    if sustainable_rate is not None and np.isfinite(sustainable_rate):
        pct = (Decimal(repr(float(sustainable_rate))) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        s += f"{',' if capped else ';'} at most {'+' if pct >= 0 else ''}{pct}% a year for ever"
    return s


# --- the LP in arrow form -----------------------------------------------------------------------

@dataclass
class _GrowthLP:
    """min cu . u + cw . w  s.t.  Gam u_j + W_j w >= h_j (each sector j),  E u + Ew w = e,  u, w >= 0.

    u (n, T): new capacity dK_{j,t} in units of sector j's year-0 capacity; w (p,): the
    global values (theta, z_t = B_S dK_t, labour slacks), theta in units of H_0. W_j =
    sum_k c[j, k] V[k] (k: L f_cp, the m columns of L_S, the terminal k*), and E u is
    -B_S u_t (scaled) in the first T m global rows (z_t's definition), zero below.
    """
    n: int
    T: int
    R: int
    m: int
    Gam: np.ndarray  # (R, T): K_{j,r} = (1 - delta)^r K0_j + sum_t Gam[r, t] dK_{j,t}
    V: np.ndarray    # (K, R, p)
    c: np.ndarray    # (n, K)
    h: np.ndarray    # (n, R)
    b: np.ndarray    # (n, m): B_S^T, scaled
    Ew: np.ndarray   # (q, p)
    e: np.ndarray    # (q,)
    cu: np.ndarray   # (n, T)
    cw: np.ndarray   # (p,)


ACCEPT = 1e-7
"""When the structured interior point stalls, its best iterate is kept if its relative primal
and dual residuals and gap are below this (HiGHS's own feasibility tolerance is 1e-7);
otherwise HiGHS solves the LP."""


_ONE_THREAD_MNK = 65536 * 4
"""OpenBLAS runs a product m x k by k x n on one thread when m n k is at most this
(GEMM_MULTITHREAD_THRESHOLD 4); above, its second thread spins when the cores are busy,
and on this shared 2-core machine a 220 x 220 LU then took 0.35 s instead of 2 ms."""


def _mm(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A @ B as a sum of products small enough for one BLAS thread (see _ONE_THREAD_MNK)."""
    m, k = A.shape
    n = B.shape[1]
    step = max(1, _ONE_THREAD_MNK // max(m * n, 1))
    if k <= step:
        return A @ B
    out = A[:, :step] @ B[:step]
    for i in range(step, k, step):
        out += A[:, i:i + step] @ B[i:i + step]
    return out


def _mv(A: np.ndarray, x: np.ndarray) -> np.ndarray:
    """A @ x in numpy's own loop (OpenBLAS threads a product of a few hundred rows)."""
    return np.einsum("ij,j->i", A, x)


def _lu(S: np.ndarray):
    """LU with partial pivoting in numpy's own loops (no threaded BLAS): (LU, row order)."""
    A = S.copy()
    N = A.shape[0]
    order = np.arange(N)
    for k in range(N - 1):
        r = k + int(np.argmax(np.abs(A[k:, k])))
        if r != k:
            A[[k, r]] = A[[r, k]]
            order[[k, r]] = order[[r, k]]
        if A[k, k] == 0.0:
            raise np.linalg.LinAlgError("singular Schur complement")
        A[k + 1:, k] /= A[k, k]
        A[k + 1:, k + 1:] -= np.multiply.outer(A[k + 1:, k], A[k, k + 1:])
    if A[N - 1, N - 1] == 0.0:
        raise np.linalg.LinAlgError("singular Schur complement")
    return A, order


def _lu_solve(f, b: np.ndarray) -> np.ndarray:
    A, order = f
    y = b[order].astype(float)
    N = len(y)
    for k in range(N - 1):
        y[k + 1:] -= A[k + 1:, k] * y[k]
    for k in range(N - 1, -1, -1):
        y[k] = (y[k] - A[k, k + 1:] @ y[k + 1:]) / A[k, k]
    return y


def _arrow_ipm(lp: _GrowthLP, tol: float = 1e-9, maxiter: int = 150):
    """Mehrotra's predictor-corrector on the arrow-form LP; returns (u, w, iterations, residual).

    residual: the largest of the relative primal and dual residuals and gap of the iterate
    returned (the last, or the best when the method stalled).

    Standard form with the sector rows' surplus sg >= 0. Each Newton system is reduced to
    the global unknowns: the sector blocks M_j = Gam D_u Gam^T + D_s (R x R) are inverted
    together (numpy batched), and their contributions to the Schur complement are summed
    through the Kronecker structure (C_j = [E_j D_u Gam^T ; W_j] with E_j = -I_T (x) b_j,
    W_j = sum_k c_jk V_k), which costs O(n T^2 m^2) instead of O(n T^2 m^2 T^2). The
    Schur complement (T m + p unknowns, quasi-definite) is factorized by LU.
    Starting point: Mehrotra's (least-norm x, least-squares (y, z), shifted positive).
    Convergence: relative primal residual < tol, dual residual < tol relative to the duals'
    size, relative gap < 10 tol.
    """
    n, T, R, m = lp.n, lp.T, lp.R, lp.m
    Gam, V, c, h, b, Ew, e, cu, cw = lp.Gam, lp.V, lp.c, lp.h, lp.b, lp.Ew, lp.e, lp.cu, lp.cw
    K, p = V.shape[0], V.shape[2]
    qz, qg = T * m, len(e)
    Vf = V.reshape(K * R, p)
    bb = (b[:, :, None] * b[:, None, :]).reshape(n, m * m)
    bc = (b[:, :, None] * c[:, None, :]).reshape(n, m * K)
    cc = (c[:, :, None] * c[:, None, :]).reshape(n, K * K)
    diag = np.arange(R)

    def Wmul(w):
        return _mm(c, V @ w)

    def WTmul(y):
        return _mv(Vf.T, _mm(c.T, y).reshape(-1))

    def Emul(u):
        out = np.zeros(qg)
        out[:qz] = -_mm(u.T, b).reshape(-1)
        return out

    def ETmul(y):
        return -_mm(b, y[:qz].reshape(T, m).T)

    def factor(Du, Ds, Dw):
        GD = Gam[None, :, :] * Du[:, None, :]
        M = GD @ Gam.T
        # primal regularization (relative 1e-12): a variable far inside its bound makes its
        # D huge and the block nearly rank-deficient; the residuals correct the small bias
        M[:, diag, diag] += Ds + 1e-12 * np.max(M[:, diag, diag], axis=1, keepdims=True)
        Mi = np.linalg.inv(M)
        P = GD.transpose(0, 2, 1) @ Mi
        Q = (P @ GD).reshape(n, T * T)
        S = np.empty((qg + p, qg + p))
        S[:qg, :qg] = 0.0
        blk = _mm(Du.T, bb).reshape(T, m, m)
        for t in range(T):
            S[t * m:(t + 1) * m, t * m:(t + 1) * m] = blk[t]
        S[:qz, :qz] -= _mm(Q.T, bb).reshape(T, T, m, m).transpose(0, 2, 1, 3).reshape(qz, qz)
        G2 = _mm(P.reshape(n, T * R).T, bc).reshape(T, R, m, K).transpose(0, 2, 3, 1).reshape(qz, K * R)
        N = _mm(cc.T, Mi.reshape(n, R * R)).reshape(K, K, R, R).transpose(0, 2, 1, 3).reshape(K * R, K * R)
        S[:qg, qg:] = Ew
        S[:qz, qg:] += _mm(G2, Vf)
        S[qg:, :qg] = S[:qg, qg:].T
        S[qg:, qg:] = -_mm(Vf.T, _mm(N, Vf))
        S[qg + np.arange(p), qg + np.arange(p)] -= 1.0 / Dw + 1e-12
        lu = _lu(S)

        def once(rpl, rpg, tu, ts, tw):  # dx = D (A^T dy + t) with A dx = rp
            tu, ts = Du * tu, Ds * ts
            r1 = rpl - (_mm(tu, Gam.T) - ts)
            Mr = (Mi @ r1[:, :, None])[:, :, 0]
            Pr = (P @ r1[:, :, None])[:, :, 0]
            sol = _lu_solve(lu, np.r_[rpg - Emul(tu) - Emul(Pr), -tw - WTmul(Mr)])
            dyg, dw = sol[:qg], sol[qg:]
            dyl = Mr - (Mi @ ((GD @ ETmul(dyg)[:, :, None])[:, :, 0] + Wmul(dw))[:, :, None])[:, :, 0]
            return [Du * (_mm(dyl, Gam) + ETmul(dyg)) + tu, -Ds * dyl + ts, dw, dyl, dyg]

        def kkt(rpl, rpg, tu, ts, tw):
            d = once(rpl, rpg, tu, ts, tw)
            for _ in range(2):  # iterative refinement of A dx = rp (the blocks are ill-conditioned near the end)
                el = rpl - (_mm(d[0], Gam.T) + Wmul(d[2]) - d[1])
                eg = rpg - (Emul(d[0]) + _mv(Ew, d[2]))
                ew = -tw - (WTmul(d[3]) + _mv(Ew.T, d[4]) - d[2] / Dw)
                if max(np.abs(el).max(), np.abs(eg).max()) <= 1e-14 * bnorm:
                    break
                c_ = once(el, eg, np.zeros_like(tu), np.zeros_like(ts), -ew)
                d = [x + y for x, y in zip(d, c_)]
            return d
        return kkt

    def step(x, dx):
        neg = dx < 0
        return min(1.0, float(np.min(-x[neg] / dx[neg]))) if neg.any() else 1.0

    N = n * T + n * R + p
    bnorm = 1 + max(np.abs(h).max(), np.abs(e).max())
    cnorm = 1 + max(np.abs(cu).max(), np.abs(cw).max())
    one = factor(np.ones((n, T)), np.ones((n, R)), np.ones(p))
    u, sg, w, _, _ = one(h, e.astype(float), np.zeros((n, T)), np.zeros((n, R)), np.zeros(p))
    zu, zs, zw, yl, yg = one(np.zeros((n, R)), np.zeros(qg), -cu, np.zeros((n, R)), -cw)
    zu, zs, zw = -zu, -zs, -zw
    dp = max(-1.5 * min(u.min(), sg.min(), w.min()), 0.0)
    dd = max(-1.5 * min(zu.min(), zs.min(), zw.min()), 0.0)
    u, sg, w, zu, zs, zw = u + dp, sg + dp, w + dp, zu + dd, zs + dd, zw + dd
    xz = np.sum(u * zu) + np.sum(sg * zs) + w @ zw
    dp, dd = 0.5 * xz / (zu.sum() + zs.sum() + zw.sum()), 0.5 * xz / (u.sum() + sg.sum() + w.sum())
    u, sg, w, zu, zs, zw = u + dp, sg + dp, w + dp, zu + dd, zs + dd, zw + dd
    best = (np.inf, u, w, 0)
    for it in range(maxiter):
        rpl = h - (_mm(u, Gam.T) + Wmul(w) - sg)
        rpg = e - (Emul(u) + _mv(Ew, w))
        rdu = cu - (_mm(yl, Gam) + ETmul(yg)) - zu
        rds = yl - zs
        rdw = cw - (WTmul(yl) + _mv(Ew.T, yg)) - zw
        pobj, dobj = np.sum(cu * u) + cw @ w, np.sum(h * yl) + e @ yg
        pinf = max(np.abs(rpl).max(), np.abs(rpg).max()) / bnorm
        dinf = max(np.abs(rdu).max(), np.abs(rds).max(), np.abs(rdw).max()) / (
            cnorm + max(zu.max(), zs.max(), zw.max()))
        gap = abs(pobj - dobj) / (1 + abs(pobj))
        if pinf < tol and dinf < tol and gap < 10 * tol:
            return u, w, it, max(pinf, dinf, gap)
        if not np.isfinite(pobj + dobj):
            break
        score = max(pinf, dinf, gap)
        if score < best[0]:
            best = (score, u, w, it)
        elif it - best[3] >= 8:  # no progress for 8 iterations: stop with the best iterate
            break
        mu = xz / N
        kkt = factor(u / zu, sg / zs, w / zw)

        def direction(ru, rs, rw):
            dU, dS, dw, dyl, dyg = kkt(rpl, rpg, ru / u - rdu, rs / sg - rds, rw / w - rdw)
            return dU, dS, dw, dyl, dyg, (ru - zu * dU) / u, (rs - zs * dS) / sg, (rw - zw * dw) / w

        a = direction(-u * zu, -sg * zs, -w * zw)
        ap = min(step(u, a[0]), step(sg, a[1]), step(w, a[2]))
        ad = min(step(zu, a[5]), step(zs, a[6]), step(zw, a[7]))
        mua = (np.sum((u + ap * a[0]) * (zu + ad * a[5])) + np.sum((sg + ap * a[1]) * (zs + ad * a[6]))
               + (w + ap * a[2]) @ (zw + ad * a[7])) / N
        sig = (mua / mu) ** 3
        d = direction(sig * mu - u * zu - a[0] * a[5], sig * mu - sg * zs - a[1] * a[6],
                      sig * mu - w * zw - a[2] * a[7])
        ap = min(1.0, 0.995 * min(step(u, d[0]), step(sg, d[1]), step(w, d[2])))
        ad = min(1.0, 0.995 * min(step(zu, d[5]), step(zs, d[6]), step(zw, d[7])))
        u, sg, w = u + ap * d[0], sg + ap * d[1], w + ap * d[2]
        yl, yg = yl + ad * d[3], yg + ad * d[4]
        zu, zs, zw = zu + ad * d[5], zs + ad * d[6], zw + ad * d[7]
        xz = np.sum(u * zu) + np.sum(sg * zs) + w @ zw
    return best[1], best[2], best[3], best[0]


def _arrow_highs(lp: _GrowthLP):
    """The same LP for scipy.optimize.linprog (HiGHS); returns (u, w, message) or raises."""
    n, T, R, m = lp.n, lp.T, lp.R, lp.m
    p = lp.V.shape[2]
    W = np.einsum("jk,krp->jrp", lp.c, lp.V).reshape(n * R, p)
    G = sp.kron(sp.identity(n, format="csr"), sp.csr_matrix(lp.Gam))
    A_ub = -sp.hstack([G, sp.csr_matrix(W)]).tocsr()
    bj, bi = np.nonzero(lp.b)
    rows = np.concatenate([t * m + bi for t in range(T)])
    cols = np.concatenate([bj * T + t for t in range(T)])
    vals = np.tile(-lp.b[bj, bi], T)
    El = sp.csr_matrix((vals, (rows, cols)), shape=(len(lp.e), n * T))
    A_eq = sp.hstack([El, sp.csr_matrix(lp.Ew)]).tocsr()
    res = linprog(np.r_[lp.cu.ravel(), lp.cw], A_ub=A_ub, b_ub=-lp.h.ravel(), A_eq=A_eq, b_eq=lp.e,
                  bounds=(0, None), method="highs-ipm")
    if res.status != 0 or res.x is None:
        raise EconomyError("growth", f"the linear programme has no solution: {res.message}")
    return res.x[:n * T].reshape(n, T), res.x[n * T:], str(res.message)


ARROW_LIMIT = 600
"""The structured interior point is used while its Schur complement (T m + p unknowns) has
at most this many rows; beyond (economies with many capital-goods sectors) HiGHS is used."""


def _solve(economy: Economy, decision: FundamentalDecision, a: GrowthAssumptions, basis: DecisionBasis,
           f: np.ndarray, mode: str, target: float | None, method: str = "auto") -> GrowthPath:
    """Build the LP (module docstring), solve it, check every year outside it.

    ``method``: "auto" (the structured interior point, HiGHS if it does not converge or if
    the economy has many capital-goods sectors), "structured" or "highs".
    """
    n, Tr = economy.n, int(a.years)
    H0 = float(basis.hours_available(decision.hours_per_week))
    if H0 <= 0:
        raise PlanError("decision", "no hours available: hours_per_week and workforce must be > 0")
    s_i = decision.investment_share
    if mode == "share" and s_i >= 1:
        raise PlanError("decision", "investment share must be below 1 for a path (something must be consumed)")
    capital = _capital_goods(economy, extra=f)
    S, BS, xf, LS = capital
    xf = xf[:, 0]
    m = len(S)
    sus = sustainable_growth(economy, a, _capital=capital)
    terminal = mode == "growth"
    T = Tr if terminal else Tr + LOOKAHEAD
    R = T + (1 if terminal else 0)
    d, q, wg = a.depreciation, 1 + a.labour_productivity_growth, 1 + a.workforce_growth
    K0 = np.asarray(economy.capacity, dtype=float)
    sc = np.where(K0 > 0, K0, 1.0)  # sector j's quantities in units of its year-0 capacity
    v = basis.v
    vB = np.asarray(sp.csr_matrix(economy.B).T @ v).ravel()
    g = float(target) if terminal else 0.0
    grow = (1 + g) ** np.arange(T)
    nth = T if mode == "share" else 1
    ith = np.arange(T) if mode == "share" else np.zeros(T, dtype=int)
    oz, nrho = nth, T + (1 if terminal else 0)
    orho = oz + T * m
    p = orho + nrho
    Kb = m + 2
    V = np.zeros((Kb, R, p))
    c = np.zeros((n, Kb))
    for t in range(T):
        V[0, t, ith[t]] = grow[t]
        V[1 + np.arange(m), t, oz + t * m + np.arange(m)] = 1.0
    c[:, 0] = -xf * H0 / sc
    c[:, 1:1 + m] = -LS * sc[S][None, :] / sc[:, None]
    lab = economy.labour
    kstar, g_term = None, None
    if terminal:
        g_term = g if g <= sus.rate else sus.labour_rate if sus.limited_by == "labour" else sus.capital_rate - 1e-3
        ct = max(g_term + d, 0.0)
        kstar = xf + ct * LS @ np.linalg.solve(np.eye(m) - ct * (BS @ LS), BS @ xf) if m else xf
        V[Kb - 1, T, 0] = 1.0
        c[:, Kb - 1] = -(1 + g) ** T * kstar * H0 / sc
    h = -((1 - d) ** np.arange(R))[None, :] * (K0 / sc)[:, None]
    tt, tau = np.arange(R)[:, None], np.arange(T)[None, :]
    Gam = np.where(tau < tt, (1 - d) ** np.maximum(tt - 1 - tau, 0), 0.0)
    qz = T * m
    blocks, rhs = [np.zeros((qz, p))], [np.zeros(qz)]
    blocks[0][np.arange(qz), oz + np.arange(qz)] = 1.0
    Lr = np.zeros((nrho, p))
    lLS = (lab @ LS) * sc[S] / H0
    for t in range(T):
        Lr[t, ith[t]] += grow[t] * float(lab @ xf) * q ** -t
        Lr[t, oz + t * m: oz + (t + 1) * m] = lLS * q ** -t
        Lr[t, orho + t] = 1.0
    if terminal:
        Lr[T, 0] = (1 + g) ** T * float(lab @ kstar) * q ** -T
        Lr[T, orho + T] = 1.0
    blocks.append(Lr)
    rhs.append(wg ** np.arange(nrho))
    if mode == "share":  # net investment: v . B (dK_t - delta x_t) = s_i / (1 - s_i) theta_t
        r, replacement = s_i / (1 - s_i), a.depreciation
        Sh = np.zeros((T, p))
        vBLS = (vB @ LS) * sc[S] / H0
        for t in range(T):
            Sh[t, oz + t * m: oz + (t + 1) * m] = v[S] * sc[S] / H0 - replacement * vBLS
            Sh[t, t] = -r - replacement * float(vB @ xf)
        blocks.append(Sh)
        rhs.append(np.zeros(T))
    cw, cu = np.zeros(p), np.zeros((n, T))
    if mode == "share":
        cw[:T] = -1.0
    else:
        cw[0] = -1.0
        cu[:] = 1e-7 * (vB * sc / H0)[:, None]  # least investment among the best plans
    lp = _GrowthLP(n=n, T=T, R=R, m=m, Gam=Gam, V=V, c=c, h=h, b=(BS * sc[None, :] / sc[S][:, None]).T.copy(),
                   Ew=np.vstack(blocks), e=np.concatenate(rhs), cu=cu, cw=cw)
    u = w = None
    resid = np.inf
    if method in ("auto", "structured") and (T * m + p <= ARROW_LIMIT or method == "structured"):
        with np.errstate(all="ignore"):
            try:
                u, w, iters, resid = _arrow_ipm(lp)
            except np.linalg.LinAlgError:
                resid = np.inf
        if resid <= ACCEPT:
            status = f"optimal (structured interior point, {iters} iterations, residuals {resid:.0e})"
            used = "structured interior point"
        else:
            u = w = None
    if u is None:
        u, w, msg = _arrow_highs(lp)
        status, used = msg, "HiGHS"
    u, w = np.maximum(u, 0.0), np.maximum(w, 0.0)
    T = Tr
    theta = w[ith[:T]] * grow[:T] * H0
    Z = w[oz:oz + T * m].reshape(T, m) * sc[S][None, :]  # equipment delivered, units
    dK = u[:, :T] * sc[:, None]
    X = xf[:, None] * theta[None, :] + LS @ Z.T
    K = np.empty((n, T))
    K[:, 0] = K0
    for t in range(1, T):
        K[:, t] = (1 - d) * K[:, t - 1] + dK[:, t - 1]
    replacement = a.depreciation * (vB @ X)  # the equipment in use, worn out and replaced
    inv = vB @ dK - replacement  # net investment, as in the fundamental decision
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(theta[:-1] > 0, theta[1:] / np.where(theta[:-1] > 0, theta[:-1], 1) - 1, np.nan)
        avg = float((theta[-1] / theta[0]) ** (1 / (T - 1)) - 1) if theta[0] > 0 else float("nan")
        share = np.where(theta + inv > 0, inv / (theta + inv), 0.0)
    hours_avail = H0 * wg ** np.arange(T)
    hours_needed = np.empty(T)
    feasible = np.empty(T, dtype=bool)
    binding = []
    for t in range(T):  # independent check of every year, outside the LP
        lt = economy.labour / q ** t
        fe = check(economy, X[:, t], hours_available=hours_avail[t], labour=lt, capacity=K[:, t], tol=1e-6)
        hours_needed[t] = fe.hours_needed
        feasible[t] = fe.feasible
        binding.append([b["sector"] for b in fe.tightest(top=n) if b["ratio"] >= 1 - 1e-6])
    if terminal:
        sustainable = g <= sus.rate + 1e-12
        words = (f"capital carried past year {Tr - 1} at least that of the balanced path at "
                 f"{100 * g_term:+.2f}% a year for the last year's consumption")
    else:
        sustainable = None
        words = f"none; solved for {Tr + LOOKAHEAD} years, the last {LOOKAHEAD} not reported (look-ahead)"
    workforce = float(economy.workforce) * wg ** np.arange(T)
    return GrowthPath(mode=mode, decision=decision, assumptions=a, sectors=list(economy.sectors), years=np.arange(T),
                      consumption_hours=theta, consumption_hours_per_worker=theta / workforce, growth=growth,
                      average_growth=avg, investment_hours=inv, investment_share=share, gross_output=X, capacity=K,
                      new_capacity=dK, hours_needed=hours_needed, hours_available=hours_avail, feasible=feasible,
                      binding=binding, status=status, target_growth=target, sustainable_rate=sus,
                      sustainable=sustainable, terminal_condition=words, solver=used)


def _method(method) -> str:
    if method not in ("auto", "structured", "highs"):
        raise PlanError("growth.method", "method must be auto, structured or highs")
    return method


def path_for_investment_share(economy: Economy, decision: FundamentalDecision,
                              assumptions: GrowthAssumptions | None = None,
                              basis: DecisionBasis | None = None, *, method: str = "auto") -> GrowthPath:
    """Consumption year by year when the decision's investment share is held every year.

    ``method``: "auto" (the structured interior point; HiGHS if it does not converge or the
    economy has many capital-goods sectors), "structured" or "highs" (for checking one
    against the other).
    """
    a = assumptions or GrowthAssumptions()
    basis, f = _prepare(economy, decision, basis, a.depreciation)
    return _solve(economy, decision, a, basis, f, "share", None, method=_method(method))


def investment_for_growth(economy: Economy, decision: FundamentalDecision, target_growth: float,
                          assumptions: GrowthAssumptions | None = None,
                          basis: DecisionBasis | None = None, *, method: str = "auto") -> GrowthPath:
    """The highest first-year consumption that can grow by ``target_growth`` a year, and its investment.

    The path meets the terminal condition (module docstring); ``sustainable`` says whether
    the target can be kept for ever, ``sustainable_rate`` gives the highest rate that can.
    """
    if not -0.5 < target_growth < 1:
        raise PlanError("growth.target_growth", "target_growth must be in (-0.5, 1)")
    a = assumptions or GrowthAssumptions()
    basis, f = _prepare(economy, decision, basis, a.depreciation)
    return _solve(economy, decision, a, basis, f, "growth", float(target_growth), method=_method(method))


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
