"""The ``/ws`` fast path: everything that writes raw WebSocket frames or leans on aiohttp internals.

:mod:`councilcast.events` owns the messages (hello, sync, events); this module owns the
bytes, for two costs measured in docs/voting.md (Figures):

- **Shared frame** (:func:`frame_text`, :func:`write_all`): an event is framed once as an
  unmasked, uncompressed RFC 6455 text frame and the same bytes go to every socket's
  transport in one synchronous pass, with no per-socket coroutine, await or copy.
- **One heartbeat** (:class:`Heartbeat`, :data:`PING`): every screen pinged by a shared
  frame in one pass, its pong taken at the read (:class:`Stamp`), instead of aiohttp's task
  and timers per socket per ping.
- **Sync at the read** (:class:`Stamp`, :func:`install`): the connection's protocol is
  wrapped, so that the receipt time ``t1`` is taken when the bytes reach the process, and
  a read that is exactly one small sync request is answered right there, without the trip
  through aiohttp's reader, queue and handler task.

What this relies on, and :func:`check` verifies once at start (``COUNCILCAST_WS_FASTPATH``
off, or a failed check, and :mod:`councilcast.events` uses aiohttp's public WebSocket API
only; same behaviour, more CPU per message):

1. aiohttp's server protocol (``aiohttp.web_protocol.RequestHandler``) is a plain
   ``asyncio.Protocol`` (not a ``BufferedProtocol``) whose ``data_received`` feeds the
   WebSocket parser once upgraded, so a wrapper installed with ``transport.set_protocol``
   sees every byte first and can pass it on unchanged;
2. aiohttp's ``WebSocketWriter`` writes an uncompressed frame with consecutive
   ``transport.write`` calls and no await in between, so our whole frames never land
   inside one of its frames (``compress=False`` on every ``/ws`` socket);
3. the transport has ``get_protocol``, ``set_protocol`` and ``get_write_buffer_size``.

Each connection is checked again when it is wrapped (:func:`install`): one that does not
fit (another protocol class, a buffered protocol) keeps aiohttp's path for its reads.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
import time
from typing import Callable, Iterable

__all__ = ["frame_text", "check", "Stamp", "install", "write_all", "sync_fast_answers", "Heartbeat", "PING",
           "SLOW_LIMIT"]

log = logging.getLogger(__name__)

SLOW_LIMIT = 1 << 20  # bytes waiting in a socket's send buffer before we give up on it

_OP_CONTINUATION, _OP_TEXT, _OP_BINARY, _OP_CLOSE, _OP_PING, _OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
PING = b"\x89\x00"  # an unmasked final ping with no payload (server -> client)


def frame_text(payload: bytes) -> bytes:
    """An unmasked final text frame (server -> client, RFC 6455 section 5.2).

    >>> frame_text(b"hi")
    b'\\x81\\x02hi'
    >>> frame_text(b"x" * 126)[:4]
    b'\\x81~\\x00~'
    """
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


@functools.cache
def check() -> str | None:
    """None when the aiohttp internals listed in the module docstring are there, else why not.

    Run once per process (cached); :func:`councilcast.events.setup` logs the reason and
    falls back to the public path.
    """
    try:
        import aiohttp
        from aiohttp import web_protocol
    except ImportError as exc:  # pragma: no cover - aiohttp is a dependency
        return f"aiohttp.web_protocol cannot be imported ({exc})"
    version = getattr(aiohttp, "__version__", "?")
    handler = getattr(web_protocol, "RequestHandler", None)
    if not isinstance(handler, type):
        return f"aiohttp {version}: no class web_protocol.RequestHandler"
    if issubclass(handler, asyncio.BufferedProtocol):
        return f"aiohttp {version}: RequestHandler is a BufferedProtocol (reads bypass data_received)"
    if not issubclass(handler, asyncio.Protocol):
        return f"aiohttp {version}: RequestHandler is not an asyncio.Protocol"
    for name in ("connection_made", "connection_lost", "data_received", "eof_received",
                 "pause_writing", "resume_writing"):
        if not callable(getattr(handler, name, None)):
            return f"aiohttp {version}: RequestHandler.{name} is missing"
    writer = _websocket_writer()
    if writer is None:
        return f"aiohttp {version}: no WebSocketWriter in aiohttp._websocket.writer or aiohttp.http_websocket"
    for name in ("get_protocol", "set_protocol", "get_write_buffer_size", "is_closing", "write"):
        if not callable(getattr(asyncio.Transport, name, None)):  # pragma: no cover - asyncio API
            return f"asyncio.Transport.{name} is missing"
    return None


def _websocket_writer():
    """aiohttp's WebSocketWriter class (its module moved in 3.11), or None."""
    try:
        from aiohttp._websocket.writer import WebSocketWriter
        return WebSocketWriter
    except ImportError:
        pass
    try:
        from aiohttp.http_websocket import WebSocketWriter
        return WebSocketWriter
    except ImportError:
        return None


def write_all(clients: Iterable[tuple[object, asyncio.Transport]], frame: bytes) -> tuple[int, list]:
    """Write ``frame`` to each ``(socket, transport)``; returns (written, sockets over SLOW_LIMIT).

    One synchronous pass, the same bytes for every transport. Closing transports are
    skipped; the slow ones are not written to and are left to the caller to drop.
    """
    sent = 0
    slow = []
    for ws, transport in clients:
        if transport.is_closing():
            continue
        if transport.get_write_buffer_size() > SLOW_LIMIT:
            slow.append(ws)
            continue
        transport.write(frame)
        sent += 1
    return sent, slow


class Heartbeat:
    """Pings the screens every ``interval`` s with one shared frame, and finds the silent ones.

    It replaces aiohttp's per-socket heartbeat (``WebSocketResponse(heartbeat=...)``: a task and
    two timers per socket per ping, 113 us of server CPU per screen per heartbeat measured with
    15,000 idle screens, docs/voting.md) on the fast path's sockets. :meth:`due` is called about
    once a second: each screen is pinged ``interval`` s after it was added or last pinged, the
    pings of one call written in one pass (:func:`write_all`); a screen whose :class:`Stamp` has
    read nothing since the ping before (``interval`` s ago: a pong, a sync, anything) is silent,
    and the caller drops it, as aiohttp did when no pong came. So a screen that died is dropped
    ``interval`` to 2 x ``interval`` s after its last read. A socket without a Stamp (one that did
    not fit :func:`install`) is pinged too, to keep proxies and NATs open, but never found
    silent: aiohttp's reader takes its pongs out of sight.
    """

    def __init__(self, interval: float):
        self.interval = interval
        self._screens: dict[object, list] = {}  # ws -> [transport, stamp | None, next ping (loop time), ms of the last]
        self.pings = 0

    def __len__(self) -> int:
        return len(self._screens)

    def add(self, ws, transport: asyncio.Transport, stamp: "Stamp | None", now: float) -> None:
        self._screens[ws] = [transport, stamp, now + self.interval, 0.0]

    def discard(self, ws) -> None:
        self._screens.pop(ws, None)

    def clear(self) -> None:
        self._screens.clear()

    def due(self, now: float) -> tuple[list, list]:
        """(``(ws, transport)`` to ping now, ``ws`` found silent); the caller writes :data:`PING`."""
        ping, silent = [], []
        wall_ms = time.time() * 1000.0
        for ws, entry in self._screens.items():
            if entry[2] > now:
                continue
            transport, stamp, _, last = entry
            if last and stamp is not None and stamp.rx < last:
                silent.append(ws)
                continue
            entry[2], entry[3] = now + self.interval, wall_ms
            ping.append((ws, transport))
        self.pings += len(ping)
        return ping, silent


def sync_fast_answers() -> int:
    """How many sync requests the fast path answered in this process (diagnostics)."""
    return Stamp.answered_total


Answer = Callable[[bytes, float], "bytes | None"]
"""``answer(payload, t1)``: the reply payload to a small text message, or None to pass it on."""


class Stamp:
    """Wraps a screen's connection protocol: stamps receipt times, answers sync at once.

    NTP practice: the server's receive time ``t1`` (:attr:`rx`) is taken as close to the
    wire as possible, so that time spent queued inside the server counts as server
    processing (``t2 - t1``), which the offset formula subtracts, instead of one-way delay,
    which it cannot tell from clock offset.

    Fast path: when a read holds exactly one complete, small (< 126 bytes), masked, final
    text frame at a frame boundary and outside a fragmented message, its payload goes to
    ``answer``; a reply it returns is framed and written here, and the frame is not passed
    on. Everything else goes to aiohttp's protocol unchanged. Frame boundaries of what is
    passed on are tracked (a header split across reads included). After a close frame, or
    a frame aiohttp's reader refuses (reserved bits, unknown opcode, a control frame over
    125 bytes or fragmented, a message of ``max_message`` bytes or more, fragments out of
    order), the connection's bytes are all left to aiohttp, which then closes it. (A
    payload aiohttp refuses, such as a text frame that is not UTF-8, is not looked at: a
    sync request right behind it may still be answered before aiohttp closes the socket.)
    """

    answered_total = 0  # requests answered by the fast path, in this process

    def __init__(self, inner: asyncio.Protocol, transport: asyncio.Transport, answer: Answer,
                 max_message: int = 0):
        self.inner = inner
        self.transport = transport
        self.answer = answer
        self.max_message = max_message  # aiohttp's max_msg_size for this socket (0: none)
        self.rx = 0.0          # ms at the last read
        self.answered = 0      # requests answered on this connection
        self.pongs = 0         # pongs taken at the read (not passed on: aiohttp's heartbeat is off here)
        self.fast = True       # False after a close frame: all bytes to aiohttp, untracked
        self._remaining = 0    # bytes of a frame already passed on, still to come
        self._head = b""       # the start of a frame header split across reads
        self._fragmented = False  # inside a message sent as several frames
        self._message = 0         # payload bytes of the current message so far

    def data_received(self, data: bytes) -> None:
        self.rx = time.time() * 1000.0
        if self.fast:
            if (not self._remaining and not self._head and not self._fragmented and len(data) >= 6
                    and data[1] & 0x80 and (data[1] & 0x7F) < 126 and len(data) == 6 + (data[1] & 0x7F)):
                if data[0] == 0x8A:  # a pong alone in its read: its time (rx) is all the heartbeat needs
                    self.pongs += 1
                    return
                if data[0] == 0x81 and self._answer(data):
                    return
            self._track(data)
        self.inner.data_received(data)

    def _answer(self, data: bytes) -> bool:
        n = len(data) - 6
        key = (data[2:6] * ((n >> 2) + 1))[:n]
        payload = (int.from_bytes(data[6:], "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")
        reply = self.answer(payload, self.rx)
        if reply is None or self.transport.is_closing():
            return False
        self.transport.write(frame_text(reply))
        self.answered += 1
        Stamp.answered_total += 1
        return True

    def _track(self, data: bytes) -> None:
        """Advance the frame boundary over ``data`` (which goes to aiohttp as it is)."""
        size = len(data)
        pos = 0
        if self._remaining:
            pos = min(self._remaining, size)
            self._remaining -= pos
            if self._remaining:
                return
        if self._head:
            before = self._head
            h = _header(before + data[:10], 0)
            if h is None:  # still not the whole header (at most 10 bytes): data is all header
                self._head = before + data
                return
            first, head, n = h
            self._head = b""
            self._frame(first, n)
            pos = head + n - len(before)  # the bytes of data that belong to this frame
            if pos > size:
                self._remaining = pos - size
                return
        while pos < size and self.fast:
            h = _header(data, pos)
            if h is None:
                self._head = bytes(data[pos:])
                return
            first, head, n = h
            self._frame(first, n)
            end = pos + head + n
            if end > size:
                self._remaining = end - size
                return
            pos = end

    def _frame(self, first: int, n: int) -> None:
        """Follow one frame header as aiohttp's reader does; off on what ends its reading."""
        opcode, fin = first & 0x0F, first & 0x80
        if first & 0x70 or opcode == _OP_CLOSE:
            self.fast = False
        elif opcode >= 0x8:
            if opcode not in (_OP_PING, _OP_PONG) or n > 125 or not fin:
                self.fast = False
        elif opcode in (_OP_TEXT, _OP_BINARY, _OP_CONTINUATION):
            if (opcode == _OP_CONTINUATION) != self._fragmented:
                self.fast = False  # a continuation with nothing to continue, or a new message inside one
            self._message = n + (self._message if opcode == _OP_CONTINUATION else 0)
            self._fragmented = not fin
            if self.max_message and self._message >= self.max_message:
                self.fast = False
        else:
            self.fast = False  # reserved opcodes 3-7

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


def _header(b: bytes, pos: int) -> tuple[int, int, int] | None:
    """(first byte, header length with the mask, payload length) of the frame at ``b[pos:]``,
    or None when the bytes up to the payload length are not all there yet."""
    avail = len(b) - pos
    if avail < 2:
        return None
    second = b[pos + 1]
    n = second & 0x7F
    head = 2
    if n == 126:
        if avail < 4:
            return None
        n, head = int.from_bytes(b[pos + 2:pos + 4], "big"), 4
    elif n == 127:
        if avail < 10:
            return None
        n, head = int.from_bytes(b[pos + 2:pos + 10], "big"), 10
    if second & 0x80:
        head += 4
    return b[pos], head, n


def install(transport: asyncio.BaseTransport | None, answer: Answer, max_message: int = 0) -> Stamp | None:
    """Wrap ``transport``'s protocol in a :class:`Stamp`; None if this connection does not fit.

    Call right after ``ws.prepare()`` (before any other await), so that the wrapper starts
    at a frame boundary.
    """
    if not isinstance(transport, asyncio.Transport) or check() is not None:
        return None
    from aiohttp.web_protocol import RequestHandler

    inner = transport.get_protocol()
    if not isinstance(inner, RequestHandler) or isinstance(inner, asyncio.BufferedProtocol):
        return None
    stamp = Stamp(inner, transport, answer, max_message)
    transport.set_protocol(stamp)
    return stamp
