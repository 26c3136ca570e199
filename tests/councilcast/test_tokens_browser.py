"""The console's token controls in a real Chromium against the real API."""

import asyncio
import json
import time

import pytest

from tests.conftest import SECRETARIAT_TOKEN, STUDIO_TOKEN
from tests.voting.helpers import bearer

pytestmark = pytest.mark.browser

ANSWER = "document.getElementById('answer').textContent"


async def until(page, expression: str, timeout: float = 10.0) -> None:
    """Poll ``expression`` with page.evaluate (the DevTools protocol, outside the page's CSP,
    which forbids the eval that page.wait_for_function needs) until it is true."""
    t0 = time.monotonic()
    while not await page.evaluate(expression):
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"not true within {timeout} s: {expression}")
        await asyncio.sleep(0.05)


async def answer_json(page) -> dict:
    """The JSON body shown under the answer's first line(s)."""
    text = await page.text_content("#answer")
    return json.loads(text[text.index("\n{") + 1:])


async def api_status(server, method, path, token) -> int:
    async with server.session.request(method, server.api(path), headers=bearer(token)) as r:
        return r.status


async def test_console_rotates_and_revokes_tokens(server, browser):
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    dialogs = []

    async def accept(dialog):
        dialogs.append(dialog.message)
        await dialog.accept()
    page.on("dialog", accept)
    await page.goto(server.url + "/secretariat")
    await page.fill("#token-form input[name=token]", SECRETARIAT_TOKEN)
    await page.click("#token-form button[type=submit]")
    # the live tokens are listed, never the tokens themselves
    await until(page, "document.querySelectorAll('#tokens tbody tr').length === 2")
    assert SECRETARIAT_TOKEN not in await page.inner_text("#tokens")

    # a studio token for one channel
    form = page.locator('form[data-api="/api/tokens/studio/rotate"]')
    await form.locator("input[name=channel]").fill("central")
    await form.locator("button[type=submit]").click()
    await until(page, f"{ANSWER}.includes('/api/tokens/studio/rotate → 201')")
    scoped = await answer_json(page)
    assert scoped["channel"] == "central" and scoped["role"] == "studio"
    await until(page, "document.querySelector('#tokens tbody tr[data-channel=central]') !== null")
    async with server.session.post(server.api("/whip/elsewhere"), headers={**bearer(scoped["token"]),
                                   "Content-Type": "application/sdp"}, data=b"x") as r:
        assert r.status == 403  # that token is for central only
    assert await api_status(server, "GET", "/api/tokens", STUDIO_TOKEN) == 403  # the studio's own still valid

    # the secretariat's own token: rotated after a confirmation, the console keeps the new one
    await page.locator('form[data-api="/api/tokens/secretariat/rotate"] button').click()
    await until(page, f"{ANSWER}.includes('/api/tokens/secretariat/rotate → 201')")
    assert "Rotate the secretariat's token?" in dialogs[-1]
    rotated = await answer_json(page)
    kept = await page.evaluate("localStorage.getItem('councilcast.secretariat.token')")
    assert kept == rotated["token"] != SECRETARIAT_TOKEN
    assert "kept in this browser" in await page.text_content("#answer")
    assert await api_status(server, "GET", "/api/tokens", SECRETARIAT_TOKEN) == 401
    assert await api_status(server, "GET", "/api/tokens", kept) == 200

    # the console goes on working with the kept token: revoke the channel's studio token
    form = page.locator('form[data-api="/api/tokens/studio"][data-method=DELETE]')
    await form.locator("input[name=channel]").fill("central")
    await form.locator("button[type=submit]").click()
    await until(page, f"{ANSWER}.includes('DELETE /api/tokens/studio → 200')")
    assert await answer_json(page) == {"role": "studio", "channel": "central", "revoked": 1}
    await until(page, "document.querySelector('#tokens tbody tr[data-channel=central]') === null")
    async with server.session.post(server.api("/whip/central"), headers={**bearer(scoped["token"]),
                                   "Content-Type": "application/sdp"}, data=b"x") as r:
        assert r.status == 401


async def test_console_asks_before_revoking_the_secretariat_token(server, browser):
    page = await browser.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    await page.goto(server.url + "/secretariat")
    await page.fill("#token-form input[name=token]", SECRETARIAT_TOKEN)
    await page.click("#token-form button[type=submit]")
    await page.locator('form[data-api="/api/tokens/secretariat"] button').click()
    await page.wait_for_timeout(300)
    assert await page.text_content("#answer") == "(no call yet)"  # dismissed: nothing was sent
    assert await api_status(server, "GET", "/api/tokens", SECRETARIAT_TOKEN) == 200
