"""Record a live session to WebM by muxing the shared encoder's VP8 and Opus packets.

Nothing is encoded again: the packets the viewers get are written as they are. The file
opens at the first VP8 keyframe (so it starts playable), and every timestamp is relative
to that keyframe on the channel clock, so audio and video stay aligned.
"""

from __future__ import annotations

import fractions
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import av

from broadcast.encoding import EncodedFrame

__all__ = ["Recorder", "RecordingInfo"]

log = logging.getLogger(__name__)


@dataclass
class RecordingInfo:
    """What a finished recording is: where, when, how long."""

    path: Path
    started_at: float
    """Wall-clock time (Unix seconds) of the first frame in the file."""
    ended_at: float
    duration_s: float
    bytes: int
    video_frames: int
    audio_packets: int


class Recorder:
    def __init__(self, path: Path, fps: int = 30):
        self.path = Path(path)
        self.fps = fps
        self._out = None
        self._vs = None
        self._as = None
        self._v0: int | None = None  # first video pts (90 kHz)
        self._a0: int | None = None
        self._last_audio = -1
        self.started_at: float | None = None
        self._last_pts_s = 0.0
        self.video_frames = 0
        self.audio_packets = 0
        self.muxed_bytes = 0
        """The packets' bytes muxed so far: the size of the file being written (the file on disk
        lags behind by its write buffer, 256 KiB)."""
        self.failed = False

    def video(self, frame: EncodedFrame, size: tuple[int, int] | None) -> None:
        if self.failed:
            return
        if self._out is None:
            if not frame.keyframe or size is None:
                return
            self._open(size, frame)
        try:
            for p in frame.packets:
                pts = int(p.pts) - self._v0
                p.pts = p.dts = pts
                p.stream = self._vs
                self.muxed_bytes += p.size
                self._out.mux(p)
            self.video_frames += 1
            self._last_pts_s = max(self._last_pts_s, (frame.timestamp - self._v0) / 90_000)
        except Exception:
            log.exception("recording %s failed; the stream goes on without it", self.path)
            self.failed = True

    def audio(self, frame: EncodedFrame) -> None:
        if self._out is None or self.failed or self._as is None:
            return
        try:
            for p in frame.packets:
                pts = int(p.pts) - self._a0
                if pts < 0 or pts <= self._last_audio:
                    continue
                self._last_audio = pts
                p.pts = p.dts = pts
                p.stream = self._as
                self.muxed_bytes += p.size
                self._out.mux(p)
                self.audio_packets += 1
        except Exception:
            log.exception("recording %s: audio failed; video goes on", self.path)
            self._as = None

    def _open(self, size: tuple[int, int], frame: EncodedFrame) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out = av.open(str(self.path), "w", format="webm")
        self._vs = self._out.add_stream("libvpx", rate=self.fps)
        self._vs.width, self._vs.height = size
        self._vs.pix_fmt = "yuv420p"
        self._vs.time_base = fractions.Fraction(1, 1000)
        self._as = self._out.add_stream("libopus", rate=48_000)
        self._as.layout = "stereo"
        self._v0 = int(frame.packets[0].pts)
        self._a0 = self._v0 * 48_000 // 90_000
        self.started_at = time.time()

    def close(self) -> RecordingInfo | None:
        """Finish the file; None when nothing was recorded (no keyframe ever came)."""
        if self._out is None:
            return None
        try:
            self._out.close()
        except Exception:
            log.exception("closing recording %s", self.path)
        self._out = None
        ended = time.time()
        return RecordingInfo(self.path, self.started_at, ended, round(self._last_pts_s, 3),
                             self.path.stat().st_size if self.path.exists() else 0,
                             self.video_frames, self.audio_packets)
