"""NTP-style clock offset from request/response timestamps (the same maths as static/js/clock.js).

A sample is four times: ``t0`` client send, ``t1`` server receive, ``t2`` server send,
``t3`` client receive (client times on the client clock, server times on the server's).
Offset (server minus client) ``((t1 - t0) + (t2 - t3)) / 2``; round trip
``(t3 - t0) - (t2 - t1)``. Queueing delays are one-sided and only ever make the round
trip longer, so the samples with the lowest round trip are the most accurate: we keep
the offset of the lowest-RTT sample (as NTP's clock filter does), whose error is at most
half its round trip; ``best > 1`` takes the median of that many lowest-RTT samples.
"""

from __future__ import annotations

import statistics

__all__ = ["offset_rtt", "estimate_offset"]


def offset_rtt(t0: float, t1: float, t2: float, t3: float) -> tuple[float, float]:
    """(offset, rtt) of one exchange."""
    return ((t1 - t0) + (t2 - t3)) / 2, (t3 - t0) - (t2 - t1)


def estimate_offset(samples: list[tuple[float, float, float, float]], best: int = 1) -> tuple[float, float]:
    """(offset, lowest rtt) from the ``best`` lowest-RTT samples; with best=1 the error is at most rtt/2.

    >>> estimate_offset([(0, 105, 105, 10), (20, 160, 160, 100)])
    (100.0, 10)
    """
    if not samples:
        raise ValueError("no samples")
    pairs = sorted((offset_rtt(*s) for s in samples), key=lambda p: p[1])[:best]
    return statistics.median(p[0] for p in pairs), pairs[0][1]
