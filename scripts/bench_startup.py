#!/usr/bin/env python3
"""Time from ``councilcast serve`` to its first HTTP answer, against a bare aiohttp server.

Prints one JSON line. The baseline, measured in the same run, is a minimal aiohttp app
started the same way, so the ratio says what councilcast's own start-up (imports,
migrations, token check, area set-up) costs on top of Python + aiohttp.
Loopback only; each run is bounded by a 30 s timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import free_port

BARE = """
import sys
from aiohttp import web
async def h(r): return web.json_response({"status": "ok"})
app = web.Application(); app.router.add_get("/api/health", h)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def time_to_first_answer(cmd: list[str], port: int, env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - t0 < 30:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.01)
        raise TimeoutError(" ".join(cmd))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    env = {**os.environ, "COUNCILCAST_SECRETARIAT_TOKEN": "bench", "COUNCILCAST_STUDIO_TOKEN": "bench"}
    ours, bare, first = [], [], None
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            port = free_port()
            db = os.path.join(tmp, "fresh.db" if i == 0 else "warm.db")
            t = time_to_first_answer([sys.executable, "-m", "councilcast", "serve", "--port", str(port),
                                      "--db", db], port, env)
            if i == 0:
                first = t  # a new database: migrations run
            else:
                ours.append(t)
            port = free_port()
            bare.append(time_to_first_answer([sys.executable, "-c", BARE, str(port)], port, env))
    med_ours = statistics.median(ours) if ours else first
    med_bare = statistics.median(bare)
    print(json.dumps({
        "bench": "startup",
        "serve_to_first_answer_s": round(med_ours, 3),
        "serve_to_first_answer_new_db_s": round(first, 3),
        "bare_aiohttp_s": round(med_bare, 3),
        "ratio_to_bare": round(med_ours / med_bare, 2),
        "runs": args.runs,
    }))


if __name__ == "__main__":
    main()
