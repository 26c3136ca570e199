"""The receiver of a relay's pull: the origin's packets handed on as they come, no decoder,
received directly from the socket once connected (docs/broadcast.md, "Relay mode")."""

from __future__ import annotations

import asyncio
import queue
import weakref
from collections.abc import Callable

import pylibsrtp

from broadcast.libinternals import common
from broadcast.libinternals.common import reads

__all__ = ["tap_receiver", "receiver_pli", "relay_forward_refused", "receive_directly", "receiving_directly"]


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
    return common.result()["refused"].get("relay_direct", "self-check did not run")


def receiver_pli(receiver) -> Callable[[int], object] | None:
    """``send(media_ssrc)``: a coroutine function that sends a PLI upstream on ``receiver``'s
    transport (aiortc's own, with the receiver's RTCP SSRC), or None."""
    send = getattr(receiver, _RX_PLI, None)
    return send if callable(send) and relay_forward_refused() is None else None


def relay_forward_refused() -> str | None:
    """Why a relay cannot forward packets on this aiortc (it decodes and re-encodes), or None."""
    return common.result()["refused"].get("relay_forward", "self-check did not run")


# -- their self-checks ------------------------------------------------------------------------
def _check_receiver_tap(receiver) -> str:
    from aiortc import rtcdtlstransport, rtcrtpreceiver
    from aiortc.rtp import RtpPacket

    if not isinstance(getattr(receiver, _RX_QUEUE, None), queue.Queue):
        raise AttributeError(f"RTCRtpReceiver instances have no queue.Queue {_RX_QUEUE}")
    if not callable(getattr(receiver, _RX_HANDLE, None)):
        raise AttributeError(f"RTCRtpReceiver has no method {_RX_HANDLE}")
    cls = type(receiver)
    reads(cls.receive, [_RX_QUEUE, "_RTCRtpReceiver__decoder_thread"], "RTCRtpReceiver.receive")
    reads(cls._handle_rtp_packet, [_RX_QUEUE, "_RTCRtpReceiver__decoder_thread"], "RTCRtpReceiver._handle_rtp_packet")
    reads(rtcdtlstransport.RTCDtlsTransport._handle_rtp_data, [_RX_HANDLE], "RTCDtlsTransport._handle_rtp_data")
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
    reads(dtls._recv_next, ["_rx_srtp", "is_rtcp", "unprotect", "_handle_rtp_data", "_RTCDtlsTransport__rx_bytes",
                             "_RTCDtlsTransport__rx_packets"], "RTCDtlsTransport._recv_next")
    reads(dtls._handle_rtp_data, ["RtpPacket", "parse", "_rtp_header_extensions_map", "_rtp_router", "route_rtp",
                                   "_handle_rtp_packet"], "RTCDtlsTransport._handle_rtp_data")
    reads(StunProtocol.datagram_received, ["parse_message", "receiver", "data_received"],
           "aioice StunProtocol.datagram_received")
    reads(Connection.data_received, ["_queue", "put_nowait"], "aioice Connection.data_received")
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
