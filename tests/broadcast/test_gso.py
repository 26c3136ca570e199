"""Segmented sends (:mod:`broadcast.gso`): a viewer's frame in one ``sendmsg`` with
``UDP_SEGMENT``, cut by the kernel into the datagrams the viewer receives.

Real DTLS pairs, real SRTP keys, real loopback sockets (``transports.py``); every datagram the
viewer's socket gets is decrypted with its own receiving session and compared with what was
published. The refusal case is a real one too: a socket with UDP checksums turned off
(``SO_NO_CHECK``) makes Linux refuse segmentation with ``EINVAL``.
"""

from __future__ import annotations

import socket
import sys

import pytest
from aiortc.rtcrtpsender import RTCRtpSender

from broadcast import gso
from broadcast.fanout import Sink
from tests.broadcast.test_fanout import MID_ID, PT, Link, frame, payloads
from tests.broadcast.transports import dtls_pair

pytestmark = pytest.mark.skipif(not gso.available(), reason="no UDP segmentation on this platform")

SO_NO_CHECK = 11  # asm-generic/socket.h


def test_runs_cut_where_a_segmented_send_must_end():
    assert gso.runs([1300] * 5 + [700]) == [(0, 6)]  # a VP8 frame: one run
    assert gso.runs([1300]) == [(0, 1)]
    assert gso.runs([]) == []
    assert gso.runs([400, 1300, 1300, 200, 200]) == [(0, 1), (1, 4), (4, 5)]  # H.264: STAP-A, FU-As
    assert gso.runs([1300] * 70) == [(0, 32), (32, 64), (64, 70)]  # at most MAX_SEGMENTS each


async def test_a_vp8_frame_goes_out_as_one_segmented_send_and_arrives_whole(link):
    await link.wire("direct")
    stream = link.stream()
    sink = link.sink(stream, "direct")
    key = payloads(12, size=1300, seed=1) + payloads(1, size=611, seed=2)  # a keyframe's shape
    delta = payloads(3, size=1300, seed=3) + payloads(1, size=90, seed=4)
    stream.publish(frame(key, 9000))
    stream.publish(frame(delta, 12000, keyframe=False))
    got = [link.decrypt(p) for p in await link.wait(17)]
    assert sink.segmented and sink.batched and sink.path == "direct"
    assert [p.payload for p in got] == key + delta
    first = (stream.seq - 17) & 0xFFFF
    assert [p.sequence_number for p in got] == [(first + i + sink.seq_offset) & 0xFFFF for i in range(17)]
    assert [p.marker for p in got] == [0] * 12 + [1] + [0] * 3 + [1]
    assert [p.timestamp for p in got] == [(9000 + sink.ts_offset) & 0xFFFFFFFF] * 13 + \
        [(12000 + sink.ts_offset) & 0xFFFFFFFF] * 4
    assert {p.ssrc for p in got} == {sink.ssrc} and {p.extensions.mid for p in got} == {"0"}
    assert (sink.sent, sink.octets, sink.dropped) == (17, 15 * 1300 + 611 + 90, 0)


async def test_packets_of_mixed_lengths_go_in_several_runs_in_order(link):
    """H.264 payloads are not all one size: each run is its own send, the order is kept."""
    await link.wire("direct")
    stream = link.stream(codec="h264")
    sink = link.sink(stream, "direct")
    data = payloads(1, size=40) + payloads(3, size=1200, seed=5) + payloads(2, size=300, seed=6) \
        + payloads(40, size=100, seed=7)  # more than one run's MAX_SEGMENTS
    stream.publish(frame(data, 3000))
    got = [link.decrypt(p) for p in await link.wait(len(data))]
    assert sink.segmented
    assert [p.payload for p in got] == data
    assert [p.marker for p in got] == [0] * (len(data) - 1) + [1]
    assert sink.sent == len(data) and sink.octets == sum(map(len, data))


async def test_two_viewers_share_the_arena_each_with_its_own_keys(link):
    async with dtls_pair() as (server2, viewer2):
        other = Link(server2, viewer2)
        try:
            await link.wire("direct")
            await other.wire("direct")
            stream = link.stream()
            a = link.sink(stream, "direct")
            b = Sink(stream, RTCRtpSender("video", server2), PT, "1", MID_ID, path="direct")
            b.attach()
            data = payloads(5, size=1300, seed=8) + payloads(1, size=5, seed=9)
            stream.publish(frame(data, 90_000))
            got_a = [link.decrypt(p) for p in await link.wait(6)]
            got_b = [other.decrypt(p) for p in await other.wait(6)]
            assert a.segmented and b.segmented
            assert [p.payload for p in got_a] == [p.payload for p in got_b] == data
            assert {p.ssrc for p in got_a} == {a.ssrc} and {p.ssrc for p in got_b} == {b.ssrc}
            assert {p.extensions.mid for p in got_b} == {"1"}
        finally:
            other.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_NO_CHECK is Linux's")
async def test_a_route_that_refuses_segmentation_falls_back_to_sendmmsg(link):
    await link.wire("direct")
    stream = link.stream()
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"bind"], 0))  # binds the path
    assert sink.segmented
    link.closers[0].get_extra_info("socket").setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
    data = payloads(4, size=1300, seed=10) + payloads(1, size=50, seed=11)
    stream.publish(frame(data, 3000))
    stream.publish(frame(data[:2], 6000, keyframe=False))
    got = [link.decrypt(p) for p in await link.wait(8)]
    assert not sink.segmented and sink.batched and not sink.closed  # sendmmsg from now on
    assert [p.payload for p in got] == [b"bind"] + data + data[:2]
    assert (sink.sent, sink.dropped) == (8, 0)
