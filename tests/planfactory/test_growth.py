"""Multi-year paths: the LP's answers checked by independent arithmetic, year by year."""

import numpy as np
import pytest

from planfactory.decision import DecisionBasis, FundamentalDecision
from planfactory.demo import demo_economy
from planfactory.economy import WEEKS_PER_YEAR
from planfactory.economy import Economy
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
    assert p.to_dict()["status"].startswith("optimal")


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


# --- item e on the demo economy: sign, monotony, estimate against LP, horizon -------------------
# Tolerance of the estimate against the LP's average growth (docs/planfactory.md, "Growth"):
# 0.5 percentage points a year for feasible decisions with a net investment of 4% or more, 1 point below.
TOL_EST = 0.005
CAP = 0.02  # labour's growth with the default assumptions: (1 + 2%)(1 + 0%) - 1


def _both(econ, basis, d, years=10):
    a = GrowthAssumptions(years=years)
    est = float(approximate_growth(econ, basis, basis.evaluate(d), a)[0])
    return est, path_for_investment_share(econ, d, a, basis)


def test_demo_capital_is_three_years_of_net_product(econ, basis):
    # the generator's calibration, by independent arithmetic: v solves v (I - A) = l
    v = np.linalg.solve((np.eye(econ.n) - econ.A).T, econ.labour)
    x0 = econ.current_output
    capital = v @ (econ.B @ x0)
    net = v @ ((np.eye(econ.n) - econ.A) @ x0)
    assert capital / net == pytest.approx(3.0, rel=1e-3)
    # sector ratios (hours of equipment per hour of yearly output) stay in a plausible range
    ratio = (v @ econ.B) / v
    assert 0.4 < ratio.min() and ratio.max() < 5.0


def test_status_quo_grows(econ, basis):
    from planfactory.demo import today_decision
    from planfactory.growth import long_run_growth

    d = today_decision()
    est, p = _both(econ, basis, d)
    assert est > 0 and p.average_growth > 0
    assert np.all(p.growth > 0)
    # once spare capacity is used up: s / kappa, the net investment share over the capital /
    # net product ratio; by independent arithmetic: values with the capital used up, and the
    # status quo's gross output from numpy's own solve
    n, delta = econ.n, 0.05
    v = np.linalg.solve((np.eye(n) - econ.A - delta * econ.B).T, econ.labour)
    f = basis.evaluate(d).final_demand[:, 0]
    x = np.linalg.solve(np.eye(n) - econ.A - delta * econ.B, f)
    kappa = (v @ econ.B @ x) / (econ.labour @ x)
    assert 3.0 < kappa < 4.0  # about three and a half years of the net product valued with its wear
    lr = float(long_run_growth(econ, basis, basis.evaluate(d))[0])
    assert lr == pytest.approx(0.05 / kappa, rel=1e-9)


def test_more_investment_more_growth_in_both(econ, basis):
    shares = (0.0, 0.01, 0.02, 0.03, 0.04)  # net investment: from none to above the status quo's
    ests, lps = [], []
    for s in shares:
        e, p = _both(econ, basis, FundamentalDecision(40, 0.79 - s, 0.21, s))
        ests.append(e)
        lps.append(p.average_growth)
    for g in (np.array(ests), np.array(lps)):
        assert np.all(np.diff(g) >= -1e-9)  # never less growth for more investment
        below = g[:-1] < CAP - 1e-6  # strictly more until hours bind (labour's growth)
        assert np.all(np.diff(g)[below] > 1e-4)
        assert g.max() == pytest.approx(CAP, abs=1e-6)


def test_zero_net_investment_stops_growing_when_spare_capacity_is_used(econ, basis):
    d = FundamentalDecision(40, 0.79, 0.21, 0.0)
    est, p = _both(econ, basis, d, years=20)
    # the replacement keeps the capacity in use; only spare capacity (at most 25% above
    # today's output) lets hours' productivity raise the product, and then growth stops
    assert 0 <= p.average_growth <= 1.25 ** (1 / 19) - 1 and 0 <= est <= 1.25 ** (1 / 19) - 1
    assert p.growth[-1] == pytest.approx(0.0, abs=1e-4)  # the LP's tolerance on a ratio of years
    assert p.growth.max() > 0.019


def test_estimate_agrees_with_the_lp(econ, basis):
    from planfactory.feasibility import check

    n_checked = 0
    for h in (32, 36, 40):
        for s in (0.02, 0.03, 0.04, 0.05, 0.06, 0.08):
            for pub in (0.18, 0.21, 0.25):
                d = FundamentalDecision(h, 1 - s - pub, pub, s)
                sw = basis.evaluate(d)
                if not check(econ, sw.gross_output[:, 0], hours_available=sw.hours_available[0]).feasible:
                    continue
                est, p = _both(econ, basis, d)
                tol = TOL_EST if s >= 0.04 else 2 * TOL_EST
                assert abs(est - p.average_growth) <= tol, (h, s, pub, est, p.average_growth)
                n_checked += 1
    assert n_checked >= 20


def test_reported_years_do_not_depend_on_the_horizon(econ, basis):
    d = FundamentalDecision(40, 0.79, 0.21, 0.0)  # spare capacity runs out within the horizon
    short = path_for_investment_share(econ, d, GrowthAssumptions(years=10), basis)
    long = path_for_investment_share(econ, d, GrowthAssumptions(years=20), basis)
    assert np.allclose(short.growth, long.growth[:9], atol=2e-4)
    assert short.growth.max() - short.growth.min() > 0.01  # the case does bind


# --- issue 13, honest growth: the terminal condition, the sustainable rate, the speed -------------

def _fcp(basis, d):
    cp = d.consumption_share + d.public_share
    return (d.consumption_share * basis.F[:, 0] + d.public_share * basis.F[:, 1]) / cp


def _two_sectors(pi=0.05):
    # by hand: (I - A)^-1 = [[1.5, 0.5], [2/3, 4/3]], so (I - A)^-1 B = [[8.4, 11.6], [6.4, 6.9333...]]:
    # trace 15.3333, determinant 58.24 - 74.24 = -16, Perron root (tr + sqrt(tr^2 - 4 det)) / 2 = 16.314
    A = np.array([[0.2, 0.3], [0.4, 0.1]])
    B = np.array([[4.8, 7.2], [2.4, 1.6]])
    econ = Economy(sectors=["corn", "iron"], A=A, labour=np.array([1.0, 2.0]), B=B, capacity=np.array([50.0, 40.0]),
                   consumption_basket=np.array([2, 1]) / 3, public_basket=np.array([1, 2]) / 3, workforce=1.0,
                   hours_per_week=1.0, current_output=np.array([45.0, 35.0]))
    tr, det = 8.4 + 20.8 / 3, 8.4 * 20.8 / 3 - 11.6 * 6.4
    lam = (tr + np.sqrt(tr * tr - 4 * det)) / 2  # the Perron root, by the quadratic formula
    return econ, lam, GrowthAssumptions(years=8, depreciation=0.05, labour_productivity_growth=pi)


def test_capital_limited_rate_of_a_two_sector_model_by_hand():
    from planfactory.growth import sustainable_growth

    econ, lam, a = _two_sectors()
    assert lam == pytest.approx(16.3140, abs=1e-4)
    sg = sustainable_growth(econ, a)
    assert sg.capital_rate == pytest.approx(1 / lam - 0.05, abs=1e-12)  # 1 / 16.314 - 5% = 1.13%
    assert sg.labour_rate == pytest.approx(0.05) and sg.limited_by == "capital"
    assert sg.rate == pytest.approx(1 / lam - 0.05, abs=1e-12)
    # the LP agrees: just below the rate a path exists and is sustainable, above it is flagged
    d = FundamentalDecision(1.0, 0.6, 0.4, 0.0)
    below = investment_for_growth(econ, d, sg.rate - 0.002, a)
    above = investment_for_growth(econ, d, sg.rate + 0.002, a)
    assert below.sustainable and not above.sustainable
    assert below.consumption_hours[0] > 0 and below.feasible.all()
    # on the balanced path at g, consumption per unit of output falls to zero as g reaches the
    # capital rate (nothing is left once all of the product is needed as new equipment)
    near = investment_for_growth(econ, d, sg.rate - 1e-4, a)
    assert near.consumption_hours[0] < 0.1 * below.consumption_hours[0]


def test_target_above_labour_growth_is_not_sustainable(econ, basis):
    d = FundamentalDecision(40, 0.62, 0.18, 0.20)
    p = investment_for_growth(econ, d, 0.03, GrowthAssumptions(years=10), basis)
    assert p.sustainable is False
    assert p.sustainable_rate.rate == pytest.approx(1.02 * 1.0 - 1)  # (1 + pi)(1 + omega) - 1
    assert p.sustainable_rate.limited_by == "labour"
    assert p.to_dict()["sustainable_growth"]["rate"] == pytest.approx(0.02)
    assert investment_for_growth(econ, d, 0.02, GrowthAssumptions(years=10), basis).sustainable is True


@pytest.mark.parametrize("g", [0.0, 0.01, 0.02])
def test_first_year_consumption_does_not_depend_on_the_horizon(econ, basis, g):
    d = FundamentalDecision(40, 0.62, 0.18, 0.20)
    first = [investment_for_growth(econ, d, g, GrowthAssumptions(years=y), basis).consumption_hours[0]
             for y in (5, 10, 20)]
    assert first == pytest.approx([first[1]] * 3, rel=1e-6), first


def test_first_year_consumption_never_rises_with_a_shorter_horizon(econ, basis):
    # a longer horizon only relaxes the problem (its path, cut at the shorter horizon, meets the
    # shorter one's terminal condition is NOT implied; the converse is: a balanced continuation
    # is one feasible continuation), so theta_0 is non-decreasing in the horizon
    d = FundamentalDecision(40, 0.62, 0.18, 0.20)
    first = [investment_for_growth(econ, d, 0.015, GrowthAssumptions(years=y), basis).consumption_hours[0]
             for y in (5, 10, 20)]
    assert first[0] <= first[1] * (1 + 1e-7) and first[1] <= first[2] * (1 + 1e-7)
    assert first[1] == pytest.approx(first[2], rel=1e-6)


def test_terminal_capital_carries_the_balanced_path(econ, basis):
    g, a = 0.02, GrowthAssumptions(years=10)
    d = FundamentalDecision(40, 0.62, 0.18, 0.20)
    p = investment_for_growth(econ, d, g, a, basis)
    _check_path(econ, basis, p, d, a)
    K_T = (1 - a.depreciation) * p.capacity[:, -1] + p.new_capacity[:, -1]
    theta_T = p.consumption_hours[-1] * (1 + g)
    k_star = np.linalg.solve(np.eye(econ.n) - econ.A - (g + a.depreciation) * econ.B, _fcp(basis, d))
    assert np.all(K_T >= theta_T * k_star * (1 - 1e-6)), np.min(K_T / (theta_T * k_star))
    # and the hours of that balanced year fit: l_T . theta_T k* <= H_T
    H0 = econ.workforce * 40 * WEEKS_PER_YEAR
    assert econ.labour / 1.02 ** 10 @ (theta_T * k_star) <= H0 * (1 + 1e-6)


def test_unsustainable_target_first_year_falls_with_the_horizon(econ, basis):
    d = FundamentalDecision(40, 0.62, 0.18, 0.20)
    first = [investment_for_growth(econ, d, 0.03, GrowthAssumptions(years=y), basis).consumption_hours[0]
             for y in (5, 10, 20)]
    assert first[0] > first[1] > first[2]  # growing faster than hours for longer must start lower


def test_growth_note():
    from planfactory.growth import growth_note

    assert growth_note(10) == "estimate: average a year over 10 years"
    assert growth_note(20, capped=True, sustainable_rate=0.02) == (
        "estimate: average a year over 20 years; capped by labour, at most +2.0% a year for ever")
    assert growth_note(5, sustainable_rate=0.0125) == "estimate: average a year over 5 years; at most +1.3% a year for ever"


@pytest.mark.parametrize("mode", ["share", "growth"])
def test_structured_interior_point_agrees_with_highs(mode):
    from planfactory import demo

    e = demo.generate(60, n_enterprises=120, seed=5)
    d = FundamentalDecision(38, 0.6, 0.2, 0.2)
    a = GrowthAssumptions(years=7)

    def run(method):
        if mode == "share":
            return path_for_investment_share(e, d, a, method=method)
        return investment_for_growth(e, d, 0.015, a, method=method)
    ours, ref = run("structured"), run("highs")
    assert ours.solver == "structured interior point" and ref.solver == "HiGHS"
    assert ours.consumption_hours == pytest.approx(ref.consumption_hours, rel=1e-6)
    assert ours.feasible.all() and ref.feasible.all()


def test_a_path_at_400_sectors_takes_seconds():
    # issue 13: 199 s at 400 sectors before (HiGHS on the whole LP); now linear in n
    import time

    from planfactory import demo
    from planfactory.demo import today_decision

    e = demo.generate(400, n_enterprises=800)
    t = time.perf_counter()
    p = path_for_investment_share(e, today_decision(), GrowthAssumptions(years=10))
    assert time.perf_counter() - t < 30 and p.feasible.all()
