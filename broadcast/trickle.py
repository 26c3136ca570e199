"""Trickle ICE for WHIP and WHEP sessions: the client's late candidates in an SDP fragment.

``PATCH`` on a session URL carries ``application/trickle-ice-sdpfrag`` (RFC 8840): ``a=mid``
lines, each followed by that media section's ``a=candidate`` lines. :func:`parse_sdpfrag`
turns the fragment into the candidates to add; the session adds them. Only UDP candidates
are kept: a WHIP/WHEP server may drop what it does not support (RFC 9725, 4.3.1).
"""

from __future__ import annotations

from aiortc import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp

from broadcast.errors import BroadcastError

__all__ = ["parse_sdpfrag"]


def parse_sdpfrag(frag: str, mids: list[str]) -> list[RTCIceCandidate]:
    """The UDP candidates of ``frag``, each with ``sdpMid`` set to one of ``mids``.

    A candidate before any ``a=mid`` line (or under an unknown mid) belongs to the first
    media section. Raises :class:`BroadcastError` (``bad_offer``, field ``body``) for a
    malformed candidate or a line that is not SDP.
    """
    out: list[RTCIceCandidate] = []
    mid = None
    for line in frag.splitlines():
        line = line.strip()
        if line.startswith("a=mid:"):
            mid = line[6:]
        elif line.startswith("a=candidate:"):
            try:
                cand = candidate_from_sdp(line[2:].split(":", 1)[1])
            except Exception:  # aiortc's parser raises whatever the split or int() raises
                raise BroadcastError("bad_offer", "body", f"malformed candidate line: {line[:100]}") from None
            target = mid if mid in mids else (mids[0] if mids else None)
            if target is None or cand.protocol.lower() != "udp":
                continue
            cand.sdpMid = target
            out.append(cand)
        elif line and not line.startswith(("a=", "m=", "c=")):
            raise BroadcastError("bad_offer", "body", f"not an SDP fragment line: {line[:100]}")
    return out
