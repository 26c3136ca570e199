"""``sendmmsg`` through cffi: a frame's packets to one viewer in one system call (Python's
socket module has ``sendmsg`` but no ``sendmmsg``).

Two shapes: :class:`BatchPath`, one datagram per message (a frame's packets side by side);
and :class:`RidePath`, the audio packets held since the last video frame followed by that
frame's segmented run (``UDP_SEGMENT``, :mod:`broadcast.gso`), so that a viewer's audio costs
no system call of its own (docs/broadcast.md, "Where the time goes per packet")."""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import NamedTuple

import pylibsrtp

from broadcast.libinternals import common
from broadcast.libinternals.sender import direct_refused

__all__ = ["BATCH_SLOTS", "BatchPath", "batch_protect_path", "RIDERS", "RidePath", "ride_protect_path"]

log = logging.getLogger("broadcast.libinternals")

BATCH_SLOTS = 64
"""Packets per ``sendmmsg`` call (a frame with more is sent in several calls)."""
_SLOT = 1500
"""Bytes per packet slot: pylibsrtp's own buffer size, so the length rule is the same."""
_MMSG_CDEF = """
struct iovec { void *iov_base; size_t iov_len; };
struct msghdr { void *msg_name; unsigned int msg_namelen; struct iovec *msg_iov; size_t msg_iovlen;
                void *msg_control; size_t msg_controllen; int msg_flags; };
struct mmsghdr { struct msghdr msg_hdr; unsigned int msg_len; };
struct cmsghdr { size_t cmsg_len; int cmsg_level; int cmsg_type; };
int sendmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags);
"""
RIDERS = 4
"""Audio packets one video frame's system call carries at most (at 30 fps and 20 ms a packet,
one or two are waiting at each frame)."""
_mmsg = None  # (ffi, libc) once loaded, False if this platform has no sendmmsg


def _sendmmsg_lib():
    """cffi in ABI mode over the C library's ``sendmmsg`` (Linux 3.0+, glibc 2.14+), or None.

    Python's socket module has ``sendmsg`` but no ``sendmmsg``; cffi is already installed
    (pylibsrtp is built on it), so this costs no new dependency and no compiler."""
    global _mmsg
    if _mmsg is None:
        _mmsg = False
        if sys.platform.startswith("linux"):
            try:
                import cffi

                ffi = cffi.FFI()
                ffi.cdef(_MMSG_CDEF)
                libc = ffi.dlopen(None)
                libc.sendmmsg  # noqa: B018 - resolves the symbol now, or raises
                _mmsg = (ffi, libc)
            except (ImportError, OSError, AttributeError) as exc:
                log.info("no sendmmsg here: %r", exc)
    return _mmsg or None


def _sockaddr(ffi, family: int, addr) -> object:
    """``struct sockaddr_in`` or ``sockaddr_in6`` of ``addr`` (host, port[, flowinfo, scope_id]),
    and its length; ``sockaddr_un`` for a path (Unix datagram sockets, whose full buffer the
    tests use to stand for a slow viewer's)."""
    import struct

    if family == socket.AF_INET:
        raw = struct.pack("=H", socket.AF_INET) + struct.pack("!H4s8x", addr[1], socket.inet_aton(addr[0]))
    elif family == socket.AF_INET6:
        host = addr[0].split("%", 1)[0]
        flow, scope = (addr[2], addr[3]) if len(addr) >= 4 else (0, 0)
        raw = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI16s", addr[1], flow,
                                                               socket.inet_pton(socket.AF_INET6, host))
        raw += struct.pack("=I", scope)
    elif family == getattr(socket, "AF_UNIX", None) and isinstance(addr, str):  # the tests' full sockets
        raw = struct.pack("=H", socket.AF_UNIX) + addr.encode() + b"\0"
    else:
        raise ValueError(f"address family {family} is not IP")
    return ffi.new("char[]", raw), len(raw)


class _Arena(threading.local):
    """The packet slots every sink of this thread assembles and protects its batch in.

    One arena per thread, not per viewer: a batch is assembled, protected and sent before
    the next sink's starts (the fan-out is synchronous), so 600 viewers share 96 KB."""

    def __init__(self):
        from pylibsrtp._binding import ffi as srtp_ffi

        ffi, _ = _sendmmsg_lib()
        self.memory = srtp_ffi.new("char[]", BATCH_SLOTS * _SLOT)  # pylibsrtp's type, for srtp_protect
        self.buffer = srtp_ffi.buffer(self.memory)
        self.slots = [self.memory + i * _SLOT for i in range(BATCH_SLOTS)]
        self.len_p = srtp_ffi.new("int *")
        self.iov = ffi.new("struct iovec[]", BATCH_SLOTS)
        base = ffi.cast("char *", srtp_ffi.cast("uintptr_t", self.memory))
        for i in range(BATCH_SLOTS):
            self.iov[i].iov_base = base + i * _SLOT


_arena = None


class BatchPath(NamedTuple):
    """The direct path with one ``sendmmsg`` per frame, bound once per sink.

    Packet ``i`` of a batch is assembled in ``buffer[i * slot:]``, protected in place by
    ``protect(srtp[0], slots[i], len_p)`` and its protected length written to
    ``iov[i].iov_len``; ``send(k)`` then sends the first ``k`` and returns how many went
    (fewer when the socket is full: the rest are dropped)."""

    srtp: object
    buffer: object
    slots: list
    slot: int
    iov: object
    len_p: object
    protect: Callable
    send: Callable[[int], int]
    limit: int


def batch_protect_path(session, transport, addr) -> BatchPath | None:
    """Bind the batched direct path for one SRTP ``session``, datagram ``transport`` and
    remote ``addr``, or None (this platform or session does not allow it: per-packet sends)."""
    if _batch_refused() is not None or direct_refused() is not None:
        return None
    try:
        return _bind_batch(transport._sock, session._srtp, addr)
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        return None


def _bind_batch(sock: socket.socket, srtp, addr) -> BatchPath:
    global _arena
    from pylibsrtp._binding import lib as srtp_lib

    ffi, libc = _sendmmsg_lib()
    if not isinstance(sock, socket.socket):
        raise TypeError("not a socket")
    name, namelen = _sockaddr(ffi, sock.family, addr)
    if _arena is None:
        _arena = _Arena()
    arena = _arena
    msgs = ffi.new("struct mmsghdr[]", BATCH_SLOTS)
    for i in range(BATCH_SLOTS):
        hdr = msgs[i].msg_hdr
        hdr.msg_name, hdr.msg_namelen = name, namelen
        hdr.msg_iov, hdr.msg_iovlen = arena.iov + i, 1
    fd, sendmmsg = sock.fileno(), libc.sendmmsg

    def send(k: int) -> int:
        n = sendmmsg(fd, msgs, k, 0)
        if n >= 0:
            return n
        err = ffi.errno
        if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ENOBUFS):
            return 0  # the socket is full: this viewer is too slow
        raise OSError(err, os.strerror(err))

    send.keep = (name, msgs, sock)  # what the C structures point into stays alive with the sink
    return BatchPath(srtp, arena.buffer, arena.slots, _SLOT, arena.iov, arena.len_p,
                     srtp_lib.srtp_protect, send, _SLOT - pylibsrtp.SRTP_MAX_TRAILER_LEN)


def _batch_refused() -> str | None:
    return common.result()["refused"].get("batch", "self-check did not run")


def _check_sendmmsg() -> str:
    """Three packets through a batch on a loopback socket pair arrive, and decrypt to what was sent."""
    if _sendmmsg_lib() is None:
        raise OSError(f"no sendmmsg on {sys.platform}")
    key = bytes(range(30))
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    rx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    a, b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        b.bind(("127.0.0.1", 0))
        b.settimeout(1.0)
        batch = _bind_batch(a, tx._srtp, b.getsockname())
        sent = [bytes([0x80, 96, 0, i, 0, 0, 0, 9, 0, 0, 0, 7]) + bytes([i]) * (100 + i) for i in range(3)]
        for i, packet in enumerate(sent):
            off = i * batch.slot
            batch.buffer[off:off + len(packet)] = packet
            batch.len_p[0] = len(packet)
            if batch.protect(batch.srtp[0], batch.slots[i], batch.len_p):
                raise RuntimeError("srtp_protect failed")
            batch.iov[i].iov_len = batch.len_p[0]
        if batch.send(3) != 3:
            raise OSError("sendmmsg sent fewer than 3")
        got = [rx.unprotect(b.recv(2048)) for _ in range(3)]
    finally:
        a.close()
        b.close()
    if got != sent:
        raise ValueError("what arrived does not decrypt to what was sent")
    return "sendmmsg sends a batch protected in place; it decrypts to what was sent"


# -- audio riding with a video frame: one sendmmsg, the audio first, the segmented run last -----
class _RideArena(threading.local):
    """The memory every sink of this thread assembles a ride in: :data:`RIDERS` audio slots,
    then room for a segmented run of :data:`broadcast.gso.MAX_SEGMENTS` datagrams; the iovecs
    over them and the one ``UDP_SEGMENT`` control message (its size written per send)."""

    def __init__(self):
        from pylibsrtp._binding import ffi as srtp_ffi

        from broadcast import gso

        ffi, _ = _sendmmsg_lib()
        self.memory = srtp_ffi.new("char[]", (RIDERS + gso.MAX_SEGMENTS) * _SLOT)
        self.buffer = srtp_ffi.buffer(self.memory)
        self.view = memoryview(self.buffer)
        self.slots = [self.memory + i * _SLOT for i in range(RIDERS)]
        self.run = self.memory + RIDERS * _SLOT  # the video run, contiguous
        self.run_at = RIDERS * _SLOT
        self.len_p = srtp_ffi.new("int *")
        self.iov = ffi.new("struct iovec[]", RIDERS + 1)
        base = ffi.cast("char *", srtp_ffi.cast("uintptr_t", self.memory))
        for i in range(RIDERS + 1):
            self.iov[i].iov_base = base + i * _SLOT
        word = ffi.sizeof("size_t")
        head = (ffi.sizeof("struct cmsghdr") + word - 1) // word * word  # CMSG_ALIGN(sizeof(cmsghdr))
        self.control_len = head + (2 + word - 1) // word * word  # CMSG_SPACE(sizeof(uint16_t))
        self.control = ffi.new("char[]", self.control_len)
        cmsg = ffi.cast("struct cmsghdr *", self.control)
        cmsg.cmsg_len = head + 2  # CMSG_LEN(sizeof(uint16_t))
        cmsg.cmsg_level, cmsg.cmsg_type = gso.SOL_UDP, gso.UDP_SEGMENT
        self.segment = ffi.cast("uint16_t *", self.control + head)


_ride_arena = None


class RidePath(NamedTuple):
    """One system call per viewer per video frame: the audio held since the last frame, then the
    frame's run, bound once per sink.

    Audio packet ``j`` of ``k`` is assembled in ``slots[RIDERS - k + j]`` (``buffer`` offset
    ``(RIDERS - k + j) * slot``) and its protected length written to
    ``iov[RIDERS - k + j].iov_len``; the run back to back from ``buffer[run_at:]``, each packet
    protected in place, its total length in ``iov[RIDERS].iov_len``. ``send(k, size)`` sends
    the ``k`` audio datagrams and the run cut into datagrams of ``size`` bytes, and returns how
    many of the ``k + 1`` messages went: ``k + 1``; ``k`` when the run did not (``sendmmsg``
    does not report an error after a first message that went: send the run again alone to
    learn it); fewer when the socket is full. An error on the first message is raised
    (``OSError``), as ``sendmsg`` would."""

    srtp: object
    buffer: object
    view: memoryview
    slots: list
    slot: int
    run: object
    run_at: int
    iov: object
    len_p: object
    protect: Callable
    send: Callable[[int, int], int]
    limit: int


def ride_protect_path(session, transport, addr) -> RidePath | None:
    """Bind the ride for one SRTP ``session``, datagram ``transport`` and remote ``addr``, or
    None (this platform or route does not allow it: the audio then goes in its own calls)."""
    if common.result()["refused"].get("ride", "self-check did not run") is not None:
        return None
    try:
        return _bind_ride(transport._sock, session._srtp, addr)
    except (ImportError, AttributeError, TypeError, ValueError, OSError):
        return None


def _bind_ride(sock: socket.socket, srtp, addr) -> RidePath:
    global _ride_arena
    from pylibsrtp._binding import lib as srtp_lib

    ffi, libc = _sendmmsg_lib()
    if not isinstance(sock, socket.socket):
        raise TypeError("not a socket")
    name, namelen = _sockaddr(ffi, sock.family, addr)
    if _ride_arena is None:
        _ride_arena = _RideArena()
    arena = _ride_arena
    msgs = ffi.new("struct mmsghdr[]", RIDERS + 1)
    for i in range(RIDERS + 1):
        hdr = msgs[i].msg_hdr
        hdr.msg_name, hdr.msg_namelen = name, namelen
        hdr.msg_iov, hdr.msg_iovlen = arena.iov + i, 1
    run = msgs[RIDERS].msg_hdr
    run.msg_control, run.msg_controllen = arena.control, arena.control_len
    fd, sendmmsg, segment = sock.fileno(), libc.sendmmsg, arena.segment

    def send(k: int, size: int) -> int:
        segment[0] = size
        n = sendmmsg(fd, msgs + (RIDERS - k), k + 1, 0)
        if n >= 0:
            return n
        err = ffi.errno
        if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR, errno.ENOBUFS):
            return 0  # the socket is full: this viewer is too slow
        raise OSError(err, os.strerror(err))  # the first message failed: with k == 0, the run

    send.keep = (name, msgs, sock)
    return RidePath(srtp, arena.buffer, arena.view, arena.slots, _SLOT, arena.run, arena.run_at, arena.iov,
                    arena.len_p, srtp_lib.srtp_protect, send, _SLOT - pylibsrtp.SRTP_MAX_TRAILER_LEN)


def _check_ride() -> str:
    """Two audio packets and a run of three segments in one ``sendmmsg`` on a loopback pair
    arrive as five datagrams, in that order, and decrypt to what was sent."""
    from broadcast import gso

    if _sendmmsg_lib() is None:
        raise OSError(f"no sendmmsg on {sys.platform}")
    if not gso.available():
        raise OSError("no UDP segmentation here")
    key = bytes(range(30))
    tx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    rx = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    a, b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def rtp(i: int, n: int) -> bytes:
        return bytes([0x80, 96, 0, i, 0, 0, 0, 9, 0, 0, 0, 7]) + bytes([i]) * n

    try:
        b.bind(("127.0.0.1", 0))
        b.settimeout(1.0)
        ride = _bind_ride(a, tx._srtp, b.getsockname())
        audio, video = [rtp(0, 80), rtp(1, 90)], [rtp(2, 300), rtp(3, 300), rtp(4, 100)]
        for j, packet in enumerate(audio):
            at = RIDERS - len(audio) + j
            ride.buffer[at * ride.slot:at * ride.slot + len(packet)] = packet
            ride.len_p[0] = len(packet)
            if ride.protect(ride.srtp[0], ride.slots[at], ride.len_p):
                raise RuntimeError("srtp_protect failed")
            ride.iov[at].iov_len = ride.len_p[0]
        off = size = 0
        for packet in video:
            ride.buffer[ride.run_at + off:ride.run_at + off + len(packet)] = packet
            ride.len_p[0] = len(packet)
            if ride.protect(ride.srtp[0], ride.run + off, ride.len_p):
                raise RuntimeError("srtp_protect failed")
            size = size or ride.len_p[0]
            off += ride.len_p[0]
        ride.iov[RIDERS].iov_len = off
        if ride.send(len(audio), size) != len(audio) + 1:
            raise OSError("sendmmsg sent fewer messages than given")
        got = [rx.unprotect(b.recv(2048)) for _ in range(5)]
    finally:
        a.close()
        b.close()
    if got != audio + video:
        raise ValueError("what arrived does not decrypt to what was sent, in order")
    return "sendmmsg sends audio and a segmented run in one call; they decrypt to what was sent"
