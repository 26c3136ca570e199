"""The per-packet fan-out (:class:`broadcast.fanout.Stream` and :class:`~broadcast.fanout.Sink`)
over in-memory transport pairs (``transports.py``): a real DTLS handshake, real SRTP keys, a
real aiortc sender, real datagram sockets. Every test decrypts what was sent with the
viewer's receiving SRTP session and checks the RTP header fields and payload bytes.
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc import clock
from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpSendParameters,
)
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import (
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    HeaderExtensionsMap,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    is_rtcp,
)
from pylibsrtp._binding import ffi

from broadcast import libinternals
from broadcast.encoding import EncodedFrame
from broadcast.fanout import MAX_BUFFERED, MID_URI, IdleTrack, Sink, Stream
from tests.broadcast.transports import (
    dtls_pair,
    nominate,
    receiving_session,
    send_rtcp,
    tapped,
    udp_pair,
    unix_pair,
)

PATHS = ("direct", "public", "generic")
PT = 96
MID_ID = 4


def frame(payloads, timestamp, keyframe=True) -> EncodedFrame:
    return EncodedFrame(list(payloads), timestamp, keyframe, [])


def payloads(n: int, size: int = 1000, seed: int = 0) -> list[bytes]:
    return [bytes((seed + i + j) % 256 for j in range(size)) for i in range(n)]


class Link:
    """One server-viewer DTLS pair, the wire between them, and what the viewer decrypts."""

    def __init__(self, server, viewer):
        self.server, self.viewer = server, viewer
        self.rx = receiving_session(viewer)
        self.ext = HeaderExtensionsMap()
        self.ext.configure(RTCRtpSendParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(MID_ID, MID_URI)]))
        self.source: list[bytes] = tapped(server)
        self.closers: list = []
        self.keyframe_requests = 0

    async def wire(self, path: str) -> None:
        """Media over a loopback UDP socket (direct, public) or through ICE (generic)."""
        if path != "generic":
            tx, receiver, addr = await udp_pair()
            await nominate(self.server, tx, addr)
            self.source = receiver.packets
            self.closers += [tx, receiver.transport]

    def stream(self, kind="video", codec="vp8") -> Stream:
        def wanted():
            self.keyframe_requests += 1
        return Stream(codec, kind, 90_000 if kind == "video" else 48_000, wanted)

    def sink(self, stream: Stream, path: str, mid: str | None = "0", sender=None) -> Sink:
        sender = sender or RTCRtpSender(stream.kind, self.server)
        sink = Sink(stream, sender, PT, mid, MID_ID if mid is not None else None, path=path)
        sink.attach()
        return sink

    def rtp(self) -> list[bytes]:
        return [p for p in self.source if not is_rtcp(p)]

    async def wait(self, n: int, timeout: float = 2.0) -> list[bytes]:
        async with asyncio.timeout(timeout):
            while len(self.rtp()) < n:
                await asyncio.sleep(0.002)
        return self.rtp()

    async def quiet(self) -> list[bytes]:
        await asyncio.sleep(0.05)
        return self.rtp()

    def decrypt(self, data: bytes) -> RtpPacket:
        return RtpPacket.parse(self.rx.unprotect(data), self.ext)

    def close(self) -> None:
        for c in self.closers:
            c.close()


# -- the header: sequence numbers, timestamps, marker, SSRC, MID, payload ---------------------------
@pytest.mark.parametrize("path", PATHS)
async def test_header_rewritten_and_payload_intact(link, path):
    await link.wire(path)
    stream = link.stream()
    stream.seq = 0xFFFE  # the shared sequence wraps inside the first frame
    sink = link.sink(stream, path)
    first = payloads(3, seed=1)
    stream.publish(frame(first, 0xFFFFFF00))
    second = payloads(2, size=700, seed=2)
    stream.publish(frame(second, 0xFFFFFF00 + 3000, keyframe=False))
    got = [link.decrypt(p) for p in await link.wait(5)]

    assert sink.path == path
    shared_seqs = [0xFFFE, 0xFFFF, 0, 1, 2]
    assert [p.sequence_number for p in got] == [(s + sink.seq_offset) & 0xFFFF for s in shared_seqs]
    assert [p.timestamp for p in got] == [(0xFFFFFF00 + sink.ts_offset) & 0xFFFFFFFF] * 3 + \
        [(0xFFFFFF00 + 3000 + sink.ts_offset) & 0xFFFFFFFF] * 2
    assert [p.marker for p in got] == [0, 0, 1, 0, 1]
    assert {p.ssrc for p in got} == {sink.ssrc} == {libinternals.sender_ssrc(sink.sender)}
    assert {p.payload_type for p in got} == {PT}
    assert {p.extensions.mid for p in got} == {"0"}
    assert [p.payload for p in got] == first + second
    assert (sink.sent, sink.octets, stream.emitted) == (5, 3000 + 1400, 5)


async def test_two_viewers_get_the_same_payloads_with_their_own_numbering(link):
    await link.wire("direct")
    stream = link.stream()
    a, b = link.sink(stream, "direct", mid="0"), link.sink(stream, "direct", mid="1")
    data = payloads(4, seed=7)
    stream.publish(frame(data, 90_000))
    got = [link.decrypt(p) for p in await link.wait(8)]
    for sink, mid in ((a, "0"), (b, "1")):
        mine = [p for p in got if p.ssrc == sink.ssrc]
        assert [p.payload for p in mine] == data
        assert {p.extensions.mid for p in mine} == {mid}
        assert [p.sequence_number for p in mine] == [(stream.seq - 4 + i + sink.seq_offset) & 0xFFFF for i in range(4)]
        assert {p.timestamp for p in mine} == {(90_000 + sink.ts_offset) & 0xFFFFFFFF}
    assert a.ssrc != b.ssrc


async def test_without_mid_the_header_has_no_extension(link):
    await link.wire("direct")
    stream = link.stream()
    link.sink(stream, "direct", mid=None)
    stream.publish(frame([b"abc"], 1))
    (raw,) = await link.wait(1)
    clear = link.rx.unprotect(raw)
    assert clear[0] == 0x80 and len(clear) == 12 + 3 and clear[12:] == b"abc"
    assert RtpPacket.parse(clear, link.ext).extensions.mid is None


# -- keyframes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", PATHS)
async def test_a_video_viewer_starts_at_a_keyframe(link, path):
    await link.wire(path)
    stream = link.stream()
    sink = link.sink(stream, path)
    assert link.keyframe_requests == 0  # not at the offer: a keyframe before the connection is lost
    stream.publish(frame([b"delta-1"], 1000, keyframe=False))
    assert await link.quiet() == [] and sink.waiting_keyframe
    assert link.keyframe_requests == 1  # connected, at its first frame: it asks, once
    stream.publish(frame([b"delta-1b"], 1500, keyframe=False))
    assert link.keyframe_requests == 1 and await link.quiet() == []
    stream.publish(frame([b"key"], 2000, keyframe=True))
    stream.publish(frame([b"delta-2"], 3000, keyframe=False))
    got = [link.decrypt(p) for p in await link.wait(2)]
    assert [p.payload for p in got] == [b"key", b"delta-2"]
    # the numbering is the stream's: the skipped delta frame left a gap of one
    assert got[0].sequence_number == (stream.seq - 2 + sink.seq_offset) & 0xFFFF  # two deltas skipped


async def test_a_keyframe_before_the_viewer_connects_is_not_taken_for_received(link):
    """Before, the gate let the keyframe through while ICE/DTLS were still under way: it was
    lost, and the viewer got delta frames it could not decode until the next scheduled keyframe.
    Now the sink sends nothing until it is connected, then starts on the cached keyframe."""
    from types import SimpleNamespace

    await link.wire("generic")
    stream = link.stream()
    sink = link.sink(stream, "generic")
    real, sink.dtls = sink.dtls, SimpleNamespace(state="connecting")  # still negotiating
    stream.publish(frame([b"key-too-early"], 1000, keyframe=True))
    assert sink.waiting_keyframe and link.keyframe_requests == 0 and await link.quiet() == []
    sink.dtls = real  # connected
    stream.publish(frame([b"delta"], 2000, keyframe=False))
    got = [link.decrypt(p) for p in await link.wait(2)]
    assert [p.payload for p in got] == [b"key-too-early", b"delta"]  # the keyframe it missed, replayed
    assert not sink.waiting_keyframe and link.keyframe_requests == 0


@pytest.mark.parametrize("path", PATHS)
async def test_a_joiner_starts_on_the_cached_frames_at_once(link, path):
    """A viewer that connects 3 frames after a keyframe gets that keyframe and the frames since
    at its first frame, without a keyframe forced for it; their timestamps end at the current
    frame's, one tick apart, and the live frames follow with no gap in the numbering."""
    await link.wire(path)
    stream = link.stream()
    stream.publish(frame([b"key-a", b"key-b"], 9000, keyframe=True))  # nobody watching yet
    stream.publish(frame([b"d1"], 12000, keyframe=False))
    stream.publish(frame([b"d2"], 15000, keyframe=False))
    sink = link.sink(stream, path)
    stream.publish(frame([b"d3"], 18000, keyframe=False))  # the joiner's first frame
    stream.publish(frame([b"d4"], 21000, keyframe=False))  # live again
    got = [link.decrypt(p) for p in await link.wait(6)]

    assert [p.payload for p in got] == [b"key-a", b"key-b", b"d1", b"d2", b"d3", b"d4"]
    seqs = [(p.sequence_number - sink.seq_offset) & 0xFFFF for p in got]
    assert seqs == [(stream.seq - 6 + i) & 0xFFFF for i in range(6)]  # the stream's own, contiguous
    ts = [(p.timestamp - sink.ts_offset) & 0xFFFFFFFF for p in got]
    assert ts == [18000 - 3, 18000 - 3, 18000 - 2, 18000 - 1, 18000, 21000]
    assert [p.marker for p in got] == [0, 1, 1, 1, 1, 1]
    assert link.keyframe_requests == 0 and stream.replays == 1 and not sink.waiting_keyframe
    assert sink.sent == 6


async def test_a_long_gop_is_not_replayed_the_joiner_asks(link):
    """Past REPLAY_MAX_PACKETS since the keyframe, a burst would be too long: ask instead."""
    from broadcast.fanout import REPLAY_MAX_PACKETS

    await link.wire("direct")
    stream = link.stream()
    stream.publish(frame([b"key"], 0, keyframe=True))
    for i in range(REPLAY_MAX_PACKETS // 4 + 1):
        stream.publish(frame([b"d"] * 4, 3000 * (i + 1), keyframe=False))
    assert stream.replayable() is None
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"late"], 999_000, keyframe=False))
    assert await link.quiet() == [] and sink.waiting_keyframe and link.keyframe_requests == 1
    stream.publish(frame([b"new-key"], 1_002_000, keyframe=True))  # a new GOP: replayable again
    assert stream.replayable() is not None
    got = [link.decrypt(p) for p in await link.wait(1)]
    assert [p.payload for p in got] == [b"new-key"] and stream.replays == 0


async def test_audio_is_not_gated(link):
    await link.wire("direct")
    stream = link.stream(kind="audio", codec="opus")
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"opus"], 960, keyframe=False))
    (raw,) = await link.wait(1)
    assert link.decrypt(raw).payload == b"opus"
    assert sink.path == "direct" and not sink.batched  # one packet a frame: nothing to batch


# -- slow viewers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("batched", [True, False], ids=["sendmmsg", "sendto"])
async def test_direct_path_full_socket_drops_the_rest_of_the_frame(link, tmp_path, batched):
    """A Unix datagram socket nobody reads reports a full buffer (EAGAIN) as a slow viewer's would."""
    path = str(tmp_path / "viewer.sock")
    tx, rx = await unix_pair(path)
    link.closers += [tx, rx]
    await nominate(link.server, tx, path)
    stream = link.stream()
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"first"], 0, keyframe=True))  # binds the path
    if not batched:
        sink._batch = None
    assert sink.batched == batched
    requests = link.keyframe_requests
    stream.publish(frame(payloads(200, size=1200), 3000))
    assert sink.path == "direct" and not sink.closed
    assert 1 < sink.sent < 201 and sink.dropped == 201 - sink.sent  # the rest of that frame is dropped
    assert sink.waiting_keyframe and link.keyframe_requests == requests + 1
    assert sink.octets == len(b"first") + 1200 * (sink.sent - 1)  # only what went out
    sent = sink.sent
    stream.publish(frame([b"delta"], 6000, keyframe=False))
    assert sink.sent == sent  # waits for a keyframe

    received = []
    while True:
        try:
            received.append(rx.recv(2048))
        except BlockingIOError:
            break
    assert len(received) == sent
    stream.publish(frame([b"key again"], 9000, keyframe=True))
    assert sink.sent == sent + 1
    got = [link.decrypt(p) for p in received + [rx.recv(2048)]]
    assert got[-1].payload == b"key again" and got[1].payload == payloads(1, size=1200)[0]
    seqs = [p.sequence_number for p in got[:-1]]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]  # in order, none missing


async def test_a_frame_longer_than_a_batch_goes_out_whole_and_in_order(link):
    """A keyframe of more packets than one sendmmsg takes is sent in several calls."""
    from broadcast.libinternals import BATCH_SLOTS

    await link.wire("direct")
    stream = link.stream()
    sink = link.sink(stream, "direct")
    data = payloads(BATCH_SLOTS * 2 + 5, size=200, seed=3)  # small: the receiver's buffer takes them all
    stream.publish(frame(data, 1234))
    got = [link.decrypt(p) for p in await link.wait(len(data))]
    assert sink.batched and sink.path == "direct"
    assert [p.payload for p in got] == data
    assert [p.sequence_number for p in got] == [(stream.seq - len(data) + i + sink.seq_offset) & 0xFFFF
                                                for i in range(len(data))]
    assert [p.marker for p in got] == [0] * (len(data) - 1) + [1]
    assert (sink.sent, sink.octets, sink.dropped) == (len(data), 200 * len(data), 0)


async def test_two_batched_viewers_share_the_slots_without_mixing(link):
    """The packet slots are shared by every sink of a thread: each viewer still gets its own
    header and its own encryption (each decrypts with its own key only)."""
    async with dtls_pair() as (server2, viewer2):
        other = Link(server2, viewer2)
        try:
            await link.wire("direct")
            await other.wire("direct")
            stream = link.stream()
            a = link.sink(stream, "direct")
            b = Sink(stream, RTCRtpSender("video", server2), PT, "1", MID_ID, path="direct")
            b.attach()
            data = payloads(10, seed=5)
            stream.publish(frame(data, 90_000))
            got_a = [link.decrypt(p) for p in await link.wait(10)]
            got_b = [other.decrypt(p) for p in await other.wait(10)]
            assert a.batched and b.batched
            assert [p.payload for p in got_a] == [p.payload for p in got_b] == data
            assert {p.ssrc for p in got_a} == {a.ssrc} and {p.ssrc for p in got_b} == {b.ssrc}
            assert {p.extensions.mid for p in got_a} == {"0"} and {p.extensions.mid for p in got_b} == {"1"}
        finally:
            other.close()


async def test_public_path_backlog_drops_whole_frames(link, tmp_path):
    """On the public path asyncio buffers what the socket refused; past MAX_BUFFERED the sink drops."""
    path = str(tmp_path / "viewer.sock")
    tx, rx = await unix_pair(path)
    link.closers += [tx, rx]
    await nominate(link.server, tx, path)
    stream = link.stream()
    sink = link.sink(stream, "public")
    big = payloads(MAX_BUFFERED // 1200 + 20, size=1200)
    stream.publish(frame(big, 3000))
    assert sink.path == "public" and sink.sent == len(big) and tx.get_write_buffer_size() > MAX_BUFFERED
    requests = link.keyframe_requests
    stream.publish(frame(payloads(3), 6000))
    assert sink.sent == len(big) and sink.dropped == 3
    assert sink.waiting_keyframe and link.keyframe_requests == requests + 1 and not sink.closed
    tx.abort()


# -- RTCP from the viewer: NACK, PLI; sender reports to the viewer ------------------------------
async def started_sender(link: Link, kind="video") -> tuple[RTCRtpSender, IdleTrack]:
    """An aiortc sender started as RTCPeerConnection starts it: RTCP routed to it, its RTP
    loop idle on an IdleTrack, its RTCP loop sending sender reports."""
    track = IdleTrack(kind)
    sender = RTCRtpSender(track, link.server)
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=PT)
    await sender.send(RTCRtpSendParameters(codecs=[codec], muxId="0",
                                           headerExtensions=[RTCRtpHeaderExtensionParameters(MID_ID, MID_URI)],
                                           rtcp=RTCRtcpParameters(cname="test", mux=True)))
    return sender, track


@pytest.mark.parametrize("path", PATHS)
async def test_nack_is_answered_from_the_history(link, path):
    await link.wire(path)
    stream = link.stream()
    sender, track = await started_sender(link)
    try:
        sink = link.sink(stream, path, sender=sender)
        data = payloads(5, seed=3)
        stream.publish(frame(data, 4500))
        raw = await link.wait(5)
        got = [link.decrypt(p) for i, p in enumerate(raw) if i != 2]  # packet 2 is "lost"
        lost_seq = (got[1].sequence_number + 1) & 0xFFFF
        await send_rtcp(link.viewer, RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=1, media_ssrc=sink.ssrc,
                                                     lost=[lost_seq, (lost_seq + 500) & 0xFFFF]))
        again = link.decrypt((await link.wait(6))[5])
        assert (again.sequence_number, again.timestamp, again.marker, again.payload) == \
            (lost_seq, got[0].timestamp, 0, data[2])
        assert again.ssrc == sink.ssrc and again.extensions.mid == "0"
        assert sink.retransmitted == 1  # the second sequence number was never sent
        assert len(await link.quiet()) == 6
    finally:
        track.stop()
        await sender.stop()


async def test_pli_asks_the_stream_for_a_keyframe(link):
    await link.wire("direct")
    stream = link.stream()
    sender, track = await started_sender(link)
    try:
        sink = link.sink(stream, "direct", sender=sender)
        before = link.keyframe_requests
        await send_rtcp(link.viewer, RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=1, media_ssrc=sink.ssrc))
        async with asyncio.timeout(2):
            while link.keyframe_requests == before:
                await asyncio.sleep(0.005)
        assert link.keyframe_requests == before + 1
    finally:
        track.stop()
        await sender.stop()


@pytest.mark.parametrize("path", PATHS)
async def test_sender_report_counters_follow_each_frame(link, path):
    await link.wire(path)
    stream = link.stream()
    sink = link.sink(stream, path)
    ntp = clock.current_ntp_time()
    packets = [(10, 0, 123_000, b"x" * 100), (11, 1, 123_000, b"y" * 50)]
    sink.send_frame(packets, True, ntp)
    await link.wait(2)
    assert libinternals.sender_report(sink.sender) == {
        "ntp_timestamp": ntp, "rtp_timestamp": (123_000 + sink.ts_offset) & 0xFFFFFFFF,
        "packet_count": 2, "octet_count": 150}


async def test_sender_report_reaches_the_viewer(link):
    """aiortc's own RTCP loop reads the counters the sink writes (one report every 0.5-1.5 s)."""
    await link.wire("direct")
    stream = link.stream()
    sender, track = await started_sender(link)
    try:
        sink = link.sink(stream, "direct", sender=sender)
        stream.publish(frame(payloads(3, size=400), 777_000))
        await link.wait(3)
        expected = libinternals.sender_report(sender)
        reports = []
        async with asyncio.timeout(4):
            while not reports:
                await asyncio.sleep(0.05)
                for raw in [p for p in tapped(link.server) if is_rtcp(p)]:
                    reports += [r for r in RtcpPacket.parse(link.rx.unprotect_rtcp(raw))
                                if isinstance(r, RtcpSrPacket) and r.ssrc == sink.ssrc]
        info = reports[0].sender_info
        assert (info.ntp_timestamp, info.rtp_timestamp, info.packet_count, info.octet_count) == (
            expected["ntp_timestamp"], (777_000 + sink.ts_offset) & 0xFFFFFFFF, 3, 1200)
    finally:
        track.stop()
        await sender.stop()


# -- the direct path's length check (libsrtp writes its tag after the packet, unbounded) ----------
async def test_direct_path_takes_the_longest_packet_pylibsrtp_takes(link):
    await link.wire("direct")
    stream = link.stream()
    sink = link.sink(stream, "direct")
    hlen = len(sink._header)
    limit = 1500 - 144  # pylibsrtp: len(packet) > len(buffer) - SRTP_MAX_TRAILER_LEN is refused
    payload = bytes(range(256)) * 6
    stream.publish(frame([payload[: limit - hlen]], 1))
    (raw,) = await link.wait(1)
    assert link.decrypt(raw).payload == payload[: limit - hlen] and sink.sent == 1
    # one byte more is refused by pylibsrtp's own protect
    with pytest.raises(ValueError, match="too long"):
        libinternals.tx_srtp(link.server).protect(bytes(limit + 1))


async def test_direct_path_refuses_an_oversize_packet(link):
    """Regression: the direct path had dropped pylibsrtp's length check."""
    await link.wire("direct")
    stream = link.stream()
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"first"], 1))
    await link.wait(1)
    direct = sink._direct
    before = bytes(direct.buf)
    hlen = len(sink._header)
    # 1,357 bytes (one past pylibsrtp's limit); 1,495 and 1,500 (the tag would pass the end)
    for size in (direct.limit - hlen + 1, 1500 - hlen - 5, 1500 - hlen):
        with pytest.raises(ValueError, match="packet is too long"):
            sink._send_direct([(stream.seq, 1, 2, bytes(size))])
    assert bytes(direct.buf) == before and len(direct.buf) == len(direct.view) == 1500
    # through the frame loop: refused like a failing Session.protect, the sink stops, nothing sent
    stream.publish(frame([bytes(1500 - hlen - 5)], 3000))
    assert sink.closed and sink.sent == 1 and bytes(direct.buf) == before
    assert len(await link.quiet()) == 1


async def test_direct_path_length_check_keeps_libsrtp_inside_the_buffer(link):
    """The session's buffer placed in front of a canary: with the check nothing past 1,500 bytes
    changes; with the check disabled (the old code) libsrtp's tag lands in the canary."""
    await link.wire("direct")
    stream = link.stream()
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"first"], 1))
    await link.wait(1)
    big = ffi.new("char[]", 1500 + 64)
    ffi.buffer(big)[1500:] = b"\xa5" * 64
    window = ffi.buffer(big, 1500)
    sink._direct = sink._direct._replace(cdata=ffi.cast("char *", big), buf=window, view=memoryview(window))
    packet = [(stream.seq, 1, 2, bytes(1500 - len(sink._header) - 5))]
    with pytest.raises(ValueError):
        sink._send_direct(packet)
    assert ffi.buffer(big)[1500:] == b"\xa5" * 64
    sink._direct = sink._direct._replace(limit=1500)  # what the code did before the fix
    sink._send_direct(packet)
    assert ffi.buffer(big)[1500:] != b"\xa5" * 64


# -- which path --------------------------------------------------------------------------------------
async def test_default_path_is_the_self_checks(link):
    await link.wire("direct")
    stream = link.stream()
    sink = link.sink(stream, None)
    stream.publish(frame([b"k"], 1))
    await link.wait(1)
    assert sink.max_path == libinternals.active_path() == "direct" and sink.path == "direct"


async def test_no_selected_pair_falls_back_to_generic(link):
    stream = link.stream()
    sink = link.sink(stream, "direct")  # but ICE has nominated nothing (like a TURN relay without a socket)
    stream.publish(frame([b"k"], 1))
    (raw,) = await link.wait(1)
    assert sink.path == "generic" and link.decrypt(raw).payload == b"k"


async def test_a_transport_without_a_socket_takes_the_public_path(link):
    tx, receiver, addr = await udp_pair()
    link.closers += [tx, receiver.transport]

    class Wrapped:  # a transport with sendto but no socket underneath (uvloop, TURN)
        def sendto(self, data, addr):
            tx.sendto(data, addr)

        def get_write_buffer_size(self):
            return tx.get_write_buffer_size()

    await nominate(link.server, Wrapped(), addr)
    link.source = receiver.packets
    stream = link.stream()
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"k"], 1))
    (raw,) = await link.wait(1)
    assert sink.path == "public" and link.decrypt(raw).payload == b"k"


def test_unknown_path_is_refused():
    with pytest.raises(ValueError):
        Sink(Stream("vp8", "video", 90_000, lambda: None), None, PT, None, None, path="fast")

