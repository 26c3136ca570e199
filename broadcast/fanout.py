"""Send the same encoded packets to every viewer: the per-packet path.

One :class:`Stream` per (channel, codec) holds the payloads produced once by the shared
encoder. Each viewer's :class:`Sink` owns that viewer's RTP header (SSRC, payload type,
sequence and timestamp offsets, the MID extension) and, for every packet, only rewrites
the header, protects it with the viewer's SRTP context and hands it to the socket of the
viewer's selected ICE pair: no encoding, no packetizing, no task per packet.

The viewer's aiortc :class:`~aiortc.RTCRtpSender` still does everything but the media:
SDP, DTLS, RTCP reports in and out. Its own RTP loop idles on an :class:`IdleTrack`, its
PLI/FIR and NACK handling is routed here, and its sender report counters are kept current
so receivers can map RTP time to wall-clock time. Every use of aiortc's, aioice's and
pylibsrtp's internals this needs goes through :mod:`broadcast.libinternals`, which also
decides the per-packet path (``"direct"``, ``"public"`` or ``"generic"``).

How a sink sends (docs/broadcast.md, "Where the time goes per packet"): a video frame as one
segmented ``sendmsg`` per viewer where the platform allows (:mod:`broadcast.gso`), else one
``sendmmsg``; audio one ``sendto`` per Opus packet (40 ms of sound:
:data:`broadcast.encoding.OPUS_FRAME_MS`).

Slow viewers drop rather than slow the others: a sink whose socket buffer holds more than
:data:`MAX_BUFFERED` bytes skips packets and waits for the next keyframe.

A viewer that has just connected starts at once, without a keyframe of its own, when the
frames since the stream's last keyframe are few (at most :data:`REPLAY_MAX_PACKETS`): they
are sent to it alone, their timestamps squeezed to the current frame's
(:meth:`Sink._replay`). Otherwise it asks for a keyframe, which the programme's gate forces
at most once per 0.5 s for all joiners (docs/broadcast.md, "Joining").
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time
from collections.abc import Callable

from aiortc import clock
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from broadcast import gso, libinternals
from broadcast.encoding import EncodedFrame

__all__ = ["Stream", "Sink", "IdleTrack", "MID_URI", "MAX_BUFFERED", "HISTORY", "REPLAY_MAX_PACKETS"]

log = logging.getLogger(__name__)

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
MAX_BUFFERED = 256 * 1024
HISTORY = 1024  # packets kept per stream for NACK retransmission (about 5 s of 720p video)
REPLAY_MAX_PACKETS = 96
"""The most packets replayed to a joining viewer (its last keyframe and the frames since).

At 720p and 1.5 Mbit/s a VP8 keyframe is about 13 packets and a frame after it about 4.4,
so 96 packets cover the first 0.6 s after every keyframe: longer than the 0.5 s between
two forced keyframes, so a joiner is either replayed at once or finds the gate open. A
burst of 96 packets (115 KB) stays under a receiver's default 208 KiB socket buffer."""
SR_EVERY_NTP = int(0.1 * (1 << 32))
"""The sender-report counters (NTP time, RTP timestamp, packets, octets) are written at most
every 100 ms per sink, not every frame: aiortc sends a report every 0.5-1.5 s, and the pair it
reports is one frame's (its NTP time when sent, its RTP timestamp), a true mapping whatever
its age; the counts are up to 100 ms behind. Writing them on every frame was about 4 % of the
event loop's time at 200 viewers (py-spy, docs/broadcast.md)."""
_SEQ_TS = struct.Struct("!HI")
_SEQ = struct.Struct("!H")
_TS = struct.Struct("!I")
_PT_SEQ_TS = struct.Struct("!BHI")


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
        self._gop: list[list[tuple[int, int, int, bytes]]] | None = None  # frames since the last keyframe
        self._gop_packets = 0
        self.replays = 0  # joiners started on the cached frames instead of a keyframe of their own
        self._runs: tuple[list, list[tuple[int, int]]] | None = None  # the current frame's runs (gso.runs)

    def publish(self, frame: EncodedFrame) -> None:
        """Number ``frame``'s payloads and send them to every sink (synchronously)."""
        self._send(self._number(frame), frame.keyframe)

    def _number(self, frame: EncodedFrame) -> list[tuple[int, int, int, bytes]]:
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
        self._keep_for_replay(packets, frame.keyframe)
        return packets

    def _send(self, packets, keyframe: bool) -> None:
        """``packets``: one frame's."""
        if not self.sinks:
            return
        t = time.perf_counter()
        ntp = clock.current_ntp_time()
        for sink in list(self.sinks):
            sink.send_frame(packets, keyframe, ntp)
        self.fanout_s += time.perf_counter() - t

    def runs(self, packets) -> list[tuple[int, int]]:
        """The runs of ``packets`` that can each go in one segmented send (:func:`broadcast.gso.runs`):
        worked out once per frame for all sinks, their payload lengths being the same for all."""
        cached = self._runs
        if cached is not None and cached[0] is packets:
            return cached[1]
        runs = gso.runs([len(p[3]) for p in packets])
        self._runs = (packets, runs)
        return runs

    def _keep_for_replay(self, packets, keyframe: bool) -> None:
        if keyframe:
            self._gop, self._gop_packets = [packets], len(packets)
        elif self._gop is not None:
            self._gop_packets += len(packets)
            if self._gop_packets > REPLAY_MAX_PACKETS:
                self._gop = None  # too long to replay: joiners ask for a keyframe until the next one
            else:
                self._gop.append(packets)

    def replayable(self) -> list[list[tuple[int, int, int, bytes]]] | None:
        """The frames since the last keyframe, the current one last, if few enough to replay."""
        return self._gop if self.kind == "video" else None

    def lookup(self, seq: int) -> tuple[int, int, int, bytes] | None:
        item = self._history[seq % HISTORY]
        return item if item is not None and item[0] == seq else None

    def add(self, sink: "Sink") -> None:
        """Attach a viewer; it asks for a keyframe once it is connected (:meth:`Sink.send_frame`),
        not now: a keyframe sent while its ICE and DTLS are still under way would be lost to it."""
        self.sinks.append(sink)

    def remove(self, sink: "Sink") -> None:
        if sink in self.sinks:
            self.sinks.remove(sink)


class Sink:
    """One viewer's RTP output for one :class:`Stream`.

    ``path`` caps the per-packet path (:data:`broadcast.libinternals.PATHS`); by default the
    fastest one :func:`broadcast.libinternals.self_check` allows. A sink takes a slower path
    by itself when its ICE pair needs it (a TURN relay: generic). :attr:`path` says which one
    it used last.
    """

    def __init__(self, stream: Stream, sender, payload_type: int, mid: str | None, mid_ext_id: int | None,
                 *, path: str | None = None):
        if path is not None and path not in libinternals.PATHS:
            raise ValueError(f"unknown path {path!r}, expected one of {libinternals.PATHS}")
        self.stream = stream
        self.sender = sender
        self.dtls = sender.transport
        self.ssrc = libinternals.sender_ssrc(sender)
        self.max_path = path or libinternals.active_path()
        self.path: str | None = None
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
        self._hdr = bytearray(header)  # the per-frame working copy (_frame_header)
        self.waiting_keyframe = stream.kind == "video"
        self._asked = False  # a keyframe asked for since this viewer connected
        self.sent = 0
        self.octets = 0
        self.dropped = 0
        self.retransmitted = 0
        self.first_sent_at: float | None = None
        self._transport = None
        self._sendto = None
        self._addr = None
        self._protect = None
        self._direct: libinternals.DirectPath | None = None
        self._batch: libinternals.BatchPath | None = None
        self._gso: gso.Arena | None = None
        self._send_generic = None
        self._write_sr = libinternals.sender_report_writer(sender)
        self._sr_due = 0  # NTP time from which the next frame writes the sender-report counters
        self.closed = False

    # -- the per-packet path -----------------------------------------------------------
    def _resolve(self) -> bool:
        """Find the selected ICE pair's socket and bind the path, once (public or direct).

        The direct path (:func:`broadcast.libinternals.direct_protect_path`) assembles the
        packet in the SRTP session's own C buffer and sends it from there, with no
        intermediate bytes. False (the generic path, tried again next frame): no pair yet, a
        pair without a socket, no SRTP session yet, or a sink capped to ``"generic"``.
        """
        if self.max_path == "generic":
            return False
        selected = libinternals.selected_pair(self.dtls)
        session = libinternals.tx_srtp(self.dtls)
        if selected is None or session is None:
            return False
        transport, self._addr = selected
        self._transport = transport
        self._protect = session.protect
        self._sendto = transport.sendto
        if self.max_path == "direct":
            self._direct = libinternals.direct_protect_path(session, transport)
            if self._direct is not None and self.stream.kind == "video":  # audio: one packet a frame
                self._batch = libinternals.batch_protect_path(session, transport, self._addr)
                if self._direct.sock.family in (socket.AF_INET, socket.AF_INET6) and gso.available():
                    self._gso = gso.arena()
        self.path = "public" if self._direct is None else "direct"
        return True

    @property
    def batched(self) -> bool:
        """True when this viewer's frames go out in one system call each (segmented or ``sendmmsg``)."""
        return self._batch is not None or self._gso is not None

    @property
    def segmented(self) -> bool:
        """True when this viewer's frames go out as segmented sends (:mod:`broadcast.gso`)."""
        return self._gso is not None

    def _emit(self, seq: int, marker: int, timestamp: int, payload: bytes) -> None:
        header = bytearray(self._header)
        header[1] = (marker << 7) | self.payload_type
        _SEQ_TS.pack_into(header, 2, (seq + self.seq_offset) & 0xFFFF, (timestamp + self.ts_offset) & 0xFFFFFFFF)
        if self._protect is None:
            self._protect = libinternals.tx_srtp(self.dtls).protect
        data = self._protect(bytes(header) + payload)
        if self._sendto is not None:
            self._sendto(data, self._addr)
        else:  # TURN or an unknown pair type: the generic (slower) path
            if self._send_generic is None:
                self._send_generic = libinternals.generic_sender(self.dtls)
            self._send_generic(data)
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
        # connected first: a keyframe that reached a viewer still in ICE/DTLS was lost to it,
        # and the viewer then waited for the encoder's next scheduled one (up to 2 s)
        if self._sendto is None and not self._resolve():
            if self.dtls.state != "connected":
                return
        elif self._transport.get_write_buffer_size() > MAX_BUFFERED:
            self.dropped += len(packets)
            self.waiting_keyframe = self.stream.kind == "video"
            self._asked = True  # a congested viewer gets the next keyframe, no catching up
            self.stream.request_keyframe()
            return
        if self.waiting_keyframe:
            if not keyframe:
                if not self._asked:  # just connected: ask now, not at the offer (it would be lost)
                    self._asked = True
                    gop = self.stream.replayable()
                    if gop and gop[-1] is packets:
                        self._replay(gop, ntp)
                        return
                    self.stream.request_keyframe()
                return
            self.waiting_keyframe = False
        try:
            if self._sendto is None:
                self.path = "generic"
                for item in packets:
                    self._emit(*item)
            elif self._gso is not None:
                self._send_gso(packets)
            elif self._batch is not None:
                self._send_batch(packets)
            elif self._direct is not None:
                if len(packets) == 1:
                    self._send_one(packets[0])
                elif self.stream.kind == "audio":  # frames of their own timestamps
                    for item in packets:
                        self._send_one(item)
                else:
                    self._send_direct(packets)
            elif self.stream.kind == "audio":
                for item in packets:
                    self._emit(*item)
            else:
                header = self._frame_header(packets)
                protect, sendto, addr = self._protect, self._sendto, self._addr
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
        # Keep the sender's RTCP sender reports truthful (aiortc reads these fields), at most
        # every SR_EVERY_NTP: a report's (NTP, RTP) pair is one frame's either way
        if self._write_sr is not None and ntp >= self._sr_due:
            self._sr_due = ntp + SR_EVERY_NTP
            self._write_sr(ntp, (packets[-1][2] + self.ts_offset) & 0xFFFFFFFF, self.sent, self.octets)

    def _frame_header(self, packets) -> bytearray:
        """This viewer's header for one frame, its timestamp set (once per frame: the per-packet
        loops only set the marker, payload type and sequence number).

        One bytearray per sink, rewritten in place frame after frame: every path copies it
        (into libsrtp's buffer, the arena, or ``bytes(header) + payload``) before it changes again."""
        header = self._hdr
        _TS.pack_into(header, 4, (packets[0][2] + self.ts_offset) & 0xFFFFFFFF)
        return header

    def _replay(self, gop, ntp: int) -> None:
        """Start a just-connected viewer on the cached frames: the last keyframe, the frames
        since, the current one last.

        Their sequence numbers are the stream's own, so the live frames follow without a gap.
        Their timestamps are squeezed to one tick apart, ending at the current frame's, so a
        player that paces frames by their timestamps does not show the old ones at their
        original pace and keep their age as delay. (Chromium shows the newest frame within
        40 ms of its arrival either way, measured by
        ``tests/councilcast/test_join_replay_browser.py``.)
        """
        last_ts = gop[-1][0][2]
        k = len(gop)
        try:
            for i, frame in enumerate(gop):
                ts = (last_ts - (k - 1 - i)) & 0xFFFFFFFF
                for seq, marker, _ts, payload in frame:
                    self._emit(seq, marker, ts, payload)
        except Exception as exc:
            log.debug("sink %s stops: %r", self.ssrc, exc)
            self.close()
            return
        self.waiting_keyframe = False
        self.stream.replays += 1
        if self.first_sent_at is None:
            self.first_sent_at = time.time()
        if self._write_sr is not None:
            self._write_sr(ntp, (last_ts + self.ts_offset) & 0xFFFFFFFF, self.sent, self.octets)

    def _send_gso(self, packets) -> None:
        """The direct path, each run of the frame (:meth:`Stream.runs`: for VP8 the whole frame)
        assembled back to back in the thread's arena, protected in place and sent in one
        segmented ``sendmsg`` (:mod:`broadcast.gso`). A route that refuses segmentation turns it
        off for this sink, and the rest of the frame goes out by ``sendmmsg``."""
        srtp, _cdata, _buf, _view, _len_p, sock, protect, limit = self._direct
        arena = self._gso
        mem, buf, view, len_p = arena.memory, arena.buffer, arena.view, arena.len_p
        header = self._frame_header(packets)
        hlen = len(header)
        ctx = srtp[0]
        addr = self._addr
        pt, offset = self.payload_type, self.seq_offset
        sent = octets = 0
        for start, end in self.stream.runs(packets):
            off = size = run_octets = 0
            for i in range(start, end):
                seq, marker, _ts, payload = packets[i]
                header[1] = (marker << 7) | pt
                _SEQ.pack_into(header, 2, (seq + offset) & 0xFFFF)
                n = hlen + len(payload)
                if n > limit:
                    raise ValueError("packet is too long")
                buf[off:off + hlen] = header
                buf[off + hlen:off + n] = payload
                len_p[0] = n
                if protect(ctx, mem + off, len_p):
                    raise RuntimeError("srtp_protect failed")
                if not size:
                    size = len_p[0]
                off += len_p[0]
                run_octets += n - hlen
            try:
                if end - start > 1:
                    sock.sendmsg([view[:off]], gso.control(size), 0, addr)
                else:
                    sock.sendto(view[:off], addr)
            except (BlockingIOError, InterruptedError):
                # The socket is full: this viewer is too slow. Drop, and restart at a keyframe.
                self.dropped += len(packets) - sent
                if self.stream.kind == "video":
                    self.waiting_keyframe = True
                    self.stream.request_keyframe()
                break
            except OSError as exc:
                if exc.errno not in gso.REFUSED_ERRNOS or end - start < 2:
                    raise
                log.info("sink %s: no UDP segmentation on this route (%r): sendmmsg from now on", self.ssrc, exc)
                self._gso = None
                self.sent += sent
                self.octets += octets
                self.stream.emitted += sent
                rest = packets[start:]
                (self._send_batch if self._batch is not None else self._send_direct)(rest)
                return
            sent += end - start
            octets += run_octets
        self.sent += sent
        self.octets += octets
        self.stream.emitted += sent

    def _send_batch(self, packets) -> None:
        """The direct path, with the frame's packets assembled side by side in the thread's
        packet slots and sent in one ``sendmmsg`` per :data:`broadcast.libinternals.BATCH_SLOTS`
        packets (:class:`broadcast.libinternals.BatchPath`). Measured per 1,200-byte packet,
        CPU time: 3.1-3.5 us against 3.7-5.1 us for the per-packet ``sendto`` (docs/broadcast.md).
        """
        srtp, buf, slots, slot, iov, len_p, protect, send, limit = self._batch
        header = self._frame_header(packets)
        hlen = len(header)
        ctx = srtp[0]
        pt, offset, room = self.payload_type, self.seq_offset, len(slots)
        sent = octets = k = start = 0
        for seq, marker, _ts, payload in packets:
            header[1] = (marker << 7) | pt
            _SEQ.pack_into(header, 2, (seq + offset) & 0xFFFF)
            n = hlen + len(payload)
            if n > limit:
                raise ValueError("packet is too long")
            at = k * slot
            buf[at:at + hlen] = header
            buf[at + hlen:at + n] = payload
            len_p[0] = n
            if protect(ctx, slots[k], len_p):
                raise RuntimeError("srtp_protect failed")
            iov[k].iov_len = len_p[0]
            octets += len(payload)
            k += 1
            if k == room:
                done = send(k)
                sent += done
                if done < k:
                    break
                start += k
                k = 0
        else:
            done = send(k) if k else 0
            sent += done
        if sent < len(packets):
            if done < k:  # the socket is full: this viewer is too slow; drop, restart at a keyframe
                octets = sum(len(p[3]) for p in packets[:sent])
                self.dropped += len(packets) - sent
                if self.stream.kind == "video":
                    self.waiting_keyframe = True
                    self.stream.request_keyframe()
        self.sent += sent
        self.octets += octets
        self.stream.emitted += sent

    def _send_one(self, packet) -> None:
        """The direct path for a frame of one packet (every Opus frame): the header's marker,
        payload type, sequence number and timestamp written in one ``pack_into``, no loop."""
        srtp, cdata, buf, view, len_p, sock, protect, limit = self._direct
        seq, marker, ts, payload = packet
        header = self._hdr
        _PT_SEQ_TS.pack_into(header, 1, (marker << 7) | self.payload_type, (seq + self.seq_offset) & 0xFFFF,
                             (ts + self.ts_offset) & 0xFFFFFFFF)
        hlen = len(header)
        n = hlen + len(payload)
        if n > limit:
            raise ValueError("packet is too long")
        buf[0:hlen] = header
        buf[hlen:n] = payload
        len_p[0] = n
        if protect(srtp[0], cdata, len_p):
            raise RuntimeError("srtp_protect failed")
        try:
            sock.sendto(view[: len_p[0]], self._addr)
        except (BlockingIOError, InterruptedError):
            self.dropped += 1
            if self.stream.kind == "video":
                self.waiting_keyframe = True
                self.stream.request_keyframe()
            return
        self.sent += 1
        self.octets += n - hlen
        self.stream.emitted += 1

    def _send_direct(self, packets) -> None:
        """The per-packet path without Python objects in between (see
        :class:`broadcast.libinternals.DirectPath`).

        A packet longer than the buffer allows once libsrtp appends its trailer is refused
        with ``ValueError``, as ``pylibsrtp.Session.protect`` refuses it: libsrtp itself
        would write the authentication tag past the end of the 1,500-byte buffer.
        """
        srtp, cdata, buf, view, len_p, sock, protect, limit = self._direct
        header = self._frame_header(packets)
        hlen = len(header)
        addr = self._addr
        pt, offset = self.payload_type, self.seq_offset
        octets = sent = 0
        for seq, marker, _ts, payload in packets:
            header[1] = (marker << 7) | pt
            _SEQ.pack_into(header, 2, (seq + offset) & 0xFFFF)
            n = hlen + len(payload)
            if n > limit:
                raise ValueError("packet is too long")
            buf[0:hlen] = header
            buf[hlen:n] = payload
            len_p[0] = n
            if protect(srtp[0], cdata, len_p):
                raise RuntimeError("srtp_protect failed")
            try:
                sock.sendto(view[: len_p[0]], addr)
            except (BlockingIOError, InterruptedError):
                # The socket is full: this viewer is too slow. Drop, and restart at a keyframe.
                self.dropped += len(packets) - sent
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
        libinternals.route_feedback(self.sender, self.retransmit, self.keyframe_wanted)
        self.stream.add(self)

    def close(self) -> None:
        """Stop sending to this viewer."""
        if self.closed:
            return
        self.closed = True
        self.stream.remove(self)
