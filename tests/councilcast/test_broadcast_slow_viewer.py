"""A viewer that stops reading (its process frozen with SIGSTOP) does not slow the others,
and picks the picture up again when it resumes."""

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.broadcast.peers import Viewer

pytestmark = pytest.mark.slow

FROZEN = Path(__file__).resolve().parent.parent / "broadcast" / "frozen_viewer.py"


async def next_frame_line(proc, timeout: float) -> str:
    async with asyncio.timeout(timeout):
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError("the viewer process ended")
            if line.startswith("FRAME"):
                return line


async def test_frozen_viewer_does_not_slow_the_others(server):
    async with server.session.post(server.url + "/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 160, "height": 120, "fps": 30}) as r:
        assert r.status == 201
    proc = await asyncio.create_subprocess_exec(sys.executable, str(FROZEN), server.url + "/whep/central",
                                                stdout=asyncio.subprocess.PIPE, cwd=str(FROZEN.parents[2]))
    try:
        assert "160x120" in await next_frame_line(proc, 30)
        other = Viewer(server.url, "central")
        assert (await other.start(server.session, kinds=("video",))).status == 201
        await other.frames(3, timeout=20)
        proc.send_signal(signal.SIGSTOP)  # the frozen viewer's socket fills up; packets to it are dropped
        t0 = time.monotonic()
        frames = await other.frames(45, timeout=20)
        elapsed = time.monotonic() - t0
        assert len(frames) == 45 and elapsed < 10  # 30 fps: 1.5 s when nothing slows it
        proc.send_signal(signal.SIGCONT)
        # It resumes: first what its socket kept, then (after a keyframe) new pictures.
        seen = 0
        async with asyncio.timeout(30):
            while seen < 60:
                await next_frame_line(proc, 30)
                seen += 1
        await other.stop(server.session)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            await proc.wait()
