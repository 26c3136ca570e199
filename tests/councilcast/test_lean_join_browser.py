"""Chromium joins through the lean set-up and decodes (issue 14; docs/broadcast.md, "Joining").

The server negotiates every WHEP viewer in :func:`broadcast.libinternals.lean_join`: one
DTLS certificate shared by its viewers, no receiver bitrate estimator, the offer parsed
once, the address list cached. Two Chromium pages join the same channel; each must reach
connected over the shared certificate (the fingerprint Chromium checked is in its remote
description), pick AES-GCM as before, and decode the camera's pictures with no loss, while
the server's peers for them never built an estimator; and Chromium, told ``a=ice-lite``, ran
the checks alone: it nominated the pair it uses, and the server's ICE end sent no check.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from broadcast import libinternals
from councilcast.appkeys import BROADCASTER
from tests.councilcast.test_join_replay_browser import INBOUND
from tests.councilcast.test_srtp_cipher_browser import CIPHER, WHEP_IN_PAGE

pytestmark = pytest.mark.browser

REMOTE_FINGERPRINTS = """() => window.__pc.remoteDescription.sdp.split(/\\r?\\n/)
  .filter(l => l.startsWith("a=fingerprint:")).map(l => l.slice(14).split(" "))"""
"""The DTLS fingerprints Chromium kept from the answer, as [algorithm, value] (it keeps one of them)."""

ICE_PAIR = """async () => {
  const stats = await window.__pc.getStats();
  let transport = null, pairs = [];
  stats.forEach(r => { if (r.type === "transport") transport = r; if (r.type === "candidate-pair") pairs.push(r); });
  const chosen = pairs.find(p => transport && p.id === transport.selectedCandidatePairId);
  return {lite: window.__pc.remoteDescription.sdp.split(/\\r?\\n/).includes("a=ice-lite"),
          role: transport && transport.iceRole, nominated: chosen ? chosen.nominated : null,
          requestsReceived: pairs.reduce((n, p) => n + (p.requestsReceived || 0), 0),
          requestsSent: pairs.reduce((n, p) => n + (p.requestsSent || 0), 0)};
}"""
"""What Chromium's ICE end did: its role, whether its selected pair is nominated, the checks it
sent and got (getStats: RTCIceTransportStats, RTCIceCandidatePairStats)."""


async def test_two_chromium_viewers_on_the_shared_certificate_decode(server, browser):
    async with server.session.post(f"{server.url}/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180, "fps": 15}) as r:
        assert r.status == 201, await r.text()
    assert all(libinternals.join_parts().values()), libinternals.report()["join_refused"]
    pages = [await browser.new_page() for _ in range(2)]
    for page in pages:
        await page.goto(server.url + "/api/health")  # same origin, and no player of its own
        assert await page.evaluate(WHEP_IN_PAGE, server.url + "/whep/central") == 201

    shared = {f.algorithm: f.value for f in libinternals.shared_certificate().getFingerprints()}
    for page in pages:
        got = await page.evaluate(REMOTE_FINGERPRINTS)
        assert got and all(shared[alg.lower()] == value.upper() for alg, value in got), (got, shared)
    for page in pages:
        deadline, inbound = time.monotonic() + 20, None
        while time.monotonic() < deadline:
            inbound = await page.evaluate(INBOUND)
            if inbound and inbound["decoded"] >= 15:  # a second of pictures
                break
            await asyncio.sleep(0.2)
        assert inbound and inbound["decoded"] >= 15, inbound
        assert inbound["lost"] == 0, inbound
        assert "GCM" in (await page.evaluate(CIPHER) or ""), "the SRTP profile changed"
        ice = await page.evaluate(ICE_PAIR)
        assert ice["lite"] and ice["role"] == "controlling" and ice["nominated"] is True, ice
        assert ice["requestsSent"] >= 1 and ice["requestsReceived"] == 0, ice  # within 5 s: no consent check yet

    broadcaster = server.app[BROADCASTER]
    viewers = [s for s in broadcaster.sessions.values() if s.kind == "whep"]
    assert len(viewers) == 2 and all(s.connected_at is not None for s in viewers)
    for s in viewers:
        for t in s.pc.getTransceivers():
            est = t.receiver._RTCRtpReceiver__remote_bitrate_estimator
            if t.kind == "video":  # Chromium sends RTCP only: the estimator was never built
                assert isinstance(est, libinternals.join._LazyEstimator) and est.real is None
        assert re.search(r"a=setup:passive", s.pc.localDescription.sdp)
        assert re.search(r"\r\na=ice-lite\r\n", s.pc.localDescription.sdp)
        end = s.pc.getTransceivers()[0].sender.transport.transport.iceGatherer._connection
        assert isinstance(end, libinternals.join.LiteConnection)
    for page in pages:
        await page.close()
