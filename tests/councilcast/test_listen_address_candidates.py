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


# -- COUNCILCAST_ICE_INTERFACES ------------------------------------------------------------------
FAKE = {"lo": ["127.0.0.1", "::1"], "eth1": ["198.51.100.4", "2001:db8::4", "fe80::4"], "wg0": ["fe80::9"],
        "eth2": ["203.0.113.5"]}


def test_ice_interfaces_name_interfaces_and_addresses_of_this_machine():
    from broadcast.errors import BroadcastError
    from broadcast.ice import ice_addresses

    assert ice_addresses("", FAKE) is None and ice_addresses(" , ", FAKE) is None
    assert ice_addresses("eth1", FAKE) == ["198.51.100.4", "2001:db8::4"]  # link-local left out
    assert ice_addresses("203.0.113.5, eth1, 198.51.100.4", FAKE) == ["203.0.113.5", "198.51.100.4", "2001:db8::4"]
    assert ice_addresses("[2001:db8::4]", FAKE) == ["2001:db8::4"]
    for bad, words in (("eth9", "neither an address nor an interface"), ("192.0.2.200", "not an address of this"),
                       ("127.0.0.1", "cannot be a host candidate"), ("lo", "no address a viewer can reach"),
                       ("wg0", "no address a viewer can reach"), ("0.0.0.0", "cannot be a host candidate"),
                       ("eth1, eth9", "eth9")):
        with pytest.raises(BroadcastError) as e:
            ice_addresses(bad, FAKE)
        assert e.value.field == "ice_interfaces" and words in e.value.reason, (bad, e.value.reason)


def _interface_with_addresses() -> tuple[str, list[str]]:
    from broadcast.ice import _machine_adapters, ice_addresses

    for name in _machine_adapters():
        try:
            return name, ice_addresses(name)
        except Exception:  # noqa: BLE001 - loopback and the like: the next one
            continue
    raise AssertionError("this machine has no interface with an address a viewer can reach")


async def test_the_setting_names_the_candidates_of_a_server_on_loopback(make_config):
    name, addresses = _interface_with_addresses()
    assert set(addresses) <= set(libinternals.host_addresses())
    async with running_server(make_config(ice_interfaces=name)) as srv:
        answer = await _watch(srv)
    assert set(CANDIDATE.findall(answer)) == set(addresses)
    one = addresses[:1]
    async with running_server(make_config(ice_interfaces=one[0])) as srv:
        answer = await _watch(srv)
    assert set(CANDIDATE.findall(answer)) == set(one)


def test_an_interface_not_on_this_machine_stops_the_start_naming_the_setting(make_config):
    from councilcast.app import create_app

    with pytest.raises(SystemExit) as e:
        create_app(make_config(ice_interfaces="nosuch9"))
    assert "COUNCILCAST_ICE_INTERFACES" in str(e.value) and "nosuch9" in str(e.value)
