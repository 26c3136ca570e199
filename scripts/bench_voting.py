#!/usr/bin/env python
"""Benchmark of synchronized voting (issue 4), on loopback, in one run. Prints ONE JSON line.

    python scripts/bench_voting.py [--quick] [--clients N] [--workers K]

What runs: one server process (``python -m councilcast serve`` on a fresh SQLite file) and
K load processes (a process may hold at most 20,000 open files here: 15,000 sockets are
spread over 4 processes). Each load process opens its share of WebSocket screens with a
minimal RFC 6455 client (asyncio protocol; answers pings, masks its frames) and sends
HTTP requests with aiohttp. One screen stands for one assembly.

Phases and figures (the server's own CPU seconds, from /proc via psutil, beside each
wall time, since the load generator shares the 2 cores):

1. register N assemblies (HTTP), open N screens;
2. clock sync: every screen does 2 (then 5) NTP-style exchanges at random moments of 5 s
   and keeps the offset of its lowest-RTT sample; client and server share this machine's
   clock, so the true offset is 0 and |estimate| is the error (p50/p99), counted for the
   exchanges completed within the 5 s;
3. fan-out: a ``ping`` through the naive loop (``await ws.send_str`` per socket: the
   baseline), then through the shared-frame path; then a round scheduled 1.5 s ahead
   whose ``round.opened`` goes to all N: time from the server's send stamp to each
   screen's receipt (p50/p99/max) and the server's time in the publish call;
4. counts: every assembly posts its count (bearer token, 201 after COMMIT, group commit);
   counts acknowledged per second and the number of commits (the batch size);
5. close: POST /close; close-to-result at the server (commit and publish) and at every
   screen (``round.result`` received minus the close time);
6. ballots: a round where some assemblies vote by one-time codes; ballots per second.

Bars (issue 4): opened at all 15,000 within 500 ms p99; sync error < 20 ms p99;
>= 2,000 durable counts/s; result within 1 s of the close. Everything is bounded: each
phase has a deadline, and every process started is stopped before the script exits.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import PipedProcesses, free_port, percentile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRETARIAT = "bench-secretariat-token"
SEC = {"Authorization": f"Bearer {SECRETARIAT}"}
MEMBERS = 1000


def pct(values, q):
    return percentile(values, q, 2)


def _merge(dicts) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            out[str(k)] = out.get(str(k), 0) + v
    return out


def now_ms() -> float:
    return time.time() * 1000.0


# -- the load process: minimal WebSocket screens + HTTP ----------------------------------------------
class Screen(asyncio.Protocol):
    """A WebSocket client that records when each text frame arrives."""

    def __init__(self, host: str, port: int, connected: asyncio.Future):
        self.host, self.port = host, port
        self.connected = connected
        self.buf = bytearray()
        self.upgraded = False
        self.transport = None
        self.messages: list[tuple[float, bytes]] = []  # (receipt ms, payload) except sync replies
        self.sync: list[tuple[float, float, float, float]] = []
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET /ws HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                        .encode())

    def connection_lost(self, exc):
        self.closed = True
        if not self.connected.done():
            self.connected.set_exception(ConnectionError("closed during handshake"))

    def send(self, payload: bytes, opcode: int = 0x1) -> None:
        mask = os.urandom(4)
        n = len(payload)
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x80 | opcode, 0xFE, n)
        key = (mask * ((n + 3) // 4))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big") if n else b""
        self.transport.write(header + mask + masked)

    def data_received(self, data):
        self.received(now_ms(), data)

    def received(self, t: float, data: bytes) -> None:
        """``data`` read from the socket at ``t`` (ms): the handshake, then frames."""
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.connected.set_exception(ConnectionError(bytes(self.buf[:80]).decode(errors="replace")))
                self.transport.close()
                return
            del self.buf[:end + 4]
            self.upgraded = True
        buf = self.buf
        while len(buf) >= 2:
            op, ln = buf[0] & 0x0F, buf[1] & 0x7F
            pos = 2
            if ln == 126:
                if len(buf) < 4:
                    return
                ln, pos = struct.unpack_from("!H", buf, 2)[0], 4
            elif ln == 127:
                if len(buf) < 10:
                    return
                ln, pos = struct.unpack_from("!Q", buf, 2)[0], 10
            if len(buf) < pos + ln:
                return
            payload = bytes(buf[pos:pos + ln])
            del buf[:pos + ln]
            if op == 0x9:  # ping -> pong
                self.send(payload, 0xA)
            elif op == 0x8:
                self.transport.close()
            elif op == 0x1:
                if payload.startswith(b'{"type":"sync"'):
                    m = json.loads(payload)
                    self.sync.append((m["t0"], m["t1"], m["t2"], t))
                else:
                    if not self.connected.done():
                        self.connected.set_result(t)  # the hello
                    self.messages.append((t, payload))


async def open_screens(host, port, n, parallel=64) -> list[Screen]:
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(parallel)
    screens: list[Screen] = []

    async def one():
        async with sem:
            for attempt in range(5):
                fut = loop.create_future()
                try:
                    _, proto = await loop.create_connection(lambda: Screen(host, port, fut), host, port)
                    await asyncio.wait_for(fut, 20)
                    screens.append(proto)
                    return
                except (OSError, asyncio.TimeoutError, ConnectionError):
                    await asyncio.sleep(0.2 * (attempt + 1))
    await asyncio.gather(*(one() for _ in range(n)))
    return screens


async def do_sync(screens, duration=5.0, count=5):
    """Each screen sends ``count`` sync requests at random moments of ``duration`` s.

    As screens do in a room: each on its own schedule (clock.js sends a burst at connect,
    then one every 10 s), not in lockstep with 15,000 others.
    """
    import random

    from voting.clock import estimate_offset

    rng = random.Random(1)
    t_end_ms = now_ms() + duration * 1000
    loop = asyncio.get_running_loop()

    def send(sc):
        if not sc.closed:
            sc.send(('{"type":"sync","t0":%r}' % now_ms()).encode())
    base = loop.time()
    for sc in screens:  # one timer per exchange, so receiving interleaves with sending
        for _ in range(count):
            loop.call_at(base + rng.uniform(0, duration), send, sc)
    await asyncio.sleep(duration + 2.0)
    errors, rtts = [], []
    for sc in screens:
        # the estimate after 5 s: the exchanges that completed by then
        sc.sync = [x for x in sc.sync if x[3] <= t_end_ms]
        if sc.sync:
            off, rtt = estimate_offset(sc.sync)
            errors.append(abs(off))
            rtts.append(rtt)
    return errors, rtts


def arrivals(screens, match: bytes) -> tuple[list[float], int]:
    """Receipt minus the server's send stamp (ms) of the first message containing ``match``."""
    lat, missing = [], 0
    for sc in screens:
        for t, payload in sc.messages:
            if match in payload:
                lat.append(t - json.loads(payload)["sent_at"])
                break
        else:
            missing += 1
    return lat, missing


def arrival_times(screens, match: bytes) -> list[float]:
    out = []
    for sc in screens:
        for t, payload in sc.messages:
            if match in payload:
                out.append(t)
                break
    return out


async def post_all(host, port, items, concurrency=16):
    """POST each (path, headers, body) over ``concurrency`` keep-alive HTTP/1.1 connections.

    A minimal client (asyncio streams, one request at a time per connection) so that the
    load generator spends little of the CPU it shares with the server.
    Returns (ok, failed, t_first, t_last, latencies ms, {status: count} of failures).
    """
    ok = failed = 0
    lat = []
    statuses: dict = {}
    queue = list(items)
    t0 = time.time()

    async def runner():
        nonlocal ok, failed
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while queue:
                path, headers, body = queue.pop()
                data = json.dumps(body).encode()
                head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                t = time.perf_counter()
                writer.write((f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
                              f"Content-Length: {len(data)}\r\n{head}\r\n").encode() + data)
                status_line = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                await reader.readexactly(length)
                status = int(status_line.split()[1])
                if status in (200, 201):
                    ok += 1
                else:
                    failed += 1
                    statuses[status] = statuses.get(status, 0) + 1
                lat.append((time.perf_counter() - t) * 1000)
        finally:
            writer.close()
    await asyncio.wait_for(asyncio.gather(*(runner() for _ in range(concurrency))), 120)
    return ok, failed, t0, time.time(), lat, statuses


async def worker_main(conn, host, port, n):
    loop = asyncio.get_running_loop()
    url = f"http://{host}:{port}"
    screens: list[Screen] = []
    while True:
        cmd, *args = await loop.run_in_executor(None, conn.recv)
        if cmd == "connect":
            t = time.time()
            screens = await open_screens(host, port, n)
            conn.send(("connected", len(screens), time.time() - t))
        elif cmd == "sync":
            for sc in screens:
                sc.sync = []
            conn.send(("sync", *(await do_sync(screens, count=args[0]))))
        elif cmd == "arrivals":
            conn.send(("arrivals", *arrivals(screens, args[0].encode())))
        elif cmd == "times":
            conn.send(("times", arrival_times(screens, args[0].encode())))
        elif cmd == "post":
            conn.send(("post", *(await post_all(host, port, args[0], args[1]))))
        elif cmd == "stop":
            for sc in screens:
                sc.transport.close()
            conn.send(("stopped",))
            return


def worker_entry(conn, host, port, n):
    try:
        asyncio.run(worker_main(conn, host, port, n))
    except (EOFError, KeyboardInterrupt):
        pass


# -- the driver --------------------------------------------------------------------------------------
class Workers(PipedProcesses):
    def __init__(self, host, port, n_clients, k):
        self.share = [n_clients // k + (1 if i < n_clients % k else 0) for i in range(k)]
        super().__init__(worker_entry, [(host, port, n) for n in self.share], timeout=180, stop_timeout=20)


def server_cpu(proc) -> float:
    t = proc.cpu_times()
    return t.user + t.system


async def run(args) -> dict:
    import aiohttp
    import psutil

    n, k = args.clients, args.workers
    tmp = tempfile.TemporaryDirectory(prefix="bench-voting-")
    port = free_port()
    host = "127.0.0.1"
    url = f"http://{host}:{port}"
    env = {**os.environ, "COUNCILCAST_SECRETARIAT_TOKEN": SECRETARIAT, "COUNCILCAST_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-m", "councilcast", "serve", "--host", host, "--port", str(port),
                               "--db", str(Path(tmp.name) / "bench.db")], env=env, cwd=str(ROOT),
                              stdout=subprocess.DEVNULL, stderr=open(Path(tmp.name) / "server.log", "wb"))
    workers = None
    out: dict = {"bench": "voting", "clients": n, "load_processes": k,
                 "machine": f"{os.cpu_count()} cores shared by the server, {k} load processes and other "
                            "engineers' tests running at the same time; figures are loopback"}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as s:
            for _ in range(200):
                try:
                    async with s.get(url + "/api/health") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
            proc = psutil.Process(server.pid)
            loop = asyncio.get_running_loop()

            # 1. assemblies and screens
            c0, t0 = server_cpu(proc), time.time()
            sem = asyncio.Semaphore(64)

            async def reg(i):
                async with sem, s.post(url + "/api/assemblies", headers=SEC,
                                       json={"name": f"GA {i}", "members": MEMBERS}) as r:
                    return await r.json()
            gas = await asyncio.gather(*(reg(i) for i in range(n)))
            out["register"] = {"n": n, "wall_s": round(time.time() - t0, 2),
                               "server_cpu_s": round(server_cpu(proc) - c0, 2)}
            workers = Workers(host, port, n, k)
            c0, t0 = server_cpu(proc), time.time()
            res = await loop.run_in_executor(None, workers.all, "connect")
            out["connect"] = {"screens": sum(r[1] for r in res), "wall_s": round(time.time() - t0, 2),
                              "server_cpu_s": round(server_cpu(proc) - c0, 2)}
            # 2. clock sync: 2 exchanges per screen in the first 5 s, then 5 (the load doubles)
            out["clock_sync"] = {}
            for count in (2, 5):
                c0, t0 = server_cpu(proc), time.time()
                res = await loop.run_in_executor(None, workers.all, "sync", count)
                errs = [e for r in res for e in r[1]]
                rtts = [x for r in res for x in r[2]]
                out["clock_sync"][f"{count}_exchanges"] = {
                    "screens_synced": len(errs), "exchanges_per_screen": count, "window_s": 5,
                    "sync_messages_per_s": round(count * n / 5), "error_ms_p50": pct(errs, 50),
                    "error_ms_p99": pct(errs, 99), "error_ms_max": pct(errs, 100), "best_rtt_ms_p50": pct(rtts, 50),
                    "best_rtt_ms_p99": pct(rtts, 99), "wall_s": round(time.time() - t0, 2),
                    "server_cpu_s": round(server_cpu(proc) - c0, 2)}
            await asyncio.sleep(1.0)
            # 3. fan-out: naive baseline, shared frame, then the real round.opened
            fan = {}
            for i, strategy in enumerate(("naive", "fast", "naive", "fast"), start=1):
                c0 = server_cpu(proc)
                async with s.post(url + "/api/events/ping", headers=SEC, json={"strategy": strategy, "n": i}) as r:
                    pr = await r.json()
                await asyncio.sleep(2.5)
                res = await loop.run_in_executor(None, workers.all, "arrivals", f'"n":{i},')
                lat = [x for r in res for x in r[1]]
                key = f"{strategy}_{'a' if i <= 2 else 'b'}"
                fan[key] = {"sent": pr["sent"], "received": len(lat), "missing": sum(r[2] for r in res),
                            "publish_wall_ms": round(pr["wall_s"] * 1000, 1),
                            "publish_cpu_ms": round(pr["cpu_s"] * 1000, 1),
                            "server_cpu_s_incl_http": round(server_cpu(proc) - c0, 3),
                            "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": pct(lat, 100)}
            best = {st: min((fan[f"{st}_a"], fan[f"{st}_b"]), key=lambda f: f["p99_ms"] or 1e9)
                    for st in ("naive", "fast")}
            from voting.rules import iso
            async with s.post(url + "/api/rounds", headers=SEC,
                              json={"title": "Bench", "options": ["A", "B", "C"], "duration_s": 600,
                                    "opens_at": iso(time.time() + 1.5)}) as r:
                rnd = await r.json()
            c0 = server_cpu(proc)
            await asyncio.sleep(4.0)
            res = await loop.run_in_executor(None, workers.all, "arrivals", '"type":"round.opened"')
            lat = [x for r in res for x in r[1]]
            fan["round_opened"] = {"received": len(lat), "missing": sum(r[2] for r in res),
                                   "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": pct(lat, 100),
                                   "server_cpu_s_window": round(server_cpu(proc) - c0, 3)}
            fan["baseline_ratio_p99"] = round(best["naive"]["p99_ms"] / max(best["fast"]["p99_ms"], 0.01), 2)
            fan["baseline_ratio_publish_cpu"] = round(
                (fan["naive_a"]["publish_cpu_ms"] + fan["naive_b"]["publish_cpu_ms"])
                / max(fan["fast_a"]["publish_cpu_ms"] + fan["fast_b"]["publish_cpu_ms"], 0.01), 2)
            fan["baseline_ratio_publish_wall"] = round(best["naive"]["publish_wall_ms"]
                                                       / max(best["fast"]["publish_wall_ms"], 0.01), 2)
            out["fan_out"] = fan
            # 4. counts from every assembly
            rid = rnd["id"]
            items = [(f"/api/rounds/{rid}/tallies", {"Authorization": f"Bearer {g['token']}"},
                      {"present": 900, "counts": {"A": 300 + i % 100, "B": 250 + i % 100, "C": i % 97},
                       "abstain": 5}) for i, g in enumerate(gas)]
            chunks, pos = [], 0
            for sh in workers.share:
                chunks.append((items[pos:pos + sh], 64))
                pos += sh
            async with s.get(url + "/api/voting/stats", headers=SEC) as r:
                commits0 = (await r.json())["commits"]
            c0, t0 = server_cpu(proc), time.time()
            res = await loop.run_in_executor(None, lambda: workers.all("post", per_process=chunks))
            wall = max(r[4] for r in res) - min(r[3] for r in res)
            ok = sum(r[1] for r in res)
            lat = [x for r in res for x in r[5]]
            async with s.get(url + "/api/voting/stats", headers=SEC) as r:
                commits = (await r.json())["commits"] - commits0
            out["counts"] = {"acknowledged": ok, "failed": sum(r[2] for r in res), "errors": _merge(r[6] for r in res),
                             "wall_s": round(wall, 2),
                             "per_s": round(ok / wall, 1), "ack_ms_p50": pct(lat, 50), "ack_ms_p99": pct(lat, 99),
                             "commits": commits, "mean_batch": round(ok / max(commits, 1), 1),
                             "server_cpu_s": round(server_cpu(proc) - c0, 2), "durability": "synchronous=FULL, WAL"}
            # 5. close -> result
            c0 = server_cpu(proc)
            t_close = now_ms()
            async with s.post(url + f"/api/rounds/{rid}/close", headers=SEC) as r:
                assert r.status == 200, await r.text()
            t_api = now_ms()
            await asyncio.sleep(3.0)
            async with s.get(url + "/api/voting/stats", headers=SEC) as r:
                lc = (await r.json())["last_close"]
            times = await loop.run_in_executor(None, workers.all, "times", '"type":"round.result"')
            got = [t - lc["closed_at"] * 1000 for r in times for t in r[1]]
            out["close_to_result"] = {
                "records": ok, "server_commit_ms": round((lc["committed_at"] - lc["closed_at"]) * 1000, 1),
                "server_published_ms": round((lc["published_at"] - lc["closed_at"]) * 1000, 1),
                "api_answer_ms": round(t_api - t_close, 1), "screens_received": len(got),
                "screens_p50_ms": pct(got, 50), "screens_p99_ms": pct(got, 99),
                "server_cpu_s": round(server_cpu(proc) - c0, 2)}
            # 6. individual ballots
            n_ballot_ga = max(1, min(args.ballots // MEMBERS, n))
            async with s.post(url + "/api/rounds", headers=SEC,
                              json={"title": "Ballots", "options": ["A", "B"], "duration_s": 600,
                                    "assemblies": [g["id"] for g in gas[:n_ballot_ga]]}) as r:
                rid2 = (await r.json())["id"]
            codes = []
            per = min(MEMBERS, args.ballots // n_ballot_ga)
            for g in gas[:n_ballot_ga]:
                async with s.post(url + f"/api/rounds/{rid2}/ballot-codes",
                                  headers={"Authorization": f"Bearer {g['token']}"}, json={"count": per}) as r:
                    codes += [c["code"] for c in (await r.json())["codes"]]
            items = [("/api/ballots", {}, {"code": c, "choice": "AB"[i % 2]}) for i, c in enumerate(codes)]
            chunks = [(items[i::k], 64) for i in range(k)]
            c0 = server_cpu(proc)
            res = await loop.run_in_executor(None, lambda: workers.all("post", per_process=chunks))
            wall = max(r[4] for r in res) - min(r[3] for r in res)
            okb = sum(r[1] for r in res)
            async with s.post(url + f"/api/rounds/{rid2}/close", headers=SEC) as r:
                res2 = (await r.json())["result"]
            out["ballots"] = {"cast": okb, "failed": sum(r[2] for r in res), "errors": _merge(r[6] for r in res),
                              "wall_s": round(wall, 2),
                              "per_s": round(okb / wall, 1), "server_cpu_s": round(server_cpu(proc) - c0, 2),
                              "counted_in_result": res2["votes_cast"]}
            async with s.get(url + "/api/voting/stats", headers=SEC) as r:
                st = await r.json()
                out["server_screens_at_end"] = st["screens"]
                out["sync_answered_by_fast_path"] = st["sync_fast_answers"]
            out["server_rss_mb"] = round(proc.memory_info().rss / 2**20)
    finally:
        if workers is not None:
            await asyncio.get_running_loop().run_in_executor(None, workers.stop)
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
        log_tail = (Path(tmp.name) / "server.log").read_text(errors="replace")[-2000:]
        if log_tail.strip():
            out["server_log_tail"] = log_tail
        tmp.cleanup()
    fo = out["fan_out"]
    out["bars"] = {
        "round_opened_p99_under_500ms": fo["round_opened"]["p99_ms"] is not None
        and fo["round_opened"]["p99_ms"] < 500 and fo["round_opened"]["missing"] == 0,
        "sync_error_p99_under_20ms_2_exchanges": out["clock_sync"]["2_exchanges"]["error_ms_p99"] < 20
        and out["clock_sync"]["2_exchanges"]["screens_synced"] == n,
        "sync_error_p99_under_20ms_5_exchanges": out["clock_sync"]["5_exchanges"]["error_ms_p99"] < 20
        and out["clock_sync"]["5_exchanges"]["screens_synced"] == n,
        "counts_per_s_at_least_2000": out["counts"]["per_s"] >= 2000,
        "result_within_1s_of_close": (out["close_to_result"]["screens_p99_ms"] or 1e9) < 1000,
    }
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2,000 screens, 2 load processes")
    ap.add_argument("--clients", type=int, help="screens = assemblies (default 15000)")
    ap.add_argument("--workers", type=int, help="load processes (default 4)")
    ap.add_argument("--ballots", type=int, help="individual ballots cast (default 10000)")
    args = ap.parse_args()
    args.clients = args.clients or (2000 if args.quick else 15000)
    args.workers = args.workers or (2 if args.quick else 4)
    args.ballots = args.ballots or (2000 if args.quick else 10000)
    if args.clients / args.workers > 18000:
        ap.error("at most 18,000 screens per load process (20,000 open files per process)")
    t0 = time.time()
    out = asyncio.run(asyncio.wait_for(run(args), 170))
    out["total_wall_s"] = round(time.time() - t0, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
