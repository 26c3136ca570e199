"""Relay mode: pull a channel from an origin over WHEP and serve it to our own viewers.

The relay is a WHEP viewer of the origin and a WHEP server for its viewers; origins and
relays form a tree. The HTTP part (POST the offer, DELETE the session) is the caller's:
:func:`pull` takes a coroutine that sends an offer and returns the answer, so this module
stays free of any web framework.

By default the origin's VP8 and Opus are forwarded as they are (:mod:`broadcast.forward`):
nothing is decoded or encoded here, keyframes are asked of the origin, and the relay offers
its viewers VP8 and Opus only. Where the installed aiortc cannot be tapped
(:func:`broadcast.libinternals.relay_forward_refused`), or with ``forward=False``, the pull
is decoded once and encoded again like a WHIP publisher's (VP8, and H.264 for H.264
viewers). A relay records only when asked (``record=True``).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from aiortc import RTCRtpReceiver, RTCSessionDescription

from broadcast import libinternals
from broadcast.channels import Broadcaster, Session
from broadcast.forward import Forwarder
from broadcast.program import track_frames

__all__ = ["pull"]

log = logging.getLogger(__name__)


async def pull(broadcaster: Broadcaster, channel: str, post_offer: Callable[[str], Awaitable[str]],
               on_close: Callable[[], Awaitable[None]] | None = None, *, forward: bool = True,
               record: bool = False) -> Session:
    """Open a WHEP session to the origin and put what it sends on air on ``channel`` here.

    ``post_offer(sdp)`` sends the offer to the origin and returns its SDP answer (raising
    whatever it likes on an error status). ``on_close`` runs when the pull ends (e.g. to
    DELETE the session at the origin). ``forward``: forward the origin's packets (when this
    aiortc allows it) rather than decode and re-encode them. ``record``: record the channel here.
    """
    pc = broadcaster.new_peer()  # the server's ICE configuration: no name looked up per pull
    vt = pc.addTransceiver("video", direction="recvonly")
    at = pc.addTransceiver("audio", direction="recvonly")
    forwarder = Forwarder() if forward else None
    if forwarder is not None:
        if forwarder.tap(vt.receiver, at.receiver):
            # ask the origin for what we can forward: VP8 (Opus is aiortc's only audio codec we offer)
            vt.setCodecPreferences([c for c in RTCRtpReceiver.getCapabilities("video").codecs
                                    if c.mimeType.lower() == "video/vp8"])
        else:
            log.warning("relay %s: decoding and re-encoding (%s)", channel, libinternals.relay_forward_refused())
            forwarder = None
    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer = await post_offer(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        if forwarder is not None:
            forwarder.bind(_payload_type(vt, "video/vp8"), _payload_type(at, "audio/opus"))
    except BaseException:
        await pc.close()
        raise
    session = Session(secrets.token_urlsafe(24), "relay", channel, pc, on_close=on_close)
    broadcaster.adopt(session)
    if forwarder is not None:
        broadcaster.go_live(channel, None, None, source="relay", publisher=session, record=record, upstream=forwarder)
    else:
        video, audio = vt.receiver.track, at.receiver.track  # they exist once the answer is set
        broadcaster.go_live(channel, track_frames(video) if video else None, track_frames(audio) if audio else None,
                            source="relay", publisher=session, record=record)
    return session


def _payload_type(transceiver, mime: str) -> int | None:
    """The payload type the origin agreed for ``mime``, or None (it sends none: nothing to forward)."""
    return next((c.payloadType for c in libinternals.transceiver_codecs(transceiver) if c.mimeType.lower() == mime),
                None)
