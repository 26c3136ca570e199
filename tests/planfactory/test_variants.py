"""Variants: the batch arithmetic against independent solves, feasibility, non-domination, groups."""

import numpy as np
import pytest

from planfactory import incompat
from planfactory.demo import demo_economy
from planfactory.economy import WEEKS_PER_YEAR
from planfactory.proposals import parse_proposals
from planfactory.variants import (VariantSpecs, build_context, compatible_sets, evaluate, group, pareto_mask, select,
                                  sweep_specs)
from tests.planfactory._variants_cases import STATUS_QUO, equipment_case


@pytest.fixture(scope="module")
def demo():
    e = demo_economy()
    ents = e.enterprises
    props = parse_proposals([
        {"enterprise": ents[5].id, "output_change_percent": 30},
        {"enterprise": ents[60].id, "output_change_percent": 20, "hours_change": -2},
        {"enterprise": ents[40].id, "output_change_percent": 40, "equipment": {"Machinery": 500}},
        {"enterprise": ents[120].id, "output_change": 10, "hours_change": 1},
    ], e)
    ctx = build_context(e, props, {})
    rep = incompat.find(ctx)
    sets = compatible_sets(ctx, [s["positions"] for s in rep.sets], 3)
    specs = sweep_specs(ctx, sets)
    return e, props, ctx, specs, evaluate(ctx, specs)


def test_batch_equals_one_solve_per_variant(demo):
    e, props, ctx, specs, arr = demo
    M = np.eye(e.n) - e.A - 0.05 * e.B  # materials and the wear of equipment (5% a year, the default)
    v = np.linalg.solve(M.T, e.labour)
    for k in [0, specs.V // 2, specs.V - 1]:
        h, sc, spub, si = specs.decisions[k]
        t = specs.T[:, k]
        H = e.workforce * h * WEEKS_PER_YEAR + sum(e.enterprises[[x.id for x in e.enterprises].index(p.enterprise)].workforce
                                                   * p.hours_change * WEEKS_PER_YEAR for p, on in zip(props, t) if on)
        f = ctx.resolved.demand[:, t].sum(axis=1)
        rest = H - v @ f
        for s, b in zip((sc, spub, si), (ctx.basis.F[:, 0], ctx.basis.F[:, 1], ctx.basis.F[:, 2])):
            f = f + s * rest * b
        x = np.linalg.solve(M, f)
        assert np.allclose(arr.X[:, k], x, rtol=1e-9)
        assert e.labour @ arr.X[:, k] == pytest.approx(H, rel=1e-9)  # every hour is used
        assert arr.consumption[k] + arr.public[k] + arr.investment[k] == pytest.approx(H, rel=1e-9)
        cap = e.capacity.copy()
        for p, on in zip(range(len(props)), t):
            if on:
                cap[ctx.resolved.sector[p]] += ctx.resolved.dcap[p]
        assert arr.feasible[k] == bool(np.all(x <= cap * (1 + 1e-9)))


def test_infeasible_variants_exceed_capacity(demo):
    e, props, ctx, specs, arr = demo
    empty = ~specs.T.any(axis=0)
    over = np.any(arr.X > e.capacity[:, None] * (1 + 1e-9), axis=0)
    assert np.array_equal(arr.feasible[empty], ~over[empty])
    assert arr.feasible.any() and not arr.feasible.all()


def test_chosen_variants_are_not_dominated_by_any_feasible_variant(demo):
    e, props, ctx, specs, arr = demo
    chosen = select(arr, 5)
    assert 3 <= chosen.size <= 5
    assert arr.feasible[chosen].all()
    obj = arr.objectives()
    feas = np.flatnonzero(arr.feasible)
    for c in chosen:
        for j in feas:
            dominates = np.all(obj[j] >= obj[c] - 1e-12) and np.any(obj[j] > obj[c] + 1e-9)
            assert not dominates, (c, j)
    # they span the trade-off: the fewest hours, the most consumption and the most growth on offer
    assert arr.hours_pp_week[chosen].min() == pytest.approx(arr.hours_pp_week[feas].min())
    assert arr.consumption_pp_week[chosen].max() == pytest.approx(arr.consumption_pp_week[feas].max())
    assert arr.growth[chosen].max() == pytest.approx(arr.growth[feas].max())
    # named in order of hours per person per week
    assert list(arr.hours_pp_week[chosen]) == sorted(arr.hours_pp_week[chosen])


def test_every_feasible_variant_is_grouped_behind_a_chosen_one(demo):
    e, props, ctx, specs, arr = demo
    chosen = select(arr, 5)
    g = group(arr, chosen, ctx.today)
    assert np.all(g[arr.feasible] >= 0) and np.all(g[~arr.feasible] == -1)
    assert list(g[chosen]) == list(range(chosen.size))


def test_pareto_mask_by_hand():
    obj = np.array([[1, 1], [2, 0], [0, 2], [1, 0], [2, 0]], dtype=float)
    assert pareto_mask(obj).tolist() == [True, True, True, False, True]


def test_compatible_sets_avoid_every_incompatible_set():
    e, props = equipment_case()
    ctx = build_context(e, props, {"status_quo": STATUS_QUO})
    rep = incompat.find(ctx)
    sets = compatible_sets(ctx, [s["positions"] for s in rep.sets], 4)
    G, h, _ = incompat.structure(ctx)
    assert not sets[0].any()
    assert len(sets) >= 2
    for t in sets:
        assert np.all(G @ t <= h + 1e-9)
        for s in rep.sets:
            assert not all(t[p] for p in s["positions"])


def test_a_minimal_economy_without_capital_capacity_or_workplaces():
    # Miller & Blair's two sectors with labour and a workforce only: investment defaults to 0,
    # every variant is feasible (no capacity data), and consumption per person is s_c * hours.
    import json

    from planfactory.economy import Economy
    from planfactory.pipeline import make_inputs, produce
    from planfactory.verify import verify_document
    from tests.planfactory._variants_cases import MILLER_BLAIR_A

    e = Economy(sectors=["agriculture", "manufacturing"], A=np.array(MILLER_BLAIR_A), labour=np.array([0.3, 0.2]),
                workforce=100.0, hours_per_week=40.0)
    doc = produce(make_inputs(e, [], {})).doc
    assert doc["sweep"]["feasible"] == doc["sweep"]["variants"] == 18
    for v in doc["variants"]:
        d = v["decision"]
        assert d["investment_share"] == 0.0
        assert v["economy"]["consumption"] == pytest.approx(d["consumption_share"] * d["hours_per_week"])
    assert verify_document(json.loads(json.dumps(doc)))["ok"]
    with pytest.raises(ValueError, match="investment shares must be 0"):
        make_inputs(e, [], {"investment_shares": [0.1]})
