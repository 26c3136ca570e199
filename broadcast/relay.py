"""Relay mode: pull a channel from an origin over WHEP and serve it to our own viewers.

The relay is a WHEP viewer of the origin and a WHEP server for its viewers; origins and
relays form a tree. The HTTP part (POST the offer, DELETE the session) is the caller's:
:func:`pull` takes a coroutine that sends an offer and returns the answer, so this module
stays free of any web framework.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from aiortc import RTCSessionDescription

from broadcast.channels import Broadcaster, Session
from broadcast.program import track_frames

__all__ = ["pull"]


async def pull(broadcaster: Broadcaster, channel: str, post_offer: Callable[[str], Awaitable[str]],
               on_close: Callable[[], Awaitable[None]] | None = None) -> Session:
    """Open a WHEP session to the origin and put what it sends on air on ``channel`` here.

    ``post_offer(sdp)`` sends the offer to the origin and returns its SDP answer (raising
    whatever it likes on an error status). ``on_close`` runs when the pull ends (e.g. to
    DELETE the session at the origin).
    """
    pc = broadcaster.new_peer()  # the server's ICE configuration: no name looked up per pull
    vt = pc.addTransceiver("video", direction="recvonly")
    at = pc.addTransceiver("audio", direction="recvonly")
    try:
        await pc.setLocalDescription(await pc.createOffer())
        answer = await post_offer(pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    except BaseException:
        await pc.close()
        raise
    video, audio = vt.receiver.track, at.receiver.track  # they exist once the answer is set
    session = Session(secrets.token_urlsafe(24), "relay", channel, pc, on_close=on_close)
    broadcaster.adopt(session)
    broadcaster.go_live(channel, track_frames(video) if video else None, track_frames(audio) if audio else None,
                        source="relay", publisher=session)
    return session
