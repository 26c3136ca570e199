"""``councilcast plan variants|summary|proposals ...`` and ``councilcast verify`` (to be built)."""


def register(plan_subparsers) -> None:
    pass


def register_top(subparsers) -> None:
    pass
