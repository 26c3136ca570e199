"""Real peers end to end: the synthetic camera or an aiortc WHIP studio, aiortc WHEP viewers."""

import asyncio
import time

import av
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription

from councilcast.appkeys import BROADCASTER
from tests.broadcast.peers import Publisher, Viewer, latency_ms
from tests.conftest import SECRETARIAT_TOKEN, STUDIO_TOKEN
from tests.polling import until

pytestmark = pytest.mark.slow


async def camera(server, channel="central", width=320, height=180, fps=30):
    async with server.session.post(f"{server.url}/api/channels/{channel}/camera", headers=server.secretariat,
                                   json={"width": width, "height": height, "fps": fps}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def info(server, channel):
    async with server.session.get(f"{server.url}/api/channels/{channel}") as r:
        assert r.status == 200
        return await r.json()


async def test_camera_to_two_viewers_same_packets(server):
    await camera(server, width=320, height=180)
    a, b = Viewer(server.url, "central"), Viewer(server.url, "central")
    ra, rb = await asyncio.gather(a.start(server.session), b.start(server.session))
    assert ra.status == rb.status == 201
    assert ra.headers["Content-Type"].startswith("application/sdp")
    assert ra.headers["Location"].startswith("/whep/central/") and ra.headers["Location"] != rb.headers["Location"]
    fa, fb = await asyncio.gather(a.frames(10), b.frames(10))
    first_frame_s = time.monotonic() - a.t_post
    assert {(f.width, f.height) for f in fa + fb} == {(320, 180)}
    assert first_frame_s < 5  # generous: the machine is shared; the benchmark measures it properly
    lat = [latency_ms(f) for f in fa[-3:]]
    # The burnt-in clock reads back; latency itself is measured by the benchmark (a shared,
    # busy machine can add seconds here).
    assert all(x is not None and 0 <= x < 10_000 for x in lat), lat
    audio = await a.frames(3, kind="audio")
    assert audio[0].sample_rate == 48000
    assert (await info(server, "central"))["viewers"] == 2
    # Encode once: one VP8 encoder whatever the number of viewers, both sinks fed from one stream.
    program = server.app[BROADCASTER].get("central").program
    stats = program.stats()
    assert stats["streams"]["vp8"]["sinks"] == 2
    assert stats["streams"]["h264"]["frames"] == 0  # nobody asked for H.264: it is not encoded
    assert stats["keyframes_forced"]["vp8"] <= stats["keyframe_requests"]["vp8"]
    # A NACK is answered from the shared history with the viewer's own numbering; an
    # unknown sequence number is ignored.
    sink = program.streams["vp8"].sinks[0]
    stream = program.streams["vp8"]
    recent = (stream.seq - 3 + sink.seq_offset) & 0xFFFF
    await sink.retransmit(recent)
    await sink.retransmit((recent + 30000) & 0xFFFF)
    assert sink.retransmitted == 1
    assert await a.stop(server.session) == 200
    assert await b.stop(server.session) == 200

    async def no_viewer():
        return (await info(server, "central"))["viewers"] == 0
    await until(no_viewer, what="no viewer counted after both DELETEs")
    assert program.stats()["streams"]["vp8"]["sinks"] == 0
    assert server.app[BROADCASTER].stats()["sessions"]["whep"] == 0


async def test_h264_viewer_gets_h264(server):
    await camera(server, width=320, height=180)
    # Offer only H.264.
    pc = RTCPeerConnection()
    t = pc.addTransceiver("video", direction="recvonly")
    t.setCodecPreferences([c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"])
    await pc.setLocalDescription(await pc.createOffer())
    async with server.session.post(f"{server.url}/whep/central", data=pc.localDescription.sdp,
                                   headers={"Content-Type": "application/sdp"}) as r:
        assert r.status == 201, await r.text()
        answer = await r.text()
        location = r.headers["Location"]
    assert "H264" in answer and "VP8" not in answer
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    async with asyncio.timeout(20):
        frame = await t.receiver.track.recv()
    assert (frame.width, frame.height) == (320, 180)
    program = server.app[BROADCASTER].get("central").program
    assert program.stats()["streams"]["h264"]["frames"] > 0
    async with server.session.delete(server.url + location) as r:
        assert r.status == 200
    await pc.close()


async def test_whip_publisher_to_viewer_then_recording(server):
    pub = Publisher(server.url, "council", STUDIO_TOKEN, 320, 240)
    r = await pub.start(server.session)
    assert r.status == 201, r.body_text
    assert r.headers["Location"].startswith("/whip/council/")
    assert len(r.headers["Location"]) > len("/whip/council/") + 30  # unguessable
    assert "a=recvonly" in r.body_text
    # A second publisher on the same channel: 409, and nothing left behind.
    second = Publisher(server.url, "council", STUDIO_TOKEN, 320, 240)
    r2 = await second.start(server.session)
    assert r2.status == 409
    assert server.app[BROADCASTER].stats()["sessions"]["whip"] == 1
    v = Viewer(server.url, "council")
    assert (await v.start(server.session)).status == 201
    frames = await v.frames(5, timeout=30)
    assert {(f.width, f.height) for f in frames} == {(320, 240)}
    assert (await info(server, "council"))["state"] == "live"
    await asyncio.sleep(1.0)
    assert await pub.stop(server.session) == 200
    # The publisher left: the channel has ended, its viewer was let go, a recording exists.
    ch = await info(server, "council")
    assert ch["state"] == "ended" and ch["viewers"] == 0
    assert len(ch["recordings"]) == 1
    rec = ch["recordings"][0]
    assert rec["duration_s"] > 0.5 and rec["video_frames"] > 5
    async with server.session.get(server.url + rec["url"]) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "video/webm"
        data = await r.read()
    path = server.config.data_path / "check.webm"
    path.write_bytes(data)
    with av.open(str(path)) as c:
        frames = [f for f in c.decode(video=0)]
    assert frames and (frames[0].width, frames[0].height) == (320, 240)
    assert len(frames) == rec["video_frames"]
    async with server.session.get(server.url + rec["page"]) as r:
        assert r.status == 200 and rec["url"] in await r.text()
    # The viewer's DELETE after the channel ended: its session is gone already.
    assert await v.stop(server.session) == 404
    assert server.app[BROADCASTER].stats()["sessions"] == {"whip": 0, "whep": 0, "relay": 0}
