"""Alternative processes: the activity-analysis LP against labour values worked out by hand."""

import numpy as np
import pytest

from planfactory.economy import Economy
from planfactory.processes import apply, choose, parse_processes
from planfactory.leontief import LeontiefSolver


def corn_iron(capacity=None):
    # corn uses 0.1 iron per unit; iron uses 0.2 corn; labour 1.0 and 2.0 hours per unit
    return Economy(sectors=["corn", "iron"], A=np.array([[0.0, 0.2], [0.1, 0.0]]), labour=np.array([1.0, 2.0]),
                   capacity=capacity)


ALT = [{"sector": "corn", "name": "tractors", "inputs": {"iron": 0.3}, "labour": 0.5}]


def test_cheaper_process_is_chosen_and_the_reduced_cost_says_why():
    # current technique: v_corn = 1 + 0.1 v_iron, v_iron = 2 + 0.2 v_corn -> v_corn = 1.2/0.98
    # with tractors:     v_corn = 0.5 + 0.3 v_iron                        -> v_corn = 1.1/0.94
    e = corn_iron()
    ch = choose(e, parse_processes(ALT, e), np.array([100.0, 10.0]))
    v_corn, v_iron = 1.1 / 0.94, 2 + 0.2 * 1.1 / 0.94
    assert ch.prices == pytest.approx([v_corn, v_iron], rel=1e-9)
    assert ch.levels[0] == pytest.approx(0.0, abs=1e-9) and ch.levels[2] > 0
    # the current corn process would cost 1 + 0.1 v_iron - v_corn more hours per unit
    assert ch.reduced_cost[0] == pytest.approx(1 + 0.1 * v_iron - v_corn, rel=1e-9)
    assert ch.reduced_cost[2] == pytest.approx(0.0, abs=1e-12)
    d = ch.to_dict()["sectors"][0]
    assert d["sector"] == "corn" and "'tractors' (100%)" in d["why"] and "'current' would cost +0.0532" in d["why"]
    e2 = apply(e, ch)
    assert e2.A[:, 0].tolist() == pytest.approx([0.0, 0.3]) and e2.labour[0] == pytest.approx(0.5)
    assert LeontiefSolver(e2.A).labour_values(e2.labour) == pytest.approx([v_corn, v_iron])


def test_binding_capacity_gives_a_mix():
    # Tractors need iron: with iron capacity 25 and demand (100 corn, 0 iron), all-tractor corn needs
    # x_iron = 0.3 x_corn and x_corn = 100 + 0.2 x_iron -> x_iron = 31.9 > 25, so part of the corn is
    # grown the current way: 0.3 t + 0.1 (x_corn - t) = x_iron = 25 with x_corn = 100 + 0.2 * 25 = 105.
    e = corn_iron(capacity=np.array([1000.0, 25.0]))
    ch = choose(e, parse_processes(ALT, e), np.array([100.0, 0.0]))
    t = (25 - 0.1 * 105) / 0.2
    assert ch.levels[2] == pytest.approx(t, rel=1e-7)
    assert ch.levels[0] == pytest.approx(105 - t, rel=1e-7)
    assert ch.capacity_rent[1] > 0
    assert "a mix, because the capacity of iron binds" in ch.to_dict()["sectors"][0]["why"]


def test_bad_process_is_refused():
    e = corn_iron()
    with pytest.raises(ValueError, match="no sector"):
        parse_processes([{"sector": "wheat", "labour": 1}], e)
    with pytest.raises(ValueError):
        parse_processes([{"sector": "corn", "inputs": {"iron": -1}, "labour": 1}], e)
