"""The one error design: domain kinds map to statuses in one place, and a bug stays a 500."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from broadcast.errors import BroadcastError
from councilcast.errors import KIND_STATUS, AuthError, status_for
from councilcast.middleware import error_middleware
from voting.rules import KINDS, VotingError


@pytest.fixture
async def aiohttp_client():
    clients = []

    async def make(app: web.Application) -> TestClient:
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for c in clients:
        await c.close()


def _app(exc: Exception) -> web.Application:
    async def boom(request):
        raise exc

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/api/boom", boom)
    app.router.add_get("/whep/boom", boom)
    return app


async def test_keyerror_from_a_bug_stays_500(aiohttp_client):
    client = await aiohttp_client(_app(KeyError("options")))
    r = await client.get("/api/boom")
    assert r.status == 500
    body = await r.json()
    assert body == {"error": {"field": None, "reason": "internal error"}}  # nothing of the bug leaks


@pytest.mark.parametrize("exc_type", [ValueError, TypeError])
async def test_plain_exceptions_are_not_client_errors(aiohttp_client, exc_type):
    client = await aiohttp_client(_app(exc_type("options: must be a list")))
    assert (await client.get("/api/boom")).status == 500


@pytest.mark.parametrize("kind,status", [("invalid", 400), ("forbidden", 403), ("not_found", 404),
                                         ("conflict", 409)])
async def test_voting_kinds(aiohttp_client, kind, status):
    client = await aiohttp_client(_app(VotingError("round", "some reason", kind)))
    r = await client.get("/api/boom")
    assert r.status == status
    assert (await r.json()) == {"error": {"field": "round", "reason": "some reason"}}


@pytest.mark.parametrize("invalid_token,challenge", [(False, 'Bearer realm="councilcast"'),
                                                     (True, 'Bearer realm="councilcast", error="invalid_token"')])
async def test_auth_error_challenge(aiohttp_client, invalid_token, challenge):
    client = await aiohttp_client(_app(AuthError("unauthorized", "no token", invalid_token=invalid_token)))
    r = await client.get("/api/boom")
    assert r.status == 401 and r.headers["WWW-Authenticate"] == challenge
    assert (await r.json())["error"]["field"] == "Authorization"


async def test_broadcast_not_live_has_retry_after_and_cors(aiohttp_client):
    client = await aiohttp_client(_app(BroadcastError("not_live", "channel", "nothing on air")))
    r = await client.get("/whep/boom")
    assert r.status == 409
    assert r.headers["Retry-After"] == "5"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert (await r.json())["error"]["field"] == "channel"


def test_every_kind_has_a_status():
    assert set(KINDS) <= set(KIND_STATUS)
    assert status_for(BroadcastError("unsupported", "body", "no VP8")) == 406


def test_unknown_kind_is_refused_at_raise_time():
    with pytest.raises(ValueError):
        VotingError("x", "y", "teapot")
