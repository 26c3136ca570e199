"""The secretariat's and the studio's tokens: configured at start, rotated and revoked through the API.

Real servers on loopback over one SQLite file: in this test's loop (``create_app``) or as
``python -m councilcast serve`` child processes started with ``COUNCILCAST_*_TOKEN``.
"""

from __future__ import annotations

import contextlib

import aiohttp
import pytest
from aiohttp import web

from councilcast.app import GENERATED_TOKENS, create_app
from tests.conftest import SECRETARIAT_TOKEN, STUDIO_TOKEN
from tests.voting.helpers import bearer

SDP = {"Content-Type": "application/sdp"}


@contextlib.asynccontextmanager
async def running(config):
    """The app on ``config`` on a loopback port; yields (base url, app)."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    try:
        yield f"http://{config.host}:{config.port}", app
    finally:
        await runner.cleanup()


async def status(session, method, url, token, **kw) -> int:
    headers = {**(bearer(token) if token else {}), **kw.pop("headers", {})}
    async with session.request(method, url, headers=headers, **kw) as r:
        await r.read()
        return r.status


async def live_tokens(session, url, token) -> list[dict]:
    async with session.get(url + "/api/tokens", headers=bearer(token)) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["tokens"]


async def whip(session, url, channel, token) -> int:
    """The status of a WHIP post with a non-SDP body: 401/403 if the token is refused; past the
    token check, the channel or the offer is refused instead (404, 400)."""
    return await status(session, "POST", f"{url}/whip/{channel}", token, data=b"not sdp", headers=SDP)


async def test_rotate_and_revoke_the_secretariat_token(server):
    s, url = server.session, server.url
    listed = await live_tokens(s, url, SECRETARIAT_TOKEN)
    assert sorted((t["role"], t["channel"], t["label"]) for t in listed) == [
        ("secretariat", None, "configured"), ("studio", None, "configured")]
    assert all(set(t) == {"id", "role", "channel", "label", "created_at"} for t in listed)

    async with s.post(url + "/api/tokens/secretariat/rotate", headers=server.secretariat) as r:
        assert r.status == 201
        rotated = await r.json()
    assert rotated["role"] == "secretariat" and rotated["channel"] is None and len(rotated["token"]) > 30
    assert await status(s, "GET", url + "/api/tokens", SECRETARIAT_TOKEN) == 401  # the old one, at once
    listed = await live_tokens(s, url, rotated["token"])
    assert [(t["role"], t["id"]) for t in listed if t["role"] == "secretariat"] == [("secretariat", rotated["id"])]

    async with s.delete(url + "/api/tokens/secretariat", headers=bearer(rotated["token"])) as r:
        assert r.status == 200 and await r.json() == {"role": "secretariat", "channel": None, "revoked": 1}
    assert await status(s, "GET", url + "/api/tokens", rotated["token"]) == 401
    assert await status(s, "POST", url + "/api/rounds", rotated["token"], json={}) == 401


async def test_studio_tokens_rotate_and_revoke_per_channel(server):
    s, url = server.session, server.url
    async with s.put(url + "/api/channels/council", headers=server.secretariat, json={"title": "Council"}) as r:
        assert r.status in (200, 201), await r.text()
    async with s.post(url + "/api/tokens/studio/rotate", headers=server.secretariat,
                      json={"channel": "council"}) as r:
        assert r.status == 201
        scoped = await r.json()
    assert scoped["role"] == "studio" and scoped["channel"] == "council"
    assert await whip(s, url, "council", scoped["token"]) == 400  # past the token check: the offer is refused
    assert await whip(s, url, "central", scoped["token"]) == 403  # another channel
    assert await whip(s, url, "council", STUDIO_TOKEN) == 400  # the studio's own token is untouched

    async with s.post(url + "/api/tokens/studio/rotate", headers=server.secretariat) as r:
        own = await r.json()
    assert own["channel"] is None
    assert await whip(s, url, "council", STUDIO_TOKEN) == 401
    assert await whip(s, url, "council", own["token"]) == 400
    assert await whip(s, url, "council", scoped["token"]) == 400  # the channel's token survives
    channels = {(t["role"], t["channel"]) for t in await live_tokens(s, url, SECRETARIAT_TOKEN)}
    assert channels == {("secretariat", None), ("studio", None), ("studio", "council")}

    async with s.delete(url + "/api/tokens/studio", headers=server.secretariat, json={"channel": "council"}) as r:
        assert await r.json() == {"role": "studio", "channel": "council", "revoked": 1}
    assert await whip(s, url, "council", scoped["token"]) == 401
    assert await whip(s, url, "council", own["token"]) == 400


async def test_token_routes_refuse_what_they_do_not_do(server):
    s, url = server.session, server.url

    async def refused(method, path, token, body=None) -> tuple[int, str | None]:
        kw = {"json": body} if body is not None else {}
        async with s.request(method, url + path, headers=bearer(token) if token else {}, **kw) as r:
            return r.status, (await r.json())["error"]["field"]

    assert await refused("POST", "/api/tokens/studio/rotate", None) == (401, "Authorization")
    assert await refused("POST", "/api/tokens/studio/rotate", STUDIO_TOKEN) == (403, "Authorization")
    assert await refused("DELETE", "/api/tokens/secretariat", STUDIO_TOKEN) == (403, "Authorization")
    assert await refused("GET", "/api/tokens", STUDIO_TOKEN) == (403, "Authorization")
    assert await refused("POST", "/api/tokens/clerk/rotate", SECRETARIAT_TOKEN) == (404, "role")
    assert await refused("DELETE", "/api/tokens/member", SECRETARIAT_TOKEN) == (404, "role")
    assert await refused("POST", "/api/tokens/secretariat/rotate", SECRETARIAT_TOKEN,
                         {"channel": "central"}) == (400, "channel")
    for bad in ("Central", "", "a" * 41, 7, "../x"):
        assert await refused("POST", "/api/tokens/studio/rotate", SECRETARIAT_TOKEN,
                             {"channel": bad}) == (400, "channel")
    # a misspelt field must not rotate the studio's own token instead of a channel's
    assert await refused("POST", "/api/tokens/studio/rotate", SECRETARIAT_TOKEN,
                         {"chanel": "central"}) == (400, "chanel")
    assert await refused("POST", "/api/tokens/studio/rotate", SECRETARIAT_TOKEN, ["central"]) == (400, None)
    assert await whip(s, url, "central", STUDIO_TOKEN) != 401  # nothing above revoked anything
    assert await status(s, "GET", url + "/api/tokens", SECRETARIAT_TOKEN) == 200


async def test_a_new_configured_token_revokes_the_old_one(server_process, tmp_path):
    """Through the real CLI and the environment variables, three starts on one database."""
    db = tmp_path / "rotate.db"
    first = server_process(db, env={"COUNCILCAST_SECRETARIAT_TOKEN": "secretariat-one",
                                    "COUNCILCAST_STUDIO_TOKEN": "studio-one"})
    first.start()
    async with aiohttp.ClientSession() as s:
        assert await status(s, "GET", first.url + "/api/tokens", "secretariat-one") == 200
        async with s.post(first.url + "/api/tokens/studio/rotate", headers=bearer("secretariat-one"),
                          json={"channel": "central"}) as r:
            scoped = (await r.json())["token"]
    first.stop()

    second = server_process(db, env={"COUNCILCAST_SECRETARIAT_TOKEN": "secretariat-two",
                                     "COUNCILCAST_STUDIO_TOKEN": "studio-two"})
    second.start()
    async with aiohttp.ClientSession() as s:
        assert await status(s, "GET", second.url + "/api/tokens", "secretariat-one") == 401
        assert await status(s, "GET", second.url + "/api/tokens", "secretariat-two") == 200
        assert await whip(s, second.url, "central", "studio-one") == 401
        assert await whip(s, second.url, "central", "studio-two") not in (401, 403)
        assert await whip(s, second.url, "central", scoped) not in (401, 403)  # a channel's token stays
        listed = await live_tokens(s, second.url, "secretariat-two")
    assert sorted((t["role"], t["channel"] or "") for t in listed) == [
        ("secretariat", ""), ("studio", ""), ("studio", "central")]
    second.stop()

    # the same configuration again changes nothing
    third = server_process(db, env={"COUNCILCAST_SECRETARIAT_TOKEN": "secretariat-two",
                                    "COUNCILCAST_STUDIO_TOKEN": "studio-two"})
    third.start()
    async with aiohttp.ClientSession() as s:
        assert [t["id"] for t in await live_tokens(s, third.url, "secretariat-two")] == [t["id"] for t in listed]
    third.stop()


async def test_a_configured_token_replaces_the_generated_one(make_config):
    async with running(make_config(secretariat_token=None, studio_token=None)) as (url, app):
        generated = dict(app[GENERATED_TOKENS])
        assert set(generated) == {"secretariat", "studio"}
        async with aiohttp.ClientSession() as s:
            assert await status(s, "GET", url + "/api/tokens", generated["secretariat"]) == 200
    async with running(make_config(secretariat_token=None, studio_token=None)) as (url, app):
        assert app[GENERATED_TOKENS] == {}  # generated once only
    async with running(make_config(secretariat_token="set-later")) as (url, app):
        async with aiohttp.ClientSession() as s:
            assert await status(s, "GET", url + "/api/tokens", generated["secretariat"]) == 401
            assert await whip(s, url, "central", generated["studio"]) == 401
            assert await status(s, "GET", url + "/api/tokens", "set-later") == 200


async def test_a_revoked_configured_token_is_never_brought_back(make_config, caplog):
    async with running(make_config(secretariat_token="configured-one")) as (url, _):
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/api/tokens/secretariat/rotate", headers=bearer("configured-one")) as r:
                rotated = (await r.json())["token"]
    # restarted with the same (now revoked) setting: it stays revoked, the rotated token works
    async with running(make_config(secretariat_token="configured-one")) as (url, app):
        async with aiohttp.ClientSession() as s:
            assert await status(s, "GET", url + "/api/tokens", "configured-one") == 401
            assert await status(s, "GET", url + "/api/tokens", rotated) == 200
        assert app[GENERATED_TOKENS] == {}
    assert any("was revoked" in rec.getMessage() for rec in caplog.records)


def test_a_configured_token_of_another_role_stops_the_start(make_config):
    with pytest.raises(ValueError, match="another role"):
        create_app(make_config(secretariat_token="same-token", studio_token="same-token"))


async def test_a_token_revoked_through_another_process_stops_working_here_within_the_ttl(tmp_path):
    """Two processes on one database (``serve --workers N``): each caches its lookups. A token
    revoked through one is refused by the other once its entry expires (``CACHE_TTL``), not
    at the other's next restart as before."""
    from councilcast.auth import CACHE_TTL, Auth
    from councilcast.storage import Database

    assert 0 < CACHE_TTL <= 5
    path = tmp_path / "one.db"
    here_db, there_db = Database(path), Database(path)
    here_db.open()
    there_db.open()
    try:
        now = [1000.0]
        here, there = Auth(here_db, clock=lambda: now[0]), Auth(there_db)
        token, rec = await here.issue("clerk", "asm-1")
        assert (await here.lookup(token)) is not None and (await there.lookup(token)) is not None
        assert await there.revoke(token_id=rec.id) == 1
        assert await there.lookup(token) is None  # the revoking process: at once
        assert await here.lookup(token) is not None  # here: still the cached answer, for at most CACHE_TTL
        now[0] += CACHE_TTL - 0.01
        assert await here.lookup(token) is not None
        now[0] += 0.02
        assert await here.lookup(token) is None  # expired: read again, revoked
    finally:
        here_db.close()
        there_db.close()
