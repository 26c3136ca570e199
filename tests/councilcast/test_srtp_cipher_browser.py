"""Which SRTP profile Chromium and the server agree on (issue 14): AES-GCM where offered.

Chromium is the DTLS server when the server answers ``a=setup:active``; it then picks the
profile from the server's ClientHello. AES-GCM protects a 1,200-byte packet in about half
the time of AES_CM_SHA1_80 here (docs/broadcast.md). The test reads ``srtpCipher`` from the
browser's own ``getStats()`` on a WHEP session it negotiates itself.
"""

from __future__ import annotations

import asyncio
import time

import pytest

pytestmark = pytest.mark.browser

WHEP_IN_PAGE = """async (url) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.addTransceiver("audio", {direction: "recvonly"});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(r => { if (pc.iceGatheringState === "complete") r(); else
    pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && r()); });
  const resp = await fetch(url, {method: "POST", headers: {"Content-Type": "application/sdp"},
                                body: pc.localDescription.sdp});
  await pc.setRemoteDescription({type: "answer", sdp: await resp.text()});
  window.__pc = pc;
  return resp.status;
}"""

CIPHER = """async () => {
  const stats = await window.__pc.getStats();
  for (const s of stats.values()) if (s.type === "transport" && s.srtpCipher) return s.srtpCipher;
  return null;
}"""


async def test_chromium_and_the_server_agree_on_aes_gcm(server, browser):
    async with server.session.post(f"{server.url}/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180, "fps": 15}) as r:
        assert r.status == 201, await r.text()
    page = await browser.new_page()
    await page.goto(server.url + "/live")
    assert await page.evaluate(WHEP_IN_PAGE, server.url + "/whep/central") == 201
    deadline, cipher = time.monotonic() + 20, None
    while cipher is None and time.monotonic() < deadline:
        cipher = await page.evaluate(CIPHER)
        await asyncio.sleep(0.2)
    assert cipher is not None, "no DTLS-SRTP transport in the browser's stats"
    assert "GCM" in cipher, cipher
    await page.close()
