"""The Leontief system (I - A) x = f, factorized once and reused for many demands.

Public API (argument names as in ``scipy.sparse.linalg``: ``rtol``, ``atol``, ``maxiter``,
``callback``; convergence comes back with the answer, never in attributes)::

    LeontiefSolver(A, method="auto", *, rtol=1e-10, atol=1e-10, maxiter=500, callback=None)
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
    solver.solve(F, transposed=False) -> Solution(gross_output, residual, method, iterations)
        F of shape (n,) or (n, k); k demands solved together, never one by one.
        Raises SolverError when the iterative method does not converge.
    solver.solve_transposed(b) -> y with (I - A)^T y = b
    solver.labour_values(l) -> v with v (I - A) = l, i.e. v = l (I - A)^-1 (no inverse formed)
    solver.residual(x, f) -> max |(I - A) x - f| / max(1, max |f|)
    block_bicgstab(A, F, *, rtol, atol, maxiter, callback) -> (X, IterationInfo)
        the iterative method itself, for a CSR matrix A (scipy's (x, info) form).

The inverse is never formed.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from planfactory.errors import PlanError, SolverError

__all__ = ["LeontiefSolver", "Solution", "IterationInfo", "block_bicgstab", "csr_products", "DENSE_LIMIT",
           "SolverError"]


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


@dataclass(frozen=True)
class Solution:
    """Gross outputs for one or many final demands, with the residual of the solve."""

    gross_output: np.ndarray
    """x, shape (n,) or (n, k): one column per demand (for a transposed solve, y with (I - A)^T y = f)."""
    residual: float
    """max |(I - A) x - f| / max(1, max |f|): relative residual, worst column."""
    method: str = "dense"
    iterations: int = 0
    """Sparse matrix products used by the iterative method (0 for direct methods)."""


@dataclass(frozen=True)
class IterationInfo:
    """How an iterative solve ended, returned with its answer (as scipy's ``(x, info)``)."""

    converged: bool
    """Every column within its tolerance, max |r_j| <= max(rtol max |f_j|, atol)."""
    products: int
    """Sparse matrix products used (the cost: each reads A once for every column)."""
    residual: float
    """The true relative residual max |f - (I - A) x| / max(1, max |f|), worst column."""
    column_residual: float
    """max over columns of max |r_j| / max(1, max |f_j|): what the progress callback reports."""
    tolerance_ratio: float
    """max over columns of max |r_j| / max(rtol max |f_j|, atol): <= 1 when converged."""


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


def block_bicgstab(A: sp.csr_matrix, F: np.ndarray, *, rtol: float = 1e-10, atol: float = 1e-10,
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
        The defaults (both 1e-10) are the test ``max |r_j| / max(1, max |f_j|) <= 1e-10``.
    maxiter : int
        Budget of matrix products for BiCGSTAB; the Neumann steps that follow may use up to
        five times it in all.
    callback : callable, optional
        ``callback(products, residual)`` after each step, with the products so far and the
        worst column's max |r_j| / max(1, max |f_j|) (the iterate itself is not passed: at
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
        return np.zeros_like(F), IterationInfo(True, 0, float("nan"), 0.0, 0.0)
    scale = np.maximum(1.0, _colmax(F))
    thresh = np.maximum(rtol * _colmax(F), atol)
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
    info = IterationInfo(converged=done(r), products=steps,
                         residual=float(r.max() / max(1.0, float(np.max(np.abs(F))))),
                         column_residual=float(np.max(r / scale)), tolerance_ratio=float(np.max(r / thresh)))
    return X, info


class LeontiefSolver:
    """Factorize ``I - A`` once; solve for many demands and for labour values.

    ``rtol``, ``atol``, ``maxiter`` and ``callback`` are those of :func:`block_bicgstab`
    (used by the iterative method only). A solve that ends more than 10 times above its
    tolerance raises :class:`SolverError`.
    """

    def __init__(self, A, method: str = "auto", *, rtol: float = 1e-10, atol: float = 1e-10, maxiter: int = 500,
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
        if method == "dense":
            Ad = A.toarray() if self.sparse else np.asarray(A, dtype=float)
            M = np.eye(self.n) - Ad
            # factorize in place (no n x n copy); products with I - A use A afterwards
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

    def residual(self, x: np.ndarray, f: np.ndarray, transposed: bool = False) -> float:
        r = self._apply(x, transposed) - f
        scale = max(1.0, float(np.max(np.abs(f))) if f.size else 1.0)
        return float(np.max(np.abs(r)) / scale) if r.size else 0.0

    # ------------------------------------------------------------------ solves
    def solve(self, f, *, transposed: bool = False) -> Solution:
        """Gross output x with (I - A) x = f (or y with (I - A)^T y = f); ``f`` of shape (n,) or (n, k)."""
        f = np.asarray(f, dtype=float)
        x, info = self._solve(f, transposed)
        if info is not None:  # the true residual, computed once at the end of the iteration
            return Solution(x, info.residual, self.method, info.products)
        return Solution(x, self.residual(x, f, transposed), self.method, 0)

    def solve_transposed(self, b) -> np.ndarray:
        """y with (I - A)^T y = b, e.g. labour values: v (I - A) = l."""
        return self._solve(np.asarray(b, dtype=float), True)[0]

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
        if transposed:  # A^T as CSR, built once (O(nnz)) so transposed products split by rows too
            if self._At is None:
                self._At = sp.csr_matrix(self.A.T)
            A = self._At
        else:
            A = self.A
        X, info = block_bicgstab(A, F, rtol=self.rtol, atol=self.atol, maxiter=self.maxiter, callback=self.callback)
        if info.tolerance_ratio > 10:
            raise SolverError(None, f"no convergence after {info.products} matrix products: "
                                    f"residual {info.column_residual:.3g}")
        return (X[:, 0] if one else X), info
