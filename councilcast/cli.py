"""The ``councilcast`` command (argparse).

Sub-commands: ``serve``, ``demo`` here; areas add theirs through ``register(subparsers)``
in the modules listed in :data:`COMMAND_MODULES` (``plan ...``, ``verify-round``,
``relay``, ``verify``, ``db copy``). Flags override ``COUNCILCAST_*`` environment variables.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import sys

from councilcast import __version__
from councilcast.config import Config

__all__ = ["main", "build_parser", "config_from_args", "run_server"]

COMMAND_MODULES = [
    "councilcast.cli_plan",
    "councilcast.cli_voting",
    "councilcast.cli_broadcast",
    "councilcast.cli_db",
]


def add_server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", help="address to listen on (env COUNCILCAST_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (env COUNCILCAST_PORT, default 8080; 0 = any free port)")
    p.add_argument("--db", help="SQLite file, created if missing, or postgresql://user:password@host/dbname "
                                "(env COUNCILCAST_DB, default ./councilcast.db)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="server processes on this address (env COUNCILCAST_WORKERS, default 1); more than 1 needs "
                        "--db postgresql://..., and one of them holds the media (docs/deploy.md)")


def config_from_args(args: argparse.Namespace, **extra) -> Config:
    return Config.from_env(host=getattr(args, "host", None), port=getattr(args, "port", None),
                           db=getattr(args, "db", None), workers=getattr(args, "workers", None), **extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="councilcast",
        description="Televised assemblies, synchronized voting rounds and the plan factory.",
    )
    parser.add_argument("--version", action="version", version=f"councilcast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("serve", help="run the server (SQLite by default, or PostgreSQL with --db postgresql://...)")
    add_server_flags(p)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("demo", help="run the server with the demo: economy, synthetic camera, simulated assemblies")
    add_server_flags(p)
    p.add_argument("--fast", action="store_true", default=None,
                   help="the demo session in about one minute instead of three (env COUNCILCAST_DEMO_FAST)")
    p.set_defaults(func=cmd_demo)

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args) or 0


def run_server(config: Config) -> int:
    """Serve ``config`` until SIGINT/SIGTERM (``serve``, ``demo`` and ``relay`` all end here); with
    ``config.workers`` other than 1, as that many processes (:mod:`councilcast.workers`)."""
    if config.workers != 1:
        from councilcast.workers import serve

        return serve(config)
    from councilcast.server import run

    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(config))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_serve(args: argparse.Namespace, demo: bool = False) -> int:
    return run_server(config_from_args(args, demo=demo or None))


def cmd_demo(args: argparse.Namespace) -> int:
    return run_server(config_from_args(args, demo=True, demo_fast=getattr(args, "fast", None)))


if __name__ == "__main__":
    sys.exit(main())
