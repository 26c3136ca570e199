"""The live page: the picture's page also follows the current voting round, in Chromium."""

import datetime as dt
import time

import pytest

pytestmark = pytest.mark.browser


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat()


async def test_live_page_shows_the_round_countdown_then_the_result(server, browser):
    async with server.session.post(server.api("/api/assemblies"), headers=server.secretariat,
                                   json={"name": "Depot 4 GA", "members": 50}) as r:
        assert r.status == 201
        ga = await r.json()
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(server.url + "/live")
    await page.wait_for_function("document.querySelector('[data-live-round]').textContent.includes('No voting round')")

    async with server.session.post(server.api("/api/rounds"), headers=server.secretariat,
                                   json={"title": "Adopt variant B?", "options": ["yes", "no"],
                                         "duration_s": 3, "opens_at": iso(time.time() + 1.5)}) as r:
        assert r.status == 201
        rnd = await r.json()
    # The round arrives over /ws without a reload: first scheduled, then open.
    await page.wait_for_function("document.querySelector('[data-live-round]').textContent.includes('Adopt variant B?')")
    await page.wait_for_function(
        "document.querySelector('[data-live-round-state]').textContent.startsWith('Voting: closes in')", timeout=10_000)
    # Nothing is counted on screen while the round is open.
    assert "31" not in await page.inner_text(".live-round-options")

    clerk = {"Authorization": f"Bearer {ga['token']}"}
    async with server.session.post(server.api(f"/api/rounds/{rnd['id']}/tallies"), headers=clerk,
                                   json={"present": 45, "counts": {"yes": 31, "no": 12}, "abstain": 2}) as r:
        assert r.status == 201
    await page.wait_for_function(
        "document.querySelector('.live-round-decision') !== null", timeout=15_000)
    text = await page.inner_text("[data-live-round]")
    assert "Adopted: yes" in text
    assert "43 votes cast" in text  # 31 + 12
    rows = await page.locator(".live-round-options li").all_inner_texts()
    assert [r.split() for r in rows] == [["yes", "31"], ["no", "12"]]


async def _text_contains(page, selector, text, timeout=10.0):
    """Poll from Python (the page's CSP forbids the eval that wait_for_function needs)."""
    import asyncio

    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = await page.inner_text(selector)
        if text in got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"{selector!r} never showed {text!r}: {got!r}")


async def test_live_page_shows_the_session_item_and_who_has_the_floor(server, browser):
    async with server.session.post(server.api("/api/assemblies"), headers=server.secretariat,
                                   json={"name": "Steel works no. 1 GA", "members": 50}) as r:
        ga = await r.json()
    sec = server.secretariat
    async with server.session.post(server.api("/api/sessions"), headers=sec,
                                   json={"body": "central-assembly", "title": "Plenary of December"}) as r:
        s = await r.json()
    async with server.session.post(server.api(f"/api/sessions/{s['id']}/open"), headers=sec) as r:
        assert r.status == 200
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(server.url + "/live")
    await _text_contains(page, "[data-live-session]", "Plenary of December")  # from the hello
    async with server.session.post(server.api(f"/api/sessions/{s['id']}/items"), headers=sec,
                                   json={"title": "Report of the plan factory", "kind": "report"}) as r:
        item = await r.json()
    async with server.session.post(server.api(f"/api/sessions/{s['id']}/items/{item['id']}/start"), headers=sec):
        pass
    await _text_contains(page, "[data-live-session]", "Now: Report of the plan factory")
    async with server.session.post(server.api(f"/api/sessions/{s['id']}/speakers"),
                                   headers={"Authorization": f"Bearer {ga['token']}"}, json={}) as r:
        ask = await r.json()
    async with server.session.post(server.api(f"/api/sessions/{s['id']}/speakers/{ask['id']}/grant"), headers=sec,
                                   json={"seconds": 60}):
        pass
    await _text_contains(page, "[data-live-session]", "Steel works no. 1 GA has the floor")
    left = await _text_contains(page, ".live-session-time", "left")
    minutes, seconds = left.split()[0].split(":")
    assert 55 <= int(minutes) * 60 + int(seconds) <= 60  # counted down from the server clock
    await page.screenshot(path=str(server.config.data_path.parent / "live_session_1280.png"))


async def test_overlapping_rounds_stay_on_screen_and_each_assembly_sees_its_own(server, browser):
    """Issue 11: adopt() let any newer round replace the one a screen followed."""
    sec = server.secretariat
    gas = []
    for name in ("Steel works no. 1 GA", "Depot 4 GA"):
        async with server.session.post(server.api("/api/assemblies"), headers=sec,
                                       json={"name": name, "members": 50}) as r:
            gas.append(await r.json())
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(server.url + f"/assemblies/{gas[0]['id']}")
    await _text_contains(page, "[data-live-round]", "No voting round")

    async def new_round(title, duration, scope=None):
        async with server.session.post(server.api("/api/rounds"), headers=sec,
                                       json={"title": title, "options": ["yes", "no"], "duration_s": duration,
                                             "assemblies": scope}) as r:
            assert r.status == 201
            return await r.json()

    first = await new_round("First question", 60)
    await _text_contains(page, "[data-live-round]", "First question")
    second = await new_round("Second question", 60)
    await new_round("Only for the depot", 60, [gas[1]["id"]])
    text = await _text_contains(page, "[data-live-round]", "Second question")
    assert "First question" in text and "Only for the depot" not in text  # both open, not the other GA's
    async with server.session.post(server.api(f"/api/rounds/{first['id']}/tallies"),
                                   headers={"Authorization": f"Bearer {gas[0]['token']}"},
                                   json={"present": 40, "counts": {"yes": 31, "no": 9}}) as r:
        assert r.status == 201
    async with server.session.post(server.api(f"/api/rounds/{first['id']}/close"), headers=sec) as r:
        assert r.status == 200
    text = await _text_contains(page, "[data-live-round]", "Adopted: yes")
    assert "Second question" in text and "Voting: closes in" in text  # the other round is still being voted
    assert second["id"]


async def test_room_mode_shows_session_and_round_large_without_navigation(server, browser):
    sec = server.secretariat
    async with server.session.post(server.api("/api/assemblies"), headers=sec,
                                   json={"name": "Steel works no. 1 GA", "members": 50}) as r:
        ga = await r.json()
    async with server.session.post(server.api("/api/sessions"), headers=sec,
                                   json={"body": "central-assembly", "title": "Plenary of December"}) as r:
        s = await r.json()
    async with server.session.post(server.api(f"/api/sessions/{s['id']}/open"), headers=sec):
        pass
    async with server.session.post(server.api("/api/rounds"), headers=sec,
                                   json={"title": "Adopt variant B?", "options": ["yes", "no"], "duration_s": 60}):
        pass
    for path in ("/room/central", f"/assemblies/{ga['id']}/room"):
        for width, height in ((1920, 1080), (360, 740)):
            page = await browser.new_page(viewport={"width": width, "height": height})
            await page.goto(server.url + path)
            await _text_contains(page, "[data-live-session]", "Plenary of December")
            await _text_contains(page, "[data-live-round]", "Voting: closes in")
            assert not await page.is_visible(".site-header")  # no navigation in a room
            assert await page.evaluate("document.documentElement.scrollWidth") <= width
            size = await page.evaluate(
                "parseFloat(getComputedStyle(document.querySelector('.live-round-state')).fontSize)")
            if width == 1920:
                assert size >= 48  # the countdown read from the back of the room
                await page.screenshot(path=str(server.config.data_path.parent / f"room_{width}.png"))
            await page.close()
    async with server.session.get(server.api("/assemblies/ga-nope/room")) as r:
        assert r.status == 404
