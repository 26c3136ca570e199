"""``councilcast plan solve|info|import ...`` (to be built)."""


def register(plan_subparsers) -> None:
    pass
