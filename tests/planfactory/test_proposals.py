"""Proposals: validation, and their columns against the linear structure (checked by hand)."""

import numpy as np
import pytest

from planfactory.economy import Economy, Enterprise
from planfactory.leontief import LeontiefSolver
from planfactory.proposals import ProposalError, parse_proposal, parse_proposals, resolve
from tests.planfactory._variants_cases import MILLER_BLAIR_A


def mb_economy():
    ents = [Enterprise("a1", "A one", 0, 0.25, 10), Enterprise("a2", "A two", 0, 0.75, 30),
            Enterprise("b1", "B one", 1, 1.0, 50)]
    return Economy(sectors=["agriculture", "manufacturing"], A=np.array(MILLER_BLAIR_A), labour=np.array([0.3, 0.2]),
                   B=np.array([[0.0, 0.1], [0.5, 0.2]]), capacity=np.array([1100.0, 2100.0]),
                   current_output=np.array([1000.0, 2000.0]), workforce=90.0, hours_per_week=40.0, enterprises=ents)


@pytest.mark.parametrize("bad, field", [
    ({"output_change": 1}, "enterprise"),
    ({"enterprise": "zz"}, "enterprise"),
    ({"enterprise": "a1", "output_change": "many"}, "output_change"),
    ({"enterprise": "a1", "output_change_percent": -150}, "output_change_percent"),
    ({"enterprise": "a1", "output_change": 1, "output_change_percent": 1}, "output_change_percent"),
    ({"enterprise": "a1", "equipment": {"manufacturing": -1}}, "equipment.manufacturing"),
    ({"enterprise": "a1", "equipment": {"mining": 1}}, "equipment.mining"),
    ({"enterprise": "a1", "hours_change": 200}, "hours_change"),
    ({"enterprise": "a1", "colour": "red"}, "colour"),
])
def test_bad_proposals_name_their_field(bad, field):
    with pytest.raises(ProposalError) as exc:
        parse_proposal(bad, mb_economy(), default_id="1")
    assert exc.value.field == field


def test_duplicate_ids_are_refused():
    with pytest.raises(ProposalError) as exc:
        parse_proposals([{"id": "x", "enterprise": "a1"}, {"id": "x", "enterprise": "b1"}], mb_economy())
    assert exc.value.field == "proposals[1].id"


def test_resolve_matches_the_inverse_by_hand():
    e = mb_economy()
    props = parse_proposals([
        {"enterprise": "a2", "output_change_percent": 10},            # 10% of 0.75 * 1000 = 75 units of agriculture
        {"enterprise": "b1", "output_change": 20, "equipment": {"agriculture": 4}, "hours_change": -1},
        {"enterprise": "a1", "output_change": 8},                     # equipment from B: B[:, 0] * 8 = (0, 4)
    ], e)
    s = LeontiefSolver(e.A)
    v = s.labour_values(e.labour)
    r = resolve(e, props, s, v, e.current_output)
    # (I - A)^-1 = [[0.95, 0.25], [0.20, 0.85]] / 0.7575 (Miller & Blair's Leontief inverse)
    L = np.array([[0.95, 0.25], [0.20, 0.85]]) / 0.7575
    assert r.dy.tolist() == pytest.approx([75.0, 20.0, 8.0])
    assert r.Z[:, 1].tolist() == [4.0, 0.0]
    assert r.Z[:, 2].tolist() == pytest.approx([0.0, 4.0])
    demand = np.array([[75.0, 4.0, 8.0], [37.5, 20.0, 4.0]])  # a2 gets B[:, 0] * 75 = (0, 37.5)
    assert np.allclose(r.D, L @ demand, rtol=1e-12)
    assert r.dL.tolist() == pytest.approx([0.0, -50 * 46.0, 0.0])
    # a1 today makes 250 of a capacity share of 275: +8 fits, so no capacity is added; b1: 2000 + 20 < 2100
    assert r.dcap.tolist() == [0.0, 0.0, 0.0]
    assert r.value_dy.tolist() == pytest.approx([v[0] * 75, v[1] * 20, v[0] * 8])


def test_capacity_grows_to_the_proposed_output():
    e = mb_economy()
    props = parse_proposals([{"enterprise": "a2", "output_change_percent": 20}], e)  # 750 -> 900, share of cap 825
    s = LeontiefSolver(e.A)
    r = resolve(e, props, s, s.labour_values(e.labour), e.current_output)
    assert r.dcap[0] == pytest.approx(75.0)
