"""Spectral radius of a non-negative matrix: is the economy productive?

An economy is productive when rho(A) < 1 (docs/planfactory.md, "The model"). This module
is pure numerics on a matrix (numpy, scipy; no other plan factory module), so that
:mod:`planfactory.validation` and anything else may import it and nothing imports back.

- :func:`spectral_radius_bounds`: Collatz-Wielandt bounds tightened by power iteration
  (one product with A per step: works on 10^6 sparse products);
- :func:`spectral_radius`: exact (dense eigenvalues) up to :data:`DENSE_EIG_LIMIT`
  sectors, bounds beyond;
- :func:`arpack_spectral_radius`: ARPACK's largest eigenvalue, for the rare case the
  bounds leave undecided.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["spectral_radius_bounds", "spectral_radius", "arpack_spectral_radius", "DENSE_EIG_LIMIT"]

DENSE_EIG_LIMIT = 600
"""Up to this many sectors rho(A) is computed exactly from the dense eigenvalues."""


def spectral_radius_bounds(A, iterations: int = 300, tol: float = 1e-9, tight: bool = False) -> tuple[float, float]:
    """Lower and upper bounds on the spectral radius of a non-negative matrix ``A``.

    Collatz-Wielandt: for any positive x, min_i (Ax)_i / x_i <= rho(A) <= max_i (Ax)_i / x_i.
    Power iteration from the all-ones vector (A plus the identity, to avoid periodicity)
    tightens both bounds; each step costs one product with A, so this works on 10^6 sparse
    products. Column and row sums give the first upper bounds for free. Unless ``tight``,
    it stops as soon as the bounds decide whether rho < 1.
    """
    n = A.shape[0]
    if n == 0:
        return 0.0, 0.0
    colmax = float(np.max(np.asarray(A.sum(axis=0)).ravel()))
    rowmax = float(np.max(np.asarray(A.sum(axis=1)).ravel()))
    upper = min(colmax, rowmax)
    if upper < 1.0 - 1e-12 and iterations <= 0:
        return 0.0, upper
    x = np.ones(n)
    lower = 0.0
    for _ in range(iterations):
        y = A @ x + x  # (A + I) x: same Perron vector, no periodicity
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = y / x
        pos = x > 0
        lo = float(np.min(ratio[pos])) - 1.0
        hi = float(np.max(ratio[pos])) - 1.0
        lower = max(lower, lo)
        upper = min(upper, hi) if np.all(pos) else upper
        decided = upper < 1.0 - 1e-12 or lower >= 1.0
        if (decided and not tight) or upper - lower <= tol * max(1.0, upper):
            break
        x = y / np.max(y)
        if not np.all(x > 0):
            x = x + 1e-300
    return max(lower, 0.0), upper


def spectral_radius(A, tight: bool = False) -> tuple[float, float]:
    """(lower, upper) bounds on rho(A); exact for n <= 600; ``tight`` narrows them for large A."""
    n = A.shape[0]
    if n == 0:
        return 0.0, 0.0
    if n <= DENSE_EIG_LIMIT:
        M = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=float)
        r = float(np.max(np.abs(np.linalg.eigvals(M))))
        return r, r
    return spectral_radius_bounds(A, tight=tight, iterations=1000 if tight else 300, tol=1e-6 if tight else 1e-9)


def arpack_spectral_radius(A) -> float:
    """|largest eigenvalue| of ``A`` by ARPACK (tolerance 1e-10), to settle undecided bounds."""
    return float(abs(spla.eigs(sp.csr_matrix(A), k=1, which="LM", return_eigenvectors=False, tol=1e-10)[0]))
