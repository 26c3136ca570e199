#!/usr/bin/env python
"""Benchmark of the plan factory's output (issue 6). Prints ONE JSON line.

    python scripts/bench_plan_variants.py [--quick]

Figures, each with a baseline measured in the same run (ratios are what matter: the
machine has 2 cores and is shared with other engineers' tests while this runs):

- variants_1000: a 1,000-sector economy with 10,000 workplaces (planfactory.demo.generate)
  and 20 proposals; 500 variants evaluated in one batch (two matrix products) with every
  per-workplace card number computed as arrays (output, equipment, hours: 10,000 x 500
  each, plus the economy fields). Baseline: the same numbers one variant at a time (one
  Leontief solve and one card computation per variant), timed on 25 variants and
  extrapolated. Bar: 500 variants in under 10 s.
- variants_100000: a 100,000-product economy (planfactory.demo.sparse_technology, about
  20 inputs per product) with 10,000 workplaces; 100 variants (50 with --quick), same
  measure; the baseline is again one variant at a time (5 variants).
- cards: rendering on demand from the arrays (1,000 sectors): one workplace's cards
  across the chosen variants (JSON dict + HTML + text), and one variant's cards for all
  10,000 workplaces. Bar: one card page in under 50 ms.
- http_pages: the real server on loopback with the bundled demo economy: publish, then a
  workplace's card page, its cards as text, one variant's cards for every workplace as
  HTML; baseline: /api/health timed the same way. Bar: one card page in under 50 ms.
- incompat_200: the minimal incompatible sets among 200 proposals (1,000 sectors), including
  the 200-column solve (build_context) and the unintended effects: sets named, proposals
  in some set, rows whose sets are counted rather than all named, and the sweep's maximal
  compatible sets (4 and 16). Baseline in the same run: the previous method (the largest
  needs of each row until it is overdrawn, a deletion filter, disjoint sets per row), with
  how many of its sets are minimal and how many proposals in a minimal set it left
  unnamed. Bar: under 5 s. Alone: ``python scripts/bench_plan_variants.py --only incompat_200``.

Every loop is bounded in count; the script stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _economy_1000():
    from planfactory.demo import generate

    return generate(n_sectors=1000, n_enterprises=10_000, seed=6)


def _proposals(e, P: int, seed: int, big: bool = False):
    from planfactory.proposals import parse_proposals

    rng = np.random.default_rng(seed)
    # Only workplaces with people: a proposal to change hours needs someone to work them.
    staffed = [k for k, x in enumerate(e.enterprises) if x.workforce > 0]
    picks = [staffed[int(j)] for j in rng.choice(len(staffed), size=P, replace=False)]
    items = []
    for k, i in enumerate(picks):
        pct = float(rng.uniform(40, 400) if big and k % 3 == 0 else rng.uniform(2, 30))
        items.append({"id": str(k + 1), "enterprise": e.enterprises[int(i)].id, "output_change_percent": round(pct, 1),
                      "hours_change": float(rng.choice([0.0, -1.0, 1.0]))})
    return parse_proposals(items, e)


def _params(hours: int, public: int, invest: int, sets: int) -> dict:
    return {"hours_per_week": list(np.linspace(30, 44, hours).round(2)),
            "public_shares": list(np.linspace(0.12, 0.24, public).round(3)),
            "investment_shares": list(np.linspace(0.10, 0.40, invest).round(3)), "proposal_sets": sets}


def _batch(ctx, specs):
    from planfactory.summaries import card_numbers
    from planfactory.variants import evaluate

    t = time.perf_counter()
    arr = evaluate(ctx, specs)
    nums = card_numbers(ctx, arr)
    return time.perf_counter() - t, arr, nums


def _one_by_one(ctx, specs, count: int) -> float:
    """Per-variant: a Leontief solve of the variant's final demand, then its card numbers."""
    from planfactory.summaries import card_numbers
    from planfactory.variants import evaluate

    r = ctx.resolved
    t = time.perf_counter()
    for v in range(count):
        d = specs.decisions[v]
        tv = specs.T[:, v].astype(float)
        H = ctx.workforce * d[0] * 46.0 + r.dL @ tv
        rest = H - (r.value_Z + r.value_dy) @ tv
        f = r.demand @ tv + ctx.basis.F @ (d[1:] * rest)
        ctx.solver.solve(f)
        card_numbers(ctx, evaluate(ctx, specs.take([v])))
    return (time.perf_counter() - t) / count


def bench_variants_1000(e, quick: bool) -> tuple[dict, object]:
    from planfactory import incompat
    from planfactory.variants import build_context, compatible_sets, sweep_specs

    props = _proposals(e, 20, seed=1)
    t0 = time.perf_counter()
    ctx = build_context(e, props, _params(10, 5, 5, 2))
    setup = time.perf_counter() - t0
    rep = incompat.find(ctx)
    sets = compatible_sets(ctx, [s["positions"] for s in rep.sets], 2)
    while len(sets) < 2:  # two proposal sets: none and all that fit
        sets.append(np.ones(ctx.resolved.P, dtype=bool))
    specs = sweep_specs(ctx, sets)
    secs, arr, nums = _batch(ctx, specs)
    per = _one_by_one(ctx, specs, 25)
    out = {"sectors": e.n, "workplaces": len(e.enterprises), "proposals": len(props), "variants": int(specs.V),
           "feasible": int(arr.feasible.sum()), "setup_seconds": round(setup, 3), "seconds": round(secs, 3),
           "variants_per_second": round(specs.V / secs, 1), "one_by_one_variants_per_second": round(1 / per, 1),
           "ratio_vs_one_by_one": round(per * specs.V / secs, 1), "bar_seconds": 10,
           "meets_bar": bool(secs + setup < 10)}
    return out, (ctx, specs, arr)


def bench_cards(state) -> dict:
    from councilcast.plan_cards import render_card
    from planfactory.summaries import card_arrays, card_dict, card_text
    from planfactory.variants import NAMES, VariantSpecs, evaluate, select

    ctx, specs, arr = state
    chosen = select(arr, 5)
    sq = evaluate(ctx, VariantSpecs(np.array([ctx.status_quo.as_row()]), np.zeros((ctx.resolved.P, 1), dtype=bool)))
    t = time.perf_counter()
    cards = card_arrays(ctx, arr, chosen, NAMES[:chosen.size], sq)
    arrays_s = time.perf_counter() - t
    times = []
    for e in range(0, cards.E, cards.E // 20):  # 20 workplaces' pages
        t = time.perf_counter()
        for k in range(cards.K):
            c = card_dict(cards, k, e)
            render_card(c)
            card_text(c)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    for e in range(cards.E):
        c = card_dict(cards, 0, e)
        card_text(c)
    one_variant = time.perf_counter() - t
    # baseline: recomputing one variant's numbers for the page instead of reading the arrays
    t = time.perf_counter()
    from planfactory.summaries import card_numbers

    card_numbers(ctx, evaluate(ctx, specs.take(chosen[:1])))
    recompute = time.perf_counter() - t
    page = float(np.max(times))
    return {"chosen": int(chosen.size), "card_arrays_seconds": round(arrays_s, 4),
            "workplace_page_ms_max": round(1000 * page, 2), "workplace_page_ms_median": round(1000 * float(np.median(times)), 2),
            "one_variant_all_workplaces_seconds": round(one_variant, 3), "cards_per_second": round(cards.E / one_variant),
            "baseline_recompute_one_variant_ms": round(1000 * recompute, 2), "bar_ms": 50,
            "meets_bar": bool(page < 0.05)}


def _previous_minimal_sets(G, h, max_sets=50):
    """The method before issue 13 (baseline): per overdrawn row, the largest needs until it is
    overdrawn, a deletion filter (one-smaller subsets only), then those set aside: disjoint sets."""
    tol = lambda x: 1e-9 * np.maximum(1.0, np.abs(x))
    fits = lambda S: bool(np.all(G[:, S].sum(axis=1) <= h + tol(h)))
    h = np.maximum(h, 0.0)
    rows = np.flatnonzero(G.clip(min=0).sum(axis=1) > h + tol(h))
    over = G.sum(axis=1) - h
    rows = rows[np.argsort(-(over[rows] / np.maximum(np.abs(h[rows]), 1e-300)), kind="stable")]
    found, seen = [], set()
    for r in rows:
        avail = np.flatnonzero(G[r] > 0)
        while avail.size and len(found) < max_sets:
            order = avail[np.argsort(-G[r, avail], kind="stable")]
            k = np.flatnonzero(np.cumsum(G[r, order]) > h[r] + tol(h[r:r + 1])[0])
            if k.size == 0:
                break
            S = list(order[:k[0] + 1])
            for p in sorted(S, key=lambda q: G[r, q]):
                rest = [q for q in S if q != p]
                if rest and not fits(rest):
                    S = rest
            if tuple(sorted(S)) not in seen:
                seen.add(tuple(sorted(S)))
                found.append(sorted(int(q) for q in S))
            avail = np.setdiff1d(avail, S)
        if len(found) >= max_sets:
            break
    return found


def bench_incompat(e, quick: bool) -> dict:
    from planfactory import incompat
    from planfactory.variants import build_context, compatible_sets

    props = _proposals(e, 200, seed=2, big=True)
    t0 = time.perf_counter()
    ctx = build_context(e, props, {})
    t1 = time.perf_counter()
    rep = incompat.find(ctx)
    secs = time.perf_counter() - t0
    G, h, _rows = incompat.structure(ctx)
    t = time.perf_counter()
    found = incompat.minimal_sets(G, h, keys=[incompat.proposal_key(i) for i in ctx.resolved.ids()])
    sets_seconds = time.perf_counter() - t
    sweep = {}
    for limit in (4, 16):
        t = time.perf_counter()
        cs = compatible_sets(ctx, [], limit)
        sweep[f"sets_{limit}"] = {"seconds": round(time.perf_counter() - t, 3), "sets": len(cs),
                                  "sizes": [int(x.sum()) for x in cs]}
    # the baseline: the previous method on the same structure, checked against the exact criterion
    t = time.perf_counter()
    prev = _previous_minimal_sets(G, h)
    prev_seconds = time.perf_counter() - t
    lim = np.maximum(h, 0) + 1e-9 * np.maximum(1.0, np.maximum(h, 0))
    Gp = G.clip(min=0)

    def minimal(S):
        tot = Gp[:, S].sum(axis=1)
        return bool(np.any(G[:, S].sum(axis=1) > lim) and np.all(tot[:, None] - Gp[:, S] <= lim[:, None]))

    members = set(found.members)
    prev_named = {p for S in prev for p in S}
    counted = [x for x in found.rows if not x.complete or x.named < x.count]
    return {"sectors": e.n, "proposals": 200, "seconds": round(secs, 3), "context_seconds": round(t1 - t0, 3),
            "minimal_sets_seconds": round(sets_seconds, 3), "sets_named": len(rep.sets),
            "largest_set": max([len(s["proposals"]) for s in rep.sets] + [0]),
            "proposals_in_some_set": len(members), "proposals_in_some_set_unnamed": len(members - {p for S in found.sets for p in S}),
            "undecided": len(found.undecided), "rows_with_sets": len(found.rows),
            "rows_counted_not_all_named": len(counted),
            "rows_counted_exactly": sum(1 for x in counted if x.complete),
            "rows_with_proposals_not_excluded": sum(1 for x in counted if x.possible),
            "every_named_set_minimal": all(minimal(S) for S in found.sets),
            "sweep": sweep,
            "baseline_previous_method": {"seconds": round(prev_seconds, 3), "sets_named": len(prev),
                                         "sets_not_minimal": sum(1 for S in prev if not minimal(S)),
                                         "proposals_in_some_set_unnamed": len(members - prev_named)},
            "bar_seconds": 5, "meets_bar": bool(secs < 5)}


def _economy_sparse(n: int):
    import scipy.sparse as sp

    from planfactory.decision import DecisionBasis, FundamentalDecision
    from planfactory.demo import sparse_technology
    from planfactory.economy import Economy, Enterprise

    rng = np.random.default_rng(3)
    A, labour = sparse_technology(n, seed=3)
    # capital goods: 50 products supply the equipment of every product
    rows = np.tile(np.arange(10, 60), n)
    cols = np.repeat(np.arange(n), 50)
    B = sp.csr_matrix((rng.uniform(0.01, 0.06, size=rows.size), (rows, cols)), shape=(n, n))
    c = rng.random(n)
    g = rng.random(n)
    E = 10_000
    ents = [Enterprise(f"w{k}", f"Workplace {k}", k, 1.0, 200) for k in range(E)]
    e = Economy(sectors=[f"p{k}" for k in range(n)], A=A, labour=labour, B=B, consumption_basket=c / c.sum(),
                public_basket=g / g.sum(), workforce=2_000_000.0, hours_per_week=40.0, enterprises=ents)
    x0 = DecisionBasis.build(e).evaluate(FundamentalDecision(40.0, 0.62, 0.18, 0.20)).gross_output[:, 0]
    e.current_output = x0
    e.capacity = x0 * rng.uniform(1.05, 1.3, size=n)
    return e


def bench_variants_sparse(n: int, V: int) -> dict:
    from planfactory.variants import build_context, sweep_specs

    t0 = time.perf_counter()
    e = _economy_sparse(n)
    make = time.perf_counter() - t0
    props = _proposals(e, 20, seed=4)
    t0 = time.perf_counter()
    hours = max(2, V // 25)
    ctx = build_context(e, props, _params(hours, 5, 5, 1))
    setup = time.perf_counter() - t0
    specs = sweep_specs(ctx, [np.zeros(len(props), dtype=bool)])
    specs = specs.take(np.arange(min(V, specs.V)))
    secs, arr, nums = _batch(ctx, specs)
    per = _one_by_one(ctx, specs, 5)
    return {"products": n, "workplaces": len(e.enterprises), "variants": int(specs.V), "feasible": int(arr.feasible.sum()),
            "economy_build_seconds": round(make, 2), "setup_seconds": round(setup, 2), "seconds": round(secs, 3),
            "variants_per_second": round(specs.V / secs, 1), "one_by_one_variants_per_second": round(1 / per, 2),
            "ratio_vs_one_by_one": round(per * specs.V / secs, 1)}


def bench_http_pages(requests: int = 30) -> dict:
    """The real server on loopback with the bundled demo economy: card pages over HTTP.

    Baseline: the server's health endpoint, timed the same way (the cost of a request).
    """
    import asyncio
    import tempfile

    import aiohttp
    from aiohttp import web

    from councilcast.app import create_app
    from councilcast.config import Config

    async def go():
        with tempfile.TemporaryDirectory() as tmp:
            cfg = Config(db=f"{tmp}/bench.db", port=0, secretariat_token="bench-secretariat", studio_token="bench-studio",
                         data_dir=f"{tmp}/data")
            app = create_app(cfg)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]
            base = f"http://127.0.0.1:{port}"
            try:
                async with aiohttp.ClientSession() as s:
                    t = time.perf_counter()
                    async with s.post(base + "/api/plan/variant-sets", json={},
                                      headers={"Authorization": "Bearer bench-secretariat"}) as r:
                        assert r.status == 201, await r.text()
                        pub = await r.json()
                    publish = time.perf_counter() - t
                    from planfactory.demo import demo_economy

                    ids = [x.id for x in demo_economy().enterprises]

                    async def timed(path):
                        out = []
                        for k in range(requests):
                            t = time.perf_counter()
                            async with s.get(base + path.format(id=ids[k % len(ids)])) as r:
                                await r.read()
                                assert r.status == 200
                            out.append(time.perf_counter() - t)
                        return out

                    page = await timed("/plan/workplaces/{id}")
                    text = await timed("/api/plan/variant-sets/latest/cards?workplace={id}&format=text")
                    variant = await timed("/api/plan/variant-sets/latest/cards?variant=A&format=html")
                    health = await timed("/api/health")
            finally:
                await runner.cleanup()
        ms = lambda xs: round(1000 * float(np.median(xs)), 2)
        return {"economy": "bundled demo (30 sectors, 200 workplaces)", "variants": len(pub["variants"]),
                "publish_seconds": round(publish, 2), "workplace_page_ms_median": ms(page),
                "workplace_page_ms_first": round(1000 * page[0], 2),
                "workplace_page_ms_max": round(1000 * max(page), 2), "workplace_text_ms_median": ms(text),
                "variant_all_workplaces_html_ms_median": ms(variant), "health_ms_median": ms(health),
                "page_over_health": round(float(np.median(page)) / float(np.median(health)), 1),
                "bar_ms": 50, "meets_bar": bool(max(page) < 0.05)}

    return asyncio.run(go())


def run(quick: bool = False) -> dict:
    t0 = time.perf_counter()
    out = {"note": "2-core machine shared with other engineers' tests; ratios are the meaningful part",
           "cpu_count": os.cpu_count()}
    e = _economy_1000()
    out["economy_1000_build_seconds"] = round(time.perf_counter() - t0, 1)
    out["variants_1000"], state = bench_variants_1000(e, quick)
    out["cards"] = bench_cards(state)
    out["incompat_200"] = bench_incompat(e, quick)
    del state
    out["variants_100000"] = bench_variants_sparse(100_000, 50 if quick else 100)
    out["http_pages"] = bench_http_pages(20 if quick else 50)
    out["total_seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=["incompat_200"], help="one figure only (its economy is built first)")
    args = ap.parse_args()
    if args.only == "incompat_200":
        t0 = time.perf_counter()
        e = _economy_1000()
        out = {"economy_1000_build_seconds": round(time.perf_counter() - t0, 1), "cpu_count": os.cpu_count(),
               "load_average": [round(x, 2) for x in os.getloadavg()], "incompat_200": bench_incompat(e, args.quick)}
        print(json.dumps(out, separators=(",", ":")))
        return out
    out = run(quick=args.quick)
    print(json.dumps(out, separators=(",", ":")))
    return out


if __name__ == "__main__":
    main()
