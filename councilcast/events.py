"""One WebSocket per screen at ``/ws``: clock sync and the event fan-out.

Client -> server messages (JSON text frames):

- ``{"type": "sync", "t0": <client ms>}``: answered at once with
  ``{"type": "sync", "t0": ..., "t1": <server ms at receipt>, "t2": <server ms at send>}``
  (NTP-style; ``static/js/clock.js`` keeps the offset of its lowest-RTT samples).

Server -> client: ``{"type": "hello", "server_time": <ms>, ...}`` on connect, then every
published event, e.g. ``round.opened``, ``round.closed``, ``round.result``. Any area
publishes with ``await app[EVENTS].publish({"type": ..., ...})``.

Fan-out: an event is serialized to JSON once and framed once (an unmasked, uncompressed
RFC 6455 text frame); the same bytes are then written to each socket's transport in one
synchronous pass, with no per-socket coroutine, await or copy. The naive loop
(``await ws.send_str(text)`` per socket) is kept as :meth:`EventHub.publish_naive` for
the benchmark's baseline. A socket whose send buffer is above ``SLOW_LIMIT`` (a client
that stopped reading) is dropped instead of buffering without bound.

Beyond one process, :class:`EventHub` is the seam: a broker-backed hub publishes to the
broker and every process writes what it receives to its own sockets (docs/voting.md).
"""

from __future__ import annotations

import asyncio
import math
import json
import logging
import struct
import time
from typing import Callable

from aiohttp import WSMsgType, web

__all__ = ["EVENTS", "EventHub", "setup", "frame_text"]

log = logging.getLogger(__name__)

SLOW_LIMIT = 1 << 20  # bytes waiting in a socket's send buffer before we give up on it
MAX_CLIENT_MESSAGE = 4096


def frame_text(payload: bytes) -> bytes:
    """An unmasked final text frame (server -> client, RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


def sync_fast_answers() -> int:
    """How many sync requests the fast path answered (diagnostics)."""
    return _Stamp.answered_total


def now_ms() -> float:
    return time.time() * 1000.0


class EventHub:
    """The set of connected screens and the publish operation."""

    def __init__(self):
        self._clients: dict[web.WebSocketResponse, asyncio.Transport] = {}
        self.hello_extra: list[Callable[[], dict]] = []  # areas add state to the hello message
        self.published = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, ws: web.WebSocketResponse, transport: asyncio.Transport) -> None:
        self._clients[ws] = transport

    def discard(self, ws: web.WebSocketResponse) -> None:
        self._clients.pop(ws, None)

    async def publish(self, event: dict) -> int:
        """Send ``event`` to every screen; returns how many sockets it was written to."""
        event.setdefault("sent_at", now_ms())
        frame = frame_text(json.dumps(event, separators=(",", ":")).encode())
        return self.publish_frame(frame)

    def publish_frame(self, frame: bytes) -> int:
        sent = 0
        slow = []
        for ws, transport in self._clients.items():
            if transport.is_closing():
                continue
            if transport.get_write_buffer_size() > SLOW_LIMIT:
                slow.append(ws)
                continue
            transport.write(frame)
            sent += 1
        for ws in slow:
            self.dropped += 1
            self.discard(ws)
            t = asyncio.ensure_future(ws.close(code=1008, message=b"too slow"))
            t.add_done_callback(lambda f: f.exception())
        self.published += 1
        return sent

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


EVENTS = web.AppKey("events", EventHub)


class _Stamp:
    """Wraps a screen's connection protocol: stamps receipt times, answers sync at once.

    NTP practice: the server's receive time ``t1`` is taken as close to the wire as
    possible, so that time spent queued inside the server counts as server processing
    (``t2 - t1``), which the offset formula subtracts, instead of one-way delay, which it
    cannot tell from clock offset.

    Fast path: when a read holds exactly one complete, small, masked text frame that is a
    sync request in its exact form, the answer is written here, without the trip through
    aiohttp's reader, queue and handler task (about a quarter of the CPU). Everything else
    goes to aiohttp unchanged. Frame boundaries of what is passed on are tracked; if they
    are ever unclear (a header split across reads), the fast path switches itself off for
    that connection.
    """

    def __init__(self, inner, transport):
        self.inner = inner
        self.transport = transport
        self.rx = 0.0
        self.remaining = 0   # bytes of a frame already passed on, still to come
        self.fast = True

    answered_total = 0  # sync requests answered by the fast path, in this process

    def data_received(self, data):
        t1 = self.rx = now_ms()
        if self.fast and self.remaining == 0 and len(data) >= 6 and data[0] == 0x81 and data[1] & 0x80:
            n = data[1] & 0x7F
            if n < 126 and len(data) == 6 + n:
                mask = data[2:6]
                key = (mask * ((n >> 2) + 1))[:n]
                payload = (int.from_bytes(data[6:], "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
                if payload.startswith(_SYNC_PREFIX_B) and payload.endswith(b"}"):
                    t0 = _finite(payload[len(_SYNC_PREFIX_B):-1])
                    if t0 is not None and not self.transport.is_closing():
                        reply = '{"type":"sync","t0":%r,"t1":%r,"t2":%r}' % (t0, t1, now_ms())
                        self.transport.write(frame_text(reply.encode()))
                        _Stamp.answered_total += 1
                        return
        if self.fast:
            self._track(data)
        self.inner.data_received(data)

    def _track(self, data) -> None:
        pos, size = 0, len(data)
        if self.remaining:
            step = min(self.remaining, size)
            self.remaining -= step
            pos = step
        while pos < size:
            if size - pos < 2:
                self.fast = False
                return
            n = data[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    self.fast = False
                    return
                n, head = int.from_bytes(data[pos + 2:pos + 4], "big"), 4
            elif n == 127:
                if size - pos < 10:
                    self.fast = False
                    return
                n, head = int.from_bytes(data[pos + 2:pos + 10], "big"), 10
            if data[pos + 1] & 0x80:
                head += 4
            total = head + n
            if pos + total > size:
                self.remaining = pos + total - size
                return
            pos += total

    def connection_made(self, transport):
        self.inner.connection_made(transport)

    def connection_lost(self, exc):
        self.inner.connection_lost(exc)

    def eof_received(self):
        return self.inner.eof_received()

    def pause_writing(self):
        self.inner.pause_writing()

    def resume_writing(self):
        self.inner.resume_writing()

    def __getattr__(self, name):
        return getattr(self.inner, name)

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


async def ws_handler(request: web.Request) -> web.StreamResponse:
    hub = request.app[EVENTS]
    # No permessage-deflate: compressing per socket would undo the shared frame.
    ws = web.WebSocketResponse(compress=False, heartbeat=30, max_msg_size=MAX_CLIENT_MESSAGE)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    hello = {"type": "hello", "server_time": now_ms()}
    for extra in hub.hello_extra:
        try:
            hello.update(extra())
        except Exception:  # noqa: BLE001 - a broken extra must not cut the socket
            log.exception("hello extra failed")
    await ws.send_str(json.dumps(hello, separators=(",", ":")))
    stamp = None
    if isinstance(transport, asyncio.Transport) and not isinstance(transport.get_protocol(), asyncio.BufferedProtocol):
        stamp = _Stamp(transport.get_protocol(), transport)
        transport.set_protocol(stamp)
    hub.add(ws, transport)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            t1 = stamp.rx if stamp is not None and stamp.rx else now_ms()
            t0 = _sync_t0(msg.data)
            if t0 is not None:
                await ws.send_str('{"type":"sync","t0":%r,"t1":%r,"t2":%r}' % (t0, t1, now_ms()))
    finally:
        hub.discard(ws)
    return ws


def setup(app: web.Application) -> EventHub:
    """Register the hub and ``/ws`` once (idempotent, so any area may call it)."""
    if EVENTS in app:
        return app[EVENTS]
    hub = EventHub()
    app[EVENTS] = hub
    app.router.add_get("/ws", ws_handler, name="ws")

    app.on_shutdown.append(lambda app: hub.close_all())
    return hub
