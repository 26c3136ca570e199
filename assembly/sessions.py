"""Sessions, agenda items and the speakers' list: the rules of the Central Assembly's procedure.

A session belongs to a body (``central-assembly``, ``central-council`` or
``committee:<slug>``), is televised on a channel and moves scheduled -> open <-> adjourned
-> closed, by the chair (the secretariat). Its agenda is an ordered list of items (report,
debate, decision), each pending, current or done; one item at a time is current. Delegates
and linked assemblies ask for the floor; the chair grants it for a number of seconds and
ends it.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone

__all__ = ["SessionError", "KINDS", "BODIES", "ITEM_KINDS", "check_session", "check_item", "transition",
           "check_order", "check_grant", "outcome", "default_channel", "parse_time", "iso"]

KINDS = ("invalid", "forbidden", "not_found", "conflict")
BODIES = ("central-assembly", "central-council")
ITEM_KINDS = ("report", "debate", "decision")
DEFAULT_CHANNELS = {"central-assembly": "central", "central-council": "council"}
_COMMITTEE = re.compile(r"committee:[a-z0-9][a-z0-9-]{0,39}")
_CHANNEL = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
MAX_TITLE = 200
MAX_OPTIONS = 20
DEFAULT_DECISION_S = 60.0
DEFAULT_FLOOR_S = 120.0
MAX_FLOOR_S = 3600.0

# action -> (states it may start from, state it leads to)
TRANSITIONS = {
    "open": (("scheduled", "adjourned"), "open"),
    "adjourn": (("open",), "adjourned"),
    "close": (("scheduled", "open", "adjourned"), "closed"),
}


class SessionError(Exception):
    """A request the procedure refuses: ``field``, ``reason``, ``kind`` (one of :data:`KINDS`)."""

    def __init__(self, field: str | None, reason: str, kind: str = "invalid"):
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.kind = kind


def parse_time(value, name: str) -> float:
    """An ISO 8601 timestamp (naive means UTC) -> POSIX seconds."""
    if not isinstance(value, str):
        raise SessionError(name, "must be an ISO 8601 timestamp string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SessionError(name, "is not an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    if not 0 <= dt.timestamp() < 253402300799:  # years 1970-9999: stored and shown back as ISO
        raise SessionError(name, "must be between 1970 and 9999")
    return dt.timestamp()


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value, name: str, max_len: int = MAX_TITLE) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SessionError(name, "must be a non-empty string")
    value = " ".join(value.split())
    if len(value) > max_len:
        raise SessionError(name, f"at most {max_len} characters")
    return value


def default_channel(body: str) -> str:
    return DEFAULT_CHANNELS.get(body, "council")


def check_session(spec, now: float) -> dict:
    """``{"body", "title", "starts_at"?, "channel"?}`` -> a checked session spec."""
    if not isinstance(spec, dict):
        raise SessionError(None, "body must be a JSON object")
    unknown = set(spec) - {"body", "title", "starts_at", "channel"}
    if unknown:
        raise SessionError(sorted(unknown)[0], "unknown field")
    body = spec.get("body")
    if not isinstance(body, str) or not (body in BODIES or _COMMITTEE.fullmatch(body)):
        raise SessionError("body", "must be central-assembly, central-council or committee:<slug>")
    channel = spec.get("channel") or default_channel(body)
    if not isinstance(channel, str) or not _CHANNEL.fullmatch(channel):
        raise SessionError("channel", "a channel name is 1-40 of a-z, 0-9 and '-'")
    starts_at = now if spec.get("starts_at") is None else parse_time(spec["starts_at"], "starts_at")
    return {"body": body, "title": _text(spec.get("title"), "title"), "starts_at": starts_at, "channel": channel}


def check_item(spec) -> dict:
    """``{"title", "kind", "variant_set"?, "options"?, "duration_s"?}`` -> a checked item spec.

    A decision needs its options: its own, or those of a published variant set (the
    application resolves ``variant_set`` into ``Variant A``, ``Variant B``, ...).
    """
    if not isinstance(spec, dict):
        raise SessionError(None, "body must be a JSON object")
    unknown = set(spec) - {"title", "kind", "variant_set", "options", "duration_s"}
    if unknown:
        raise SessionError(sorted(unknown)[0], "unknown field")
    kind = spec.get("kind")
    if kind not in ITEM_KINDS:
        raise SessionError("kind", "must be report, debate or decision")
    options = spec.get("options")
    if options is not None:
        if not isinstance(options, list) or not 2 <= len(options) <= MAX_OPTIONS:
            raise SessionError("options", f"must be a list of 2 to {MAX_OPTIONS} options")
        options = [_text(o, f"options[{i}]", 100) for i, o in enumerate(options)]
        if len(set(options)) != len(options):
            raise SessionError("options", "must be distinct")
    variant_set = spec.get("variant_set")
    if variant_set is not None and (isinstance(variant_set, bool) or not isinstance(variant_set, (int, str))):
        raise SessionError("variant_set", "must be a published variant set's id (or 'latest')")
    if kind != "decision" and (options is not None or variant_set is not None):
        raise SessionError("kind", "only a decision item has options or a variant set")
    if kind == "decision" and options is None and variant_set is None:
        raise SessionError("options", "a decision needs options, or a variant_set to take them from")
    duration = spec.get("duration_s", DEFAULT_DECISION_S)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) \
            or not 5 <= duration <= 7 * 24 * 3600:
        raise SessionError("duration_s", "must be a number of seconds in [5, 604800]")
    return {"title": _text(spec.get("title"), "title"), "kind": kind, "options": options,
            "variant_set": None if variant_set is None else str(variant_set), "duration_s": float(duration)}


def transition(state: str, action: str) -> str:
    """The session's state after ``action`` (open, adjourn, close), or a 409 naming why not."""
    allowed, target = TRANSITIONS[action]
    if state not in allowed:
        raise SessionError("state", f"a {state} session cannot {action}", "conflict")
    return target


def check_order(current: list[str], order) -> list[str]:
    """A new order of the agenda: the same item ids, each once."""
    if not isinstance(order, list) or not all(isinstance(x, str) for x in order):
        raise SessionError("order", "must be a list of item ids")
    if sorted(order) != sorted(current) or len(set(order)) != len(order):
        raise SessionError("order", "must list every item of the agenda exactly once")
    return order


def check_grant(seconds) -> float:
    if seconds is None:
        return DEFAULT_FLOOR_S
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds) \
            or not 5 <= seconds <= MAX_FLOOR_S:
        raise SessionError("seconds", f"must be a number of seconds in [5, {MAX_FLOOR_S:.0f}]")
    return float(seconds)


def outcome(result: dict) -> dict | None:
    """The outcome of a decision item from its final round's result, or None while a runoff follows.

    >>> outcome({"decision": "adopted", "winner": "Variant B"})["text"]
    'Variant B adopted'
    """
    decision = result.get("decision")
    if decision == "runoff":
        return None
    if decision == "adopted":
        text = f"{result['winner']} adopted"
    elif decision == "tie":
        text = "Tie: " + " and ".join(result.get("tied") or []) + " (no option adopted)"
    else:
        text = "No vote cast: no option adopted"
    return {"text": text, "winner": result.get("winner") if decision == "adopted" else None}
