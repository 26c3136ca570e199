"""The secretariat's console, driven in a real Chromium against the real API."""

import asyncio
import json

import pytest

from tests.conftest import SECRETARIAT_TOKEN

pytestmark = pytest.mark.browser


async def test_console_registers_an_assembly_and_opens_a_round(server, browser):
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(server.url + "/secretariat")
    assert await page.inner_text("h1") == "Secretariat console"
    await page.fill("#token-form input[name=token]", SECRETARIAT_TOKEN)
    await page.click("#token-form button[type=submit]")
    assert "kept" in await page.inner_text("#token-state")

    form = page.locator('form[data-api="/api/assemblies"]')
    await form.locator("input[name=name]").fill("Depot 4")
    await form.locator("input[name=members]").fill("120")
    await form.locator("button[type=submit]").click()
    await page.wait_for_function("document.getElementById('answer').textContent.includes('→ 201')")
    shown = await page.text_content("#answer")
    body = json.loads(shown.split("\n", 1)[1])
    assert body["name"] == "Depot 4" and body["members"] == 120 and body["token"]

    # The assembly is really registered: the API lists it.
    async with server.session.get(server.api("/api/assemblies"), headers=server.secretariat) as r:
        listed = await r.json()
    names = [a["name"] for a in (listed if isinstance(listed, list) else listed["assemblies"])]
    assert "Depot 4" in names

    form = page.locator('form[data-api="/api/rounds"]')
    await form.locator("input[name=title]").fill("Adopt variant A?")
    await form.locator("textarea[name=options]").fill("yes\nno")
    await form.locator("input[name=duration_s]").fill("60")
    await form.locator("button[type=submit]").click()
    await page.wait_for_function("document.getElementById('answer').textContent.includes('/api/rounds → 201')")
    round_ = json.loads((await page.text_content("#answer")).split("\n", 1)[1])
    assert round_["title"] == "Adopt variant A?"
    assert round_["options"] == ["yes", "no"]
    assert round_["closes_at_ts"] - round_["opens_at_ts"] == pytest.approx(60)
    await page.wait_for_function(
        f"document.querySelector('#rounds tbody').textContent.includes({json.dumps(round_['id'])})")


async def test_console_without_token_gets_the_api_refusal(server, browser):
    page = await browser.new_page()
    await page.goto(server.url + "/secretariat")
    await page.evaluate("localStorage.clear()")
    form = page.locator('form[data-api="/api/assemblies"]')
    await form.locator("input[name=name]").fill("Nobody")
    await form.locator("input[name=members]").fill("10")
    await form.locator("button[type=submit]").click()
    await page.wait_for_function("document.getElementById('answer').textContent.includes('→ 401')")
    assert "Authorization" in await page.text_content("#answer")


async def test_console_publishes_variants_and_puts_them_to_the_vote(server, browser):
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.goto(server.url + "/secretariat")
    await page.fill("#token-form input[name=token]", SECRETARIAT_TOKEN)
    await page.click("#token-form button[type=submit]")
    await page.locator('form[data-api="/api/plan/variant-sets"] button').click()
    await page.wait_for_function("/variant-sets → 20[01]/.test(document.getElementById('answer').textContent)",
                                 timeout=60_000)
    async with server.session.get(server.api("/api/plan/variant-sets/latest")) as r:
        assert r.status == 200
        published = await r.json()
    names = [v["name"] for v in published["variants"]]
    assert 3 <= len(names) <= 5

    await page.locator("#vote-on-variants button").click()
    await page.wait_for_function("document.getElementById('answer').textContent.includes('/api/rounds → 201')")
    round_ = json.loads((await page.text_content("#answer")).split("\n", 1)[1])
    assert round_["options"] == [f"Variant {n}" for n in names]
    assert published["input_hash"].removeprefix("sha256:")[:8] in round_["title"]


async def test_console_registers_delegates_opens_roll_calls_and_elections_and_says_what_happened(server, browser):
    from tests.voting.helpers import register
    ga1, ga2 = await register(server, "Steel works no. 1 GA", 100), await register(server, "Depot 4 GA", 50)
    page = await browser.new_page(viewport={"width": 360, "height": 740})
    await page.goto(server.url + "/secretariat")
    await page.fill("#token-form input[name=token]", SECRETARIAT_TOKEN)
    await page.click("#token-form button[type=submit]")

    async def submit(form, status):
        await form.locator("button[type=submit]").click()
        for _ in range(100):
            if f"→ {status}" in (await page.text_content("#answer")):
                break
            await asyncio.sleep(0.1)
        return await page.inner_text("#answer-text")

    ids = []
    form = page.locator("form[data-delegate-create]")
    for name, assemblies in (("R. Luxemburg", [ga1["id"], ga2["id"]]), ("A. Pannekoek", [ga1["id"]]),
                             ("K. Korsch", [ga2["id"]])):
        await form.locator("input[name=name]").fill(name)
        await form.locator("textarea[name=assemblies]").fill("\n".join(assemblies))
        text = await submit(form, 201)
        assert text.startswith(f"Delegate {name} registered (d-") and "Their token, shown once: " in text, text
        ids.append(text.split("(", 1)[1].split(")", 1)[0])
    listed = await (await server.session.get(server.api("/api/delegates"))).json()
    assert sorted(d["id"] for d in listed["delegates"]) == sorted(ids)
    form = page.locator("form[data-rollcall-create]")
    await form.locator("input[name=title]").fill("Roll call")
    await form.locator("input[name=item]").fill("i-nosuchitem")
    text = await submit(form, 404)
    assert text == "Refused (404): item: no such agenda item.", text
    form = page.locator("form[data-council-create]")
    await form.locator("input[name=title]").fill("Central Council 2027")
    await form.locator("input[name=seats]").fill("2")
    await form.locator("textarea[name=candidates]").fill("\n".join(ids))
    text = await submit(form, 201)
    assert text.startswith("Election ") and text.endswith("open: 2 seats, 3 candidates."), text
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    page.on("dialog", lambda dlg: asyncio.ensure_future(dlg.accept()))
    form = page.locator("form[data-delegate-token]")
    await form.locator("input[name=id]").fill(ids[0])
    text = await submit(form, 201)
    assert text.startswith(f"New token of delegate R. Luxemburg ({ids[0]}), shown once"), text
    token = text.rsplit(": ", 1)[1]
    async with server.session.get(server.api(f"/api/delegates/{ids[0]}")) as r:
        assert r.status == 200
    async with server.session.post(server.api("/api/rollcalls/none/votes"), headers={"Authorization": f"Bearer {token}"},
                                   json={"choice": "yes"}) as r:
        assert r.status == 404  # the new token is a delegate's: past authorization, the roll call is unknown
