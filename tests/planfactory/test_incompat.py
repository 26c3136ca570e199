"""Minimal incompatible sets on constructed cases whose answers are known by hand."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planfactory import incompat
from planfactory.incompat import minimal_sets
from planfactory.variants import build_context
from tests.planfactory._variants_cases import STATUS_QUO, equipment_case


def test_equipment_case_names_exactly_the_minimal_sets():
    # Steel slack 100: 7 alone needs 150; 1 + 2 need 110; 3 fits with anything but 7.
    # Coal slack 100: 4 + 5 need 110; 6 fits. No other subset is minimal.
    e, props = equipment_case()
    ctx = build_context(e, props, {"status_quo": STATUS_QUO})
    rep = incompat.find(ctx)
    got = sorted(sorted(s["proposals"]) for s in rep.sets)
    assert got == [["1", "2"], ["4", "5"], ["7"]]
    by = {tuple(sorted(s["proposals"])): s for s in rep.sets}
    assert by[("1", "2")]["row"] == "Steel"
    assert by[("1", "2")]["percent"] == pytest.approx(110.0)
    assert by[("4", "5")]["percent"] == pytest.approx(110.0)
    assert by[("7",)]["percent"] == pytest.approx(150.0)
    assert by[("1", "2")]["text"] == "proposals 1 and 2 together need 110% of Steel capacity"
    assert not rep.all_fit


def test_all_compatible_gives_no_sets():
    e, props = equipment_case()
    ctx = build_context(e, [props[0], props[2], props[3]], {"status_quo": STATUS_QUO})
    rep = incompat.find(ctx)
    assert rep.sets == [] and rep.all_fit


def test_labour_row_binds_when_hours_run_out():
    # 900 persons * 1 h/week * 46 weeks = 41,400 hours; proposal 7 alone takes 150 hours of it: fine.
    # At 0.003 h/week there are 124.2 hours: the equipment of 1 and 2 (110 h) fits, 1 + 2 + 3 (120 h) fits,
    # 1 + 2 + 3 + 6 (125 h) does not.
    e, props = equipment_case()
    e.capacity = np.array([1e9, 1e9, 1e9])
    sq = {**STATUS_QUO, "hours_per_week": 0.003}
    ctx = build_context(e, [props[0], props[1], props[2], props[5]], {"status_quo": sq})
    rep = incompat.find(ctx)
    assert [s["row"] for s in rep.sets] == ["labour"]
    assert sorted(rep.sets[0]["proposals"]) == ["1", "2", "3", "6"]


def test_unintended_effects_name_the_sectors_moved():
    e, props = equipment_case()
    ctx = build_context(e, props, {"status_quo": STATUS_QUO})
    # proposal 1 asks 60 t of steel (today 0 t: a change from nothing is no percentage, so steel is
    # not listed) and takes its 60 hours from the baskets, which buy only food (1 meal per hour,
    # A = 0): food falls by 60 meals, 6% of today's 1000.
    eff = {x["proposal"]: x for x in incompat.find(ctx, threshold_pct=10.0).effects}
    assert eff["1"]["sectors"] == []
    eff = {x["proposal"]: x for x in incompat.find(ctx, threshold_pct=1.0).effects}
    assert [s["sector"] for s in eff["1"]["sectors"]] == ["Food"]
    food = eff["1"]["sectors"][0]
    assert food["change"] == pytest.approx(-60.0)
    assert food["change_pct"] == pytest.approx(-6.0)
    assert food["workplaces"] == 6  # the other food works (the proposer's own change is intended)


def brute_minimal(G, h):
    P = G.shape[1]
    fits = lambda S: np.all(G[:, list(S)].sum(axis=1) <= h + 1e-9) if S else True
    out = []
    for k in range(1, P + 1):
        for S in itertools.combinations(range(P), k):
            if not fits(S) and all(fits([q for q in S if q != p]) for p in S):
                out.append(list(S))
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 4), st.integers(1, 7), st.randoms(use_true_random=False))
def test_every_set_found_is_minimal_and_one_exists_when_all_do_not_fit(R, P, rnd):
    G = np.array([[rnd.choice([0, 0, 1, 2, 3, 5, -2]) for _ in range(P)] for _ in range(R)], dtype=float)
    h = np.array([rnd.choice([0, 1, 3, 4, 6]) for _ in range(R)], dtype=float)
    sets, base = minimal_sets(G, h)
    truth = brute_minimal(G, h)
    for S in sets:
        assert S in truth
    # whenever some subset cannot hold, at least one minimal set is named
    assert bool(sets) == bool(truth)
