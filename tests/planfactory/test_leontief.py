"""The Leontief solver against published worked examples and across its methods."""

import numpy as np
import pytest
import scipy.sparse as sp

from planfactory.demo import sparse_technology
from planfactory.leontief import LeontiefSolver, SolverError, block_bicgstab, csr_products

from .plan_checks import check_plan

# Miller & Blair (2009), "Input-Output Analysis: Foundations and Extensions", 2nd ed.,
# Cambridge University Press, section 2.3: the two-sector numerical example.
# Z = [[150, 500], [200, 100]], x = [1000, 2000], f = [350, 1700];
# A = [[.15, .25], [.20, .05]]; L = [[1.2541, 0.3300], [0.2640, 1.1221]] (printed to 4
# decimals); new final demand f = [600, 1500] gives x = [1247.52, 1841.58].
MB_Z = np.array([[150.0, 500.0], [200.0, 100.0]])
MB_X = np.array([1000.0, 2000.0])
MB_F = np.array([350.0, 1700.0])


def test_miller_blair_two_sector_example():
    from planfactory.importers import flows_to_coefficients

    A = flows_to_coefficients(MB_Z, MB_X)
    assert np.allclose(A, [[0.15, 0.25], [0.20, 0.05]], atol=1e-15)
    s = LeontiefSolver(A)
    # the base year: today's final demand gives today's output
    base = s.solve(MB_F)
    assert np.allclose(base.gross_output, MB_X, atol=1e-9)
    new = s.solve(np.array([600.0, 1500.0])).gross_output
    assert np.round(new, 2).tolist() == [1247.52, 1841.58]
    # the printed Leontief inverse, column by column from the identity (one call, two demands)
    L = s.solve(np.eye(2)).gross_output
    assert np.round(L, 4).tolist() == [[1.2541, 0.3300], [0.2640, 1.1221]]


def test_labour_values_two_sector_by_hand():
    # v (I - A) = l by Cramer's rule on the 2 x 2 system, independent of the solver
    A = np.array([[0.15, 0.25], [0.20, 0.05]])
    l = np.array([0.3, 0.6])
    det = (1 - 0.15) * (1 - 0.05) - 0.25 * 0.20
    v1 = (l[0] * (1 - 0.05) + l[1] * 0.20) / det
    v2 = (l[1] * (1 - 0.15) + l[0] * 0.25) / det
    v = LeontiefSolver(A).labour_values(l)
    assert v == pytest.approx([v1, v2], rel=1e-14)
    # v . f = l . x: the value of the net product equals the hours worked
    x = LeontiefSolver(A).solve(MB_F).gross_output
    assert v @ MB_F == pytest.approx(l @ x, rel=1e-14)


@pytest.mark.parametrize("method", ["dense", "splu", "iterative"])
def test_methods_agree_on_many_demands(method):
    A, l = sparse_technology(1500, 12, seed=3, family=100)
    F = np.random.default_rng(1).random((1500, 7))
    s = LeontiefSolver(A, method=method)
    sol = s.solve(F)
    assert sol.method == method
    assert sol.gross_output.shape == (1500, 7)
    assert sol.residual < 1e-9
    v = s.labour_values(l)
    check_plan(A, F, sol.gross_output, labour=l, v=v, rtol=1e-8)
    ref = np.linalg.solve(np.eye(1500) - A.toarray(), F)
    assert np.max(np.abs(sol.gross_output - ref)) <= 1e-8 * np.max(np.abs(ref))


def test_auto_method_choice():
    A, _ = sparse_technology(4000, 10, seed=1, family=100)
    assert LeontiefSolver(A).method == "iterative"
    assert LeontiefSolver(A[:100, :100]).method == "dense"
    assert LeontiefSolver(np.zeros((3, 3))).method == "dense"


def test_iterative_reports_progress_and_single_vector():
    A, l = sparse_technology(5000, 15, seed=2, family=200)
    seen = []
    s = LeontiefSolver(A, method="iterative", callback=lambda step, res: seen.append((step, res)))
    f = np.ones(5000)
    sol = s.solve(f)
    assert sol.gross_output.shape == (5000,)
    assert seen and seen[-1][1] <= 1e-10
    assert sol.iterations > 0
    check_plan(A, f, sol.gross_output, rtol=1e-9)


def test_zero_demand_gives_zero_output():
    A, _ = sparse_technology(4000, 10, seed=4, family=100)
    sol = LeontiefSolver(A).solve(np.zeros((4000, 2)))
    assert np.all(sol.gross_output == 0)
    assert sol.residual == 0


def test_private_kernel_and_public_fallback_give_the_same_products():
    # csr_products uses SciPy's private csr_matvecs (measured faster); A @ X is its public fallback
    A, _ = sparse_technology(3000, 12, seed=5, family=100)
    X = np.random.default_rng(6).random((3000, 4))
    fast, slow = np.empty_like(X), np.empty_like(X)
    csr_products(A, 4)(X, fast)
    csr_products(A, 4, private_kernel=False)(X, slow)
    assert np.array_equal(fast, slow)
    assert np.array_equal(slow, A @ X)


def test_block_bicgstab_returns_its_convergence_with_the_answer():
    A, _ = sparse_technology(5000, 15, seed=2, family=200)
    F = np.random.default_rng(7).random((5000, 3))
    seen = []
    X, info = block_bicgstab(A, F, rtol=1e-12, atol=0.0, callback=lambda k, r: seen.append(k))
    assert info.converged and info.tolerance_ratio <= 1 and info.products > 0
    assert seen and seen[-1] <= info.products
    check_plan(A, F, X, rtol=1e-11)
    # too small a budget: reported, not raised; the solver raises SolverError
    X, info = block_bicgstab(A, F, rtol=1e-14, atol=0.0, maxiter=2)
    assert not info.converged and info.products <= 10
    with pytest.raises(SolverError) as exc:
        LeontiefSolver(A, method="iterative", rtol=1e-14, atol=0.0, maxiter=2).solve(F)
    assert exc.value.field is None and exc.value.kind == "unprocessable" and "no convergence" in str(exc.value)
