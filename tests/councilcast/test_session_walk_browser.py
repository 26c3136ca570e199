"""A whole session walked in Chromium as its users would (issue 11, "Done when").

The secretariat creates the session and its agenda in the console and chairs it from the
session's page; two linked assemblies follow it on their own screens (a phone and a room's
1080p screen) and see the same item, speaker and countdown; one asks for the floor from the
session's page with its clerk's token and is granted it; the decision item opens a round on
the published variants, both clerks send their counts from the clerk page, a member votes with
a one-time code on the ballot page, the round closes and the outcome appears on both screens;
the minutes list it all, with recording links that seek the replay to the item.

Screenshots of each page at 360 and 1920 px go to ``$COUNCILCAST_SCREENSHOTS`` when set (to
look at them), else beside the server's data.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
SCREEN = {"width": 1920, "height": 1080}


async def _json(server, method, path, headers=None, body=None):
    async with server.session.request(method, server.api(path), headers=headers, json=body) as r:
        data = await r.json()
        assert r.status < 300, (path, r.status, data)
        return data


async def _until(check, timeout=15.0, what="condition"):
    """Poll ``check`` (an async function) until it returns a true value (the CSP forbids
    Playwright's string evaluation in wait_for_function, so the waiting happens here)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def _text(page, selector) -> str:
    loc = page.locator(selector)
    return (await loc.first.inner_text()) if await loc.count() else ""


async def _ctx(browser, viewport):
    """A browser context whose waits end in 20 s: a stuck step fails with its name, not the suite's timeout."""
    ctx = await browser.new_context(viewport=viewport)
    ctx.set_default_timeout(20_000)
    return ctx


def _shots(server) -> Path:
    d = Path(os.environ.get("COUNCILCAST_SCREENSHOTS") or server.config.data_path.parent / "screenshots")
    d.mkdir(parents=True, exist_ok=True)
    return d


async def _fits(page, width: int) -> None:
    sw = await page.evaluate("document.documentElement.scrollWidth")
    assert sw <= width, f"{page.url} is {sw} px wide at {width} px"


async def test_a_session_walked_from_creation_to_minutes(server, browser):
    shots = _shots(server)
    sec = server.secretariat
    # The camera is on air on central (so the session is recorded), the plan factory has
    # published its variants, two General Assemblies are registered.
    await _json(server, "POST", "/api/channels/central/camera", sec, {"width": 320, "height": 180, "fps": 10})
    published = await _json(server, "POST", "/api/plan/variant-sets", sec, {"parameters": {"select": 3}})
    variants = [f"Variant {v['name'] if isinstance(v, dict) else v}" for v in published["variants"]]
    assert len(variants) >= 2
    steel = await _json(server, "POST", "/api/assemblies", sec, {"name": "Steel works no. 1 GA", "members": 300})
    textile = await _json(server, "POST", "/api/assemblies", sec, {"name": "Textile works no. 2 GA", "members": 200})
    clinic = await _json(server, "POST", "/api/assemblies", sec, {"name": "Health care works no. 3 GA", "members": 40})

    # -- the secretariat creates the session and its agenda in the console ------------------
    chair_ctx = await _ctx(browser, SCREEN)
    chair = await chair_ctx.new_page()
    chair.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await chair.goto(server.url + "/secretariat")
    await chair.fill("#token-form input[name=token]", sec["Authorization"].split()[1])
    await chair.click("#token-form button[type=submit]")
    create = chair.locator("form[data-session-create]")
    await create.locator("select[name=body]").select_option("central-assembly")
    await create.locator("input[name=title]").fill("Central Assembly: December session")
    await create.locator("button[type=submit]").click()
    row = await _until(lambda: _text(chair, "#sessions tbody tr"), what="the session in the console's list")
    assert "Central Assembly: December session" in row
    sid = await chair.get_attribute("#sessions tbody tr", "data-session-id")
    add = chair.locator("form[data-item-add]")
    # the decision's round lasts 20 s: both clerks' counts and a member's ballot go in through three
    # pages first (5 to 8 s of it on a loaded 2-core machine; 8 s were sometimes not enough)
    for n, (title, kind, extra) in enumerate((
            ("Report of the plan factory", "report", {}),
            ("Which variant of the plan?", "decision", {"variant_set": "latest", "duration_s": "20"})), 1):
        await add.locator("input[name=id]").fill(sid)
        await add.locator("input[name=title]").fill(title)
        await add.locator("select[name=kind]").select_option(kind)
        await add.locator("input[name=variant_set]").fill(extra.get("variant_set", ""))
        await add.locator("input[name=duration_s]").fill(extra.get("duration_s", ""))
        await add.locator("button[type=submit]").click()
        await _until(lambda: chair.evaluate("document.querySelector('#answer').textContent.includes('201')"),
                     what=f"201 for {title}")
        # the answer before says 201 too: the item is in the agenda before its answer is read
        await _until(lambda n=n: _agenda_has(server, sid, n), what=f"{title} in the agenda")
        await _until(lambda t=title: _text_has(chair, "#answer-text", f"added: {t} ("), what=f"the answer for {title}")
        assert (await chair.inner_text("#answer-text")).startswith("Item i-")  # said as a person reads it
    s = await _json(server, "GET", f"/api/sessions/{sid}")
    assert [i["title"] for i in s["agenda"]] == ["Report of the plan factory", "Which variant of the plan?"]
    assert s["agenda"][1]["options"] == variants and s["state"] == "scheduled"
    await chair.screenshot(path=str(shots / "walk_secretariat_1920.png"), full_page=True)

    # -- two assemblies' screens: a phone and a room's screen --------------------------------
    screens = {}
    for a, viewport in ((steel, PHONE), (textile, SCREEN)):
        ctx = await _ctx(browser, viewport)
        page = await ctx.new_page()
        await page.goto(server.url + f"/assemblies/{a['id']}")
        screens[a["id"]] = page
    both = list(screens.values())

    # -- the chair opens the session and starts the report, from the session's page ---------
    await chair.goto(server.url + f"/sessions/{sid}")
    await chair.click("[data-act=open]")
    await _until(lambda: chair.locator("[data-item-act=start]").first.is_visible(), what="the chair's start button")
    assert (await _json(server, "GET", f"/api/sessions/{sid}"))["state"] == "open"
    await chair.locator("[data-item-act=start]").first.click()
    for page in both:
        await _until(lambda p=page: _text(p, ".live-session-item"), what="the current item on an assembly screen")
        assert await _text(page, ".live-session-item") == "Now: Report of the plan factory"

    # -- Steel works asks for the floor from the session's page, with its clerk's token ------
    clerk_ctx = await _ctx(browser, PHONE)
    clerk = await clerk_ctx.new_page()
    await clerk.goto(server.url + "/clerk")
    await clerk.fill("[data-clerk-token-form] input[name=token]", steel["token"])
    await clerk.click("[data-clerk-token-form] button[type=submit]")
    await _until(lambda: _text(clerk, "[data-clerk-assembly]"), what="the clerk page's login")
    await clerk.goto(server.url + f"/sessions/{sid}")
    assert await clerk.locator("[data-chair]").first.is_hidden()  # no chair's buttons without its token
    await clerk.click("[data-ask]")
    await _until(lambda: _text(clerk, ".speakers li"), what="the request on the list")
    assert "Steel works no. 1 GA" in await _text(clerk, ".speakers li")
    await clerk.screenshot(path=str(shots / "walk_session_asker_360.png"), full_page=True)
    await _fits(clerk, 360)
    s = await _json(server, "GET", f"/api/sessions/{sid}")
    assert [(p["who"]["kind"], p["who"]["id"], p["state"]) for p in s["speakers"]] == \
        [("assembly", steel["id"], "waiting")]

    # the chair gives the floor for 45 s
    await chair.reload()
    await chair.fill(f"[data-seconds-for='{s['speakers'][0]['id']}']", "45")
    await chair.click("[data-speaker-act=grant]")
    for page in both:
        await _until(lambda p=page: _text(p, ".live-session-time"), what="the floor's countdown")
        assert await _text(page, ".live-session-speaker") == "Steel works no. 1 GA has the floor"
    # the same countdown on both screens: remaining time referred to one instant of this machine,
    # once each screen's clock rests on its first burst of exchanges (each offset is then within
    # half its best round trip of the truth, the same machine's clock: 100 ms, or that if larger)
    lefts, rtts = [], []
    for page in both:
        await _until(lambda p=page: p.evaluate("CouncilClock.samples() >= CouncilClock.burst"),
                     what="the screen's clock synced")
        left, at, rtt = await page.evaluate(
            "[parseFloat(document.querySelector('.live-session-time').dataset.endsAt) * 1000"
            " - CouncilClock.now(), Date.now(), CouncilClock.rtt()]")
        lefts.append(left + at)
        rtts.append(rtt)
    assert abs(lefts[0] - lefts[1]) < max(100, (rtts[0] + rtts[1]) / 2 + 1), (lefts, rtts)
    granted = (await _json(server, "GET", f"/api/sessions/{sid}"))["speakers"][0]
    assert granted["ends_at_ts"] - granted["granted_at_ts"] == pytest.approx(45)
    texts = [await _text(p, ".live-session-time") for p in both]
    # counted down from 45 s on the server's clock: what is left is what is left now (give or take
    # the second the text is rounded to and the 200 ms between its updates), however long this took
    left_now = granted["ends_at_ts"] - time.time()
    assert all(re.fullmatch(r"0:[0-4]\d left", t) for t in texts), texts
    assert all(left_now - 2 <= int(t[2:4]) <= min(45, left_now + 2) for t in texts), (texts, left_now)
    for a, page in zip((steel, textile), both):
        w = PHONE["width"] if a is steel else SCREEN["width"]
        await page.screenshot(path=str(shots / f"walk_assembly_floor_{w}.png"), full_page=True)
        await _fits(page, w)
    await chair.screenshot(path=str(shots / "walk_session_chair_1920.png"), full_page=True)
    await chair.click("[data-speaker-act=done]")
    # the item's end button is on the page already: wait for the turn's end and for the page that
    # shows it (it reloads on the event), else the next click may land on the page being replaced
    await _until(lambda: _nobody_speaking(server, sid), what="the turn ended")
    await _until(lambda: _gone(chair, ".floor"), what="the chair's page without the floor")
    await _until(lambda: chair.locator("[data-item-act=end]").first.is_visible(), what="end item")
    await chair.click("[data-item-act=end]")

    # -- the decision: a round on the published variants -------------------------------------
    await _until(lambda: chair.locator("[data-item-act=start]").first.is_visible(), what="the decision's start")
    await chair.locator("[data-item-act=start]").first.click()
    item = await _until(lambda: _current_item(server, sid), what="the decision item current")
    rid = item["rounds"][0]
    rnd = await _json(server, "GET", f"/api/rounds/{rid}")
    assert rnd["options"] == variants and rnd["state"] == "open"
    # both clerks send their counts from the clerk page (a page of its own: the session's page
    # reloads on every change of the session)
    # (closing that page while it reloads could hang Playwright: it is left open, unused)
    clerk_ctx = await _ctx(browser, PHONE)
    clerk = await clerk_ctx.new_page()
    counts = {steel["id"]: (250, {variants[0]: 180, variants[1]: 50}, 5),
              textile["id"]: (150, {variants[0]: 90, variants[1]: 40}, 3)}
    for a in (steel, textile):
        await clerk.goto(server.url + "/clerk")
        await clerk.evaluate("t => localStorage.setItem('councilcast.clerkToken', t)", a["token"])
        await clerk.reload()
        form = clerk.locator(f"[data-tally-form='{rid}']")
        await _until(lambda f=form: f.count(), what="the clerk's count form")
        present, votes, abstain = counts[a["id"]]
        await form.locator("input[name=present]").fill(str(present))
        for option, n in votes.items():
            await form.locator(f"[data-option='{option}']").fill(str(n))
        await form.locator("input[name=abstain]").fill(str(abstain))
        await form.locator("button[type=submit]").click()
        await _until(lambda: _text(clerk, "[data-clerk-message].ok"), what="the clerk's receipt")
        assert "stored" in await _text(clerk, "[data-clerk-message]")
    await clerk.screenshot(path=str(shots / "walk_clerk_360.png"), full_page=True)
    await _fits(clerk, 360)
    # a member of the health care works (whose members vote one by one) votes with a one-time code
    code = (await _json(server, "POST", f"/api/rounds/{rid}/ballot-codes",
                        {"Authorization": f"Bearer {clinic['token']}"}, {"count": 1}))["codes"][0]
    code = code["code"] if isinstance(code, dict) else code
    member = await (await _ctx(browser, PHONE)).new_page()
    await member.goto(server.url + f"/ballot?code={code}")
    await member.check(f"input[name=choice][value='{variants[1]}']")
    await member.screenshot(path=str(shots / "walk_ballot_360.png"), full_page=True)
    await member.click("form.ballot button[type=submit]")
    await _until(lambda: _ballot_answered(member), what="the ballot's answer")
    await _fits(member, 360)

    # the round closes at its time; the outcome appears on both screens
    expected_winner = variants[0]
    for page in both:
        await _until(lambda p=page: _text(p, ".live-session-outcome"), timeout=30, what="the outcome on a screen")
        assert await _text(page, ".live-session-outcome") == f"{expected_winner} adopted"
    final = await _json(server, "GET", f"/api/rounds/{rid}")
    totals = final["result"]["totals"]
    assert totals == {variants[0]: 180 + 90, variants[1]: 50 + 40 + 1, **{v: 0 for v in variants[2:]}}
    for a, page in zip((steel, textile), both):
        w = PHONE["width"] if a is steel else SCREEN["width"]
        await page.screenshot(path=str(shots / f"walk_assembly_outcome_{w}.png"), full_page=True)
        await _fits(page, w)
    await chair.reload()
    await chair.click("[data-item-act=end]")
    # a session closes with no item current: the end is through, and on the page, before the close
    await _until(lambda: _no_current_item(server, sid), what="the decision item ended")
    await _until(lambda: _gone(chair, "[data-item-act=end]"), what="the chair's page after the item's end")
    await _until(lambda: chair.locator("[data-act=close]").is_visible(), what="the close button")
    await _json(server, "DELETE", "/api/channels/central/live", sec)  # the recording ends with the camera
    await chair.click("[data-act=close]")
    await _until(lambda: _session_state(server, sid, "closed"), what="the session closed")

    # -- the minutes --------------------------------------------------------------------------
    minutes = await _json(server, "GET", f"/api/sessions/{sid}/minutes")
    report, decision = minutes["items"]
    assert [t["name"] for t in report["speakers"]] == ["Steel works no. 1 GA"]
    assert decision["decision"]["outcome"]["text"] == f"{expected_winner} adopted"
    assert decision["decision"]["totals"] == totals
    assert decision["decision"]["final_hash"] == final["result"]["final_hash"]
    page = await (await _ctx(browser, PHONE)).new_page()
    await page.goto(server.url + f"/sessions/{sid}/minutes")
    text = await page.inner_text("main")
    for needle in ("Report of the plan factory", "Steel works no. 1 GA", f"{expected_winner} adopted",
                   final["result"]["final_hash"][:16], minutes["hash"][:16]):
        assert needle in text, needle
    await page.screenshot(path=str(shots / "walk_minutes_360.png"), full_page=True)
    await _fits(page, 360)
    for ctx_viewport, name in ((SCREEN, "1920"),):
        big = await (await _ctx(browser, ctx_viewport)).new_page()
        await big.goto(server.url + f"/sessions/{sid}/minutes")
        await big.screenshot(path=str(shots / f"walk_minutes_{name}.png"), full_page=True)
    # the decision's recording link seeks the replay to the item's start
    link = decision["recording"]
    assert link and re.fullmatch(r"/recordings/[\w-]+#t=\d+(\.\d+)?", link), link
    t = float(link.split("#t=")[1])
    rec = (await _json(server, "GET", "/api/channels/central/recordings"))["recordings"][0]
    assert t == pytest.approx(decision["started_at_ts"] - rec["started_at"], abs=0.1)
    await page.click(f"a[href='{link}']")
    await _until(lambda: page.evaluate("document.querySelector('video') && document.querySelector('video').currentTime"),
                 what="the replay seeking")
    at = await page.evaluate("document.querySelector('video').currentTime")
    assert at == pytest.approx(t, abs=1.0), (at, t)
    await page.screenshot(path=str(shots / "walk_replay_360.png"), full_page=True)
    await _fits(page, 360)


async def _current_item(server, sid):
    s = await _json(server, "GET", f"/api/sessions/{sid}")
    item = s["current_item"]
    return item if item and item["kind"] == "decision" and item["rounds"] else None


async def _session_state(server, sid, state):
    return (await _json(server, "GET", f"/api/sessions/{sid}"))["state"] == state


async def _agenda_has(server, sid, n):
    return len((await _json(server, "GET", f"/api/sessions/{sid}"))["agenda"]) == n


async def _nobody_speaking(server, sid):  # the session lists those waiting or speaking
    return not [p for p in (await _json(server, "GET", f"/api/sessions/{sid}"))["speakers"] if p["state"] == "speaking"]


async def _no_current_item(server, sid):
    return (await _json(server, "GET", f"/api/sessions/{sid}"))["current_item"] is None


async def _text_has(page, selector, text):
    return text in await _text(page, selector)


async def _gone(page, selector):
    """True once ``selector`` is not on the page (the page replaced by its reload)."""
    return await page.locator(selector).count() == 0


async def _ballot_answered(page):
    text = (await _text(page, "main")).lower()
    return "recorded" in text or "counted" in text
