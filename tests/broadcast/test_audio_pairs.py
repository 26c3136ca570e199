"""Audio two frames at a time (:data:`broadcast.fanout.AUDIO_PAIRS`): an Opus frame waits for
the next one (or :data:`~broadcast.fanout.PAIR_WAIT_S`), then both go to each viewer together.

Real DTLS pairs and loopback sockets (``transports.py``): every datagram is decrypted with the
viewer's own receiving session and its header and payload compared with what was published.
"""

from __future__ import annotations

import asyncio

import pytest

from broadcast.fanout import PAIR_WAIT_S
from tests.broadcast.test_fanout import PATHS, frame, payloads


@pytest.mark.parametrize("path", PATHS)
async def test_two_audio_frames_go_out_together_each_with_its_own_timestamp(link, path):
    await link.wire(path)
    stream = link.stream(kind="audio", codec="opus")
    sink = link.sink(stream, path)
    a, b, c, d = payloads(4, size=120, seed=1)
    stream.publish(frame([a], 48_000))
    await asyncio.sleep(0.005)
    assert link.rtp() == [] and stream.held() is not None  # the first waits for its pair
    stream.publish(frame([b], 48_960))
    stream.publish(frame([c], 49_920))
    stream.publish(frame([d], 50_880))
    got = [link.decrypt(p) for p in await link.wait(4)]
    assert [p.payload for p in got] == [a, b, c, d]
    assert [p.timestamp for p in got] == [(t + sink.ts_offset) & 0xFFFFFFFF for t in (48_000, 48_960, 49_920, 50_880)]
    first = (stream.seq - 4) & 0xFFFF
    assert [p.sequence_number for p in got] == [(first + i + sink.seq_offset) & 0xFFFF for i in range(4)]
    assert [p.marker for p in got] == [1, 1, 1, 1]
    assert (sink.sent, sink.octets, sink.dropped) == (4, 480, 0) and stream.held() is None


async def test_a_frame_without_a_pair_goes_alone_after_the_wait(link):
    await link.wire("direct")
    stream = link.stream(kind="audio", codec="opus")
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"alone"], 960))
    got = [link.decrypt(p) for p in await link.wait(1, timeout=PAIR_WAIT_S + 1.0)]
    assert [p.payload for p in got] == [b"alone"] and sink.sent == 1 and stream.held() is None


async def test_a_viewer_closed_while_a_packet_waits_still_gets_it(link):
    """What the stream numbered before a sink's close reaches that viewer, as for video."""
    await link.wire("direct")
    stream = link.stream(kind="audio", codec="opus")
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"one"], 960))
    stream.publish(frame([b"two"], 1920))
    stream.publish(frame([b"held"], 2880))
    assert stream.held() is not None
    sink.close()
    stop = stream.seq
    got = [link.decrypt(p) for p in await link.wait(3)]
    assert [p.payload for p in got] == [b"one", b"two", b"held"]
    assert sink.sent == 3 and sink.closed and sink not in stream.sinks
    assert got[-1].sequence_number == (stop - 1 + sink.seq_offset) & 0xFFFF
    stream.publish(frame([b"after"], 3840))
    await asyncio.sleep(PAIR_WAIT_S + 0.05)
    assert len(link.rtp()) == 3  # nothing after the close


async def test_a_nack_for_a_held_packet_is_answered(link):
    """A held packet is in the history already (numbered at publish)."""
    await link.wire("direct")
    stream = link.stream(kind="audio", codec="opus")
    sink = link.sink(stream, "direct")
    stream.publish(frame([b"x"], 0))
    stream.publish(frame([b"y"], 960))
    await link.wait(2)
    stream.publish(frame([b"z"], 1920))
    await sink.retransmit((stream.seq - 1 + sink.seq_offset) & 0xFFFF)
    got = [link.decrypt(p) for p in await link.wait(3)]
    assert got[-1].payload == b"z" and sink.retransmitted == 1
