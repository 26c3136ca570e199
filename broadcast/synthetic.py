"""The synthetic camera: a moving test pattern with a burnt-in clock, and a tone.

Every frame carries the wall-clock time at which it was made twice: as text for people
(``HH:MM:SS.mmm`` UTC) and as a machine-readable bar code for measurement. The bar code
is a row of :data:`CLOCK_BITS` cells across the top-left of the picture, each cell black
(0) or white (1), most significant bit first, holding the Unix time in milliseconds.
:func:`read_clock` reads it back from a decoded frame, so a viewer can compute the
capture-to-decode latency without any side channel.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import threading
import time
from collections.abc import Iterator

import av
import numpy as np

__all__ = ["SyntheticCamera", "ThreadedFrames", "read_clock", "CLOCK_BITS", "VIDEO_CLOCK", "AUDIO_RATE", "SIZE_LIMITS"]

CLOCK_BITS = 48
SIZE_LIMITS = {"width": (2 * CLOCK_BITS, 1920), "height": (64, 1080)}
"""The picture sizes the camera makes (even numbers only): at least two pixels per bar-code
cell across, and up to 1080p. VP8 and H.264 encode anything from 64x64 up; below 96 pixels
the clock would not fit in the picture."""
VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_SAMPLES = 960  # 20 ms
_TB_VIDEO = fractions.Fraction(1, VIDEO_CLOCK)
_TB_AUDIO = fractions.Fraction(1, AUDIO_RATE)


def _cell(width: int) -> int:
    """Width in pixels of one bar-code cell: the code spans at most 3/4 of the picture."""
    return max(2, (width * 3 // 4) // CLOCK_BITS)


def _stamp_clock(y: np.ndarray, ms: int) -> None:
    """Write ``ms`` as a bar code into the top rows of the luma plane ``y`` (in place)."""
    cell = _cell(y.shape[1])
    rows = max(4, cell)
    bits = [(ms >> (CLOCK_BITS - 1 - i)) & 1 for i in range(CLOCK_BITS)]
    strip = np.repeat(np.array(bits, dtype=np.uint8) * 235 + 16, cell)
    y[:rows, : strip.size] = strip


def read_clock(frame: av.VideoFrame) -> int | None:
    """The Unix time in ms stamped into a decoded frame by the camera, or None if unreadable."""
    y = frame.to_ndarray(format="gray") if frame.format.name != "gray" else frame.to_ndarray()
    cell = _cell(y.shape[1])
    rows = max(4, cell)
    band = y[rows // 4: rows - rows // 4, : cell * CLOCK_BITS].astype(np.int32)
    if band.shape[1] < cell * CLOCK_BITS:
        return None
    centres = band[:, cell // 2:: cell][:, :CLOCK_BITS].mean(axis=0)
    bits = (centres > 125).astype(np.int64)
    value = 0
    for b in bits:
        value = (value << 1) | int(b)
    now = time.time() * 1000
    return value if abs(value - now) < 3_600_000 else None


class SyntheticCamera:
    """Makes timestamped frames on demand: video (``yuv420p``) and a 440 Hz tone.

    It does not run by itself: :meth:`video_frames` is a source the programme draws on its
    encoder thread, :meth:`audio_frames` a paced async generator; whoever puts the camera on
    air starts and stops them.
    """

    def __init__(self, name: str, width: int = 1280, height: int = 720, fps: int = 30,
                 tone_hz: float = 440.0):
        for key, v in (("width", width), ("height", height)):
            lo, hi = SIZE_LIMITS[key]
            if not lo <= v <= hi or v % 2:
                raise ValueError(f"{key} must be an even number in [{lo}, {hi}], got {v}")
        self.name = name
        self.width = width
        self.height = height
        self.fps = fps
        self.tone_hz = tone_hz
        self._t0 = time.time()
        # A diagonal ramp twice as wide as the picture; each frame shows a moving window.
        xs = np.arange(width * 2, dtype=np.int32)
        ys = np.arange(height, dtype=np.int32)[:, None]
        self._ramp = ((xs[None, :] + ys) % 220 + 16).astype(np.uint8)
        uv = np.arange(width, dtype=np.int32)
        self._u = np.tile(((uv[: width // 2] * 255) // (width // 2)).astype(np.uint8), (height // 2, 1))
        self._v = np.tile(((np.arange(height // 2)[:, None] * 255) // (height // 2)).astype(np.uint8),
                          (1, width // 2))
        self._font = None
        self._phase = 0.0

    # -- video ---------------------------------------------------------------------
    def make_video_frame(self, index: int, now: float | None = None) -> av.VideoFrame:
        """Frame ``index``, stamped with ``now`` (Unix seconds; default: the current time)."""
        now = time.time() if now is None else now
        w, h = self.width, self.height
        shift = (index * 8) % w
        y = np.empty((h * 3 // 2, w), dtype=np.uint8)
        y[:h] = self._ramp[:, shift: shift + w]
        # A white box crossing the picture, so motion is obvious to a person too.
        bx = int((index * 6) % max(1, w - h // 4))
        by = h // 2 - h // 8
        y[by: by + h // 4, bx: bx + h // 4] = 235
        # The chroma planes follow the luma plane in one buffer (h/2 x w/2 bytes each; when h
        # is not a multiple of 4, a plane starts in the middle of a row of the array).
        flat, n = y.reshape(-1), self._u.size
        flat[h * w: h * w + n] = self._u.reshape(-1)
        flat[h * w + n:] = self._v.reshape(-1)
        ms = int(now * 1000)
        self._draw_text(y, f"{self.name}  {time.strftime('%H:%M:%S', time.gmtime(now))}.{ms % 1000:03d} UTC")
        _stamp_clock(y, ms)
        frame = av.VideoFrame.from_ndarray(y, format="yuv420p")
        frame.pts = int(round((now - self._t0) * VIDEO_CLOCK))
        frame.time_base = _TB_VIDEO
        return frame

    def _draw_text(self, y: np.ndarray, text: str) -> None:
        from PIL import Image, ImageDraw, ImageFont

        size = max(10, self.height // 15)
        if self._font is None:
            self._font = ImageFont.load_default(size=size)
        img = Image.new("L", (min(self.width, size * len(text)), size + size // 2), 16)
        ImageDraw.Draw(img).text((size // 4, size // 8), text, font=self._font, fill=235)
        arr = np.asarray(img)
        top = max(4, _cell(self.width)) + size // 2
        hh, ww = arr.shape
        hh = min(hh, self.height - top)
        ww = min(ww, self.width)
        y[top: top + hh, :ww] = arr[:hh, :ww]

    def video_frames(self) -> "ThreadedFrames":
        """The camera's video as a source drawn on the programme's encoder thread
        (:meth:`broadcast.program.Program.start`), paced there by the wall clock."""
        return ThreadedFrames(self)

    # -- audio ---------------------------------------------------------------------
    def make_audio_frame(self, index: int) -> av.AudioFrame:
        """20 ms of a stereo tone (s16, 48 kHz); the tone beeps for 100 ms every second."""
        n = np.arange(AUDIO_SAMPLES) + index * AUDIO_SAMPLES
        t = n / AUDIO_RATE
        loud = np.where((t % 1.0) < 0.1, 0.3, 0.05)
        wave = (np.sin(2 * math.pi * self.tone_hz * t) * loud * 32767).astype(np.int16)
        stereo = np.repeat(wave, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * AUDIO_SAMPLES
        frame.time_base = _TB_AUDIO
        return frame

    async def audio_frames(self):
        period = AUDIO_SAMPLES / AUDIO_RATE
        start = time.monotonic()
        index = 0
        while True:
            delay = start + index * period - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:
                index = int((time.monotonic() - start) / period)
            yield self.make_audio_frame(index)
            index += 1


class ThreadedFrames:
    """The camera's frames, made on the thread that encodes them.

    :class:`broadcast.program.Program` runs :meth:`frames` on its encoder thread, so drawing,
    encoding and the hand-over of the encoded frame take one trip through the event loop
    between them, not three: during a join storm the loop's queue of ready callbacks holds
    tens of milliseconds of work, and every trip waited behind all of it (the camera ran at
    9.6 fps with the loop 90 % busy that way, against 30 now; docs/broadcast.md, "Storms").
    """

    def __init__(self, camera: SyntheticCamera):
        self.camera = camera

    def frames(self, stop: threading.Event) -> Iterator[av.VideoFrame]:
        """Frames at the camera's fps until ``stop`` is set; late frames are skipped, not
        queued (more than 3 frames behind: skip ahead rather than burst)."""
        period = 1.0 / self.camera.fps
        start = time.monotonic()
        index = 0
        while not stop.is_set():
            delay = start + index * period - time.monotonic()
            if delay > 0:
                if stop.wait(delay):
                    return
            elif delay < -3 * period:
                index = int((time.monotonic() - start) / period)
            yield self.camera.make_video_frame(index)
            index += 1
