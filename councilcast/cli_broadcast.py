"""CLI commands of the broadcast area (to be built)."""


def register(subparsers) -> None:
    pass
