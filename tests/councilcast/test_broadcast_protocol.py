"""WHIP/WHEP status codes and headers; bad requests get a clear 4xx and leave nothing behind."""

import gc

import pytest
from aiortc import RTCPeerConnection

from councilcast.appkeys import AUTH, DB
from councilcast.appkeys import BROADCASTER
from tests.broadcast.peers import Publisher, Viewer, offer_pc
from tests.conftest import SECRETARIAT_TOKEN, STUDIO_TOKEN

SDP = {"Content-Type": "application/sdp"}


def open_server_pcs() -> list:
    """aiortc peer connections in this process that are not closed (the tests close their own)."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"]


async def post(server, path, body, headers=None):
    async with server.session.post(server.url + path, data=body, headers=headers or {}) as r:
        return r.status, dict(r.headers), await r.text()


async def assert_nothing_left(server):
    assert server.app[BROADCASTER].stats()["sessions"] == {"whip": 0, "whep": 0, "relay": 0}
    assert open_server_pcs() == []


async def test_options_and_cors(server):
    async with server.session.options(server.url + "/whip/central") as r:
        assert r.status == 204
        assert r.headers["Accept-Post"] == "application/sdp"
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        exposed = {h.strip() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
        assert {"Location", "Link", "ETag"} <= exposed
        assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    async with server.session.get(server.url + "/whep/central") as r:
        assert r.status == 405 and "POST" in r.headers["Allow"]


async def test_whip_tokens(server):
    pc = await offer_pc(direction="sendonly", kinds=("video",))
    offer = pc.localDescription.sdp
    await pc.close()
    status, headers, body = await post(server, "/whip/central", offer, SDP)
    assert status == 401 and "Bearer" in headers["WWW-Authenticate"]
    status, _, body = await post(server, "/whip/central", offer, {**SDP, "Authorization": "Bearer wrong"})
    assert status == 401
    status, _, body = await post(server, "/whip/central", offer, {**SDP, "Authorization": f"Bearer {SECRETARIAT_TOKEN}"})
    assert status == 403 and '"field": "Authorization"' in body
    # A studio token issued for another channel: 403.
    token, _ = await server.app[AUTH].issue("studio", "council", "council studio")
    status, _, body = await post(server, "/whip/central", offer, {**SDP, "Authorization": f"Bearer {token}"})
    assert status == 403 and "council" in body
    assert server.app[BROADCASTER].get("central").state == "idle"
    await assert_nothing_left(server)


async def test_bad_offers(server):
    auth = {"Authorization": f"Bearer {STUDIO_TOKEN}"}
    status, _, body = await post(server, "/whip/central", "v=0\r\n", {"Content-Type": "text/plain", **auth})
    assert status == 415 and "application/sdp" in body
    status, _, body = await post(server, "/whip/central", "hello", {**SDP, **auth})
    assert status == 400 and "v=0" in body
    status, _, body = await post(server, "/whip/central", "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
                                 {**SDP, **auth})
    assert status == 400 and "m= line" in body
    status, _, body = await post(server, "/whip/central", "v=0\r\n" + "a=x\r\n" * 20000, {**SDP, **auth})
    assert status == 413
    status, _, body = await post(server, "/whip/central", b"v=0\xff\xfe", {**SDP, **auth})
    assert status == 400
    # Two video tracks: 406 (at most one audio and one video), no partial answer.
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="sendonly")
    pc.addTransceiver("video", direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    status, _, body = await post(server, "/whip/central", pc.localDescription.sdp, {**SDP, **auth})
    await pc.close()
    assert status == 406 and "more than one video" in body
    # A data channel only: 406.
    pc = RTCPeerConnection()
    pc.createDataChannel("x")
    await pc.setLocalDescription(await pc.createOffer())
    status, _, body = await post(server, "/whip/central", pc.localDescription.sdp, {**SDP, **auth})
    await pc.close()
    assert status == 406
    # A WHIP offer that only wants to receive: 406.
    pc = await offer_pc(kinds=("video",), direction="recvonly")
    status, _, body = await post(server, "/whip/central", pc.localDescription.sdp, {**SDP, **auth})
    await pc.close()
    assert status == 406 and "recvonly" in body
    # Video without VP8 or H.264.
    pc = await offer_pc(kinds=("video",), direction="sendonly")
    sdp = pc.localDescription.sdp.replace("VP8/90000", "VP9/90000").replace("H264/90000", "AV1/90000")
    await pc.close()
    status, _, body = await post(server, "/whip/central", sdp, {**SDP, **auth})
    assert status == 406 and "VP8" in body
    assert server.app[BROADCASTER].get("central").state == "idle"
    await assert_nothing_left(server)


async def test_unknown_channel_and_not_live(server):
    pc = await offer_pc()
    offer = pc.localDescription.sdp
    await pc.close()
    status, _, body = await post(server, "/whep/no-such-channel", offer, SDP)
    assert status == 404 and '"field": "channel"' in body
    status, _, body = await post(server, "/whip/no-such-channel", offer,
                                 {**SDP, "Authorization": f"Bearer {STUDIO_TOKEN}"})
    assert status == 404
    status, headers, body = await post(server, "/whep/central", offer, SDP)
    assert status == 409 and int(headers["Retry-After"]) > 0 and "idle" in body
    async with server.session.delete(server.url + "/whep/central/not-a-session") as r:
        assert r.status == 404
    await assert_nothing_left(server)


async def test_session_patch_delete(server):
    pub = Publisher(server.url, "council", STUDIO_TOKEN, 160, 120)
    r = await pub.start(server.session)
    assert r.status == 201
    loc = pub.location
    auth = {"Authorization": f"Bearer {STUDIO_TOKEN}"}
    async with server.session.patch(loc, data="a=mid:0\r\n", headers={"Content-Type": "text/plain", **auth}) as r:
        assert r.status == 415
    frag = "a=ice-ufrag:abcd\r\na=ice-pwd:0123456789abcdef012345\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" \
           "a=candidate:1 1 udp 2130706431 127.0.0.1 9 typ host\r\n"
    async with server.session.patch(loc, data=frag, headers={"Content-Type": "application/trickle-ice-sdpfrag",
                                                             **auth}) as r:
        assert r.status == 204 and await r.read() == b""
    async with server.session.patch(loc, data=frag, headers={"Content-Type": "application/trickle-ice-sdpfrag",
                                                             "If-Match": "*", **auth}) as r:
        assert r.status == 422
    async with server.session.delete(loc) as r:  # no token
        assert r.status == 401
    async with server.session.get(loc) as r:
        assert r.status == 405
    assert await pub.stop(server.session) == 200
    async with server.session.delete(loc, headers=auth) as r:
        assert r.status == 404
    assert server.app[BROADCASTER].get("council").state in ("ended", "idle")
    await assert_nothing_left(server)


async def test_channels_api(server):
    async with server.session.get(server.url + "/api/channels") as r:
        names = [c["name"] for c in (await r.json())["channels"]]
    assert {"central", "council", "central-sign"} <= set(names)
    url = server.url + "/api/channels/budget-committee"
    async with server.session.put(url, json={"title": "Budget committee"}) as r:
        assert r.status == 401
    async with server.session.put(url, json={"title": "Budget"}, headers=server.studio) as r:
        assert r.status == 403
    async with server.session.put(server.url + "/api/channels/Bad Name", json={}, headers=server.secretariat) as r:
        assert r.status == 400
    async with server.session.put(url, json={"title": "Budget committee", "companion": "budget-sign"},
                                  headers=server.secretariat) as r:
        assert r.status == 201
        body = await r.json()
    assert body["companion"] == "budget-sign" and body["state"] == "idle" and body["viewers"] == 0
    async with server.session.put(url, json={"companion": "budget-committee"}, headers=server.secretariat) as r:
        assert r.status == 400
    async with server.session.post(url + "/camera", json={"width": 321}, headers=server.secretariat) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "width"
    # Persisted: the row is in SQLite.
    row = await server.app[DB].read(
        lambda c: c.execute("SELECT title, companion FROM broadcast_channels WHERE name='budget-committee'").fetchone())
    assert tuple(row) == ("Budget committee", "budget-sign")


async def test_captions(server):
    base = server.url + "/api/channels/central/captions"
    async with server.session.post(base, json={"text": "hello"}) as r:
        assert r.status == 401
    async with server.session.post(base, json={"text": "  "}, headers=server.studio) as r:
        assert r.status == 400
    async with server.session.post(base, json={"text": "The session is open.", "duration": 2},
                                   headers=server.studio) as r:
        assert r.status == 201
        cue = await r.json()
    assert cue["end"] - cue["start"] == pytest.approx(2.0)
    async with server.session.get(base + "?since=0") as r:
        assert [c["text"] for c in (await r.json())["cues"]] == ["The session is open."]
    async with server.session.get(base + f".vtt?from={cue['start'] - 61.5}") as r:
        vtt = await r.text()
        assert r.headers["Content-Type"].startswith("text/vtt")
    assert vtt.startswith("WEBVTT") and "00:01:01.500 --> 00:01:03.500" in vtt


async def test_viewer_page_without_js(server):
    async with server.session.get(server.url + "/live") as r:
        html = await r.text()
    assert r.status == 200
    assert 'data-endpoint="/whep/central"' in html and 'data-endpoint="/whep/central-sign"' in html
    assert "/static/js/whep-player.js" in html
    async with server.session.get(server.url + "/watch/nope") as r:
        assert r.status == 404
    async with server.session.get(server.url + "/studio/central") as r:
        assert r.status == 200 and "/whip/central" in await r.text()
    v = Viewer(server.url, "central")
    r = await v.start(server.session)
    assert r.status == 409


async def test_ice_servers_in_link_headers(make_config):
    import aiohttp
    from aiohttp import web

    from councilcast.app import create_app

    config = make_config(ice_servers="stun:stun.example.org:3478, turn:turn.example.org")
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    url = f"http://{config.host}:{config.port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/api/channels/council/camera", json={"width": 160, "height": 120},
                                 headers={"Authorization": f"Bearer {SECRETARIAT_TOKEN}"}) as r:
                assert r.status == 201
            v = Viewer(url, "council")
            r = await v.start(http)
            assert r.status == 201
            assert r.headers.getall("Link") == ['<stun:stun.example.org:3478>; rel="ice-server"',
                                                '<turn:turn.example.org>; rel="ice-server"']
            assert await v.stop(http) == 200
    finally:
        await runner.cleanup()


async def test_caption_duration_too_large_for_a_float_is_400(server):
    """{"duration": 10**400} made float() raise OverflowError: a 500. Now 400 naming duration,
    and no cue is added."""
    base = server.url + "/api/channels/central/captions"
    for duration in (10 ** 400, -10 ** 400, 10 ** 7):
        async with server.session.post(base, json={"text": "x", "duration": duration}, headers=server.studio) as r:
            assert r.status == 400, await r.text()
            assert (await r.json())["error"]["field"] == "duration"
    async with server.session.post(base, data=b'{"text": "x", "duration": 1e999}',
                                   headers={**server.studio, "Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "duration"
    async with server.session.post(base, data=b'{"text": "x", "duration": NaN}',
                                   headers={**server.studio, "Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] is None
    async with server.session.get(base + "?since=0") as r:
        assert (await r.json())["cues"] == []


async def test_stats_report_the_library_internals_path(server):
    async with server.session.get(server.api("/api/broadcast/stats")) as r:
        stats = await r.json()
    internals = stats["internals"]
    assert internals["path"] in ("direct", "public", "generic")
    assert set(internals["versions"]) >= {"aiortc", "aioice", "pylibsrtp", "av"}
    # on the pinned versions every check passes and the fastest path runs
    assert internals["path"] == "direct" and internals["refused"]["direct"] is None
    assert all(c["ok"] for c in internals["checks"].values())
