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
