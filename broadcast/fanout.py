"""Send the same encoded packets to every viewer: the per-packet path.

One :class:`Stream` per (channel, codec) holds the payloads produced once by the shared
encoder. Each viewer's :class:`Sink` owns that viewer's RTP header (SSRC, payload type,
sequence and timestamp offsets, the MID extension) and, for every packet, only rewrites
the header, protects it with the viewer's SRTP context and hands it to the socket of the
viewer's selected ICE pair: no encoding, no packetizing, no task per packet.

The viewer's aiortc :class:`~aiortc.RTCRtpSender` still does everything but the media:
SDP, DTLS, RTCP reports in and out. Its own RTP loop idles on an :class:`IdleTrack`, its
``_send_keyframe`` (PLI/FIR) and ``_retransmit`` (NACK) are routed here, and its sender
report counters are kept current so receivers can map RTP time to wall-clock time.

Slow viewers drop rather than slow the others: a sink whose socket buffer holds more than
:data:`MAX_BUFFERED` bytes skips packets and waits for the next keyframe.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
import time
from collections.abc import Callable

from aiortc import clock
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from broadcast.encoding import EncodedFrame

__all__ = ["Stream", "Sink", "IdleTrack", "MID_URI", "MAX_BUFFERED", "HISTORY"]

log = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
MAX_BUFFERED = 256 * 1024
HISTORY = 1024  # packets kept per stream for NACK retransmission (about 5 s of 720p video)
_SEQ_TS = struct.Struct("!HI")
_SEQ = struct.Struct("!H")


def _direct_path(session, transport):
    """(srtp, C buffer, its Python buffer, a memoryview of it, int*, socket, srtp_protect) or None.

    Uses pylibsrtp's binding and the session's own 1,500-byte buffer (pylibsrtp does the
    same inside ``Session.protect``, plus an allocation and two copies per packet), and the
    datagram socket under asyncio's transport. Any of these missing (another pylibsrtp or
    Python version): None, and the sink uses the public calls.
    """
    try:
        from pylibsrtp._binding import ffi, lib

        sock = transport._sock
        cdata, buf = session._cdata, session._buffer
        return (session._srtp, cdata, buf, memoryview(buf), ffi.new("int *"), sock, lib.srtp_protect)
    except (ImportError, AttributeError):
        return None


class IdleTrack(MediaStreamTrack):
    """A track whose ``recv`` waits until it is stopped: the sender's own RTP loop sleeps on it."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self._ended = asyncio.get_event_loop().create_future()

    async def recv(self):
        await asyncio.shield(self._ended)
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        if not self._ended.done():
            self._ended.set_result(None)


class Stream:
    """The encoded packets of one codec on one channel, and the sinks receiving them."""

    def __init__(self, codec: str, kind: str, clock_rate: int, request_keyframe: Callable[[], None]):
        self.codec = codec
        self.kind = kind
        self.clock_rate = clock_rate
        self.request_keyframe = request_keyframe
        self.sinks: list[Sink] = []
        self.seq = random.randint(0, 0x7FFF)
        self._history: list[tuple[int, int, int, bytes] | None] = [None] * HISTORY
        self.packets = 0
        self.frames = 0
        self.fanout_s = 0.0  # time spent in the per-packet path (header, SRTP, send), all sinks
        self.emitted = 0  # packets sent to viewers, all sinks together

    def publish(self, frame: EncodedFrame) -> None:
        """Number ``frame``'s payloads and send them to every sink (synchronously)."""
        n = len(frame.payloads)
        first = self.seq
        packets = []
        for i, payload in enumerate(frame.payloads):
            seq = (first + i) & 0xFFFF
            item = (seq, 1 if i == n - 1 else 0, frame.timestamp, payload)
            self._history[seq % HISTORY] = item
            packets.append(item)
        self.seq = (first + n) & 0xFFFF
        self.packets += n
        self.frames += 1
        if not self.sinks:
            return
        t = time.perf_counter()
        ntp = clock.current_ntp_time()
        for sink in list(self.sinks):
            sink.send_frame(packets, frame.keyframe, ntp)
        self.fanout_s += time.perf_counter() - t

    def lookup(self, seq: int) -> tuple[int, int, int, bytes] | None:
        item = self._history[seq % HISTORY]
        return item if item is not None and item[0] == seq else None

    def add(self, sink: "Sink") -> None:
        self.sinks.append(sink)
        self.request_keyframe()

    def remove(self, sink: "Sink") -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)


class Sink:
    """One viewer's RTP output for one :class:`Stream`."""

    def __init__(self, stream: Stream, sender, payload_type: int, mid: str | None, mid_ext_id: int | None):
        self.stream = stream
        self.sender = sender
        self.dtls = sender.transport
        self.ssrc = sender._ssrc
        self.payload_type = payload_type
        self.seq_offset = random.randint(0, 0x7FFF)
        self.ts_offset = random.getrandbits(32)
        header = bytearray(12)
        header[0] = 0x80
        struct.pack_into("!I", header, 8, self.ssrc)
        if mid is not None and mid_ext_id is not None:
            header[0] |= 0x10
            mid_b = mid.encode()
            elem = bytes([(mid_ext_id << 4) | (len(mid_b) - 1)]) + mid_b
            elem += b"\0" * (-len(elem) % 4)
            header += struct.pack("!HH", 0xBEDE, len(elem) // 4) + elem
        self._header = bytes(header)
        self.waiting_keyframe = stream.kind == "video"
        self.sent = 0
        self.octets = 0
        self.dropped = 0
        self.retransmitted = 0
        self.first_sent_at: float | None = None
        self._sendto = None
        self._addr = None
        self._direct = None
        self.closed = False

    # -- the per-packet path -----------------------------------------------------------
    def _resolve(self) -> bool:
        """Find the selected ICE pair's socket (host/srflx pairs; None for TURN relays).

        Also binds libsrtp directly (:func:`_direct_protect`): the packet is assembled in
        the SRTP session's own C buffer and sent from there, with no intermediate bytes.
        """
        try:
            pair = self.dtls.transport._connection._nominated.get(1)
            transport = pair.protocol.transport
        except AttributeError:
            return False
        if pair is None or transport is None:
            return False
        self._transport = transport
        self._sendto = transport.sendto
        self._addr = pair.remote_addr
        self._direct = _direct_path(self.dtls._tx_srtp, transport)
        return True

    def _emit(self, seq: int, marker: int, timestamp: int, payload: bytes) -> None:
        header = bytearray(self._header)
        header[1] = (marker << 7) | self.payload_type
        _SEQ_TS.pack_into(header, 2, (seq + self.seq_offset) & 0xFFFF, (timestamp + self.ts_offset) & 0xFFFFFFFF)
        data = self.dtls._tx_srtp.protect(bytes(header) + payload)
        if self._sendto is not None:
            self._sendto(data, self._addr)
        else:  # TURN or an unknown pair type: the generic (slower) path
            asyncio.ensure_future(self.dtls.transport._send(data))
        self.sent += 1
        self.octets += len(payload)
        self.stream.emitted += 1

    def send_frame(self, packets, keyframe: bool, ntp: int) -> None:
        """Send one frame's packets (``(seq, marker, timestamp, payload)``) to this viewer.

        The hot loop of the whole server: per packet, two header fields, one SRTP protect,
        one ``sendto``. Everything else is done once per frame.
        """
        if self.closed:
            return
        if self.waiting_keyframe:
            if not keyframe:
                return
            self.waiting_keyframe = False
        if self._sendto is None and not self._resolve():
            if self.dtls.state != "connected":
                return
        elif self._transport.get_write_buffer_size() > MAX_BUFFERED:
            self.dropped += len(packets)
            self.waiting_keyframe = self.stream.kind == "video"
            self.stream.request_keyframe()
            return
        try:
            if self._sendto is None:
                for item in packets:
                    self._emit(*item)
            elif self._direct is not None:
                self._send_direct(packets)
            else:
                header = bytearray(self._header)
                struct.pack_into("!I", header, 4, (packets[0][2] + self.ts_offset) & 0xFFFFFFFF)
                protect = self.dtls._tx_srtp.protect
                sendto, addr = self._sendto, self._addr
                pt, offset = self.payload_type, self.seq_offset
                octets = 0
                for seq, marker, _ts, payload in packets:
                    header[1] = (marker << 7) | pt
                    _SEQ.pack_into(header, 2, (seq + offset) & 0xFFFF)
                    sendto(protect(bytes(header) + payload), addr)
                    octets += len(payload)
                self.sent += len(packets)
                self.octets += octets
                self.stream.emitted += len(packets)
        except Exception as exc:  # DTLS closed under us, socket gone: this viewer is done
            log.debug("sink %s stops: %r", self.ssrc, exc)
            self.close()
            return
        if self.first_sent_at is None:
            self.first_sent_at = time.time()
        # Keep the sender's RTCP sender reports truthful (aiortc reads these fields).
        s = self.sender
        s._RTCRtpSender__ntp_timestamp = ntp
        s._RTCRtpSender__rtp_timestamp = (packets[-1][2] + self.ts_offset) & 0xFFFFFFFF
        s._RTCRtpSender__packet_count = self.sent
        s._RTCRtpSender__octet_count = self.octets

    def _send_direct(self, packets) -> None:
        """The per-packet path without Python objects in between (see :func:`_direct_path`)."""
        srtp, cdata, buf, view, len_p, sock, protect = self._direct
        header = bytearray(self._header)
        struct.pack_into("!I", header, 4, (packets[0][2] + self.ts_offset) & 0xFFFFFFFF)
        hlen = len(header)
        addr = self._addr
        pt, offset = self.payload_type, self.seq_offset
        octets = sent = 0
        for seq, marker, _ts, payload in packets:
            header[1] = (marker << 7) | pt
            _SEQ.pack_into(header, 2, (seq + offset) & 0xFFFF)
            n = hlen + len(payload)
            buf[0:hlen] = header
            buf[hlen:n] = payload
            len_p[0] = n
            if protect(srtp[0], cdata, len_p):
                raise RuntimeError("srtp_protect failed")
            try:
                sock.sendto(view[: len_p[0]], addr)
            except (BlockingIOError, InterruptedError):
                # The socket is full: this viewer is too slow. Drop, and restart at a keyframe.
                self.dropped += 1
                if self.stream.kind == "video":
                    self.waiting_keyframe = True
                    self.stream.request_keyframe()
                break
            octets += len(payload)
            sent += 1
        self.sent += sent
        self.octets += octets
        self.stream.emitted += sent

    # -- feedback from the viewer (RTCP), routed from the aiortc sender -------------------
    async def retransmit(self, seq: int) -> None:
        item = self.stream.lookup((seq - self.seq_offset) & 0xFFFF)
        if item is None or self.closed:
            return
        try:
            self._emit(*item)
            self.retransmitted += 1
        except Exception:
            pass

    def keyframe_wanted(self) -> None:
        self.stream.request_keyframe()

    def attach(self) -> None:
        """Start receiving the stream and route the sender's NACK/PLI handling here."""
        self.sender._retransmit = self.retransmit
        self.sender._send_keyframe = self.keyframe_wanted
        self.stream.add(self)

    def close(self) -> None:
        self.closed = True
        self.stream.remove(self)
