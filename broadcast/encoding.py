"""The shared encoders: one per codec per channel, whatever the number of viewers.

Each encoder turns decoded frames into RTP payloads once (VP8 and H.264 through aiortc's
own packetizers, Opus one packet per payload). :mod:`broadcast.fanout` then sends those
same payloads to every viewer, rewriting only the RTP header.
"""

from __future__ import annotations

import fractions
import random
from dataclasses import dataclass

import av

from broadcast import libinternals

__all__ = ["EncodedFrame", "VideoEncoder", "OpusEncoder", "OPUS_FRAME_MS", "VIDEO_CODECS", "AUDIO_CODECS"]

VIDEO_CODECS = ("vp8", "h264")
AUDIO_CODECS = ("opus",)
_TB_90K = fractions.Fraction(1, 90_000)
_TB_48K = fractions.Fraction(1, 48_000)


@dataclass(slots=True)
class EncodedFrame:
    """One encoded frame: its RTP payloads, its RTP timestamp, whether it is a keyframe."""

    payloads: list[bytes]
    timestamp: int
    keyframe: bool
    packets: list  # the av.Packets, for the recorder (muxed without re-encoding)


class VideoEncoder:
    """VP8 (libvpx) or H.264 (libx264, constrained baseline), real-time settings.

    A keyframe at least every ``keyframe_interval`` seconds, and on :meth:`encode` with
    ``keyframe=True``. The picture size follows the input (the codec is reopened).
    """

    def __init__(self, codec: str, bitrate: int = 1_500_000, fps: int = 30, keyframe_interval: float = 2.0,
                 threads: int = 1):
        if codec not in VIDEO_CODECS:
            raise ValueError(f"unknown video codec {codec!r}")
        self.codec = codec
        self.bitrate = bitrate
        self.fps = fps
        self.gop = max(1, int(fps * keyframe_interval))
        self.threads = threads
        self._ctx: av.VideoCodecContext | None = None
        self._picture_id = random.randint(0, (1 << 15) - 1)
        self.frames = 0
        self.keyframes = 0

    def _open(self, width: int, height: int) -> av.VideoCodecContext:
        if self.codec == "vp8":
            ctx = av.CodecContext.create("libvpx", "w")
            ctx.options = {
                "deadline": "realtime", "cpu-used": "-6", "lag-in-frames": "0", "static-thresh": "1",
                "undershoot-pct": "100", "overshoot-pct": "15", "partitions": "0",
                "bufsize": str(self.bitrate), "minrate": str(self.bitrate), "maxrate": str(self.bitrate),
                "error-resilient": "1",
            }
        else:
            ctx = av.CodecContext.create("libx264", "w")
            ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "level": "31"}
            ctx.profile = "Baseline"
        ctx.width = width
        ctx.height = height
        ctx.pix_fmt = "yuv420p"
        ctx.bit_rate = self.bitrate
        ctx.time_base = _TB_90K
        ctx.framerate = fractions.Fraction(self.fps, 1)
        ctx.gop_size = self.gop
        ctx.thread_count = self.threads
        return ctx

    def encode(self, frame: av.VideoFrame, keyframe: bool = False) -> EncodedFrame | None:
        """Encode one frame (``pts`` in a 90 kHz time base). Thread-safe per encoder only."""
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        if self._ctx is None or self._ctx.width != frame.width or self._ctx.height != frame.height:
            self._ctx = self._open(frame.width, frame.height)
            keyframe = True
        frame.pict_type = av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        packets = list(self._ctx.encode(frame))
        if not packets:
            return None
        data = b"".join(bytes(p) for p in packets)
        is_key = any(p.is_keyframe for p in packets)
        if self.codec == "vp8":
            payloads = libinternals.vp8_payloads(data, self._picture_id)
            self._picture_id = (self._picture_id + 1) % (1 << 15)
        else:
            payloads = libinternals.h264_payloads(data)
        self.frames += 1
        self.keyframes += is_key
        pts = packets[0].pts if packets[0].pts is not None else frame.pts
        return EncodedFrame(payloads, int(pts) & 0xFFFFFFFF, is_key, packets)

    @property
    def size(self) -> tuple[int, int] | None:
        return (self._ctx.width, self._ctx.height) if self._ctx else None


OPUS_FRAME_MS = 40
"""Audio per Opus packet. 40 ms, not WebRTC's usual 20: half the packets to every viewer (an
eighth of all the fan-out's datagrams at 720p), and in Chromium less delay, not more: its
jitter buffer held 30-39 ms of audio against 36-38 ms with 20 ms packets, and the picture
and the sound played within 7-16 ms of each other against 17-34 (``getStats()``, measured
in docs/decisions.md, "Opus at 40 ms a packet"). Opus allows packets of 2.5 to 120 ms
(RFC 6716) and every receiver decodes them; the SDP's ``ptime`` is only a preference."""
_OPUS_SAMPLES = 48 * OPUS_FRAME_MS


class OpusEncoder:
    """Opus at 48 kHz stereo, :data:`OPUS_FRAME_MS` per packet; input of any rate/layout is resampled."""

    def __init__(self, bitrate: int = 64_000):
        self._ctx = av.CodecContext.create("libopus", "w")
        self._ctx.sample_rate = 48_000
        self._ctx.layout = "stereo"
        self._ctx.format = "s16"
        self._ctx.bit_rate = bitrate
        self._ctx.time_base = _TB_48K
        self._ctx.options = {"frame_duration": str(OPUS_FRAME_MS)}
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=48_000, frame_size=_OPUS_SAMPLES)
        self._next_pts: int | None = None

    def encode(self, frame: av.AudioFrame, pts: int) -> list[EncodedFrame]:
        """Encode ``frame``; ``pts`` is its start in 48 kHz units on the channel clock."""
        out = []
        if self._next_pts is None or pts - self._next_pts > 48_000 // 5:
            self._next_pts = pts  # first frame, or a gap: resync forward (never back) to the channel clock
        for f in self._resampler.resample(frame):
            f.pts = self._next_pts
            f.time_base = _TB_48K
            self._next_pts += f.samples
            for p in self._ctx.encode(f):
                ts = int(p.pts if p.pts is not None else f.pts) & 0xFFFFFFFF
                out.append(EncodedFrame([bytes(p)], ts, True, [p]))
        return out
