"""Every use of a private attribute or module of aiortc, aioice and pylibsrtp, in one place.

The fan-out (:mod:`broadcast.fanout`) sends the same payloads to every viewer without a
task, a packet object or a ``bytes`` copy per packet; that needs parts of aiortc, aioice
and pylibsrtp that are not public (docs/broadcast.md, "Library internals", says which and
why). The rest of ``broadcast/`` calls the small named functions here and never touches an
underscore attribute of a library object (``tests/broadcast/test_libinternals.py``
enforces it by parsing the modules).

:func:`self_check` verifies, once, on the installed versions and on real (throwaway)
objects, that every name relied on here exists, and picks the fastest path that works:

- ``"direct"``: RTP assembled in the SRTP session's own C buffer, protected in place by
  libsrtp through pylibsrtp's binding, sent from that buffer with the socket's ``sendto``;
  for video, where it can (``"batch"``: Linux's ``sendmmsg`` through cffi), a frame's
  packets are assembled side by side in shared slots and sent in one system call
  (:func:`batch_protect_path`);
- ``"public"``: ``Session.protect`` and the datagram transport's ``sendto``;
- ``"generic"``: ``Session.protect`` and aiortc's ICE transport send (one task per packet),
  which is also what a TURN-relayed pair always uses.

It also decides whether a relay can forward the origin's packets without decoding them
(:func:`tap_receiver`, :func:`receiver_pli`; ``"relay_forward"``), or decodes and re-encodes;
and which parts of a WHEP join's set-up can be skipped or shared (:func:`lean_join`,
``"join"``: docs/broadcast.md, "Joining").

:func:`report` gives the versions, each check's result, the active path and why a faster
one was refused, as a JSON-able dict. Both are cheap (a few ms the first time, then cached)
and never raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import copy
import errno
import logging
import queue
import os
import socket
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import NamedTuple

import aioice
import aiortc
import pylibsrtp
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

__all__ = [
    "PATHS", "DirectPath", "self_check", "report", "active_path",
    "sender_ssrc", "route_feedback", "sender_report_writer", "update_sender_report", "sender_report",
    "transceiver_codecs", "transceiver_header_extensions",
    "tx_srtp", "selected_pair", "direct_protect_path", "generic_sender",
    "vp8_payloads", "h264_payloads",
    "tap_receiver", "receiver_pli", "relay_forward_refused", "receive_directly", "receiving_directly",
    "BATCH_SLOTS", "BatchPath", "batch_protect_path",
    "JOIN_PARTS", "LeanJoin", "lean_join", "shared_certificate", "host_addresses", "join_parts",
]

log = logging.getLogger(__name__)

PATHS = ("direct", "public", "generic")
"""The per-packet paths, fastest first."""

_SR_FIELDS = ("_RTCRtpSender__ntp_timestamp", "_RTCRtpSender__rtp_timestamp",
              "_RTCRtpSender__packet_count", "_RTCRtpSender__octet_count")
"""RTCRtpSender's sender-report counters (name-mangled ``__ntp_timestamp`` etc.), read by
its ``_run_rtcp`` to build each RTCP sender report."""

_FEEDBACK = ("_retransmit", "_send_keyframe")
"""The RTCRtpSender methods its ``_handle_rtcp_packet`` calls for a NACK and for a PLI/FIR."""


# -- the sender: SSRC, RTCP feedback, sender-report counters ----------------------------------
def sender_ssrc(sender) -> int:
    """The SSRC aiortc chose for ``sender`` (and announces in SDP and RTCP)."""
    return sender._ssrc


def route_feedback(sender, retransmit: Callable[[int], object], keyframe: Callable[[], None]) -> bool:
    """Make ``sender``'s RTCP handling call ``retransmit(seq)`` for a NACK and ``keyframe()``
    for a PLI/FIR. False (nothing written) if this aiortc has no such methods to replace."""
    if not all(hasattr(sender, name) for name in _FEEDBACK):
        log.warning("aiortc %s: RTCRtpSender has no %s; NACK and PLI are not served", aiortc.__version__,
                    "/".join(_FEEDBACK))
        return False
    sender._retransmit = retransmit
    sender._send_keyframe = keyframe
    return True


def sender_report_writer(sender) -> Callable[[int, int, int, int], None] | None:
    """A function ``write(ntp, rtp_timestamp, packets, octets)`` that sets ``sender``'s RTCP
    sender-report counters, or None when this sender lacks any of them.

    Checked once, here: writing a name-mangled attribute that upstream renamed would silently
    create a new attribute that nothing reads. Bind it once per sink; it costs one call per frame.
    """
    if not all(hasattr(sender, name) for name in _SR_FIELDS):
        return None

    def write(ntp: int, rtp_timestamp: int, packets: int, octets: int) -> None:
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = rtp_timestamp
        sender._RTCRtpSender__packet_count = packets
        sender._RTCRtpSender__octet_count = octets

    return write


def update_sender_report(sender, ntp: int, rtp_timestamp: int, packets: int, octets: int) -> bool:
    """Set ``sender``'s sender-report counters once; False (nothing written) if it lacks them."""
    write = sender_report_writer(sender)
    if write is None:
        return False
    write(ntp, rtp_timestamp, packets, octets)
    return True


def sender_report(sender) -> dict | None:
    """The counters ``sender``'s next RTCP sender report will carry, or None."""
    if not all(hasattr(sender, name) for name in _SR_FIELDS):
        return None
    return {"ntp_timestamp": sender._RTCRtpSender__ntp_timestamp,
            "rtp_timestamp": sender._RTCRtpSender__rtp_timestamp,
            "packet_count": sender._RTCRtpSender__packet_count,
            "octet_count": sender._RTCRtpSender__octet_count}


# -- the transceiver: what was negotiated ------------------------------------------------------
def transceiver_codecs(transceiver) -> list:
    """The negotiated codecs (``RTCRtpCodecParameters``), the remote side's preferred first."""
    return transceiver._codecs


def transceiver_header_extensions(transceiver) -> list:
    """The negotiated RTP header extensions (``RTCRtpHeaderExtensionParameters``)."""
    return transceiver._headerExtensions


# -- DTLS, ICE, SRTP, the socket ------------------------------------------------------------------
def tx_srtp(dtls):
    """The DTLS transport's sending SRTP session (a ``pylibsrtp.Session``; None before the handshake)."""
    return dtls._tx_srtp


def selected_pair(dtls) -> tuple[object, object] | None:
    """``(datagram transport, remote address)`` of the ICE pair aioice nominated for RTP, or
    None (no pair yet, or a pair without a transport)."""
    try:
        pair = dtls.transport._connection._nominated.get(1)
        transport = pair.protocol.transport
        addr = pair.remote_addr
    except AttributeError:
        return None
    if transport is None:
        return None
    return transport, addr


class DirectPath(NamedTuple):
    """Everything the direct per-packet path needs, bound once per sink."""

    srtp: object
    """The session's ``srtp_t *`` (``srtp[0]`` is the libsrtp context)."""
    cdata: object
    """The session's own ``char[1500]``: the packet is assembled and protected in it."""
    buf: object
    """``ffi.buffer`` over :attr:`cdata`, for slice assignment."""
    view: memoryview
    """A memoryview of :attr:`buf`, to send a prefix without a copy."""
    len_p: object
    """An ``int *``: the packet's length in, the protected length out."""
    sock: socket.socket
    """The datagram socket of the selected pair."""
    protect: Callable
    """``lib.srtp_protect``."""
    limit: int
    """The longest RTP packet (header + payload) accepted: the buffer's length minus
    pylibsrtp's ``SRTP_MAX_TRAILER_LEN``, the rule of ``Session.protect`` (which raises
    ``ValueError("packet is too long")`` beyond it). libsrtp writes its authentication tag
    after the packet without any bound: this check is all that keeps it inside the buffer."""


def direct_protect_path(session, transport) -> DirectPath | None:
    """Bind the direct path for one SRTP ``session`` and one asyncio datagram ``transport``,
    or None if this session, transport or pylibsrtp does not allow it (the public path then).

    pylibsrtp's ``Session.protect`` does the same in its 1,500-byte buffer, plus one
    allocation and two copies per packet; ``transport._sock.sendto`` skips asyncio's
    wrapper (which only adds a check and a fallback buffer).
    """
    if _direct_refused() is not None:
        return None
    try:
        from pylibsrtp._binding import ffi, lib

        sock = transport._sock
        cdata, buf, srtp = session._cdata, session._buffer, session._srtp
        limit = len(buf) - pylibsrtp.SRTP_MAX_TRAILER_LEN
    except (ImportError, AttributeError, TypeError):
        return None
    if not isinstance(sock, socket.socket) or len(buf) != len(cdata) or limit <= 12:
        return None
    return DirectPath(srtp, cdata, buf, memoryview(buf), ffi.new("int *"), sock, lib.srtp_protect, limit)


def generic_sender(dtls) -> Callable[[bytes], None]:
    """``send(data)``: hand one protected datagram to aiortc's ICE transport (a task per packet)."""
    ice_send = dtls.transport._send
    ensure_future = asyncio.ensure_future

    def send(data: bytes) -> None:
        ensure_future(ice_send(data))

    return send


# -- the packetizers ---------------------------------------------------------------------------
def vp8_payloads(frame: bytes, picture_id: int) -> list[bytes]:
    """RTP payloads of one VP8 frame, cut by aiortc's own packetizer (payload descriptor included)."""
    return Vp8Encoder._packetize(frame, picture_id)


def h264_payloads(access_unit: bytes) -> list[bytes]:
    """RTP payloads (single NAL, STAP-A, FU-A) of one H.264 Annex B access unit, by aiortc's packetizer."""
    return H264Encoder._packetize(H264Encoder._split_bitstream(access_unit))


# -- the receiver of a relay's pull: encoded packets out, no decoder ------------------------------
_RX_QUEUE = "_RTCRtpReceiver__decoder_queue"
"""RTCRtpReceiver's queue to its decoder thread: ``receive()`` starts the thread on it, and
``_handle_rtp_packet`` puts each frame its jitter buffer completes into it."""
_RX_HANDLE = "_handle_rtp_packet"
"""The RTCRtpReceiver method the DTLS transport's RTP router calls with each parsed packet."""
_RX_PLI = "_send_rtcp_pli"
"""The RTCRtpReceiver method that sends a PLI (RFC 4585) for a media SSRC."""


class _NoDecoder:
    """Stands in for RTCRtpReceiver's decoder queue: the decoder thread that ``receive()``
    starts reads None at once and exits before it has made a decoder (it decodes nothing),
    and the jitter buffer's frames are dropped instead of queued."""

    def get(self, *args, **kwargs):
        return None

    def put(self, item, *args, **kwargs) -> None:
        pass

    put_nowait = put


def tap_receiver(receiver, on_packet: Callable[[object], None]) -> bool:
    """Make ``receiver`` call ``on_packet(packet)`` (an ``aiortc.rtp.RtpPacket``, decrypted and
    parsed) for every RTP packet, first, and never decode. Call it before the remote
    description is set (``receive()`` starts the decoder thread).

    aiortc's own handling still runs after ``on_packet`` (receiver statistics and reports,
    NACKs for missing packets, bandwidth estimates); its jitter buffer's frames are dropped.
    False (nothing changed: the receiver decodes as usual) when :func:`self_check` found
    that this aiortc does not work this way. Once the pull is connected (at a packet after which
    none is queued) its RTP is received directly (:func:`receive_directly`), where the self-check
    allows it (``"relay_direct"``).
    """
    if relay_forward_refused() is not None or not isinstance(getattr(receiver, _RX_QUEUE, None), queue.Queue):
        return False
    original = receiver._handle_rtp_packet
    direct = [False]  # the pull's RTP is received directly (receive_directly) from now on

    async def handle(packet, arrival_time_ms: int) -> None:
        on_packet(packet)
        await original(packet, arrival_time_ms=arrival_time_ms)
        if not direct[0]:
            direct[0] = receive_directly(receiver)

    receiver._RTCRtpReceiver__decoder_queue = _NoDecoder()
    receiver._handle_rtp_packet = handle
    _tapped[receiver] = (on_packet, original)
    return True


_RX_LEAN = ("_enabled", "_RTCRtpReceiver__codecs", "_RTCRtpReceiver__active_ssrc", "_RTCRtpReceiver__remote_streams",
            "_RTCRtpReceiver__nack_generator", "_RTCRtpReceiver__remote_bitrate_estimator")
"""What RTCRtpReceiver's ``_handle_rtp_packet`` keeps per packet that a tapped receiver still
needs (:func:`receive_directly`): its payload types, sources, statistics (receiver reports)
and NACK generator; the bitrate estimator only to see that it has nothing to estimate."""
_tapped: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # receiver -> (on_packet, aiortc's handler)


def receive_directly(receiver) -> bool:
    """Receive the RTP of ``receiver``'s pull (tapped, :func:`tap_receiver`) in the socket's own
    callback, with no queue, task or jitter buffer in between; True once done (or refused for
    good: nothing to retry), False to try again at a later packet (not connected yet, or packets
    still queued, whose order must be kept).

    aiortc hands each datagram through aioice's queue to the DTLS transport's receive task
    (one task step per packet), tries to parse it as STUN first, and its receiver depayloads
    it and feeds a jitter buffer whose frames a tapped receiver drops. Here the datagrams of
    the selected ICE pair that are SRTP and not SRTCP are unprotected and parsed as aiortc
    does, routed as it does, and, for a tapped receiver, given to ``on_packet`` and then
    counted as aiortc counts them (sources, statistics for its receiver reports, NACKs for
    missing packets, sent as aiortc sends them); anything else (STUN, DTLS, SRTCP) goes the
    usual way. A packet aiortc would treat otherwise (an unknown payload type, RTX, one for
    its bitrate estimator, a receiver not tapped) is handed to aiortc's own handler."""
    if _relay_direct_refused() is not None:
        return True
    try:
        dtls = receiver.transport
        srtp = dtls._rx_srtp
        connection = dtls.transport._connection
        pair = connection._nominated.get(1)
    except AttributeError:
        return True
    if srtp is None or pair is None or getattr(pair, "protocol", None) is None:
        return False
    protocol = pair.protocol
    if getattr(protocol, "_councilcast_direct", False):
        return True
    if not connection._queue.empty():
        return False
    from aiortc import clock
    from aiortc.rtp import RtpPacket, is_rtcp

    original = protocol.datagram_received
    unprotect, router, extensions = srtp.unprotect, dtls._rtp_router, dtls._rtp_header_extensions_map
    parse, route, ensure_future, srtp_error = RtpPacket.parse, router.route_rtp, asyncio.ensure_future, pylibsrtp.Error
    handlers: dict = {}

    def datagram_received(data, addr) -> None:
        if len(data) < 12 or not 127 < data[0] < 192 or is_rtcp(data):
            original(data, addr)  # STUN, DTLS, SRTCP: aioice's and aiortc's own way
            return
        dtls._RTCDtlsTransport__rx_bytes += len(data)  # the transport's statistics, as aiortc counts
        dtls._RTCDtlsTransport__rx_packets += 1
        try:
            packet = parse(unprotect(data), extensions)
        except (srtp_error, ValueError):
            return  # as aiortc: an SRTP or RTP error drops the packet
        rx = route(packet)
        if rx is None:
            return
        handler = handlers.get(rx)
        if handler is None:
            handler = handlers[rx] = _lean_handler(rx, clock, ensure_future)
        handler(packet)

    protocol.datagram_received = datagram_received
    protocol._councilcast_direct = True
    return True


def receiving_directly(receiver) -> bool:
    """True when ``receiver``'s RTP is received directly (:func:`receive_directly`)."""
    try:
        pair = receiver.transport.transport._connection._nominated.get(1)
    except AttributeError:
        return False
    return bool(getattr(getattr(pair, "protocol", None), "_councilcast_direct", False))


def _lean_handler(receiver, clock, ensure_future) -> Callable[[object], None]:
    """One tapped receiver's per-packet work, as aiortc's ``_handle_rtp_packet`` does it minus
    the depayloading and the jitter buffer (whose frames a tapped receiver drops)."""
    from aiortc.codecs import is_rtx
    from aiortc.rtcrtpreceiver import StreamStatistics

    tap = _tapped.get(receiver)
    if tap is None:  # not ours: aiortc's handler, as a task per packet, as before
        return lambda packet: ensure_future(receiver._handle_rtp_packet(packet, arrival_time_ms=clock.current_ms()))
    on_packet, aiortc_handle = tap
    codecs = receiver._RTCRtpReceiver__codecs
    active = receiver._RTCRtpReceiver__active_ssrc
    streams = receiver._RTCRtpReceiver__remote_streams
    nack = receiver._RTCRtpReceiver__nack_generator
    estimating = receiver._RTCRtpReceiver__remote_bitrate_estimator is not None

    def handle(packet) -> None:
        on_packet(packet)  # first, as the tap does on aiortc's path
        if not receiver._enabled:
            return
        codec = codecs.get(packet.payload_type)
        if codec is None or is_rtx(codec) or (estimating and packet.extensions.abs_send_time is not None):
            ensure_future(aiortc_handle(packet, arrival_time_ms=clock.current_ms()))
            return
        active[packet.ssrc] = clock.current_datetime()
        stats = streams.get(packet.ssrc)
        if stats is None:
            stats = streams[packet.ssrc] = StreamStatistics(codec.clockRate)
        stats.add(packet)
        if nack is not None and nack.add(packet):
            ensure_future(receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing)))

    return handle


def _relay_direct_refused() -> str | None:
    result = _result if _result is not None else self_check()
    return result["refused"].get("relay_direct", "self-check did not run")


def receiver_pli(receiver) -> Callable[[int], object] | None:
    """``send(media_ssrc)``: a coroutine function that sends a PLI upstream on ``receiver``'s
    transport (aiortc's own, with the receiver's RTCP SSRC), or None."""
    send = getattr(receiver, _RX_PLI, None)
    return send if callable(send) and relay_forward_refused() is None else None


def relay_forward_refused() -> str | None:
    """Why a relay cannot forward packets on this aiortc (it decodes and re-encodes), or None."""
    result = _result if _result is not None else self_check()
    return result["refused"].get("relay_forward", "self-check did not run")


# -- sendmmsg: a frame's packets to one viewer in one system call ---------------------------------
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
    if _batch_refused() is not None or _direct_refused() is not None:
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
    result = _result if _result is not None else self_check()
    return result["refused"].get("batch", "self-check did not run")


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


# -- the join: a WHEP peer's set-up without the work it does not need -----------------------------
JOIN_PARTS = ("certificate", "estimator", "codecs", "offer_parse", "answer_parse", "host_addresses")
"""What :func:`lean_join` changes in a server-side peer's set-up, each with its own self-check
(``join.<part>``); a part whose check fails is left as aiortc does it:

- ``certificate``: the peer gets the process's shared DTLS certificate (:func:`shared_certificate`,
  its fingerprints and OpenSSL context made once) instead of a new EC key and X.509 each;
- ``estimator``: each receiver's ``RemoteBitrateEstimator`` (a 1,000-bucket ``RateCounter``) is
  built at the receiver's first RTP packet with an abs-send-time extension, not in its
  ``__init__``: a WHEP peer only sends, so it is never built;
- ``codecs``: aiortc's ``find_common_codecs`` without ``copy.deepcopy`` (the same result, fresh
  objects: the codecs' fields are strings, ints and a dict of them);
- ``offer_parse``: ``setRemoteDescription`` takes the offer already parsed by
  :func:`broadcast.offers.check_offer` instead of parsing the same text again;
- ``answer_parse``: ``setLocalDescription`` takes the answer ``createAnswer`` built (its DTLS
  role written in it, ``dtls_role``) instead of parsing the text ``createAnswer`` made of it;
- ``host_addresses``: aioice's list of the machine's addresses (``ifaddr.get_adapters``, one
  ``getifaddrs`` and a walk of every interface) is cached :data:`HOST_ADDRESSES_TTL_S`, and
  optionally narrowed to the addresses the server is reached at (fewer sockets, fewer STUN
  checks)."""

HOST_ADDRESSES_TTL_S = 10.0
"""How long the machine's address list is reused (an interface that comes up is seen after this)."""
CERTIFICATE_MAX_AGE_S = 24 * 3600.0
"""The shared certificate is replaced after this (aiortc makes certificates valid for 30 days)."""


class LeanJoin:
    """What one WHEP negotiation (the task that runs :func:`lean_join`) skips or shares."""

    __slots__ = ("active", "certificate", "offer", "addresses", "dtls_role", "answer")

    def __init__(self, certificate, offer, addresses, dtls_role=None):
        self.active = True
        self.certificate = certificate
        """The shared certificate, or None (aiortc makes one)."""
        self.offer = offer
        """``(text, parsed)``: handed once to the first parse of exactly ``text``, then None."""
        self.addresses = addresses
        """The host addresses wanted (a subset of the machine's), or None for all of them."""
        self.dtls_role = dtls_role
        """``"server"`` or ``"client"``: written into the answer ``createAnswer`` makes, whose
        object is then handed to ``setLocalDescription`` (None: its text is parsed again)."""
        self.answer = None
        """``(text, built)``: the answer ``createAnswer`` made, until ``setLocalDescription`` parses it."""


_LEAN: contextvars.ContextVar[LeanJoin | None] = contextvars.ContextVar("councilcast_lean_join", default=None)
_join_installed = False
_join_on: dict[str, bool] = {part: False for part in JOIN_PARTS}


def _lean() -> LeanJoin | None:
    lean = _LEAN.get()
    return lean if lean is not None and lean.active else None


def join_parts() -> dict[str, bool]:
    """Which of :data:`JOIN_PARTS` :func:`lean_join` applies on this aiortc and aioice."""
    result = _result if _result is not None else self_check()
    return dict(result["join"])


@contextlib.contextmanager
def lean_join(offer: tuple[str, object] | None = None, addresses: list[str] | None = None,
              dtls_role: str | None = None):
    """Negotiate a server-side peer inside this block with the parts of :data:`JOIN_PARTS`
    that passed their self-check: create the ``RTCPeerConnection`` and call its
    ``setRemoteDescription`` and ``setLocalDescription`` in it.

    ``offer``: ``(sdp_text, aiortc.sdp.SessionDescription)`` already parsed from that text.
    ``addresses``: the host candidates wanted (others are left out if any of these is on the
    machine; all of them otherwise). ``dtls_role``: ``"server"`` (``a=setup:passive``) or
    ``"client"`` (``active``) in the answer ``createAnswer`` makes (as
    :func:`broadcast.channels.as_dtls_server` would write it in its text), so that
    ``setLocalDescription`` takes that answer as built rather than parsing it again. Only the
    task that runs the block (and the tasks it starts meanwhile) sees it: a publisher or a
    relay negotiating at the same time is untouched.
    """
    if dtls_role not in (None, "server", "client"):
        raise ValueError(f"dtls_role is 'server', 'client' or None, not {dtls_role!r}")
    parts = join_parts()
    _install_join(parts)
    lean = LeanJoin(shared_certificate() if parts["certificate"] else None,
                    offer if parts["offer_parse"] else None,
                    list(addresses) if addresses and parts["host_addresses"] else None,
                    dtls_role if parts["answer_parse"] else None)
    token = _LEAN.set(lean)
    try:
        yield lean
    finally:
        lean.active = False  # tasks started in the block keep the context: they see it ended
        _LEAN.reset(token)


def _install_join(parts: dict[str, bool]) -> None:
    """Put the hooks in aiortc's and aioice's modules once; each does aiortc's own work unless a
    :func:`lean_join` block runs in the calling task."""
    global _join_installed
    with _lock:
        if _join_installed:
            _join_on.update(parts)
            return
        from aioice import ice as aioice_ice
        from aiortc import rtcpeerconnection, rtcrtpreceiver, sdp

        rtcpeerconnection.RTCCertificate = _PeerCertificates
        rtcrtpreceiver.RemoteBitrateEstimator = _estimator
        rtcpeerconnection.find_common_codecs = _common_codecs
        rtcpeerconnection.wrap_session_description = _wrap
        sdp.SessionDescription.parse = classmethod(_parse)
        aioice_ice.get_host_addresses = _host_addresses
        _join_on.update(parts)
        _join_installed = True


# certificate -------------------------------------------------------------------------------
from aiortc.rtcdtlstransport import RTCCertificate as _RTCCertificate  # noqa: E402


class SharedCertificate(_RTCCertificate):
    """One DTLS certificate for many peers: its fingerprints and its OpenSSL context
    (``SSL_CTX``: the key and certificate loaded, the ciphers and SRTP profiles set) are made
    once; each DTLS transport still makes its own ``SSL`` connection from the context, so
    every handshake has its own ephemeral ECDHE keys. The session cache is off: WebRTC
    peers never resume a DTLS session, and the cache would grow with the joins."""

    def __init__(self, key, cert):
        super().__init__(key, cert)
        self.created = time.time()
        self._fingerprints = None
        self._contexts: dict = {}

    def getFingerprints(self):
        if self._fingerprints is None:
            self._fingerprints = super().getFingerprints()
        return [copy.copy(f) for f in self._fingerprints]

    def _create_ssl_context(self, srtp_profiles):
        key = tuple(p.openssl_profile for p in srtp_profiles)
        ctx = self._contexts.get(key)
        if ctx is None:
            from aiortc.rtcdtlstransport import SSL  # pyOpenSSL, as aiortc imports it

            ctx = super()._create_ssl_context(srtp_profiles)
            ctx.set_session_cache_mode(SSL.SESS_CACHE_OFF)
            self._contexts[key] = ctx
        return ctx


_shared_cert: SharedCertificate | None = None
_ORIG_GENERATE = _RTCCertificate.generateCertificate  # bound to RTCCertificate


def shared_certificate(max_age_s: float = CERTIFICATE_MAX_AGE_S) -> SharedCertificate:
    """The process's DTLS certificate for server-side peers, replaced when older than ``max_age_s``
    (peers made before keep theirs: a certificate is valid for 30 days)."""
    global _shared_cert
    cert = _shared_cert
    if cert is None or time.time() - cert.created > max_age_s:
        cert = _shared_cert = SharedCertificate.generateCertificate()
    return cert


class _PeerCertificates(_RTCCertificate):
    """Stands for ``RTCCertificate`` in ``aiortc.rtcpeerconnection``, whose ``__init__`` calls
    ``RTCCertificate.generateCertificate()``: inside :func:`lean_join`, the shared certificate."""

    @classmethod
    def generateCertificate(cls):
        lean = _lean()
        if lean is not None and lean.certificate is not None and _join_on["certificate"]:
            return lean.certificate
        return _ORIG_GENERATE()


# estimator ---------------------------------------------------------------------------------
from aiortc.rate import RemoteBitrateEstimator as _RemoteBitrateEstimator  # noqa: E402


class _LazyEstimator:
    """A ``RemoteBitrateEstimator`` made at its first ``add`` (the receiver's first RTP packet
    with abs-send-time), then used as is: the same estimates, none of its cost before."""

    __slots__ = ("real",)

    def __init__(self):
        self.real = None

    def add(self, *args, **kwargs):
        if self.real is None:
            self.real = _RemoteBitrateEstimator()
        return self.real.add(*args, **kwargs)

    def __getattr__(self, name):
        if name == "real":
            raise AttributeError(name)
        if self.real is None:
            self.real = _RemoteBitrateEstimator()
        return getattr(self.real, name)


def _estimator():
    """Stands for ``RemoteBitrateEstimator`` in ``aiortc.rtcrtpreceiver`` (``RTCRtpReceiver.__init__``)."""
    if _join_on["estimator"] and _lean() is not None:
        return _LazyEstimator()
    return _RemoteBitrateEstimator()


# codecs ------------------------------------------------------------------------------------
from aiortc import rtcpeerconnection as _rtcpeerconnection  # noqa: E402

_ORIG_COMMON_CODECS = _rtcpeerconnection.find_common_codecs


def _copy_codec(c):
    from aiortc.rtcrtpparameters import RTCRtcpFeedback, RTCRtpCodecParameters

    return RTCRtpCodecParameters(mimeType=c.mimeType, clockRate=c.clockRate, channels=c.channels,
                                 payloadType=c.payloadType,
                                 rtcpFeedback=[RTCRtcpFeedback(f.type, f.parameter) for f in c.rtcpFeedback],
                                 parameters=dict(c.parameters))


def _fast_common_codecs(local_codecs, remote_codecs):
    """aiortc 1.16's ``find_common_codecs`` with a field-by-field copy for ``copy.deepcopy``."""
    from aiortc import rtp
    from aiortc.codecs import is_rtx

    compatible = _rtcpeerconnection.is_codec_compatible
    common = []
    common_base = {}
    for c in remote_codecs:
        if is_rtx(c):
            apt = c.parameters.get("apt")
            if isinstance(apt, int) and apt in common_base:
                if c.clockRate == common_base[apt].clockRate:
                    common.append(_copy_codec(c))
            continue
        for codec in local_codecs:
            if compatible(codec, c):
                codec = _copy_codec(codec)
                if c.payloadType in rtp.DYNAMIC_PAYLOAD_TYPES:
                    codec.payloadType = c.payloadType
                codec.rtcpFeedback = [x for x in codec.rtcpFeedback if x in c.rtcpFeedback]
                common.append(codec)
                common_base[codec.payloadType] = codec
                break
    return common


def _common_codecs(local_codecs, remote_codecs):
    """Stands for ``find_common_codecs`` in ``aiortc.rtcpeerconnection``."""
    if _join_on["codecs"] and _lean() is not None:
        return _fast_common_codecs(local_codecs, remote_codecs)
    return _ORIG_COMMON_CODECS(local_codecs, remote_codecs)


# offer_parse -------------------------------------------------------------------------------
from aiortc import sdp as _sdp  # noqa: E402

_ORIG_PARSE = _sdp.SessionDescription.parse.__func__


def _parse(cls, sdp: str):
    """Stands for ``aiortc.sdp.SessionDescription.parse``: inside :func:`lean_join`, the offer
    parsed before is handed over once, for exactly its text."""
    lean = _lean()
    if lean is not None and cls is _sdp.SessionDescription:
        if lean.offer is not None and _join_on["offer_parse"]:
            text, parsed = lean.offer
            if sdp is text or sdp == text:
                lean.offer = None
                return parsed
        if lean.answer is not None and _join_on["answer_parse"]:
            text, built = lean.answer
            if sdp is text or sdp == text:
                lean.answer = None
                return built
    return _ORIG_PARSE(cls, sdp)


# answer_parse ------------------------------------------------------------------------------
_ORIG_WRAP = _rtcpeerconnection.wrap_session_description
_SETUP = {"server": "passive", "client": "active"}


def _wrap(session_description):
    """Stands for ``wrap_session_description`` in ``aiortc.rtcpeerconnection``, which
    ``createAnswer`` returns its answer through: inside :func:`lean_join` with a ``dtls_role``,
    the role goes into the answer and the answer is kept for ``setLocalDescription``."""
    lean = _lean()
    if (lean is None or lean.dtls_role is None or not _join_on["answer_parse"] or session_description is None
            or session_description.type != "answer" or lean.answer is not None):
        return _ORIG_WRAP(session_description)
    for media in session_description.media:
        media.dtls.role = lean.dtls_role
    out = _ORIG_WRAP(session_description)
    lean.answer = (out.sdp, session_description)
    lean.dtls_role = None  # once: the answer given out later (localDescription) is not kept
    return out


# host_addresses ----------------------------------------------------------------------------
from aioice import ice as _aioice_ice  # noqa: E402

_ORIG_HOST_ADDRESSES = _aioice_ice.get_host_addresses
_addresses_cache: dict[tuple[bool, bool], tuple[float, list[str]]] = {}


def host_addresses(use_ipv4: bool = True, use_ipv6: bool = True) -> list[str]:
    """aioice's host addresses (every interface's, loopback and link-local left out), cached
    :data:`HOST_ADDRESSES_TTL_S`."""
    key = (use_ipv4, use_ipv6)
    now = time.monotonic()
    hit = _addresses_cache.get(key)
    if hit is None or now - hit[0] > HOST_ADDRESSES_TTL_S:
        hit = _addresses_cache[key] = (now, list(_ORIG_HOST_ADDRESSES(use_ipv4, use_ipv6)))
    return list(hit[1])


def _host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """Stands for ``get_host_addresses`` in ``aioice.ice`` (``Connection.gather_candidates``)."""
    lean = _lean()
    if lean is None or not _join_on["host_addresses"]:
        return _ORIG_HOST_ADDRESSES(use_ipv4, use_ipv6)
    found = host_addresses(use_ipv4, use_ipv6)
    if lean.addresses:
        wanted = [a for a in found if a in lean.addresses]
        if wanted:
            return wanted
    return found


# the join's self-checks --------------------------------------------------------------------
def _check_join_certificate() -> str:
    from aiortc import rtcdtlstransport
    from aiortc.rtcdtlstransport import SSL  # pyOpenSSL, as aiortc imports it

    _reads(_rtcpeerconnection.RTCPeerConnection.__init__, ["RTCCertificate", "generateCertificate"],
           "RTCPeerConnection.__init__")
    _reads(rtcdtlstransport.RTCDtlsTransport.start, ["_create_ssl_context"], "RTCDtlsTransport.start")
    if not hasattr(SSL.Context, "set_session_cache_mode") or not hasattr(SSL, "SESS_CACHE_OFF"):
        raise AttributeError("pyOpenSSL has no Context.set_session_cache_mode / SESS_CACHE_OFF")
    cert = SharedCertificate.generateCertificate()
    profiles = rtcdtlstransport.SRTP_PROFILES
    if cert._create_ssl_context(profiles) is not cert._create_ssl_context(profiles):
        raise ValueError("the OpenSSL context is not reused")
    if cert.getFingerprints() != _RTCCertificate.getFingerprints(cert):
        raise ValueError("the cached fingerprints differ")
    return "RTCPeerConnection.__init__ calls RTCCertificate.generateCertificate(); DTLS start calls _create_ssl_context"


def _check_join_estimator() -> str:
    from aiortc import rtcrtpreceiver

    _reads(rtcrtpreceiver.RTCRtpReceiver.__init__, ["RemoteBitrateEstimator"], "RTCRtpReceiver.__init__")
    code = rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet.__code__
    if "add" not in code.co_names or "_RTCRtpReceiver__remote_bitrate_estimator" not in code.co_names:
        raise LookupError("RTCRtpReceiver._handle_rtp_packet no longer calls __remote_bitrate_estimator.add")
    lazy = _LazyEstimator()
    if lazy.real is not None or lazy.add(arrival_time_ms=1000, abs_send_time=0, payload_size=100, ssrc=1) is not None:
        raise ValueError("the lazy estimator does not start as the real one")
    if not isinstance(lazy.real, _RemoteBitrateEstimator):
        raise ValueError("the lazy estimator made no real one at its first packet")
    return "RTCRtpReceiver.__init__ makes a RemoteBitrateEstimator; _handle_rtp_packet only calls its add()"


_SAMPLE_OFFER_CODECS = """v=0
o=- 1 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 45 98 99 127 121 39 40
c=IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00
a=setup:actpass
a=mid:0
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=recvonly
a=rtcp-mux
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:102 H264/90000
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:45 AV1/90000
a=rtpmap:98 VP9/90000
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:127 H264/90000
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:121 red/90000
a=rtpmap:39 ulpfec/90000
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=121
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=ice-ufrag:abcd
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=fingerprint:sha-256 00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00
a=setup:actpass
a=mid:1
a=recvonly
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
"""
"""A Chromium-like WHEP offer: what the codec and parse checks run on."""


def _check_join_codecs() -> str:
    from aiortc.codecs import CODECS

    _reads(_rtcpeerconnection.RTCPeerConnection.setRemoteDescription, ["find_common_codecs"],
           "RTCPeerConnection.setRemoteDescription")
    desc = _ORIG_PARSE(_sdp.SessionDescription, _SAMPLE_OFFER_CODECS)
    n = 0
    for media in desc.media:
        local = CODECS[media.kind]
        before = copy.deepcopy(local)
        stock = _ORIG_COMMON_CODECS(local, media.rtp.codecs)
        fast = _fast_common_codecs(local, media.rtp.codecs)
        if fast != stock or not fast:
            raise ValueError(f"{media.kind}: the copying match gives {fast!r}, aiortc's {stock!r}")
        for a in fast:
            a.parameters["x"] = 1
            a.rtcpFeedback.clear()
        if local != before:
            raise ValueError("the copying match shares objects with aiortc's codec table")
        n += len(fast)
    return f"find_common_codecs without deepcopy: the same {n} codecs on a Chromium-like offer"


def _check_join_offer_parse() -> str:
    _reads(_rtcpeerconnection.RTCPeerConnection.setRemoteDescription, ["SessionDescription", "parse"],
           "RTCPeerConnection.setRemoteDescription")
    if not isinstance(_sdp.SessionDescription.__dict__.get("parse"), classmethod):
        raise TypeError("aiortc.sdp.SessionDescription.parse is not a classmethod")
    a = _ORIG_PARSE(_sdp.SessionDescription, _SAMPLE_OFFER_CODECS)
    if str(a) != str(_ORIG_PARSE(_sdp.SessionDescription, _SAMPLE_OFFER_CODECS)):
        raise ValueError("parsing the same offer twice gives two different descriptions")
    return "setRemoteDescription parses with aiortc.sdp.SessionDescription.parse (a classmethod)"


def _check_join_host_addresses() -> str:
    import inspect

    _reads(_aioice_ice.Connection.gather_candidates, ["get_host_addresses"], "aioice Connection.gather_candidates")
    params = list(inspect.signature(_ORIG_HOST_ADDRESSES).parameters)
    if params != ["use_ipv4", "use_ipv6"]:
        raise TypeError(f"aioice.ice.get_host_addresses takes {params}")
    found = _ORIG_HOST_ADDRESSES(True, True)
    if not isinstance(found, list) or not all(isinstance(a, str) for a in found):
        raise TypeError("aioice.ice.get_host_addresses does not return a list of strings")
    return f"aioice gathers on get_host_addresses(use_ipv4, use_ipv6): {len(found)} here"


def _check_join_answer_parse() -> str:
    """A throwaway peer answers the sample offer (no network: nothing is gathered); the answer as
    built, with the DTLS role written in it, must be what parsing its own text gives."""
    pc_cls = _rtcpeerconnection.RTCPeerConnection
    _reads(pc_cls.createAnswer, ["wrap_session_description"], "RTCPeerConnection.createAnswer")
    _reads(pc_cls.setLocalDescription, ["SessionDescription", "parse"], "RTCPeerConnection.setLocalDescription")
    from aiortc import RTCConfiguration, RTCSessionDescription

    out: dict = {}

    async def answer() -> None:
        pc = pc_cls(RTCConfiguration(iceServers=[]))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(_SAMPLE_OFFER_CODECS, "offer"))
            built = []
            here = threading.get_ident()
            module = pc_cls.createAnswer.__globals__  # aiortc.rtcpeerconnection's namespace
            previous = module["wrap_session_description"]  # aiortc's, or _wrap (installs wait for _lock)

            def keep(desc):  # only this thread's call is kept; every other goes on as before
                if threading.get_ident() == here:
                    built.append(desc)
                    return _ORIG_WRAP(desc)
                return previous(desc)

            module["wrap_session_description"] = keep
            try:
                await pc.createAnswer()
            finally:
                module["wrap_session_description"] = previous
            out["built"] = built[0]
        finally:
            await pc.close()

    def run() -> None:
        try:
            asyncio.run(answer())
        except BaseException as exc:  # reported below, in the calling thread
            out["error"] = exc

    thread = threading.Thread(target=run, name="libinternals-answer-check")
    thread.start()
    thread.join(5)
    if "error" in out:
        raise out["error"]
    built = out.get("built")
    if built is None:
        raise RuntimeError("no answer built within 5 s")
    for media in built.media:
        media.dtls.role = "server"
    text = str(built)
    parsed = _ORIG_PARSE(_sdp.SessionDescription, text)
    if str(parsed) != text:
        raise ValueError("aiortc's answer does not read back as the same text")
    if "a=setup:passive" not in text or "a=setup:active" in text:
        raise ValueError("the DTLS role written in the answer is not its a=setup")
    fields = lambda d: [(m.kind, m.rtp.muxId, m.dtls.role, m.rtcp_mux, m.direction, [c.payloadType for c in m.rtp.codecs])  # noqa: E731
                        for m in d.media]
    if fields(built) != fields(parsed):
        raise ValueError("the answer as built differs from its text parsed")
    return "createAnswer returns through wrap_session_description; its answer as built reads back the same"


_JOIN_CHECKS = {"certificate": _check_join_certificate, "estimator": _check_join_estimator,
                "codecs": _check_join_codecs, "offer_parse": _check_join_offer_parse,
                "answer_parse": _check_join_answer_parse,
                "host_addresses": _check_join_host_addresses}


# -- the self-check -------------------------------------------------------------------------------
_lock = threading.Lock()
_result: dict | None = None


def self_check(*, refresh: bool = False) -> dict:
    """Check every internal relied on here against the installed libraries; cached.

    Returns :func:`report`'s dict. Never raises: a failing check is reported, and the
    fan-out uses the fastest path whose checks pass. ``refresh=True`` checks again.
    """
    global _result
    with _lock:
        if _result is None or refresh:
            try:
                _result = _run_checks()
            except Exception as exc:  # a bug here must not stop the server: say so, use the safest path
                log.exception("broadcast.libinternals self-check failed")
                try:
                    versions = _versions()
                except Exception:
                    versions = {}
                why = f"self-check failed: {exc!r}"
                _result = {"versions": versions, "checks": {}, "path": "generic",
                           "refused": {"direct": why, "public": why, "relay_forward": why, "batch": why,
                                       "relay_direct": why},
                           "relay_forward": False, "relay_direct": False, "batch": False,
                           "sender_reports": False, "feedback": False,
                           "join": {part: False for part in JOIN_PARTS},
                           "join_refused": {part: why for part in JOIN_PARTS}, "elapsed_ms": 0.0}
        return copy.deepcopy(_result)


def report() -> dict:
    """The self-check's result (run now if it never ran), JSON-able::

        {"versions": {"aiortc", "aioice", "pylibsrtp", "av", "python"},
         "checks": {name: {"ok": bool, "detail": str}},
         "path": "direct" | "public" | "generic",
         "refused": {"direct": reason | None, "public": reason | None, "relay_forward": reason | None,
                     "batch": reason | None, "relay_direct": reason | None},
         "relay_forward": bool, "relay_direct": bool, "batch": bool, "sender_reports": bool, "feedback": bool,
         "elapsed_ms": float}
    """
    return self_check()


def active_path() -> str:
    """The fastest per-packet path the installed libraries allow (see :data:`PATHS`)."""
    result = _result if _result is not None else self_check()
    return result["path"]


def _direct_refused() -> str | None:
    result = _result if _result is not None else self_check()
    return result["refused"]["direct"]


# Which checks each path needs (the generic path's are needed by all).
_NEEDS = {
    "generic": ("dtls.tx_srtp", "ice.send"),
    "public": ("ice.selected_pair",),
    "direct": ("srtp.binding", "srtp.session_buffer", "srtp.direct_matches_protect", "asyncio.datagram_socket"),
    "relay_forward": ("receiver.tap", "receiver.pli", "codecs.vp8_packetize"),
    "relay_direct": ("receiver.direct",),  # and everything relay_forward needs: it receives for the tap
    "batch": ("socket.sendmmsg",),  # and everything direct needs: it is the direct path, batched
}


def _run_checks() -> dict:
    t0 = time.perf_counter()
    checks: dict[str, dict] = {}

    def check(name: str, fn: Callable[[], str]) -> None:
        try:
            checks[name] = {"ok": True, "detail": fn()}
        except Exception as exc:
            checks[name] = {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}

    objects: dict = {}
    try:
        objects = _throwaway_objects()
        objects_error = None
    except Exception as exc:
        objects_error = f"cannot build throwaway aiortc objects: {type(exc).__name__}: {exc}"

    def need(key: str):
        if key not in objects:
            raise RuntimeError(objects_error or f"no {key}")
        return objects[key]

    check("sender.ssrc", lambda: _check_ssrc(need("sender")))
    check("sender.feedback", lambda: _check_feedback(need("sender")))
    check("sender.report_fields", lambda: _check_report_fields(need("sender")))
    check("transceiver.negotiated", lambda: _check_transceiver(need("transceiver")))
    check("dtls.tx_srtp", lambda: _has(need("dtls"), "_tx_srtp", "RTCDtlsTransport"))
    check("ice.send", lambda: _check_ice_send(need("ice")))
    check("ice.selected_pair", lambda: _check_selected_pair(need("ice")))
    check("srtp.binding", _check_binding)
    check("srtp.session_buffer", _check_session_buffer)
    check("srtp.direct_matches_protect", _check_direct_matches_protect)
    check("asyncio.datagram_socket", _check_datagram_socket)
    check("codecs.vp8_packetize", _check_vp8)
    check("codecs.h264_packetize", _check_h264)
    check("receiver.tap", lambda: _check_receiver_tap(need("receiver")))
    check("receiver.pli", lambda: _check_receiver_pli(need("receiver")))
    check("receiver.direct", lambda: _check_receiver_direct(need("receiver"), need("ice")))
    check("socket.sendmmsg", _check_sendmmsg)
    for part in JOIN_PARTS:
        check(f"join.{part}", _JOIN_CHECKS[part])

    def failing(path: str) -> str | None:
        bad = [f"{n}: {checks[n]['detail']}" for n in _NEEDS[path] if not checks[n]["ok"]]
        return "; ".join(bad) or None

    refused_public = failing("public")
    refused_direct = refused_public or failing("direct")
    path = "direct" if refused_direct is None else "public" if refused_public is None else "generic"
    refused_forward = failing("relay_forward")
    if refused_forward:
        log.warning("relays decode and re-encode: forwarding refused (%s)", refused_forward)
    refused_batch = refused_direct or failing("batch")
    refused_rx = refused_forward or failing("relay_direct")
    if failing("generic"):
        log.error("aiortc %s: even the generic send path is broken: %s", aiortc.__version__, failing("generic"))
    if path != "direct":
        log.warning("broadcast fan-out uses the %s path: direct refused (%s)", path, refused_direct)
    return {
        "versions": _versions(),
        "checks": checks,
        "path": path,
        "refused": {"direct": refused_direct, "public": refused_public, "relay_forward": refused_forward,
                    "batch": refused_batch, "relay_direct": refused_rx},
        "relay_forward": refused_forward is None,
        "relay_direct": refused_rx is None,
        "batch": refused_batch is None,
        "sender_reports": checks["sender.report_fields"]["ok"],
        "feedback": checks["sender.feedback"]["ok"],
        "join": {part: checks[f"join.{part}"]["ok"] for part in JOIN_PARTS},
        "join_refused": {part: None if checks[f"join.{part}"]["ok"] else checks[f"join.{part}"]["detail"]
                         for part in JOIN_PARTS},
        "elapsed_ms": round((time.perf_counter() - t0) * 1000, 2),
    }


def _versions() -> dict:
    out = {}
    for name, mod in (("aiortc", aiortc), ("aioice", aioice), ("pylibsrtp", pylibsrtp)):
        out[name] = getattr(mod, "__version__", None)
    av = sys.modules.get("av")
    if av is None:
        try:
            import av
        except ImportError:
            av = None
    out["av"] = getattr(av, "__version__", None)
    out["python"] = sys.version.split()[0]
    return out


def _throwaway_objects() -> dict:
    """A real RTCRtpSender on a real (never started) DTLS and ICE transport, and a transceiver:
    instance attributes set in ``__init__`` can only be checked on instances. No network:
    nothing is gathered or started. aiortc's constructors want an event loop: when none runs
    in this thread, they are built inside a short-lived one."""
    from aiortc.rtcdtlstransport import RTCCertificate, RTCDtlsTransport
    from aiortc.rtcicetransport import RTCIceGatherer, RTCIceTransport
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from aiortc.rtcrtpsender import RTCRtpSender
    from aiortc.rtcrtptransceiver import RTCRtpTransceiver

    def build() -> dict:
        ice = RTCIceTransport(RTCIceGatherer())
        dtls = RTCDtlsTransport(ice, [RTCCertificate.generateCertificate()])
        sender = RTCRtpSender("video", dtls)
        receiver = RTCRtpReceiver("video", dtls)
        transceiver = RTCRtpTransceiver("video", receiver, sender)
        return {"ice": ice, "dtls": dtls, "sender": sender, "transceiver": transceiver, "receiver": receiver}

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        async def in_loop() -> dict:
            return build()

        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(in_loop())
        finally:
            loop.close()
    return build()


def _has(obj, name: str, what: str) -> str:
    if not hasattr(obj, name):
        raise AttributeError(f"{what} has no {name}")
    return f"{what}.{name} present"


def _reads(func, names, what: str) -> None:
    """Check that upstream's ``func`` still uses ``names`` (its code's attribute names)."""
    code = getattr(func, "__code__", None)
    missing = [n for n in names if code is None or n not in code.co_names]
    if missing:
        raise LookupError(f"{what} no longer uses {', '.join(missing)}")


def _check_ssrc(sender) -> str:
    if not isinstance(getattr(sender, "_ssrc", None), int):
        raise AttributeError("RTCRtpSender has no int _ssrc")
    _reads(type(sender)._run_rtcp, ["_ssrc"], "RTCRtpSender._run_rtcp")
    return "RTCRtpSender._ssrc is the SSRC of its RTCP reports"


def _check_feedback(sender) -> str:
    for name in _FEEDBACK:
        if not callable(getattr(sender, name, None)):
            raise AttributeError(f"RTCRtpSender has no method {name}")
    _reads(type(sender)._handle_rtcp_packet, _FEEDBACK, "RTCRtpSender._handle_rtcp_packet")
    return "RTCRtpSender._handle_rtcp_packet calls _retransmit (NACK) and _send_keyframe (PLI/FIR)"


def _check_report_fields(sender) -> str:
    missing = [n for n in _SR_FIELDS if not hasattr(sender, n)]
    if missing:
        raise AttributeError(f"RTCRtpSender instances have no {', '.join(missing)}")
    _reads(type(sender)._run_rtcp, _SR_FIELDS, "RTCRtpSender._run_rtcp")
    return "RTCRtpSender._run_rtcp reports __ntp_timestamp, __rtp_timestamp, __packet_count, __octet_count"


def _check_transceiver(transceiver) -> str:
    for name in ("_codecs", "_headerExtensions"):
        if not isinstance(getattr(transceiver, name, None), list):
            raise AttributeError(f"RTCRtpTransceiver has no list {name}")
    return "RTCRtpTransceiver._codecs and ._headerExtensions present"


def _check_ice_send(ice) -> str:
    if not callable(getattr(ice, "_send", None)):
        raise AttributeError("RTCIceTransport has no _send")
    return "RTCIceTransport._send present"


def _check_selected_pair(ice) -> str:
    from aioice.ice import CandidatePair

    nominated = getattr(getattr(ice, "_connection", None), "_nominated", None)
    if not isinstance(nominated, dict):
        raise AttributeError("RTCIceTransport._connection (aioice.Connection) has no dict _nominated")
    if not isinstance(getattr(CandidatePair, "remote_addr", None), property):
        raise AttributeError("aioice CandidatePair has no remote_addr property")
    if "protocol" not in CandidatePair.__init__.__code__.co_names:
        raise AttributeError("aioice CandidatePair sets no protocol")
    return "RTCIceTransport._connection._nominated[1].protocol.transport and .remote_addr"


def _check_binding() -> str:
    from pylibsrtp._binding import ffi, lib

    if not callable(getattr(lib, "srtp_protect", None)):
        raise AttributeError("pylibsrtp._binding.lib has no srtp_protect")
    ffi.new("int *")
    return "pylibsrtp._binding ffi and lib.srtp_protect present"


def _check_session_buffer() -> str:
    session = pylibsrtp.Session()
    for name in ("_cdata", "_buffer", "_srtp"):
        if not hasattr(session, name):
            raise AttributeError(f"pylibsrtp.Session has no {name}")
    trailer = getattr(pylibsrtp, "SRTP_MAX_TRAILER_LEN", None)
    if not isinstance(trailer, int):
        raise AttributeError("pylibsrtp has no SRTP_MAX_TRAILER_LEN: the length limit is unknown")
    if len(session._buffer) != len(session._cdata):
        raise ValueError("pylibsrtp.Session._buffer does not cover _cdata")
    return f"Session._cdata is {len(session._cdata)} bytes; packets up to {len(session._cdata) - trailer} bytes"


def _check_direct_matches_protect() -> str:
    """Two sessions with one key: the direct path's output must equal ``Session.protect``'s."""
    from pylibsrtp._binding import ffi, lib

    key = bytes(range(30))
    a = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    b = pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    packet = bytes([0x80, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(100))
    expected = a.protect(packet)
    len_p = ffi.new("int *")
    b._buffer[0:len(packet)] = packet
    len_p[0] = len(packet)
    if lib.srtp_protect(b._srtp[0], b._cdata, len_p):
        raise RuntimeError("srtp_protect failed")
    if b._buffer[0:len_p[0]] != expected:
        raise ValueError("protecting in the session's buffer differs from Session.protect")
    return "protecting in Session._cdata gives Session.protect's bytes"


def _check_datagram_socket() -> str:
    from asyncio import selector_events

    init = selector_events._SelectorTransport.__init__
    if "_sock" not in init.__code__.co_names:
        raise AttributeError("asyncio's selector transports no longer keep _sock")
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None and not isinstance(loop, selector_events.BaseSelectorEventLoop):
        raise TypeError(f"the event loop is a {type(loop).__name__}, not asyncio's selector loop")
    return "asyncio datagram transports keep their socket in _sock (checked again per sink)"


def _check_vp8() -> str:
    payloads = vp8_payloads(b"\x00" * 3000, 1)
    if not (isinstance(payloads, list) and len(payloads) >= 3 and all(isinstance(p, bytes) for p in payloads)):
        raise ValueError(f"Vp8Encoder._packetize returned {type(payloads).__name__}")
    return f"Vp8Encoder._packetize: 3,000 bytes in {len(payloads)} payloads"


def _check_h264() -> str:
    au = b"\x00\x00\x00\x01\x67" + b"\x01" * 10 + b"\x00\x00\x00\x01\x65" + b"\x02" * 2000
    payloads = h264_payloads(au)
    if not (isinstance(payloads, list) and len(payloads) >= 2 and all(isinstance(p, bytes) for p in payloads)):
        raise ValueError(f"H264Encoder._packetize returned {type(payloads).__name__}")
    return f"H264Encoder._split_bitstream and _packetize: {len(payloads)} payloads"


def _check_receiver_tap(receiver) -> str:
    from aiortc import rtcdtlstransport, rtcrtpreceiver
    from aiortc.rtp import RtpPacket

    if not isinstance(getattr(receiver, _RX_QUEUE, None), queue.Queue):
        raise AttributeError(f"RTCRtpReceiver instances have no queue.Queue {_RX_QUEUE}")
    if not callable(getattr(receiver, _RX_HANDLE, None)):
        raise AttributeError(f"RTCRtpReceiver has no method {_RX_HANDLE}")
    cls = type(receiver)
    _reads(cls.receive, [_RX_QUEUE, "_RTCRtpReceiver__decoder_thread"], "RTCRtpReceiver.receive")
    _reads(cls._handle_rtp_packet, [_RX_QUEUE, "_RTCRtpReceiver__decoder_thread"], "RTCRtpReceiver._handle_rtp_packet")
    _reads(rtcdtlstransport.RTCDtlsTransport._handle_rtp_data, [_RX_HANDLE], "RTCDtlsTransport._handle_rtp_data")
    worker = getattr(rtcrtpreceiver, "decoder_worker", None)
    if worker is None or "get" not in worker.__code__.co_names:
        raise LookupError("aiortc.rtcrtpreceiver.decoder_worker no longer reads its queue with get()")
    if not {"sequence_number", "timestamp", "marker", "payload_type", "payload", "ssrc"} <= set(
            RtpPacket.__init__.__code__.co_names):
        raise AttributeError("aiortc.rtp.RtpPacket lacks one of sequence_number, timestamp, marker, payload_type, "
                             "payload, ssrc")
    return ("RTCRtpReceiver.receive starts its decoder on _RTCRtpReceiver__decoder_queue; "
            "RTCDtlsTransport._handle_rtp_data calls receiver._handle_rtp_packet")


_RX_HANDLER_NAMES = frozenset({
    "RTCP_PSFB_APP", "RtcpPsfbPacket", "StreamStatistics", "ValueError", "_RTCRtpReceiver__active_ssrc",
    "_RTCRtpReceiver__codecs", "_RTCRtpReceiver__decoder_error", "_RTCRtpReceiver__decoder_queue",
    "_RTCRtpReceiver__decoder_thread", "_RTCRtpReceiver__jitter_buffer", "_RTCRtpReceiver__kind",
    "_RTCRtpReceiver__log_debug", "_RTCRtpReceiver__nack_generator", "_RTCRtpReceiver__remote_bitrate_estimator",
    "_RTCRtpReceiver__remote_streams", "_RTCRtpReceiver__rtcp_ssrc", "_RTCRtpReceiver__rtx_ssrc",
    "_RTCRtpReceiver__timestamp_mapper", "_data", "_enabled", "_send_rtcp", "_send_rtcp_nack", "_send_rtcp_pli",
    "abs_send_time", "add", "clear", "clock", "clockRate", "current_datetime", "depayload", "extensions", "get",
    "int", "is_rtx", "is_set", "isinstance", "len", "map", "missing", "pack_remb_fci", "padding_size", "parameters",
    "payload", "payload_type", "put", "sorted", "ssrc", "timestamp", "unwrap_rtx"})
"""Every name aiortc 1.16's ``RTCRtpReceiver._handle_rtp_packet`` uses: the lean handler of
:func:`receive_directly` does its work minus the jitter buffer's, which is only known to be
all of it while the handler uses these names and no other."""


def _check_receiver_direct(receiver, ice) -> str:
    from aioice.ice import Connection, StunProtocol
    from aiortc import rtcdtlstransport, rtcrtpreceiver

    missing = [n for n in _RX_LEAN if not hasattr(receiver, n)]
    if missing:
        raise AttributeError(f"RTCRtpReceiver instances have no {', '.join(missing)}")
    for name in ("_RTCRtpReceiver__codecs", "_RTCRtpReceiver__active_ssrc", "_RTCRtpReceiver__remote_streams"):
        if not isinstance(getattr(receiver, name), dict):
            raise TypeError(f"RTCRtpReceiver.{name} is not a dict")
    nack = getattr(receiver, "_RTCRtpReceiver__nack_generator")
    if nack is None or not callable(getattr(nack, "add", None)) or not isinstance(getattr(nack, "missing", None), set):
        raise AttributeError("a video RTCRtpReceiver has no NackGenerator with add() and a set missing")
    new = set(type(receiver)._handle_rtp_packet.__code__.co_names) - _RX_HANDLER_NAMES
    if new:
        raise LookupError(f"RTCRtpReceiver._handle_rtp_packet does more than it did: {', '.join(sorted(new))}")
    if not callable(getattr(rtcrtpreceiver.StreamStatistics, "add", None)):
        raise AttributeError("aiortc.rtcrtpreceiver.StreamStatistics has no add")
    dtls = rtcdtlstransport.RTCDtlsTransport
    _reads(dtls._recv_next, ["_rx_srtp", "is_rtcp", "unprotect", "_handle_rtp_data", "_RTCDtlsTransport__rx_bytes",
                             "_RTCDtlsTransport__rx_packets"], "RTCDtlsTransport._recv_next")
    _reads(dtls._handle_rtp_data, ["RtpPacket", "parse", "_rtp_header_extensions_map", "_rtp_router", "route_rtp",
                                   "_handle_rtp_packet"], "RTCDtlsTransport._handle_rtp_data")
    _reads(StunProtocol.datagram_received, ["parse_message", "receiver", "data_received"],
           "aioice StunProtocol.datagram_received")
    _reads(Connection.data_received, ["_queue", "put_nowait"], "aioice Connection.data_received")
    if not isinstance(getattr(getattr(ice, "_connection", None), "_queue", None), asyncio.Queue):
        raise AttributeError("aioice Connection has no asyncio.Queue _queue")
    return ("RTCRtpReceiver._handle_rtp_packet uses the names of aiortc 1.16; the DTLS transport unprotects, "
            "parses and routes as received directly; aioice queues data from StunProtocol.datagram_received")


def _check_receiver_pli(receiver) -> str:
    if not callable(getattr(receiver, _RX_PLI, None)):
        raise AttributeError(f"RTCRtpReceiver has no method {_RX_PLI}")
    code = type(receiver)._send_rtcp_pli.__code__
    if code.co_argcount != 2 or "RtcpPsfbPacket" not in code.co_names:
        raise LookupError("RTCRtpReceiver._send_rtcp_pli(media_ssrc) no longer sends an RtcpPsfbPacket")
    return "RTCRtpReceiver._send_rtcp_pli(media_ssrc) sends a PLI"
