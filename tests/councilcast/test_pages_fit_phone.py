"""Every HTML page fits a 360 px phone without sideways scrolling, in a real Chromium (issue 11).

One server and one browser for the whole module, filled through the API with data as long as
real data gets (an assembly with a long name, long option names, a published result with its
hashes, a runoff, a session with an agenda, a speaker and minutes, a recording, plan cards,
tokens for the clerk's and the secretariat's pages, ballot codes). Each page is then opened at
360 x 740 and at 1920 x 1080: the document may not be wider than the viewport, and no element's
edge may pass the viewport's (the first such element of every overflowing branch is named, so a
failure says what to fix). A table that scrolls inside its own container is not sideways
scrolling of the page, but it is allowed only where a page says so (``scrolls``). Full-page
screenshots of both sizes go to the module's temporary folder (``screenshots/``, printed at the
start; COUNCILCAST_SCREENSHOTS=<folder> keeps them elsewhere), as the other browser tests keep
theirs beside their server's data.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from councilcast.app import create_app
from councilcast.config import Config
from tests.conftest import CHROMIUM, CHROMIUM_ARGS, SECRETARIAT_TOKEN, STUDIO_TOKEN, free_port
from tests.voting.helpers import bearer

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 740}
SCREEN = {"width": 1920, "height": 1080}

LONG_GA = "General Assembly of the Energy Works No. 1 “Rosa Luxemburg”, turbine halls and grid maintenance"
OTHER_GA = "Depot 4 GA"
LONG_DELEGATE = "Maria-Magdalena Oyelaran-Świętochowska"
LONG_OPTIONS = ["Variant A: the 35-hour week with the new rolling mill in the northern district",
                "Variant B: the 38-hour week, public transport doubled and the housing programme",
                "Neither: send both variants back to the plan factory with the assemblies' amendments"]
SESSION_TITLE = "Plenary session of the Central Assembly on the draft plan for the coming five years"

# Every element whose box passes the viewport's left or right edge, outside any container that
# clips or scrolls it, reported once per branch (its parent fits); and the containers whose
# content scrolls sideways inside them.
MEASURE = r"""() => {
  const vw = document.documentElement.clientWidth;
  const clips = el => { const o = getComputedStyle(el).overflowX; return o !== 'visible'; };
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    [...el.classList].map(c => '.' + c).join('');
  const path = el => { const parts = []; for (let e = el; e && e !== document.body; e = e.parentElement)
    parts.unshift(name(e)); return parts.slice(-4).join(' > '); };
  const outside = el => { const r = el.getBoundingClientRect();
    return (r.width > 0 || r.height > 0) && (r.right > vw + 0.5 || r.left < -0.5); };
  const inScroller = el => { for (let p = el.parentElement; p && p !== document.body; p = p.parentElement)
    if (clips(p)) return true; return false; };
  const over = [], scrollers = [];
  for (const el of document.body.querySelectorAll('*')) {
    const cs = getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden') continue;
    if (clips(el) && el.clientWidth > 1 && el.scrollWidth > el.clientWidth + 1)
      scrollers.push(path(el));
    if (!outside(el) || inScroller(el)) continue;
    if (el.parentElement && el.parentElement !== document.body && outside(el.parentElement)) continue;
    const r = el.getBoundingClientRect();
    over.push(path(el) + ' [' + Math.round(r.left) + '..' + Math.round(r.right) + ' px] ' +
              JSON.stringify((el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 50)));
  }
  return {vw, scrollWidth: document.documentElement.scrollWidth, over, scrollers};
}"""


@dataclass
class Site:
    url: str
    session: aiohttp.ClientSession
    shots: Path
    phone: object = None
    screen: object = None
    ids: dict = field(default_factory=dict)
    headers: dict = field(default_factory=lambda: {"Authorization": f"Bearer {SECRETARIAT_TOKEN}"})

    async def call(self, method: str, path: str, json=None, token: str | None = None, ok=(200, 201)) -> dict:
        headers = bearer(token) if token else self.headers
        async with self.session.request(method, self.url + path, json=json, headers=headers) as r:
            body = await r.json()
            assert r.status in ok, (method, path, r.status, body)
            return body

    async def until_api(self, path: str, check: Callable[[dict], object], timeout: float = 10.0) -> dict:
        t0 = time.monotonic()
        while not check(body := await self.call("GET", path)):
            assert time.monotonic() - t0 < timeout, (path, body)
            await asyncio.sleep(0.05)
        return body


async def until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` through page.evaluate (the pages' CSP forbids wait_for_function's eval)."""
    t0 = time.monotonic()
    while not await page.evaluate(expression):
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not true within {timeout} s: {expression}")
        await asyncio.sleep(0.05)


async def fill_site(site: Site) -> None:
    """What a working day leaves behind, made through the API as its users would."""
    ids = site.ids
    # the camera on air while the session runs, so that the minutes link into a recording
    await site.call("POST", "/api/channels/central/camera", {"width": 320, "height": 180, "fps": 10})
    await site.call("POST", "/api/plan/variant-sets", {"parameters": {"select": 3}})
    ga = await site.call("POST", "/api/assemblies", {"name": LONG_GA, "members": 120, "workplace": "energy-001"})
    other = await site.call("POST", "/api/assemblies", {"name": OTHER_GA, "members": 60})
    ids.update(ga=ga["id"], ga_token=ga["token"], other_token=other["token"], workplace="energy-001", variant="A")
    d = await site.call("POST", "/api/delegates", {"name": LONG_DELEGATE, "assemblies": [ga["id"], other["id"]]})
    ids["delegate"] = d["id"]

    # a round with long options, counted, closed without a majority: published, and a runoff follows
    r = await site.call("POST", "/api/rounds", {"title": "Which variant of the five-year plan does the Central "
                                                         "Assembly put to the workplaces?",
                                                "options": LONG_OPTIONS, "duration_s": 60})
    await site.call("POST", f"/api/rounds/{r['id']}/tallies", {"present": 110, "abstain": 4, "counts": {
        LONG_OPTIONS[0]: 48, LONG_OPTIONS[1]: 41, LONG_OPTIONS[2]: 17}}, token=ga["token"])
    await site.call("POST", f"/api/rounds/{r['id']}/tallies", {"present": 55, "abstain": 1, "counts": {
        LONG_OPTIONS[0]: 20, LONG_OPTIONS[1]: 30, LONG_OPTIONS[2]: 4}}, token=other["token"])
    await site.call("POST", f"/api/rounds/{r['id']}/close")
    await site.until_api(f"/api/rounds/{r['id']}", lambda x: x["state"] == "published")
    ids["published"] = r["id"]

    # the delegate's record: a roll call on that question, and a recall round that failed
    rc = await site.call("POST", "/api/rollcalls", {"title": "Mandate on the five-year plan variants",
                                                    "options": LONG_OPTIONS[:2], "round": r["id"]})
    await site.call("POST", f"/api/rollcalls/{rc['id']}/votes", {"choice": LONG_OPTIONS[0]}, token=d["token"])
    recall = await site.call("POST", f"/api/delegates/{d['id']}/recall", {"duration_s": 30}, token=other["token"])
    await site.call("POST", f"/api/rounds/{recall['id']}/tallies",
                    {"present": 50, "counts": {"recall": 10, "keep": 40}}, token=other["token"])
    await site.call("POST", f"/api/rounds/{recall['id']}/close")

    # a round still open, with long options: on the live pages, the clerk's page and a ballot
    o = await site.call("POST", "/api/rounds", {"title": "Does the assembly endorse the amended housing programme "
                                                         "of the northern district?",
                                                "options": LONG_OPTIONS[:2], "duration_s": 3600})
    ids["open"] = o["id"]
    codes = await site.call("POST", f"/api/rounds/{o['id']}/ballot-codes", {"count": 3}, token=other["token"])
    ids["codes"] = [c["code"] for c in codes["codes"]]

    # a session: a report, a decision on the published variants (adopted), a debate with the floor given
    s = await site.call("POST", "/api/sessions", {"body": "central-assembly", "title": SESSION_TITLE})
    sid = ids["session"] = s["id"]
    await site.call("POST", f"/api/sessions/{sid}/open")
    items = {}
    for title, kind, extra in (
            ("Report of the plan factory on the published variants and their incompatibilities", "report", {}),
            ("Decision: which variant of the plan is sent to the workplaces", "decision",
             {"variant_set": "latest", "duration_s": 60}),
            ("Debate on the housing programme of the northern district and its supply of building materials",
             "debate", {})):
        item = await site.call("POST", f"/api/sessions/{sid}/items", {"title": title, "kind": kind, **extra})
        items[kind] = item["id"]
    await site.call("POST", f"/api/sessions/{sid}/items/{items['report']}/start")
    ask = await site.call("POST", f"/api/sessions/{sid}/speakers", {}, token=d["token"])
    await site.call("POST", f"/api/sessions/{sid}/speakers/{ask['id']}/grant", {"seconds": 60})
    await site.call("POST", f"/api/sessions/{sid}/speakers/{ask['id']}/done")
    await site.call("POST", f"/api/sessions/{sid}/items/{items['report']}/end")
    v = await site.call("POST", f"/api/sessions/{sid}/items/{items['decision']}/start")
    rid = v["current_item"]["rounds"][0]
    options = (await site.call("GET", f"/api/rounds/{rid}"))["options"]
    for token, n in ((ga["token"], 100), (other["token"], 50)):
        counts = {o: (n * 3 // 5 if o == options[1] else n // (5 * (len(options) - 1))) for o in options}
        await site.call("POST", f"/api/rounds/{rid}/tallies", {"present": sum(counts.values()), "counts": counts},
                        token=token)
    await site.call("POST", f"/api/rounds/{rid}/close")
    await site.until_api(f"/api/sessions/{sid}", lambda v: v["agenda"][1]["outcome"])
    await site.call("POST", f"/api/sessions/{sid}/items/{items['decision']}/end")
    await site.call("POST", f"/api/sessions/{sid}/items/{items['debate']}/start")
    ask = await site.call("POST", f"/api/sessions/{sid}/speakers", {}, token=ga["token"])
    await site.call("POST", f"/api/sessions/{sid}/speakers", {}, token=other["token"])
    await site.call("POST", f"/api/sessions/{sid}/speakers/{ask['id']}/grant", {"seconds": 600})
    await site.call("POST", "/api/sessions", {"body": "central-council", "title": "Council: weekly meeting"})

    # the camera off air: the recording is stored; then on air again for the live pages
    await site.call("DELETE", "/api/channels/central/live")
    recs = await site.until_api("/api/channels/central/recordings", lambda x: x["recordings"])
    ids["recording"] = recs["recordings"][0]["id"]
    await site.call("POST", "/api/channels/central/camera", {"width": 320, "height": 180, "fps": 10})


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory):
    from playwright.async_api import async_playwright

    tmp = tmp_path_factory.mktemp("pages_fit_phone")
    config = Config(db=str(tmp / "councilcast.db"), host="127.0.0.1", port=free_port(),
                    secretariat_token=SECRETARIAT_TOKEN, studio_token=STUDIO_TOKEN,
                    data_dir=str(tmp / "data"),  # the ballot key outside the database's directory, as in production
                    key_file=str(tmp_path_factory.mktemp("pages_fit_phone_keys") / "ballot.key"))
    runner = web.AppRunner(create_app(config), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    shots = Path(os.environ.get("COUNCILCAST_SCREENSHOTS") or tmp / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {shots}")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test, which installs Debian's chromium")
    try:
        async with aiohttp.ClientSession() as session, async_playwright() as pw:
            s = Site(url=f"http://{config.host}:{config.port}", session=session, shots=shots)
            await fill_site(s)
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                phone, screen = await browser.new_context(viewport=PHONE), await browser.new_context(viewport=SCREEN)
                for ctx in (phone, screen):  # the clerk page's "Print ballot codes" would open a print dialog
                    await ctx.add_init_script("window.print = function () {};")
                s.phone, s.screen = await phone.new_page(), await screen.new_page()
                yield s
            finally:
                await browser.close()
    finally:
        await runner.cleanup()


# -- the pages ---------------------------------------------------------------------------------
@dataclass
class Page:
    path: str  # formatted with the site's ids
    ready: str = "true"  # a JS expression true once the page has drawn what it fetches
    then: Callable[[object, Site], Awaitable[None]] | None = None  # what a user does next
    scrolls: tuple[str, ...] = ()  # containers allowed to scroll sideways inside themselves at 360 px
    known: str | None = None  # an overflow reported to whoever owns the page: xfail while it lasts


async def clerk_login(page, site: Site) -> None:
    if not await page.evaluate("localStorage.getItem('councilcast.clerkToken')"):
        await page.fill("input[name=token]", site.ids["ga_token"])
        await page.click("text=Use this token")
    await until(page, "!document.querySelector('[data-clerk-main]').hidden")


async def clerk_codes(page, site: Site) -> None:
    await clerk_login(page, site)
    form = f"[data-codes-form={site.ids['open']}]"
    await until(page, f"document.querySelector('{form} input[name=count]') !== null")
    await page.fill(f"{form} input[name=count]", "6")
    await page.click(f"{form} button")
    await until(page, "document.querySelectorAll('[data-ballot-sheet] .code').length === 6")


async def secretariat_login(page, site: Site) -> None:
    await page.fill("#token-form input[name=token]", SECRETARIAT_TOKEN)
    await page.click("#token-form button[type=submit]")
    await until(page, "document.querySelectorAll('#tokens tbody tr').length > 0 &&"
                      " document.querySelectorAll('#rounds tbody tr').length > 0")


async def cast_ballot(page, site: Site) -> None:
    await page.check("input[name=choice] >> nth=1")
    await page.click("text=Cast my ballot")
    await until(page, "document.querySelector('[data-ballot-done]') !== null")


LIVE = ("document.querySelector('[data-live-round] .live-round-item') !== null &&"
        " document.querySelector('[data-live-session]').textContent.includes('has the floor')")

PAGES: dict[str, Page] = {
    "home": Page("/"),
    "live": Page("/live", LIVE),
    "live council": Page("/live/council", "document.querySelector('[data-live-round] .live-round-item') !== null"),
    "watch": Page("/watch/central"),
    "room": Page("/room/central", LIVE),
    "studio": Page("/studio/central"),
    "recordings": Page("/recordings"),
    "recording": Page("/recordings/{recording}"),
    "sessions": Page("/sessions"),
    "session": Page("/sessions/{session}",  # the floor's countdown drawn from the server clock
                    "/[0-9]:[0-9]/.test(document.querySelector('[data-floor-ends]').textContent)"),
    "minutes": Page("/sessions/{session}/minutes"),
    "rounds": Page("/rounds"),
    "round published": Page("/rounds/{published}"),
    "round open": Page("/rounds/{open}",
                       "document.querySelector('[data-countdown]').textContent.includes('Closes in')"),
    "assemblies": Page("/assemblies"),
    "assembly": Page("/assemblies/{ga}", LIVE + " && document.querySelector('.plan-card') !== null"),
    "assembly room": Page("/assemblies/{ga}/room", LIVE),
    "delegate": Page("/delegates/{delegate}"),
    "report-back sheet": Page("/delegates/{delegate}/report"),
    "clerk": Page("/clerk"),
    "clerk with token": Page("/clerk", then=clerk_codes),
    "ballot": Page("/ballot"),
    "ballot with code": Page("/ballot?code={code0}"),
    "ballot counted": Page("/ballot?code={code_next}", then=cast_ballot),
    "secretariat": Page("/secretariat", then=secretariat_login),
    "plan": Page("/plan"),
    "plan variants": Page("/plan/variants"),
    "plan variant": Page("/plan/variants/{variant}"),
    "workplace cards": Page("/plan/workplaces/{workplace}"),
    "not found": Page("/no-such-page"),
}

_used_codes: list[str] = []


async def open_page(page, site: Site, p: Page) -> None:
    ids = dict(site.ids, code0=site.ids["codes"][0])
    if "{code_next}" in p.path:  # each visit casts a ballot with a code of its own
        ids["code_next"] = site.ids["codes"][1 + len(_used_codes)]
        _used_codes.append(ids["code_next"])
    resp = await page.goto(site.url + p.path.format(**ids))
    assert resp.status == (404 if p.path == "/no-such-page" else 200), p.path
    await until(page, p.ready)
    if p.then:
        await p.then(page, site)
    await page.evaluate("document.fonts.ready.then(() => true)")


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("name", list(PAGES))
async def test_page_fits_a_phone_without_sideways_scrolling(site, name):
    p = PAGES[name]
    slug = name.replace(" ", "_")
    await open_page(site.phone, site, p)
    m = await site.phone.evaluate(MEASURE)
    await site.phone.screenshot(path=str(site.shots / f"{slug}_360.png"), full_page=True)
    assert m["vw"] == PHONE["width"]
    if p.known and (m["scrollWidth"] > PHONE["width"] or m["over"]):
        pytest.xfail(p.known)
    assert m["scrollWidth"] <= PHONE["width"] and not m["over"], \
        f"{name} is {m['scrollWidth']} px wide at 360 px; past the edge:\n" + "\n".join(m["over"])
    unexpected = [s for s in m["scrollers"] if not any(s.endswith(allowed) for allowed in p.scrolls)]
    assert not unexpected, f"{name}: content scrolls sideways inside {unexpected}"

    await open_page(site.screen, site, p)
    m = await site.screen.evaluate(MEASURE)
    await site.screen.screenshot(path=str(site.shots / f"{slug}_1920.png"), full_page=True)
    assert m["scrollWidth"] <= SCREEN["width"] and not m["over"], \
        f"{name} is {m['scrollWidth']} px wide at 1920 px; past the edge:\n" + "\n".join(m["over"])


def test_every_html_page_of_the_routes_is_checked():
    """A new page route must join PAGES (API, media, WebSocket and WHIP/WHEP routes are not pages)."""
    import re

    routes_dir = Path(__file__).resolve().parents[2] / "councilcast" / "routes"
    found = set()
    for f in routes_dir.glob("*.py"):
        found |= set(re.findall(r'@routes\.get\("([^"]+)"', f.read_text()))
    pages = {p for p in found if not p.startswith(("/api/", "/whip", "/whep", "/ws")) and "." not in p}
    checked = {re.sub(r"\{[^}]+\}", "{}", p.path.split("?")[0]) for p in PAGES.values()}
    checked |= {"/watch/{}", "/room/{}", "/studio/{}", "/live/{}"}  # the channel is a name, not an id
    missing = {p for p in pages if re.sub(r"\{[^}]+\}", "{}", p) not in checked}
    assert not missing, f"pages not measured at 360 px: {sorted(missing)}"
