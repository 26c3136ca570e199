"""A channel on air: its sources, its shared encoders, its streams and its recording.

Frames come from one source (the synthetic camera, a WHIP publisher's decoded tracks, or
a relay's pull from an origin). They are stamped with the channel clock (wall-clock time
since the programme started), encoded once per codec that someone watches (VP8 always,
for the recording and most browsers; H.264 only while an H.264 viewer is attached) and
published to the codec's :class:`~broadcast.fanout.Stream`.

A relay's programme can instead be *forwarded* (``upstream``, a
:class:`broadcast.forward.Forwarder`): the origin's VP8 and Opus frames come in encoded
(:meth:`Program.forward_video`, :meth:`Program.forward_audio`) and go to the same streams
as they are; nothing is decoded or encoded, and only the codecs forwarded are offered
(:attr:`Program.codecs`: no H.264, docs/decisions.md). Its keyframe requests go upstream, as
RTCP PLIs through the same gate.

Keyframes: every ``keyframe_interval`` seconds by the encoder, and on request (a viewer
that has just connected, a PLI/FIR, a slow viewer that dropped packets), at most one forced
keyframe per :data:`KEYFRAME_MIN_INTERVAL` (0.5 s) per codec; a request that comes too soon
is kept and served when the interval has passed, so every viewer that connects within it
shares one keyframe. A join storm therefore costs the viewers already watching at most two
extra keyframes a second (docs/broadcast.md, "Joining"). A forwarded programme asks the
origin instead, at most once per 0.5 s, and a keyframe that arrives meanwhile answers the
requests pending.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fractions
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable

import av

from broadcast.encoding import EncodedFrame, OpusEncoder, VideoEncoder
from broadcast.fanout import Stream
from broadcast.recorder import Recorder, RecordingInfo

__all__ = ["Program", "track_frames"]

log = logging.getLogger(__name__)

KEYFRAME_MIN_INTERVAL = 0.5
"""Seconds between two forced keyframes of one codec (scheduled ones come every keyframe_interval)."""
MAX_PENDING = 3
"""Video frames being encoded or encoded and waiting for the event loop to send them. More
are not taken: a source on the encoder thread waits (and skips the frames it is late for), a
source on the loop has its frame skipped, so a busy loop never builds a queue of old frames."""
_TB_90K = fractions.Fraction(1, 90_000)


def _post(loop: asyncio.AbstractEventLoop, callback, *args) -> None:
    """``callback(*args)`` on ``loop`` from any thread; nothing once the loop is closed."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:
        pass


async def track_frames(track) -> AsyncIterator:
    """The frames of an aiortc track until it ends."""
    from aiortc.mediastreams import MediaStreamError

    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        yield frame


class _KeyframeGate:
    def __init__(self):
        self.pending = False
        self.last = 0.0
        self.served = 0
        self.requested = 0

    def request(self) -> None:
        self.pending = True
        self.requested += 1

    def take(self, now: float) -> bool:
        if self.pending and now - self.last >= KEYFRAME_MIN_INTERVAL:
            self.pending = False
            self.last = now
            self.served += 1
            return True
        return False


class Program:
    def __init__(self, name: str, video: AsyncIterator | None, audio: AsyncIterator | None, *,
                 bitrate: int = 1_500_000, fps: int = 30, keyframe_interval: float = 2.0,
                 recorder: Recorder | None = None, on_end: Callable[["Program"], None] | None = None,
                 upstream=None):
        self.name = name
        self.upstream = upstream
        """The relay's :class:`~broadcast.forward.Forwarder` when forwarded, else None (encoded here)."""
        self._video_src = video
        self._audio_src = audio
        self.fps = fps
        self.recorder = recorder
        self.on_end = on_end
        self.t0 = time.time()
        self._gates = {"vp8": _KeyframeGate(), "h264": _KeyframeGate()}
        self.codecs = ("vp8", "opus") if upstream is not None else ("vp8", "h264", "opus")
        """The codecs this programme sends, in the order a viewer is served them when it offers several."""
        vp8_wanted = self.upstream_keyframe_wanted if upstream is not None else self._gates["vp8"].request
        self.streams = {
            "vp8": Stream("vp8", "video", 90_000, vp8_wanted),
            "h264": Stream("h264", "video", 90_000, self._gates["h264"].request),
            "opus": Stream("opus", "audio", 48_000, lambda: None),
        }
        self._encoders = {"vp8": VideoEncoder("vp8", bitrate, fps, keyframe_interval),
                          "h264": VideoEncoder("h264", bitrate, fps, keyframe_interval)}
        self._opus = OpusEncoder()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"encode-{name}")
        self._loop = asyncio.get_event_loop()
        self._slots = threading.Semaphore(MAX_PENDING)
        self._stopping = threading.Event()
        self._video_job: concurrent.futures.Future | None = None
        self._tasks: list[asyncio.Task] = []
        self.encode_seconds = 0.0
        self.frames_in = 0
        self.frames_skipped = 0  # arrived while MAX_PENDING frames were still being encoded or sent
        self.last_frame_at: float | None = None
        self.ended = asyncio.get_event_loop().create_future()
        self.recording: RecordingInfo | None = None
        self.forwarded = {"video": 0, "audio": 0}

    # -- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        if self.upstream is not None:  # forwarded: frames come in when the pull's packets do; stop() ends it
            self.upstream.attach(self)
            return
        loop = asyncio.get_running_loop()
        if hasattr(self._video_src, "frames"):  # drawn on the encoder thread (the synthetic camera)
            self._video_job = self._pool.submit(self._run_threaded_source, loop)
        elif self._video_src is not None:
            self._tasks.append(asyncio.ensure_future(self._pump_video(loop)))
        if self._audio_src is not None:
            self._tasks.append(asyncio.ensure_future(self._pump_audio()))
        if not self._tasks and self._video_job is None:
            self._finish()

    async def stop(self) -> RecordingInfo | None:
        if self.upstream is not None:
            self.upstream.attach(None)
        self._stopping.set()
        if self._video_job is not None:
            try:
                await asyncio.wrap_future(self._video_job)
            except Exception:
                pass
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        for src in (self._video_src, self._audio_src):
            if src is not None and hasattr(src, "aclose"):
                try:
                    await src.aclose()
                except Exception:
                    pass
        self._pool.shutdown(wait=True)
        self._finish()
        return self.recording

    def _finish(self) -> None:
        if self.recorder is not None and self.recording is None:
            self.recording = self.recorder.close()
            self.recorder = None
        if not self.ended.done():
            self.ended.set_result(None)
            if self.on_end is not None:
                self.on_end(self)

    # -- pumps -------------------------------------------------------------------------
    def _encode(self, frame: av.VideoFrame, jobs: list[tuple[str, bool]]) -> list[tuple[str, EncodedFrame | None]]:
        t = time.thread_time()
        out = [(codec, self._encoders[codec].encode(frame, key)) for codec, key in jobs]
        self.encode_seconds += time.thread_time() - t
        return out

    def _encode_and_post(self, frame: av.VideoFrame, now: float, loop: asyncio.AbstractEventLoop) -> None:
        """On the encoder thread: encode ``frame`` for every codec watched, then hand the
        result to the event loop in one callback (:meth:`_publish`), with a slot of
        :data:`MAX_PENDING` taken for it by the caller."""
        jobs = []
        for codec in ("vp8", "h264"):
            if codec == "vp8" or self.streams[codec].sinks:
                jobs.append((codec, self._gates[codec].take(now)))
        try:
            results = self._encode(frame, jobs)
        except BaseException:
            self._slots.release()
            raise
        _post(loop, self._publish, results)

    def _stamp(self, frame: av.VideoFrame) -> float:
        now = time.time()
        frame.pts = int((now - self.t0) * 90_000)
        frame.time_base = _TB_90K
        self.frames_in += 1
        self.last_frame_at = now
        return now

    def _run_threaded_source(self, loop: asyncio.AbstractEventLoop) -> None:
        """The encoder thread's loop for a source drawn there (the synthetic camera's
        :meth:`~broadcast.synthetic.ThreadedFrames.frames`): draw, encode, hand over, for as
        long as the programme runs. When the loop is :data:`MAX_PENDING` frames behind, the
        thread waits and the source skips the frames it is late for: an encoded frame is never
        dropped (the frames after it are coded against it)."""
        try:
            for frame in self._video_src.frames(self._stopping):
                while not self._slots.acquire(timeout=0.1):
                    if self._stopping.is_set():
                        return
                self._encode_and_post(frame, self._stamp(frame), loop)
        except Exception:
            log.exception("video of channel %s failed", self.name)
        finally:
            _post(loop, self._video_ended)

    async def _pump_video(self, loop: asyncio.AbstractEventLoop) -> None:
        """Frames that arrive on the event loop (a WHIP publisher's decoded track) go to the
        encoder thread, which hands each encoded frame back in one callback: the fan-out of
        frame n overlaps the encoding of frame n+1. A frame that arrives while
        :data:`MAX_PENDING` are still being encoded or sent is not encoded (live video skips
        rather than falls behind)."""
        try:
            async for frame in self._video_src:
                now = self._stamp(frame)
                if not self._slots.acquire(blocking=False):
                    self.frames_skipped += 1
                    continue
                job = self._pool.submit(self._encode_and_post, frame, now, loop)
                job.add_done_callback(self._encoder_failed)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("video of channel %s failed", self.name)
        # through the encoder thread: after the frames still being encoded are handed over
        self._pool.submit(_post, loop, self._video_ended)

    def _encoder_failed(self, job: concurrent.futures.Future) -> None:
        exc = job.exception()
        if exc is not None and not self._stopping.is_set():
            log.error("encoding video of channel %s failed", self.name, exc_info=exc)
            _post(self._loop, self._video_ended)

    def _publish(self, results: list[tuple[str, EncodedFrame | None]]) -> None:
        """On the event loop: one encoded frame per codec out to its stream and the recording."""
        self._slots.release()
        if self._stopping.is_set():
            return
        for codec, enc in results:
            if enc is None:
                continue
            try:
                self.streams[codec].publish(enc)
                if codec == "vp8" and self.recorder is not None:
                    self.recorder.video(enc, self._encoders["vp8"].size)
            except Exception:
                log.exception("publishing %s on %s", codec, self.name)

    def _video_ended(self) -> None:
        if not self._stopping.is_set():
            self._finish()  # the picture defines the programme: no video, no programme

    async def _pump_audio(self) -> None:
        try:
            async for frame in self._audio_src:
                pts = int((time.time() - self.t0) * 48_000)
                for enc in self._opus.encode(frame, pts):
                    self.streams["opus"].publish(enc)
                    if self.recorder is not None:
                        self.recorder.audio(enc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("audio of channel %s failed", self.name)
        if self._video_src is None:
            self._finish()

    # -- forwarded frames (a relay) -------------------------------------------------------
    def forward_video(self, frame: EncodedFrame, size: tuple[int, int] | None) -> None:
        """Publish one VP8 frame as the origin encoded it (``size``: the last keyframe's)."""
        now = time.time()
        self.frames_in += 1
        self.last_frame_at = now
        self.forwarded["video"] += 1
        gate = self._gates["vp8"]
        if frame.keyframe:
            gate.pending = False  # this keyframe answers every request made so far
        else:
            self._ask_upstream(now)
        try:
            self.streams["vp8"].publish(frame)
            if self.recorder is not None:
                self.recorder.video(frame, size)
        except Exception:
            log.exception("forwarding video on %s", self.name)

    def forward_audio(self, frame: EncodedFrame) -> None:
        """Publish one Opus packet as the origin encoded it."""
        self.forwarded["audio"] += 1
        try:
            self.streams["opus"].publish(frame)
            if self.recorder is not None:
                self.recorder.audio(frame)
        except Exception:
            log.exception("forwarding audio on %s", self.name)

    def upstream_keyframe_wanted(self) -> None:
        """A viewer (or the forwarder itself) needs a keyframe: ask the origin, through the gate."""
        self._gates["vp8"].request()
        self._ask_upstream(time.time())

    def _ask_upstream(self, now: float) -> None:
        gate = self._gates["vp8"]
        # request_keyframe() is False before the first video packet: the request stays pending
        if gate.pending and now - gate.last >= KEYFRAME_MIN_INTERVAL and self.upstream.request_keyframe():
            gate.take(now)

    # -- figures -----------------------------------------------------------------------
    def stats(self) -> dict:
        return {
            "mode": "forward" if self.upstream is not None else "encode",
            "forwarded": dict(self.forwarded),
            "upstream": self.upstream.stats() if self.upstream is not None else None,
            "frames_in": self.frames_in,
            "frames_skipped": self.frames_skipped,
            "encode_cpu_s": round(self.encode_seconds, 3),
            "encoded": {c: e.frames for c, e in self._encoders.items()},
            "keyframes": {c: e.keyframes for c, e in self._encoders.items()},
            "keyframe_requests": {c: g.requested for c, g in self._gates.items()},
            "keyframes_forced": {c: g.served for c, g in self._gates.items()},
            "streams": {c: {"sinks": len(s.sinks), "packets": s.packets, "frames": s.frames,
                            "fanout_s": round(s.fanout_s, 4), "emitted": s.emitted,
                            "replays": s.replays}
                        for c, s in self.streams.items()},
        }

