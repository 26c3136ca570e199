"""The recall from the clerk's page in Chromium (issue 12): a second assembly joins the scheduled
recall and brings it forward; after the recall passes, a clerk puts a successor candidate forward;
the delegate page shows the quorum, the turnout and the election, and fits a 360 px phone."""

import os
import time

import pytest

from tests.voting.helpers import bearer, register, tally
from voting.rules import iso

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def _clerk_page(browser, server, token, name):
    page = await browser.new_page(viewport={"width": 360, "height": 740})
    page.on("dialog", lambda d: d.accept())
    await page.goto(server.url + "/clerk")
    await page.fill("input[name=token]", token)
    await page.click("text=Use this token")
    await page.wait_for_selector(f"[data-clerk-assembly]:has-text('{name}')")
    return page


async def test_join_bring_forward_and_nominate_from_the_clerk_page(server, browser, tmp_path):
    s = server.session
    g1, g2 = await register(server, "North GA", 60), await register(server, "South GA", 40)
    async with s.post(server.api("/api/delegates"), headers=server.secretariat,
                      json={"name": "M. Martin", "assemblies": [g1["id"], g2["id"]]}) as r:
        d = await r.json()
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(g1["token"]),
                      json={"duration_s": 600, "opens_at": iso(time.time() + 3600), "nomination_s": 600}) as r:
        assert r.status == 201
        rnd = await r.json()

    clerk = await _clerk_page(browser, server, g2["token"], "South GA")
    line = f"[data-recall-delegate='{d['id']}']"
    await clerk.click(f"{line} button:has-text('Join the recall')")
    await clerk.wait_for_selector("[data-clerk-message].ok:has-text('joined the recall')")
    await clerk.click(f"{line} [data-recall-now]")
    await clerk.wait_for_selector("[data-clerk-message].ok:has-text('brought forward')")
    async with s.get(server.api(f"/api/rounds/{rnd['id']}")) as r:
        assert (await r.json())["state"] == "open"

    # the recall passes: 80 of 100 present (quorum 50), 60 of 80 for recall
    await tally(server, rnd["id"], g1["token"], {"present": 50, "counts": {"recall": 40, "keep": 10}})
    await tally(server, rnd["id"], g2["token"], {"present": 30, "counts": {"recall": 20, "keep": 10}})
    async with s.post(server.api(f"/api/rounds/{rnd['id']}/close"), headers=server.secretariat) as r:
        assert (await r.json())["result"]["recall"]["passed"] is True

    form = f"[data-successor-election='{d['id']}']"
    await clerk.wait_for_selector(form, timeout=10000)  # the page reloads its lists on round.result
    await clerk.fill(f"{form} input[name=candidate]", "A. Pannekoek")
    await clerk.click(f"{form} button:has-text('Put forward')")
    await clerk.wait_for_selector("[data-clerk-message].ok:has-text('A. Pannekoek is a candidate')")
    await clerk.wait_for_selector(f"{form} li:has-text('A. Pannekoek (put forward by South GA)')")
    assert await clerk.evaluate("document.documentElement.scrollWidth") <= 360

    page = await browser.new_page(viewport={"width": 360, "height": 740})
    await page.goto(f"{server.url}/delegates/{d['id']}")
    text = await page.inner_text("main")
    assert "Passed" in text and "turnout 80 of 100 registered members (80.0%), quorum 50% (50): reached" in text
    assert "Asked by North GA" in text and "joined by South GA" in text and "brought forward by South GA" in text
    assert "Election of a successor" in text and "A. Pannekoek put forward by South GA" in text
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    shots = os.environ.get("COUNCILCAST_SCREENSHOTS") or str(tmp_path)
    await page.screenshot(path=os.path.join(shots, "delegate-recall-360.png"), full_page=True)
