"""The Leontief system (I - A) x = f, factorized once and reused for many demands.

Public API (argument names as in ``scipy.sparse.linalg``: ``rtol``, ``atol``, ``maxiter``,
``callback``; convergence comes back with the answer, never in attributes)::

    LeontiefSolver(A, method="auto", *, rtol=1e-10, atol=0.0, maxiter=500, callback=None)
        method: "dense"     LAPACK LU (getrf) of I - A, for dense A or sparse A with n <= DENSE_LIMIT;
                "splu"      SuperLU with the MMD_AT_PLUS_A fill-reducing ordering (for structured
                            sparse A whose factors stay sparse, e.g. banded or block-triangular);
                "iterative" block BiCGSTAB on all demand columns at once (one sparse
                            matrix-matrix product per step reads A once for every demand),
                            Neumann/Jacobi iteration x <- f + A x as the fallback, which always
                            converges because the spectral radius of A is < 1.
                "auto"      dense for dense A or n <= DENSE_LIMIT, else iterative (measured:
                            docs/planfactory.md, "Solver choices").
        rtol, atol, maxiter, callback: for the iterative method, see :func:`block_bicgstab`.
    solver.solve(F, transposed=False) -> Solution(gross_output, residual, method, iterations,
                                                  condition, error_bound)
        F of shape (n,) or (n, k); k demands solved together, never one by one.
        Every answer is checked (:meth:`LeontiefSolver.check`): finite, a backward error of
        at most BACKWARD_LIMIT, and a bound on its relative error (condition number times
        backward error) of at most ACCURACY_LIMIT; otherwise, or when the iterative method
        does not converge, SolverError names the cause. No answer with NaN or infinity is
        ever returned.
    solver.solve_transposed(b) -> y with (I - A)^T y = b
    solver.labour_values(l) -> v with v (I - A) = l, i.e. v = l (I - A)^-1 (no inverse formed)
    solver.residual(x, f) -> the backward error max_j ||f_j - (I - A) x_j|| / (||I - A|| ||x_j|| + ||f_j||)
        (infinity norms): unit-free, the relative change of the data that x solves exactly
    block_bicgstab(A, F, *, rtol, atol, maxiter, callback) -> (X, IterationInfo)
        the iterative method itself, for a CSR matrix A (scipy's (x, info) form).

The inverse is never formed.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from planfactory.errors import PlanError, SolverError

__all__ = ["LeontiefSolver", "Solution", "IterationInfo", "block_bicgstab", "csr_products", "DENSE_LIMIT",
           "BACKWARD_LIMIT", "ACCURACY_LIMIT", "SolverError"]


def _private_csr_matvecs():
    """SciPy's C++ kernel behind ``A @ X`` for CSR A, which adds A X into a given array; or None.

    This is private SciPy API (``scipy.sparse._sparsetools.csr_matvecs``), isolated here and
    used for measured speed only: writing each product into a preallocated buffer instead of
    allocating the result took 0.48 s instead of 0.79 s per product at n = 3 x 10^5 with 32
    demands (256 MB per product; docs/planfactory.md, "Solver choices"), and it lets threads
    fill row blocks of one output. If a SciPy release removes or renames it, this returns
    None and :func:`csr_products` uses the public ``A @ X``, which calls the same kernel and
    gives the same numbers (tests/planfactory/test_leontief.py checks both paths).
    """
    try:
        from scipy.sparse._sparsetools import csr_matvecs
    except ImportError:  # pragma: no cover - depends on the SciPy release
        return None
    return csr_matvecs


_CSR_MATVECS = _private_csr_matvecs()

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="leontief")
    return _POOLS[workers]


DENSE_LIMIT = 3000
"""Sparse economies up to this size are densified and LU-factorized (3000^2 doubles = 72 MB)."""

BACKWARD_LIMIT = 1e-8
"""Largest backward error an answer may have (or 10 rtol of the iterative method, if larger):
LU with partial pivoting of an M-matrix gives about n x 1e-16."""

ACCURACY_LIMIT = 1e-6
"""Largest bound on an answer's relative error (condition number times backward error, the
backward error taken at least the unit roundoff): beyond it the gross output is not
determined by the data to six digits in 64-bit arithmetic, and is refused."""

_EPS = float(np.finfo(float).eps)
_BIG = float(np.finfo(float).max)


@dataclass(frozen=True)
class Solution:
    """Gross outputs for one or many final demands, with the residual of the solve."""

    gross_output: np.ndarray
    """x, shape (n,) or (n, k): one column per demand (for a transposed solve, y with (I - A)^T y = f)."""
    residual: float
    """Backward error, worst column: max_j ||f_j - (I - A) x_j|| / (||I - A|| ||x_j|| + ||f_j||) in the
    infinity norm. Unit-free: x_j solves exactly a system whose data differ by this relative amount."""
    method: str = "dense"
    iterations: int = 0
    """Sparse matrix products used by the iterative method (0 for direct methods)."""
    condition: float = float("nan")
    """Condition number ||I - A|| ||(I - A)^-1|| (infinity norm): exact for the direct methods when
    A >= 0 (then (I - A)^-1 >= 0 and its norm is its largest row sum, one extra solve with all
    ones, cached); for the iterative method a lower bound from the answer, max_j ||x_j|| / ||f_j||."""
    error_bound: float = float("nan")
    """condition * max(residual, unit roundoff): a bound on the relative error of x (at most
    :data:`ACCURACY_LIMIT`, or the answer is refused)."""


@dataclass(frozen=True)
class IterationInfo:
    """How an iterative solve ended, returned with its answer (as scipy's ``(x, info)``)."""

    converged: bool
    """Every column within its tolerance, max |r_j| <= max(rtol max |f_j|, atol)."""
    products: int
    """Sparse matrix products used (the cost: each reads A once for every column)."""
    residual: float
    """The true relative residual max |f - (I - A) x| / max |f| over all columns (0 for f = 0)."""
    column_residual: float
    """max over columns of max |r_j| / max |f_j|: what the progress callback reports (unit-free)."""
    tolerance_ratio: float
    """max over columns of max |r_j| / max(rtol max |f_j|, atol): <= 1 when converged."""
    residual_norms: np.ndarray | None = None
    """max |r_j| of each column, the true residual at the end (for the backward error)."""


def _colmax(R: np.ndarray) -> np.ndarray:
    """max |R| per column, without allocating |R| (two reading passes instead of a 256 MB temporary)."""
    if not R.size:
        return np.zeros(R.shape[1])
    return np.maximum(R.max(axis=0), -R.min(axis=0))


def csr_products(A: sp.csr_matrix, k: int, *, private_kernel: bool = True):
    """``mul(X, out)``: out = A X for X of shape (n, k), into a preallocated C-contiguous ``out``.

    With SciPy's private kernel (:func:`_private_csr_matvecs`), A X is split into row
    blocks of equal non-zeros computed by threads: SciPy's sparse kernels release the GIL
    (measured), so two cores share the work. Without it (or ``private_kernel=False``),
    ``out[...] = A @ X``, the public operator: same numbers, one allocation per product.
    """
    if _CSR_MATVECS is None or not private_kernel:
        def mul(X, out):
            out[...] = A @ X
        return mul
    kernel = _CSR_MATVECS
    n = A.shape[0]
    parts = max(1, min(os.cpu_count() or 1, 8)) if A.nnz >= 1_000_000 else 1
    cuts = [0] + [int(np.searchsorted(A.indptr, A.nnz * p // parts)) for p in range(1, parts)] + [n]
    cuts = sorted(set(min(max(c, 0), n) for c in cuts))
    blocks = []
    for r0, r1 in zip(cuts[:-1], cuts[1:]):
        lo, hi = int(A.indptr[r0]), int(A.indptr[r1])
        blocks.append((r0, r1, (A.indptr[r0:r1 + 1] - lo).astype(A.indptr.dtype), A.indices[lo:hi], A.data[lo:hi]))
    ncols = A.shape[1]

    def run(X, out, b):
        r0, r1, ip, ix, dx = b
        o = out[r0:r1]
        o.fill(0.0)
        kernel(r1 - r0, ncols, k, ip, ix, dx, X.ravel(), o.ravel())

    if len(blocks) == 1:
        def mul(X, out):
            run(X, out, blocks[0])
        return mul
    pool = _pool(len(blocks))

    def mul(X, out):
        list(pool.map(lambda b: run(X, out, b), blocks))
    return mul


def block_bicgstab(A: sp.csr_matrix, F: np.ndarray, *, rtol: float = 1e-10, atol: float = 0.0,
                   maxiter: int = 500, callback=None) -> tuple[np.ndarray, IterationInfo]:
    """Solve (I - A) X = F for all columns of F together: block BiCGSTAB, then Neumann steps.

    Parameters
    ----------
    A : scipy.sparse.csr_matrix
        The technical coefficients (n x n), spectral radius < 1.
    F : ndarray, shape (n, k)
        The demands, one per column.
    rtol, atol : float
        Column j has converged when max |r_j| <= max(rtol * max |f_j|, atol), r = F - (I - A) X.
        The defaults (rtol 1e-10, atol 0) make the test relative, ``max |r_j| / max |f_j| <=
        1e-10``: the same iterations whatever the demand's units (tonnes or kilotonnes). An
        ``atol`` is in the demand's units.
    maxiter : int
        Budget of matrix products for BiCGSTAB; the Neumann steps that follow may use up to
        five times it in all.
    callback : callable, optional
        ``callback(products, residual)`` after each step, with the products so far and the
        worst column's max |r_j| / max |f_j| (the iterate itself is not passed: at
        n = 10^6 and 32 demands it is 256 MB that no caller needs).

    Returns
    -------
    X : ndarray, shape (n, k)
    info : IterationInfo
        Convergence, products used and the true residual, as scipy returns ``(x, info)``.
        Not converged is not raised here; :class:`LeontiefSolver` raises :class:`SolverError`.

    Notes
    -----
    All columns advance together (each step reads A once for every demand), and the work is
    done in place on preallocated (n, k) buffers: at n = 10^6 and k = 32 each is 256 MB, and
    a fresh allocation per product costs as much as the product itself (measured). The
    recurrence's residual drifts, so the true residual is computed at the end, and Neumann /
    Jacobi steps x <- f + A x finish any column still above tolerance (they converge since
    rho(A) < 1).
    """
    F = np.ascontiguousarray(F, dtype=float)
    n, k = F.shape
    if k == 0 or n == 0:
        return np.zeros_like(F), IterationInfo(True, 0, 0.0, 0.0, 0.0, np.zeros(k))
    fmax = _colmax(F)
    scale = np.where(fmax > 0, fmax, 1.0)  # relative to each demand; a zero demand's residual is absolute
    thresh = np.maximum(rtol * fmax, atol)
    mul = csr_products(A, k)

    def op(X, out):  # out = (I - A) X
        mul(X, out)
        np.subtract(X, out, out=out)
        return out

    def dot(a, b):
        return np.einsum("ij,ij->j", a, b)

    def done(r):  # every column within tolerance
        return bool(np.all(r <= thresh))

    X = F.copy()  # x0 = f: the first term of the Neumann series
    R = np.empty_like(F)
    mul(X, R)  # r0 = f - (I - A) f = A f
    steps = 1
    r = _colmax(R)
    Rh = R.copy()
    P = R.copy()
    V, S, T = np.empty_like(F), np.empty_like(F), np.empty_like(F)
    rho = dot(Rh, R)
    while not done(r) and steps < maxiter:
        op(P, V)
        denom = dot(Rh, V)
        if not np.all(np.isfinite(denom)) or np.any(np.abs(denom) < 1e-300):
            break
        alpha = rho / denom
        np.multiply(V, alpha, out=S)
        np.subtract(R, S, out=S)
        steps += 1
        if done(_colmax(S)):  # converged at the half step: x += alpha p
            np.multiply(P, alpha, out=S)
            X += S
            break
        op(S, T)
        steps += 1
        tt = dot(T, T)
        omega = np.where(tt > 0, dot(T, S) / np.where(tt > 0, tt, 1.0), 0.0)
        np.multiply(P, alpha, out=R)  # R as scratch: X += alpha P + omega S
        X += R
        np.multiply(S, omega, out=R)
        X += R
        np.multiply(T, omega, out=R)
        np.subtract(S, R, out=R)  # r = s - omega t
        new_r = _colmax(R)
        if not np.all(np.isfinite(new_r)) or np.any(omega == 0):
            break
        r = new_r
        if callback:
            callback(steps, float(np.max(r / scale)))
        if done(r):
            break
        rho_new = dot(Rh, R)
        beta = (rho_new / rho) * (alpha / omega)
        rho = rho_new
        np.multiply(V, omega, out=V)  # p = r + beta (p - omega v)
        P -= V
        P *= beta
        P += R
    del V, S, Rh, P
    if not np.all(np.isfinite(X)):
        X = F.copy()
    # the true residual (the recurrence drifts), then Neumann / Jacobi steps
    # x <- f + A x for any column still above tolerance: converges since rho(A) < 1
    op(X, T)
    np.subtract(F, T, out=T)
    steps += 1
    r = _colmax(T)
    while not done(r) and steps < 5 * maxiter:
        mul(X, T)
        np.add(F, T, out=X)
        op(X, T)
        np.subtract(F, T, out=T)
        steps += 2
        r = _colmax(T)
        if callback:
            callback(steps, float(np.max(r / scale)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(thresh > 0, r / np.where(thresh > 0, thresh, 1.0), np.where(r > 0, np.inf, 0.0))
    top = float(fmax.max())
    info = IterationInfo(converged=done(r), products=steps, residual=float(r.max() / top) if top > 0 else float(r.max()),
                         column_residual=float(np.max(r / scale)), tolerance_ratio=float(np.max(ratio)),
                         residual_norms=r)
    return X, info


class LeontiefSolver:
    """Factorize ``I - A`` once; solve for many demands and for labour values.

    ``rtol``, ``atol``, ``maxiter`` and ``callback`` are those of :func:`block_bicgstab`
    (used by the iterative method only). A solve that ends more than 10 times above its
    tolerance raises :class:`SolverError`; so does an answer that is not finite or not
    accurate (:meth:`check`).
    """

    def __init__(self, A, method: str = "auto", *, rtol: float = 1e-10, atol: float = 0.0, maxiter: int = 500,
                 callback=None):
        self.n = A.shape[0]
        self.sparse = sp.issparse(A)
        self.rtol = rtol
        self.atol = atol
        self.maxiter = maxiter
        self.callback = callback
        if method == "auto":
            method = "dense" if (not self.sparse or self.n <= DENSE_LIMIT) else "iterative"
        if method not in ("dense", "splu", "iterative"):
            raise PlanError("method", f"unknown method {method!r}")
        self.method = method
        self._At = None
        self._norms: dict[bool, float] = {}
        self._inverse_norms: dict[bool, float] = {}
        if method == "dense":
            Ad = A.toarray() if self.sparse else np.asarray(A, dtype=float)
            M = np.eye(self.n) - Ad
            # factorize in place (no n x n copy); products with I - A use A afterwards. A zero
            # pivot (LAPACK warns) gives non-finite answers, which check() refuses with the cause
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", la.LinAlgWarning)
                self._lu = la.lu_factor(M, overwrite_a=True, check_finite=False)
            self.M = None
            self.A = Ad
        elif method == "splu":
            self.M = (sp.identity(self.n, format="csc") - sp.csc_matrix(A)).tocsc()
            self._lu = spla.splu(self.M, permc_spec="MMD_AT_PLUS_A")
            self.A = sp.csr_matrix(A)
        else:
            self.A = sp.csr_matrix(A)
            self.M = None  # never built: products with I - A are x - A x
            self._lu = None

    # ------------------------------------------------------------------ products
    def _apply(self, X: np.ndarray, transposed: bool = False) -> np.ndarray:
        """(I - A) X, or (I - A)^T X."""
        if self.M is not None:
            return (self.M.T if transposed else self.M) @ X
        return X - ((self.A.T @ X) if transposed else (self.A @ X))

    def norm(self, transposed: bool = False) -> float:
        """||I - A|| in the infinity norm (of (I - A)^T when ``transposed``): O(nnz), cached."""
        if transposed not in self._norms:
            A = self.A
            if not self.n:
                return 0.0
            data = A.data if sp.issparse(A) else A
            nonneg = data.size == 0 or float(data.min()) >= 0  # then no |A| copy (160 MB at 2 x 10^7 non-zeros)
            sums = np.asarray((A if nonneg else abs(A)).sum(axis=0 if transposed else 1)).ravel()
            d = A.diagonal()
            # row i of |I - A|: |1 - a_ii| + sum_{j != i} |a_ij|
            self._norms[transposed] = float(np.max(sums - np.abs(d) + np.abs(1.0 - d)))
        return self._norms[transposed]

    def _inverse_norm(self, transposed: bool) -> float:
        """max |(I - A)^-1 1| (of its transpose): ||(I - A)^-1|| when A >= 0; direct methods only, cached."""
        if not self.n:
            return 0.0
        if transposed not in self._inverse_norms:
            with np.errstate(all="ignore"):
                y = self._solve(np.ones(self.n), transposed)[0]
                self._inverse_norms[transposed] = float(np.max(np.abs(y))) if np.all(np.isfinite(y)) else float("inf")
        return self._inverse_norms[transposed]

    def residual(self, x: np.ndarray, f: np.ndarray, transposed: bool = False) -> float:
        """The backward error of ``x`` (see :attr:`Solution.residual`): one product with I - A."""
        return self._backward(_colmax2(x), _colmax2(f), _colmax2(self._apply(x, transposed) - f), transposed)

    def _backward(self, xmax: np.ndarray, fmax: np.ndarray, r: np.ndarray, transposed: bool) -> float:
        """max_j r_j / (||I - A|| xmax_j + fmax_j), 0 where r_j = 0 (per-column infinity norms given)."""
        if not r.size:
            return 0.0
        den = self.norm(transposed) * xmax + fmax
        with np.errstate(divide="ignore", invalid="ignore"):
            b = np.where(r > 0, r / np.where(den > 0, den, 1.0), 0.0)
        return float(np.max(b)) if np.all(np.isfinite(b)) else float("inf")

    # ------------------------------------------------------------------ solves
    def solve(self, f, *, transposed: bool = False) -> Solution:
        """Gross output x with (I - A) x = f (or y with (I - A)^T y = f); ``f`` of shape (n,) or (n, k).

        Raises :class:`SolverError` when the answer is not finite, not accurate or, for the
        iterative method, not converged (:meth:`check`); :class:`PlanError` when ``f`` is not finite.
        """
        f = np.asarray(f, dtype=float)
        fmax = _colmax2(f)  # max and min propagate NaN: a finite column maximum means a finite column
        if not np.all(np.isfinite(fmax)):
            raise PlanError("labour" if transposed else "final_demand", "contains a value that is not a finite number")
        with np.errstate(over="ignore", invalid="ignore"):
            x, info = self._solve(f, transposed)
            if info is not None:  # the true residual, computed once at the end of the iteration
                r, iterations = info.residual_norms, info.products
            else:
                r, iterations = _colmax2(self._apply(x, transposed) - f), 0
        return self.check(x, f, r, transposed, iterations, fmax=fmax)

    def check(self, x: np.ndarray, f: np.ndarray, r: np.ndarray, transposed: bool = False,
              iterations: int = 0, *, fmax: np.ndarray | None = None) -> Solution:
        """The :class:`Solution` of (I - A) x = f, with ``r`` = max |f_j - (I - A) x_j| per column; or SolverError.

        Refuses, naming the cause: an answer that is not finite (the Leontief inverse or the
        demand too large for 64-bit floats); a backward error above :data:`BACKWARD_LIMIT`;
        a bound on the relative error (condition number times backward error) above
        :data:`ACCURACY_LIMIT`. Costs O(n k) beyond the residual; the condition number of a
        direct method costs one more solve, once per solver.
        """
        what, be = ("labour values", "are") if transposed else ("gross output", "is")
        direct = self.method != "iterative"
        xmax = _colmax2(x)  # one pass over the (n, k) answer; NaN and infinity propagate into it
        fmax = _colmax2(f) if fmax is None else fmax
        if not np.all(np.isfinite(xmax)):
            inv = self._inverse_norm(transposed) if direct else float("inf")
            if np.isfinite(inv):
                raise SolverError("labour" if transposed else "final_demand",
                                  f"the {what} {'overflow' if transposed else 'overflows'} a 64-bit float "
                                  f"({what.replace(' ', '_')} passes {_BIG:.3g}): the "
                                  f"{'labour' if transposed else 'demand'} is too large for this economy (the largest "
                                  f"row sum of (I - A)^-1 is {inv:.3g})", "unprocessable")
            raise SolverError("technical_coefficients",
                              f"the {what} {be} not a finite 64-bit number: (I - A)^-1 has entries beyond "
                              f"{_BIG:.3g}, the largest 64-bit float, although the spectral radius of A may be "
                              "below 1 (a far from normal matrix, e.g. a long chain of sectors, each multiplying "
                              "the output needed from the one before); no answer can be computed: check the "
                              "coefficients",
                              "unprocessable")
        beta = self._backward(xmax, fmax, r, transposed)
        with np.errstate(divide="ignore", invalid="ignore"):
            seen = float(np.max(np.where(fmax > 0, xmax / np.where(fmax > 0, fmax, 1.0), 0.0))) if f.size else 0.0
        inv = max(seen, self._inverse_norm(transposed)) if direct else seen
        cond = self.norm(transposed) * inv
        bound = cond * max(beta, _EPS)
        limit = max(BACKWARD_LIMIT, 10 * self.rtol)
        if not beta <= limit:
            raise SolverError(None, f"the {what} {be} not accurate: backward error {beta:.3g} above {limit:.3g} "
                                    f"(method {self.method})", "unprocessable")
        if not bound <= ACCURACY_LIMIT and float(xmax.max(initial=0.0)) > 0:  # x = 0 for f = 0 is exact
            raise SolverError("technical_coefficients",
                              f"the {what} {be} not determined to 6 digits in 64-bit arithmetic: the condition number "
                              f"of I - A is {cond:.3g} (a relative error of up to {bound:.3g}); (I - A)^-1 has row "
                              f"sums up to {inv:.3g}, so a rounding of the coefficients in their 16th digit moves "
                              "the answer by more than it can show: check the coefficients", "unprocessable")
        return Solution(x, beta, self.method, iterations, cond, bound)

    def solve_transposed(self, b) -> np.ndarray:
        """y with (I - A)^T y = b, e.g. labour values: v (I - A) = l (checked as :meth:`solve`)."""
        return self.solve(b, transposed=True).gross_output

    def labour_values(self, labour) -> np.ndarray:
        """v = l (I - A)^-1, hours of labour embodied per unit of each product."""
        return self.solve_transposed(labour)

    def _solve(self, f: np.ndarray, transposed: bool) -> tuple[np.ndarray, IterationInfo | None]:
        if self.method == "dense":
            return la.lu_solve(self._lu, f, trans=1 if transposed else 0, check_finite=False), None
        if self.method == "splu":
            return self._lu.solve(f, trans="T" if transposed else "N"), None
        one = f.ndim == 1
        F = f[:, None] if one else f
        nz = _colmax(F) > 0 if F.size else np.zeros(F.shape[1], dtype=bool)
        if F.shape[1] and not nz.all():  # a zero demand's answer is zero: solve the others only
            X = np.zeros_like(F)
            info = IterationInfo(True, 0, 0.0, 0.0, 0.0, np.zeros(F.shape[1]))
            if nz.any():
                Xn, info = self._solve(F[:, nz], transposed)
                X[:, nz] = Xn
                r = np.zeros(F.shape[1])
                r[nz] = info.residual_norms
                info = dataclasses.replace(info, residual_norms=r)
            return (X[:, 0] if one else X), info
        if transposed:  # A^T as CSR, built once (O(nnz)) so transposed products split by rows too
            if self._At is None:
                self._At = sp.csr_matrix(self.A.T)
            A = self._At
        else:
            A = self.A
        X, info = block_bicgstab(A, F, rtol=self.rtol, atol=self.atol, maxiter=self.maxiter, callback=self.callback)
        if np.all(np.isfinite(info.residual_norms)) and not info.tolerance_ratio <= 10:  # non-finite: check() says why
            with np.errstate(divide="ignore", invalid="ignore"):
                grew = float(np.max(_colmax(X) / _colmax(F)))
            why = (f"; the iterate grew to {grew:.3g} times the demand: (I - A)^-1 may be too large for 64-bit "
                   "arithmetic (a far from normal matrix); the dense or splu method says" if grew > 1e8 else "")
            raise SolverError(None, f"no convergence after {info.products} matrix products: "
                                    f"relative residual {info.column_residual:.3g}{why}", "unprocessable")
        return (X[:, 0] if one else X), info


def _colmax2(R: np.ndarray) -> np.ndarray:
    """max |R| per column of a vector (one column) or matrix."""
    if R.ndim == 1:
        return np.array([float(np.max(np.abs(R)))]) if R.size else np.zeros(1)
    return _colmax(R)
