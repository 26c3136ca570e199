"""Joins never wait on a name (issue 14): the server's peers get an explicit ICE
configuration, the STUN names resolved once in the background at start-up.

Before, every RTCPeerConnection() of the server fell back to Google's STUN server and aioice
looked its name up on every join (gethostbyname in an executor, waited on up to 5 s). Here
name resolution hangs for 5 s in the server's process while viewers join.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest

from broadcast.ice import configuration, parse_ice_urls, resolve_stun
from broadcast.errors import BroadcastError
from councilcast.appkeys import BROADCASTER
from tests.broadcast.peers import Viewer
from tests.conftest import running_server

pytestmark = pytest.mark.slow


class HangingResolver:
    """socket.gethostbyname / getaddrinfo that sleep 5 s for any name that is not an IP literal."""

    def __init__(self, monkeypatch):
        self.calls: list[str] = []
        self.lock = threading.Lock()
        real_gai, real_ghbn = socket.getaddrinfo, socket.gethostbyname

        def literal(host) -> bool:
            try:
                socket.inet_pton(socket.AF_INET6 if ":" in str(host) else socket.AF_INET, str(host))
                return True
            except (OSError, TypeError):
                return host in (None, "")

        def gai(host, *a, **kw):
            if not literal(host):
                with self.lock:
                    self.calls.append(host)
                time.sleep(5)
            return real_gai(host, *a, **kw)

        def ghbn(host):
            if not literal(host):
                with self.lock:
                    self.calls.append(host)
                time.sleep(5)
            return real_ghbn(host)

        monkeypatch.setattr(socket, "getaddrinfo", gai)
        monkeypatch.setattr(socket, "gethostbyname", ghbn)


async def _camera(server):
    async with server.session.post(f"{server.url}/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180, "fps": 30}) as r:
        assert r.status == 201, await r.text()


async def test_joins_are_not_delayed_by_a_hanging_resolver(make_config, monkeypatch):
    resolver = HangingResolver(monkeypatch)
    config = make_config(ice_servers="stun:stun.hangs.example:3478, turn:turn.hangs.example")
    async with running_server(config) as server:
        await _camera(server)
        viewers = [Viewer(server.url, "central") for _ in range(3)]
        t0 = time.monotonic()
        answers = await asyncio.gather(*(v.start(server.session) for v in viewers))
        answered = time.monotonic() - t0
        assert [r.status for r in answers] == [201, 201, 201]
        await asyncio.gather(*(v.frames(1, timeout=10) for v in viewers))
        first_frames = time.monotonic() - t0
        # the server's peers were made with no STUN server (the name has not resolved):
        # aiortc's default, whose name aioice would look up on every join, is not used
        assert server.app[BROADCASTER].ice_servers == []
        # only the start-up's one background lookup of the configured name, none per join
        assert resolver.calls.count("stun.l.google.com") == 0
        assert resolver.calls.count("stun.hangs.example") == 1
        assert "turn.hangs.example" not in resolver.calls  # TURN is the browsers' business
        # joins took nowhere near the 5 s a lookup hangs (the old path waited on it per join)
        assert answered < 4.0 and first_frames < 4.5, (answered, first_frames)
        for v in viewers:
            await v.stop(server.session)


def test_ice_urls_are_parsed_and_bad_ones_named():
    urls = parse_ice_urls("stun:stun.example.org:3478, turn:turn.example.org?transport=udp, stun:[::1]")
    assert [(u.scheme, u.host, u.port, u.query) for u in urls] == [
        ("stun", "stun.example.org", 3478, ""), ("turn", "turn.example.org", 3478, "?transport=udp"), ("stun", "::1", 3478, "")]
    assert [u.raw for u in urls][1] == "turn:turn.example.org?transport=udp"
    for bad in ("http://example.org", "stun:", "stun:host:99999", "stun:ho st"):
        with pytest.raises(BroadcastError) as e:
            parse_ice_urls(bad)
        assert e.value.field == "ice_servers"
    assert configuration([]).iceServers == []  # a list: aiortc's default applies only to None


async def test_stun_names_resolve_once_and_a_slow_one_is_left_out():
    calls = []

    async def gai(host, port, **kw):
        calls.append(host)
        if host == "slow.example":
            await asyncio.sleep(10)
        return [(socket.AF_INET, socket.SOCK_DGRAM, 0, "", ("192.0.2.7", port))]

    servers = await resolve_stun(parse_ice_urls("stun:fast.example:3479, stun:slow.example, stun:198.51.100.1, "
                                                "turn:turn.example"), gai, timeout=0.2)
    assert [s.urls for s in servers] == ["stun:192.0.2.7:3479", "stun:198.51.100.1:3478"]
    assert calls == ["fast.example", "slow.example"]


def test_a_bad_ice_server_stops_the_start_naming_the_setting(make_config):
    from councilcast.app import create_app

    with pytest.raises(SystemExit) as e:
        create_app(make_config(ice_servers="stun:ok.example, https://nope"))
    assert "COUNCILCAST_ICE_SERVERS" in str(e.value) and "https://nope" in str(e.value)
