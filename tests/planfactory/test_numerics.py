"""Every answer of the solver is finite and accurate, or refused with its cause (issue 13, numerics).

The reference values are computed here by forward substitution (exact integers where the
numbers pass a double's range), not by the solver under test.
"""

import sys

import numpy as np
import pytest
import scipy.sparse as sp

from planfactory.demo import demo_economy, sparse_technology
from planfactory.errors import SolverError
from planfactory.formats import load, to_dict
from planfactory.leontief import LeontiefSolver
from planfactory import spectral  # productiveness: new with issue 13 (attribute access, so each test fails alone)


def bidiagonal(n: int, c: float) -> sp.csr_matrix:
    """A = 0.5 I + c * subdiagonal: lower triangular, so rho(A) = 0.5 exactly; far from normal for c >= 0.5."""
    return sp.diags([np.full(n, 0.5), np.full(n - 1, c)], [0, -1], format="csr")


def forward_substitution(n: int, c, f):
    """x with (I - A) x = f for the bidiagonal A: 0.5 x_i - c x_{i-1} = f_i, i.e. x_i = 2 (f_i + c x_{i-1})."""
    x, prev = [], 0
    for i in range(n):
        prev = 2 * (f[i] + c * prev)
        x.append(prev)
    return x


def _economy(A) -> dict:
    c = A.tocoo()
    n = A.shape[0]
    return {"sectors": [f"s{i}" for i in range(n)], "labour": [1.0] * n,
            "technical_coefficients": {"shape": [n, n], "rows": c.row.tolist(), "cols": c.col.tolist(),
                                       "values": c.data.tolist()}}


@pytest.mark.parametrize("method", ["dense", "splu", "iterative"])
def test_a_productive_economy_whose_inverse_overflows_is_refused_not_answered_with_nan(method):
    n = 1300
    exact = forward_substitution(n, 1, [1] * n)  # Python integers: x_i = 2^(i+2) - 2
    assert exact[-1] == 2 ** (n + 1) - 2 and exact[-1] > int(sys.float_info.max)  # no double holds the answer
    with pytest.raises(SolverError) as exc:
        LeontiefSolver(bidiagonal(n, 1.0), method=method).solve(np.ones(n))
    assert exc.value.kind == "unprocessable"
    if method != "iterative":
        assert exc.value.field == "technical_coefficients" and "not a finite 64-bit number" in exc.value.reason


def test_the_same_economy_at_200_sectors_is_refused_as_ill_conditioned():
    # the dense path reported a relative residual of 1.0 without complaint
    n = 200
    exact = forward_substitution(n, 1, [1] * n)
    row_sums = float(max(exact))  # (I - A)^-1 >= 0, so its infinity norm is the largest entry of (I - A)^-1 1
    cond = 1.5 * row_sums  # ||I - A|| = max row sum of |I - A| = 0.5 + 1
    assert cond * np.finfo(float).eps > 1e-6  # planfactory.leontief.ACCURACY_LIMIT
    for method in ("dense", "splu"):
        with pytest.raises(SolverError) as exc:
            LeontiefSolver(bidiagonal(n, 1.0), method=method).solve(np.ones(n))
        assert exc.value.field == "technical_coefficients" and f"{cond:.3g}" in exc.value.reason


def test_a_far_from_normal_but_well_conditioned_economy_is_solved_and_checked():
    n = 1300
    A = bidiagonal(n, 0.5)
    f = np.random.default_rng(1).random(n)
    ref = np.array(forward_substitution(n, 0.5, f.tolist()))
    for method in ("dense", "splu"):
        sol = LeontiefSolver(A, method=method).solve(f)
        assert np.max(np.abs(sol.gross_output - ref)) <= 1e-12 * np.max(ref)
        # ||I - A|| = 1 and (I - A)^-1 1 = (2, 4, ..., 2n): condition number 2n exactly
        assert sol.condition == pytest.approx(2 * n, rel=1e-12)
        assert sol.residual < 1e-15 and sol.error_bound <= 2 * n * 1e-15


def test_loading_decides_productiveness_the_same_way_every_time():
    d = _economy(bidiagonal(1300, 1.0))
    for _ in range(3):  # ARPACK from a random start said 0.99 to 1.02 here: accepted or refused by chance
        e = load(d)
        p = spectral.productiveness(e.A, tight=True)  # what plan info reports
        assert p.productive and p.lower == p.upper == 0.5 and p == spectral.productiveness(e.A, tight=False)
    # and an economy that does not load is not productive by the same verdict
    bad = sp.diags([np.full(50, 0.5), np.full(49, 0.6)], [0, 1], format="csr") + sp.csr_matrix(
        ([0.6], ([49], [0])), shape=(50, 50))
    assert not spectral.productiveness(bad).productive


def test_the_stopping_test_does_not_depend_on_the_demands_units():
    A, _ = sparse_technology(5000, 15, seed=2, family=200)
    F = np.random.default_rng(3).random((5000, 2))
    s = LeontiefSolver(A, method="iterative")
    base = s.solve(F)
    ref = np.linalg.solve(np.eye(5000) - A.toarray(), F)
    for unit in (1e-9, 1e9):  # the same demand in kilotonnes and in milligrams
        sol = s.solve(F * unit)
        assert sol.iterations == base.iterations
        assert np.max(np.abs(sol.gross_output / unit - ref)) <= 1e-9 * np.max(ref)
        assert sol.residual == pytest.approx(base.residual, rel=1e-3)


def test_zero_demands_are_answered_zero_beside_the_others():
    A, _ = sparse_technology(4000, 10, seed=4, family=100)
    F = np.zeros((4000, 3))
    F[:, 1] = 1.0
    sol = LeontiefSolver(A, method="iterative").solve(F)
    assert np.all(sol.gross_output[:, [0, 2]] == 0) and np.all(sol.gross_output[:, 1] >= 1)
    assert LeontiefSolver(A).solve(np.zeros(4000)).residual == 0


def test_loading_warns_when_todays_output_takes_1_percent_of_the_hours():
    e = demo_economy()
    assert e.warnings == []
    d = to_dict(e)
    d["current_output"] = [0.01 * x for x in d["current_output"]]
    used = float(np.dot(d["labour"], d["current_output"]))
    offered = d["workforce"] * d["hours_per_week"] * 46
    assert used / offered == pytest.approx(0.01, rel=1e-6)  # by hand: the demo uses all its hours today
    w = load(d).warnings
    assert [x["field"] for x in w] == ["current_output"]
    assert "takes 1% of the hours" in w[0]["reason"] and "about 100 times today's" in w[0]["reason"]
    d = to_dict(e)
    d["current_output"][0] = 1.3 * d["capacity"][0]
    w = load(d).warnings
    assert len(w) == 1 and "above capacity in 1 sector (Energy 130% of capacity)" in w[0]["reason"]
