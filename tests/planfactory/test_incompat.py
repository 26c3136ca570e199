"""Minimal incompatible sets: constructed cases whose answers are known by hand, and brute force.

The brute force (every subset of up to 8 proposals, on a few rows, with entries that free
capacity) is the independent computation: a set is minimal when it does not hold and every
proper subset does (docs/decisions.md, issue 13).
"""

import itertools
import math

import numpy as np
import pytest

from planfactory import incompat
from planfactory.economy import Economy, Enterprise
from planfactory.incompat import minimal_sets
from planfactory.proposals import parse_proposals
from planfactory.variants import build_context, compatible_sets
from tests.planfactory._variants_cases import (
    STATUS_QUO,
    equipment_case,
    equipment_economy,
)


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
    """Every minimal infeasible set, by trying every subset (rows overdrawn already count as full)."""
    P = G.shape[1]
    h = np.maximum(h, 0.0)
    lim = h + 1e-9 * np.maximum(1.0, h)
    masks = np.arange(1 << P)
    X = ((masks[:, None] >> np.arange(P)) & 1).astype(float)  # subset k as a 0/1 row
    holds = np.all(X @ G.T <= lim, axis=1)
    below = np.ones(1 << P, dtype=bool)  # every proper subset holds
    for S in range(1, 1 << P):
        below[S] = all(holds[S & ~(1 << i)] and below[S & ~(1 << i)] for i in range(P) if S >> i & 1)
    return sorted([i for i in range(P) if S >> i & 1] for S in masks if not holds[S] and below[S])


def named(G, h, keys=None, **kw) -> list[list[int]]:
    try:
        found = minimal_sets(G, h, keys=keys, **kw)
    except TypeError:  # an older minimal_sets, without keys: it can only go by position
        found = minimal_sets(G, h, **kw)
    return sorted(found.sets if hasattr(found, "sets") else found[0])


def random_case(rng, P_max=8, R_max=4):
    R, P = int(rng.integers(1, R_max + 1)), int(rng.integers(1, P_max + 1))
    G = rng.choice([0, 0, 1, 2, 3, 4, 5, 7, -2], size=(R, P)).astype(float)  # -2: a proposal that frees capacity
    h = rng.choice([-1, 0, 1, 3, 4, 6, 9], size=R).astype(float)
    return G, h


def test_every_minimal_set_is_named_and_only_those_against_brute_force():
    # 1,200 random cases, up to 8 proposals on up to 4 rows, a seventh of the entries freeing capacity
    rng = np.random.default_rng(13)
    named_total = true_total = 0
    for _ in range(1200):
        G, h = random_case(rng)
        truth = brute_minimal(G, h)
        got = named(G, h)
        assert got == sorted(truth), (G.tolist(), h.tolist())
        named_total += len(got)
        true_total += len(truth)
    assert named_total == true_total > 2500


def test_a_set_that_contains_a_failing_proposal_is_not_named():
    # Coal has no slack: proposal 2 alone overdraws it. Proposals 0 and 1 free 2 units of coal each,
    # so 0, 1 and 2 together hold on coal but overdraw steel (8 > 6); each pair of them holds.
    # The only minimal set is [2]: [0, 1, 2] has every one-smaller subset holding, yet contains [2].
    G = np.array([[2.0, 2.0, 4.0], [-2.0, -2.0, 2.0]])
    h = np.array([6.0, 0.0])
    assert brute_minimal(G, h) == [[2]]
    assert named(G, h) == [[2]]


def test_the_answer_does_not_depend_on_the_order_of_the_proposals():
    rng = np.random.default_rng(7)
    for _ in range(400):
        G, h = random_case(rng)
        perm = rng.permutation(G.shape[1])
        keys = [f"p{k}" for k in range(G.shape[1])]
        a = named(G, h, max_sets=2, keys=keys)
        b = named(G[:, perm], h, max_sets=2, keys=[keys[q] for q in perm])
        assert sorted(sorted(int(perm[q]) for q in S) for S in b) == a


def test_past_the_cap_every_member_is_named_and_the_rest_counted():
    # One row, 12 proposals asking 10 of a slack of 45 and one asking 6: the minimal sets are the
    # 5-subsets of the twelve (792) and the 4-subsets of the twelve with the small one (495).
    G = np.array([[10.0] * 12 + [6.0]])
    h = np.array([45.0])
    truth = brute_minimal(G, h)
    assert len(truth) == math.comb(12, 5) + math.comb(12, 4)
    found = minimal_sets(G, h, max_sets=3)
    everyone = sorted({p for S in truth for p in S})
    assert sorted({p for S in found.sets for p in S}) == everyone == found.members
    assert all(S in truth for S in found.sets)
    (row,) = found.rows
    assert row.complete and row.count == len(truth) and row.members == everyone
    assert row.named == len(found.sets) >= 3


def test_where_counting_stops_the_bounds_hold_and_every_member_is_named():
    # 30 proposals asking 10 of a slack of 145: the minimal sets are the C(30, 15) 15-subsets.
    G = np.array([[10.0] * 30])
    found = minimal_sets(G, np.array([145.0]))
    (row,) = found.rows
    assert not row.complete
    assert 50 <= row.count <= math.comb(30, 15) <= row.at_most
    assert row.at_most == math.comb(30, 15)  # Sperner-LYM is exact for sets of one size
    assert found.members == list(range(30)) == row.members
    assert all(len(S) == 15 for S in found.sets) and len(found.sets) == row.named >= 50


def test_every_member_is_named_past_the_cap_against_brute_force():
    rng = np.random.default_rng(11)
    for _ in range(500):
        G, h = random_case(rng)
        truth = brute_minimal(G, h)
        found = minimal_sets(G, h, max_sets=1)
        members = sorted({p for S in truth for p in S})
        assert sorted({p for S in found.sets for p in S}) == members == found.members
        assert all(S in truth for S in found.sets)
        lim = np.maximum(h, 0) + 1e-9 * np.maximum(1, np.maximum(h, 0))
        for row in found.rows:
            on_row = [S for S in truth if G[row.row, S].sum() > lim[row.row]]
            assert row.complete and row.count == len(on_row)
            assert row.members == sorted({p for S in on_row for p in S})


# --------------------------------------------------------------------------- three symmetric proposals
def three_steel_proposals(order=(1, 2, 3)):
    """Steel slack 100 (equipment_economy); each of p1, p2, p3 asks 60 t of steel equipment."""
    e = equipment_economy()
    props = parse_proposals([{"id": f"p{k}", "enterprise": f"food-{k}", "equipment": {"Steel": 60}} for k in order], e)
    return build_context(e, props, {"status_quo": STATUS_QUO})


def test_three_symmetric_proposals_give_three_sets_whatever_their_order():
    for order in itertools.permutations((1, 2, 3)):
        ctx = three_steel_proposals(order)
        rep = incompat.find(ctx)
        assert [s["proposals"] for s in rep.sets] == [["p1", "p2"], ["p1", "p3"], ["p2", "p3"]]
        assert [s["text"] for s in rep.sets] == [f"proposals {a} and {b} together need 120% of Steel capacity"
                                                 for a, b in (("p1", "p2"), ("p1", "p3"), ("p2", "p3"))]
        assert rep.to_dict()["in_some_set"] == ["p1", "p2", "p3"] and rep.not_named == []


def test_the_sweep_tries_each_of_three_symmetric_proposals():
    for order in itertools.permutations((1, 2, 3)):
        ctx = three_steel_proposals(order)
        ids = ctx.resolved.ids()
        sets = compatible_sets(ctx, [s["positions"] for s in incompat.find(ctx).sets], 4)
        assert sorted(tuple(sorted(ids[p] for p in np.flatnonzero(t))) for t in sets) == \
            [(), ("p1",), ("p2",), ("p3",)]


def test_maximal_feasible_sets_hold_cannot_grow_and_do_not_depend_on_order():
    from planfactory.incompat import maximal_feasible_sets

    rng = np.random.default_rng(5)
    for _ in range(150):
        G, h = random_case(rng, P_max=7)
        P = G.shape[1]
        lim = np.maximum(h, 0) + 1e-9 * np.maximum(1, np.maximum(h, 0))

        def holds(S, G=G, lim=lim):
            return bool(np.all(G[:, list(S)].sum(axis=1) <= lim))

        sets = maximal_feasible_sets(G, h, 6)
        assert len({tuple(S) for S in sets}) == len(sets)
        for k, S in enumerate(sets):
            assert holds(S) and not any(holds(S + [q]) for q in range(P) if q not in S)
            assert all(not set(S) <= set(T) for T in sets[:k])  # each brings a proposal the earlier ones lack
        perm = rng.permutation(P)
        other = maximal_feasible_sets(G[:, perm], h, 6, keys=[int(q) for q in perm])
        assert [sorted(int(perm[q]) for q in S) for S in other] == sets


# --------------------------------------------------------------------------- through find(), past the cap
def steel_economy(n: int) -> Economy:
    """Steel slack 45, n food works (A = 0, so every need is plain arithmetic, as in equipment_economy)."""
    ents = [Enterprise(f"food-{k}", f"Food works {k}", 2, 1 / n, 100) for k in range(1, n + 1)]
    ents += [Enterprise("steel-1", "Steel works", 0, 1.0, 100), Enterprise("coal-1", "Coal pit", 1, 1.0, 100)]
    return Economy(sectors=["Steel", "Coal", "Food"], A=np.zeros((3, 3)), labour=np.array([1.0, 1.0, 1.0]),
                   capacity=np.array([45.0, 100.0, 1e9]), current_output=np.array([0.0, 0.0, 1000.0]),
                   consumption_basket=np.array([0.0, 0.0, 1.0]), public_basket=np.array([0.0, 0.0, 1.0]),
                   workforce=900.0, hours_per_week=1.0, enterprises=ents, units=["t", "t", "meals"])


def test_find_counts_the_sets_it_does_not_name():
    # 12 proposals of 10 t of steel each against 45 t: 792 minimal sets of 5; 50 named, 742 more
    e = steel_economy(12)
    items = [{"id": str(k), "enterprise": f"food-{k}", "equipment": {"Steel": 10}} for k in range(1, 13)]
    rng = np.random.default_rng(3)
    answers = []
    for _ in range(3):
        rng.shuffle(items)
        rep = incompat.find(build_context(e, parse_proposals(items, e), {"status_quo": STATUS_QUO}))
        answers.append(([s["proposals"] for s in rep.sets], rep.not_named))
    sets, not_named = answers[0]
    assert all(a == answers[0] for a in answers)
    assert len(sets) == 50 and all(len(S) == 5 for S in sets)
    ids = [str(k) for k in range(1, 13)]
    assert not_named == [{"row": "Steel", "named": 50, "more": 742, "more_at_least": 742, "more_at_most": 742,
                          "proposals": ids, "proposals_possible": [],
                          "text": "Steel capacity: 50 sets named, 742 more not named, with proposals "
                                  "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 and 12"}]
