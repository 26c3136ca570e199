"""A programme keeps its frame rate while the event loop is busy (a join storm), and never
drops a frame it has encoded.

The storm is modelled as it measured: a ready queue of callbacks holding tens of
milliseconds of Python work, again and again. Before the camera was drawn on the encoder
thread, each frame took three trips through that queue (camera, encoder, fan-out) and the
camera made 9.6 of its 30 fps with the loop 90 % busy.
"""

import asyncio
import time

from broadcast.encoding import EncodedFrame
from broadcast.program import MAX_PENDING, Program
from broadcast.synthetic import SyntheticCamera


def _busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


class _Watcher:
    """Counts the frames published to a stream."""

    def __init__(self, stream):
        self.frames = 0
        original = stream.publish

        def publish(frame: EncodedFrame):
            original(frame)
            self.frames += 1

        stream.publish = publish


async def _hog(seconds: float, duty: float = 0.9) -> None:
    """Keep the loop ``duty`` busy: 25 callbacks of 2 ms queued at once, then a short idle."""
    loop = asyncio.get_running_loop()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(25):
            loop.call_soon(_busy, 2)
        await asyncio.sleep(0.05 * (1 - duty) / duty)


async def test_the_camera_keeps_30_fps_while_the_loop_is_busy():
    cam = SyntheticCamera("central", 320, 180, 30)
    p = Program("central", cam.video_frames(), None, bitrate=300_000, fps=30)
    watcher = _Watcher(p.streams["vp8"])
    p.start()
    try:
        await asyncio.sleep(1.0)
        f0, t0 = watcher.frames, time.monotonic()
        await _hog(4.0)
        fps = (watcher.frames - f0) / (time.monotonic() - t0)
        assert fps >= 27, f"{fps:.1f} fps with the loop 90 % busy"
    finally:
        await p.stop()


async def test_a_blocked_loop_makes_the_camera_skip_and_loses_no_encoded_frame():
    cam = SyntheticCamera("central", 320, 180, 30)
    p = Program("central", cam.video_frames(), None, bitrate=300_000, fps=30)
    watcher = _Watcher(p.streams["vp8"])
    encoder = p._encoders["vp8"]
    p.start()
    try:
        await asyncio.sleep(0.5)
        before = watcher.frames
        _busy(1000)  # the loop stuck for a second: the encoder thread may run MAX_PENDING ahead
        assert encoder.frames - watcher.frames <= MAX_PENDING
        await asyncio.sleep(0)  # the frames handed over meanwhile go out
        await asyncio.sleep(0.3)
        # the camera skipped the second it could not hand over: no burst of 30 old frames
        assert watcher.frames - before < 30 * 1.5 * 0.5 + MAX_PENDING + 12
        await asyncio.sleep(0.5)
        assert encoder.frames - watcher.frames <= MAX_PENDING  # every frame encoded went out or is on its way
    finally:
        await p.stop()
    assert encoder.frames == watcher.frames, "an encoded frame was dropped: the frames after it would not decode"


async def test_frames_arriving_on_the_loop_faster_than_they_encode_are_skipped_not_queued():
    cam = SyntheticCamera("central", 320, 180, 30)

    async def flood():  # a publisher whose frames arrive with no pacing at all
        for i in range(300):
            yield cam.make_video_frame(i)
            await asyncio.sleep(0)

    p = Program("central", flood(), None, bitrate=300_000, fps=30)
    watcher = _Watcher(p.streams["vp8"])
    p.start()
    await asyncio.wait_for(p.ended, 30)
    await p.stop()
    assert p.frames_in == 300
    assert p.frames_skipped > 0
    assert watcher.frames == p._encoders["vp8"].frames == 300 - p.frames_skipped
