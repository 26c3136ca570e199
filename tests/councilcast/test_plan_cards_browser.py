"""A card fits one phone screen, in a real Chromium."""

import pytest

from planfactory.demo import demo_economy

pytestmark = pytest.mark.browser


async def test_a_card_fits_a_phone_screen_and_reads_without_javascript(server, browser):
    async with server.session.post(server.api("/api/plan/variant-sets"), json={"parameters": {"select": 3}},
                                   headers=server.secretariat) as r:
        assert r.status == 201
    # a revision, so that every line also carries its change since the last version
    from planfactory.formats import to_dict

    e = demo_economy()
    d = to_dict(e)
    d["technical_coefficients"][0][7] *= 0.5
    async with server.session.post(server.api("/api/plan/variant-sets/revise"), json={"economy": d},
                                   headers=server.secretariat) as r:
        assert r.status == 201
    wid = demo_economy().enterprises[0].id
    ctx = await browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                    java_script_enabled=False)
    page = await ctx.new_page()
    resp = await page.goto(f"{server.url}/plan/workplaces/{wid}")
    assert resp.status == 200
    cards = page.locator("article.plan-card")
    assert await cards.count() == 3
    for i in range(3):
        box = await cards.nth(i).bounding_box()
        assert box["width"] <= 360 and box["height"] <= 740, box
        rows = await cards.nth(i).locator("tbody tr").count()
        assert rows == 12
        assert "since last" in await cards.nth(i).inner_text()
    # nothing wider than the screen: no horizontal scrolling
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await ctx.close()
