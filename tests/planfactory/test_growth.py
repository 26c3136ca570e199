"""Multi-year paths: the LP's answers checked by independent arithmetic, year by year."""

import numpy as np
import pytest

from planfactory.decision import DecisionBasis, FundamentalDecision
from planfactory.demo import demo_economy
from planfactory.economy import WEEKS_PER_YEAR
from planfactory.growth import GrowthAssumptions, approximate_growth, investment_for_growth, path_for_investment_share


@pytest.fixture(scope="module")
def econ():
    return demo_economy()


@pytest.fixture(scope="module")
def basis(econ):
    return DecisionBasis.build(econ)


def _check_path(econ, basis, p, decision, a):
    T = a.years
    cp = decision.consumption_share + decision.public_share
    fcp = (decision.consumption_share * basis.F[:, 0] + decision.public_share * basis.F[:, 1]) / cp
    I = np.eye(econ.n)
    H0 = econ.workforce * decision.hours_per_week * WEEKS_PER_YEAR
    scale = H0
    for t in range(T):
        x, K, dK = p.gross_output[:, t], p.capacity[:, t], p.new_capacity[:, t]
        bal = (I - econ.A) @ x - p.consumption_hours[t] * fcp - econ.B @ dK
        assert np.max(np.abs(bal)) <= 1e-6 * scale, t
        assert np.all(x <= K * (1 + 1e-6) + 1e-6 * scale / econ.n)
        lt = econ.labour / (1 + a.labour_productivity_growth) ** t
        assert lt @ x <= H0 * (1 + a.workforce_growth) ** t * (1 + 1e-6)
        if t == 0:
            assert np.allclose(K, econ.capacity)
        else:
            assert np.allclose(K, (1 - a.depreciation) * p.capacity[:, t - 1] + p.new_capacity[:, t - 1],
                               rtol=1e-6, atol=1e-6 * scale / econ.n)
    assert p.feasible.all()


def test_path_for_investment_share(econ, basis):
    a = GrowthAssumptions(years=6)
    d = FundamentalDecision(40, 0.55, 0.17, 0.28)
    p = path_for_investment_share(econ, d, a, basis)
    _check_path(econ, basis, p, d, a)
    assert np.allclose(p.investment_share, 0.28, atol=1e-6)
    assert np.allclose(p.growth, p.consumption_hours[1:] / p.consumption_hours[:-1] - 1)
    assert p.to_dict()["status"].startswith("Optimization terminated")


def test_more_investment_more_growth_less_now(econ, basis):
    a = GrowthAssumptions(years=8)
    low = path_for_investment_share(econ, FundamentalDecision(40, 0.7, 0.2, 0.1), a, basis)
    high = path_for_investment_share(econ, FundamentalDecision(40, 0.5, 0.2, 0.3), a, basis)
    assert high.average_growth > low.average_growth
    assert high.consumption_hours[0] < low.consumption_hours[0]


def test_investment_for_target_growth(econ, basis):
    a = GrowthAssumptions(years=6)
    d = FundamentalDecision(40, 0.62, 0.18, 0.20)
    p = investment_for_growth(econ, d, 0.02, a, basis)
    _check_path(econ, basis, p, d, a)
    assert np.allclose(p.growth, 0.02, atol=1e-7)
    slower = investment_for_growth(econ, d, 0.0, a, basis)
    # faster growth costs consumption now
    assert slower.consumption_hours[0] >= p.consumption_hours[0] * (1 - 1e-9)


def test_no_productivity_no_workforce_growth_caps_consumption(econ, basis):
    a = GrowthAssumptions(years=8, depreciation=0.0, labour_productivity_growth=0.0)
    p = path_for_investment_share(econ, FundamentalDecision(40, 0.5, 0.2, 0.3), a, basis)
    # hours cap the net product: consumption can never exceed (1 - s_i) of H0
    H0 = econ.workforce * 40 * WEEKS_PER_YEAR
    assert np.all(p.consumption_hours <= 0.7 * H0 * (1 + 1e-6))


def test_approximate_growth_orders_like_the_lp(econ, basis):
    ds = [FundamentalDecision(40, 0.8 - s, 0.2, s) for s in (0.1, 0.2, 0.3)]
    g = approximate_growth(econ, basis, basis.evaluate(ds))
    assert np.all(np.diff(g) > 0)
