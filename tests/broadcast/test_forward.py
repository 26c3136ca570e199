"""broadcast.forward: a relay's pull forwarded without decoding.

The assembler is checked on packets cut by aiortc's own VP8 packetizer (loss, reordering,
duplicates, a packet lost for good); the relay on real aiortc peers over loopback, an
origin Broadcaster and a relay Broadcaster in this process, the relay's offer handed to the
origin's play() directly (no HTTP: the two-hop test over real servers is in
tests/councilcast/test_broadcast_relay.py).
"""

from __future__ import annotations

import asyncio
import random

import av
import pytest
from aiortc import RTCRtpReceiver, RTCSessionDescription
from aiortc.rtcrtpreceiver import RTCRtpReceiver as ReceiverClass

from broadcast import libinternals
from broadcast.channels import Broadcaster
from broadcast.encoding import VideoEncoder
from broadcast.errors import BroadcastError
from broadcast.forward import VideoAssembler, vp8_descriptor, vp8_keyframe_size
from broadcast.relay import pull
from broadcast.synthetic import SyntheticCamera, read_clock
from tests.broadcast.peers import offer_pc
from tests.polling import until


# -- the assembler ------------------------------------------------------------------------------
def encoded_frames(n: int, key_every: int = 10):
    """``n`` real VP8 frames of the synthetic camera at 320x180, as (timestamp, frame, payloads)."""
    cam = SyntheticCamera("t", 320, 180)
    enc = VideoEncoder("vp8", bitrate=300_000, fps=30, keyframe_interval=100)
    out = []
    for i in range(n):
        f = cam.make_video_frame(i)
        f.pts = i * 3000
        e = enc.encode(f, keyframe=i % key_every == 0)
        data = b"".join(bytes(p) for p in e.packets)
        out.append((e.timestamp, data, e.payloads))
    return out


def packets(frames, seq0=65_500):
    """RTP packets (seq, ts, marker, payload) of ``frames``, the sequence wrapping past 65535."""
    out = []
    seq = seq0
    for ts, _, payloads in frames:
        for i, p in enumerate(payloads):
            out.append((seq & 0xFFFF, ts, i == len(payloads) - 1, p))
            seq += 1
    return out


FRAMES = encoded_frames(30)


def feed(asm, pkts):
    out = []
    for p in pkts:
        out += asm.add(*p)
    return out


def test_descriptor_and_keyframe_size():
    ts, data, payloads = FRAMES[0]
    assert vp8_descriptor(payloads[0])[0] and not any(vp8_descriptor(p)[0] for p in payloads[1:])
    assert vp8_keyframe_size(data) == (320, 180)
    assert vp8_keyframe_size(FRAMES[1][1]) is None


def test_frames_out_as_sent_each_at_its_last_packet():
    asm = VideoAssembler()
    pkts = packets(FRAMES)
    out = []
    for p in pkts:
        got = asm.add(*p)
        assert not got or p[2], "a frame came out before its last packet"
        out += got
    assert [(ts, data) for ts, data, _ in out] == [(ts, data) for ts, data, _ in FRAMES]
    assert [key for _, _, key in out] == [i % 10 == 0 for i in range(30)]
    assert asm.gaps == 0 and not asm.waiting_keyframe


def test_reordered_and_duplicated_packets_are_put_back_in_order():
    pkts = packets(FRAMES)
    rng = random.Random(4)
    shuffled = list(pkts)
    for i in range(0, len(shuffled) - 3, 3):  # swap neighbours within small windows, as networks do
        window = shuffled[i:i + 3]
        rng.shuffle(window)
        shuffled[i:i + 3] = window
    shuffled[10:10] = [pkts[5], pkts[9]]  # two duplicates, late
    asm = VideoAssembler()
    out = feed(asm, [pkts[0]] + [p for p in shuffled if p is not pkts[0]])
    assert [data for _, data, _ in out] == [data for _, data, _ in FRAMES]
    assert asm.late >= 2 and asm.gaps == 0


def test_starts_at_a_keyframe():
    asm = VideoAssembler()
    out = feed(asm, packets(FRAMES[3:]))  # joins mid-GOP: frames 3-9 cannot be decoded
    assert [data for _, data, _ in out] == [data for _, data, _ in FRAMES[10:]]


def first_packet_of(frame: int) -> int:
    return sum(len(payloads) for _, _, payloads in FRAMES[:frame])


def test_a_retransmission_within_the_wait_fills_the_hole():
    pkts = packets(FRAMES)
    lost = first_packet_of(3)
    asm = VideoAssembler()  # waits 0.3 s of media (9 frames) for a missing packet
    out = feed(asm, pkts[:lost] + pkts[lost + 1: first_packet_of(8)])
    assert len(out) == 3  # frames 0-2; 3-7 wait for the missing packet
    out += feed(asm, [pkts[lost]] + pkts[first_packet_of(8):])  # the NACKed packet, then the rest
    assert [d for _, d, _ in out] == [d for _, d, _ in FRAMES] and asm.gaps == 0


def test_a_packet_lost_for_good_waits_for_the_next_keyframe():
    pkts = packets(FRAMES)
    lost = first_packet_of(3)
    asm = VideoAssembler(max_wait=3 * 3000)  # 3 frames at 30 fps
    out = feed(asm, pkts[:lost] + pkts[lost + 1:])
    got = [d for _, d, _ in out]
    # frames 0-2, then nothing until the next keyframe (10), from which on everything
    assert got == [d for _, d, _ in FRAMES[:3]] + [d for _, d, _ in FRAMES[10:]]
    assert asm.gaps == 1 and not asm.waiting_keyframe


# -- a relay in this process ---------------------------------------------------------------------
async def relayed(origin: Broadcaster, recordings_dir=None, sessions: list | None = None, **kw) -> Broadcaster:
    """A relay Broadcaster pulling channel ``c`` from ``origin`` (its offer handed to origin.play);
    the origin's session for the pull is appended to ``sessions``."""
    relay = Broadcaster(recordings_dir)
    relay.define("c")

    async def post_offer(sdp: str) -> str:
        session, answer = await origin.play("c", sdp, "relay")
        if sessions is not None:
            sessions.append(session)
        return answer

    await pull(relay, "c", post_offer, **kw)
    return relay


@pytest.fixture
async def origin():
    b = Broadcaster(None)
    b.define("c")
    b.start_camera("c", 320, 180, 30)
    yield b
    await b.close()


async def watch(b: Broadcaster, prefer: list[str] | None = None):
    pc = await offer_pc()
    if prefer:
        t = next(t for t in pc.getTransceivers() if t.kind == "video")
        caps = RTCRtpReceiver.getCapabilities("video").codecs
        t.setCodecPreferences([c for m in prefer for c in caps if c.mimeType.lower() == m])
        await pc.setLocalDescription(await pc.createOffer())
    session, answer = await b.play("c", pc.localDescription.sdp, "viewer")
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc, session


async def video_frames(pc, n: int, timeout: float = 20.0):
    track = next(t.receiver.track for t in pc.getTransceivers() if t.kind == "video")
    async with asyncio.timeout(timeout):
        return [await track.recv() for _ in range(n)]


async def test_relay_forwards_and_serves_vp8_only(origin):
    relay = await relayed(origin)
    try:
        program = relay.get("c").program
        assert program.stats()["mode"] == "forward" and program.codecs == ("vp8", "opus")
        # a viewer that prefers H.264 but offers VP8 too is served VP8 (what the relay forwards)
        pc, session = await watch(relay, ["video/h264", "video/vp8"])
        assert session.codecs["video"] == "vp8"
        frames = await video_frames(pc, 5)
        assert all(read_clock(f) is not None for f in frames)
        await pc.close()
        # one that offers H.264 only is refused, as an offer without a codec we send is (406)
        pc = await offer_pc()
        t = next(t for t in pc.getTransceivers() if t.kind == "video")
        t.setCodecPreferences([c for c in RTCRtpReceiver.getCapabilities("video").codecs
                               if c.mimeType.lower() == "video/h264"])
        await pc.setLocalDescription(await pc.createOffer())
        with pytest.raises(BroadcastError) as err:
            await relay.play("c", pc.localDescription.sdp, "viewer")
        assert err.value.code == "unsupported" and "H264" in err.value.reason
        await pc.close()
        st = program.stats()
        assert st["encoded"] == {"vp8": 0, "h264": 0} and st["forwarded"]["video"] > 0
    finally:
        await relay.close()


async def test_a_relay_does_not_record_unless_asked(origin, tmp_path):
    plain = await relayed(origin, tmp_path / "plain")
    recording = await relayed(origin, tmp_path / "rec", record=True)
    try:
        assert plain.get("c").program.recorder is None
        rec = recording.get("c").program
        await until(lambda: rec.recorder.video_frames > 30 and rec.recorder.audio_packets > 10, timeout=20,
                    what="the relay recording forwarded frames")
        info = await recording.end("c")
        assert info is not None and info.video_frames > 30 and info.path.stat().st_size > 10_000
        with av.open(str(info.path)) as f:  # the recording decodes: the origin's picture
            frame = next(f.decode(video=0))
            assert (frame.width, frame.height) == (320, 180)
            assert read_clock(frame) is not None
    finally:
        await plain.close()
        await recording.close()
    assert not list((tmp_path / "plain").rglob("*.webm"))


async def test_falls_back_to_decoding_when_the_receiver_cannot_be_tapped(origin):
    async def handle(self, packet, arrival_time_ms):  # as if upstream reorganized its receive path
        return None

    mp = pytest.MonkeyPatch()
    mp.setattr(ReceiverClass, "_handle_rtp_packet", handle)
    try:
        result = libinternals.self_check(refresh=True)
    finally:
        mp.undo()
    relay = None
    try:
        assert not result["relay_forward"] and "decoder_queue" in result["refused"]["relay_forward"]
        assert result["path"] == "direct"  # the fan-out does not depend on it
        # the refusal is cached: this pull's receivers (aiortc's real code again) decode and re-encode
        relay = await relayed(origin)
        program = relay.get("c").program
        assert program.stats()["mode"] == "encode" and "h264" in program.codecs
        pc, _ = await watch(relay)
        frames = await video_frames(pc, 5)
        assert all(read_clock(f) is not None for f in frames)
        assert program.stats()["encoded"]["vp8"] > 0
        await pc.close()
    finally:
        assert libinternals.self_check(refresh=True)["relay_forward"]
        if relay is not None:
            await relay.close()


async def test_keyframe_wanted_asks_the_origin_at_most_every_half_second(origin):
    relay = await relayed(origin)
    try:
        program = relay.get("c").program
        await until(lambda: program.forwarded["video"] > 5, what="frames forwarded")
        o = origin.get("c").program
        forced = o.stats()["keyframes_forced"]["vp8"]
        keys = program.upstream.stats()["video_keyframes"]
        plis = program.upstream.plis
        for _ in range(20):  # twenty requests at once: one PLI now, at most one more 0.5 s later
            program.streams["vp8"].request_keyframe()
        assert program.upstream.plis == plis + 1
        await until(lambda: o.stats()["keyframes_forced"]["vp8"] > forced, timeout=20,
                    what="the origin forcing the keyframe asked for")
        await until(lambda: program.upstream.stats()["video_keyframes"] > keys, timeout=20,
                    what="the forced keyframe forwarded")
        assert program.upstream.plis <= plis + 2
    finally:
        await relay.close()


async def test_the_relays_copy_ends_with_the_origins_channel(origin):
    relay = await relayed(origin)
    try:
        program = relay.get("c").program
        await until(lambda: program.forwarded["video"] > 0, what="frames forwarded")
        await origin.end("c")  # the origin closes the relay's session: its DTLS goes, so does the pull
        await until(lambda: relay.get("c").state == "ended", timeout=20, what="the relay's channel ended")
        await until(lambda: not relay.sessions, timeout=20, what="the pull's session gone")
        assert program.ended.done()
    finally:
        await relay.close()


# -- the pull received directly (libinternals.receive_directly) ------------------------------------
def pull_receivers(relay: Broadcaster):
    pc = relay.get("c").publisher.pc
    return {t.kind: t.receiver for t in pc.getTransceivers()}


async def inbound_packets(receiver) -> int:
    stats = await receiver.getStats()
    return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")


async def test_the_pull_is_received_directly_and_still_counted(origin):
    relay = await relayed(origin)
    try:
        program = relay.get("c").program
        rx = pull_receivers(relay)
        await until(lambda: program.upstream.stats()["received_directly"], timeout=20,
                    what="the pull received directly")
        assert all(libinternals.receiving_directly(r) for r in rx.values())
        before = {k: await inbound_packets(r) for k, r in rx.items()}
        frames, audio = program.forwarded["video"], program.forwarded["audio"]
        await asyncio.sleep(1.0)
        # aiortc's statistics (its receiver reports) still count every packet, both kinds
        # (in a second: 30 frames of video, 25 Opus packets of 40 ms)
        after = {k: await inbound_packets(r) for k, r in rx.items()}
        assert after["video"] - before["video"] > 30 and after["audio"] - before["audio"] > 15
        # and the relay's viewers get the frames
        pc, _ = await watch(relay)
        got = await video_frames(pc, 5)
        assert all(read_clock(f) is not None for f in got)
        await pc.close()
        assert program.forwarded["video"] > frames + 20 and program.forwarded["audio"] > audio + 15
        assert program.upstream.stats()["gaps"] == 0
    finally:
        await relay.close()


async def test_a_packet_lost_on_the_direct_path_is_nacked_and_retransmitted(origin):
    sessions: list = []
    relay = await relayed(origin, sessions=sessions)
    try:
        program = relay.get("c").program
        await until(lambda: program.upstream.stats()["received_directly"], timeout=20,
                    what="the pull received directly")
        video = pull_receivers(relay)["video"]
        protocol = video.transport.transport._connection._nominated[1].protocol
        direct = protocol.datagram_received  # receive_directly's
        seen, dropped = [0], []
        vp8 = program.upstream.stats()["payload_types"]["video"]

        def lossy(data, addr):  # the network loses the 40th video packet after this point
            if len(data) >= 12 and 127 < data[0] < 192 and data[1] & 0x7F == vp8:
                seen[0] += 1
                if seen[0] == 40:
                    dropped.append(data)
                    return
            direct(data, addr)

        protocol.datagram_received = lossy
        sink_of_relay = sessions[0].sinks
        await until(lambda: dropped and sum(s.retransmitted for s in sink_of_relay) > 0, timeout=20,
                    what="the origin retransmitting the packet lost to the relay (NACKed by the relay)")
        frames = program.upstream.stats()["video_frames"]
        await until(lambda: program.upstream.stats()["video_frames"] > frames + 30, timeout=20,
                    what="frames after the loss")
        st = program.upstream.stats()
        assert st["gaps"] == 0, "the retransmission did not fill the hole"
    finally:
        await relay.close()


async def test_without_the_direct_receive_the_tap_still_forwards(origin, monkeypatch):
    # as if aiortc's receive handler did one more thing: the lean handler would skip it, so refuse
    monkeypatch.setattr(libinternals.tap, "_RX_HANDLER_NAMES", libinternals.tap._RX_HANDLER_NAMES - {"depayload"})
    result = libinternals.self_check(refresh=True)
    relay = None
    try:
        assert result["relay_forward"] and not result["relay_direct"]
        assert "does more than it did: depayload" in result["refused"]["relay_direct"]
        relay = await relayed(origin)
        program = relay.get("c").program
        await until(lambda: program.forwarded["video"] > 30, timeout=20, what="frames forwarded")
        assert program.stats()["mode"] == "forward" and not program.upstream.stats()["received_directly"]
        pc, _ = await watch(relay)
        assert all(read_clock(f) is not None for f in await video_frames(pc, 5))
        await pc.close()
    finally:
        monkeypatch.undo()
        assert libinternals.self_check(refresh=True)["relay_direct"]
        if relay is not None:
            await relay.close()
