"""The one WebSocket per screen: clock sync and round events, against the running server.

Every test here runs twice, on the fast path (``COUNCILCAST_WS_FASTPATH`` on, the default:
councilcast/wsfast.py) and on aiohttp's public WebSocket API (off): same behaviour.
"""

import asyncio
import json
import time

import aiohttp
import pytest

from councilcast import wsfast
from councilcast.events import EVENTS
from tests.conftest import running_server
from tests.polling import LoopLag, until
from tests.voting.helpers import bearer, new_round, register, tally, ws_until
from voting.clock import estimate_offset


@pytest.fixture(params=["fast", "public"])
async def server(request, make_config):
    """The running server, once with each /ws path (overrides conftest's ``server`` here)."""
    async with running_server(make_config(ws_fastpath=request.param == "fast")) as s:
        assert s.app[EVENTS].ws_path == request.param
        yield s


async def test_clock_sync_exchange(server):
    async with server.session.ws_connect(server.url + "/ws") as ws:
        hello = await ws.receive_json()
        assert hello["type"] == "hello" and abs(hello["server_time"] - time.time() * 1000) < 1000
        samples = []
        async with LoopLag() as lag:
            for _ in range(8):
                t0 = time.time() * 1000
                await ws.send_json({"type": "sync", "t0": t0})
                m = await ws.receive_json()
                t3 = time.time() * 1000
                assert m["type"] == "sync" and m["t0"] == t0 and m["t0"] <= m["t1"] <= m["t2"] <= t3
                samples.append((m["t0"], m["t1"], m["t2"], t3))
        offset, rtt = estimate_offset(samples)
        # client and server share this machine's clock: the true offset is 0, the error at most rtt/2;
        # the best round trip is short, unless this loop itself was held up that long (a loaded machine)
        assert abs(offset) <= rtt / 2 + 0.01 and rtt < 50 + lag.max * 1000, (rtt, lag.max)
        # junk is ignored, the socket stays up
        await ws.send_str("{not json")
        await ws.send_json({"type": "sync", "t0": "x"})
        await ws.send_json({"type": "sync", "t0": 1.0})
        assert (await ws.receive_json())["t0"] == 1.0


async def test_sync_in_the_browser_form_takes_the_fast_path_and_framing_stays_intact(server):
    async def fast():
        async with server.session.get(server.api("/api/voting/stats")) as r:
            return (await r.json())["sync_fast_answers"]
    n0 = await fast()
    assert wsfast.sync_fast_answers() == n0
    async with server.session.get(server.api("/api/voting/stats")) as r:
        assert (await r.json())["ws_path"] == server.app[EVENTS].ws_path  # "fast" or "public"
    async with server.session.ws_connect(server.url + "/ws") as ws:
        await ws.receive_json()
        for i in range(5):
            t0 = time.time() * 1000
            await ws.send_str('{"type":"sync","t0":%r}' % t0)  # what JSON.stringify sends
            m = await ws.receive_json()
            assert m["t0"] == t0 and t0 <= m["t1"] <= m["t2"] <= time.time() * 1000 + 1
            # a long message (16-bit length header) and junk in between go the normal way
            await ws.send_str('{"type":"note","text":"%s"}' % ("x" * 3000))
            await ws.send_str('{"type":"sync","t0":"bad"}')
            await asyncio.sleep(0.05)  # so the next sync arrives in a read of its own
        await ws.send_str('{"type":"sync","t0":42.5}')
        assert (await ws.receive_json())["t0"] == 42.5
    if server.app[EVENTS].fastpath:
        assert await fast() - n0 >= 6
    else:  # the public path answers every sync through aiohttp's reader
        assert await fast() == n0


def _numbers(value):
    """Every number anywhere in a decoded JSON message."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


async def test_round_events_reach_every_screen_at_the_server_times_and_carry_no_count(server):
    g = await register(server, "G", 500)
    screens = [await server.session.ws_connect(server.url + "/ws") for _ in range(3)]
    for ws in screens:
        assert (await ws.receive_json())["type"] == "hello"
    opens_at = time.time() + 0.6
    from voting.rules import iso
    # The bounds on lateness below are the server's, plus however late this loop (the server's
    # and the screens') was held up by the machine meanwhile: never early, whatever the load.
    async with LoopLag() as lag:
        rnd = await new_round(server, duration_s=1.0, opens_at=iso(opens_at))
        logs = await asyncio.gather(*(ws_until(ws, lambda m: m["type"] == "round.opened") for ws in screens))
        t_opened = time.time()
    for log in logs:
        opened = log[-1]
        assert log[0]["type"] == "round.scheduled" and opened["round"]["id"] == rnd["id"]
        assert opened["round"]["closes_at_ts"] == rnd["closes_at_ts"] and opened["round"]["options"] == ["A", "B"]
        assert opened["sent_at"] >= rnd["opens_at_ts"] * 1000  # never before the server's opening time
    assert t_opened - rnd["opens_at_ts"] < 0.2 + lag.max, (t_opened - rnd["opens_at_ts"], lag.max)
    async with LoopLag() as lag:
        st, _ = await tally(server, rnd["id"], g["token"], {"present": 400, "counts": {"A": 271, "B": 97},
                                                            "abstain": 3})
        assert st == 201
        logs = await asyncio.gather(*(ws_until(ws, lambda m: m["type"] == "round.result") for ws in screens))
    for log in logs:
        types = [m["type"] for m in log]
        assert types[-2:] == ["round.closed", "round.result"]
        closed, result = log[-2], log[-1]
        assert closed["sent_at"] >= rnd["closes_at_ts"] * 1000 - 1
        assert closed["sent_at"] - rnd["closes_at_ts"] * 1000 < 200 + lag.max * 1000, lag.max
        for m in log[:-1]:  # nothing before the result names a count (a value, not a digit run in an id)
            assert not {271, 97} & set(_numbers(m)), m
        assert result["round"]["result"]["totals"] == {"A": 271, "B": 97}
        # the result within 1 s of the close
        assert result["sent_at"] - closed["sent_at"] < 1000 + lag.max * 1000, lag.max
    for ws in screens:
        await ws.close()


async def test_fast_fan_out_and_naive_baseline_reach_every_socket(server):
    n = 200
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # the default stops at 100
    screens = [await session.ws_connect(server.url + "/ws") for _ in range(n)]
    for ws in screens:
        await ws.receive_json()
    for strategy in ("fast", "naive"):
        async with server.session.post(server.api("/api/events/ping"), headers=server.secretariat,
                                       json={"strategy": strategy, "n": 7}) as r:
            out = await r.json()
        assert out["sent"] == n
        got = await asyncio.gather(*(ws.receive_json() for ws in screens))
        assert all(m["type"] == "ping" and m["n"] == 7 for m in got)
    async with server.session.post(server.api("/api/events/ping"), headers=bearer("nope"), json={}) as r:
        assert r.status == 401
    for ws in screens[:100]:
        await ws.close()

    async def screens_are(k):
        async with server.session.get(server.api("/api/voting/stats")) as r:
            return (await r.json())["screens"] == k
    # the server lets a screen go once its handler has seen the close: wait for that, not 0.1 s
    await until(lambda: screens_are(n - 100), what=f"{n - 100} screens left in /api/voting/stats")
    for ws in screens[100:]:
        await ws.close()
    await session.close()


async def test_sync_with_numbers_no_float_can_hold_is_ignored_and_the_socket_stays_up(server):
    """NaN, infinities, 400-digit numbers and deep nesting get no answer (never a non-JSON
    ``nan`` echo, never an error written into the socket); the next good sync is answered."""
    bad = [
        '{"type":"sync","t0":nan}',                      # the exact browser form: fast path
        '{"type":"sync","t0":1e999}',
        '{"type":"sync","t0":' + "9" * 400 + "}",
        '{"type": "sync", "t0": ' + "9" * 400 + "}",     # other spacing: the JSON path
        '{"type": "sync", "t0": NaN}',
        '{"type": "sync", "t0": -Infinity}',
        "[" * 2000 + "]" * 2000,  # past the JSON parser's depth, within the 4 KiB message limit
    ]
    async with server.session.ws_connect(server.url + "/ws") as ws:
        assert (await ws.receive_json())["type"] == "hello"
        for text in bad:
            await ws.send_str(text)
        await ws.send_json({"type": "sync", "t0": 2.5})
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT
        answer = json.loads(msg.data)  # valid JSON: no nan/inf written back
        assert answer["type"] == "sync" and answer["t0"] == 2.5
        assert not ws.closed


async def test_a_screen_that_leaves_at_once_is_not_logged_as_a_server_error(server, caplog):
    """A page that reloads closes its /ws while the server writes the hello or a sync answer:
    aiohttp raises ClientConnectionResetError there, which was logged as an unhandled error."""
    import base64
    import logging
    import os
    import socket
    import struct
    host, port = server.url.removeprefix("http://").split(":")
    caplog.set_level(logging.ERROR)
    for _ in range(30):
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
        payload = json.dumps({"type": "sync", "t0": 1}).encode()
        mask = os.urandom(4)
        frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        s = socket.create_connection((host, int(port)))
        s.sendall(req + frame * 5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # leave with a reset
        s.close()
    await asyncio.sleep(0.5)
    async with server.session.get(server.api("/api/health")) as r:  # still serving
        assert r.status == 200
    ws = await server.session.ws_connect(server.url + "/ws")
    assert (await ws.receive_json())["type"] == "hello"
    await ws.close()
    assert not [r for r in caplog.records if "unhandled error" in r.getMessage()], \
        [r.getMessage() for r in caplog.records]
