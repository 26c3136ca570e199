"""The /plan page in a real headless Chromium: the fundamental decision and what it implies."""

import pytest

from planfactory.demo import demo_economy

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width,height", [(390, 844), (1920, 1080)])  # a phone, a room's big screen
async def test_plan_page_form_and_implications(server, browser, width, height):
    page = await browser.new_page(viewport={"width": width, "height": height}, java_script_enabled=False)
    await page.goto(server.url + "/plan")
    assert await page.get_by_role("heading", level=1).inner_text() == "The plan factory"
    # today's decision (40 h, 62/18/20) is what the demo economy produces today: feasible
    assert (await page.inner_text("[data-feasible]")).startswith("yes")
    # a longer week, submitted through the form without JavaScript
    await page.fill("input[name=hours]", "46")
    await page.click("button[type=submit]")
    await page.wait_for_load_state()
    assert "hours=46" in page.url
    assert (await page.inner_text("[data-feasible]")).startswith("no")
    items = await page.locator("#impl-h ~ ul li").all_inner_texts()
    assert items and all("above capacity" in t for t in items)
    # the work line shows the hours the decision asks of everyone
    e = demo_economy()
    total = f"{e.workforce * 46 * 46:,.0f}"
    assert total in await page.inner_text("main")
    # every sector has its row; nothing wider than the screen
    assert await page.locator("#sectors-h ~ div table tbody tr").count() == e.n
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    await page.close()
