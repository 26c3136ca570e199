"""The /ws fast path (councilcast/wsfast.py) against aiohttp's own WebSocket parser and writer.

- frames the fast path writes (server -> client) parse with aiohttp's ``WebSocketReader``
  into the same text, and are the bytes aiohttp's ``WebSocketWriter`` writes;
- the fast path's reading of client frames agrees with aiohttp's: whatever it answers
  itself plus whatever it passes on is what aiohttp alone would have parsed, for masked,
  fragmented, control (ping, close) frames, split across reads every way;
- on a real server (both settings), sync requests split across TCP writes, fragmented
  sync requests, pings and a close get the same answers; a reader that stops reading is
  dropped; an aiohttp without the internals falls back to the public path and says why.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import struct

import pytest
from aiohttp import WSMsgType
from aiohttp.base_protocol import BaseProtocol

from councilcast import events, wsfast
from councilcast.events import EVENTS
from tests.councilcast.test_voting_ws import running_server

try:  # aiohttp >= 3.11
    from aiohttp._websocket.reader import WebSocketDataQueue as _Queue
    from aiohttp._websocket.reader import WebSocketReader
    from aiohttp._websocket.writer import WebSocketWriter
except ImportError:  # older aiohttp
    from aiohttp.http_websocket import WebSocketReader, WebSocketWriter
    from aiohttp.streams import DataQueue as _Queue

from aiohttp.streams import EofStream

MAX = events.MAX_CLIENT_MESSAGE


# -- aiohttp's parser and writer, as a client or server would use them -------------------------
def aiohttp_reader(max_msg_size: int = MAX):
    loop = asyncio.get_running_loop()
    try:
        queue = _Queue(BaseProtocol(loop), 2 ** 30, loop=loop)  # never stalls the parser here
    except TypeError:  # DataQueue(loop) in older aiohttp
        queue = _Queue(loop)
    try:
        reader = WebSocketReader(queue, max_msg_size, compress=False, decode_text=True)
    except TypeError:
        reader = WebSocketReader(queue, max_msg_size, compress=False)
    return queue, reader


async def drain(queue, reader) -> list:
    """Every message parsed so far, as (type, data, extra); a parse error ends the list."""
    if queue.exception() is None:  # feed_eof would clear a parse error
        reader.feed_eof()
    out = []
    while True:
        try:
            msg = await queue.read()
        except EofStream:
            return out
        except Exception as exc:  # noqa: BLE001 - aiohttp's WebSocketError: the error is the outcome
            out.append(("error", getattr(exc, "code", None), type(exc).__name__))
            return out
        out.append((msg.type, msg.data, msg.extra))


async def parse(data: bytes, max_msg_size: int = MAX) -> list:
    queue, reader = aiohttp_reader(max_msg_size)
    reader.feed_data(data)
    return await drain(queue, reader)


class Transport:
    """What the fast path writes, in memory."""

    def __init__(self):
        self.written = bytearray()

    def write(self, data):
        self.written += data

    def is_closing(self):
        return False

    def get_write_buffer_size(self):
        return 0


# -- client frames (masked, RFC 6455 section 5.3) ----------------------------------------------
def client_frame(opcode: int, payload: bytes, fin: bool = True, rng=random) -> bytes:
    mask = bytes(rng.randrange(256) for _ in range(4))
    n = len(payload)
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", first, 0x80 | 127, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def sync(t0) -> bytes:
    return ('{"type":"sync","t0":%r}' % t0).encode()  # what clock.js's JSON.stringify sends


def answer(payload: bytes, t1: float) -> bytes | None:
    """A stand-in for events' answer: every sync request, any t0."""
    if payload.startswith(b'{"type":"sync"'):
        return json.dumps({"type": "sync", "t0": json.loads(payload)["t0"], "t1": t1}).encode()
    return None


def frames_of_a_session(rng: random.Random) -> list[bytes]:
    """Client frames: syncs, text of every length class, fragmented messages with a ping
    between fragments, binary, pings, then a close and a sync after it."""
    frames, t0 = [], 1000.0
    for _ in range(40):
        kind = rng.choice(["sync", "sync", "text", "fragmented", "ping", "binary"])
        t0 += 1.25
        if kind == "sync":
            frames.append(client_frame(0x1, sync(t0), rng=rng))
        elif kind == "text":
            frames.append(client_frame(0x1, json.dumps({"type": "note", "x": "y" * rng.choice([3, 120, 300, 3000])}).encode(), rng=rng))
        elif kind == "binary":
            frames.append(client_frame(0x2, os.urandom(rng.choice([1, 125, 126, 500])), rng=rng))
        elif kind == "ping":
            frames.append(client_frame(0x9, b"p%d" % rng.randrange(100), rng=rng))
        else:  # a sync request itself, in pieces: aiohttp must see all of them
            text = sync(t0)
            cuts = sorted(rng.sample(range(1, len(text)), rng.choice([1, 2, 3])))
            parts = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
            for i, part in enumerate(parts):
                frames.append(client_frame(0x1 if i == 0 else 0x0, part, fin=i == len(parts) - 1, rng=rng))
                if i == 0 and rng.random() < 0.5:
                    frames.append(client_frame(0x9, b"between", rng=rng))  # control frames may interleave
    frames.append(client_frame(0x8, struct.pack("!H", 1000) + b"bye", rng=rng))
    frames.append(client_frame(0x1, sync(t0 + 1), rng=rng))  # after the close: aiohttp's business
    return frames


def reads(stream: bytes, frames: list[bytes], how: str, rng: random.Random) -> list[bytes]:
    if how == "one read per frame":
        return list(frames)
    if how == "all in one read":
        return [stream]
    if how == "one byte per read":
        return [stream[i:i + 1] for i in range(len(stream))]
    cuts = sorted(rng.sample(range(1, len(stream)), 60))  # random TCP segments
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]


async def through_stamp(chunks: list[bytes], max_msg_size: int = MAX):
    """Feed ``chunks`` to a Stamp in front of aiohttp's parser: (passed-on messages, answers)."""
    queue, reader = aiohttp_reader(max_msg_size)

    class Inner:  # aiohttp's protocol, reduced to what it does with bytes after the upgrade
        def data_received(self, data):
            reader.feed_data(data)

    transport = Transport()
    stamp = wsfast.Stamp(Inner(), transport, answer, max_msg_size)
    for chunk in chunks:
        stamp.data_received(chunk)
    passed = await drain(queue, reader)
    answers = await parse(bytes(transport.written), 0)
    return passed, answers, stamp


def assert_same_as_aiohttp(reference: list, passed: list, answers: list) -> None:
    """aiohttp alone parsed ``reference``; behind the Stamp it parsed ``passed`` and the Stamp
    answered ``answers``. Each answered request is missing from ``passed`` at its place, and
    nothing else differs (sync t0s are unique)."""
    answered = [json.loads(m[1])["t0"] for m in answers]
    assert all(m[0] == WSMsgType.TEXT for m in answers)
    it_p, it_a = iter(passed), iter(answered)
    next_p, next_a = next(it_p, None), next(it_a, None)
    for msg in reference:
        if msg == next_p:
            next_p = next(it_p, None)
        else:
            assert msg[0] == WSMsgType.TEXT and json.loads(msg[1]) == {"type": "sync", "t0": next_a}, msg
            next_a = next(it_a, None)
    assert next_p is None and next_a is None


# -- server -> client: the shared frame ----------------------------------------------------------
@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 1000, 65535, 65536, 70000, 300000])
async def test_frames_written_by_the_fast_path_parse_with_aiohttp_and_match_its_writer(size):
    payload = ("é" * (size // 2) + "x" * (size % 2)).encode()  # UTF-8, exactly size bytes
    frame = wsfast.frame_text(payload)
    n = len(payload)
    header = 2 if n < 126 else 4 if n < 65536 else 10
    assert len(frame) == header + n and frame[0] == 0x81
    assert frame[1] & 0x80 == 0  # server -> client frames are never masked
    assert frame[1] & 0x7F == (n if n < 126 else 126 if n < 65536 else 127)
    # aiohttp's client-side parser reads it as the same one text message
    assert await parse(frame, 0) == [(WSMsgType.TEXT, payload.decode(), "")]
    # and it is byte for byte what aiohttp's own writer sends for that text
    loop = asyncio.get_running_loop()
    transport = Transport()
    writer = WebSocketWriter(BaseProtocol(loop), transport, use_mask=False, compress=0)
    if hasattr(writer, "send_frame"):
        await writer.send_frame(payload, WSMsgType.TEXT)
    else:  # older aiohttp
        await writer.send(payload.decode(), binary=False)
    assert bytes(transport.written) == frame


async def test_many_shared_frames_back_to_back_parse_as_many_messages():
    texts = [json.dumps({"type": "round.opened", "n": i, "pad": "x" * size}) for i, size in
             enumerate([0, 100, 125, 126, 5000, 65535, 70000, 3])]
    stream = b"".join(wsfast.frame_text(t.encode()) for t in texts)
    assert await parse(stream, 0) == [(WSMsgType.TEXT, t, "") for t in texts]


def test_write_all_writes_the_same_bytes_to_each_transport_and_reports_the_slow_ones():
    class T(Transport):
        def __init__(self, buffered=0, closing=False):
            super().__init__()
            self.buffered, self.closing = buffered, closing

        def is_closing(self):
            return self.closing

        def get_write_buffer_size(self):
            return self.buffered

    ok1, ok2, slow, closing = T(), T(wsfast.SLOW_LIMIT), T(wsfast.SLOW_LIMIT + 1), T(closing=True)
    frame = wsfast.frame_text(b'{"type":"ping"}')
    sent, slow_ones = wsfast.write_all([("a", ok1), ("b", ok2), ("c", slow), ("d", closing)], frame)
    assert (sent, slow_ones) == (2, ["c"])
    assert bytes(ok1.written) == bytes(ok2.written) == frame and not slow.written and not closing.written


# -- client -> server: the fast path's reading agrees with aiohttp's ---------------------------
@pytest.mark.parametrize("how", ["one read per frame", "random segments", "one byte per read", "all in one read"])
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_fast_path_reading_of_client_frames_agrees_with_aiohttp(how, seed):
    rng = random.Random(seed)
    frames = frames_of_a_session(rng)
    stream = b"".join(frames)
    reference = await parse(stream)
    kinds = {m[0] for m in reference}
    assert {WSMsgType.TEXT, WSMsgType.PING, WSMsgType.CLOSE} <= kinds and "error" not in kinds
    passed, answers, stamp = await through_stamp(reads(stream, frames, how, rng))
    assert_same_as_aiohttp(reference, passed, answers)
    syncs = [m for m in reference if m[0] == WSMsgType.TEXT and '"sync"' in m[1]]
    if how == "one read per frame":
        # every sync sent as one frame in a read of its own is answered at the read; the
        # fragmented ones and the one after the close are aiohttp's
        single = sum(1 for f in frames[:-2] if f[0] == 0x81 and len(f) < 132 and _unmask(f).startswith(b'{"type":"sync"'))
        assert len(answers) == stamp.answered == single > 0
        assert len(passed) == len(reference) - single
        assert passed[-1][0] == WSMsgType.TEXT and json.loads(passed[-1][1])["type"] == "sync"
    elif how in ("one byte per read", "all in one read"):
        assert answers == [] and passed == reference  # never one whole frame per read
    assert len(syncs) > len(answers)


def _unmask(frame: bytes) -> bytes:
    n = frame[1] & 0x7F
    mask, data = frame[2:6], frame[6:6 + n]
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def test_a_header_split_across_reads_keeps_the_boundary_and_the_fast_path():
    note = client_frame(0x1, json.dumps({"type": "note", "x": "y" * 3000}).encode())
    big = client_frame(0x2, os.urandom(70000))  # 64-bit length: a 14-byte header with the mask
    chunks = [note[:1], note[1:3], note[3:2000], note[2000:], big[:5], big[5:9], big[9:],
              client_frame(0x1, sync(7.5))]
    passed, answers, _ = await through_stamp(chunks, 0)
    assert [json.loads(m[1])["t0"] for m in answers] == [7.5]
    reference = await parse(b"".join(chunks), 0)
    assert [m[0] for m in passed] == [WSMsgType.TEXT, WSMsgType.BINARY]
    assert passed == reference[:2] and reference[2][1] == sync(7.5).decode()


@pytest.mark.parametrize("bad", [
    client_frame(0x2, b"z" * MAX),                                  # over the message limit in one frame
    client_frame(0x1, b"z" * 3000, fin=False) + client_frame(0x0, b"z" * 1100),  # over it in fragments
    client_frame(0x9, b"p" * 126),                                  # a control frame over 125 bytes
    client_frame(0x9, b"p", fin=False),                             # a fragmented control frame
    client_frame(0x0, b"nothing to continue"),
    client_frame(0x3, b"reserved opcode"),
    bytes([0xC1]) + client_frame(0x1, b"rsv1 without deflate")[1:],
], ids=["too-big", "too-big-in-fragments", "long-control", "fragmented-control", "lone-continuation",
        "reserved-opcode", "rsv1"])
async def test_after_a_frame_aiohttp_refuses_nothing_more_is_answered(bad):
    chunks = [client_frame(0x1, sync(1.5)), bad, client_frame(0x1, sync(2.5))]
    reference = await parse(b"".join(chunks))
    assert reference[0][1] == sync(1.5).decode() and reference[-1][0] == "error"
    passed, answers, stamp = await through_stamp(chunks)
    assert [json.loads(m[1])["t0"] for m in answers] == [1.5] and not stamp.fast
    assert passed == reference[1:]


async def test_a_text_frame_inside_a_fragmented_message_is_left_to_aiohttp_which_refuses_it():
    chunks = [client_frame(0x1, b'{"type":"no', fin=False), client_frame(0x1, sync(3.0)),
              client_frame(0x0, b'te"}')]
    reference = await parse(b"".join(chunks))
    assert reference[-1][0] == "error"
    passed, answers, _ = await through_stamp(chunks)
    assert answers == [] and passed == reference


async def test_only_small_final_masked_text_frames_are_offered():
    unmasked = bytes([0x81, len(sync(1.0))]) + sync(1.0)
    sixteen_bit = client_frame(0x1, sync(2.0) + b" " * 130)  # 126-byte marker, a real 16-bit length
    not_final = client_frame(0x1, sync(4.0), fin=False) + client_frame(0x0, b"", fin=True)
    for chunk in (unmasked, sixteen_bit, not_final, client_frame(0x2, sync(5.0))):
        passed, answers, _ = await through_stamp([chunk])
        assert answers == [] and passed == await parse(chunk)


def test_check_finds_the_installed_aiohttp_fit_and_says_why_when_not(monkeypatch):
    assert wsfast.check() is None
    import aiohttp.web_protocol

    class Buffered(asyncio.BufferedProtocol):
        pass
    monkeypatch.setattr(aiohttp.web_protocol, "RequestHandler", Buffered)
    wsfast.check.cache_clear()
    try:
        assert "BufferedProtocol" in wsfast.check()
        monkeypatch.delattr(aiohttp.web_protocol, "RequestHandler")
        wsfast.check.cache_clear()
        assert "RequestHandler" in wsfast.check()
    finally:
        monkeypatch.undo()
        wsfast.check.cache_clear()
    assert wsfast.check() is None


# -- on a real server, both paths --------------------------------------------------------------
@pytest.fixture(params=["fast", "public"])
async def server(request, make_config):
    """The running server (conftest's, built by test_voting_ws.running_server) on each path."""
    async with running_server(make_config(ws_fastpath=request.param == "fast")) as s:
        assert s.app[EVENTS].ws_path == request.param
        yield s


async def raw_ws(url: str):
    """A minimal client over a TCP socket: the handshake, then frames as we write them."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write((f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


async def read_frame(reader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    assert b1 & 0x80 == 0  # the server never masks
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return b0, await reader.readexactly(n)


async def test_split_fragmented_and_control_frames_get_the_same_answers_on_both_paths(server):
    reader, writer = await raw_ws(server.url)
    b0, hello = await read_frame(reader)
    assert b0 == 0x81 and json.loads(hello)["type"] == "hello"
    fast0 = wsfast.sync_fast_answers()

    async def exchange(*chunks, answers=1) -> list[tuple[int, bytes]]:
        """Write ``chunks`` as separate TCP segments, then read ``answers`` frames: the next
        exchange starts with everything before it read by the server."""
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.02)
        return [await asyncio.wait_for(read_frame(reader), 5) for _ in range(answers)]

    got = await exchange(client_frame(0x1, sync(11.5)))          # one frame, one read
    split = client_frame(0x1, sync(12.5))
    got += await exchange(split[:1], split[1:4], split[4:])      # header and payload split across reads
    note = client_frame(0x1, json.dumps({"type": "note", "x": "y" * 3000}).encode())
    got += await exchange(note[:2], note[2:] + client_frame(0x1, sync(13.5)))  # a long message, a sync behind it
    got += await exchange(client_frame(0x1, sync(14.5)))         # alone, at a boundary again
    got += await exchange(client_frame(0x1, b'{"type":"sync",', fin=False), client_frame(0x9, b"mid"),
                          client_frame(0x0, b'"t0":15.5}'), answers=2)  # fragmented, a ping between
    got += await exchange(client_frame(0x1, sync(16.5)))
    assert [p for b, p in got if b == 0x8A] == [b"mid"]  # the pong
    answers = [json.loads(p) for b, p in got if b == 0x81]
    assert [a["t0"] for a in answers] == [11.5, 12.5, 13.5, 14.5, 15.5, 16.5]
    assert all(a["type"] == "sync" and a["t0"] <= a["t1"] <= a["t2"] for a in answers)
    # answered at the read: the three whole frames alone in their read; the split, the
    # coalesced and the fragmented requests went through aiohttp's reader
    assert wsfast.sync_fast_answers() - fast0 == (3 if server.app[EVENTS].ws_path == "fast" else 0)
    (b0, payload), = await exchange(client_frame(0x8, struct.pack("!H", 1000) + b"bye"))
    assert b0 == 0x88 and struct.unpack("!H", payload[:2])[0] == 1000
    writer.close()


async def test_a_screen_that_stops_reading_is_dropped_and_the_others_keep_up(server):
    hub = server.app[EVENTS]
    stuck_reader, stuck_writer = await raw_ws(server.url)  # reads the hello, then nothing
    await read_frame(stuck_reader)
    async with server.session.ws_connect(server.url + "/ws") as ws:
        await ws.receive_json()
        assert len(hub) == 2
        pad = "x" * 200_000
        for i in range(60):  # 12 MB: past every buffer on the way and SLOW_LIMIT
            t0 = asyncio.get_running_loop().time()
            await hub.publish({"type": "big", "n": i, "pad": pad})
            assert asyncio.get_running_loop().time() - t0 < 1  # publish never waits for the stuck one
            m = await ws.receive_json(timeout=5)
            assert m["n"] == i
            if hub.dropped:
                break
        assert hub.dropped == 1 and len(hub) == 1
        await hub.publish({"type": "after"})
        assert (await ws.receive_json(timeout=5))["type"] == "after"
    stuck_writer.close()


async def test_without_the_aiohttp_internals_the_public_path_runs_and_says_why(make_config, monkeypatch, caplog):
    monkeypatch.setattr(wsfast, "check", lambda: "aiohttp 9.9: pretend RequestHandler is gone")
    caplog.set_level(logging.WARNING, logger="councilcast.events")
    fast0 = wsfast.sync_fast_answers()
    async with running_server(make_config(ws_fastpath=True)) as s:
        hub = s.app[EVENTS]
        assert hub.ws_path == "public" and "pretend" in hub.fastpath_off_reason
        assert any("fast path off" in r.getMessage() and "pretend" in r.getMessage() for r in caplog.records)
        async with s.session.ws_connect(s.url + "/ws") as ws:
            await ws.receive_json()
            await ws.send_str(sync(21.5).decode())
            assert (await ws.receive_json())["t0"] == 21.5
            assert await hub.publish({"type": "ping"}) == 1
            assert (await ws.receive_json())["type"] == "ping"
    assert wsfast.sync_fast_answers() == fast0


async def test_the_setting_comes_from_the_environment(make_config, monkeypatch):
    from councilcast.config import Config

    assert Config.from_env({}).ws_fastpath is True
    assert Config.from_env({"COUNCILCAST_WS_FASTPATH": "0"}).ws_fastpath is False
    async with running_server(make_config(ws_fastpath=False)) as s:
        hub = s.app[EVENTS]
        assert (hub.ws_path, hub.fastpath_off_reason) == ("public", "COUNCILCAST_WS_FASTPATH is off")
