"""The /ws heartbeat: on the fast path one shared ping frame per pass (EventHub.beat) and the
pongs taken at the read (wsfast.Stamp); on the public path aiohttp's own heartbeat.

On a real server: a screen that answers pings stays and keeps getting events; one that stops
answering is closed about one interval after the ping it left unanswered; the public path
still pings. Against aiohttp's parser: a pong alone in its read is not passed on, a pong
among other frames is, and the frame boundary holds either way.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from aiohttp import WSMsgType

from councilcast import events, wsfast
from councilcast.events import EVENTS
from tests.conftest import running_server
from tests.councilcast.test_wsfast import client_frame, raw_ws, read_frame, sync, through_stamp


async def test_a_pong_alone_in_its_read_is_taken_there_and_the_boundary_holds():
    pong, request = client_frame(0xA, b""), client_frame(0x1, sync(7.5))
    passed, answers, stamp = await through_stamp([pong, request, pong + request])
    assert stamp.pongs == 1  # the first pong only: the last came with a request in its read
    # the lone pong never reached aiohttp; the coalesced one did, and both requests were answered
    assert [m[0] for m in passed] == [WSMsgType.PONG, WSMsgType.TEXT]
    assert json.loads(passed[1][1]) == {"type": "sync", "t0": 7.5}
    assert [json.loads(m[1])["t0"] for m in answers] == [7.5]


@pytest.fixture
async def fast_server(make_config):
    async with running_server(make_config(ws_fastpath=True)) as s:
        assert s.app[EVENTS].ws_path == "fast"
        yield s


async def test_a_screen_that_answers_stays_and_a_silent_one_is_closed(fast_server):
    hub = fast_server.app[EVENTS]
    hub.heartbeat.interval = 0.4  # the loop passes every 0.1 s
    silent_r, silent_w = await raw_ws(fast_server.url)
    alive_r, alive_w = await raw_ws(fast_server.url)
    for r in (silent_r, alive_r):
        assert json.loads((await read_frame(r))[1])["type"] == "hello"
    assert len(hub) == 2 and len(hub.heartbeat) == 2

    pings = 0

    async def answer_pings():
        nonlocal pings
        while True:
            b0, payload = await read_frame(alive_r)
            if b0 == 0x89:
                pings += 1
                alive_w.write(client_frame(0xA, payload))
            else:
                return b0, payload

    answering = asyncio.create_task(answer_pings())
    # the silent screen gets a ping, leaves it unanswered, and is closed before the next one
    b0, payload = await asyncio.wait_for(read_frame(silent_r), 2)
    assert (b0, payload) == (0x89, b"")
    assert await asyncio.wait_for(silent_r.read(), 3) == b""  # EOF: the server closed it
    assert hub.silent_dropped == 1 and len(hub) == 1
    await asyncio.sleep(1.0)
    assert not answering.done() and pings >= 3  # answered every time, never dropped
    await hub.publish({"type": "after.beats"})
    b0, payload = await asyncio.wait_for(answering, 3)
    assert b0 == 0x81 and json.loads(payload)["type"] == "after.beats"
    assert hub.silent_dropped == 1 and len(hub) == 1
    silent_w.close()
    alive_w.close()


async def test_the_public_path_keeps_aiohttps_heartbeat(make_config, monkeypatch):
    monkeypatch.setattr(events, "HEARTBEAT_S", 0.4)
    async with running_server(make_config(ws_fastpath=False)) as s:
        hub = s.app[EVENTS]
        reader, writer = await raw_ws(s.url)
        assert json.loads((await read_frame(reader))[1])["type"] == "hello"
        b0, _ = await asyncio.wait_for(read_frame(reader), 3)
        assert b0 == 0x89  # aiohttp's ping
        assert len(hub.heartbeat) == 0 and hub.heartbeat.pings == 0  # the hub's is not in use
        writer.close()


def test_due_pings_each_screen_once_per_interval_and_finds_the_silent():
    class Stamped:
        rx = 0.0

    beat = wsfast.Heartbeat(10.0)
    quiet, talking = Stamped(), Stamped()
    beat.add("a", "ta", quiet, now=0.0)
    beat.add("b", "tb", talking, now=5.0)
    beat.add("c", "tc", None, now=0.0)  # no Stamp: pinged, never silent
    assert beat.due(9.9) == ([], [])
    assert beat.due(10.0) == ([("a", "ta"), ("c", "tc")], [])
    assert beat.due(15.0) == ([("b", "tb")], [])
    talking.rx = float("inf")  # read something after its ping
    ping, silent = beat.due(25.0)
    assert ping == [("b", "tb"), ("c", "tc")] and silent == ["a"]
    beat.discard("a")
    assert len(beat) == 2 and beat.pings == 5
