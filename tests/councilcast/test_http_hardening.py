"""Issue 10: large bodies parsed off the event loop, read timeouts that spare idle /ws
screens, a roll-call vote with a lone surrogate, and the security headers (with the ballot
code taken out of the URL, checked in Chromium). Real server, real sockets, loopback only.
"""

import asyncio
import json
import socket
import time

import aiohttp
import pytest

from tests.conftest import SECRETARIAT_TOKEN
from tests.voting.helpers import bearer, new_round, register

# -- item 11: a 14 MiB body does not stall the event loop -------------------------------------


async def test_health_answers_while_a_14_mib_body_is_parsed(server):
    # seven million small numbers: the worst case for json's parser (0.6 s on this machine,
    # holding the GIL, so a thread would not help); the solve route reads up to 16 MiB
    body = b'{"pad": [' + b",".join([b"1"] * 7_000_000) + b"]}"
    assert 13 << 20 < len(body) < 16 << 20
    worst, took = [], []
    for _ in range(2):  # the first also starts the parser's worker process
        t0 = time.perf_counter()
        task = asyncio.ensure_future(server.session.post(server.api("/api/plan/solve"), data=body,
                                                         headers={"Content-Type": "application/json"}))
        slowest = 0.0
        while not task.done():
            # the whole turn, its pause included: the client shares the server's loop, so a parse
            # on the loop that starts between two checks stalls the pause instead of a check
            t = time.perf_counter()
            async with server.session.get(server.api("/api/health")) as r:
                assert r.status == 200
            await asyncio.sleep(0.02)
            slowest = max(slowest, time.perf_counter() - t - 0.02)
        r = await task
        took.append(time.perf_counter() - t0)
        assert r.status == 400 and (await r.json())["error"]["field"] == "final_demand"
        worst.append(slowest)
    print(f"health worst latency while parsing 14 MiB: {[round(w * 1000) for w in worst]} ms "
          f"(the posts took {[round(t * 1000) for t in took]} ms)")
    # Within half a second; or, where a loaded machine slows everything down, within half the
    # post: a parse on the loop stalls one turn for the whole parse, nearly all of the post (95%
    # of it, measured with the parse put back on the loop, loaded or not; off the loop, under a
    # load of 7 on 2 cores, the worst turn was a fifth of the post)
    assert max(worst) < 0.5 or all(w < t / 2 for w, t in zip(worst, took)), (worst, took)


async def test_refusals_of_large_bodies_are_the_same_off_the_loop(server):
    # invalid JSON, a number past a double and a non-object, all past the off-loop threshold
    pad = b" " * (100 << 10)
    for raw, field in ((b'{"x": [1, 2' + pad, None), (b'{"final_demand": [1e999]}' + pad, "final_demand[0]"),
                       (b"[1, 2]" + pad, None)):
        async with server.session.post(server.api("/api/plan/solve"), data=raw,
                                       headers={"Content-Type": "application/json"}) as r:
            assert r.status == 400, await r.text()
            assert (await r.json())["error"]["field"] == field


async def test_channel_routes_take_small_bodies_only(server):
    big = {"text": "x", "pad": "y" * (32 << 10)}
    async with server.session.post(server.api("/api/channels/central/captions"), headers=server.studio,
                                   json=big) as r:
        assert r.status == 413


# -- item 12: read timeouts, idle /ws kept ----------------------------------------------------
@pytest.fixture
def quick_timeouts(server_process):
    sp = server_process(env={"COUNCILCAST_HEADER_TIMEOUT": "1", "COUNCILCAST_BODY_TIMEOUT": "1",
                             "COUNCILCAST_LOG_LEVEL": "WARNING"})
    sp.start()
    return sp


def _connect(sp) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", sp.port), timeout=5)
    return s


def _closed_within(s: socket.socket, seconds: float) -> tuple[float, bytes]:
    """Read until the server closes; (seconds it took, what it sent)."""
    t0, got = time.monotonic(), b""
    s.settimeout(0.2)
    while time.monotonic() - t0 < seconds:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            return time.monotonic() - t0, got
        got += chunk
    raise AssertionError(f"still open after {seconds} s (got {got[:200]!r})")


def test_slow_headers_are_dropped(quick_timeouts):
    # a connection that sends nothing, and one that sends a header line every 0.3 s
    silent = _connect(quick_timeouts)
    took, _ = _closed_within(silent, 4)
    assert took < 3
    slow = _connect(quick_timeouts)
    slow.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    try:
        for i in range(15):
            time.sleep(0.3)
            slow.sendall(f"X-Slow-{i}: y\r\n".encode())
    except (BrokenPipeError, ConnectionResetError):
        pass
    else:
        _closed_within(slow, 1)
    assert time.monotonic() - t0 < 3


def test_a_slow_body_gets_408_and_the_connection_closes(quick_timeouts):
    s = _connect(quick_timeouts)
    s.sendall(b"POST /api/ballots HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 100\r\n\r\n" + b'{"code": ')
    took, got = _closed_within(s, 5)
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert b'"field": "body"' in got
    assert took < 3


async def test_an_idle_ws_screen_outlives_the_timeouts(quick_timeouts):
    url = quick_timeouts.url
    async with aiohttp.ClientSession() as s, s.ws_connect(url + "/ws", autoping=True) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello"
        await asyncio.sleep(3.5)  # idle for more than three times both timeouts
        assert not ws.closed
        await ws.send_json({"type": "sync", "t0": 1})
        answer = await ws.receive_json(timeout=5)
        assert answer["type"] == "sync" and answer["t0"] == 1
        # and an ordinary request on another connection is still answered
        async with s.get(url + "/api/health") as r:
            assert r.status == 200


# -- item 13: a roll-call vote with a lone surrogate ------------------------------------------
async def test_rollcall_vote_with_a_surrogate_delegate_is_a_400(server):
    s = server.session
    g = await register(server, "G1", 10)
    async with s.post(server.api("/api/delegates"), headers=server.secretariat,
                      json={"name": "D", "assemblies": [g["id"]]}) as r:
        assert r.status == 201
    async with s.post(server.api("/api/rollcalls"), headers=server.secretariat,
                      json={"title": "T", "options": ["A", "B"]}) as r:
        assert r.status == 201, await r.text()
        rc = await r.json()
    raw = b'{"delegate": "\\ud800", "choice": "A"}'
    async with s.post(server.api(f"/api/rollcalls/{rc['id']}/votes"), data=raw,
                      headers={**server.secretariat, "Content-Type": "application/json"}) as r:
        assert r.status == 400, await r.text()
        assert (await r.json())["error"]["field"] == "delegate"


# -- item 15: security headers, and the ballot code out of the URL --------------------------
async def test_every_kind_of_answer_carries_the_security_headers(server):
    paths = ["/", "/api/health", "/live", "/ballot", "/no-such-page", "/api/no-such", "/static/js/ballot.js",
             "/api/channels/nope"]
    for path in paths:
        async with server.session.get(server.api(path)) as r:
            assert r.headers["X-Frame-Options"] == "DENY", path
            csp = r.headers["Content-Security-Policy"]
            assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
            assert r.headers["Referrer-Policy"] == "no-referrer", path
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    async with server.session.post(server.api("/api/rounds"), json={}) as r:  # 401
        assert r.status == 401 and r.headers["X-Frame-Options"] == "DENY"


@pytest.mark.browser
async def test_ballot_code_leaves_the_url_and_the_pages_run_under_the_csp(server, browser):
    g = await register(server, "Ballot GA", 3)
    rnd = await new_round(server, duration_s=60)
    async with server.session.post(server.api(f"/api/rounds/{rnd['id']}/ballot-codes"), headers=bearer(g["token"]),
                                   json={"count": 1}) as r:
        assert r.status == 201
        code = (await r.json())["codes"][0]["code"]
    page = await browser.new_page()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    await page.goto(f"{server.url}/ballot?code={code}")
    await page.wait_for_function("!location.search.includes('code')")
    assert "code" not in page.url and code not in page.url
    assert code not in await page.evaluate("location.href")
    assert await page.input_value("input[name=code]") == code
    await page.check("input[name=choice][value=A]")
    await page.click("text=Cast my ballot")
    await page.wait_for_selector("text=counted")
    # the pages with inline and external scripts run under the policy without a violation
    for path in ("/", "/live", f"/rounds/{rnd['id']}", "/rounds", f"/assemblies/{g['id']}", "/clerk",
                 "/secretariat", "/plan", "/recordings", "/watch/central", "/studio/central"):
        await page.goto(server.url + path)
        await page.wait_for_load_state("load")
    await page.goto(server.url + "/live")
    await page.wait_for_function("window.CouncilClock && CouncilClock.synced()", timeout=10000)
    assert violations == []
