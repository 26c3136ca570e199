"""The store of record: SQLite (WAL mode) or PostgreSQL, versioned migrations, one writer thread
with group commit.

Why one writer: SQLite allows one writer at a time; funnelling every write through one
thread means no ``database is locked`` errors and lets us batch concurrent writes into
one transaction (group commit), so that ``synchronous=FULL`` durability (an fsync per
commit) does not cost throughput. The event loop never touches the disk: writes go to the
writer thread, reads to a small pool of read-only connections (as Datasette does).

Usage from a route::

    row_id = await db.write(lambda conn: conn.execute("INSERT ...", args).lastrowid)
    rows = await db.read(lambda conn: conn.execute("SELECT ...").fetchall())

A write function runs inside the batch's transaction under its own SAVEPOINT: if it
raises, only its own changes are rolled back and the exception is re-raised to its
caller; the others in the batch still commit. The future resolves only after COMMIT
returned, i.e. after the data is on disk.

The same holds on PostgreSQL (``Database("postgresql://...")``, through psycopg 3): one writer
connection per process runs the batches (``BEGIN``, a SAVEPOINT per write, ``COMMIT`` with
``synchronous_commit`` as the server has it, on by default), reads go to a pool of
read-only connections, and the store functions are the same (their SQL made to fit by
:mod:`councilcast.stores.dialect`). Several processes may share one PostgreSQL database:
migrations run under an advisory lock (:data:`MIGRATION_LOCK`), and the stores lock the rows
they read to change (a round's row before its audit chain grows, a ballot box before its
accumulator moves), so concurrent writers serialize where they must and nowhere else.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import queue
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import councilcast.stores as stores_package
from councilcast.stores.dialect import PgConnection, SQLiteConnection, is_postgres, pg_ddl, redact


__all__ = ["Database", "migration_steps", "schema_versions", "table_names", "copy_database", "MIGRATION_LOCK"]

log = logging.getLogger(__name__)

MAX_BATCH = 512  # writes per transaction; bounds the latency of the first in a batch
MAX_TRIES = 5  # a write that PostgreSQL chose as a deadlock's victim runs again, in a transaction of its own


def gave_way(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL rolling a statement back to break a deadlock or a
    serialization conflict (SQLSTATE class 40): nothing of the write is left, and the same
    write can succeed in a later transaction."""
    state = getattr(exc, "sqlstate", None)
    return isinstance(state, str) and state in ("40P01", "40001")
_CHECKPOINT = object()  # a queue item: checkpoint the WAL between batches
MIGRATION_LOCK = 0x636F756E63696C  # pg_advisory_lock key held while one process migrates ("council")


def migration_steps() -> dict[str, list]:
    """Collect ``MIGRATIONS`` from every store module in :mod:`councilcast.stores`, keyed by ``AREA``.

    Each area (core, voting, broadcast, plan, plan_variants) keeps its schema beside its
    queries and evolves it on its own; a step is an SQL script or a callable taking the
    connection. Steps are append-only: never edit one that has shipped.
    """
    steps: dict[str, list] = {}
    for info in pkgutil.iter_modules(stores_package.__path__):
        mod = importlib.import_module(f"{stores_package.__name__}.{info.name}")
        # (dialect.py has no MIGRATIONS: it is the engines' difference, not an area)
        if hasattr(mod, "MIGRATIONS"):
            steps[mod.AREA] = list(mod.MIGRATIONS)
    return steps


def schema_versions(conn) -> dict[str, int]:
    """The schema version of every area, as applied to this database."""
    rows = conn.execute("SELECT area, MAX(version) FROM schema_migrations GROUP BY area").fetchall()
    return {r[0]: r[1] for r in rows}


def table_names(conn) -> list[str]:
    """The tables of this database (of the connection's schema on PostgreSQL), by name."""
    if conn.dialect == "postgresql":
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
    return [r[0] for r in conn.execute(sql)]


def _references(conn, table: str) -> set[str]:
    """The tables ``table``'s foreign keys point to."""
    if conn.dialect == "postgresql":
        rows = conn.execute("SELECT DISTINCT c.confrelid::regclass::text FROM pg_constraint c "
                            "WHERE c.contype = 'f' AND c.conrelid = CAST(? AS regclass)", (table,))
    else:
        rows = conn.execute('SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)', (table,))
    return {r[0] for r in rows} - {table}


def _columns(conn, table: str) -> list[str]:
    return [d[0] for d in conn.execute(f'SELECT * FROM "{table}" LIMIT 0').description]


def copy_database(src: "Database", dst: "Database", *, replace: bool = False, chunk: int = 2000) -> dict[str, int]:
    """Copy every row of ``src`` into ``dst`` (both open, so both at the latest schema): tables in
    the order of their foreign keys, every column as it is (ids, hashes and the audit chain
    unchanged), in one transaction of ``dst``'s writer. ``dst`` must hold no rows (beyond
    ``schema_migrations``) unless ``replace``, which deletes them first in the same
    transaction. Identity sequences (PostgreSQL) continue after the copied ids. Returns the
    rows copied per table, after checking that ``dst`` now has exactly as many as ``src``.

    Raises ``ValueError`` for a target that is not empty, or whose tables differ from the source's.
    """
    reader = src.connect_reader()
    try:
        tables = [t for t in table_names(reader) if t != "schema_migrations"]
        deps = {t: _references(reader, t) & set(tables) for t in tables}
        order: list[str] = []
        while len(order) < len(tables):  # dependency order: a table after every table it references
            ready = sorted(t for t in tables if t not in order and deps[t] <= set(order))
            if not ready:
                raise ValueError(f"foreign keys form a cycle among {sorted(set(tables) - set(order))}")
            order += ready

        def copy(conn) -> dict[str, int]:
            missing = sorted(set(tables) - set(table_names(conn)))
            if missing:
                raise ValueError(f"the target lacks tables {missing}: is it at an older version of councilcast?")
            held = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in order}
            if any(held.values()):
                if not replace:
                    raise ValueError("the target is not empty (" + ", ".join(
                        f"{t}: {n}" for t, n in held.items() if n) + "); --replace deletes its rows first")
                for t in reversed(order):
                    conn.execute(f'DELETE FROM "{t}"')
            copied = {}
            for t in order:
                cols = _columns(reader, t)
                names = ", ".join(f'"{c}"' for c in cols)
                insert = f'INSERT INTO "{t}" ({names}) VALUES ({", ".join("?" * len(cols))})'
                cur = reader.execute(f'SELECT {names} FROM "{t}"')
                n = 0
                while rows := cur.fetchmany(chunk):
                    conn.executemany(insert, [tuple(r) for r in rows])
                    n += len(rows)
                copied[t] = n
            if conn.dialect == "postgresql":  # identities go on after the highest id copied
                for t, c in conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                                         "WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall():
                    conn.execute(f'SELECT setval(pg_get_serial_sequence(?, ?), COALESCE(MAX("{c}"), 0) + 1, false) '
                                 f'FROM "{t}"', (t, c))
            counted = {t: conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in order}
            source = {t: reader.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in order}
            if counted != source or counted != copied:
                raise ValueError(f"counts differ after the copy: source {source}, target {counted}")
            return copied

        return dst.write_sync(copy)
    finally:
        reader.close()


def _connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, timeout=30,
                               factory=SQLiteConnection)
    else:
        conn = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None,
                               factory=SQLiteConnection)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class Database:
    """One database: a SQLite file or a PostgreSQL URL; a writer thread, a read pool, migrations
    applied at open.

    ``target`` is a file path, or ``postgresql://user:password@host:port/name`` (libpq's URL,
    ``?host=/socket/dir`` included). ``path`` and :meth:`describe` never hold a password.
    """

    def __init__(self, path: str | Path, read_threads: int = 4):
        self._target = str(path)
        self.engine = "postgresql" if is_postgres(self._target) else "sqlite"
        self.path = redact(self._target)  # what may be shown: the file, or the URL without its password
        self._queue: queue.Queue = queue.Queue()
        self._writer: threading.Thread | None = None
        self._read_pool = ThreadPoolExecutor(max_workers=read_threads, thread_name_prefix="db-read")
        self._local = threading.local()
        self._readers: list = []
        self._readers_lock = threading.Lock()
        self.commits = 0  # transactions committed (for benchmarks: writes / commits = batch size)
        self.writes = 0

    def describe(self) -> dict:
        """The engine and where it is, fit to show (``/api/health``, logs): never a password."""
        if self.engine == "sqlite":
            return {"engine": "sqlite", "path": str(Path(self.path).resolve())}
        return {"engine": "postgresql", "url": self.path}

    # -- lifecycle -----------------------------------------------------------------
    def _connect_writer(self):
        if self.engine == "postgresql":
            return PgConnection(self._target, application_name="councilcast-writer")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: every COMMIT is fsynced, also in WAL mode, so an acknowledged write
        # survives power loss, not only a process crash.
        conn.execute("PRAGMA synchronous=FULL")
        # Deleted rows are overwritten with zeros, in the file and in the WAL: what the close
        # deletes of the secret ballot (sealed choices, codes) is not left readable in free pages.
        conn.execute("PRAGMA secure_delete=ON")
        return conn

    def open(self) -> None:
        """Create the file if missing (SQLite), run migrations, start the writer."""
        conn = self._connect_writer()
        try:
            self._migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._writer = threading.Thread(target=self._run_writer, name="db-writer", daemon=True)
        self._writer.start()

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=10)
            self._writer = None
        self._read_pool.shutdown(wait=True)
        with self._readers_lock:
            for c in self._readers:
                c.close()
            self._readers.clear()
        if getattr(self, "_conn", None) is not None:
            self._conn.close()
            self._conn = None

    @property
    def _begin(self) -> str:
        # SQLite: take the write lock at BEGIN, not at the first write. PostgreSQL locks rows.
        return "BEGIN IMMEDIATE" if self.engine == "sqlite" else "BEGIN"

    def _migrate(self, conn) -> None:
        """Apply every store's missing steps, each in its own transaction. On PostgreSQL under
        ``pg_advisory_lock(MIGRATION_LOCK)``: processes starting together migrate one at a
        time, and the later ones find the work done."""
        pg = self.engine == "postgresql"
        if pg:
            conn.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " area TEXT NOT NULL, version INTEGER NOT NULL, applied_at REAL NOT NULL,"
                " PRIMARY KEY (area, version))" if not pg else
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " area TEXT NOT NULL, version BIGINT NOT NULL, applied_at DOUBLE PRECISION NOT NULL,"
                " PRIMARY KEY (area, version))"
            )
            done = {(r[0], r[1]) for r in conn.execute("SELECT area, version FROM schema_migrations")}
            for area, steps in sorted(migration_steps().items()):
                for version, step in enumerate(steps, start=1):
                    if (area, version) in done:
                        continue
                    conn.execute(self._begin)
                    try:
                        if callable(step):
                            step(conn)
                        else:
                            for stmt in _split_sql(step):
                                if pg:
                                    if pg_ddl(stmt):
                                        conn.execute_script(pg_ddl(stmt))
                                else:
                                    conn.execute(stmt)
                        conn.execute(
                            "INSERT INTO schema_migrations(area, version, applied_at) VALUES (?, ?, ?)",
                            (area, version, time.time()),
                        )
                        conn.execute("COMMIT")
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    log.debug("migrated %s to version %d", area, version)
        finally:
            if pg and not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK,))

    # -- writing -------------------------------------------------------------------
    async def write(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(conn)`` on the writer thread inside a transaction; return its result once committed."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put((fn, loop, fut))
        return await fut

    def write_sync(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Blocking variant for CLI commands and start-up code (not for the event loop)."""
        done = threading.Event()
        box: dict = {}

        def deliver(ok, value):
            box["ok"], box["value"] = ok, value
            done.set()

        self._queue.put((fn, None, deliver))
        done.wait()
        if box["ok"]:
            return box["value"]
        raise box["value"]

    async def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the database file and truncate the WAL to zero bytes, on the writer
        thread between two batches; SQLite's ``(busy, log frames, checkpointed frames)``.

        The close of a round calls it, so that the WAL keeps none of the frames that held
        its ballot boxes (with ``secure_delete`` the file keeps none either). On PostgreSQL a
        no-op answering ``(0, 0, 0)``: the server owns its WAL and checkpoints, and the rows
        deleted at the close go when (auto)vacuum reclaims them (docs/voting.md).
        """
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put((_CHECKPOINT, loop, fut))
        return await fut

    def _run_checkpoint(self, item) -> None:
        _fn, loop, fut = item
        try:
            if self.engine == "postgresql":
                ok, value = True, (0, 0, 0)
            else:
                ok, value = True, tuple(self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
        except sqlite3.Error as exc:
            ok, value = False, exc
        try:
            loop.call_soon_threadsafe(_resolve_all, [(fut, ok, value)])
        except RuntimeError:
            pass

    def _run_writer(self) -> None:
        conn = self._conn
        pending = None
        again: list = []  # writes that gave way in a deadlock: first in the next transaction
        tries: dict[int, int] = {}
        stop = False
        while True:
            alone = bool(again)  # writes that gave way run in a transaction of their own, nothing
            if again:            # else's locks held before theirs: a cycle is then less likely
                batch, again = again, []
            else:
                item = pending or self._queue.get()
                pending = None
                if item is None:
                    return
                if item[0] is _CHECKPOINT:
                    self._run_checkpoint(item)
                    continue
                batch = [item]
            while len(batch) < MAX_BATCH and not stop and not alone:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if nxt[0] is _CHECKPOINT:  # after this batch's COMMIT, outside any transaction
                    pending = nxt
                    break
                batch.append(nxt)
            results = []
            if self.engine == "postgresql" and conn.broken:
                conn = self._reconnect(conn)
            try:
                conn.execute(self._begin)
                for i, job in enumerate(batch):
                    conn.execute(f"SAVEPOINT w{i}")
                    try:
                        value = job[0](conn)
                    except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                        conn.execute(f"ROLLBACK TO w{i}")
                        conn.execute(f"RELEASE w{i}")
                        # A deadlock's victim (another process's writer holds what this one
                        # waits for, and waits for what an earlier write of this batch holds):
                        # its savepoint is undone, and run again it would wait again inside this
                        # transaction, so it goes into the next one instead, alone.
                        if gave_way(exc) and tries.get(id(job), 1) < MAX_TRIES:
                            tries[id(job)] = tries.get(id(job), 1) + 1
                            log.warning("a write gave way in a deadlock with another process; run again "
                                        "(try %d of %d)", tries[id(job)], MAX_TRIES)
                            again.append(job)
                            results.append(None)
                            continue
                        results.append((False, exc))
                    else:
                        conn.execute(f"RELEASE w{i}")
                        results.append((True, value))
                conn.execute("COMMIT")
                self.commits += 1
                self.writes += len(batch) - len(again)
            except BaseException as exc:  # the commit itself failed: nobody's write is durable
                log.exception("write batch failed")
                try:
                    conn.execute("ROLLBACK")
                except Exception:  # noqa: BLE001 - sqlite3.Error or psycopg.Error: the batch is lost either way
                    pass
                results = [(False, exc)] * len(batch)
                again = []  # nothing to run again: every write of the batch is told it failed
                if self.engine == "postgresql" and conn.broken:  # the server went away: a new connection
                    conn = self._reconnect(conn)
            # One wake-up of each event loop per batch, not one per write.
            by_loop: dict = {}
            for job, result in zip(batch, results):
                if result is None:  # runs again in the next transaction
                    continue
                tries.pop(id(job), None)
                (fn, loop, fut), (ok, value) = job, result
                if loop is None:
                    fut(ok, value)
                else:
                    by_loop.setdefault(loop, []).append((fut, ok, value))
            for loop, items in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_resolve_all, items)
                except RuntimeError:  # that loop has closed: nobody is waiting any more
                    pass
            if stop and not again:  # the writes to run again first, then stop
                if pending is not None:
                    self._run_checkpoint(pending)
                return

    def _reconnect(self, old):
        """The writer's connection again after PostgreSQL dropped it (a restart, a failover); the
        old one if the server cannot be reached yet (the next batch tries again)."""
        try:
            new = PgConnection(self._target, application_name="councilcast-writer")
        except ConnectionError as exc:
            log.error("database writer: %s", exc)
            return old
        old.close()
        self._conn = new
        log.warning("database writer reconnected to %s", self.path)
        return new

    # -- reading -------------------------------------------------------------------
    def connect_reader(self):
        """A new read-only connection of the caller's own (close it after): for long reads
        outside the pool, such as ``councilcast db copy``."""
        if self.engine == "postgresql":
            return PgConnection(self._target, readonly=True, application_name="councilcast-reader")
        return _connect(self.path, readonly=True)

    async def connect_async(self, application_name: str):
        """A new asyncio connection of the caller's own (PostgreSQL only), in autocommit mode: the
        process's LISTEN connection and the scheduler's lock (:mod:`councilcast.services.bus`)."""
        if self.engine != "postgresql":
            raise ValueError("asyncio connections are PostgreSQL's: SQLite has one process")
        from councilcast.stores.events import connect

        return await connect(self._target, application_name)

    def _reader(self):
        conn = getattr(self._local, "conn", None)
        if conn is not None and self.engine == "postgresql" and conn.broken:
            with self._readers_lock:
                self._readers.remove(conn)
            conn.close()
            conn = None
        if conn is None:
            if self.engine == "postgresql":
                conn = PgConnection(self._target, readonly=True, application_name="councilcast-reader")
            else:
                conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    async def read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(conn)`` on a read-only connection in the read pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, lambda: fn(self._reader()))

    def read_sync(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        return self._read_pool.submit(lambda: fn(self._reader())).result()


def _resolve_all(items: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for fut, ok, value in items:
        if fut.done():  # the caller went away (cancelled); the write is committed regardless
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (sqlite3.execute takes one at a time).

    ``executescript`` would COMMIT our migration transaction behind our back.
    """
    out, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out
