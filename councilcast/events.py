"""One WebSocket per screen at ``/ws``: clock sync and the event fan-out.

Client -> server messages (JSON text frames):

- ``{"type": "sync", "t0": <client ms>}``: answered at once with
  ``{"type": "sync", "t0": ..., "t1": <server ms at receipt>, "t2": <server ms at send>}``
  (NTP-style; ``static/js/clock.js`` keeps the offset of its lowest-RTT samples).

Server -> client: ``{"type": "hello", "server_time": <ms>, ...}`` on connect, then every
published event, e.g. ``round.opened``, ``round.closed``, ``round.result``. Any area
publishes with ``await app[EVENTS].publish({"type": ..., ...})``.

Two paths, one behaviour (``COUNCILCAST_WS_FASTPATH``, on by default; docs/settings.md):

- **fast** (:mod:`councilcast.wsfast`, which holds every raw frame write and every use of
  aiohttp internals): an event is serialized to JSON once and framed once; the same bytes
  are then written to each socket's transport in one synchronous pass, with no per-socket
  coroutine, await or copy. Each connection's protocol is wrapped so that ``t1`` is taken
  at the socket read and a sync request in the exact form clock.js sends is answered there.
  The heartbeat is the hub's (:meth:`EventHub.beat`, :class:`councilcast.wsfast.Heartbeat`):
  every ``HEARTBEAT_S`` a screen gets a ping, the due ones of a pass as one shared frame,
  its pong is taken at the read, and a screen that read nothing since its last ping is
  closed, as aiohttp's per-socket heartbeat (a task and two timers each) would.
- **public** (the setting off, or :func:`councilcast.wsfast.check` finding that the
  installed aiohttp lacks what the fast path needs): aiohttp's public API only,
  ``ws.send_str`` per socket (started together, so one socket in flow control does not
  hold the others) and ``async for msg in ws`` with ``t1`` taken when the message comes
  out of aiohttp's reader, and aiohttp's own heartbeat. Same messages, more CPU per event,
  per sync and per idle screen.

:attr:`EventHub.ws_path` says which is active (``/api/voting/stats`` reports it). The naive
loop (``await ws.send_str(text)`` per socket, in turn) is kept as
:meth:`EventHub.publish_naive` for the benchmark's baseline. On both paths a socket whose
send buffer is above ``SLOW_LIMIT`` (a client that stopped reading) is dropped instead of
buffering without bound.

Beyond one process, :class:`EventHub` is the seam. On PostgreSQL a bus is attached
(:class:`councilcast.services.bus.PgBus`, ``hub.bus``): :meth:`EventHub.publish` and
:meth:`EventHub.write_and_publish` hand the event to ``pg_notify`` (in the transaction that
makes it true) instead of writing it here, and every process, this one included, writes what
its LISTEN connection receives to its own sockets with :meth:`EventHub.publish_local`. With no
bus (SQLite, one process) publishing is local, as it always was (docs/voting.md, "Events
across processes").
"""

from __future__ import annotations

import asyncio
import math
import json
import logging
import time
from typing import Awaitable, Callable

from aiohttp import WSMsgType, web

from councilcast import wsfast
from councilcast.wsfast import SLOW_LIMIT, frame_text

__all__ = ["EVENTS", "EventHub", "setup", "frame_text"]

log = logging.getLogger(__name__)

MAX_CLIENT_MESSAGE = 4096
HEARTBEAT_S = 30.0  # s between pings to a screen; one silent for as long after a ping is dropped
PUBLIC_SEND_WAIT = 0.1  # s the public path's publish waits for sockets in flow control


def sync_fast_answers() -> int:
    """How many sync requests the fast path answered (diagnostics)."""
    return wsfast.sync_fast_answers()


def now_ms() -> float:
    return time.time() * 1000.0


class EventHub:
    """The set of connected screens and the publish operation.

    ``fastpath``: write events as one shared frame through :mod:`councilcast.wsfast`
    (True) or through aiohttp's public ``ws.send_str`` (False); see the module docstring.
    """

    def __init__(self, fastpath: bool = True, fastpath_off_reason: str | None = None):
        self._clients: dict[web.WebSocketResponse, asyncio.Transport] = {}
        self.hello_extra: list[Callable[[], dict]] = []  # areas add state to the hello message
        self.published = 0
        self.dropped = 0
        self.fastpath = fastpath
        self.fastpath_off_reason = None if fastpath else (fastpath_off_reason or "off")
        self._sending: set[asyncio.Future] = set()  # public path: sends still in flow control
        # fast path: one shared ping frame per pass instead of aiohttp's per-socket heartbeat
        self.heartbeat = wsfast.Heartbeat(HEARTBEAT_S)
        self.silent_dropped = 0
        self.bus = None  # PostgreSQL: the process's LISTEN/NOTIFY bus (councilcast.services.bus.PgBus)
        # with a bus: callbacks(event, own) for every event received, before the screens get it
        # (areas keep their state for the hello), and async callbacks() -> [events] after a lost
        # LISTEN connection came back (fresh state for this process's screens)
        self.on_received: list[Callable[[dict, bool], Awaitable[None]]] = []
        self.on_resync: list[Callable[[], Awaitable[list[dict]]]] = []

    @property
    def ws_path(self) -> str:
        """``"fast"`` or ``"public"``: which WebSocket path this hub uses."""
        return "fast" if self.fastpath else "public"

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, ws: web.WebSocketResponse, transport: asyncio.Transport, stamp: wsfast.Stamp | None = None) -> None:
        self._clients[ws] = transport
        if self.fastpath:
            self.heartbeat.add(ws, transport, stamp, asyncio.get_running_loop().time())

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._clients.pop(ws, None)
        self.heartbeat.discard(ws)

    def beat(self) -> int:
        """One pass of the fast path's heartbeat: ping the screens that are due (one shared
        frame, one synchronous pass) and close the silent ones; returns how many were pinged."""
        ping, silent = self.heartbeat.due(asyncio.get_running_loop().time())
        sent, slow = wsfast.write_all(ping, wsfast.PING)
        self._drop(slow)
        for ws in silent:
            self.silent_dropped += 1
            transport = self._clients.get(ws)
            self.discard(ws)
            if transport is not None:
                transport.close()  # as aiohttp does when no pong came: its handler then ends
        return sent

    async def heartbeat_loop(self) -> None:
        """:meth:`beat` about every second (a quarter of the interval when it is shorter)."""
        while True:
            await asyncio.sleep(min(1.0, self.heartbeat.interval / 4))
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - one bad pass must not end the heartbeat
                log.exception("/ws heartbeat pass failed")

    async def publish(self, event: dict) -> int | None:
        """Send ``event`` to every screen: here (returns how many sockets it was written to) or,
        with a bus, to every process through ``pg_notify`` in a transaction of its own (returns
        None: each process writes it to its own sockets when LISTEN delivers it)."""
        if self.bus is not None:
            await self.bus.publish(event)
            return None
        return await self.publish_local(event)

    async def write_and_publish(self, db, fn: Callable, events_of: Callable[[object], list[dict]]):
        """Run ``fn(conn)`` as one write of ``db`` and publish the events ``events_of(value)``.

        No bus: once the write committed, here (what publishing always was). With a bus:
        ``events_of`` runs in the same transaction, on the writer's connection, and its
        events go out with ``pg_notify`` there, so that none reaches a screen before its
        cause is durable, nor at all if the write fails.
        """
        if self.bus is None:
            value = await db.write(fn)
            for event in events_of(value):
                await self.publish_local(event)
            return value
        return await db.write(lambda conn: self.bus.emit_after(conn, fn(conn), events_of))

    async def publish_local(self, event: dict) -> int:
        """Send ``event`` to this process's screens; returns how many sockets it was written to."""
        event.setdefault("sent_at", now_ms())
        text = json.dumps(event, separators=(",", ":"))
        if self.fastpath:
            return self.publish_frame(frame_text(text.encode()))
        return await self._publish_public(text)

    async def publish_local_many(self, events: list[dict]) -> int:
        """Send ``events`` to this process's screens, in order; on the fast path their frames go
        to each socket as one write. Returns how many sockets the last was written to."""
        if not events:
            return 0
        if len(events) == 1 or not self.fastpath:
            sent = 0
            for event in events:
                sent = await self.publish_local(event)
            return sent
        now = now_ms()
        frames = []
        for event in events:
            event.setdefault("sent_at", now)
            frames.append(frame_text(json.dumps(event, separators=(",", ":")).encode()))
        sent = self.publish_frame(b"".join(frames))
        self.published += len(events) - 1  # publish_frame counted one
        return sent

    def publish_frame(self, frame: bytes) -> int:
        """Write one encoded frame to every socket's transport (the fast path's fan-out)."""
        sent, slow = wsfast.write_all(self._clients.items(), frame)
        self._drop(slow)
        self.published += 1
        return sent

    async def _publish_public(self, text: str) -> int:
        """The public path: ``ws.send_str`` to every socket, all started at once.

        aiohttp writes an uncompressed frame before it waits for the socket's flow control,
        so after at most ``PUBLIC_SEND_WAIT`` every frame is written; sends still waiting
        for a slow reader finish in the background (that socket is dropped once its buffer
        passes ``SLOW_LIMIT``) and count as written.
        """
        targets, slow = [], []
        for ws, transport in self._clients.items():
            if ws.closed or transport.is_closing():
                continue
            if transport.get_write_buffer_size() > SLOW_LIMIT:
                slow.append(ws)
                continue
            targets.append(ws)
        self._drop(slow)
        self.published += 1
        if not targets:
            return 0
        tasks = [asyncio.ensure_future(_send(ws, text)) for ws in targets]
        done, pending = await asyncio.wait(tasks, timeout=PUBLIC_SEND_WAIT)
        for t in pending:
            self._sending.add(t)
            t.add_done_callback(self._sending.discard)
        return sum(1 for t in done if t.result()) + len(pending)

    def _drop(self, slow: list) -> None:
        for ws in slow:
            self.dropped += 1
            self.discard(ws)
            t = asyncio.ensure_future(ws.close(code=1008, message=b"too slow"))
            t.add_done_callback(lambda f: f.exception())

    async def publish_naive(self, event: dict) -> int:
        """The baseline: one awaited ``send_str`` per socket (the text serialized once)."""
        event.setdefault("sent_at", now_ms())
        text = json.dumps(event, separators=(",", ":"))
        sent = 0
        for ws in list(self._clients):
            try:
                await ws.send_str(text)
                sent += 1
            except (ConnectionError, RuntimeError):
                pass
        return sent

    async def close_all(self, timeout: float = 2.0) -> None:
        """Close every socket (code 1001), all at once, waiting at most ``timeout`` s."""
        clients = list(self._clients)
        self._clients.clear()
        self.heartbeat.clear()
        if not clients:
            return

        async def close(ws):
            try:
                await ws.close(code=1001, message=b"server shutdown")
            except (ConnectionError, RuntimeError):
                pass
        tasks = [asyncio.ensure_future(close(ws)) for ws in clients]
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for t in pending:
            t.cancel()
        for t in list(self._sending):
            t.cancel()


async def _send(ws: web.WebSocketResponse, text: str) -> bool:
    try:
        await ws.send_str(text)
    except (ConnectionError, RuntimeError):
        return False
    return True


EVENTS = web.AppKey("events", EventHub)

SYNC_PREFIX = '{"type":"sync","t0":'
_SYNC_PREFIX_B = SYNC_PREFIX.encode()


def _finite(value) -> float | None:
    """``value`` as a finite float, or None (NaN, infinities, numbers beyond a float, non-numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, bytes)):
        return None
    try:
        f = float(value)
    except (ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _sync_t0(text: str) -> float | None:
    """``t0`` of a sync request, or None. The common exact form is read without a JSON parse."""
    if text.startswith(SYNC_PREFIX) and text.endswith("}"):
        t0 = _finite(text[len(SYNC_PREFIX):-1])
        if t0 is not None:
            return t0
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser's depth
        return None
    if isinstance(data, dict) and data.get("type") == "sync" and isinstance(data.get("t0"), (int, float)):
        return _finite(data["t0"])
    return None


def _sync_answer(t0: float, t1: float) -> str:
    return '{"type":"sync","t0":%r,"t1":%r,"t2":%r}' % (t0, t1, now_ms())


def _answer_at_read(payload: bytes, t1: float) -> bytes | None:
    """The fast path's answer to a small text message read at ``t1``: sync requests in the
    exact form clock.js sends (``JSON.stringify``); None passes the message on to aiohttp."""
    if payload.startswith(_SYNC_PREFIX_B) and payload.endswith(b"}"):
        t0 = _finite(payload[len(_SYNC_PREFIX_B):-1])
        if t0 is not None:
            return _sync_answer(t0, t1).encode()
    return None


async def ws_handler(request: web.Request) -> web.StreamResponse:
    hub = request.app[EVENTS]
    # No permessage-deflate: compressing per socket would undo the shared frame.
    # The fast path's heartbeat is the hub's (EventHub.beat); the public path keeps aiohttp's.
    ws = web.WebSocketResponse(compress=False, heartbeat=None if hub.fastpath else HEARTBEAT_S,
                               max_msg_size=MAX_CLIENT_MESSAGE)
    try:
        await ws.prepare(request)
    except ConnectionError:  # gone before the handshake's answer was written
        return ws
    transport = request.transport
    if transport is None:
        return ws
    # The fast path wraps the protocol before any other await, at a frame boundary.
    stamp = wsfast.install(transport, _answer_at_read, MAX_CLIENT_MESSAGE) if hub.fastpath else None
    hello = {"type": "hello", "server_time": now_ms()}
    for extra in hub.hello_extra:
        try:
            hello.update(extra())
        except Exception:  # noqa: BLE001 - a broken extra must not cut the socket
            log.exception("hello extra failed")
    try:
        await ws.send_str(json.dumps(hello, separators=(",", ":")))
        hub.add(ws, transport, stamp)  # after the hello, so that no event reaches a screen before it
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            t1 = stamp.rx if stamp is not None and stamp.rx else now_ms()
            t0 = _sync_t0(msg.data)
            if t0 is not None:
                await ws.send_str(_sync_answer(t0, t1))
    except ConnectionError:  # the screen left (a page reloaded, a phone went away): not an error
        pass
    finally:
        hub.discard(ws)
    return ws


def setup(app: web.Application, *, fastpath: bool = True) -> EventHub:
    """Register the hub and ``/ws`` once (idempotent, so any area may call it).

    ``fastpath``: the setting ``ws_fastpath`` (the caller passes it from the app's config).
    Even when wanted, :func:`councilcast.wsfast.check` may find the installed aiohttp unfit:
    then the public path, and a warning that says why.
    """
    if EVENTS in app:
        return app[EVENTS]
    wanted = fastpath
    reason = wsfast.check() if wanted else "COUNCILCAST_WS_FASTPATH is off"
    if wanted and reason is not None:
        log.warning("/ws fast path off, using aiohttp's public WebSocket API: %s", reason)
    hub = EventHub(fastpath=reason is None, fastpath_off_reason=reason)
    app[EVENTS] = hub
    app.router.add_get("/ws", ws_handler, name="ws")

    app.on_shutdown.append(lambda app: hub.close_all())
    if hub.fastpath:
        async def heartbeat(app):
            task = asyncio.create_task(hub.heartbeat_loop())
            yield
            task.cancel()
        app.cleanup_ctx.append(heartbeat)
    return hub
