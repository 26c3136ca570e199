"""Several server processes on one PostgreSQL database behave as one server (issue 15, events).

:class:`PgBus` is attached to a process's :class:`councilcast.events.EventHub` when the store
is PostgreSQL (``hub.bus``); with SQLite there is none and nothing here runs.

- **Out**: an event goes out with ``pg_notify`` in the writer's transaction that makes it true
  (:meth:`PgBus.emit_after`, through :meth:`EventHub.write_and_publish`), or in a transaction
  of its own when nothing is written (:meth:`PgBus.publish`: a round opening at its time).
  PostgreSQL delivers notifications at COMMIT, in commit order, to every listener, and drops
  them with a rolled-back transaction or SAVEPOINT. Bodies past NOTIFY's 8,000 bytes travel as
  a row id (:mod:`councilcast.stores.events`).
- **In**: one LISTEN connection per process (psycopg's asyncio connection on the event loop,
  not the writer's thread). Every notification, this process's own included, is handled in
  order by one task: the areas' ``hub.on_received`` callbacks keep their state (rounds pending,
  live sessions) and then :meth:`EventHub.publish_local` writes it to this process's screens.
  So each event reaches each process exactly once, through one path; the publisher does not
  also write it locally.
- **Lost LISTEN**: the task reconnects (0.2 s, then up to 2 s between tries), LISTENs again
  and only then asks the areas to re-read (``hub.on_resync``) and publish fresh state to its
  screens: an event committed while the connection was down is in what they read, one
  committed after the LISTEN arrives as a notification. A resync may repeat a state a screen
  already shows; it never leaves one out.
- **One scheduler**: :class:`SchedulerLock` holds ``pg_try_advisory_lock`` on a connection of
  its own; the other processes try every :data:`LOCK_POLL_S`. A holder that dies drops its
  connection and so the lock; a holder whose connection fails stops scheduling at once.
- **Heartbeat**: every :data:`HEARTBEAT_S` a row (pid, host, screens, scheduler, started,
  last seen) per process, for ``/api/voting/stats``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from councilcast.events import EventHub, now_ms
from councilcast.storage import Database
from councilcast.stores import events as store

__all__ = ["PgBus", "SchedulerLock", "HEARTBEAT_S", "SEEN_S", "LOCK_POLL_S"]

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0  # a process's row is written this often
SEEN_S = 10.0  # stats count the processes seen this recently
LOCK_POLL_S = 1.0  # how often a process without the scheduler's lock tries to take it
RETRY_S = (0.2, 0.5, 1.0, 2.0)  # waits between LISTEN reconnections


class PgBus:
    """The process's LISTEN/NOTIFY bus (module docstring). ``start`` after the areas registered
    their callbacks; ``stop`` at shutdown."""

    def __init__(self, db: Database, hub: EventHub):
        self.db = db
        self.hub = hub
        self.host = socket.gethostname()
        self.id = f"{self.host}:{os.getpid()}:{secrets.token_hex(3)}"
        self.started_at = time.time()
        self.scheduler = False  # whether this process holds the scheduler's lock (set by SchedulerLock)
        self.connected = asyncio.Event()
        self.received = 0
        self.reconnects = 0
        self._tasks: list[asyncio.Task] = []
        hub.bus = self

    # -- out ---------------------------------------------------------------------------------
    def emit(self, conn, event: dict) -> None:
        """In a write function: ``event`` goes to every process at this transaction's COMMIT."""
        event.setdefault("sent_at", now_ms())
        store.notify(conn, self.id, json.dumps(event, separators=(",", ":")), time.time())

    def emit_together(self, conn, events: list[dict]) -> None:
        """In a write function: ``events`` (made true by this one transaction) go to every process
        at its COMMIT as one notification, and each process writes them to a screen in one write
        of their frames: the close's ``round.closed`` and ``round.result`` cost 60,000 screens one
        system call each, not two."""
        now = now_ms()
        for event in events:
            event.setdefault("sent_at", now)
        store.notify(conn, self.id, json.dumps(events, separators=(",", ":")), time.time())

    def emit_after(self, conn, value, events_of: Callable[[object], list[dict]]):
        for event in events_of(value):
            self.emit(conn, event)
        return value

    async def publish(self, event: dict) -> None:
        """``event`` to every process, in a transaction of its own (nothing else is written)."""
        await self.db.write(lambda conn: self.emit(conn, event))

    # -- in ----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen (the first connection before the server takes requests) and beat."""
        conn = await self.db.connect_async(f"councilcast-listen-{os.getpid()}")
        await store.listen(conn)
        self.connected.set()
        self._tasks = [asyncio.create_task(self._listen(conn), name="bus-listen"),
                       asyncio.create_task(self._beat(), name="bus-heartbeat")]

    async def _listen(self, conn) -> None:
        attempt = 0
        while True:
            if conn is None:
                await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                attempt += 1
                try:
                    conn = await self.db.connect_async(f"councilcast-listen-{os.getpid()}")
                    await store.listen(conn)
                except Exception as exc:  # noqa: BLE001 - ConnectionError, psycopg.Error: try again
                    log.warning("event bus: LISTEN not back yet: %s", exc)
                    conn = await _closed(conn)
                    continue
                self.reconnects += 1
                self.connected.set()
                attempt = 0
                log.warning("event bus: LISTEN connection back; resyncing this process's screens")
                await self._resync()
            try:
                async for n in conn.notifies():
                    await self._deliver(n.payload)
                raise ConnectionError("the notification stream ended")
            except asyncio.CancelledError:
                await _closed(conn)
                raise
            except Exception as exc:  # noqa: BLE001 - psycopg.OperationalError and kin: reconnect
                self.connected.clear()
                log.warning("event bus: LISTEN connection lost (%s); reconnecting", type(exc).__name__)
                conn = await _closed(conn)

    async def _deliver(self, payload: str) -> None:
        try:
            origin, text, ref = store.parse(payload)
            if text is None:
                text = await self.db.read(lambda c: store.event_body(c, ref))
                if text is None:
                    log.error("event bus: body %s is gone (kept %d s)", ref, store.BODIES_KEPT_S)
                    return
            data = json.loads(text)
            events = data if isinstance(data, list) else [data]  # a list: emit_together's
            if not all(isinstance(e, dict) for e in events):
                raise TypeError("not an event")
        except (ValueError, TypeError):
            log.error("event bus: a notification that is not ours: %.80r", payload)
            return
        self.received += len(events)
        own = origin == self.id
        for event in events:
            for callback in self.hub.on_received:
                try:
                    await callback(event, own)
                except Exception:  # noqa: BLE001 - the screens still get the event
                    log.exception("event bus: a listener failed on %s", event.get("type"))
        await self.hub.publish_local_many(events)

    async def _resync(self) -> None:
        """The areas re-read their state; this process's screens get ``resync`` (what a hello
        carries: the rounds not yet published, the live sessions) and then each area's fresh
        state as the events they already handle (``round.opened``, ``round.result``,
        ``session.opened``, ... with ``"resync": true``)."""
        fresh: list[dict] = []
        for again in self.hub.on_resync:
            try:
                fresh += await again()
            except Exception:  # noqa: BLE001 - the other areas still resync
                log.exception("event bus: a resync failed")
        snapshot = {"type": "resync", "server_time": now_ms()}
        for extra in self.hub.hello_extra:
            try:
                snapshot.update(extra())
            except Exception:  # noqa: BLE001 - as in the hello
                log.exception("hello extra failed")
        for event in [snapshot, *fresh]:
            await self.hub.publish_local(event)

    # -- heartbeat and stats -----------------------------------------------------------------
    def _row(self) -> dict:
        return {"id": self.id, "pid": os.getpid(), "host": self.host, "screens": len(self.hub),
                "scheduler": self.scheduler, "started_at": self.started_at}

    async def beat(self) -> None:
        """Write this process's row now (every :data:`HEARTBEAT_S`, and at a takeover)."""
        await self.db.write(lambda c: store.heartbeat(c, self._row(), time.time(), 6 * SEEN_S))

    async def _beat(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:  # noqa: BLE001 - the next beat tries again
                log.exception("event bus: heartbeat failed")
            await asyncio.sleep(HEARTBEAT_S)

    async def processes(self) -> list[dict]:
        """Every process seen in the last :data:`SEEN_S` (this one always, as it is now)."""
        rows = await self.db.read(lambda c: store.live_processes(c, time.time() - SEEN_S))
        rows = [r for r in rows if r["id"] != self.id]
        return [{**self._row(), "last_seen": time.time()}, *rows]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._tasks = []
        try:
            await self.db.write(lambda c: store.forget_process(c, self.id))
        except Exception:  # noqa: BLE001 - stale rows age out of the stats anyway
            pass


class SchedulerLock:
    """Run ``lead()`` while this process holds the scheduler's advisory lock; ``follow()`` when it
    loses it. Tried every :data:`LOCK_POLL_S` on a connection of its own; held, that connection
    is checked as often, and a failure stops the scheduling before anyone else can take over."""

    def __init__(self, db: Database, bus: PgBus, lead: Callable[[], Awaitable[None]],
                 follow: Callable[[], Awaitable[None]]):
        self.db, self.bus, self.lead, self.follow = db, bus, lead, follow
        self.takeovers = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="scheduler-lock")

    async def _run(self) -> None:
        conn = None
        try:
            while True:
                try:
                    if conn is None or conn.closed or conn.broken:
                        conn = await self.db.connect_async(f"councilcast-scheduler-{os.getpid()}")
                    if not self.bus.scheduler:
                        if await store.try_scheduler_lock(conn):
                            self.bus.scheduler = True
                            self.takeovers += 1
                            log.info("this process (%s) now runs the round scheduler", self.bus.id)
                            await self.lead()
                            await self.bus.beat()  # the stats name the new holder at once
                    else:
                        await store.alive(conn)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the lock went with the connection
                    log.warning("scheduler lock: connection failed (%s)", exc)
                    conn = await _closed(conn)
                    if self.bus.scheduler:
                        self.bus.scheduler = False
                        log.warning("this process (%s) stopped running the round scheduler", self.bus.id)
                        await self.follow()
                await asyncio.sleep(LOCK_POLL_S)
        finally:
            await _closed(conn)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self.bus.scheduler:
            self.bus.scheduler = False
            await self.follow()


async def _closed(conn) -> None:
    if conn is not None:
        try:
            await conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
    return None
