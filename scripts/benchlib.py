"""Small pieces every benchmark script shares (imported by path: scripts/ is sys.path[0])."""

from __future__ import annotations

import math
import socket

__all__ = ["free_port", "percentile", "stop_process", "throwaway_postgres"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (benchmarks stay on loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc, timeout: float = 20) -> None:
    """Stop a server the benchmark started: SIGTERM, ``timeout`` seconds to exit, then SIGKILL."""
    import signal
    import subprocess

    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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


class PipedProcesses:
    """Load processes driven over pipes: ``all(cmd, ...)`` sends a command to every one and
    gathers their answers in order; ``stop()`` asks them to stop, then kills what is left.

    ``target(conn, *args)`` runs in each process (spawned), with ``args`` from
    ``args_per_process``; it answers each ``conn.recv()`` with one ``conn.send``.
    """

    def __init__(self, target, args_per_process, *, timeout: float, stop_timeout: float):
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.timeout, self.stop_timeout = timeout, stop_timeout
        self.conns, self.procs = [], []
        for args in args_per_process:
            a, b = ctx.Pipe()
            p = ctx.Process(target=target, args=(b, *args), daemon=True)
            p.start()
            self.conns.append(a)
            self.procs.append(p)

    def all(self, *cmd, per_process=None, timeout: float | None = None):
        """Send ``cmd`` (with ``per_process[i]`` appended for process i) to all; their answers."""
        for i, c in enumerate(self.conns):
            c.send(cmd if per_process is None else (*cmd, *per_process[i]))
        out = []
        for c in self.conns:
            if not c.poll(self.timeout if timeout is None else timeout):
                raise TimeoutError(f"a load process did not answer {cmd[0]}")
            out.append(c.recv())
        return out

    def stop(self) -> None:
        try:
            self.all("stop", timeout=self.stop_timeout)
        except (TimeoutError, OSError, EOFError):
            pass
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(5)
