"""Checking an SDP offer before any peer connection is made (RFC 9725 and the WHEP draft).

A WHIP offer sends (``sendonly`` or ``sendrecv``), a WHEP offer receives (``recvonly`` or
``sendrecv``); both have at most one audio and one video m-line, ICE credentials and a
DTLS fingerprint, and offer a codec we have: VP8 or H.264 (packetization-mode 1) for
video, Opus for audio. A malformed offer is a :class:`BroadcastError` ``bad_offer``
(HTTP 400); a well-formed one we cannot take is ``unsupported`` (HTTP 406). The whole
offer is refused: never a partial answer.
"""

from __future__ import annotations

from aiortc import sdp

from broadcast.errors import BroadcastError

__all__ = ["check_offer", "MAX_OFFER_BYTES"]

MAX_OFFER_BYTES = 64 * 1024
VIDEO_MIME = {"video/vp8", "video/h264"}
AUDIO_MIME = {"audio/opus"}


def check_offer(text: str, role: str) -> sdp.SessionDescription:
    """Parse and check ``text``; ``role`` is ``"whip"`` (ingest) or ``"whep"`` (playback)."""
    if not text.strip():
        raise BroadcastError("bad_offer", "body", "the body must be an SDP offer; it is empty")
    if not text.lstrip().startswith("v=0"):
        raise BroadcastError("bad_offer", "body", "an SDP offer starts with 'v=0'")
    try:
        desc = sdp.SessionDescription.parse(text)
    except Exception as exc:  # aiortc raises ValueError, KeyError, IndexError... on bad lines
        raise BroadcastError("bad_offer", "body", f"malformed SDP: {exc!r}") from None
    if not desc.media:
        raise BroadcastError("bad_offer", "body", "the offer has no m= line")
    seen: dict[str, int] = {}
    wanted = {"whip": ("sendonly", "sendrecv"), "whep": ("recvonly", "sendrecv")}[role]
    for i, m in enumerate(desc.media):
        if m.kind not in ("audio", "video"):
            raise BroadcastError("unsupported", "body", f"m-line {i} is {m.kind}: only audio and video are taken")
        seen[m.kind] = seen.get(m.kind, 0) + 1
        if seen[m.kind] > 1:
            raise BroadcastError("unsupported", "body", f"more than one {m.kind} track (at most one audio and one video)")
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            raise BroadcastError("bad_offer", "body", f"m-line {i} has no ICE ufrag/pwd")
        if m.dtls is None or not m.dtls.fingerprints:
            raise BroadcastError("bad_offer", "body", f"m-line {i} has no DTLS fingerprint")
        if m.rtp.muxId in (None, ""):
            raise BroadcastError("bad_offer", "body", f"m-line {i} has no a=mid")
        direction = m.direction or "sendrecv"
        if m.port != 0 and direction not in wanted:
            raise BroadcastError("unsupported", "body",
                                 f"the {m.kind} m-line is {direction}; {role.upper()} needs {' or '.join(wanted)}")
        mimes = {c.mimeType.lower() for c in m.rtp.codecs}
        if m.kind == "video":
            ok = "video/vp8" in mimes or any(
                c.mimeType.lower() == "video/h264" and str(c.parameters.get("packetization-mode", "0")) == "1"
                for c in m.rtp.codecs)
            if not ok:
                raise BroadcastError("unsupported", "body", "video must offer VP8 or H.264 (packetization-mode=1)")
        elif not (mimes & AUDIO_MIME):
            raise BroadcastError("unsupported", "body", "audio must offer Opus")
    return desc
