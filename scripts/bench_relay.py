#!/usr/bin/env python
"""Benchmark relay hops: origin -> relay 1 -> relay 2, on loopback, in one run.

What runs:

- the origin (``python -m councilcast serve``) with the synthetic camera live on ``central``
  at 1280x720, 30 fps (VP8 1.5 Mbit/s + Opus, encoded once);
- ``forward``: two ``python -m councilcast relay`` processes, relay 1 pulling the origin and
  relay 2 pulling relay 1, which forward the origin's packets (docs/broadcast.md, "Relay mode");
- ``decode`` (the baseline, unless ``--no-baseline``): the same tree with relays that decode
  the pull and encode it again, the path relays had before (``broadcast.relay.pull(...,
  forward=False)`` behind a minimal WHEP server in this file; same Broadcaster and fan-out);
- one worker process with decoding aiortc viewers: ``--viewers`` at the origin, at relay 1
  and at relay 2 each (default 1), which read the camera's burnt-in clock from every frame.

For each mode it measures, over a fixed window: each relay process's CPU (user + system,
all threads) per second, i.e. its cost per channel (one channel is pulled; the cost of a
server with nothing on air, measured on the origin before its camera starts, is reported
beside it); capture-to-decode
latency at the viewers of the origin, relay 1 and relay 2 (p50/p95, from the burnt-in clock
that scripts/bench_broadcast.py reads too); and each hop's added delay frame by frame: the
same frame (the same stamp) decoded at a viewer of relay 1 minus at a viewer of the origin
(hop 1), relay 2 minus relay 1 (hop 2), relay 2 minus origin (both).

``--py-spy DIR`` samples each relay with ``py-spy record --nonblocking -f raw`` (200 Hz) over
the window (``DIR/<mode>-relay1.txt``, ``-relay2.txt``), ``--perf DIR`` records each with
``perf record -e cpu-clock -g`` (``DIR/<mode>-relay1.data``); each relay's CPU is also given per
thread (its event loop's apart). ``--ab TREE_A TREE_B --rounds N`` runs the relays of the
``forward`` mode from two trees in turn, N times each, behind the same origin and viewers
(this tree's), and adds the ranges: a before and after in one run. Use it under
``flock /tmp/bench.lock``, like every benchmark here.

Prints ONE JSON line. Bounded: every wait has a deadline, and every process it starts is
stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import free_port, percentile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRETARIAT = "bench-secretariat-token"
WORKER_TIMEOUT_S = 120
HOPS = ("origin", "relay1", "relay2")


def pct(values, q):
    return percentile(values, q, 1)


# ================================================================================ viewers
async def worker(args) -> dict:
    """``--viewers`` decoding viewers per URL; per viewer the (stamp, decode time) of each frame."""
    import aiohttp
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from yarl import URL

    from broadcast.ice import configuration
    from broadcast.synthetic import read_clock

    urls = args.urls.split(",")
    viewers = []

    async def one(http, hop, url):
        pc = RTCPeerConnection(configuration([]))
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        async with http.post(f"{url}/whep/central", data=pc.localDescription.sdp,
                             headers={"Content-Type": "application/sdp"}) as r:
            if r.status != 201:
                raise RuntimeError(f"{url}: {r.status} {await r.text()}")
            location = str(r.url.join(URL(r.headers["Location"])))
            answer = await r.text()
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        v = {"hop": hop, "pc": pc, "location": location, "frames": {}, "first": None}
        viewers.append(v)
        v["task"] = asyncio.ensure_future(decode(v))

    async def decode(v):
        track = next(t.receiver.track for t in v["pc"].getTransceivers() if t.kind == "video")
        while True:
            frame = await track.recv()
            now = time.time() * 1000
            v["first"] = v["first"] or now
            if args.start * 1000 <= now <= args.end * 1000:
                stamp = read_clock(frame)
                if stamp is not None:
                    v["frames"][stamp] = now

    async with aiohttp.ClientSession() as http:
        for hop, url in zip(HOPS, urls):
            for _ in range(args.viewers):
                await one(http, hop, url)
        print("READY", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        args.start, args.end = (float(x) for x in line.split())
        await asyncio.sleep(max(0.0, args.end - time.time()) + 0.2)
        out = {"viewers": [{"hop": v["hop"], "frames": v["frames"]} for v in viewers]}
        print(json.dumps(out), flush=True)
        for v in viewers:
            v["task"].cancel()
            try:
                async with http.delete(v["location"]):
                    pass
            except aiohttp.ClientError:
                pass
            await v["pc"].close()
    return out


# ============================================================== the baseline: a decoding relay
async def decode_relay(port: int, origin: str) -> None:
    """A WHEP relay of ``central`` that decodes its pull and encodes it again (the old path)."""
    import aiohttp
    from aiohttp import web
    from yarl import URL

    from broadcast.channels import Broadcaster
    from broadcast.errors import BroadcastError
    from broadcast.relay import pull

    bc = Broadcaster(None)
    bc.define("central")
    http = aiohttp.ClientSession()
    location: list[str] = []

    async def post_offer(sdp: str) -> str:
        async with http.post(f"{origin}/whep/central", data=sdp.encode(),
                             headers={"Content-Type": "application/sdp"}) as r:
            if r.status != 201:
                raise RuntimeError(f"origin answered {r.status}")
            location.append(str(r.url.join(URL(r.headers["Location"]))))
            return await r.text()

    async def hang_up() -> None:
        if location:
            async with http.delete(location[0]):
                pass

    async def whep(request: web.Request) -> web.Response:
        try:
            session, answer = await bc.play("central", await request.text(), request.remote)
        except BroadcastError as exc:
            return web.json_response({"error": {"reason": exc.reason}}, status=409)
        return web.Response(status=201, text=answer, content_type="application/sdp",
                            headers={"Location": f"/whep/central/{session.id}"})

    async def leave(request: web.Request) -> web.Response:
        await bc.close_session(request.match_info["sid"])
        return web.Response(status=200)

    async def channel(request: web.Request) -> web.Response:
        ch = bc.get("central")
        return web.json_response({"state": ch.state, "program": ch.program.stats() if ch.program else None})

    app = web.Application()
    app.router.add_post("/whep/central", whep)
    app.router.add_delete("/whep/central/{sid}", leave)
    app.router.add_get("/api/channels/central", channel)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await pull(bc, "central", post_offer, on_close=hang_up, forward=False)
    await stop.wait()
    await bc.close()
    await http.close()
    await runner.cleanup()


# ============================================================================ controller
def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def wait_until(check, timeout: float, what: str):
    end = time.time() + timeout
    while time.time() < end:
        try:
            value = check()
            if value:
                return value
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(what)


def live(url: str) -> bool:
    return get_json(url + "/api/channels/central")["state"] == "live"


def program_stats(url: str) -> dict:
    """The relay's programme figures: /api/broadcast/stats (councilcast), or the baseline's channel."""
    try:
        req = urllib.request.Request(url + "/api/broadcast/stats", headers={"Authorization": f"Bearer {SECRETARIAT}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())["channels"]["central"]["program"] or {}
    except (OSError, KeyError, ValueError):
        pass
    try:
        return get_json(url + "/api/channels/central").get("program") or {}
    except (OSError, ValueError):
        return {}


def stop(procs) -> None:
    for p in procs:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        if p is None:
            continue
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def hop_delays(viewers: list[dict], a: str, b: str) -> list[float]:
    """Per frame seen at both: decode time at a viewer of ``b`` minus at a viewer of ``a`` (ms)."""
    first_a = next(v["frames"] for v in viewers if v["hop"] == a)
    first_b = next(v["frames"] for v in viewers if v["hop"] == b)
    return [first_b[s] - first_a[s] for s in first_a.keys() & first_b.keys()]


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of ``pid``; the event loop's id is ``pid``."""
    import psutil

    return {t.id: t.user_time + t.system_time for t in psutil.Process(pid).threads()}


def run_mode(mode: str, origin_url: str, tmp: str, env: dict, args, root: Path = ROOT, tag: str = "") -> dict:
    import psutil

    p1, p2 = free_port(), free_port()
    u1, u2 = f"http://127.0.0.1:{p1}", f"http://127.0.0.1:{p2}"
    procs: list = []

    def relay(port: int, upstream: str, name: str) -> subprocess.Popen:
        if mode == "forward":
            cmd = [sys.executable, "-m", "councilcast", "relay", "--origin", upstream, "--channels", "central",
                   "--host", "127.0.0.1", "--port", str(port), "--db", f"{tmp}/{mode}{tag}-{name}.db"]
        else:
            cmd = [sys.executable, __file__, "--decode-relay", str(port), "--origin", upstream]
        p = subprocess.Popen(cmd, env=env, cwd=str(root), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(p)
        return p

    out: dict = {"mode": mode, "root": str(root), "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    try:
        r1 = relay(p1, origin_url, "relay1")
        wait_until(lambda: live(u1), 40, f"{mode} relay 1 live")
        r2 = relay(p2, u1, "relay2")
        wait_until(lambda: live(u2), 40, f"{mode} relay 2 live")
        w = subprocess.Popen([sys.executable, __file__, "--worker", "--urls", f"{origin_url},{u1},{u2}",
                              "--viewers", str(args.viewers)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             cwd=str(ROOT), preexec_fn=lambda: os.nice(5))
        procs.append(w)
        deadline = time.time() + 60
        while time.time() < deadline:
            line = w.stdout.readline()
            if not line or line.strip() == b"READY":
                break
        time.sleep(args.settle)
        start = time.time() + 0.5
        end = start + args.window
        w.stdin.write(f"{start} {end}\n".encode())
        w.stdin.flush()
        ps = [psutil.Process(r.pid) for r in (r1, r2)]
        time.sleep(max(0.0, start - time.time()))
        c0 = [sum(p.cpu_times()[:2]) for p in ps]
        s0 = [p.cpu_times().system for p in ps]
        th0 = [thread_cpu(p.pid) for p in ps]
        t0 = time.time()
        spies = []
        if args.py_spy:
            Path(args.py_spy).mkdir(parents=True, exist_ok=True)
            for r, name in zip((r1, r2), ("relay1", "relay2")):
                spies.append(subprocess.Popen(
                    ["py-spy", "record", "-p", str(r.pid), "-d", str(int(args.window)), "-r", "200", "-f", "raw",
                     "--nonblocking", "-o", f"{args.py_spy}/{mode}{tag}-{name}.txt"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if args.perf:
            Path(args.perf).mkdir(parents=True, exist_ok=True)
            for r, name in zip((r1, r2), ("relay1", "relay2")):
                spies.append(subprocess.Popen(
                    ["perf", "record", "-e", "cpu-clock", "-g", "-p", str(r.pid), "-o",
                     f"{args.perf}/{mode}{tag}-{name}.data", "--", "sleep", str(args.window)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(max(0.0, end - time.time()))
        c1 = [sum(p.cpu_times()[:2]) for p in ps]
        s1 = [p.cpu_times().system for p in ps]
        th1 = [thread_cpu(p.pid) for p in ps]
        elapsed = time.time() - t0
        for spy in spies:
            spy.wait(timeout=60)
        try:
            data, _ = w.communicate(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            w.kill()
            data, _ = w.communicate()
        lines = [ln for ln in data.decode().splitlines() if ln.startswith("{")]
        viewers = json.loads(lines[0])["viewers"] if lines else []
        for v in viewers:
            v["frames"] = {int(k): t for k, t in v["frames"].items()}
        for i, name in enumerate(("relay1", "relay2")):
            out[f"{name}_cpu_per_s"] = round((c1[i] - c0[i]) / elapsed, 4)
            out[f"{name}_system_cpu_per_s"] = round((s1[i] - s0[i]) / elapsed, 4)
            pid = ps[i].pid
            out[f"{name}_loop_cpu_per_s"] = round((th1[i].get(pid, 0) - th0[i].get(pid, 0)) / elapsed, 4)
            out[f"{name}_other_threads_cpu_per_s"] = round(
                sum(v - th0[i].get(k, 0) for k, v in th1[i].items() if k != pid) / elapsed, 4)
            prog = program_stats((u1, u2)[i])
            if prog:
                out[f"{name}_program"] = {k: prog.get(k) for k in ("mode", "encoded", "encode_cpu_s", "forwarded")}
        for hop in HOPS:
            lat = [t - s for v in viewers if v["hop"] == hop for s, t in v["frames"].items()]
            out[f"{hop}_latency_ms"] = {"p50": pct(lat, 50), "p95": pct(lat, 95), "frames": len(lat)}
        if viewers:
            for name, (a, b) in {"hop1": ("origin", "relay1"), "hop2": ("relay1", "relay2"),
                                 "two_hops": ("origin", "relay2")}.items():
                d = hop_delays(viewers, a, b)
                out[f"{name}_added_ms"] = {"p50": pct(d, 50), "p95": pct(d, 95), "frames": len(d)}
    finally:
        stop(procs)
        out["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


AB_KEYS = ("relay1_cpu_per_s", "relay2_cpu_per_s", "relay1_loop_cpu_per_s", "relay2_loop_cpu_per_s")


def ab_summary(runs: dict[str, list[dict]]) -> dict:
    """Per tree, each CPU figure and each hop's added p95 over its rounds, in run order."""
    out = {}
    for tree, rs in runs.items():
        out[tree] = {k: [r.get(k) for r in rs] for k in AB_KEYS}
        for hop in ("hop1_added_ms", "hop2_added_ms", "two_hops_added_ms"):
            out[tree][hop.replace("_ms", "_p95_ms")] = [(r.get(hop) or {}).get("p95") for r in rs]
    return out


def controller(args) -> dict:
    tmp = tempfile.mkdtemp(prefix="bench-relay-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "COUNCILCAST_SECRETARIAT_TOKEN": SECRETARIAT, "COUNCILCAST_STUDIO_TOKEN": "bench-studio",
           "COUNCILCAST_LOG_LEVEL": "WARNING"}
    started = time.time()
    result: dict = {"bench": "relay", "camera": "1280x720 30 fps VP8 1.5 Mbit/s + Opus", "window_s": args.window,
                    "viewers_per_hop": args.viewers,
                    "machine": f"{os.cpu_count()} cores, shared with other engineers' test runs; loopback only",
                    "load_before": os.getloadavg()[0]}
    origin = subprocess.Popen([sys.executable, "-m", "councilcast", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--db", f"{tmp}/origin.db"], env=env, cwd=str(ROOT),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: get_json(url + "/api/health"), 30, "origin up")
        # what a councilcast server costs with nothing on air (scheduler, loops): part of each relay's figure
        import psutil

        ps = psutil.Process(origin.pid)
        time.sleep(1.0)
        c0, t0 = sum(ps.cpu_times()[:2]), time.time()
        time.sleep(3.0)
        result["server_idle_cpu_per_s"] = round((sum(ps.cpu_times()[:2]) - c0) / (time.time() - t0), 4)
        req = urllib.request.Request(url + "/api/channels/central/camera", method="POST",
                                     data=json.dumps({"width": 1280, "height": 720, "fps": 30}).encode(),
                                     headers={"Authorization": f"Bearer {SECRETARIAT}",
                                              "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        if args.ab:
            runs: dict[str, list[dict]] = {t: [] for t in args.ab}
            for n in range(args.rounds):
                for k, tree in enumerate(args.ab):
                    runs[tree].append(run_mode("forward", url, tmp, env, args, Path(tree), f"-{k}-{n}"))
            result["ab"] = ab_summary(runs)
            result["runs"] = runs
        else:
            modes = ["forward"] + ([] if args.no_baseline else ["decode"])
            result["modes"] = [run_mode(m, url, tmp, env, args) for m in modes]
    finally:
        stop([origin])
    result["load_after"] = os.getloadavg()[0]
    result["elapsed_s"] = round(time.time() - started, 1)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--window", type=float, default=10.0, help="seconds measured per mode (default 10)")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds after the viewers are in, before the window")
    ap.add_argument("--viewers", type=int, default=1, help="decoding viewers at each of origin, relay 1, relay 2")
    ap.add_argument("--no-baseline", action="store_true", help="skip the decoding relays (the old path)")
    ap.add_argument("--py-spy", dest="py_spy", metavar="DIR", help="py-spy raw profiles of each relay over the window")
    ap.add_argument("--perf", metavar="DIR", help="perf record -g of each relay over the window")
    ap.add_argument("--ab", nargs=2, metavar=("TREE_A", "TREE_B"),
                    help="forwarding relays from two trees in turn, behind this tree's origin")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of --ab (default 3)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--urls", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--end", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--decode-relay", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--origin", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        asyncio.run(asyncio.wait_for(worker(args), timeout=WORKER_TIMEOUT_S))
        return 0
    if args.decode_relay:
        asyncio.run(decode_relay(args.decode_relay, args.origin))
        return 0
    print(json.dumps(controller(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
