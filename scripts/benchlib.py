"""Small pieces every benchmark script shares (imported by path: scripts/ is sys.path[0])."""

from __future__ import annotations

import math
import socket

__all__ = ["free_port", "percentile", "throwaway_postgres"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (benchmarks stay on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q: float, digits: int = 1):
    """The q-th percentile by the nearest-rank method, rounded; None for no values."""
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(math.ceil(q / 100 * len(values))) - 1))
    return round(values[k], digits)


def throwaway_postgres(durable: bool = True):
    """A throwaway PostgreSQL cluster (tests/pg.py's: Debian's server, a temporary directory, a free
    port of 127.0.0.1, run as ``postgres`` when we are root): ``(cluster, stop)``. ``durable``: fsync
    and full page writes on (the tests run with them off), so that a COMMIT is on the disk."""
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from tests.pg import start_cluster

    return start_cluster("-c fsync=on -c full_page_writes=on" if durable else "")
