"""Debian's headless Chromium plays the viewer page and publishes from the studio page."""

import asyncio

import pytest

from councilcast.appkeys import BROADCASTER
from tests.broadcast.peers import Viewer
from tests.conftest import STUDIO_TOKEN
from tests.polling import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FRAMES_DECODED = """async () => {
  const p = window.councilcastPlayers.find((x) => x.channel === 'central');
  if (!p || !p.pc) return {frames: 0};
  let out = {frames: 0};
  (await p.pc.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      out.frames = r.framesDecoded || 0; out.width = r.frameWidth; out.height = r.frameHeight; out.codecId = r.codecId;
    }
  });
  out.state = p.state;
  return out;
}"""


async def wait_for(page, script, check, timeout=25.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    value = None
    while loop.time() < end:
        value = await page.evaluate(script)
        if check(value):
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out; last value {value!r}")


async def test_viewer_page_plays_in_chromium(server, browser):
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(server.url + "/watch/central")
    # Nothing on air yet: the page says so and keeps trying by itself.
    await page.wait_for_function("document.querySelector('[data-channel=central]').dataset.state === 'waiting'",
                                 timeout=10000)
    async with server.session.post(server.url + "/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180}) as r:
        assert r.status == 201
    stats = await wait_for(page, FRAMES_DECODED, lambda v: v["frames"] >= 15, timeout=30)
    assert (stats["width"], stats["height"]) == (320, 180)
    assert stats["state"] == "live"
    assert await page.inner_text("[data-channel=central] [data-role=state]") == "live"
    await page.wait_for_function(
        "document.querySelector('[data-channel=central] [data-role=viewers]').textContent === '1'", timeout=10000)
    # A caption posted by the caption source shows up in the live video's captions track.
    async with server.session.post(server.url + "/api/channels/central/captions", headers=server.studio,
                                   json={"text": "The session is open.", "duration": 10}) as r:
        assert r.status == 201
    await page.wait_for_function(
        """() => { const t = document.querySelector('[data-channel=central] video').textTracks[0];
                   return t && t.cues && t.cues.length === 1 && t.cues[0].text === 'The session is open.'; }""",
        timeout=10000)
    # The channel goes off air and comes back: the page reconnects without a reload.
    async with server.session.delete(server.url + "/api/channels/central/live", headers=server.secretariat) as r:
        assert r.status == 200
    await page.wait_for_function(
        "document.querySelector('[data-channel=central]').dataset.state !== 'live'", timeout=30000)
    async with server.session.post(server.url + "/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180}) as r:
        assert r.status == 201
    await wait_for(page, FRAMES_DECODED, lambda v: v["frames"] >= 10 and v["state"] == "live", timeout=30)
    await page.close()
    # the page said goodbye (its DELETE, sent as it closes, reaches the server soon after)
    await until(lambda: server.app[BROADCASTER].stats()["sessions"]["whep"] == 0, what="the viewer's session gone")


async def test_studio_page_publishes_fake_camera(server, browser):
    page = await browser.new_page()
    await page.goto(server.url + "/studio/council")
    await page.fill("input[name=token]", STUDIO_TOKEN)
    await page.click("[data-role=start]")
    await page.wait_for_function("document.querySelector('[data-role=status]').textContent.startsWith('Live')",
                                 timeout=40000)
    v = Viewer(server.url, "council")
    assert (await v.start(server.session)).status == 201
    frames = await v.frames(5, timeout=30)
    assert frames[0].width > 0 and frames[0].height > 0
    await v.stop(server.session)
    await page.click("[data-role=stop]")
    await page.wait_for_function("document.querySelector('[data-role=status]').textContent === 'Not live.'")
    await until(lambda: server.app[BROADCASTER].get("council").state == "ended", what="the channel ended")
    await page.close()


CODEC = """async () => {
  const p = window.councilcastPlayers.find((x) => x.channel === 'central');
  if (!p || !p.pc) return {frames: 0};
  const stats = await p.pc.getStats();
  let out = {frames: 0, mime: null};
  stats.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      out.frames = r.framesDecoded || 0;
      const c = stats.get(r.codecId);
      out.mime = c ? c.mimeType : null;
    }
  });
  return out;
}"""


async def test_chromium_plays_h264_when_it_asks(server, browser):
    async with server.session.post(server.url + "/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180}) as r:
        assert r.status == 201
    page = await browser.new_page()
    await page.goto(server.url + "/watch/central?codec=h264")
    stats = await wait_for(page, CODEC, lambda v: v["frames"] >= 10, timeout=30)
    assert stats["mime"] == "video/H264"
    program = server.app[BROADCASTER].get("central").program
    assert program.stats()["streams"]["h264"]["sinks"] == 1
    await page.close()


async def test_live_page_fits_a_phone(server, browser):
    page = await browser.new_page(viewport={"width": 390, "height": 844})
    await page.goto(server.url + "/live")
    assert await page.inner_text("h1") == "Live: Central Assembly"
    assert await page.locator("[data-whep-player]").count() == 2  # the assembly and its interpreter
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    assert await page.get_attribute("nav a[href='/live']", "aria-current") == "page"
    await page.close()
