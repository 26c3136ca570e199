"""Helpers for the voting HTTP/WebSocket tests (real server, real client)."""

from __future__ import annotations

import asyncio
import time

import aiohttp


async def register(server, name="GA", members=100, **extra) -> dict:
    async with server.session.post(server.api("/api/assemblies"), headers=server.secretariat,
                                   json={"name": name, "members": members, **extra}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def new_round(server, options=("A", "B"), duration_s=2.0, **extra) -> dict:
    async with server.session.post(server.api("/api/rounds"), headers=server.secretariat,
                                   json={"title": "Q", "options": list(options), "duration_s": duration_s,
                                         **extra}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def tally(server, rid, token, body) -> tuple[int, dict]:
    async with server.session.post(server.api(f"/api/rounds/{rid}/tallies"), headers=bearer(token),
                                   json=body) as r:
        return r.status, await r.json()


async def get_round(server, rid) -> dict:
    async with server.session.get(server.api(f"/api/rounds/{rid}")) as r:
        assert r.status == 200
        return await r.json()


async def wait_published(server, rid, timeout=10.0) -> dict:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        r = await get_round(server, rid)
        if r["state"] == "published":
            return r
        await asyncio.sleep(0.05)
    raise AssertionError(f"round {rid} not published within {timeout} s")


async def ws_until(ws: aiohttp.ClientWebSocketResponse, predicate, timeout=10.0) -> list[dict]:
    """Read events until one satisfies ``predicate``; return all read, that one last."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive_json()
            seen.append(msg)
            if predicate(msg):
                return seen
