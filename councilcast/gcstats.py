"""The cyclic garbage collector's pauses in this process, counted through ``gc.callbacks``.

A join makes thousands of short-lived objects (aiortc's peer, its transports, the SDP parsed
and written): the collector runs often during a join storm, and a full collection walks every
object of every viewer. ``/api/broadcast/stats`` reports these counters (``gc``) so that its
share of a join's CPU can be measured (docs/broadcast.md, "Joining").
"""

from __future__ import annotations

import gc
import time

__all__ = ["install", "snapshot", "settle"]

_collections = [0, 0, 0]
_seconds = [0.0, 0.0, 0.0]
_started: float | None = None
_installed = False


def _callback(phase: str, info: dict) -> None:
    global _started
    if phase == "start":
        _started = time.thread_time()
        return
    if _started is not None:
        g = info["generation"]
        _collections[g] += 1
        _seconds[g] += time.thread_time() - _started
        _started = None


def install() -> None:
    """Count the collector's runs from now on (once per process)."""
    global _installed
    if not _installed:
        gc.callbacks.append(_callback)
        _installed = True


def snapshot() -> dict:
    """``{"collections": [gen0, gen1, gen2], "cpu_s": [...], "thresholds": [...], "frozen": n}``
    since :func:`install`: each generation's collections and the thread CPU they took."""
    return {"collections": list(_collections), "cpu_s": [round(s, 4) for s in _seconds],
            "thresholds": list(gc.get_threshold()), "frozen": gc.get_freeze_count()}


def settle() -> None:
    """Once the server is up: what start-up made (modules, the app, the codecs' tables: about
    130,000 objects) goes to the collector's permanent generation, which no collection walks.

    The thresholds stay Python's (700, 10, 10). Raised to 10,000/20/20 the collector ran even
    less during a join storm, but a closed peer's cyclic garbage then waited for a full
    collection that a quiet server reaches only minutes later: a second flood of 150
    unconnected offers left 20.6 MB more behind (``test_broadcast_limits.py``'s bound is 20)."""
    gc.collect()
    gc.freeze()
