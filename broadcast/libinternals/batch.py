"""``sendmmsg`` through cffi: a frame's packets to one viewer in one system call (Python's
socket module has ``sendmsg`` but no ``sendmmsg``)."""

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

__all__ = ["BATCH_SLOTS", "BatchPath", "batch_protect_path"]

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
int sendmmsg(int sockfd, struct mmsghdr *msgvec, unsigned int vlen, int flags);
"""
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
