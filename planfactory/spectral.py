"""Spectral radius of a non-negative matrix: is the economy productive?

An economy is productive when rho(A) < 1 (docs/planfactory.md, "The model"). This module
is pure numerics on a matrix (numpy, scipy; no other plan factory module), so that
:mod:`planfactory.validation` and anything else may import it and nothing imports back.

- :func:`spectral_radius_bounds`: Collatz-Wielandt bounds tightened by power iteration
  (one product with A per step: works on 10^6 sparse products);
- :func:`spectral_radius`: exact (dense eigenvalues) up to :data:`DENSE_EIG_LIMIT`
  sectors, bounds beyond;
- :func:`arpack_spectral_radius`: ARPACK's largest eigenvalue, for the rare case the
  bounds leave undecided (from a fixed start vector: the same answer every time);
- :func:`productiveness`: the one verdict, rho(A) < 1 or not, that loading an economy
  (:mod:`planfactory.validation`) and ``plan info`` both give.

The verdict works on the strongly connected components of A (the Frobenius normal form):
rho(A) is the largest of the components' spectral radii, and a component of one sector has
its diagonal entry as its radius, exactly. Without this, a far from normal economy such as
a chain of 1,300 sectors (A = 0.5 I + subdiagonal of ones, rho = 0.5) gets bounds of 0.5 and
1.5 and an ARPACK estimate anywhere between 0.99 and 1.02 from run to run: it was accepted
by one load and refused by the next, and ``plan info`` called it not productive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as spla

__all__ = ["spectral_radius_bounds", "spectral_radius", "arpack_spectral_radius", "component_spectral_radius",
           "productiveness", "Productiveness", "DENSE_EIG_LIMIT"]

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
    """|largest eigenvalue| of ``A`` by ARPACK (tolerance 1e-10, start vector all ones: reproducible)."""
    n = A.shape[0]
    return float(abs(spla.eigs(sp.csr_matrix(A), k=1, which="LM", return_eigenvectors=False, tol=1e-10,
                               v0=np.ones(n))[0]))


def _block_radius(B) -> tuple[float, float, str]:
    """(lower, upper, method) for one irreducible block."""
    lo, hi = spectral_radius(B)
    method = "eigenvalues" if B.shape[0] <= DENSE_EIG_LIMIT else "bounds"
    if hi >= 1.0 > lo and B.shape[0] > 2:
        r = arpack_spectral_radius(B)
        return r, r, "arpack"
    return lo, hi, method


def component_spectral_radius(A) -> tuple[float, float, str]:
    """(lower, upper, method) bounds on rho(A) from its strongly connected components.

    rho(A) = max over the irreducible diagonal blocks of the Frobenius normal form; a block
    of one sector contributes its diagonal entry exactly, a larger block its bounds (exact
    eigenvalues up to :data:`DENSE_EIG_LIMIT` sectors, then Collatz-Wielandt, then ARPACK).
    O(nnz) for the components.
    """
    S = sp.csr_matrix(A)
    n = S.shape[0]
    if n == 0:
        return 0.0, 0.0, "empty"
    G = S.copy()
    G.setdiag(0)
    G.eliminate_zeros()
    k, labels = csgraph.connected_components(G, directed=True, connection="strong")
    if k == 1:
        return _block_radius(S)
    sizes = np.bincount(labels, minlength=k)
    diag = np.abs(S.diagonal())
    single = sizes[labels] == 1
    lo = hi = float(diag[single].max()) if single.any() else 0.0
    methods = {"components"}
    for c in np.flatnonzero(sizes > 1):
        idx = np.flatnonzero(labels == c)
        blo, bhi, m = _block_radius(S[idx][:, idx])
        lo, hi = max(lo, blo), max(hi, bhi)
        methods.add(m)
    return lo, hi, "+".join(sorted(methods))


@dataclass(frozen=True)
class Productiveness:
    """Whether rho(A) < 1, and how it was decided."""

    productive: bool
    lower: float
    upper: float
    """Bounds on rho(A) (equal when it is known exactly)."""
    method: str
    """"eigenvalues", "bounds", "components", "arpack" or a "+"-joined combination."""


def productiveness(A, tight: bool = False) -> Productiveness:
    """The verdict rho(A) < 1 for loading and for ``plan info`` alike (the same steps, the same answer).

    Cheap bounds first (dense eigenvalues up to :data:`DENSE_EIG_LIMIT` sectors; row and
    column sums and power iteration beyond); when they do not show rho < 1, the strongly
    connected components decide (:func:`component_spectral_radius`). ``tight`` narrows the
    bounds reported once the verdict is known; it never changes the verdict.
    """
    n = A.shape[0]
    lo, hi = spectral_radius(A)
    method = "eigenvalues" if n <= DENSE_EIG_LIMIT else "bounds"
    if not hi < 1.0 - 1e-12:
        clo, chi, method = component_spectral_radius(A)
        lo, hi = clo, chi
    productive = bool(hi < 1.0 - 1e-12 or (lo < 1.0 - 1e-12 and "arpack" in method))
    if tight and method == "bounds":
        tlo, thi = spectral_radius(A, tight=True)
        lo, hi = max(lo, tlo), min(hi, thi)
    return Productiveness(productive, float(lo), float(hi), method)
