"""SIGKILL of one of several server processes in the middle of a burst of counts (issue 15).

``councilcast serve --workers 3`` on a database of the session's throwaway PostgreSQL cluster
(tests/pg.py), 300 assemblies, one open round, ``/ws`` screens spread over the three processes
by the kernel (SO_REUSEPORT), 900 counts from the clerks over many keep-alive connections. When a
third of them are acknowledged, worker 1 is killed with SIGKILL. Then:

- every count that got a 2xx is in the round's result after the close (its receipt in the
  chain, its assembly's standing version at least the acknowledged one, the standing counts
  those of that version's body), and the totals re-add;
- ``councilcast verify-round ID --db URL --kept receipts.json`` (a real subprocess) passes on
  the database, every acknowledged receipt checked against the chain;
- the screens that were on the killed process reconnect to the same address (as clock.js's
  page does), are back within 10 s of the kill on a live process (another one, or worker 1
  started again by the supervisor), their hello lists the open round, and they receive
  ``round.closed`` and ``round.result`` of the close that follows.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import SECRETARIAT_TOKEN, free_port
from tests.polling import until

pytestmark = pytest.mark.slow

SEC = {"Authorization": f"Bearer {SECRETARIAT_TOKEN}"}
HEADER = "X-Councilcast-Worker"
WORKERS = 3
VICTIM = 1  # the worker killed: not the media process


def _who(headers) -> tuple[int, int]:
    m = re.fullmatch(r"index=(\d+); pid=(\d+)", headers[HEADER])
    return int(m.group(1)), int(m.group(2))


class Screen:
    """A ``/ws`` screen that reconnects to the same address whenever its socket closes, as the
    room's page does. ``links``: one dict per connection (worker index, pid, hello, messages)."""

    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.session, self.url = session, url.replace("http", "ws") + "/ws"
        self.links: list[dict] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                ws = await self.session.ws_connect(self.url, timeout=aiohttp.ClientWSTimeout(ws_close=5))
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.1)  # the address refuses for a moment: try again
                continue
            index, pid = _who(ws._response.headers)
            link = {"index": index, "pid": pid, "at": time.monotonic(), "msgs": []}
            self.links.append(link)
            try:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.TEXT:
                        m = json.loads(msg.data)
                        m["_at"] = time.monotonic()
                        link["msgs"].append(m)
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
                pass
            link["lost_at"] = time.monotonic()
            await ws.close()

    @property
    def link(self) -> dict | None:
        return self.links[-1] if self.links else None

    def got(self, kind: str, link: dict | None = None) -> list[dict]:
        link = link or self.link
        return [m for m in (link["msgs"] if link else []) if m["type"] == kind]

    async def close(self) -> None:
        self.task.cancel()
        try:
            await self.task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass


@pytest.fixture
def supervisor(pg_cluster, tmp_path):
    url = pg_cluster.new_database()
    port = free_port()
    log = tmp_path / "serve.txt"
    env = {**os.environ, "COUNCILCAST_SECRETARIAT_TOKEN": SECRETARIAT_TOKEN, "COUNCILCAST_LOG_LEVEL": "WARNING",
           "COUNCILCAST_DATA_DIR": str(tmp_path / "data"), "COUNCILCAST_KEY_FILE": str(tmp_path / "keys" / "b.key")}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "councilcast", "serve", "--workers", str(WORKERS),
                                 "--host", "127.0.0.1", "--port", str(port), "--db", url],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    proc.db, proc.url, proc.log = url, f"http://127.0.0.1:{port}", log
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def _pids(sv, want: int) -> dict[int, int]:
    seen: dict[int, int] = {}

    async def all_answer():
        assert sv.poll() is None, Path(sv.log).read_text(errors="replace")
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
                async with s.get(sv.url + "/api/health", timeout=aiohttp.ClientTimeout(total=5)) as r:
                    seen.update([_who(r.headers)])
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError):
            pass
        return len(seen) >= want
    await until(all_answer, timeout=90, what=f"{want} processes answering", every=0.02)
    return seen


def _body(ga_id: str, version: int) -> dict:
    return {"present": 900, "counts": {"A": 100 + version, "B": sum(map(ord, ga_id)) % 500}, "abstain": 7}


async def test_sigkill_of_one_process_mid_burst_loses_no_acknowledged_count_and_its_screens_come_back(
        supervisor, tmp_path):
    sv = supervisor
    pids = await _pids(sv, WORKERS)
    n_ga = 300
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=48)) as s, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as wss:
        sem = asyncio.Semaphore(32)

        async def reg(i):
            async with sem, s.post(sv.url + "/api/assemblies", headers=SEC,
                                   json={"name": f"GA {i}", "members": 1000}) as r:
                assert r.status == 201, await r.text()
                return await r.json()
        gas = await asyncio.gather(*(reg(i) for i in range(n_ga)))
        async with s.post(sv.url + "/api/rounds", headers=SEC,
                          json={"title": "Q", "options": ["A", "B"], "duration_s": 600}) as r:
            assert r.status == 201, await r.text()
            rid = (await r.json())["id"]

        # screens, spread over the processes by the kernel, until each has at least three
        screens: list[Screen] = []

        def per_worker():
            out = {i: 0 for i in range(WORKERS)}
            for sc in screens:
                if sc.link and sc.got("hello"):
                    out[sc.link["index"]] += 1
            return out

        async def spread():
            if len(screens) < 90 and sum(per_worker().values()) >= len(screens) - 2:
                screens.extend(Screen(wss, sv.url) for _ in range(3))
            return len(screens) >= 24 and min(per_worker().values()) >= 3 and all(sc.got("hello") for sc in screens)
        await until(spread, timeout=30, what="screens on every process", every=0.05)
        on_victim = [sc for sc in screens if sc.link["index"] == VICTIM]
        first_links = {id(sc): sc.link for sc in screens}
        await until(lambda: all(sc.got("round.opened") or any(x["id"] == rid and x["state"] == "open"
                                                              for x in sc.got("hello")[0]["rounds"])
                                for sc in screens), 15, "the open round on every screen")

        # the burst, and the kill in its middle
        acked: dict[str, dict[int, dict]] = {}  # assembly -> {acknowledged version: the counts posted}
        receipts: list[str] = []
        failures = acks = 0
        kill_after = n_ga
        killed = asyncio.Event()
        killed_at = 0.0

        async def post(ga, version):
            nonlocal failures, acks, killed_at
            try:
                async with s.post(f"{sv.url}/api/rounds/{rid}/tallies", json=_body(ga["id"], version),
                                  headers={"Authorization": f"Bearer {ga['token']}"}) as r:
                    if r.status not in (200, 201):
                        failures += 1
                        return
                    out = await r.json()
            except (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError):
                failures += 1
                return
            acks += 1
            assert out["version"] >= 1
            acked.setdefault(ga["id"], {})[out["version"]] = _body(ga["id"], version)["counts"]
            receipts.append(out["receipt"])
            if acks >= kill_after and not killed.is_set():
                os.kill(pids[VICTIM], signal.SIGKILL)
                killed_at = time.monotonic()
                killed.set()

        tasks = [asyncio.create_task(post(ga, version)) for version in (1, 2, 3) for ga in gas]
        await asyncio.gather(*tasks)
        assert killed.is_set() and kill_after <= acks < 3 * n_ga and failures > 0  # the kill landed mid-burst

        # the killed process's screens are back on a live process within 10 s, the open round in their hello
        def back():
            return all(len(sc.links) >= 2 and sc.got("hello") for sc in on_victim)
        await until(back, timeout=max(0.5, killed_at + 10 - time.monotonic()), what="the killed process's screens back")
        for sc in on_victim:
            assert sc.link["pid"] != pids[VICTIM]
            assert rid in [x["id"] for x in sc.got("hello")[0]["rounds"]]
        for sc in screens:  # the others kept their first connection
            if sc not in on_victim:
                assert sc.link is first_links[id(sc)]

        # the close: every screen, the reconnected ones included, gets round.closed and round.result
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as c:
            async with c.post(f"{sv.url}/api/rounds/{rid}/close", headers=SEC) as r:
                assert r.status == 200, await r.text()
                result = (await r.json())["result"]
        await until(lambda: all(sc.got("round.result") for sc in screens), 10, "round.result on every screen")
        for sc in screens:
            assert len(sc.got("round.closed")) == 1 and len(sc.got("round.result")) == 1
            assert sc.got("round.result")[0]["round"]["result"]["final_hash"] == result["final_hash"]
        for sc in screens:
            await sc.close()

    # every acknowledged count is in the result
    standing = {a["id"]: a for a in result["assemblies"]}
    for aid, versions in acked.items():
        st = standing[aid]
        assert st["version"] >= max(versions)  # the latest acknowledged, or a later one whose answer was lost
        if st["version"] in versions:
            assert st["counts"] == versions[st["version"]]
        else:
            assert st["counts"] in [_body(aid, v)["counts"] for v in (1, 2, 3)]
    assert result["totals"]["A"] == sum(a["counts"]["A"] for a in standing.values())
    assert result["totals"]["B"] == sum(a["counts"]["B"] for a in standing.values())

    # verify-round, a real subprocess on the database, with every acknowledged receipt
    kept = tmp_path / "kept.json"
    kept.write_text(json.dumps({"receipts": receipts}))
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "councilcast", "verify-round", rid,
                                                    "--db", sv.db, "--kept", str(kept), "--json"],
                                   capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["kept"] == {"anchors": 0, "receipts": len(receipts), "ok": True}
    assert report["totals"] == result["totals"]
    assert f"worker {VICTIM} (pid {pids[VICTIM]}) exited with signal 9" in Path(sv.log).read_text(errors="replace")
