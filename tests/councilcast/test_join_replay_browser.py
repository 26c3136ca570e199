"""A joiner started on the cached frames plays them in Chromium (issue 14).

The server sends a viewer that has just connected the stream's last keyframe and the
frames since, their timestamps squeezed to the current frame's (``broadcast/fanout.py``,
``Sink._replay``). This only helps if a real browser decodes such a burst: every frame
decodable, no picture loss indication asking for a keyframe anyway, and no delay kept
from the burst. At 320x180, 15 fps, a whole 2 s GOP is under the replay limit, so every
joiner here is replayed, and the test can tell a replay from a forced keyframe.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.councilcast.test_srtp_cipher_browser import WHEP_IN_PAGE

pytestmark = pytest.mark.browser

INBOUND = """async () => {
  const stats = await window.__pc.getStats();
  for (const s of stats.values()) if (s.type === "inbound-rtp" && s.kind === "video")
    return {decoded: s.framesDecoded || 0, pli: s.pliCount || 0, keyframes: s.keyFramesDecoded || 0,
            delay: s.jitterBufferDelay || 0, emitted: s.jitterBufferEmittedCount || 0,
            lost: s.packetsLost || 0, nack: s.nackCount || 0};
  return null;
}"""


SHOW = """() => {
  const v = document.createElement("video");
  v.muted = true; v.autoplay = true; v.playsInline = true;
  window.__shown = [];
  const tick = (now, meta) => { window.__shown.push([meta.receiveTime, meta.expectedDisplayTime, meta.rtpTimestamp]);
                                v.requestVideoFrameCallback(tick); };
  v.requestVideoFrameCallback(tick);
  v.srcObject = new MediaStream(window.__pc.getReceivers().map(r => r.track));
  document.body.appendChild(v);
  return true;
}"""
SHOWN = "() => window.__shown.slice(0, 12).map(x => [x[1] - x[0], x[2]])"


async def _video_stats(server) -> dict:
    async with server.session.get(f"{server.url}/api/broadcast/stats") as r:
        program = (await r.json())["channels"]["central"]["program"]
    return {"forced": program["keyframes_forced"]["vp8"], "replays": program["streams"]["vp8"]["replays"]}


async def test_chromium_decodes_a_replayed_start_without_asking_for_a_keyframe(server, browser):
    async with server.session.post(f"{server.url}/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180, "fps": 15}) as r:
        assert r.status == 201, await r.text()
    await asyncio.sleep(0.5)  # the camera's first keyframe is out, and a few frames after it
    before = await _video_stats(server)
    page = await browser.new_page()
    await page.goto(server.url + "/api/health")  # same origin, and no player of its own (/live has one)
    assert await page.evaluate(WHEP_IN_PAGE, server.url + "/whep/central") == 201
    await page.evaluate(SHOW)

    deadline, inbound = time.monotonic() + 20, None
    while time.monotonic() < deadline:
        inbound = await page.evaluate(INBOUND)
        if inbound and inbound["decoded"] >= 30:  # two seconds of pictures
            break
        await asyncio.sleep(0.2)
    assert inbound and inbound["decoded"] >= 30, inbound
    after = await _video_stats(server)

    assert after["replays"] == before["replays"] + 1  # this viewer started on the cached frames
    assert after["forced"] == before["forced"]  # and no keyframe was forced for it
    assert inbound["pli"] == 0, inbound  # Chromium decoded the burst without asking for one
    assert inbound["lost"] == 0 and inbound["nack"] == 0, inbound
    # the burst's age is not kept as delay: frames wait in the jitter buffer well under 200 ms,
    # and the pictures are shown within 200 ms of their arrival (requestVideoFrameCallback)
    assert inbound["delay"] / inbound["emitted"] < 0.2, inbound
    shown = await page.evaluate(SHOWN)
    assert shown and max(d for d, _ in shown) < 200, shown
    await page.close()
