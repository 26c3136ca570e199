#!/usr/bin/env python
"""One fan-out step of ``bench_broadcast.py``, measured closely, and alternated between trees.

Starts ``python -m councilcast serve`` (from ``--root``, default this tree) with the synthetic
camera at 1280x720 30 fps, measures an idle window, then ``--viewers`` counting viewers
(``bench_broadcast``'s load workers, niced, 50 per process) and a window with them. Prints one
JSON line: the CPU of each of the server's threads per second (the event loop's is the one
whose id is the process's), the server's own counters (packets sent, VP8 frames), the
viewers' loss, and the event loop's CPU beyond idle per viewer-second and per packet sent.

``--perf FILE`` records the loop thread with ``perf record -e cpu-clock -g`` over the window,
``--py-spy FILE`` samples the process with ``py-spy record --nonblocking -f raw`` (200 Hz);
``--ab TREE_A TREE_B --rounds N`` runs the step N times in each tree, alternating, and adds the
ranges. Use it under ``flock /tmp/bench.lock``, like every benchmark here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_broadcast as bb  # noqa: E402


def thread_cpu(pid: int) -> dict[int, float]:
    import psutil

    return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}


def step(root: str, viewers: int, window: float, perf: str | None = None, spy: str | None = None) -> dict:
    import psutil

    tmp = tempfile.mkdtemp(prefix="profile-fanout-")
    port = bb.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "COUNCILCAST_STUDIO_TOKEN": bb.STUDIO, "COUNCILCAST_SECRETARIAT_TOKEN": bb.SECRETARIAT,
           "COUNCILCAST_LOG_LEVEL": "WARNING", "COUNCILCAST_MEDIA_MAX_SESSIONS_PER_ADDRESS": "1000",
           "COUNCILCAST_MEDIA_MAX_SESSIONS": "1000", "COUNCILCAST_DATA_DIR": f"{tmp}/data"}
    server = subprocess.Popen([sys.executable, "-m", "councilcast", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--db", f"{tmp}/b.db"], env=env, cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out: dict = {"root": root, "viewers": viewers, "window_s": window,
                 "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    procs: list = []
    try:
        bb.wait_http(url + "/api/health")
        bb.start_camera(url)
        time.sleep(3.0)
        ps = psutil.Process(server.pid)

        def window_of(start_tools):
            t0, c0, f0 = thread_cpu(server.pid), ps.cpu_times(), bb.fanout_counters(url)
            tools = start_tools()
            time.sleep(window)
            t1, c1, f1 = thread_cpu(server.pid), ps.cpu_times(), bb.fanout_counters(url)
            for t in tools:
                t.wait(timeout=60)
            return {"process_cpu_per_s": round((c1.user + c1.system - c0.user - c0.system) / window, 3),
                    "loop_cpu_per_s": round((t1.get(server.pid, 0) - t0.get(server.pid, 0)) / window, 3),
                    "other_threads_cpu_per_s": round(sum(v - t0.get(k, 0) for k, v in t1.items()
                                                         if k != server.pid) / window, 3),
                    "packets_sent_per_s": round((f1[1] - f0[1]) / window, 1),
                    "video_fps": round((f1[2] - f0[2]) / window, 1)}

        idle = window_of(lambda: [])
        left = viewers
        while left > 0:
            procs.append(bb.start_worker(url, min(50, left), False))
            left -= min(50, left)
        bb.wait_ready(procs, time.time() + 20 + viewers * 0.25)
        time.sleep(2.0)
        start = time.time() + 0.5
        for p in procs:
            p.stdin.write(f"{start!r} {start + window!r}\n".encode())
            p.stdin.flush()
        time.sleep(max(0.0, start - time.time()))

        def tools():
            started = []
            if perf:
                started.append(subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-g", "-t", str(server.pid),
                                                 "-o", perf, "--", "sleep", str(window)],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if spy:
                started.append(subprocess.Popen(["py-spy", "record", "-p", str(server.pid), "-d", str(int(window)),
                                                 "-r", "200", "-f", "raw", "--nonblocking", "-o", spy],
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            return started

        busy = window_of(tools)
        results = bb.collect(procs, start + window + 45)
        procs = []
        got = sum(r.get("viewers", 0) for r in results)
        extra = busy["loop_cpu_per_s"] - idle["loop_cpu_per_s"]
        out.update({"idle": idle, "with_viewers": busy, "viewers_connected": got,
                    "packets_lost": sum(r.get("lost", 0) for r in results),
                    "packets_expected": sum(r.get("expected", 0) for r in results),
                    "loop_ms_per_viewer_s": round(extra * 1000 / got, 3) if got else None,
                    "loop_us_per_packet": round(extra * 1e6 / busy["packets_sent_per_s"], 2)
                    if busy["packets_sent_per_s"] else None,
                    "loop_viewers_per_core": round(got / extra) if got and extra > 0 else None})
    finally:
        bb.stop_procs(procs)
        bb.stop_process(server)
        out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--viewers", type=int, default=200)
    ap.add_argument("--window", type=float, default=8.0)
    ap.add_argument("--root", default=str(HERE.parent), help="the tree whose server is measured")
    ap.add_argument("--perf", help="perf.data file for the loop thread over the window")
    ap.add_argument("--py-spy", dest="spy", help="py-spy raw output file over the window")
    ap.add_argument("--ab", nargs=2, metavar=("TREE_A", "TREE_B"), help="alternate the step between two trees")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    if not args.ab:
        print(json.dumps(step(args.root, args.viewers, args.window, args.perf, args.spy)))
        return 0
    runs: dict[str, list[dict]] = {t: [] for t in args.ab}
    for _ in range(args.rounds):
        for tree in args.ab:
            runs[tree].append(step(tree, args.viewers, args.window))
    keys = ("loop_ms_per_viewer_s", "loop_us_per_packet", "loop_viewers_per_core")
    summary = {t: {k: [r.get(k) for r in rs] for k in keys} | {"fps": [r["with_viewers"]["video_fps"] for r in rs],
                                                               "lost": [r["packets_lost"] for r in rs]}
               for t, rs in runs.items()}
    print(json.dumps({"ab": summary, "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
