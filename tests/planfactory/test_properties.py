"""Property tests (hypothesis): productive A and f >= 0 give x >= 0; (I - A) x = f; v (I - A) = l."""

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from planfactory.formats import load
from planfactory.leontief import LeontiefSolver

from .plan_checks import check_plan


@st.composite
def productive(draw, max_n=9):
    n = draw(st.integers(1, max_n))
    raw = draw(arrays(np.float64, (n, n), elements=st.floats(0, 1).map(lambda t: 0.0 if t < 1e-6 else t)))
    sums = draw(arrays(np.float64, n, elements=st.floats(0, 0.95)))
    col = raw.sum(axis=0)
    A = np.where(col > 0, raw * (sums / np.where(col > 0, col, 1)), 0.0)
    return A


@settings(max_examples=150, deadline=None)
@given(A=productive(), data=st.data())
def test_nonnegative_demand_gives_nonnegative_output(A, data):
    n = A.shape[0]
    F = data.draw(arrays(np.float64, (n, 3), elements=st.floats(0, 1e6)))
    l = data.draw(arrays(np.float64, n, elements=st.floats(0, 100)))
    s = LeontiefSolver(A)
    x = s.solve(F).gross_output
    v = s.labour_values(l)
    # column sums <= 0.95 => ||(I - A)^-1||_1 <= 20: the tolerance follows from that bound
    check_plan(A, F, x, labour=l, v=v, rtol=1e-9)
    assert np.all(x >= 0)
    assert np.allclose(v @ F, l @ x, rtol=1e-9, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(A=productive(max_n=6))
def test_productive_matrices_pass_validation(A):
    n = A.shape[0]
    e = load({"sectors": [f"s{i}" for i in range(n)], "technical_coefficients": A.tolist(), "labour": [1.0] * n})
    assert e.n == n


@settings(max_examples=25, deadline=None)
@given(n=st.integers(3100, 3300), seed=st.integers(0, 10_000))
def test_iterative_equals_dense_on_sparse(n, seed):
    rng = np.random.default_rng(seed)
    A = sp.random(n, n, density=8 / n, random_state=rng, format="csc")
    A = A @ sp.diags(rng.uniform(0.1, 0.9, n) / np.maximum(np.asarray(A.sum(axis=0)).ravel(), 1e-12))
    F = rng.random((n, 2))
    it = LeontiefSolver(sp.csr_matrix(A))
    assert it.method == "iterative"
    x = it.solve(F).gross_output
    check_plan(A, F, x, rtol=1e-9)
    assert np.all(x >= -1e-9)


@settings(max_examples=30, deadline=None)
@given(A=productive(max_n=7), data=st.data())
def test_json_round_trip_keeps_every_number(A, data):
    from planfactory.formats import to_dict

    n = A.shape[0]
    l = data.draw(arrays(np.float64, n, elements=st.floats(0, 50)))
    cap = data.draw(arrays(np.float64, n, elements=st.floats(0, 1e9)))
    e = load({"sectors": [f"s{i}" for i in range(n)], "technical_coefficients": A.tolist(), "labour": l.tolist(),
              "capacity": cap.tolist(), "workforce": 1000, "hours_per_week": 35.5})
    import json

    e2 = load(json.loads(json.dumps(to_dict(e))))
    assert np.array_equal(e2.A, e.A) and np.array_equal(e2.labour, e.labour)
    assert np.array_equal(e2.capacity, e.capacity) and e2.hours_per_week == 35.5
