#!/usr/bin/env python
"""Benchmark the broadcast fan-out against aiortc's MediaRelay, on loopback, in one run.

What runs:

- the councilcast server (``python -m councilcast serve``) with the synthetic camera live on
  ``central`` at 1280x720, 30 fps (VP8 + Opus encoded once, packets fanned out);
- a baseline server in this file: the same camera served through aiortc's ``MediaRelay``,
  where every viewer's ``RTCRtpSender`` encodes for itself;
- load workers (separate processes): aiortc WHEP viewers that do ICE, DTLS and SRTP
  set-up for real but count RTP packets as they reach the socket instead of decrypting
  and decoding them (sequence numbers are in the clear), plus a few viewers that decode
  everything and read the camera's burnt-in clock.

For N = 10, 50, 100, 200 viewers (``--quick``: 10, 50) it measures, over a fixed window,
the server process's CPU seconds (user + system, all threads) minus the same with no
viewer, per viewer-second; RTP packets lost (gaps in each viewer's sequence numbers);
time from POST to first packet (counting viewers) and to first decoded frame (decoding
viewers); capture-to-decode latency (decoding viewers, from the burnt-in clock).
It also times the three steps of the per-packet path (header rewrite, SRTP protect,
UDP send) in isolation.

Prints ONE JSON line. Everything is bounded: each step has a fixed window and a
deadline, and every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import free_port, percentile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STUDIO = "bench-studio-token"
SECRETARIAT = "bench-secretariat-token"
WORKER_TIMEOUT_S = 240  # a worker that has not finished by then gives up (joins + window + leaving)


def pct(values, q):
    return percentile(values, q, 1)


# =============================================================================== workers
class SeqCounter:
    """RTP packets per SSRC as they reach the socket: received count and sequence span."""

    def __init__(self):
        self.first_at: float | None = None
        self.streams: dict[bytes, list[int]] = {}  # ssrc -> [last_seq, cycles, first_ext, max_ext, received]

    def packet(self, data: bytes) -> None:
        if self.first_at is None:
            self.first_at = time.time()
        ssrc = data[8:12]
        seq = (data[2] << 8) | data[3]
        st = self.streams.get(ssrc)
        if st is None:
            self.streams[ssrc] = [seq, 0, seq, seq, 1]
            return
        last, cycles = st[0], st[1]
        if seq < last and last - seq > 0x8000:
            cycles += 0x10000
        elif seq > last and seq - last > 0x8000:  # a late packet from before a wrap
            ext = seq + cycles - 0x10000
            st[4] += 1
            return
        ext = seq + cycles
        st[0], st[1] = seq, cycles
        if ext > st[3]:
            st[3] = ext
        st[4] += 1

    def snapshot(self) -> dict[bytes, tuple[int, int]]:
        return {k: (v[3], v[4]) for k, v in self.streams.items()}


def install_counting_hook():
    """Make aioice hand RTP datagrams to a per-connection counter instead of the DTLS layer."""
    import aioice.ice as ice

    original = ice.StunProtocol.datagram_received

    def datagram_received(self, data, addr):
        counter = self.__dict__.get("bench_counter")
        if counter is not None and len(data) > 12 and 127 < data[0] < 192 and not 192 <= data[1] <= 223:
            counter.packet(data)
            return
        original(self, data, addr)

    ice.StunProtocol.datagram_received = datagram_received


async def worker(args) -> dict:
    import aiohttp
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from broadcast.ice import configuration
    from broadcast.synthetic import read_clock

    if not args.decode:
        install_counting_hook()
    viewers = []
    out = {"viewers": 0, "failed": 0, "first_ms": [], "latency_ms": [], "lost": 0, "received": 0, "expected": 0}

    async def one(http, i):
        pc = RTCPeerConnection(configuration([]))  # no STUN: loopback, and no name looked up per peer
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        counter = SeqCounter()
        if not args.decode:
            conn = pc.getTransceivers()[0].receiver.transport.transport._connection
            for proto in conn._protocols:
                proto.bench_counter = counter
        t0 = time.time()
        try:
            async with http.post(f"{args.url}/whep/{args.channel}", data=pc.localDescription.sdp,
                                 headers={"Content-Type": "application/sdp"}) as r:
                if r.status != 201:
                    raise RuntimeError(f"{r.status} {await r.text()}")
                location = args.url + r.headers["Location"] if r.headers["Location"].startswith("/") else r.headers["Location"]
                answer = await r.text()
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        except Exception as exc:
            out["failed"] += 1
            out.setdefault("errors", []).append(repr(exc)[:200])
            await pc.close()
            return
        v = {"pc": pc, "counter": counter, "t0": t0, "location": location, "first": None, "lat": []}
        viewers.append(v)
        if args.decode:
            v["task"] = asyncio.ensure_future(decode_loop(v))

    async def decode_loop(v):
        track = next(t.receiver.track for t in v["pc"].getTransceivers() if t.kind == "video")
        while True:
            frame = await track.recv()
            now = time.time()
            if v["first"] is None:
                v["first"] = now
            if args.start <= now <= args.end:
                stamp = read_clock(frame)
                if stamp is not None:
                    v["lat"].append(now * 1000 - stamp)

    conn = aiohttp.TCPConnector(limit=20)
    async with aiohttp.ClientSession(connector=conn) as http:
        batch = 10
        for i in range(0, args.viewers, batch):
            await asyncio.gather(*(one(http, j) for j in range(i, min(args.viewers, i + batch))))
        out["viewers"] = len(viewers)
        # Tell the controller we are in, and wait for the window it picks for everyone.
        print("READY", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        args.start, args.end = (float(x) for x in line.split())
        await asyncio.sleep(max(0.0, args.start - time.time()))
        snap0 = [v["counter"].snapshot() for v in viewers]
        await asyncio.sleep(max(0.0, args.end - time.time()))
        snap1 = [v["counter"].snapshot() for v in viewers]
        for v, a, b in zip(viewers, snap0, snap1):
            for ssrc, (mx1, rc1) in b.items():
                mx0, rc0 = a.get(ssrc, (None, 0))
                if mx0 is None:
                    continue  # a stream that started inside the window: not counted
                expected, received = mx1 - mx0, rc1 - rc0
                out["expected"] += expected
                out["received"] += received
                out["lost"] += max(0, expected - received)
            first = v["first"] if args.decode else v["counter"].first_at
            if first is not None:
                out["first_ms"].append(round((first - v["t0"]) * 1000, 1))
            out["latency_ms"] += [round(x, 1) for x in v["lat"]]
        print(json.dumps(out), flush=True)  # the figures first; then leave, politely but bounded

        async def leave(v):
            if "task" in v:
                v["task"].cancel()
            try:
                async with http.delete(v["location"]):
                    pass
            except aiohttp.ClientError:
                pass
            await v["pc"].close()

        try:
            await asyncio.wait_for(asyncio.gather(*(leave(v) for v in viewers), return_exceptions=True), 20)
        except asyncio.TimeoutError:
            pass
    return out


# ========================================================================= baseline server
async def baseline_server(port: int, width: int, height: int) -> None:
    """WHEP through aiortc's MediaRelay: one camera, one encoder per viewer (the usual aiortc way)."""
    from aiohttp import web
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRelay
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    from broadcast.ice import configuration
    from broadcast.synthetic import SyntheticCamera

    cam = SyntheticCamera("central", width, height)

    class CamTrack(VideoStreamTrack):
        def __init__(self):
            super().__init__()
            self.i = 0

        async def recv(self):
            pts, tb = await self.next_timestamp()
            f = cam.make_video_frame(self.i)
            self.i += 1
            f.pts, f.time_base = pts, tb
            return f

    class ToneTrack(AudioStreamTrack):
        def __init__(self):
            super().__init__()
            self.i = 0

        async def recv(self):
            f = cam.make_audio_frame(self.i)
            self.i += 1
            if not hasattr(self, "_start"):
                self._start = time.time()
            wait = self._start + self.i * 0.02 - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            return f

    relay = MediaRelay()
    video, audio = CamTrack(), ToneTrack()
    pcs: dict[str, RTCPeerConnection] = {}

    # The camera runs whether or not anyone watches, as on our server.
    async def keep_camera():
        sub = relay.subscribe(video, buffered=False)
        while True:
            await sub.recv()

    async def whep(request):
        pc = RTCPeerConnection(configuration([]))  # no STUN: loopback, and no name looked up per peer
        await pc.setRemoteDescription(RTCSessionDescription(await request.text(), "offer"))
        pc.addTrack(relay.subscribe(video, buffered=False))
        pc.addTrack(relay.subscribe(audio, buffered=False))
        await pc.setLocalDescription(await pc.createAnswer())
        sid = os.urandom(8).hex()
        pcs[sid] = pc
        return web.Response(status=201, text=pc.localDescription.sdp, content_type="application/sdp",
                            headers={"Location": f"/whep/central/{sid}"})

    async def leave(request):
        pc = pcs.pop(request.match_info["sid"], None)
        if pc:
            await pc.close()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/whep/central", whep)
    app.router.add_delete("/whep/central/{sid}", leave)
    app.router.add_get("/health", lambda r: web.Response(text="ok"))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    task = asyncio.ensure_future(keep_camera())
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    task.cancel()
    for pc in pcs.values():
        await pc.close()
    await runner.cleanup()


# ============================================================================ controller
def wait_http(url: str, timeout: float = 30) -> None:
    import urllib.request

    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


def start_worker(url: str, viewers: int, decode: bool) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", "--url", url, "--viewers", str(viewers)]
    if decode:
        cmd.append("--decode")
    # The load generator yields to the server it measures (nice 5): on a small shared machine
    # the server's camera and encoder threads would otherwise queue behind the viewers.
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.PIPE, preexec_fn=lambda: os.nice(5))


def wait_ready(procs, deadline: float) -> None:
    """Read each worker's stdout up to its READY line (bounded by ``deadline``)."""
    import select

    for p in procs:
        while time.time() < deadline:
            r, _, _ = select.select([p.stdout], [], [], max(0.1, deadline - time.time()))
            if not r:
                break
            line = p.stdout.readline()
            if not line or line.strip() == b"READY":
                break


def collect(procs, deadline: float) -> list[dict]:
    results = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
        lines = [ln for ln in (out or b"").decode().splitlines() if ln.startswith("{")]
        results.append(json.loads(lines[0]) if lines else {"error": "no output (timeout or crash)"})
    return results


def measure(server_pid: int, url: str, counting: int, decoding: int, window: float, per_proc: int) -> dict:
    import psutil

    proc = psutil.Process(server_pid)
    procs = []
    left = counting
    while left > 0:
        procs.append(start_worker(url, min(per_proc, left), False))
        left -= min(per_proc, left)
    wait_ready(procs, time.time() + 20 + counting * 0.25)
    if decoding:  # newcomers joining a crowd that is already watching: their first frame is the figure
        procs.append(start_worker(url, decoding, True))
        wait_ready(procs[-1:], time.time() + 30)
    time.sleep(1.0)
    start = time.time() + 0.5
    end = start + window
    for p in procs:
        try:
            p.stdin.write(f"{start!r} {end!r}\n".encode())
            p.stdin.flush()
        except BrokenPipeError:
            pass
    time.sleep(max(0.0, start - time.time()))
    c0 = proc.cpu_times()
    m0 = main_thread_cpu(proc)
    f0 = fanout_counters(url)
    time.sleep(max(0.0, end - time.time()))
    c1 = proc.cpu_times()
    m1 = main_thread_cpu(proc)
    f1 = fanout_counters(url)
    results = collect(procs, end + 45)
    wait_sessions_gone(url)
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    merged = {"viewers": 0, "failed": 0, "first_ms": [], "latency_ms": [], "lost": 0, "received": 0, "expected": 0,
              "decoding_first_ms": []}
    for r, p in zip(results, procs):
        if "error" in r:
            merged["failed"] += 1
            merged.setdefault("errors", []).append(r["error"])
            continue
        decoding_proc = "--decode" in p.args
        merged["viewers"] += r["viewers"]
        merged["failed"] += r["failed"]
        merged["lost"] += r["lost"]
        merged["received"] += r["received"]
        merged["expected"] += r["expected"]
        (merged["decoding_first_ms"] if decoding_proc else merged["first_ms"]).extend(r["first_ms"])
        merged["latency_ms"] += r["latency_ms"]
        if not decoding_proc:
            merged["counting_viewers"] = merged.get("counting_viewers", 0) + r["viewers"]
        if r.get("errors"):
            merged.setdefault("errors", []).extend(r["errors"][:3])
    merged["server_cpu_s"] = round(cpu, 3)
    merged["server_main_thread_cpu_s"] = round(m1 - m0, 3)
    if f0 and f1:
        merged["fanout_s"] = f1[0] - f0[0]
        merged["fanout_packets"] = f1[1] - f0[1]
        merged["server_video_fps"] = round((f1[2] - f0[2]) / window, 1)
    merged["window_s"] = window
    return merged


def wait_sessions_gone(url: str, timeout: float = 30) -> None:
    """Before the next step, wait until the server has let every viewer of this one go."""
    import urllib.request

    end = time.time() + timeout
    while time.time() < end:
        try:
            with urllib.request.urlopen(url + "/api/broadcast/stats", timeout=5) as r:
                if json.load(r)["sessions"]["whep"] == 0:
                    return
        except OSError:
            return  # the baseline server has no stats: its viewers DELETEd already
        time.sleep(0.5)


def main_thread_cpu(proc) -> float:
    """CPU seconds of the event-loop thread (fan-out, RTCP, ICE, HTTP, camera drawing; not the encoder)."""
    for t in proc.threads():
        if t.id == proc.pid:
            return t.user_time + t.system_time
    return 0.0


def fanout_counters(url: str) -> tuple[float, int, int] | None:
    """(seconds in the per-packet path, packets sent, VP8 frames encoded) over the server's streams."""
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/api/broadcast/stats", timeout=5) as r:
            stats = json.load(r)
    except OSError:
        return None  # the baseline server has no such counters
    secs = pkts = 0
    frames = 0
    for ch in stats["channels"].values():
        for codec, st in ((ch.get("program") or {}).get("streams") or {}).items():
            secs += st["fanout_s"]
            pkts += st["emitted"]
            frames += st["frames"] if codec == "vp8" else 0
    return secs, pkts, frames


def fit_slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of CPU per second against viewers."""
    if len(points) < 2:
        return None
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else None


def per_packet_profile(n: int = 20000) -> dict:
    """Time the three steps of the per-packet path in isolation (us per 1,200-byte packet)."""
    import struct

    from pylibsrtp import Policy, Session

    key = os.urandom(30)
    policy = Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=Policy.SRTP_PROFILE_AES128_CM_SHA1_80)
    session = Session(policy=policy)
    header = bytes([0x90, 96]) + bytes(10) + struct.pack("!HH", 0xBEDE, 1) + bytes([0x10, ord("0"), 0, 0])
    payload = os.urandom(1200)
    seq_ts = struct.Struct("!HI")
    t = time.perf_counter()
    for i in range(n):
        h = bytearray(header)
        h[1] = 96
        seq_ts.pack_into(h, 2, i & 0xFFFF, i * 3000 & 0xFFFFFFFF)
        data = bytes(h) + payload
    rewrite = (time.perf_counter() - t) / n
    packets = []
    for i in range(n):
        h = bytearray(header)
        seq_ts.pack_into(h, 2, i & 0xFFFF, i * 3000 & 0xFFFFFFFF)
        packets.append(bytes(h) + payload)
    t = time.perf_counter()
    protected = [session.protect(p) for p in packets]
    protect = (time.perf_counter() - t) / n
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setblocking(False)
    addr = rx.getsockname()
    sent = 0
    t = time.perf_counter()
    for i, p in enumerate(protected):
        try:
            tx.sendto(p, addr)
            sent += 1
        except BlockingIOError:
            pass
        if i % 200 == 199:  # drain so the receive buffer never fills
            rx.setblocking(False)
            try:
                while True:
                    rx.recv(2048)
            except BlockingIOError:
                pass
    send = (time.perf_counter() - t) / n
    rx.close()
    tx.close()
    return {"header_rewrite_us": round(rewrite * 1e6, 2), "srtp_protect_us": round(protect * 1e6, 2),
            "udp_sendto_us": round(send * 1e6, 2), "total_us": round((rewrite + protect + send) * 1e6, 2),
            "note": "sendto time includes draining the receiver every 200 packets"}


def summarize(step: dict, idle_cpu_per_s: float, idle_main_per_s: float = 0.0) -> dict:
    n = step["viewers"]
    window = step["window_s"]
    marginal = step["server_cpu_s"] - idle_cpu_per_s * window
    marginal_main = step.get("server_main_thread_cpu_s", 0.0) - idle_main_per_s * window
    counting = step.get("counting_viewers", n)
    out = {
        "viewers": n,
        "failed": step["failed"],
        "server_cpu_s": step["server_cpu_s"],
        "server_main_thread_cpu_s": step.get("server_main_thread_cpu_s"),
        "server_cpu_s_per_viewer_s": round(marginal / (n * window), 6) if n else None,
        "main_thread_cpu_s_per_viewer_s": round(marginal_main / (n * window), 6) if n else None,
        "server_video_fps": step.get("server_video_fps"),
        "packets_per_viewer_s": round(step["expected"] / (counting * window), 1) if counting else None,
        "packets_expected": step["expected"],
        "packets_lost": step["lost"],
        "loss_pct": round(100 * step["lost"] / step["expected"], 3) if step["expected"] else None,
        "first_packet_ms_p50": pct(step["first_ms"], 50),
        "first_packet_ms_p95": pct(step["first_ms"], 95),
        "newcomer_first_decoded_frame_ms": sorted(step["decoding_first_ms"]) or None,
        "latency_ms_p50": pct(step["latency_ms"], 50),
        "latency_ms_p95": pct(step["latency_ms"], 95),
        "latency_samples": len(step["latency_ms"]),
    }
    if step.get("fanout_packets"):
        out["fanout_packets"] = step["fanout_packets"]
        out["fanout_loop_us_per_packet"] = round(step["fanout_s"] / step["fanout_packets"] * 1e6, 2)
        out["marginal_cpu_us_per_packet"] = round(marginal / step["fanout_packets"] * 1e6, 2)
    if step.get("errors"):
        out["errors"] = step["errors"][:3]
    return out


def controller(args) -> dict:
    steps = [10, 50] if args.quick else [10, 50, 100, 200]
    window = 4.0 if args.quick else 8.0
    per_proc = 50
    tmp = tempfile.mkdtemp(prefix="bench-broadcast-")
    port, bport = free_port(), free_port()
    url, burl = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bport}"
    # every viewer of the benchmark comes from 127.0.0.1: lift the per-address cap (50 by
    # default, meant for one room's screens behind one address) above the largest step
    env = {**os.environ, "COUNCILCAST_STUDIO_TOKEN": STUDIO, "COUNCILCAST_SECRETARIAT_TOKEN": SECRETARIAT,
           "COUNCILCAST_LOG_LEVEL": "WARNING", "COUNCILCAST_MEDIA_MAX_SESSIONS_PER_ADDRESS": "1000",
           "COUNCILCAST_MEDIA_MAX_SESSIONS": "1000"}
    started = time.time()
    result: dict = {"bench": "broadcast", "camera": "1280x720 30 fps VP8 1.5 Mbit/s + Opus", "window_s": window,
                    "machine": f"{os.cpu_count()} cores, shared with other engineers' test runs; loopback only",
                    "load": "counting viewers: aiortc ICE+DTLS-SRTP set-up, RTP counted at the socket, not decrypted "
                            "or decoded; decoding viewers: full aiortc receive+decode"}
    server = subprocess.Popen([sys.executable, "-m", "councilcast", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--db", f"{tmp}/bench.db"], env=env, cwd=str(ROOT),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    baseline = None
    try:
        wait_http(url + "/api/health")
        import urllib.request

        req = urllib.request.Request(url + "/api/channels/central/camera", method="POST",
                                     data=json.dumps({"width": 1280, "height": 720, "fps": 30}).encode(),
                                     headers={"Authorization": f"Bearer {SECRETARIAT}",
                                              "Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        time.sleep(2.0)
        import psutil

        ps = psutil.Process(server.pid)
        c0, m0 = ps.cpu_times(), main_thread_cpu(ps)
        time.sleep(window)
        c1, m1 = ps.cpu_times(), main_thread_cpu(ps)
        idle = ((c1.user + c1.system) - (c0.user + c0.system)) / window
        idle_main = (m1 - m0) / window
        result["fanout_idle_cpu_per_s"] = round(idle, 3)
        result["fanout_idle_main_thread_cpu_per_s"] = round(idle_main, 3)
        fan = []
        for n in steps:
            step = measure(server.pid, url, n, 2 if n == steps[0] or n == steps[-1] else 0, window, per_proc)
            fan.append(summarize(step, idle, idle_main))
        result["fanout"] = fan
        # Per-viewer cost = slope of CPU/s against viewers (least squares over idle and every step).
        # The event-loop thread does all per-viewer work; the encoder thread's cost does not depend
        # on the number of viewers but varies from window to window, so it only adds noise.
        slope_total = fit_slope([(0, idle)] + [(s["viewers"], s["server_cpu_s"] / window) for s in fan])
        slope = fit_slope([(0, idle_main)] + [(s["viewers"], s["server_main_thread_cpu_s"] / window) for s in fan])
        result["fanout_cpu_s_per_viewer_s"] = round(slope, 6) if slope else None
        result["fanout_viewers_per_core"] = round(1 / slope) if slope and slope > 0 else None
        result["fanout_cpu_s_per_viewer_s_whole_process_fit"] = round(slope_total, 6) if slope_total else None
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)

        # Baseline: MediaRelay, one encoder per viewer.
        baseline = subprocess.Popen([sys.executable, __file__, "--baseline-server", str(bport)], cwd=str(ROOT),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(burl + "/health")
        time.sleep(2.0)
        bs = psutil.Process(baseline.pid)
        c0 = bs.cpu_times()
        time.sleep(window)
        c1 = bs.cpu_times()
        bidle = ((c1.user + c1.system) - (c0.user + c0.system)) / window
        bstep = summarize(measure(baseline.pid, burl, args.baseline_viewers, 0, window, per_proc), bidle)
        bstep["idle_cpu_per_s"] = round(bidle, 3)
        result["baseline_mediarelay"] = bstep
        base_per = bstep["server_cpu_s_per_viewer_s"]
        result["baseline_viewers_per_core"] = round(1 / base_per, 1) if base_per else None
        if base_per and slope and slope > 0:
            result["cpu_ratio_baseline_over_fanout"] = round(base_per / slope, 1)
        result["per_packet_path"] = per_packet_profile()
    finally:
        for p in (server, baseline):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    result["elapsed_s"] = round(time.time() - started, 1)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="N = 10 and 50 only, 4 s windows")
    ap.add_argument("--baseline-viewers", type=int, default=2,
                    help="viewers of the MediaRelay baseline (each costs about 0.3 core at 720p)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--decode", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--channel", default="central", help=argparse.SUPPRESS)
    ap.add_argument("--viewers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--start", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--end", type=float, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        asyncio.run(asyncio.wait_for(worker(args), timeout=WORKER_TIMEOUT_S))
        return 0
    if args.baseline_server:
        asyncio.run(baseline_server(args.baseline_server, 1280, 720))
        return 0
    print(json.dumps(controller(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
