"""The replay page in Chromium: its chapters, the #t= it is opened with, the links that seek; the list."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.councilcast.test_recordings import call, camera, in_progress, item, off_air, session_on
from tests.voting.helpers import bearer, register

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIDEO = """() => { const v = document.querySelector('video.bc-replay');
  return {t: v.currentTime, seeked: v.dataset.seekedTo || null, ready: v.readyState, d: v.duration,
          current: (document.querySelector('.bc-chapter a[aria-current]') || {}).textContent || null}; }"""


async def _until(page, predicate, timeout=20.0) -> dict:
    """Poll the video's state from Python until ``predicate`` holds."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        v = await page.evaluate(VIDEO)
        if predicate(v):
            return v
        await asyncio.sleep(0.1)
    raise AssertionError(f"never: {v}")


async def _recording_with_chapters(server) -> tuple[dict, list[dict]]:
    sec = server.secretariat
    ga = await register(server, "Steel works no. 1 GA", 100)
    s = await session_on(server, "Plenary of December")
    sid = s["id"]
    report = await item(server, sid, "Report of the plan factory on the second five-year plan's variants")
    debate = await item(server, sid, "Debate on the variants", "debate")
    await camera(server)
    await in_progress(server)
    await call(server, "POST", f"/api/sessions/{sid}/items/{report['id']}/start", sec)
    await asyncio.sleep(1.5)
    await call(server, "POST", f"/api/sessions/{sid}/items/{report['id']}/end", sec)
    await call(server, "POST", f"/api/sessions/{sid}/items/{debate['id']}/start", sec)
    ask = await call(server, "POST", f"/api/sessions/{sid}/speakers", bearer(ga["token"]), {})
    await asyncio.sleep(0.5)
    await call(server, "POST", f"/api/sessions/{sid}/speakers/{ask['id']}/grant", sec, {"seconds": 60})
    await asyncio.sleep(2.0)
    await call(server, "POST", f"/api/sessions/{sid}/speakers/{ask['id']}/done", sec)
    await asyncio.sleep(1.0)
    await off_air(server)
    rec = (await call(server, "GET", "/api/recordings"))["recordings"][0]
    view = await call(server, "GET", f"/api/recordings/{rec['id']}")
    return rec, view["chapters"]


async def test_replay_page_seeks_to_t_and_to_its_chapters(server, browser):
    rec, chapters = await _recording_with_chapters(server)
    assert [c["title"] for c in chapters] == [
        "Item 1: Report of the plan factory on the second five-year plan's variants",
        "Item 2: Debate on the variants", "Steel works no. 1 GA has the floor"]
    assert rec["duration_s"] > 4
    shots = server.config.data_path.parent
    page = await browser.new_page(viewport={"width": 1920, "height": 1080})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    # Opened with #t=: the page seeks there once the video's metadata is in.
    await page.goto(server.url + f"/recordings/{rec['id']}#t=2.5")
    v = await _until(page, lambda v: v["seeked"] is not None and v["ready"] >= 1)
    assert float(v["seeked"]) == 2.5 and abs(v["t"] - 2.5) < 0.05, v
    items = await page.locator(".bc-chapter").all_inner_texts()
    assert [" ".join(t.split()[1:]) for t in items] == [c["title"] for c in chapters]
    assert [t.split()[0] for t in items] == [c["clock"] for c in chapters]
    # The chapters track is on the video and its cues are loaded.
    cues = await page.evaluate("""() => { const t = [...document.querySelector('video.bc-replay').textTracks]
        .find((x) => x.kind === 'chapters'); return t ? {mode: t.mode, n: t.cues ? t.cues.length : -1} : null; }""")
    assert cues is not None and cues["mode"] != "disabled"
    t0 = time.monotonic()
    while cues["n"] != len(chapters) and time.monotonic() - t0 < 10:
        await asyncio.sleep(0.1)
        cues = await page.evaluate("""() => { const t = [...document.querySelector('video.bc-replay').textTracks]
            .find((x) => x.kind === 'chapters'); return {mode: t.mode, n: t.cues ? t.cues.length : -1}; }""")
    assert cues["n"] == len(chapters), cues

    # A chapter's link seeks to its start (hashchange), and marks it.
    speaker = chapters[2]
    await page.click(".bc-chapter-speaker a")
    v = await _until(page, lambda v: v["seeked"] is not None and abs(float(v["seeked"]) - round(speaker["start"], 1))
                     < 0.001)
    assert abs(v["t"] - round(speaker["start"], 1)) < 0.05
    assert page.url.endswith(f"#t={speaker['start']:.1f}")
    v = await _until(page, lambda v: v["current"] is not None)
    assert "Steel works no. 1 GA has the floor" in v["current"]  # the innermost chapter at that time
    # The fragment changed by hand (or by another page's link): seeks again; M:SS is read too.
    mid = round((chapters[0]["start"] + chapters[0]["end"]) / 2, 1)  # inside the first item
    await page.evaluate(f"() => {{ location.hash = '#t=0:{mid:04.1f}'; }}")
    v = await _until(page, lambda v: v["seeked"] is not None and abs(float(v["seeked"]) - mid) < 1e-6)
    assert abs(v["t"] - mid) < 0.05
    v = await _until(page, lambda v: v["current"] is not None and "Item 1" in v["current"])
    await page.screenshot(path=str(shots / "replay_1920.png"), full_page=True)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1920

    await page.set_viewport_size({"width": 360, "height": 780})
    await page.goto(server.url + f"/recordings/{rec['id']}#t=3")
    v = await _until(page, lambda v: v["seeked"] == "3")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.screenshot(path=str(shots / "replay_360.png"), full_page=True)
    assert errors == []
    await page.close()


async def test_recordings_list_shows_the_recording_in_progress_growing(server, browser):
    await camera(server)
    live = await in_progress(server)
    page = await browser.new_page(viewport={"width": 360, "height": 780})
    await page.goto(server.url + "/recordings")
    row = page.locator(f'[data-recording="{live["id"]}"]')
    text = await row.inner_text()
    assert "Central Assembly" in text and "recording now" in text
    size0 = float((await row.locator("[data-size]").inner_text()).split()[0])
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15:  # polled every 3 s by the page: the size grows without a reload
        await asyncio.sleep(0.5)
        if float((await row.locator("[data-size]").inner_text()).split()[0]) > size0:
            break
    else:
        raise AssertionError("the size never grew on the page")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.screenshot(path=str(server.config.data_path.parent / "recordings_360.png"), full_page=True)
    await page.set_viewport_size({"width": 1920, "height": 1080})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1920
    await page.screenshot(path=str(server.config.data_path.parent / "recordings_1920.png"), full_page=True)
    await off_air(server)
    t0 = time.monotonic()
    while "recording now" in await row.inner_text():
        assert time.monotonic() - t0 < 10, "the stored recording still says recording now"
        await asyncio.sleep(0.3)
    assert await row.get_attribute("data-in-progress") is None
    await page.close()
