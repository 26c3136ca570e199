"""The voting pages in a real headless Chromium: synced countdown, clerk form, result."""

import asyncio
import time

import pytest

from tests.voting.helpers import new_round, register, wait_published
from voting.rules import iso

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_countdown_clerk_count_and_result(server, browser):
    g = await register(server, "Depot 4 GA", 40)
    phone = await browser.new_page(viewport={"width": 390, "height": 844})
    screen = await browser.new_page(viewport={"width": 1920, "height": 1080})
    clerk = await browser.new_page(viewport={"width": 390, "height": 844})
    await clerk.add_init_script("window.print = function () {};")
    # the clerk pastes the token once; it stays in localStorage
    await clerk.goto(server.url + "/clerk")
    await clerk.fill("input[name=token]", g["token"])
    await clerk.click("text=Use this token")
    await clerk.wait_for_selector("[data-clerk-assembly]:has-text('Depot 4 GA')")
    assert await clerk.evaluate("localStorage.getItem('councilcast.clerkToken')") == g["token"]
    await clerk.wait_for_function("window.CouncilClock && CouncilClock.synced()")
    rnd = await new_round(server, duration_s=3.0, opens_at=iso(time.time() + 6))
    await asyncio.gather(*(p.goto(f"{server.url}/rounds/{rnd['id']}") for p in (phone, screen)))
    for p in (phone, screen):
        # the first burst of exchanges after connecting, from which the client keeps the
        # lowest-round-trip sample (a single early sample can be slowed by the page's own load)
        await p.wait_for_function("window.CouncilClock && CouncilClock.samples() >= CouncilClock.burst")
        offset, rtt = await p.evaluate("[CouncilClock.offset(), CouncilClock.rtt()]")
        # same machine, same clock: the true offset is zero, so the estimate's error is the
        # offset itself; NTP bounds it by half the round trip, and the bar is 20 ms
        assert abs(offset) <= rtt / 2 + 0.5
        assert abs(offset) < 20
        assert (await p.inner_text("[data-countdown]")).startswith("Opens in 0:0")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await clerk.wait_for_selector("[data-tally-form]")  # the clerk page learnt of the round by /ws
    # both screens switch to "Closes in" together once the server opens the round
    await asyncio.gather(*(p.wait_for_function(
        "document.querySelector('[data-countdown]').textContent.startsWith('Closes in')", timeout=5000)
        for p in (phone, screen)))
    await clerk.fill("[data-tally-form] input[name=present]", "31")
    await clerk.fill("[data-tally-form] input[data-option=A]", "17")
    await clerk.fill("[data-tally-form] input[data-option=B]", "12")
    await clerk.fill("[data-tally-form] input[name=abstain]", "2")
    await clerk.click("text=Send our count")
    await clerk.wait_for_selector("[data-clerk-message].ok")
    assert "Receipt" in await clerk.inner_text("[data-clerk-message]")
    await wait_published(server, rnd["id"])
    # the pages reload on round.result and show the result with the breakdown
    for p in (phone, screen):
        await p.wait_for_selector(".result", timeout=20_000)  # a reload: seconds on a loaded machine
        text = await p.inner_text(".result")
        assert "Adopted: A, 17 of 29 votes cast" in text
        assert "Depot 4 GA" in await p.inner_text("table.breakdown")
