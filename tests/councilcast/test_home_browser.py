"""What a person sees on the home page, in a real headless Chromium."""

import pytest

pytestmark = pytest.mark.browser


async def test_home_page_in_chromium(server, browser):
    page = await browser.new_page(viewport={"width": 390, "height": 844})  # a phone
    await page.goto(server.url + "/")
    assert await page.title() == "councilcast: the linked assemblies"
    heading = page.get_by_role("heading", level=1)
    assert await heading.inner_text() == "The linked assemblies"
    # Readable on a phone: nothing wider than the screen.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await page.goto(server.url + "/definitely-missing")
    assert "Not found" in await page.inner_text("h1")


async def test_home_page_says_what_is_live_now_and_its_cards_are_links(server, browser):
    page = await browser.new_page(viewport={"width": 360, "height": 740})
    await page.goto(server.url + "/")
    assert "Nothing is live" in await page.inner_text("[data-live-now]")
    async with server.session.post(server.api("/api/sessions"), headers=server.secretariat,
                                   json={"body": "central-council", "title": "Council: weekly session"}) as r:
        sid = (await r.json())["id"]
    async with server.session.post(server.api(f"/api/sessions/{sid}/open"), headers=server.secretariat) as r:
        assert r.status == 200
    async with server.session.post(server.api("/api/rounds"), headers=server.secretariat,
                                   json={"title": "Adopt the housing programme", "options": ["yes", "no"],
                                         "duration_s": 60}) as r:
        rid = (await r.json())["id"]
    await page.goto(server.url + "/")
    live = await page.inner_text("[data-live-now]")
    assert "Nothing is live" not in live and "Council: weekly session" in live
    assert await page.get_attribute(f"[data-live-session='{sid}'] a", "href") == f"/sessions/{sid}"
    assert await page.get_attribute(f"[data-live-session='{sid}'] a >> nth=1", "href") == "/watch/council"
    assert await page.get_attribute(f"[data-live-round='{rid}'] a", "href") == f"/rounds/{rid}"
    hrefs = await page.eval_on_selector_all(".home-cards a.card-link", "els => els.map(e => e.getAttribute('href'))")
    assert hrefs == ["/live", "/sessions", "/rounds", "/assemblies", "/plan/variants"]
    for href in hrefs:  # every card leads to a page that exists
        async with server.session.get(server.url + href) as r:
            assert r.status == 200, href
    await page.click(".home-cards a[href='/sessions']")
    await page.wait_for_url(server.url + "/sessions")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
