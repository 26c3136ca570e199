"""``councilcast plan solve|info|decide|growth|import-bea|import-flows|demo``: the solver's commands.

ECONOMY is a JSON file, a sparse folder (docs/planfactory.md, "Formats"), or the word
``demo`` for the bundled demo economy. Errors print ``error: FIELD: REASON`` on stderr
and exit with status 2; a solve whose answer is refused (not finite, not accurate:
:class:`planfactory.errors.SolverError`) exits with status 3. Data that load but disagree
(``Economy.warnings``) print ``warning: FIELD: REASON`` on stderr. ``--json`` prints
standard JSON only (never NaN or Infinity).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from councilcast.services.plan_jobs import info_payload, load_economy, read_demand, solve_payload

__all__ = ["register"]


EXIT_INVALID = 2
"""Exit status of a refused input (``error: FIELD: REASON``)."""
EXIT_UNSOLVABLE = 3
"""Exit status of a solve whose answer is refused: not finite, not accurate, no convergence."""


def _print_json(obj) -> None:
    """Standard JSON on stdout, or SolverError naming the first number JSON cannot hold."""
    from councilcast.services.plan import non_finite
    from planfactory.errors import SolverError

    where = non_finite(obj)
    if where is not None:  # the solver refuses such answers first; this is the last guard
        raise SolverError(None, f"the answer has a number that is not finite at {where}: not printed")
    json.dump(obj, sys.stdout, separators=(",", ":"), allow_nan=False)
    sys.stdout.write("\n")


def _fail(exc) -> int:
    from planfactory.errors import SolverError

    field = getattr(exc, "field", None)
    reason = getattr(exc, "reason", str(exc))
    print(f"error: {field}: {reason}" if field else f"error: {reason}", file=sys.stderr)
    return EXIT_UNSOLVABLE if isinstance(exc, SolverError) else EXIT_INVALID


def _load(spec: str):
    """The economy, its warnings printed on stderr (``warning: FIELD: REASON``)."""
    economy = load_economy(spec)
    for w in economy.warnings:
        print(f"warning: {w['field']}: {w['reason']}", file=sys.stderr)
    return economy


def _guard(fn):
    def run(args):
        from planfactory.economy import EconomyError
        from planfactory.leontief import SolverError

        try:
            return fn(args)
        except (EconomyError, SolverError, ValueError, OSError) as exc:
            return _fail(exc)
    return run


@_guard
def cmd_solve(args) -> int:
    from planfactory.economy import EconomyError

    economy = _load(args.economy)
    try:
        data = json.loads(Path(args.final_demand).read_text())
    except (OSError, ValueError) as exc:
        raise EconomyError("final_demand", f"cannot read {args.final_demand}: {exc}") from None
    f = read_demand(data, economy)
    progress = None
    if not args.quiet:
        def progress(step, residual):
            print(f"  step {step}: residual {residual:.3g}", file=sys.stderr, flush=True)
    out = solve_payload(economy, f, args.method, progress)
    if args.json:
        _print_json(out)
        return 0
    print(f"{economy.name}: {economy.n} sectors; method {out['method']}; backward error {out['residual']:.2g}, "
          f"condition number {out['condition']:.3g}")
    many = f.ndim == 2
    X = np.asarray(out["gross_output"]).T if many else np.asarray(out["gross_output"])[:, None]
    for j, s in enumerate(economy.sectors[: args.rows]):
        print(f"  {s:<32} " + " ".join(f"{X[j, k]:>16,.2f}" for k in range(X.shape[1])))
    if economy.n > args.rows:
        print(f"  ... {economy.n - args.rows} more sectors (use --json for all)")
    print(f"labour hours: {out['labour_hours']}")
    fe = out["feasibility"] if isinstance(out["feasibility"], dict) else out["feasibility"][0]
    unknown = [k for k, known in (("capacity", fe["capacity_known"]), ("hours available", fe["hours_available"] is not None))
               if not known]
    print(f"feasible: {out['feasible']}" + (f" (no data on {' or '.join(unknown)})" if unknown else ""))
    return 0


@_guard
def cmd_info(args) -> int:
    economy = _load(args.economy)
    out = info_payload(economy)
    if args.json:
        _print_json(out)
        return 0
    print(f"{out['name']}: {out['sectors']} sectors, {out['nonzeros']} non-zero coefficients"
          f"{' (sparse)' if out['sparse'] else ''}")
    rho = out["spectral_radius"]
    bounds = f"{rho['upper']:.4f}" if rho["lower"] == rho["upper"] else f"{rho['lower']:.4f} to {rho['upper']:.4f}"
    print(f"spectral radius of A: {bounds} (productive: {out['productive']}; by {rho['method']})")
    print(f"workforce {out['workforce']}, {out['hours_per_week']} h/week, {out['enterprises']} enterprises")
    print("has: " + ", ".join(k for k, v in out["has"].items() if v))
    lv = out["labour_values"]
    if lv is None:
        p = out["labour_values_problem"]
        print(f"labour values: not computed: {p['field'] + ': ' if p['field'] else ''}{p['reason']}")
    else:
        print(f"labour values (hours per unit): min {lv['min']:.4g}, median {lv['median']:.4g}, max {lv['max']:.4g}"
              f"; condition number of I - A {out['condition']:.3g}")
    return 0


def _decision(args):
    from planfactory.decision import FundamentalDecision

    return FundamentalDecision(args.hours, args.consumption, args.public, args.investment)


@_guard
def cmd_decide(args) -> int:
    from planfactory.decision import decide

    economy = _load(args.economy)
    out = decide(economy, _decision(args)).to_dict()
    if args.json:
        _print_json(out)
        return 0
    print(f"{args.hours} h/week for {economy.workforce:,.0f} persons = {out['hours_available']:,.0f} hours a year")
    print(f"private consumption: {out['private_hours_per_worker']:,.1f} hours per worker a year "
          f"({out['private_hours_per_worker_per_week']:.1f} a week)")
    print(f"public consumption: {out['public_hours']:,.0f} hours; net investment (new capacity): "
          f"{out['investment_hours']:,.0f} hours")
    if out["replacement_hours"]:
        print(f"replacement of worn equipment ({100 * out['depreciation']:.0f}% a year): "
              f"{out['replacement_hours']:,.0f} hours, paid before the split; gross investment "
              f"{out['gross_investment_hours']:,.0f} hours")
    fe = out["feasibility"]
    print(f"feasible: {out['feasible']}; hours needed {fe['hours_needed']:,.0f}")
    for b in fe["binding_sectors"]:
        print(f"  over capacity: {b['sector']}: {100 * (b['ratio'] - 1):.1f}% above")
    return 0


@_guard
def cmd_growth(args) -> int:
    from planfactory.growth import GrowthAssumptions, growth_note, investment_for_growth, path_for_investment_share

    economy = _load(args.economy)
    a = GrowthAssumptions(years=args.years, depreciation=args.depreciation,
                          labour_productivity_growth=args.productivity_growth, workforce_growth=args.workforce_growth)
    if args.target_growth is not None:
        p = investment_for_growth(economy, _decision(args), args.target_growth, a)
    else:
        p = path_for_investment_share(economy, _decision(args), a)
    out = p.to_dict(sectors=args.sectors)
    if args.json:
        _print_json(out)
        return 0
    # consumption here is private plus public, per worker; net investment is below zero in a
    # year that does not replace all the equipment in use (spare capacity is being used up)
    print("year  private+public h/worker  growth  net investment share  feasible")
    for t in range(a.years):
        g = f"{100 * p.growth[t - 1]:+.2f}%" if t else "    -"
        print(f"{t:>4}  {p.consumption_hours_per_worker[t]:>23,.1f}  {g:>7}  {p.investment_share[t]:>20.3f}  {p.feasible[t]}")
    print(f"average growth of consumption: {100 * p.average_growth:+.2f}% a year "
          f"({growth_note(a.years)})")
    sg = p.sustainable_rate
    cap = (f"capital allows {100 * sg.capital_rate:+.2f}%" if sg.capital_rate != float("inf")
           else "no capital limit")
    limit = (f"highest sustainable rate {100 * sg.rate:+.2f}% a year (limited by {sg.limited_by}: "
             f"labour's growth {100 * sg.labour_rate:+.2f}%, {cap})")
    if p.target_growth is not None:
        verdict = "sustainable" if p.sustainable else "NOT SUSTAINABLE: met over the horizon only"
        print(f"target {100 * p.target_growth:+.2f}% a year: {verdict}; {limit}")
    else:
        print(limit)
    print(f"terminal condition: {p.terminal_condition}")
    return 0


@_guard
def cmd_import_bea(args) -> int:
    from planfactory.formats import save
    from planfactory.importers import economy_from_bea

    e = economy_from_bea(args.folder)
    path = save(e, args.out)
    print(f"wrote {path}: {e.n} industries")
    return 0


@_guard
def cmd_import_flows(args) -> int:
    from planfactory.economy import EconomyError
    from planfactory.formats import save
    from planfactory.importers import economy_from_flows

    try:
        d = json.loads(Path(args.file).read_text())
        e = economy_from_flows(d["sectors"], d["flows"], d["gross_output"], labour=d.get("labour"),
                               value_added=d.get("value_added"), final_demand=d.get("final_demand"),
                               public_demand=d.get("public_demand"), name=d.get("name", "flows table"))
    except KeyError as exc:
        raise EconomyError(str(exc.args[0]), "is required (sectors, flows, gross_output)") from None
    path = save(e, args.out)
    print(f"wrote {path}: {e.n} sectors")
    return 0


@_guard
def cmd_demo(args) -> int:
    from planfactory.demo import DEMO_PATH, generate, write_demo
    from planfactory.formats import save

    if args.out:
        if args.products:
            from planfactory.demo import products_economy

            e = products_economy(args.products, seed=args.seed)
        else:
            e = generate(n_sectors=args.sectors, n_enterprises=args.enterprises, seed=args.seed)
        path = save(e, args.out)
    elif args.write:
        path = write_demo(DEMO_PATH)
    else:
        print(f"bundled demo economy: {DEMO_PATH} (use --write to regenerate it, --out PATH for another)")
        return 0
    print(f"wrote {path}")
    return 0


def _decision_flags(p) -> None:
    p.add_argument("--hours", type=float, default=40.0, help="hours per week (default 40)")
    # shares of the net product (after the replacement of worn equipment); the demo's today
    p.add_argument("--consumption", type=float, default=0.74, help="private consumption share (default 0.74)")
    p.add_argument("--public", type=float, default=0.21, help="public consumption share (default 0.21)")
    p.add_argument("--investment", type=float, default=0.05,
                   help="net investment share, new capacity beyond replacement (default 0.05)")


def register(plan_subparsers) -> None:
    p = plan_subparsers.add_parser("solve", help="gross output, labour hours and values for a final demand")
    p.add_argument("economy", help="economy JSON file, sparse folder, or 'demo'")
    p.add_argument("--final-demand", required=True, metavar="FILE",
                   help="JSON list in sector order, object by sector name, or a list of those")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--method", default="auto", choices=["auto", "dense", "splu", "iterative"])
    p.add_argument("--rows", type=int, default=40, help="sectors shown in the text output")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=cmd_solve)

    p = plan_subparsers.add_parser("info", help="summarize an economy")
    p.add_argument("economy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = plan_subparsers.add_parser("decide", help="what a fundamental decision implies (hours, split of the product)")
    p.add_argument("economy")
    _decision_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_decide)

    p = plan_subparsers.add_parser("growth", help="multi-year path: growth for an investment share, or investment for a growth")
    p.add_argument("economy")
    _decision_flags(p)
    p.add_argument("--target-growth", type=float, help="yearly growth of consumption to reach (e.g. 0.03)")
    p.add_argument("--years", type=int, default=10)
    p.add_argument("--depreciation", type=float, default=0.05)
    p.add_argument("--productivity-growth", type=float, default=0.02)
    p.add_argument("--workforce-growth", type=float, default=0.0)
    p.add_argument("--sectors", action="store_true", help="include per-sector outputs and capacities")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_growth)

    p = plan_subparsers.add_parser("import-bea", help="BEA make-use tables (1997 summary format) -> economy")
    p.add_argument("folder")
    p.add_argument("--out", required=True, help="*.json or a folder for the sparse format")
    p.set_defaults(func=cmd_import_bea)

    p = plan_subparsers.add_parser("import-flows", help="flows table JSON {sectors, flows, gross_output, ...} -> economy")
    p.add_argument("file")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_import_flows)

    p = plan_subparsers.add_parser("demo", help="the bundled demo economy: regenerate it or generate another")
    p.add_argument("--write", action="store_true", help="regenerate planfactory/data/demo_economy.json")
    p.add_argument("--out", help="write a generated economy here instead")
    p.add_argument("--sectors", type=int, default=30)
    p.add_argument("--enterprises", type=int, default=200)
    p.add_argument("--seed", type=int, default=1957)
    p.add_argument("--products", type=int, help="write a product-level sparse economy of this many products (with --out DIR)")
    p.set_defaults(func=cmd_demo)
