"""Several server processes on one PostgreSQL database behave as one server (issue 15, events).

Real processes (``python -m councilcast serve --db postgresql://...``, two per test) on one
database of the session's throwaway cluster (``tests/pg.py``), real ``/ws`` screens over
loopback, the database read directly (psycopg) to check what an event claims.
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import psycopg

from tests.conftest import SECRETARIAT_TOKEN
from tests.polling import until

AUTH = {"Authorization": f"Bearer {SECRETARIAT_TOKEN}"}


class Screen:
    """A ``/ws`` screen: every message it receives, with its arrival time (``_at``, s). ``check``
    (async, optional) runs on each message as it arrives, before the next is read."""

    def __init__(self, session: aiohttp.ClientSession, base: str, check=None):
        self.session, self.base, self.check = session, base, check
        self.msgs: list[dict] = []
        self.checked: list = []

    async def __aenter__(self) -> "Screen":
        self.ws = await self.session.ws_connect(self.base.replace("http", "ws") + "/ws")
        self.task = asyncio.create_task(self._read())
        await until(lambda: self.of("hello"), 10, "the hello")
        return self

    async def _read(self) -> None:
        async for msg in self.ws:
            m = json.loads(msg.data)
            m["_at"] = time.time()
            self.msgs.append(m)
            if self.check is not None:
                self.checked.append(await self.check(m))

    def of(self, kind: str, rid: str | None = None) -> list[dict]:
        return [m for m in self.msgs if m["type"] == kind and rid in (None, m.get("id"), (m.get("round") or {}).get("id"))]

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        await self.ws.close()


async def _start(server_process, url: str, tmp_path, n: int = 2):
    env = {"COUNCILCAST_KEY_FILE": str(tmp_path.parent / f"{tmp_path.name}-keys" / "ballot.key")}
    procs = [server_process(db=url, env=env) for _ in range(n)]
    for p in procs:  # one after the other: two plain `serve` starts race to insert the configured tokens
        await asyncio.to_thread(p.start, 40)
    return procs


async def _post(session, base: str, path: str, body: dict, headers=AUTH) -> dict:
    async with session.post(base + path, json=body, headers=headers) as r:
        out = await r.json()
        assert r.status in (200, 201), out
        return out


async def _stats(session, base: str) -> dict:
    async with session.get(base + "/api/voting/stats", headers=AUTH) as r:
        return await r.json()


async def _round_row(url: str, rid: str):
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT closes_at, closed_at, published_at FROM voting_rounds WHERE id=%s", (rid,))
        return await cur.fetchone()


async def test_a_round_made_on_one_process_reaches_the_screens_of_both_once_and_only_when_durable(
        pg_cluster, server_process, tmp_path):
    url = pg_cluster.new_database()
    a, b = await _start(server_process, url, tmp_path)

    async def durable_when_closed(m):  # read the database the moment the event arrives
        if m["type"] == "round.closed":
            return m["id"], await _round_row(url, m["id"])

    async with aiohttp.ClientSession() as s, Screen(s, b.url, durable_when_closed) as on_b, Screen(s, a.url) as on_a:
        ga = await _post(s, a.url, "/api/assemblies", {"name": "Depot GA", "members": 40})
        r = await _post(s, a.url, "/api/rounds", {"title": "Shift plan", "options": ["A", "B"], "duration_s": 2})
        rid = r["id"]
        await until(lambda: on_b.of("round.opened", rid), 15, "round.opened on B")
        await _post(s, b.url, f"/api/rounds/{rid}/tallies", {"present": 30, "counts": {"A": 20, "B": 9}, "abstain": 1},
                    headers={"Authorization": f"Bearer {ga['token']}"})
        await until(lambda: on_b.of("round.result", rid) and on_a.of("round.result", rid), 20, "the result on both")
        for screen in (on_a, on_b):
            for kind in ("round.scheduled", "round.opened", "round.closed", "round.result"):
                assert len(screen.of(kind, rid)) == 1, (kind, screen.msgs)
            # one notification carries the close's two events (emit_together): in their order
            assert screen.msgs.index(screen.of("round.closed", rid)[0]) < screen.msgs.index(
                screen.of("round.result", rid)[0])
        [(seen, (closes_at, closed_at, published_at))] = [c for c in on_b.checked if c]
        assert seen == rid and closed_at is not None and published_at is not None  # durable before it went out
        assert closed_at == closes_at
        result = on_b.of("round.result", rid)[0]["round"]["result"]
        assert result["totals"] == {"A": 20, "B": 9} and result["decision"] == "adopted" and result["winner"] == "A"
        async with s.get(a.url + f"/api/rounds/{rid}") as resp:
            assert (await resp.json())["result"]["final_hash"] == result["final_hash"]

        # a session event past NOTIFY's 8,000 bytes travels as a row id, whole
        sess = await _post(s, a.url, "/api/sessions", {"body": "central-assembly", "title": "Plenary"})
        for i in range(20):
            await _post(s, a.url, f"/api/sessions/{sess['id']}/items", {"title": f"{i:02d} " + "x" * 190,
                                                                         "kind": "report"})
        await _post(s, a.url, f"/api/sessions/{sess['id']}/open", {})
        opened = await until(lambda: on_b.of("session.opened", sess["id"]), 15, "session.opened on B")
        assert len(json.dumps(opened[0])) > 8000 and len(opened[0]["session"]["agenda"]) == 20
        assert len(on_b.of("agenda.changed", sess["id"])) == 20

        # a screen that connects to B now gets the live session in its hello
        async with Screen(s, b.url) as late:
            assert [x["id"] for x in late.of("hello")[0]["sessions"]] == [sess["id"]]

        # stats: each process's figures and the total, from the heartbeats
        async def both_seen():
            st = await _stats(s, b.url)
            return st if st["total"]["processes"] == 2 and st["total"]["screens"] == 2 else None
        st = await until(both_seen, 15, "both processes in the stats")
        assert st["total"]["schedulers"] == 1 and st["screens"] == 1
        assert {p["pid"] for p in st["processes"]} == {a.proc.pid, b.proc.pid}


async def test_the_scheduler_moves_to_the_survivor_when_its_holder_is_killed(pg_cluster, server_process, tmp_path):
    url = pg_cluster.new_database()
    procs = await _start(server_process, url, tmp_path)
    async with aiohttp.ClientSession() as s:
        async def holder():
            st = await _stats(s, procs[0].url)
            held = [p["pid"] for p in st.get("processes", []) if p["scheduler"]]
            return held[0] if len(held) == 1 and st["total"]["processes"] == 2 else None
        pid = await until(holder, 15, "one scheduler among the two")
        dying = next(p for p in procs if p.proc.pid == pid)
        survivor = next(p for p in procs if p.proc.pid != pid)
        async with Screen(s, survivor.url) as screen:
            r = await _post(s, survivor.url, "/api/rounds", {"title": "Takeover", "options": ["A", "B"],
                                                            "duration_s": 3})
            rid = r["id"]
            await until(lambda: screen.of("round.opened", rid), 10, "round.opened from the holder")
            dying.kill(9)
            assert time.time() < r["closes_at_ts"] - 1.5  # killed well before the close
            closed = await until(lambda: screen.of("round.closed", rid), 15, "round.closed from the survivor")
            late = closed[0]["_at"] - r["closes_at_ts"]
            assert late < 1.5, f"closed {late:.2f} s after its time"
            await until(lambda: screen.of("round.result", rid), 10, "the result")
            closes_at, closed_at, published_at = await _round_row(url, rid)
            assert closed_at == closes_at and published_at is not None  # at its scheduled instant
            st = await _stats(s, survivor.url)  # the dead holder's last beat no longer claims the scheduler
            assert [p["pid"] for p in st["processes"] if p["scheduler"]] == [survivor.proc.pid]
            assert st["total"]["schedulers"] == 1


async def test_a_cut_listen_connection_comes_back_and_resyncs_its_screens(pg_cluster, server_process, tmp_path):
    url = pg_cluster.new_database()
    a, b = await _start(server_process, url, tmp_path)
    async with aiohttp.ClientSession() as s, Screen(s, b.url) as screen:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
            cur = await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                      "WHERE application_name = %s", (f"councilcast-listen-{b.proc.pid}",))
            assert (await cur.fetchall()) == [(True,)]
        missed = await _post(s, a.url, "/api/rounds", {"title": "While cut", "options": ["A", "B"],
                                                       "duration_s": 60})
        resync = await until(lambda: screen.of("resync"), 15, "a resync on B")
        # the round made while B's LISTEN was down is on B's screen: in the resync or as its event
        assert (missed["id"] in [x["id"] for x in resync[0]["rounds"]]
                or screen.of("round.scheduled", missed["id"]) or screen.of("round.opened", missed["id"]))
        await until(lambda: screen.of("round.opened", missed["id"]), 10, "the missed round's state")
        after = await _post(s, a.url, "/api/rounds", {"title": "After", "options": ["A", "B"], "duration_s": 60})
        await until(lambda: screen.of("round.scheduled", after["id"]), 10, "events through LISTEN again")
        async with Screen(s, b.url) as fresh:
            rounds = {x["id"] for x in fresh.of("hello")[0]["rounds"]}
            assert {missed["id"], after["id"]} <= rounds
