"""A WHEP join without the set-up a viewer's peer does not need (issue 14; docs/broadcast.md,
"Joining"): :func:`broadcast.libinternals.lean_join`, as ``Broadcaster.play`` uses it.

Real aiortc viewers join a real :class:`Broadcaster` channel (the synthetic camera) and
decode its video. The evidence that each part is in effect is read from what the peers do
(the answers' DTLS fingerprints, the receivers' estimators, the parses, the candidates),
and each part's self-check failing turns that part off, alone.
"""

from __future__ import annotations

import re

import pytest
from aiortc import RTCSessionDescription, sdp
from aiortc.rate import RemoteBitrateEstimator

from broadcast import libinternals
from broadcast.channels import Broadcaster
from tests.broadcast.peers import offer_pc

FINGERPRINT = re.compile(r"^a=fingerprint:sha-256 (\S+)", re.M)
CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ udp \d+ (\S+) \d+ typ host", re.M)


def fingerprint(answer: str) -> str:
    return FINGERPRINT.search(answer).group(1)


def estimators(session) -> list:
    return [t.receiver._RTCRtpReceiver__remote_bitrate_estimator for t in session.pc.getTransceivers()
            if t.kind == "video"]


async def join(b: Broadcaster, channel: str = "central"):
    """A viewer's offer answered by ``b``; the viewer's peer, the session, the answer."""
    pc = await offer_pc()
    session, answer = await b.play(channel, pc.localDescription.sdp, "127.0.0.1")
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc, session, answer


async def decoded_frames(pc, n: int = 5, timeout: float = 20.0) -> list:
    import asyncio

    track = next(t.receiver.track for t in pc.getTransceivers() if t.kind == "video")
    out = []
    async with asyncio.timeout(timeout):
        while len(out) < n:
            out.append(await track.recv())
    return out


async def _on_air(lean_joins: bool):
    b = Broadcaster(None, lean_joins=lean_joins)
    b.define("central")
    b.start_camera("central", 320, 240, fps=15)
    yield b
    await b.close()


@pytest.fixture
async def live():
    async for b in _on_air(True):
        yield b


@pytest.fixture
async def stock():
    """A broadcaster that negotiates as aiortc does (``lean_joins=False``)."""
    async for b in _on_air(False):
        yield b


@pytest.fixture
def broken():
    """Make one part's self-check fail on purpose; afterwards every check runs again."""
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
    assert all(libinternals.self_check(refresh=True)["join"].values())


def test_every_part_checks_out_on_the_installed_versions():
    result = libinternals.self_check()
    assert result["join"] == {part: True for part in libinternals.JOIN_PARTS}
    assert result["join_refused"] == {part: None for part in libinternals.JOIN_PARTS}
    assert libinternals.join_parts() == result["join"]


async def test_lean_viewers_share_one_certificate_skip_the_estimator_and_decode(live):
    viewers = [await join(live) for _ in range(2)]
    prints = {fingerprint(answer) for _, _, answer in viewers}
    shared = libinternals.shared_certificate()
    expected = next(f.value for f in shared.getFingerprints() if f.algorithm == "sha-256")
    assert prints == {expected}
    for pc, session, _ in viewers:
        frames = await decoded_frames(pc)
        assert frames[-1].width == 320 and frames[-1].height == 240
        assert session.connected_at is not None
        (est,) = estimators(session)
        # the viewer sends RTCP only: the estimator was never built
        assert isinstance(est, libinternals.join._LazyEstimator) and est.real is None
    for pc, _, _ in viewers:
        await pc.close()


async def test_stock_joins_are_aiortc_s_own(stock):
    (pc1, s1, a1), (pc2, s2, a2) = [await join(stock) for _ in range(2)]
    assert fingerprint(a1) != fingerprint(a2)
    assert all(isinstance(e, RemoteBitrateEstimator) for e in estimators(s1) + estimators(s2))
    assert (await decoded_frames(pc1))[-1].width == 320
    await pc1.close()
    await pc2.close()


async def test_the_offer_is_parsed_once_by_check_and_handed_to_aiortc(live, monkeypatch):
    offers = []
    original = libinternals.join._ORIG_PARSE

    def counting(cls, text):
        if text.startswith("v=0") and "a=setup:actpass" in text:
            offers.append(text)
        return original(cls, text)

    with libinternals.lean_join():  # the hooks are in (they go in at the first lean join)
        pass
    pc = await offer_pc()
    # under the hook: every parse that is not handed over reaches this
    monkeypatch.setattr(libinternals.join, "_ORIG_PARSE", counting)
    await live.play("central", pc.localDescription.sdp, "127.0.0.1")
    assert offers == [pc.localDescription.sdp]  # check_offer's; setRemoteDescription got that same object
    await pc.close()


async def test_the_answer_is_not_parsed_again(live, monkeypatch):
    answers = []
    original = libinternals.join._ORIG_PARSE

    def counting(cls, text):
        if "a=setup:passive" in text or "a=setup:active" in text:
            answers.append(text)
        return original(cls, text)

    with libinternals.lean_join():  # the hooks are in
        pass
    pc = await offer_pc()
    monkeypatch.setattr(libinternals.join, "_ORIG_PARSE", counting)
    session, answer = await live.play("central", pc.localDescription.sdp, "127.0.0.1")
    assert answers == []  # setLocalDescription took createAnswer's answer as built
    monkeypatch.undo()
    assert "a=setup:passive" in answer and "a=setup:active" not in answer
    assert "a=candidate:" in answer  # gathered after createAnswer, in the answer given out
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    assert (await decoded_frames(pc, 2))[-1].width == 320
    # the server is the DTLS server, as its answer says
    assert session.pc.getTransceivers()[0].receiver.transport._role == "server"
    await pc.close()


async def test_the_lean_codec_match_is_aiortc_s_on_a_real_offer():
    from aiortc.codecs import CODECS

    pc = await offer_pc()
    desc = sdp.SessionDescription.parse(pc.localDescription.sdp)
    for media in desc.media:
        stock = libinternals.join._ORIG_COMMON_CODECS(CODECS[media.kind], media.rtp.codecs)
        assert libinternals.join._fast_common_codecs(CODECS[media.kind], media.rtp.codecs) == stock and stock
    await pc.close()


async def test_host_candidates_narrowed_to_an_address_of_this_machine(live):
    here = libinternals.host_addresses()
    assert here, "this machine has no non-loopback address"
    live.host_addresses = [here[0]]
    pc, _, answer = await join(live)
    assert set(CANDIDATE.findall(answer)) == {here[0]}
    assert (await decoded_frames(pc, 2))[-1].width == 320
    await pc.close()
    live.host_addresses = ["203.0.113.77"]  # not here: every address, as without the setting
    pc, _, answer = await join(live)
    assert set(CANDIDATE.findall(answer)) == set(here)
    await pc.close()


def client_ice(pc):
    """The aioice connection of an aiortc peer's first transceiver."""
    return pc.getTransceivers()[0].sender.transport.transport.iceGatherer._connection


async def joined_counting_checks(b: Broadcaster):
    """A viewer joins ``b`` and decodes two frames; the STUN requests its ICE end got meanwhile."""
    pc = await offer_pc()
    got = []
    conn = client_ice(pc)
    answer_check = conn.request_received

    def counted(message, addr, protocol):
        got.append(message.transaction_id)
        return answer_check(message, addr, protocol)

    conn.request_received = counted  # the StunProtocol calls it through the instance
    session, answer = await b.play("central", pc.localDescription.sdp, "127.0.0.1")
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    frames = await decoded_frames(pc, 2)
    return pc, session, answer, len(got), frames


async def test_the_server_end_is_ice_lite_and_sends_no_check(live):
    pc, session, answer, checks, frames = await joined_counting_checks(live)
    assert "\r\na=ice-lite\r\n" in answer
    server_end = session.pc.getTransceivers()[0].sender.transport.transport.iceGatherer._connection
    assert isinstance(server_end, libinternals.join.LiteConnection)
    assert client_ice(pc).remote_is_lite and client_ice(pc).ice_controlling
    assert checks == 0  # the viewer ran every check; the server answered them
    assert frames[-1].width == 320
    assert session.pc.iceConnectionState == "completed"
    await pc.close()


async def test_a_stock_server_end_checks_the_viewer_too(stock):
    """The counter above can see checks: aiortc's full agent sends its own (triggered) ones."""
    pc, session, answer, checks, frames = await joined_counting_checks(stock)
    assert "a=ice-lite" not in answer
    assert checks >= 1
    assert frames[-1].width == 320
    await pc.close()


class StunResponder:
    """A STUN server on loopback (RFC 8489 Binding only): what COUNCILCAST_ICE_SERVERS would name."""

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        from aioice import stun

        request = stun.parse_message(data)
        response = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.RESPONSE,
                                transaction_id=request.transaction_id)
        response.attributes["XOR-MAPPED-ADDRESS"] = addr
        self.transport.sendto(bytes(response), addr)

    def error_received(self, exc):
        pass

    def connection_lost(self, exc):
        pass


async def test_a_server_that_gathers_through_a_stun_server_stays_a_full_agent(live):
    """ICE-lite is for an end with host candidates alone; one behind a NAT runs its checks."""
    import asyncio

    from aiortc import RTCIceServer

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(StunResponder, local_addr=("127.0.0.1", 0))
    try:
        live.ice_servers = [RTCIceServer(f"stun:127.0.0.1:{transport.get_extra_info('sockname')[1]}")]
        pc, session, answer, checks, frames = await joined_counting_checks(live)
        assert "a=ice-lite" not in answer
        end = session.pc.getTransceivers()[0].sender.transport.transport.iceGatherer._connection
        assert not isinstance(end, libinternals.join.LiteConnection)
        assert checks >= 1 and frames[-1].width == 320
        await pc.close()
    finally:
        transport.close()


async def test_a_lite_end_that_is_never_checked_gives_up(live, monkeypatch):
    import asyncio

    monkeypatch.setattr(libinternals.join, "LITE_CONNECT_TIMEOUT_S", 0.5)
    pc = await offer_pc()
    session, answer = await live.play("central", pc.localDescription.sdp, "127.0.0.1")
    assert "a=ice-lite" in answer  # the viewer never takes the answer, so never checks
    states = []
    session.pc.on("iceconnectionstatechange", lambda: states.append(session.pc.iceConnectionState))
    async with asyncio.timeout(10):
        while not session.closed:
            await asyncio.sleep(0.05)
    assert "failed" in states
    await pc.close()


async def test_the_address_list_is_cached(monkeypatch):
    calls = []
    original = libinternals.join._ORIG_HOST_ADDRESSES
    monkeypatch.setattr(libinternals.join, "_ORIG_HOST_ADDRESSES", lambda *a: calls.append(a) or original(*a))
    libinternals.join._addresses_cache.clear()
    first = libinternals.host_addresses()
    assert [libinternals.host_addresses() for _ in range(5)] == [first] * 5 and len(calls) == 1


def test_the_shared_certificate_is_replaced_when_old():
    a = libinternals.shared_certificate()
    assert libinternals.shared_certificate() is a
    b = libinternals.shared_certificate(max_age_s=0)
    assert b is not a and libinternals.shared_certificate() is b


async def test_a_publisher_negotiating_meanwhile_is_untouched(live):
    """The lean block is the joining task's only: a peer made elsewhere at the same time gets
    its own certificate and estimators."""
    import asyncio

    from aiortc import RTCPeerConnection

    made = {}

    async def elsewhere():
        await asyncio.sleep(0)
        made["pc"] = RTCPeerConnection()
        made["pc"].addTransceiver("video")

    other = asyncio.ensure_future(elsewhere())
    pc, session, answer = await join(live)
    await other
    assert isinstance(made["pc"].getTransceivers()[0].receiver._RTCRtpReceiver__remote_bitrate_estimator,
                      RemoteBitrateEstimator)
    await made["pc"].close()
    await pc.close()


@pytest.mark.parametrize("part", libinternals.JOIN_PARTS)
async def test_a_part_whose_check_fails_is_left_to_aiortc(live, broken, part):
    def fail():
        raise LookupError("upstream changed")

    broken.setitem(libinternals.join._JOIN_CHECKS, part, fail)
    result = libinternals.self_check(refresh=True)
    assert result["join"][part] is False and "upstream changed" in result["join_refused"][part]
    assert all(on for p, on in result["join"].items() if p != part)
    assert result["path"] == "direct"  # the fan-out does not depend on it
    (pc1, s1, a1), (pc2, s2, a2) = [await join(live) for _ in range(2)]
    if part == "certificate":
        assert fingerprint(a1) != fingerprint(a2)
    else:
        assert fingerprint(a1) == fingerprint(a2)
    assert ("a=ice-lite" in a1) is (part != "ice_lite")
    if part == "estimator":
        assert isinstance(estimators(s1)[0], RemoteBitrateEstimator)
    else:
        assert isinstance(estimators(s1)[0], libinternals.join._LazyEstimator)
    assert (await decoded_frames(pc1, 2))[-1].width == 320
    await pc1.close()
    await pc2.close()
