"""CLI commands of the voting area (to be built)."""


def register(subparsers) -> None:
    pass
