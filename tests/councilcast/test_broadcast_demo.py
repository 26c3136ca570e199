"""``councilcast demo``: the synthetic camera is live on ``central`` at 720p and stops cleanly."""

import signal
import sqlite3
import time

import aiohttp
import pytest

from tests.broadcast.peers import Viewer, latency_ms

pytestmark = pytest.mark.slow


async def test_demo_camera_live_then_clean_shutdown(server_process, tmp_path):
    sp = server_process(tmp_path / "demo.db", env={"COUNCILCAST_DEMO": "1"})
    sp.start()
    async with aiohttp.ClientSession() as http:
        async with http.get(sp.url + "/api/channels/central") as r:
            info = await r.json()
        assert info["state"] == "live" and info["source"] == "camera" and info["companion"] == "central-sign"
        v = Viewer(sp.url, "central")
        assert (await v.start(http, kinds=("video",))).status == 201
        frames = await v.frames(3, timeout=30)
        assert (frames[-1].width, frames[-1].height) == (1280, 720)
        assert latency_ms(frames[-1]) is not None
        assert await v.stop(http) == 200
    time.sleep(0.5)
    t0 = time.monotonic()
    sp.proc.send_signal(signal.SIGTERM)
    assert sp.proc.wait(timeout=15) == 0
    assert time.monotonic() - t0 < 10
    rows = sqlite3.connect(tmp_path / "demo.db").execute(
        "SELECT channel, duration_s, video_frames FROM broadcast_recordings ORDER BY channel").fetchall()
    assert [r[0] for r in rows] == ["central", "central-sign"]
    assert all(r[1] > 0.5 and r[2] > 5 for r in rows)
