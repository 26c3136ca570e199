"""A relay's pull, forwarded: the origin's encoded VP8 and Opus go to our viewers undecoded.

A relay is a WHEP viewer of its origin. Instead of decoding what the origin sends and
encoding it again (about 0.45 core per channel at 720p, a second generation of coding
loss and a frame or more of latency), :class:`Forwarder` taps the pull's aiortc receivers
at the RTP packet (:func:`broadcast.libinternals.tap_receiver`: their decoder thread never
decodes anything), reassembles whole VP8 frames itself (:class:`VideoAssembler`), and hands
them, packetized again by aiortc's own packetizer, to the channel's
:class:`~broadcast.program.Program`, which publishes them to its fan-out streams as it would
its own encoder's frames.

Why packets and not the frames aiortc's jitter buffer hands its decoder: the jitter buffer
releases a frame only when the first packet of the *next* frame arrives (one frame
interval, 33 ms at 30 fps, per hop), and audio only after 4 packets more (80 ms). Here a
VP8 frame goes out as soon as its last packet (the RTP marker) is in and nothing before it
is missing, and each Opus packet goes out as it arrives. aiortc's receiver still counts each
packet after the tap (receiver reports, NACKs for missing packets); once the pull is connected
its packets come straight from the socket's callback, without aiortc's queue, receive task
and jitter buffer (:func:`broadcast.libinternals.receive_directly`).

Keyframes: when a relay viewer needs one (joining, a PLI, a slow viewer), the program's
keyframe gate (at most one per 0.5 s) calls :meth:`Forwarder.request_keyframe`, which
sends an RTCP PLI upstream on the pull's receiver; an origin (or a relay above) answers
with a keyframe. A frame lost beyond repair (still missing 0.3 s of media later) makes the
assembler wait for the next keyframe and ask for one the same way.

Timestamps: each stream keeps the origin's RTP timing (so frame spacing survives the hop),
moved onto this server's channel clock at its first packet.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

import av

from broadcast import libinternals
from broadcast.encoding import EncodedFrame

__all__ = ["Forwarder", "VideoAssembler", "vp8_descriptor", "vp8_keyframe_size", "MAX_WAIT_S"]

log = logging.getLogger(__name__)

MAX_WAIT_S = 0.3
"""How long a missing packet is waited for (NACK and retransmission) before the frames after
it are given up and the next keyframe is awaited."""


def vp8_descriptor(payload: bytes) -> tuple[bool, int]:
    """``(starts a frame, descriptor length)`` of one VP8 RTP payload (RFC 7741, section 4.2).

    A frame starts at the packet with the S bit set and partition index 0.

    >>> vp8_descriptor(bytes([0x90, 0x80, 0x81, 0x23, 0x10]))  # X, S; I with a 15-bit picture id
    (True, 4)
    >>> vp8_descriptor(bytes([0x00, 0x11]))
    (False, 1)
    """
    b0 = payload[0]
    n = 1
    if b0 & 0x80:
        b1 = payload[1]
        n = 2
        if b1 & 0x80:  # I: picture id, 7 or 15 bits
            n += 2 if payload[n] & 0x80 else 1
        if b1 & 0x40:  # L: TL0PICIDX
            n += 1
        if b1 & 0x30:  # T or K: TID/Y/KEYIDX
            n += 1
    return bool(b0 & 0x10) and (b0 & 0x07) == 0, n


def vp8_keyframe_size(frame: bytes) -> tuple[int, int] | None:
    """``(width, height)`` of a VP8 keyframe (RFC 6386, section 9.1), or None for an
    interframe or something that is not VP8."""
    if len(frame) < 10 or frame[0] & 1 or frame[3:6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(frame[6:8], "little") & 0x3FFF, int.from_bytes(frame[8:10], "little") & 0x3FFF


def _after(a: int, b: int) -> bool:
    """Sequence number ``a`` comes after ``b`` (mod 2^16)."""
    return 0 < ((a - b) & 0xFFFF) < 0x8000


class VideoAssembler:
    """Whole VP8 frames from RTP packets, in order, each as soon as its last packet is in.

    :meth:`add` takes one packet and returns the frames it completed, as
    ``(rtp_timestamp, vp8_frame, keyframe)``. A frame is complete when every packet from its
    first (S bit, partition 0) to its last (RTP marker, or the packet before one with the
    next timestamp) is in. Frames leave in sequence order: a frame after a missing packet
    waits for it (a retransmission) up to ``max_wait`` RTP ticks; after that the assembler
    drops what it holds, sets :attr:`waiting_keyframe` and resumes at the next keyframe.
    It starts waiting for a keyframe too.
    """

    def __init__(self, max_wait: int = int(MAX_WAIT_S * 90_000), capacity: int = 1024):
        self.max_wait = max_wait
        self.capacity = capacity
        self._buf: dict[int, tuple[int, bool, bytes]] = {}
        self._expect: int | None = None
        self._last_ts: int | None = None
        self.frames = 0
        self.keyframes = 0
        self.gaps = 0
        """Times frames were given up (a packet missing for longer than ``max_wait``)."""
        self.late = 0
        """Packets that came after their frame had gone out or been given up (duplicates too)."""

    @property
    def waiting_keyframe(self) -> bool:
        return self._expect is None

    def add(self, seq: int, timestamp: int, marker: bool, payload: bytes) -> list[tuple[int, bytes, bool]]:
        if not payload:
            return []
        if self._expect is not None and not (seq == self._expect or _after(seq, self._expect)):
            self.late += 1
            return []
        if seq in self._buf:
            self.late += 1
            return []
        self._buf[seq] = (timestamp, marker, payload)
        if self._expect is None and not self._resync_at(seq):
            self._trim()
            return []
        out: list[tuple[int, bytes, bool]] = []
        self._drain(out)
        if self._expect is not None and self._stale(timestamp):
            self.gaps += 1
            self._give_up()
            self._drain(out)
        self._trim()
        return out

    # -- inside ------------------------------------------------------------------------
    def _is_keyframe_start(self, payload: bytes) -> bool:
        start, n = vp8_descriptor(payload)
        return start and len(payload) > n and not payload[n] & 1

    def _resync_at(self, seq: int) -> bool:
        """Resume at ``seq`` if it is the first packet of a keyframe; drop what came before it."""
        if not self._is_keyframe_start(self._buf[seq][2]):
            return False
        for s in [s for s in self._buf if _after(seq, s)]:
            del self._buf[s]
        self._expect = seq
        self._last_ts = None
        return True

    def _give_up(self) -> None:
        """A packet is missing for good: resume at the first keyframe already held, if any."""
        old = self._expect
        self._expect = None
        starts = [s for s, (_, _, p) in self._buf.items() if _after(s, old) and self._is_keyframe_start(p)]
        if starts:
            first = min(starts, key=lambda s: (s - old) & 0xFFFF)
            self._resync_at(first)
        else:
            self._buf.clear()

    def _stale(self, timestamp: int) -> bool:
        ref = self._last_ts
        if ref is None:
            held = self._buf.get(self._expect)
            if held is None:
                return False
            ref = held[0]
        ahead = (timestamp - ref) & 0xFFFFFFFF
        return ahead < 0x80000000 and ahead > self.max_wait

    def _drain(self, out: list) -> None:
        buf = self._buf
        while self._expect is not None:
            seq = self._expect
            first = buf.get(seq)
            if first is None:
                return
            ts = first[0]
            start, _ = vp8_descriptor(first[2])
            if not start:  # the packet after a frame's last does not start one: corrupt, resync
                self.gaps += 1
                self._give_up()
                continue
            seqs = []
            while True:
                item = buf.get(seq)
                if item is None:
                    return  # incomplete: wait for the missing packet
                if item[0] != ts:
                    break  # the next frame began: this one ended (its marker was lost or never set)
                seqs.append(seq)
                seq = (seq + 1) & 0xFFFF
                if item[1]:
                    break
            parts = []
            for s in seqs:
                payload = buf.pop(s)[2]
                parts.append(payload[vp8_descriptor(payload)[1]:])
            frame = b"".join(parts)
            key = bool(frame) and not frame[0] & 1
            self._expect = seq
            self._last_ts = ts
            self.frames += 1
            self.keyframes += key
            out.append((ts, frame, key))

    def _trim(self) -> None:
        while len(self._buf) > self.capacity:  # never more than about 5 s of 720p held
            del self._buf[next(iter(self._buf))]


class _Clock:
    """One stream's RTP timestamps moved onto the channel clock (unwrapped), from its first packet."""

    def __init__(self, rate: int):
        self.rate = rate
        self._last: int | None = None
        self._ext = 0

    def map(self, timestamp: int, t0: float) -> int:
        if self._last is None:
            self._ext = int((time.time() - t0) * self.rate)
        else:
            self._ext += ((timestamp - self._last + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        self._last = timestamp
        return self._ext


class Forwarder:
    """The tap on one pull's receivers, feeding one :class:`~broadcast.program.Program`.

    :meth:`tap` before the pull's remote description is set; :meth:`bind` with the
    negotiated payload types once it is; the program :meth:`attach`\\es itself when it goes
    on air. Until then packets are counted and dropped.
    """

    def __init__(self):
        self.video = VideoAssembler()
        self.program = None
        self._receivers: dict[str, object] = {}
        self._pli = None
        self._pt: dict[str, int | None] = {"video": None, "audio": None}
        self._ssrc: int | None = None
        self._clocks = {"video": _Clock(90_000), "audio": _Clock(48_000)}
        self._picture_id = random.randint(0, (1 << 15) - 1)
        self._last_audio: int | None = None
        self._size: tuple[int, int] | None = None
        self.packets = {"video": 0, "audio": 0}
        self.ignored = 0
        """Packets of another payload type (RTX, which our origins never send) or before bind."""
        self.audio_frames = 0
        self.plis = 0
        """PLIs sent upstream."""

    # -- set-up --------------------------------------------------------------------------
    def tap(self, video_receiver, audio_receiver) -> bool:
        """Tap both receivers (before the remote description is set). False: this aiortc
        cannot be tapped (:func:`broadcast.libinternals.relay_forward_refused`); nothing changed."""
        if libinternals.relay_forward_refused() is not None:
            return False
        pli = libinternals.receiver_pli(video_receiver)
        if pli is None or not libinternals.tap_receiver(video_receiver, self._on_video):
            return False
        if not libinternals.tap_receiver(audio_receiver, self._on_audio):  # cannot happen once video passed
            raise RuntimeError("the audio receiver could not be tapped after the video one was")
        self._pli = pli
        self._receivers = {"video": video_receiver, "audio": audio_receiver}
        return True

    def bind(self, video_pt: int | None, audio_pt: int | None) -> None:
        """The payload types the origin sends VP8 and Opus with (from the negotiated codecs)."""
        self._pt = {"video": video_pt, "audio": audio_pt}

    def attach(self, program) -> None:
        self.program = program

    # -- packets in ------------------------------------------------------------------------
    def _on_video(self, packet) -> None:
        self.packets["video"] += 1
        program = self.program
        if program is None or packet.payload_type != self._pt["video"]:
            self.ignored += 1
            return
        self._ssrc = packet.ssrc
        frames = self.video.add(packet.sequence_number, packet.timestamp, packet.marker, packet.payload)
        for ts, data, key in frames:
            ext = self._clocks["video"].map(ts, program.t0)
            payloads = libinternals.vp8_payloads(data, self._picture_id)
            self._picture_id = (self._picture_id + 1) % (1 << 15)
            if key:
                self._size = vp8_keyframe_size(data) or self._size
            packets = []
            if program.recorder is not None:
                p = av.Packet(data)
                p.pts = p.dts = ext
                p.is_keyframe = key
                packets.append(p)
            program.forward_video(EncodedFrame(payloads, ext & 0xFFFFFFFF, key, packets), self._size)
        if self.video.waiting_keyframe:
            program.upstream_keyframe_wanted()

    def _on_audio(self, packet) -> None:
        self.packets["audio"] += 1
        program = self.program
        if program is None or packet.payload_type != self._pt["audio"] or not packet.payload:
            self.ignored += 1
            return
        last = self._last_audio
        if last is not None and not 0 < ((packet.sequence_number - last) & 0xFFFF) < 0x8000:
            return  # a duplicate or a packet older than one already forwarded
        self._last_audio = packet.sequence_number
        ext = self._clocks["audio"].map(packet.timestamp, program.t0)
        packets = []
        if program.recorder is not None:
            p = av.Packet(packet.payload)
            p.pts = p.dts = ext
            packets.append(p)
        self.audio_frames += 1
        program.forward_audio(EncodedFrame([packet.payload], ext & 0xFFFFFFFF, True, packets))

    # -- keyframes upstream ------------------------------------------------------------------
    def request_keyframe(self) -> bool:
        """Send one PLI to the origin for its video (the caller rate-limits). False before the
        first video packet (no SSRC to name yet: the origin sends a keyframe to a new viewer)."""
        if self._pli is None or self._ssrc is None:
            return False
        self.plis += 1
        task = asyncio.ensure_future(self._pli(self._ssrc))
        task.add_done_callback(_log_failure)
        return True

    def stats(self) -> dict:
        v = self.video
        return {"packets": dict(self.packets), "ignored": self.ignored, "video_frames": v.frames,
                "video_keyframes": v.keyframes, "gaps": v.gaps, "late": v.late,
                "waiting_keyframe": v.waiting_keyframe, "audio_frames": self.audio_frames,
                "plis_upstream": self.plis, "payload_types": dict(self._pt),
                "received_directly": bool(self._receivers) and libinternals.receiving_directly(self._receivers["video"])}


def _log_failure(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("PLI upstream failed: %r", task.exception())
