"""Agreement with pymrio on its bundled test system (48 sectors, 6 regions)."""

import numpy as np
import pymrio

from planfactory.leontief import LeontiefSolver


def test_agrees_with_pymrio_test_system():
    io = pymrio.load_test()
    io.calc_all()
    A = io.A.to_numpy()
    solver = LeontiefSolver(A)
    # gross output for pymrio's own final demand, all 42 final-demand columns at once
    Y = io.Y.to_numpy()
    X = solver.solve(Y).gross_output
    x_ours = X.sum(axis=1)
    x_pymrio = io.x.to_numpy().ravel()
    assert np.allclose(x_ours, x_pymrio, rtol=1e-9, atol=1e-6)
    # pymrio's multipliers M = S L are our "labour values" for any factor-input row
    S = io.factor_inputs.S.to_numpy()
    M = io.factor_inputs.M.to_numpy()
    V = solver.labour_values(S.T).T
    assert np.allclose(V, M, rtol=1e-9, atol=1e-12)
    # and its Leontief inverse, column by column, without forming an inverse ourselves
    L = solver.solve(np.eye(A.shape[0])).gross_output
    assert np.allclose(L, io.L.to_numpy(), rtol=1e-9, atol=1e-12)
