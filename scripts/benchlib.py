"""Small pieces every benchmark script shares (imported by path: scripts/ is sys.path[0])."""

from __future__ import annotations

import math
import socket

__all__ = ["free_port", "percentile"]


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
