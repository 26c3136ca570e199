"""CLI commands of the broadcast area: ``relay``.

``councilcast relay --origin http://origin:8080`` runs a server that pulls the origin's
channels over WHEP (all of them, or those named by ``--channels``) and serves each to its
own viewers over WHEP, with the same pages. Relays can pull from relays: origins and
relays form a tree. A channel the origin has not put on air yet is retried every few
seconds (the origin answers 409 with Retry-After); when it ends, the relay's copy ends too
and is pulled again when it comes back.

The origin's VP8 and Opus packets are forwarded as they are (nothing decoded or encoded
here; keyframes are asked of the origin), so a relay serves VP8 and Opus only. A relay does
not record unless ``--record`` is given (the origin records every session).
"""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("relay", help="pull channels from an origin over WHEP and serve them again",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--origin", required=True, help="base URL of the origin server (e.g. http://10.0.0.1:8080)")
    p.add_argument("--channels", default="", help="comma-separated channels to pull (default: all the origin lists)")
    p.add_argument("--host", help="address to listen on (env COUNCILCAST_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (env COUNCILCAST_PORT, default 8080; 0 = any free port)")
    p.add_argument("--db", help="SQLite file of this relay (default ./councilcast-relay.db)")
    p.add_argument("--record", action="store_true", default=None,
                   help="record the pulled channels here too (env COUNCILCAST_RELAY_RECORD; default: no)")
    p.set_defaults(func=cmd_relay)


def cmd_relay(args: argparse.Namespace) -> int:
    from councilcast.cli import run_server
    from councilcast.config import Config

    origin = args.origin.rstrip("/")
    if not origin.startswith(("http://", "https://")):
        raise SystemExit("--origin must be an http(s) URL")
    config = Config.from_env(host=args.host, port=args.port, db=args.db or "councilcast-relay.db",
                             relay_origin=origin, relay_channels=args.channels or None,
                             relay_record=args.record)
    return run_server(config)
