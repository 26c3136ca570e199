"""Offer checks before any peer connection exists."""

import pytest
from aiortc import RTCPeerConnection

from broadcast.errors import BroadcastError
from broadcast.offers import check_offer
from councilcast.errors import status_for


async def offer(*kinds, direction="sendonly"):
    pc = RTCPeerConnection()
    for k in kinds:
        pc.addTransceiver(k, direction=direction)
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


async def test_good_offers():
    assert len(check_offer(await offer("video", "audio"), "whip").media) == 2
    assert len(check_offer(await offer("audio", direction="recvonly"), "whep").media) == 1


@pytest.mark.parametrize("text,code", [("", "bad_offer"), ("hello", "bad_offer"), ("v=0\r\n", "bad_offer")])
def test_malformed(text, code):
    with pytest.raises(BroadcastError) as e:
        check_offer(text, "whip")
    assert e.value.code == code and status_for(e.value) == 400


async def test_unsupported():
    with pytest.raises(BroadcastError) as e:
        check_offer(await offer("video", "video"), "whip")
    assert status_for(e.value) == 406
    with pytest.raises(BroadcastError) as e:
        check_offer(await offer("video"), "whep")  # sendonly is not a viewer's offer
    assert status_for(e.value) == 406
    sdp = (await offer("audio")).replace("opus/48000", "speex/48000")
    with pytest.raises(BroadcastError) as e:
        check_offer(sdp, "whip")
    assert status_for(e.value) == 406
    sdp = "\r\n".join(line for line in (await offer("video")).split("\r\n") if not line.startswith("a=fingerprint"))
    with pytest.raises(BroadcastError) as e:
        check_offer(sdp, "whip")
    assert status_for(e.value) == 400
