"""A server listening on one address of its own offers that address alone as its viewers'
host candidate (issue 14; docs/broadcast.md, "Joining"), and viewers still connect and decode.

On loopback (the default, also what a reverse proxy forwards to) or a wildcard, every address
of the machine is offered, as before: browsers reach such a server through the machine's
other addresses.
"""

from __future__ import annotations

import re

import pytest

from broadcast import libinternals
from broadcast.ice import listen_addresses
from tests.broadcast.peers import Viewer
from tests.conftest import running_server

CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ udp \d+ (\S+) \d+ typ host", re.M)


def test_which_listen_addresses_narrow_the_candidates():
    assert listen_addresses("192.0.2.10") == ["192.0.2.10"]
    assert listen_addresses("2001:db8::5") == ["2001:db8::5"]
    assert listen_addresses("[2001:db8::5]") == ["2001:db8::5"]
    for host in ("127.0.0.1", "::1", "0.0.0.0", "::", "", "localhost", "example.org", "fe80::1", "224.0.0.1"):
        assert listen_addresses(host) is None, host


async def _watch(srv) -> str:
    async with srv.session.post(f"{srv.url}/api/channels/central/camera", headers=srv.secretariat,
                                json={"width": 160, "height": 96, "fps": 15}) as r:
        assert r.status == 201, await r.text()
    v = Viewer(srv.url, "central")
    r = await v.start(srv.session)
    assert r.status == 201, r.body_text
    frames = await v.frames(3)
    assert frames[-1].width == 160
    await v.stop(srv.session)
    return r.body_text


async def test_a_server_on_its_own_address_offers_that_address_alone(make_config):
    here = [a for a in libinternals.host_addresses() if ":" not in a]
    if not here:
        pytest.skip("this machine has no IPv4 address but loopback")
    async with running_server(make_config(host=here[0])) as srv:
        answer = await _watch(srv)
    assert set(CANDIDATE.findall(answer)) == {here[0]}


async def test_a_server_on_loopback_offers_every_address(server):
    answer = await _watch(server)
    assert set(CANDIDATE.findall(answer)) == set(libinternals.host_addresses())
