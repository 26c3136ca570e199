"""A write that PostgreSQL picks as a deadlock's victim runs again in the writer's next
transaction, alone, instead of answering 500 (a bench_federation run: a ballot at process 1 and the
open round's anchor at process 0, each writer holding what the other waited for).

Two writers on one real PostgreSQL database (two ``Database`` objects, as two server
processes have) are made to deadlock for real: writer A's batch holds row x from its first
write and wants row y in its second; writer B's one write holds y and wants x. PostgreSQL
breaks the cycle after ``deadlock_timeout`` by failing one of the two waiting statements;
every write must still succeed, each exactly once.
"""

from __future__ import annotations

import asyncio
import threading

from councilcast.storage import Database, gave_way
from tests.pg import pg_cluster  # noqa: F401 - the session's throwaway cluster


def _make_table(db: Database) -> None:
    db.write_sync(lambda c: c.execute_script("CREATE TABLE deadlock_rows (id TEXT PRIMARY KEY, n BIGINT NOT NULL)"))
    db.write_sync(lambda c: c.execute("INSERT INTO deadlock_rows VALUES ('x', 0), ('y', 0)"))


async def test_a_deadlock_victim_runs_again_and_every_write_lands_once(pg_cluster):
    url = pg_cluster.new_database()
    a, b = Database(url), Database(url)
    a.open()
    b.open()
    try:
        _make_table(a)
        a_holds_x, b_holds_y, go = threading.Event(), threading.Event(), threading.Event()
        runs = {"a1": 0, "a2": 0, "b1": 0}
        txids: dict[str, list[int]] = {}  # the transaction each run of each write was in

        def tx(conn, name):
            txids.setdefault(name, []).append(conn.execute("SELECT txid_current()").fetchone()[0])

        def hold(conn):  # keeps writer A busy until a1 and a2 are queued: they go in one batch
            go.wait(10)
            return "held"

        def a1(conn):
            runs["a1"] += 1
            tx(conn, "a1")
            conn.execute("UPDATE deadlock_rows SET n = n + 1 WHERE id = 'x'")
            a_holds_x.set()
            return "a1"

        def a2(conn):  # in a1's transaction: x stays locked while this waits for y
            runs["a2"] += 1
            tx(conn, "a2")
            assert b_holds_y.wait(10)
            conn.execute("UPDATE deadlock_rows SET n = n + 10 WHERE id = 'y'")
            return "a2"

        def b1(conn):
            runs["b1"] += 1
            tx(conn, "b1")
            assert a_holds_x.wait(10)
            conn.execute("UPDATE deadlock_rows SET n = n + 1000 WHERE id = 'y'")
            b_holds_y.set()
            conn.execute("UPDATE deadlock_rows SET n = n + 100 WHERE id = 'x'")
            return "b1"

        held = asyncio.ensure_future(a.write(hold))
        await asyncio.sleep(0.2)
        writes = [asyncio.ensure_future(a.write(a1)), asyncio.ensure_future(a.write(a2))]
        await asyncio.sleep(0.2)
        go.set()
        assert await held == "held"
        writes.append(asyncio.ensure_future(b.write(b1)))
        assert await asyncio.get_running_loop().run_in_executor(None, b_holds_y.wait, 10)
        # queued at both writers while the cycle waits for PostgreSQL to break it
        writes += [asyncio.ensure_future(a.write(lambda c: tx(c, "a3") or "a3")),
                   asyncio.ensure_future(b.write(lambda c: tx(c, "b2") or "b2"))]
        answers = await asyncio.wait_for(asyncio.gather(*writes, return_exceptions=True), 60)
        assert answers == ["a1", "a2", "b1", "a3", "b2"], answers
        rows = dict(a.read_sync(lambda c: c.execute("SELECT id, n FROM deadlock_rows").fetchall()))
        assert rows == {"x": 101, "y": 1010}  # every write once: the victim's first run left nothing
        assert runs["a1"] == 1 and runs["a2"] + runs["b1"] == 3  # exactly one of them ran twice
        victim, queued = ("a2", "a3") if runs["a2"] == 2 else ("b1", "b2")
        # the victim's second run is a transaction of its own: the write queued behind it at the
        # same writer is not in it (it holds nothing of another write while it waits again)
        assert txids[victim][1] != txids[victim][0] and txids[victim][1] not in txids[queued], txids
    finally:
        a.close()
        b.close()


def test_what_gives_way():
    import psycopg

    assert gave_way(psycopg.errors.DeadlockDetected()) and gave_way(psycopg.errors.SerializationFailure())
    assert not gave_way(psycopg.errors.UniqueViolation()) and not gave_way(ValueError("x"))


async def test_a_write_that_keeps_losing_is_503_with_retry_after_not_500(make_config):
    """After storage.MAX_TRIES lost deadlocks the error reaches the route: the answer says to send
    it again (nothing was written), as JSON, never a 500."""
    import aiohttp
    import psycopg
    from aiohttp import web

    from councilcast.app import create_app

    config = make_config()
    app = create_app(config)

    async def lost(request):
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    app.router.add_post("/api/test/lost-deadlock", lost)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://{config.host}:{config.port}/api/test/lost-deadlock", json={}) as r:
                body = await r.json()
                assert r.status == 503 and r.headers["Retry-After"] == "1"
                assert "send it again" in body["error"]["reason"], body
    finally:
        await runner.cleanup()
