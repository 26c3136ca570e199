"""The Leontief system (I - A) x = f, factorized once and reused for many demands.

Public API::

    LeontiefSolver(A, method="auto", tol=1e-10, maxiter=500, progress=None)
        method: "dense"     LAPACK LU (getrf) of I - A, for dense A or sparse A with n <= DENSE_LIMIT;
                "splu"      SuperLU with the MMD_AT_PLUS_A fill-reducing ordering (for structured
                            sparse A whose factors stay sparse, e.g. banded or block-triangular);
                "iterative" block BiCGSTAB on all demand columns at once (one sparse
                            matrix-matrix product per step reads A once for every demand),
                            Neumann/Jacobi iteration x <- f + A x as the fallback, which always
                            converges because the spectral radius of A is < 1.
                "auto"      dense for dense A or n <= DENSE_LIMIT, else iterative (measured:
                            docs/planfactory.md, "Solver choices").
        progress: optional callable(step: int, residual: float) called by the iterative method.
    solver.solve(F) -> Solution(gross_output, residual, method, iterations)
        F of shape (n,) or (n, k); k demands solved together, never one by one.
    solver.solve_transposed(b) -> y with (I - A)^T y = b
    solver.labour_values(l) -> v with v (I - A) = l, i.e. v = l (I - A)^-1 (no inverse formed)
    solver.residual(x, f) -> max |(I - A) x - f| / max(1, max |f|)

The inverse is never formed.
"""

from __future__ import annotations

from dataclasses import dataclass

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["LeontiefSolver", "Solution", "DENSE_LIMIT", "SolverError"]

try:  # SciPy's kernel behind A @ X, called with a preallocated output (see _products)
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - a SciPy without it falls back to A @ X
    _csr_matvecs = None

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="leontief")
    return _POOLS[workers]


DENSE_LIMIT = 3000
"""Sparse economies up to this size are densified and LU-factorized (3000^2 doubles = 72 MB)."""


class SolverError(ArithmeticError):
    """The iterative method did not reach the tolerance within its iterations."""


@dataclass
class Solution:
    """Gross outputs for one or many final demands, with the residual of the solve."""

    gross_output: np.ndarray
    """x, shape (n,) or (n, k): one column per demand."""
    residual: float
    """max |(I - A) x - f| / max(1, max |f|): relative residual, worst column."""
    method: str = "dense"
    iterations: int = 0
    """Sparse matrix products used by the iterative method (0 for direct methods)."""


def _colmax(R: np.ndarray) -> np.ndarray:
    """max |R| per column, without allocating |R| (two reading passes instead of a 256 MB temporary)."""
    if not R.size:
        return np.zeros(R.shape[1])
    return np.maximum(R.max(axis=0), -R.min(axis=0))


class LeontiefSolver:
    """Factorize ``I - A`` once; solve for many demands and for labour values."""

    def __init__(self, A, method: str = "auto", tol: float = 1e-10, maxiter: int = 500, progress=None):
        self.n = A.shape[0]
        self.sparse = sp.issparse(A)
        self.tol = tol
        self.maxiter = maxiter
        self.progress = progress
        if method == "auto":
            method = "dense" if (not self.sparse or self.n <= DENSE_LIMIT) else "iterative"
        if method not in ("dense", "splu", "iterative"):
            raise ValueError(f"unknown method {method!r}")
        self.method = method
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
        self.last_iterations = 0

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
    def solve(self, f) -> Solution:
        """Gross output x with (I - A) x = f; ``f`` of shape (n,) or (n, k)."""
        f = np.asarray(f, dtype=float)
        x = self._solve(f, transposed=False)
        if self.method == "iterative":  # the true residual, computed once at the end of the iteration
            return Solution(x, self.last_residual, self.method, self.last_iterations)
        return Solution(x, self.residual(x, f), self.method, self.last_iterations)

    def solve_transposed(self, b) -> np.ndarray:
        """y with (I - A)^T y = b, e.g. labour values: v (I - A) = l."""
        return self._solve(np.asarray(b, dtype=float), transposed=True)

    def labour_values(self, labour) -> np.ndarray:
        """v = l (I - A)^-1, hours of labour embodied per unit of each product."""
        return self.solve_transposed(labour)

    def _solve(self, f: np.ndarray, transposed: bool) -> np.ndarray:
        self.last_iterations = 0
        self.last_residual = float("nan")
        if self.method == "dense":
            return la.lu_solve(self._lu, f, trans=1 if transposed else 0, check_finite=False)
        if self.method == "splu":
            return self._lu.solve(f, trans="T" if transposed else "N")
        one = f.ndim == 1
        F = f[:, None] if one else f
        X = self._iterate(F, transposed)
        return X[:, 0] if one else X

    def _iterate(self, F: np.ndarray, transposed: bool) -> np.ndarray:
        """Block BiCGSTAB over all columns, then Neumann steps for any column left behind.

        Works in place on preallocated (n, k) buffers: at n = 10^6 and k = 32 each is 256 MB,
        and a fresh allocation per product costs as much as the product itself (measured).
        """
        F = np.ascontiguousarray(F, dtype=float)
        n, k = F.shape
        if k == 0 or n == 0:
            return np.zeros_like(F)
        scale = np.maximum(1.0, _colmax(F))
        mul = self._products(transposed, k)

        def op(X, out):  # out = (I - A) X
            mul(X, out)
            np.subtract(X, out, out=out)
            return out

        def dot(a, b):
            return np.einsum("ij,ij->j", a, b)

        X = F.copy()  # x0 = f: the first term of the Neumann series
        R = np.empty_like(F)
        mul(X, R)  # r0 = f - (I - A) f = A f
        steps = 1
        res = _colmax(R) / scale
        Rh = R.copy()
        P = R.copy()
        V, S, T = np.empty_like(F), np.empty_like(F), np.empty_like(F)
        rho = dot(Rh, R)
        budget = self.maxiter
        while res.max() > self.tol and steps < budget:
            op(P, V)
            denom = dot(Rh, V)
            if not np.all(np.isfinite(denom)) or np.any(np.abs(denom) < 1e-300):
                break
            alpha = rho / denom
            np.multiply(V, alpha, out=S)
            np.subtract(R, S, out=S)
            steps += 1
            if np.max(_colmax(S) / scale) <= self.tol:  # converged at the half step: x += alpha p
                np.multiply(P, alpha, out=S)
                X += S
                res = np.zeros(k)
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
            new_res = _colmax(R) / scale
            if not np.all(np.isfinite(new_res)) or np.any(omega == 0):
                break
            res = new_res
            if self.progress:
                self.progress(steps, float(res.max()))
            if res.max() <= self.tol:
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
        rabs = _colmax(T)
        res = rabs / scale
        while res.max() > self.tol and steps < 5 * budget:
            mul(X, T)
            np.add(F, T, out=X)
            op(X, T)
            np.subtract(F, T, out=T)
            steps += 2
            rabs = _colmax(T)
            res = rabs / scale
            if self.progress:
                self.progress(steps, float(res.max()))
        self.last_iterations = steps
        self.last_residual = float(rabs.max() / max(1.0, float(np.max(np.abs(F)))))
        if res.max() > self.tol * 10:
            raise SolverError(f"no convergence after {steps} matrix products: residual {res.max():.3g}")
        return X

    def _products(self, transposed: bool, k: int):
        """``mul(X, out)``: out = A X (or A^T X) into a preallocated array.

        A X is split into row blocks of equal non-zeros computed by threads: SciPy's
        sparse kernels release the GIL (measured), so two cores share the work.
        """
        if _csr_matvecs is None:
            At = self.A.T if transposed else self.A

            def mul(X, out):
                out[...] = At @ X
            return mul
        if transposed:  # A^T as CSR, built once (O(nnz)) so transposed products split by rows too
            if getattr(self, "_At", None) is None:
                self._At = sp.csr_matrix(self.A.T)
            A = self._At
        else:
            A = self.A
        n = A.shape[0]
        parts = max(1, min(os.cpu_count() or 1, 8)) if A.nnz >= 1_000_000 else 1
        cuts = [0] + [int(np.searchsorted(A.indptr, A.nnz * p // parts)) for p in range(1, parts)] + [n]
        cuts = sorted(set(min(max(c, 0), n) for c in cuts))
        blocks = []
        for r0, r1 in zip(cuts[:-1], cuts[1:]):
            lo, hi = int(A.indptr[r0]), int(A.indptr[r1])
            blocks.append((r0, r1, (A.indptr[r0:r1 + 1] - lo).astype(A.indptr.dtype), A.indices[lo:hi], A.data[lo:hi]))

        def run(X, out, b):
            r0, r1, ip, ix, dx = b
            o = out[r0:r1]
            o.fill(0.0)
            _csr_matvecs(r1 - r0, n, k, ip, ix, dx, X.ravel(), o.ravel())

        if len(blocks) == 1:
            def mul(X, out):
                run(X, out, blocks[0])
            return mul
        pool = _pool(len(blocks))

        def mul(X, out):
            list(pool.map(lambda b: run(X, out, b), blocks))
        return mul
