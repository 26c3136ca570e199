"""The viewer's side: aiortc's sender (SSRC, RTCP feedback, sender-report counters), what its
transceiver negotiated, its DTLS transport's SRTP session and its ICE pair's socket, and the
per-packet paths bound on them (``direct``, ``public``, ``generic``; docs/broadcast.md,
"Library internals")."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import NamedTuple

import aiortc
import pylibsrtp

from broadcast.libinternals import common
from broadcast.libinternals.common import reads

__all__ = ["PATHS", "DirectPath", "sender_ssrc", "route_feedback", "sender_report_writer", "update_sender_report",
           "sender_report", "transceiver_codecs", "transceiver_header_extensions", "tx_srtp", "selected_pair",
           "direct_protect_path", "generic_sender", "direct_refused"]

log = logging.getLogger("broadcast.libinternals")

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
    if direct_refused() is not None:
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


def direct_refused() -> str | None:
    """Why the direct path is refused on this installation, or None."""
    return common.result()["refused"]["direct"]


# -- their self-checks ------------------------------------------------------------------------
def _check_ssrc(sender) -> str:
    if not isinstance(getattr(sender, "_ssrc", None), int):
        raise AttributeError("RTCRtpSender has no int _ssrc")
    reads(type(sender)._run_rtcp, ["_ssrc"], "RTCRtpSender._run_rtcp")
    return "RTCRtpSender._ssrc is the SSRC of its RTCP reports"


def _check_feedback(sender) -> str:
    for name in _FEEDBACK:
        if not callable(getattr(sender, name, None)):
            raise AttributeError(f"RTCRtpSender has no method {name}")
    reads(type(sender)._handle_rtcp_packet, _FEEDBACK, "RTCRtpSender._handle_rtcp_packet")
    return "RTCRtpSender._handle_rtcp_packet calls _retransmit (NACK) and _send_keyframe (PLI/FIR)"


def _check_report_fields(sender) -> str:
    missing = [n for n in _SR_FIELDS if not hasattr(sender, n)]
    if missing:
        raise AttributeError(f"RTCRtpSender instances have no {', '.join(missing)}")
    reads(type(sender)._run_rtcp, _SR_FIELDS, "RTCRtpSender._run_rtcp")
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
