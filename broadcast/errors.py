"""The one exception of the broadcast domain.

Like every domain error of councilcast it carries ``field``, ``reason`` and ``kind``; the
web layer maps the kind to a status. ``code`` is the finer, documented reason class
(docs/broadcast.md), and ``retry_after`` tells a WHEP player when a channel with nothing
on air is worth asking again.
"""

from __future__ import annotations

__all__ = ["BroadcastError", "CODES", "RETRY_AFTER_S", "FULL_RETRY_AFTER_S"]

RETRY_AFTER_S = 5
"""Seconds a player should wait before asking again for a channel that is not live."""
FULL_RETRY_AFTER_S = 10
"""Seconds a client should wait when every media session is taken (unconnected ones time out in 10 s)."""

CODES = {
    "bad_offer": "invalid",            # malformed SDP
    "unknown_channel": "not_found",
    "unknown_session": "not_found",
    "unsupported": "unsupported",      # tracks or codecs we cannot take (406)
    "busy": "conflict",                # the channel already has a publisher
    "not_live": "conflict",            # WHEP on a channel with nothing on air (with Retry-After)
    "bad_channel": "invalid",          # an invalid channel name or setting
    "bad_caption": "invalid",          # a caption cue without text, too long, or of a wrong duration
    "bad_camera": "invalid",           # a synthetic camera of a size or rate it cannot make
    "full": "unavailable",             # every media session (in all, or of this address) is taken (503)
    "bad_ice_interface": "invalid",    # COUNCILCAST_ICE_INTERFACES names no address or interface of this machine
    "bad_ice_server": "invalid",       # COUNCILCAST_ICE_SERVERS names something that is not an ICE URL
}


class BroadcastError(ValueError):
    def __init__(self, code: str, field: str | None, reason: str):
        if code not in CODES:
            raise ValueError(f"unknown broadcast error code {code!r}")
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.field = field
        self.reason = reason

    @property
    def kind(self) -> str:
        return CODES[self.code]

    @property
    def retry_after(self) -> int | None:
        return {"not_live": RETRY_AFTER_S, "full": FULL_RETRY_AFTER_S}.get(self.code)
