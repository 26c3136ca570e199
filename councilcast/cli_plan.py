"""``councilcast plan ...`` and ``councilcast verify``: the plan factory's commands.

The ``plan`` group is split over two modules: :mod:`councilcast.cli_plan_solve` (solve,
info, import: the solver) and :mod:`councilcast.cli_plan_variants` (proposals, variants,
summaries, and the top-level ``verify``).
"""

from councilcast import cli_plan_solve, cli_plan_variants


def register(subparsers) -> None:
    p = subparsers.add_parser("plan", help="the plan factory: solve, variants, summaries")
    plan_sub = p.add_subparsers(dest="plan_command", metavar="PLAN_COMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    cli_plan_solve.register(plan_sub)
    cli_plan_variants.register(plan_sub)
    cli_plan_variants.register_top(subparsers)
