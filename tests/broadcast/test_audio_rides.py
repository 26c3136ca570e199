"""Audio riding with video (:data:`broadcast.fanout.RIDE_WAIT_S`, :meth:`~broadcast.fanout.Sink.carry`):
an Opus packet is held until the next video frame and goes to each viewer in that frame's
system call, ahead of the frame; audio nobody carried goes by itself at the frame's
:meth:`~broadcast.fanout.Stream.release`, or after the wait.

Real DTLS pairs and loopback sockets (``transports.py``): every datagram is decrypted with the
viewer's own receiving session and its header and payload compared with what was published.
One viewer is two sinks on one transport, as a bundled WebRTC viewer is: a video sink whose
sender has one SSRC and an audio sink whose sender has another.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest
from aiortc.rtcrtpsender import RTCRtpSender

from broadcast import gso, libinternals
from broadcast.fanout import RIDE_WAIT_S
from tests.broadcast.test_fanout import PATHS, frame, payloads

SO_NO_CHECK = 11  # asm-generic/socket.h
riding = pytest.mark.skipif(not (gso.available() and libinternals.self_check()["ride"]),
                            reason="no segmented sendmmsg on this platform")


def viewer(link, path="direct"):
    """A bundled viewer: a video and an audio sink on the link's one transport, the audio carried."""
    video, audio = link.stream(), link.stream(kind="audio", codec="opus")
    vsink = link.sink(video, path)
    asink = link.sink(audio, path, mid="1", sender=RTCRtpSender("audio", link.server))
    vsink.carry(audio=asink)
    return video, audio, vsink, asink


def counted(sink) -> list[int]:
    """Count the ride's system calls: each entry is how many audio packets went in one."""
    calls: list[int] = []
    send = sink._ride.send

    def send_counted(k, size):
        calls.append(k)
        return send(k, size)
    sink._ride = sink._ride._replace(send=send_counted)
    return calls


@riding
async def test_held_audio_goes_ahead_of_the_next_video_frame_in_its_call(link):
    await link.wire("direct")
    video, audio, vsink, asink = viewer(link)
    video.publish(frame([b"bind"], 0))  # binds the paths; no audio held yet
    calls = counted(vsink)
    a, b = payloads(2, size=120, seed=1)
    audio.publish(frame([a], 48_000))
    audio.publish(frame([b], 48_960))
    await asyncio.sleep(0.005)
    assert len(link.rtp()) == 1 and audio.held() is not None  # held for the next video frame
    key = payloads(3, size=1300, seed=2) + payloads(1, size=400, seed=3)
    video.publish(frame(key, 3000, keyframe=False), audio.held())
    audio.release()
    got = [link.decrypt(p) for p in (await link.wait(7))[1:]]
    assert calls == [2] and audio.held() is None
    assert [p.payload for p in got] == [a, b] + key  # the audio first, then the frame, nothing twice
    assert [p.ssrc for p in got] == [asink.ssrc] * 2 + [vsink.ssrc] * 4
    assert [p.timestamp for p in got[:2]] == [(t + asink.ts_offset) & 0xFFFFFFFF for t in (48_000, 48_960)]
    first = (audio.seq - 2) & 0xFFFF
    assert [p.sequence_number for p in got[:2]] == [(first + i + asink.seq_offset) & 0xFFFF for i in range(2)]
    assert [p.marker for p in got] == [1, 1, 0, 0, 0, 1]
    assert [p.extensions.mid for p in got] == ["1", "1"] + ["0"] * 4
    assert (asink.sent, asink.octets, asink.dropped) == (2, 240, 0)
    assert (vsink.sent, vsink.dropped) == (5, 0)
    await asyncio.sleep(RIDE_WAIT_S + 0.05)
    assert len(link.rtp()) == 7  # the release and the timer sent nothing again


@pytest.mark.parametrize("path", PATHS)
async def test_audio_without_a_video_frame_goes_alone_after_the_wait(link, path):
    await link.wire(path)
    audio = link.stream(kind="audio", codec="opus")
    sink = link.sink(audio, path)
    a, b = payloads(2, size=120, seed=4)
    audio.publish(frame([a], 960))
    audio.publish(frame([b], 1920))
    await asyncio.sleep(0.005)
    assert link.rtp() == []
    got = [link.decrypt(p) for p in await link.wait(2, timeout=RIDE_WAIT_S + 1.0)]
    assert [p.payload for p in got] == [a, b] and sink.sent == 2 and audio.held() is None
    assert [p.timestamp for p in got] == [(t + sink.ts_offset) & 0xFFFFFFFF for t in (960, 1920)]


async def test_as_many_as_a_ride_takes_go_at_once(link):
    await link.wire("direct")
    audio = link.stream(kind="audio", codec="opus")
    sink = link.sink(audio, "direct")
    sent = payloads(libinternals.RIDERS, size=100, seed=5)
    for i, p in enumerate(sent):
        audio.publish(frame([p], 960 * i))
    assert audio.held() is None  # released without waiting
    got = [link.decrypt(p) for p in await link.wait(len(sent), timeout=RIDE_WAIT_S / 2)]
    assert [p.payload for p in got] == sent and sink.sent == len(sent)


@riding
async def test_a_viewer_waiting_for_a_keyframe_still_gets_its_audio(link):
    """Its video sink sends nothing and carries nothing: the release sends the audio by itself."""
    await link.wire("direct")
    video, audio, vsink, asink = viewer(link)
    video.publish(frame([b"delta"], 0, keyframe=False))  # binds; the viewer now waits for a keyframe
    assert vsink.waiting_keyframe
    audio.publish(frame([b"heard"], 960))
    video.publish(frame([b"delta 2"], 3000, keyframe=False), audio.held())
    audio.release()
    got = [link.decrypt(p) for p in await link.wait(1)]
    assert [(p.ssrc, p.payload) for p in got] == [(asink.ssrc, b"heard")] and vsink.sent == 0


@riding
async def test_a_frame_of_several_runs_does_not_carry(link):
    """An H.264 frame's payloads differ in length (several segmented sends): the audio goes by itself."""
    await link.wire("direct")
    video, audio = link.stream(codec="h264"), link.stream(kind="audio", codec="opus")
    vsink = link.sink(video, "direct")
    asink = link.sink(audio, "direct", mid="1", sender=RTCRtpSender("audio", link.server))
    vsink.carry(asink)
    video.publish(frame([b"bind"], 0))
    calls = counted(vsink)
    audio.publish(frame([b"voice"], 960))
    video.publish(frame([b"s" * 400, b"f" * 1300, b"f" * 200], 3000), audio.held())
    audio.release()
    got = [link.decrypt(p) for p in (await link.wait(5))[1:]]
    assert calls == [] and asink.sent == 1 and vsink.sent == 4
    assert sorted(p.payload for p in got) == sorted([b"voice", b"s" * 400, b"f" * 1300, b"f" * 200])


@riding
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_NO_CHECK is Linux's")
async def test_a_route_that_refuses_segmentation_loses_neither_audio_nor_video(link):
    """The audio goes in the ride; the run, refused after it (sendmmsg cannot say why), is sent
    again by itself, which raises the refusal: the sink turns segmentation off for good."""
    await link.wire("direct")
    video, audio, vsink, asink = viewer(link)
    video.publish(frame([b"bind"], 0))
    link.closers[0].get_extra_info("socket").setsockopt(socket.SOL_SOCKET, SO_NO_CHECK, 1)
    audio.publish(frame([b"voice"], 960))
    data = payloads(3, size=1300, seed=6) + payloads(1, size=50, seed=7)
    video.publish(frame(data, 3000, keyframe=False), audio.held())
    audio.release()
    got = [link.decrypt(p) for p in (await link.wait(6))[1:]]
    assert [p.payload for p in got] == [b"voice"] + data
    assert not vsink.segmented and vsink._ride is None and (asink.sent, vsink.sent) == (1, 5)
    audio.publish(frame([b"more"], 1920))
    video.publish(frame([b"next"], 6000, keyframe=False), audio.held())
    audio.release()
    got = [link.decrypt(p) for p in (await link.wait(8))[6:]]
    assert sorted(p.payload for p in got) == [b"more", b"next"]


@riding
async def test_a_full_socket_drops_the_ride_and_the_release_does_not_resend(link):
    """``send`` answering 0 is a full socket (EAGAIN): both are dropped, the video waits for a keyframe."""
    await link.wire("direct")
    video, audio, vsink, asink = viewer(link)
    video.publish(frame([b"bind"], 0))
    vsink._ride = vsink._ride._replace(send=lambda k, size: 0)
    requests = link.keyframe_requests
    audio.publish(frame([b"lost"], 960))
    video.publish(frame([b"x" * 1300, b"y" * 10], 3000, keyframe=False), audio.held())
    audio.release()
    assert await link.quiet() == link.rtp()[:1]
    assert (asink.sent, asink.dropped) == (0, 1) and (vsink.sent, vsink.dropped) == (1, 2)
    assert vsink.waiting_keyframe and link.keyframe_requests == requests + 1


async def test_a_viewer_closed_while_audio_waits_still_gets_it(link):
    """What the stream numbered before a sink's close reaches that viewer, as for video."""
    await link.wire("direct")
    audio = link.stream(kind="audio", codec="opus")
    sink = link.sink(audio, "direct")
    audio.publish(frame([b"one"], 960))
    audio.publish(frame([b"held"], 1920))
    assert audio.held() is not None
    sink.close()
    stop = audio.seq
    got = [link.decrypt(p) for p in await link.wait(2)]
    assert [p.payload for p in got] == [b"one", b"held"]
    assert sink.sent == 2 and sink.closed and sink not in audio.sinks
    assert got[-1].sequence_number == (stop - 1 + sink.seq_offset) & 0xFFFF
    audio.publish(frame([b"after"], 3840))
    await asyncio.sleep(RIDE_WAIT_S + 0.05)
    assert len(link.rtp()) == 2  # nothing after the close


async def test_a_nack_for_a_held_packet_is_answered(link):
    """A held packet is in the history already (numbered at publish)."""
    await link.wire("direct")
    audio = link.stream(kind="audio", codec="opus")
    sink = link.sink(audio, "direct")
    audio.publish(frame([b"z"], 1920))
    await sink.retransmit((audio.seq - 1 + sink.seq_offset) & 0xFFFF)
    got = [link.decrypt(p) for p in await link.wait(1)]
    assert got[-1].payload == b"z" and sink.retransmitted == 1


async def test_where_the_ride_is_refused_audio_goes_in_calls_of_its_own(link):
    """A platform whose ``sendmmsg`` will not carry a segmented run (the self-check's
    ``socket.sendmmsg_segmented``) keeps the segmented video and sends the audio by itself."""
    from broadcast.libinternals import batch

    def refused():
        raise OSError("no segmented sendmmsg here")

    mp = pytest.MonkeyPatch()
    mp.setattr(batch, "_check_ride", refused)
    try:
        result = libinternals.self_check(refresh=True)
        assert not result["ride"] and "no segmented sendmmsg" in result["refused"]["ride"] and result["batch"]
        await link.wire("direct")
        video, audio, vsink, asink = viewer(link)
        video.publish(frame([b"bind"], 0))
        assert vsink._ride is None and vsink.segmented == gso.available()
        audio.publish(frame([b"voice"], 960))
        video.publish(frame([b"picture"], 3000, keyframe=False), audio.held())
        audio.release()
        got = [link.decrypt(p) for p in (await link.wait(3))[1:]]
        assert sorted(p.payload for p in got) == [b"picture", b"voice"] and asink.carried == 0
    finally:
        mp.undo()
        assert libinternals.self_check(refresh=True)["ride"] == (gso.available() and batch._sendmmsg_lib() is not None)
