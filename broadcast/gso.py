"""UDP segmentation offload (GSO): one viewer's packets of a frame in one ``sendmsg``.

Linux (4.18+) sends a run of datagrams of one size (the last may be shorter) to one address
as a single ``sendmsg`` with a ``UDP_SEGMENT`` control message: the kernel walks the socket,
the route and the UDP/IP layers once for the run and cuts it into datagrams at the end
(in the network card when it offers UDP segmentation, in software just before the device
otherwise). On the wire, and to the viewer, they are ordinary datagrams. VP8 payloads are
all 1,300 bytes but a frame's last, so a video frame is one run.

This module holds only public interfaces (``socket.sendmsg``, cffi's own memory); the SRTP
session's context and ``srtp_protect`` come from :class:`broadcast.libinternals.DirectPath`.
:func:`available` probes once per process that segments sent this way arrive as separate
datagrams; a socket whose route refuses segmentation (``EIO``: a device without checksum
offload, IPsec) makes the sink fall back to ``sendmmsg`` for good (:mod:`broadcast.fanout`).
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import sys
import threading

__all__ = ["Arena", "MAX_SEGMENTS", "SLOT", "available", "runs", "control", "arena", "REFUSED_ERRNOS"]

log = logging.getLogger(__name__)

SOL_UDP = getattr(socket, "SOL_UDP", 17)
UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)  # linux/udp.h; Python 3.11's socket lacks the name
MAX_SEGMENTS = 32
"""Datagrams per ``sendmsg`` at most (the kernel's own limit is 64 or more since 4.18)."""
SLOT = 1500
"""Room per datagram in the arena, as for pylibsrtp's buffer: 32 x 1,500 bytes stays far
under the 64 KiB a single UDP send may carry."""
REFUSED_ERRNOS = (errno.EIO, errno.EINVAL, errno.EOPNOTSUPP, errno.EMSGSIZE, errno.ENOPROTOOPT)
"""What ``sendmsg`` raises when this socket or route cannot segment (the sink then stops
trying): EIO without checksum offload or under IPsec, EINVAL for a segment size the route's
MTU does not allow."""

_controls: dict[int, list] = {}
_available: bool | None = None


def control(size: int) -> list:
    """The ``sendmsg`` ancillary data that cuts a run into datagrams of ``size`` bytes (cached)."""
    c = _controls.get(size)
    if c is None:
        c = _controls[size] = [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))]
    return c


def runs(lengths: list[int]) -> list[tuple[int, int]]:
    """``(start, end)`` of each run of packets that can go in one segmented send: the same
    length throughout, the last possibly shorter, at most :data:`MAX_SEGMENTS`.

    >>> runs([1300, 1300, 1300, 700])
    [(0, 4)]
    >>> runs([1300, 700, 1300])
    [(0, 2), (2, 3)]
    >>> runs([500, 900])
    [(0, 1), (1, 2)]
    """
    out = []
    start, n = 0, len(lengths)
    while start < n:
        size = lengths[start]
        end = start + 1
        limit = min(n, start + MAX_SEGMENTS)
        while end < limit and lengths[end] == size:
            end += 1
        if end < limit and lengths[end] < size:  # a shorter one ends the run
            end += 1
        out.append((start, end))
        start = end
    return out


class Arena(threading.local):
    """The buffer one thread's sinks assemble and protect a run in (the fan-out is synchronous:
    a run is assembled, protected and sent before the next sink's starts)."""

    def __init__(self):
        import cffi

        ffi = cffi.FFI()
        self.memory = ffi.new("char[]", MAX_SEGMENTS * SLOT)
        self.buffer = ffi.buffer(self.memory)
        self.view = memoryview(self.buffer)
        self.len_p = ffi.new("int *")


_arena: Arena | None = None


def arena() -> Arena:
    global _arena
    if _arena is None:
        _arena = Arena()
    return _arena


def available() -> bool:
    """True when a segmented send on a loopback pair arrives as its separate datagrams, in
    order and intact (probed once per process; False off Linux)."""
    global _available
    if _available is None:
        _available = False
        if sys.platform.startswith("linux"):
            try:
                _available = _probe()
            except OSError as exc:
                log.info("no UDP segmentation here: %r", exc)
    return _available


def _probe() -> bool:
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        b.bind(("127.0.0.1", 0))
        b.settimeout(1.0)
        sent = [bytes([i]) * 300 for i in range(3)] + [b"last"]
        a.sendmsg([b"".join(sent)], control(300), 0, b.getsockname())
        got = [b.recv(2048) for _ in sent]
    finally:
        a.close()
        b.close()
    return got == sent
