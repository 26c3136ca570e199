"""What ``councilcast.storage.Database`` promises, held directly (docs/architecture.md, "One writer").

- the writer's connection runs ``synchronous=FULL`` (every COMMIT fsynced) on SQLite,
  ``synchronous_commit=on`` on PostgreSQL;
- a write's future resolves only after the COMMIT of its batch returned;
- a failing write rolls back alone, including what it wrote before raising, while the
  rest of its batch commits.

Several writes are forced into one batch by holding the writer inside a first write
until the others are queued: the writer takes everything waiting as its next batch.
Every test runs on SQLite and on PostgreSQL (``tests/pg.py``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import asynccontextmanager

from councilcast.appkeys import DB
from councilcast.storage import Database
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL


@asynccontextmanager
async def opened(path):
    db = Database(path)
    db.open()
    try:
        yield db
    finally:
        db.close()


@asynccontextmanager
async def held(db: Database):
    """While inside, the writer waits in a write of its own; on leaving, it is released and
    everything queued meanwhile runs as one batch."""
    gate, inside = threading.Event(), threading.Event()

    def hold(conn):
        inside.set()
        gate.wait(10)

    blocker = asyncio.ensure_future(db.write(hold))
    while not inside.is_set():
        await asyncio.sleep(0.005)
    try:
        yield
    finally:
        await asyncio.sleep(0.05)  # let every write queued inside reach the writer's queue
        gate.set()
        await blocker


async def test_the_writer_connection_runs_synchronous_full(server):
    db = server.app[DB]
    if db.engine == "postgresql":  # COMMIT returns after the WAL is flushed on the server
        assert await db.write(lambda c: c.execute("SHOW synchronous_commit").fetchone()[0]) == "on"
        return
    # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA; read on the writer's own connection
    assert await db.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2
    assert await db.write(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"


async def test_futures_resolve_only_after_the_commit_of_their_batch(db_url):
    async with opened(db_url) as db:
        await db.write(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
        commits_seen = []
        conn = db._conn
        execute = conn.execute

        def slow_commit(sql: str, *args):
            # the writer's COMMIT starts 0.2 s late (a slow fsync): a wide window in which a
            # too-early acknowledgement would be seen
            if sql.strip().upper() == "COMMIT":
                commits_seen.append(time.monotonic())
                time.sleep(0.2)
            return execute(sql, *args)

        conn.execute = slow_commit

        def acknowledged_and_visible(k: int):
            async def one() -> tuple[bool, float]:
                await db.write(lambda c: c.execute("INSERT INTO t VALUES (?)", (k,)))
                at = time.monotonic()
                # the moment the caller holds its acknowledgement, another connection sees the row
                seen = await db.read(lambda c: c.execute("SELECT 1 FROM t WHERE k=?", (k,)).fetchone())
                return seen is not None, at
            return asyncio.ensure_future(one())

        before = db.commits
        async with held(db):
            tasks = [acknowledged_and_visible(k) for k in range(20)]
        seen = await asyncio.gather(*tasks)
        assert db.commits - before == 2  # the holding write's batch, then the 20 in one batch
        assert [visible for visible, _ in seen] == [True] * 20
        # and every acknowledgement came after the batch's COMMIT had started and finished
        assert all(at > commits_seen[-1] + 0.2 for _, at in seen)
        del conn.execute


async def test_a_failing_write_rolls_back_what_it_wrote_and_its_batch_commits(db_url):
    async with opened(db_url) as db:
        await db.write(lambda c: c.execute("CREATE TABLE t (n INTEGER, k TEXT PRIMARY KEY)"))

        def insert(k):
            return lambda c: c.execute("INSERT INTO t VALUES (?, ?) RETURNING n", (ord(k) - 96, k)).fetchone()[0]

        def inserts_then_fails(k, exc):
            def fn(c):
                c.execute("INSERT INTO t VALUES (0, ?)", (k + "-1",))
                c.execute("INSERT INTO t VALUES (0, ?)", (k + "-2",))
                raise exc
            return fn

        def inserts_then_violates(c):
            c.execute("INSERT INTO t VALUES (0, 'dup-first')")
            c.execute("INSERT INTO t VALUES (0, 'a')")  # 'a' is already there: IntegrityError

        before = db.commits
        async with held(db):
            futures = [asyncio.ensure_future(db.write(fn)) for fn in (
                insert("a"), inserts_then_fails("bug", KeyError("a bug after two inserts")), insert("b"),
                inserts_then_violates, insert("c"), inserts_then_fails("value", ValueError("refused")),
                insert("d"))]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert db.commits - before == 2  # all seven in one batch
        assert isinstance(results[1], KeyError) and "IntegrityError" in {k.__name__ for k in type(results[3]).__mro__}
        assert isinstance(results[5], ValueError)
        rows = await db.read(lambda c: [r[0] for r in c.execute("SELECT k FROM t ORDER BY n, k")])
        assert rows == ["a", "b", "c", "d"]
        assert [results[i] for i in (0, 2, 4, 6)] == [1, 2, 3, 4]
    # and so it stays after a reopen: what the failing writes inserted was never committed
    async with opened(db_url) as db:
        assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 4
