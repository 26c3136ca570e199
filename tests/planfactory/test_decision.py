"""The fundamental decision: the basis, its linearity, its meaning, and feasibility."""

import numpy as np
import pytest

from planfactory.decision import DecisionBasis, FundamentalDecision, decide
from planfactory.demo import demo_economy, today_decision
from planfactory.economy import WEEKS_PER_YEAR
from planfactory.enterprises import EnterpriseArrays, targets, to_records
from planfactory.feasibility import check

from .plan_checks import check_plan


@pytest.fixture(scope="module")
def econ():
    return demo_economy()


@pytest.fixture(scope="module")
def basis(econ):
    return DecisionBasis.build(econ)


def _used_up(econ, delta=0.05):
    return econ.A + delta * econ.B  # materials and the wear of the equipment (independent of operating_matrix)


def test_basis_columns_are_worth_one_hour(econ, basis):
    # independent: numpy's own solve, with the capital used up (delta B) in the costs
    v = np.linalg.solve((np.eye(econ.n) - _used_up(econ)).T, econ.labour)
    assert np.allclose(basis.v, v, rtol=1e-12)
    assert np.allclose(v @ basis.F, 1.0, rtol=1e-12)
    assert np.allclose(econ.labour @ basis.X, 1.0, rtol=1e-12)
    check_plan(_used_up(econ), basis.F, basis.X, labour=econ.labour, v=basis.v, rtol=1e-10)
    assert np.allclose(basis.replacement_per_hour, 0.05 * v @ (econ.B @ basis.X), rtol=1e-12)


def test_decide_today_reproduces_current_output(econ):
    out = decide(econ, today_decision())
    H = econ.workforce * 40 * WEEKS_PER_YEAR
    assert out.hours_available == H == 3.68e9
    assert out.labour_hours == pytest.approx(H, rel=1e-12)
    assert out.private_hours == pytest.approx(0.74 * H)
    assert out.private_hours_per_worker == pytest.approx(0.74 * H / econ.workforce)
    assert np.allclose(out.gross_output, econ.current_output, atol=0.051)  # current output is rounded to 0.1
    assert out.feasibility.feasible and out.residual < 1e-12
    d = out.to_dict()
    assert d["feasible"] is True and len(d["gross_output"]) == econ.n


def test_sweep_is_linear_and_matches_single_decisions(econ, basis):
    decisions = [FundamentalDecision(h, c, p, 1 - c - p) for h in (30, 35, 40, 45) for c in (0.5, 0.6, 0.7)
                 for p in (0.1, 0.2)]
    sweep = basis.evaluate(decisions)
    assert sweep.gross_output.shape == (econ.n, len(decisions))
    for k in (0, 7, 23):
        d = decisions[k]
        f = econ.workforce * d.hours_per_week * WEEKS_PER_YEAR * (
            d.consumption_share * basis.F[:, 0] + d.public_share * basis.F[:, 1] + d.investment_share * basis.F[:, 2])
        x = np.linalg.solve(np.eye(econ.n) - _used_up(econ), f)
        assert np.allclose(sweep.gross_output[:, k], x, rtol=1e-10)
    assert np.allclose(sweep.labour_hours, sweep.hours_available, rtol=1e-12)


def test_more_hours_breaks_capacity_and_names_the_sectors(econ, basis):
    out = decide(econ, FundamentalDecision(48, 0.74, 0.21, 0.05), basis)
    assert not out.feasibility.feasible and out.feasibility.labour_ok
    binding = out.feasibility.binding()
    assert binding and all(b["ratio"] > 1 for b in binding)
    worst = binding[0]
    assert worst["ratio"] == pytest.approx(out.gross_output[worst["index"]] / econ.capacity[worst["index"]])
    assert worst["excess"] == pytest.approx(out.gross_output[worst["index"]] - econ.capacity[worst["index"]])
    assert worst["stocks_cover"] == pytest.approx(min(1.0, econ.stocks[worst["index"]] / worst["excess"]))
    # today's hours are feasible; 48 hours is 20% more work than capacity allows
    assert decide(econ, FundamentalDecision(40, 0.74, 0.21, 0.05), basis).feasibility.feasible


def test_feasibility_many_plans_and_labour(econ):
    X = np.column_stack([econ.current_output, econ.capacity * 1.01, econ.current_output * 0])
    f = check(econ, X, hours_available=np.array([3.68e9, 1e20, 1.0]))
    assert f.feasible.tolist() == [True, False, True]
    assert f.labour_ok.tolist() == [True, True, True]
    f2 = check(econ, econ.current_output, hours_available=1e6)
    assert not f2.feasible and not f2.labour_ok and f2.labour_ratio > 1000


def test_decision_validation():
    with pytest.raises(ValueError, match="sum to 1"):
        FundamentalDecision(40, 0.5, 0.2, 0.2)
    with pytest.raises(ValueError):
        FundamentalDecision(200, 0.5, 0.3, 0.2)
    with pytest.raises(ValueError):
        FundamentalDecision(40, -0.1, 0.9, 0.2)


def test_enterprises_add_up_to_sectors(econ, basis):
    sweep = basis.evaluate([today_decision(), FundamentalDecision(36, 0.74, 0.21, 0.05)])
    arr = EnterpriseArrays.from_economy(econ)
    t = targets(econ, sweep.gross_output, new_capacity=sweep.new_capacity, v=basis.v, arrays=arr)
    assert t.output.shape == (len(econ.enterprises), 2)
    per_sector = np.zeros((econ.n, 2))
    np.add.at(per_sector, arr.sector, t.output)
    assert np.allclose(per_sector, sweep.gross_output, rtol=1e-9)
    # the hours of a sector's enterprises add up to the sector's labour
    hours = np.zeros((econ.n, 2))
    np.add.at(hours, arr.sector, t.hours)
    assert np.allclose(hours, econ.labour[:, None] * sweep.gross_output, rtol=1e-9)
    # at today's split and hours everybody works about 40 hours (rounding of persons)
    assert np.allclose(t.hours_per_person_week[:, 0][arr.workforce >= 50], 40, rtol=0.03)
    assert np.nanmax(np.abs(t.change_pct[:, 0])) < 0.1
    # shorter week: output falls and the change is negative, with the sign
    assert np.all(t.change[:, 1] < 0)
    # equipment: the labour value of B times the new capacity, summed, is the investment
    assert t.equipment_hours[:, 0].sum() == pytest.approx(sweep.investment_hours[0], rel=1e-9)
    recs = to_records(t, arr, k=1, economy=econ)
    assert recs[0]["sector"] == econ.sectors[arr.sector[0]] and recs[0]["change"] < 0
