"""The one exception of the broadcast domain; the web layer maps ``code`` to a status."""

from __future__ import annotations

__all__ = ["BroadcastError", "CODES"]

CODES = {
    "bad_offer": 400,        # malformed SDP
    "unknown_channel": 404,
    "unknown_session": 404,
    "unsupported": 406,      # tracks or codecs we cannot take
    "busy": 409,             # the channel already has a publisher
    "not_live": 409,         # WHEP on a channel with nothing on air (with Retry-After)
    "bad_channel": 400,      # an invalid channel name or setting
}


class BroadcastError(Exception):
    def __init__(self, code: str, field: str | None, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.field = field
        self.reason = reason

    @property
    def status(self) -> int:
        return CODES[self.code]
