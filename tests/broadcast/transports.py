"""In-memory transport pairs for the fan-out tests, the way aiortc's ``tests/utils.py`` does.

Two real :class:`~aiortc.rtcdtlstransport.RTCDtlsTransport` objects do a real DTLS
handshake (so both ends derive real SRTP keys) over a pair of queues instead of ICE. The
server's side keeps every SRTP/SRTCP datagram it sends through ICE (aiortc's own send
path: the "generic" path of a sink) in ``media`` instead of delivering it, like a capture on
the wire; the test decrypts them with the viewer's receiving SRTP session. For the
"direct" and "public" paths a test nominates a pair whose socket is a real datagram socket
on loopback (or a Unix datagram socket, which reports a full buffer as a real one does).

This module reaches into aiortc's and aioice's internals where aiortc's own tests do (an
ICE transport's ``_connection``/``_send``/``_recv``, a DTLS transport's ``_rx_srtp`` and
``_send_rtp``): the test doubles have to stand where the real objects stand.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace

from aioice import Candidate
from aioice.ice import CandidatePair
from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport

__all__ = ["dtls_pair", "udp_pair", "unix_pair", "nominate", "receiving_session", "send_rtcp", "tapped",
           "UdpReceiver", "TapConnection", "QueueIceTransport"]


class TapConnection:
    """What aiortc's ICE transport needs of an aioice ``Connection``: send, recv, close.

    ``tap=True``: SRTP and SRTCP (first byte 128-191) are kept in :attr:`media` instead of
    being delivered; DTLS goes through. ``_nominated`` is aioice's selected pair per
    component: empty means "no pair", which sends a sink down the generic path.
    """

    def __init__(self, rx: asyncio.Queue, tx: asyncio.Queue, tap: bool):
        self.rx, self.tx, self.tap = rx, tx, tap
        self.media: list[bytes] = []
        self._nominated: dict[int, object] = {}
        self.closed = False

    async def recv(self) -> bytes:
        if self.closed:
            raise ConnectionError
        data = await self.rx.get()
        if data is None:
            raise ConnectionError
        return data

    async def send(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionError
        if self.tap and 127 < data[0] < 192:
            self.media.append(bytes(data))
        else:
            await self.tx.put(data)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.rx.put(None)


class QueueIceTransport:
    """An :class:`~aiortc.RTCIceTransport` stand-in over a :class:`TapConnection`."""

    def __init__(self, connection: TapConnection, role: str):
        self._connection = connection
        self.role = role

    async def _recv(self) -> bytes:
        return await self._connection.recv()

    async def _send(self, data: bytes) -> None:
        await self._connection.send(data)

    async def stop(self) -> None:
        await self._connection.close()


@contextlib.asynccontextmanager
async def dtls_pair() -> AsyncIterator[tuple[RTCDtlsTransport, RTCDtlsTransport]]:
    """(server's DTLS transport, viewer's), connected, SRTP keys agreed."""
    qa, qb = asyncio.Queue(), asyncio.Queue()
    ice_a = QueueIceTransport(TapConnection(qa, qb, tap=True), "controlling")
    ice_b = QueueIceTransport(TapConnection(qb, qa, tap=False), "controlled")
    a = RTCDtlsTransport(ice_a, [RTCCertificate.generateCertificate()])
    b = RTCDtlsTransport(ice_b, [RTCCertificate.generateCertificate()])
    await asyncio.gather(a.start(b.getLocalParameters()), b.start(a.getLocalParameters()))
    assert a.state == b.state == "connected"
    try:
        yield a, b
    finally:
        await a.stop()
        await b.stop()


def tapped(server_dtls: RTCDtlsTransport) -> list[bytes]:
    """The SRTP and SRTCP datagrams the server sent through ICE (the generic path and RTCP)."""
    return server_dtls.transport._connection.media


def receiving_session(viewer_dtls: RTCDtlsTransport):
    """The viewer's receiving SRTP session (pylibsrtp), which decrypts what the server sends."""
    return viewer_dtls._rx_srtp


async def send_rtcp(viewer_dtls: RTCDtlsTransport, packet) -> None:
    """Send one RTCP packet from the viewer to the server (SRTCP-protected, as a browser would)."""
    await viewer_dtls._send_rtp(bytes(packet))


class UdpReceiver(asyncio.DatagramProtocol):
    """A datagram socket that keeps what it receives."""

    def __init__(self):
        self.packets: list[bytes] = []
        self.arrived = asyncio.Event()
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.packets.append(data)
        self.arrived.set()

    async def wait(self, n: int, timeout: float = 2.0) -> list[bytes]:
        async with asyncio.timeout(timeout):
            while len(self.packets) < n:
                self.arrived.clear()
                await self.arrived.wait()
        return self.packets

    async def quiet(self, seconds: float = 0.05) -> list[bytes]:
        """Wait a moment (for packets that should not come), then return what came."""
        await asyncio.sleep(seconds)
        return self.packets


async def nominate(server_dtls: RTCDtlsTransport, transport, remote_addr) -> None:
    """Make (``transport``'s socket -> ``remote_addr``) the selected ICE pair of component 1."""
    if isinstance(remote_addr, tuple):
        host, port = remote_addr
        remote = Candidate(foundation="1", component=1, transport="udp", priority=1, host=host, port=port,
                           type="host")
        pair = CandidatePair(SimpleNamespace(transport=transport), remote)
    else:  # a Unix socket path: CandidatePair only knows (host, port)
        pair = SimpleNamespace(protocol=SimpleNamespace(transport=transport), remote_addr=remote_addr)
    server_dtls.transport._connection._nominated[1] = pair


async def udp_pair() -> tuple[asyncio.DatagramTransport, UdpReceiver, tuple[str, int]]:
    """A sending datagram transport and a receiver, both on 127.0.0.1."""
    loop = asyncio.get_running_loop()
    rx_transport, receiver = await loop.create_datagram_endpoint(UdpReceiver, local_addr=("127.0.0.1", 0))
    tx_transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
    return tx_transport, receiver, rx_transport.get_extra_info("sockname")


async def unix_pair(path: str, sndbuf: int = 4096) -> tuple[asyncio.DatagramTransport, socket.socket]:
    """A sending datagram transport and a bound Unix datagram socket at ``path`` that nobody
    reads: once a few datagrams wait in it, ``sendto`` fails with EAGAIN (a full buffer)."""
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(path)
    rx.setblocking(False)
    tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    tx.setblocking(False)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(asyncio.DatagramProtocol, sock=tx)
    return transport, rx

