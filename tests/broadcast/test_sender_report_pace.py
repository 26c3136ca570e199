"""The sender-report counters are written at most every 100 ms per sink
(:data:`broadcast.fanout.SR_EVERY_NTP`), each write one frame's own (NTP, RTP) pair.

A real DTLS pair and a real aiortc sender (``transports.py``); what is checked is what aiortc's
RTCP loop reads to build its reports (:func:`broadcast.libinternals.sender_report`), and the
packets the viewer decrypts.
"""

from __future__ import annotations

from broadcast import libinternals
from broadcast.fanout import SR_EVERY_NTP


async def test_the_counters_follow_the_frames_at_most_every_100_ms(link):
    await link.wire("direct")
    stream = link.stream()
    sink = link.sink(stream, "direct")
    ntp0 = 1 << 40
    step = SR_EVERY_NTP // 3 + 1  # a bit more than three frames per interval
    writes = []
    for i in range(10):
        ntp = ntp0 + i * step
        sink.send_frame([(i, 1, 3000 * i, b"p" * 100)], True, ntp)
        report = libinternals.sender_report(sink.sender)
        k = (report["ntp_timestamp"] - ntp0) // step  # the frame whose pair it is
        assert report["ntp_timestamp"] == ntp0 + k * step
        assert report["rtp_timestamp"] == (3000 * k + sink.ts_offset) & 0xFFFFFFFF  # that frame's own
        assert (report["packet_count"], report["octet_count"]) == (k + 1, 100 * (k + 1))
        assert ntp - report["ntp_timestamp"] < SR_EVERY_NTP  # less than 100 ms behind
        if not writes or writes[-1] != k:
            writes.append(k)
    assert writes == [0, 3, 6, 9]  # the first frame, then one frame per interval
    assert len(await link.wait(10)) == 10 and sink.sent == 10  # every frame went out
