"""``check_plan``: the invariants every solver's answer must pass (networkx's validate_flows idea)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def check_plan(A, f, x, *, labour=None, v=None, rtol: float = 1e-8, capacity=None, hours=None) -> None:
    """Balances hold ((I - A) x = f), nothing negative, optional capacity, hours and labour values.

    Uses its own arithmetic (a plain product with A), not the solver's residual.
    """
    A = A.toarray() if sp.issparse(A) else np.asarray(A, dtype=float)
    f = np.asarray(f, dtype=float)
    x = np.asarray(x, dtype=float)
    n = A.shape[0]
    lhs = x - A @ x
    scale = max(1.0, float(np.max(np.abs(f))) if f.size else 1.0)
    assert np.max(np.abs(lhs - f), initial=0.0) <= rtol * scale, "balance (I - A) x = f violated"
    if np.all(f >= 0):
        assert np.all(x >= -rtol * scale), "negative gross output for a non-negative demand"
    if labour is not None and v is not None:
        l = np.asarray(labour, dtype=float)
        assert np.max(np.abs(v - v @ A - l), initial=0.0) <= rtol * max(1.0, float(np.max(np.abs(l)))), "v (I - A) != l"
        assert np.all(v >= l - rtol), "a labour value below the direct labour"
    if capacity is not None:
        c = np.asarray(capacity)
        xx = x if x.ndim == 2 else x[:, None]
        assert np.all(xx <= (c[:, None] if c.ndim == 1 else c) * (1 + 1e-9)), "capacity exceeded"
    if hours is not None and labour is not None:
        assert np.all(np.asarray(labour) @ x <= np.asarray(hours) * (1 + 1e-9)), "hours exceeded"
    assert x.shape[0] == n
