"""What ``councilcast.storage.Database`` promises, held directly (docs/architecture.md, "One writer").

- the writer's connection runs ``synchronous=FULL`` (every COMMIT fsynced);
- a write's future resolves only after the COMMIT of its batch returned;
- a failing write rolls back alone, including what it wrote before raising, while the
  rest of its batch commits.

Several writes are forced into one batch by holding the writer inside a first write
until the others are queued: the writer takes everything waiting as its next batch.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import asynccontextmanager

from councilcast.appkeys import DB
from councilcast.storage import Database


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
    # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA; read on the writer's own connection
    assert await db.write(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2
    assert await db.write(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"


async def test_futures_resolve_only_after_the_commit_of_their_batch(tmp_path):
    path = tmp_path / "order.db"
    async with opened(path) as db:
        await db.write(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)"))
        commits_seen = []

        def slow_commit(sql: str) -> None:
            # sqlite3's trace callback runs as a statement starts: a slow COMMIT (a slow fsync)
            # leaves a wide window in which a too-early acknowledgement would be seen
            if sql.strip().upper() == "COMMIT":
                commits_seen.append(time.monotonic())
                time.sleep(0.2)

        await db.write(lambda c: c.set_trace_callback(slow_commit))

        def acknowledged_and_visible(k: int):
            async def one() -> tuple[bool, float]:
                await db.write(lambda c: c.execute("INSERT INTO t VALUES (?)", (k,)))
                at = time.monotonic()
                # the moment the caller holds its acknowledgement, another connection sees the row
                other = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
                try:
                    return other.execute("SELECT 1 FROM t WHERE k=?", (k,)).fetchone() is not None, at
                finally:
                    other.close()
            return asyncio.ensure_future(one())

        before = db.commits
        async with held(db):
            tasks = [acknowledged_and_visible(k) for k in range(20)]
        seen = await asyncio.gather(*tasks)
        assert db.commits - before == 2  # the holding write's batch, then the 20 in one batch
        assert [visible for visible, _ in seen] == [True] * 20
        # and every acknowledgement came after the batch's COMMIT had started and finished
        assert all(at > commits_seen[-1] + 0.2 for _, at in seen)
        await db.write(lambda c: c.set_trace_callback(None))


async def test_a_failing_write_rolls_back_what_it_wrote_and_its_batch_commits(tmp_path):
    async with opened(tmp_path / "savepoint.db") as db:
        await db.write(lambda c: c.execute("CREATE TABLE t (k TEXT PRIMARY KEY)"))

        def insert(k):
            return lambda c: c.execute("INSERT INTO t VALUES (?)", (k,)).lastrowid

        def inserts_then_fails(k, exc):
            def fn(c):
                c.execute("INSERT INTO t VALUES (?)", (k + "-1",))
                c.execute("INSERT INTO t VALUES (?)", (k + "-2",))
                raise exc
            return fn

        def inserts_then_violates(c):
            c.execute("INSERT INTO t VALUES ('dup-first')")
            c.execute("INSERT INTO t VALUES ('a')")  # 'a' is already there: IntegrityError

        before = db.commits
        async with held(db):
            futures = [asyncio.ensure_future(db.write(fn)) for fn in (
                insert("a"), inserts_then_fails("bug", KeyError("a bug after two inserts")), insert("b"),
                inserts_then_violates, insert("c"), inserts_then_fails("value", ValueError("refused")),
                insert("d"))]
        results = await asyncio.gather(*futures, return_exceptions=True)
        assert db.commits - before == 2  # all seven in one batch
        assert isinstance(results[1], KeyError) and isinstance(results[3], sqlite3.IntegrityError)
        assert isinstance(results[5], ValueError)
        rows = await db.read(lambda c: [r[0] for r in c.execute("SELECT k FROM t ORDER BY rowid")])
        assert rows == ["a", "b", "c", "d"]
        assert [results[i] for i in (0, 2, 4, 6)] == [1, 2, 3, 4]
    # and so it stays after a reopen: what the failing writes inserted was never committed
    async with opened(tmp_path / "savepoint.db") as db:
        assert await db.read(lambda c: c.execute("SELECT count(*) FROM t").fetchone()[0]) == 4
