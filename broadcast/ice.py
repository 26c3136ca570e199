"""The ICE servers of the server's own peers, resolved once, never on a join.

aiortc gives a peer created with no configuration Google's public STUN server, and aioice
resolves that name on every join (``socket.gethostbyname`` in an executor, waited on for
up to 5 s): with fifty rooms tuning in at once the lookups alone took 5 s here, and each
join paid a STUN round trip for a candidate a server with a reachable address does not
need. So every server-side peer (WHIP publisher, WHEP viewer, relay pull) is created with
an explicit configuration: the configured STUN servers, their names resolved once in the
background at start-up (a resolver that hangs delays nothing), or none at all.

TURN entries are for browsers behind NAT: they are announced to them (the ``Link``
headers of the WHIP/WHEP answers) and not used by the server's peers, which need no relay.

Public API::

    parse_ice_urls("stun:stun.example.org:3478, turn:turn.example.org") -> list[IceUrl]
    await resolve_stun(urls, getaddrinfo, timeout=2.0) -> list[RTCIceServer] (IP literals)
    configuration(servers) -> RTCConfiguration (never None: no library default)
    listen_addresses(host) -> list[str] | None (the host candidates of a server listening on host)
    ice_addresses("eth0, 203.0.113.5") -> list[str] | None (COUNCILCAST_ICE_INTERFACES: the host
        candidates named by interface or address, checked against this machine's)
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc import RTCConfiguration, RTCIceServer

from broadcast.errors import BroadcastError

__all__ = ["IceUrl", "parse_ice_urls", "resolve_stun", "configuration", "listen_addresses", "ice_addresses",
           "RESOLVE_TIMEOUT_S"]

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_S = 2.0
"""How long start-up waits for one STUN server's name; past it the server runs without it."""

_URL = re.compile(r"^(stun|stuns|turn|turns):(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d{1,5}))?(\?[A-Za-z0-9=&_-]*)?$")
_DEFAULT_PORT = {"stun": 3478, "turn": 3478, "stuns": 5349, "turns": 5349}


@dataclass(frozen=True)
class IceUrl:
    scheme: str
    host: str
    port: int
    query: str = ""
    raw: str = ""
    """As configured (what the browsers are told, unchanged)."""

    @property
    def text(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}:{host}:{self.port}{self.query}"


def parse_ice_urls(text: str) -> list[IceUrl]:
    """Comma-separated ICE server URLs (RFC 7064/7065); a clear error names a bad one."""
    out = []
    for raw in (u.strip() for u in (text or "").split(",")):
        if not raw:
            continue
        m = _URL.match(raw)
        if not m or (m.group(3) and not 0 < int(m.group(3)) < 65536):
            raise BroadcastError("bad_ice_server", "ice_servers",
                                 f"{raw!r} is not an ICE server URL (stun:host[:port] or turn:host[:port][?transport=...])")
        scheme, host = m.group(1), m.group(2).strip("[]")
        out.append(IceUrl(scheme, host, int(m.group(3) or _DEFAULT_PORT[scheme]), m.group(4) or "", raw))
    return out


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


Resolver = Callable[..., Awaitable[list]]


async def resolve_stun(urls: list[IceUrl], getaddrinfo: Resolver, timeout: float = RESOLVE_TIMEOUT_S) -> list[RTCIceServer]:
    """The STUN servers among ``urls`` as IPv4 literals (aioice gathers over IPv4), each name
    resolved once with ``getaddrinfo`` (``loop.getaddrinfo``) within ``timeout`` seconds; a
    name that does not resolve in time is left out and logged, and the server goes on."""
    out = []
    for u in urls:
        if u.scheme != "stun":
            continue
        if _is_ip(u.host):
            if ":" not in u.host:
                out.append(RTCIceServer(f"stun:{u.host}:{u.port}"))
            continue
        try:
            infos = await asyncio.wait_for(getaddrinfo(u.host, u.port, family=socket.AF_INET,
                                                       type=socket.SOCK_DGRAM), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            log.warning("ICE server %s left out: its name did not resolve (%s)", u.text, str(exc) or "timed out")
            continue
        if infos:
            out.append(RTCIceServer(f"stun:{infos[0][4][0]}:{u.port}"))
    return out


def configuration(servers: list[RTCIceServer]) -> RTCConfiguration:
    """A peer's configuration with exactly ``servers`` (a list, possibly empty: aiortc's
    default, a public STUN server looked up by name, applies only to ``None``)."""
    return RTCConfiguration(iceServers=list(servers))


def listen_addresses(host: str) -> list[str] | None:
    """The addresses a server listening on ``host`` offers its viewers as host candidates:
    ``[host]`` when it is one address of its own (browsers reach the server there, so ICE
    does too), else None: every address of the machine (a wildcard; loopback, which a
    reverse proxy in front of the server forwards to from the machine's other addresses;
    a name).

    One candidate instead of one per interface means one socket bound per join instead of
    several and a single pair to check (docs/broadcast.md, "Joining"). The address must be
    on the machine: :func:`broadcast.libinternals.lean_join` falls back to every address
    when none of those wanted is."""
    try:
        ip = ipaddress.ip_address((host or "").strip("[]"))
    except ValueError:
        return None
    if ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_multicast:
        return None
    return [str(ip)]


def _usable(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # what aioice gathers host candidates on: not loopback, not link-local (nor a wildcard)
    return not (ip.is_unspecified or ip.is_loopback or ip.is_link_local or ip.is_multicast)


def _machine_adapters() -> dict[str, list[str]]:
    """Each interface's name and its addresses (ifaddr, as aioice lists them)."""
    import ifaddr

    out: dict[str, list[str]] = {}
    for adapter in ifaddr.get_adapters():
        for a in adapter.ips:
            ip = a.ip[0] if isinstance(a.ip, tuple) else a.ip  # IPv6: (address, flowinfo, scope)
            out.setdefault(adapter.nice_name, []).append(str(ip))
    return out


def ice_addresses(setting: str, adapters: dict[str, list[str]] | None = None) -> list[str] | None:
    """The host candidates named by ``COUNCILCAST_ICE_INTERFACES``: a comma-separated list of
    interface names (``eth0``: its addresses) and addresses of this machine (``203.0.113.5``);
    None when empty (then :func:`listen_addresses` decides). A name or address that is not on
    the machine, or one that cannot be a host candidate (loopback, link-local), raises
    ``BroadcastError`` on field ``ice_interfaces``: a typo must stop the start, not make every
    viewer's join fall back to every address in silence.

    >>> ice_addresses("eth1, 192.0.2.9", {"eth1": ["10.0.0.2", "fe80::1"], "eth2": ["192.0.2.9"]})
    ['10.0.0.2', '192.0.2.9']
    """
    items = [x.strip() for x in (setting or "").split(",") if x.strip()]
    if not items:
        return None
    adapters = _machine_adapters() if adapters is None else adapters
    here = {addr for addrs in adapters.values() for addr in addrs}
    out: list[str] = []
    for item in items:
        try:
            ip = ipaddress.ip_address(item.strip("[]"))
        except ValueError:
            if item not in adapters:
                raise BroadcastError("bad_ice_interface", "ice_interfaces",
                                     f"{item!r} is neither an address nor an interface of this machine "
                                     f"(interfaces: {', '.join(sorted(adapters)) or 'none'})") from None
            usable = [a for a in adapters[item] if _usable(ipaddress.ip_address(a))]
            if not usable:
                raise BroadcastError("bad_ice_interface", "ice_interfaces",
                                     f"interface {item!r} has no address a viewer can reach "
                                     f"(loopback and link-local addresses are no host candidates)")
            out += [a for a in usable if a not in out]
            continue
        if not _usable(ip):
            raise BroadcastError("bad_ice_interface", "ice_interfaces",
                                 f"{item} cannot be a host candidate (loopback, link-local or a wildcard)")
        if str(ip) not in here:
            raise BroadcastError("bad_ice_interface", "ice_interfaces",
                                 f"{item} is not an address of this machine, and a host candidate must be one (a "
                                 "public address in front of a NAT is learnt from a STUN server: COUNCILCAST_ICE_SERVERS)")
        if str(ip) not in out:
            out.append(str(ip))
    return out
