"""CLI commands of the plan area (to be built)."""


def register(subparsers) -> None:
    pass
