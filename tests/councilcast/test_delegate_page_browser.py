"""The delegate's page in Chromium: a roll call voted from the page after the round, the vote
marked against one assembly's mandate beside both assemblies' shares (issue 12)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from tests.councilcast.test_delegates_api import _decision, _published, call
from tests.voting.helpers import bearer, register, tally

pytestmark = pytest.mark.browser


async def _until(check, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not (value := await check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
    return value


async def test_a_delegate_votes_on_their_page_against_one_mandate(server, browser):
    shots = Path(os.environ.get("COUNCILCAST_SCREENSHOTS") or server.config.data_path.parent / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    steel, textile = await register(server, "Steel works no. 1 GA", 200), await register(server, "Textile works GA", 100)
    st, d = await call(server, "POST", "/api/delegates", server.secretariat,
                       {"name": "R. Luxemburg", "assemblies": [steel["id"], textile["id"]]})
    sid, iid = await _decision(server)
    st, _ = await call(server, "POST", f"/api/delegates/{d['id']}/mandates", bearer(textile["token"]),
                       {"item": iid, "kind": "option", "option": "Variant A"})
    assert st == 201
    # Steel works' clerk gives its mandate on the delegate's page, with the token the clerk page keeps
    clerk = await browser.new_page(viewport={"width": 360, "height": 740})
    await clerk.goto(server.url + f"/delegates/{d['id']}")
    await clerk.evaluate("t => localStorage.setItem('councilcast.clerkToken', t)", steel["token"])
    await clerk.reload()
    form = clerk.locator(f"[data-mandate-form][data-item='{iid}']")
    await _until(lambda: form.is_visible(), what="the mandate form")
    assert "As the clerk of Steel works no. 1 GA" in await clerk.inner_text("[data-mandate-panel]")
    await form.locator("select[name=choice]").select_option("option:Variant B")
    await form.locator("input[name=text]").fill("only if the hours fall")
    await form.locator("button[type=submit]").click()
    await _until(lambda: _has_mandate(server, d["id"], steel["id"]), what="the mandate recorded")
    # the page re-reads its mandates after the answer: wait for the text, not for the database
    await _until(lambda: _text_has(clerk, ".mandates", "mandate of Steel works no. 1 GA: Variant B"),
                 what="the mandate on the page")
    assert await clerk.evaluate("document.documentElement.scrollWidth") <= 360
    await call(server, "POST", f"/api/sessions/{sid}/open", server.secretariat)
    await call(server, "POST", f"/api/sessions/{sid}/items/{iid}/start", server.secretariat)
    rid = (await call(server, "GET", f"/api/sessions/{sid}"))[1]["agenda"][0]["rounds"][0]
    for ga, counts in ((steel, {"Variant A": 31, "Variant B": 69}), (textile, {"Variant A": 62, "Variant B": 38})):
        assert (await tally(server, rid, ga["token"], {"present": 100, "counts": counts}))[0] == 201
    await call(server, "POST", f"/api/rounds/{rid}/close", server.secretariat)
    await _published(server, rid)
    st, rc = await call(server, "POST", "/api/rollcalls", server.secretariat, {"title": "Roll call: which variant?",
                                                                               "item": iid})
    assert st == 201
    page = await browser.new_page(viewport={"width": 360, "height": 740})
    await page.goto(server.url + f"/delegates/{d['id']}")
    assert await page.locator("[data-vote]").first.is_hidden()  # no buttons before the token
    await page.fill("[data-delegate-token] input[name=token]", d["token"])
    await page.click("[data-delegate-token] button[type=submit]")
    await page.click("[data-vote='Variant A']")
    await _until(lambda: page.locator("[data-my-vote]").count(), what="the vote on record")
    assert await page.inner_text("[data-my-vote]") == "Variant A"
    record = await page.inner_text(f"[data-record='{rc['id']}']")
    # 31 + 62 of 200 votes cast = 46.5% -> 46% (Python's round-half-even of 46.5), 69 + 38 = 53.5% -> 54%
    assert "Your assemblies: 46% Variant A · 54% Variant B" in record, record
    assert "You voted Variant A" in record
    assert "Mandate of Steel works no. 1 GA: Variant B · voted against this mandate" in record
    assert "Mandate of Textile works GA: Variant A" in record and record.count("voted against") == 1
    assert "Steel works no. 1 GA: 31% Variant A · 69% Variant B" in record
    assert "Textile works GA: 62% Variant A · 38% Variant B" in record
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.screenshot(path=str(shots / "delegate_360.png"), full_page=True)
    big = await browser.new_page(viewport={"width": 1920, "height": 1080})
    await big.goto(server.url + f"/delegates/{d['id']}")
    await big.screenshot(path=str(shots / "delegate_1920.png"), full_page=True)
    st, rec = await call(server, "GET", f"/api/rollcalls/{rc['id']}")
    assert [(v["delegate"], v["choice"]) for v in rec["votes"]] == [(d["id"], "Variant A")]


async def _has_mandate(server, did, aid):
    st, v = await call(server, "GET", f"/api/delegates/{did}")
    return [(m["option"], m["text"]) for m in v["mandates"] if m["assembly"] == aid] == \
        [("Variant B", "only if the hours fall")]


async def _text_has(page, selector, text):
    return text in await page.inner_text(selector)
