"""The Leontief system (I - A) x = f, factorized once and reused for many demands.

Small economies use a dense LU (LAPACK getrf via :func:`scipy.linalg.lu_factor`); large
sparse ones a sparse LU with a fill-reducing column ordering (SuperLU via
:func:`scipy.sparse.linalg.splu`). The inverse is never formed. Demands come as a matrix
(one column per demand), solved in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as spla

__all__ = ["LeontiefSolver", "Solution"]


@dataclass
class Solution:
    """Gross outputs for one or many final demands, with the residual of the solve."""

    gross_output: np.ndarray
    """x, shape (n,) or (n, k): one column per demand."""
    residual: float
    """max |(I - A) x - f| / max(1, max |f|): relative residual, worst column."""


class LeontiefSolver:
    """Factorize ``I - A`` once; solve for many demands and for labour values."""

    def __init__(self, A):
        self.n = A.shape[0]
        self.sparse = sp.issparse(A)
        if self.sparse:
            self.M = (sp.identity(self.n, format="csc") - sp.csc_matrix(A)).tocsc()
            self._lu = spla.splu(self.M, permc_spec="COLAMD")
        else:
            self.M = np.eye(self.n) - np.asarray(A, dtype=float)
            self._lu = la.lu_factor(self.M, check_finite=False)

    def solve(self, f) -> Solution:
        """Gross output x with (I - A) x = f; ``f`` of shape (n,) or (n, k)."""
        f = np.asarray(f, dtype=float)
        if self.sparse:
            x = self._lu.solve(f)
        else:
            x = la.lu_solve(self._lu, f, check_finite=False)
        return Solution(x, self.residual(x, f))

    def solve_transposed(self, b) -> np.ndarray:
        """y with (I - A)^T y = b, e.g. labour values: v (I - A) = l."""
        b = np.asarray(b, dtype=float)
        if self.sparse:
            return self._lu.solve(b, trans="T")
        return la.lu_solve(self._lu, b, trans=1, check_finite=False)

    def labour_values(self, labour) -> np.ndarray:
        """v = l (I - A)^-1, hours of labour embodied per unit of each product."""
        return self.solve_transposed(labour)

    def residual(self, x: np.ndarray, f: np.ndarray) -> float:
        r = self.M @ x - f
        scale = max(1.0, float(np.max(np.abs(f))) if f.size else 1.0)
        return float(np.max(np.abs(r)) / scale) if r.size else 0.0
