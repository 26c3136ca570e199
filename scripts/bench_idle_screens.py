#!/usr/bin/env python
"""What idle ``/ws`` screens cost a server: one JSON line.

    python scripts/bench_idle_screens.py [--screens N] [--window S]

One ``councilcast serve`` on a throwaway SQLite file (loopback, a free port), N screens
(default 15,000: one process's share in bench_federation.py) opened with bench_voting.py's
minimal WebSocket client, which answers every ping with a pong. Once every screen has had its
first heartbeat (aiohttp's, every 30 s, ``councilcast.events``), the server's CPU (user +
system, psutil) and this process's (the screens' pongs) are read over ``--window`` seconds
(default 30: one heartbeat per screen). Nothing else is sent: what the server spends is what
an idle screen costs, which counts and fan-outs share the cores with (docs/voting.md, "Runs
I-P"). Bounded: every phase has a deadline and the server is stopped before the script exits.
The baseline in the same run is the server's CPU over the same window with no screens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import free_port, stop_process  # noqa: E402

import bench_voting  # noqa: E402  (its WebSocket screen)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from councilcast.events import HEARTBEAT_S  # noqa: E402  (the server's own period, not a copy of it)


def cpu(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def run(args) -> dict:
    import psutil

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    tmp = tempfile.TemporaryDirectory(prefix="bench-idle-")
    port = free_port()
    env = {**os.environ, "COUNCILCAST_SECRETARIAT_TOKEN": "s" * 32, "COUNCILCAST_LOG_LEVEL": "WARNING",
           "COUNCILCAST_DATA_DIR": f"{tmp.name}/data", "COUNCILCAST_KEY_FILE": f"{tmp.name}/keys/ballot.key"}
    server = subprocess.Popen([sys.executable, "-m", "councilcast", "serve", "--host", "127.0.0.1",
                               "--port", str(port), "--db", f"{tmp.name}/councilcast.db"],
                              env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    me = psutil.Process()
    try:
        proc = psutil.Process(server.pid)
        for _ in range(100):  # up and answering
            try:
                _, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
                w.close()
                break
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        c0, t0 = cpu(proc), time.time()
        await asyncio.sleep(args.window)
        baseline = (cpu(proc) - c0) / (time.time() - t0)

        t0 = time.time()
        screens = await asyncio.wait_for(bench_voting.open_screens("127.0.0.1", port, args.screens), 300)
        opened_s = time.time() - t0
        # the last screen opened at t0 + opened_s; its first heartbeat is HEARTBEAT_S later
        await asyncio.sleep(HEARTBEAT_S + 2.0)
        c0, m0, t0 = cpu(proc), cpu(me), time.time()
        await asyncio.sleep(args.window)
        c1, m1, t1 = cpu(proc), cpu(me), time.time()
        open_now = sum(1 for sc in screens if not sc.closed)
        server_s = c1 - c0 - baseline * (t1 - t0)
        return {
            "bench": "idle_screens", "screens": len(screens), "open_at_end": open_now,
            "opened_s": round(opened_s, 1), "window_s": round(t1 - t0, 1), "heartbeat_s": HEARTBEAT_S,
            "server_cpu_s": round(c1 - c0, 3), "server_baseline_core": round(baseline, 4),
            "server_core": round((c1 - c0) / (t1 - t0), 4),
            "server_us_per_screen_per_heartbeat": round(server_s / max(open_now, 1)
                                                        / ((t1 - t0) / HEARTBEAT_S) * 1e6, 1),
            "client_cpu_s": round(m1 - m0, 3),
            "client_us_per_pong": round((m1 - m0) / max(open_now, 1) / ((t1 - t0) / HEARTBEAT_S) * 1e6, 1),
            "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        stop_process(server)
        tmp.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--screens", type=int, default=15000, help="idle /ws screens (default 15000)")
    ap.add_argument("--window", type=float, default=30.0, help="seconds measured (default 30: one heartbeat each)")
    args = ap.parse_args()
    out = {"load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
    out.update(asyncio.run(asyncio.wait_for(run(args), 240 + 2 * args.window)))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
