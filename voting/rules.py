"""Validation rules for assemblies, rounds and counts.

Every check raises :class:`VotingError` naming the offending field, so the web layer can
turn it into ``{"error": {"field": ..., "reason": ...}}`` with a 4xx status.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

__all__ = ["VotingError", "check_known", "KINDS", "Tally", "check_tally", "check_round_spec", "check_assembly_spec",
           "check_int", "parse_time", "iso", "ABSTAIN", "RECALL_MAX_AHEAD_S",
           "check_recall_opens_at", "check_recall_request", "check_quorum", "check_candidate",
           "NOMINATION_DEFAULT_S", "NOMINATION_MAX_S", "DEFAULT_RECALL_QUORUM"]

ABSTAIN = "abstain"
MAX_OPTIONS = 20
MAX_DURATION_S = 7 * 24 * 3600
LATEST_OPENS_AT = datetime(9999, 1, 1, tzinfo=timezone.utc).timestamp()
"""Rounds must open before this, so that closes_at (at most MAX_DURATION_S later) can still be
written as an ISO 8601 timestamp (years stop at 9999)."""
MAX_MEMBERS = 10_000_000
RECALL_MAX_AHEAD_S = 7 * 24 * 3600
"""A recall round opens at most this far ahead: a clerk cannot block every recall of a shared
delegate by scheduling one for a distant year (the others would only ever get 409)."""


def check_recall_opens_at(opens_at: float, now: float) -> None:
    if opens_at > now + RECALL_MAX_AHEAD_S:
        raise VotingError("opens_at", "a recall round opens at most 7 days ahead")


DEFAULT_RECALL_QUORUM = 0.5
"""The turnout quorum of a recall round by default: members present at least half of the
constituency's registered members (docs/voting.md, "Recall": the largest quorum that a delegate's
supporters can never use to block an absolute majority of the constituency by staying away)."""
NOMINATION_DEFAULT_S = 24 * 3600.0
"""How long the constituency's clerks may put forward candidates for a recalled delegate's
successor, from the recall's close, by default: one day, so that every shift's assembly meets."""
NOMINATION_MAX_S = 7 * 24 * 3600.0


def check_quorum(value, name: str = "recall_quorum") -> float:
    """A turnout quorum: a fraction of the registered members, above 0 and at most 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise VotingError(name, "must be a number (a fraction of the registered members)")
    if not 0 < value <= 1:
        raise VotingError(name, "must be above 0 and at most 1 (a fraction of the registered members)")
    return float(value)


def _seconds(body: dict, name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise VotingError(name, "must be a number of seconds")
    if not low <= value <= high:
        raise VotingError(name, f"must be between {low:g} and {high:g}")
    return float(value)


def check_recall_request(body, now: float) -> dict:
    """A clerk's recall request: ``{"duration_s"?, "opens_at"?, "now"?, "nomination_s"?,
    "election_duration_s"?}`` checked, absent fields as None (``now`` as False).

    ``duration_s`` is needed to open a recall (the store says so when none is scheduled);
    joining a scheduled one needs nothing. ``now: true`` brings a scheduled recall forward to
    now (or opens a new one now) and cannot be given with ``opens_at``, which is at most
    :data:`RECALL_MAX_AHEAD_S` ahead. ``nomination_s`` and ``election_duration_s`` set the
    successor's election should the recall pass (defaults: :data:`NOMINATION_DEFAULT_S`, and
    the recall round's own duration).
    """
    if not isinstance(body, dict):
        raise VotingError(None, "body must be a JSON object")
    check_known(body, {"duration_s", "opens_at", "now", "nomination_s", "election_duration_s"})
    out = {"duration_s": _seconds(body, "duration_s", 1, MAX_DURATION_S),
           "nomination_s": _seconds(body, "nomination_s", 1, NOMINATION_MAX_S),
           "election_duration_s": _seconds(body, "election_duration_s", 1, MAX_DURATION_S),
           "now": False, "opens_at": None}
    forward = body.get("now", False)
    if not isinstance(forward, bool):
        raise VotingError("now", "must be true or false")
    if forward and body.get("opens_at") is not None:
        raise VotingError("now", "give either now (bring the recall forward to now) or opens_at, not both")
    out["now"] = forward
    if body.get("opens_at") is not None:
        opens_at = parse_time(body["opens_at"], "opens_at")
        if opens_at < now - 1:
            raise VotingError("opens_at", "is in the past")
        check_recall_opens_at(opens_at, now)
        out["opens_at"] = max(opens_at, now)
    return out


def check_candidate(body) -> str:
    """A successor candidate put forward by a clerk: ``{"name"}``, an option label of the election."""
    if not isinstance(body, dict):
        raise VotingError(None, "body must be a JSON object")
    check_known(body, {"name"})
    name = check_text(body.get("name"), "name", max_len=100)
    if name.lower() == ABSTAIN:
        raise VotingError("name", "'abstain' cannot be a candidate: abstentions are counted apart")
    return name


KINDS = ("invalid", "forbidden", "not_found", "conflict")
"""What kind of refusal a :class:`VotingError` is; the web layer maps each kind to one status."""


class VotingError(Exception):
    """A request that breaks a rule: ``field`` names what is wrong, ``reason`` says why and
    ``kind`` (one of :data:`KINDS`) says what sort of refusal it is. The domain knows no
    HTTP: the application's error middleware maps the kind to a status."""

    def __init__(self, field: str | None, reason: str, kind: str = "invalid"):
        if kind not in KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.kind = kind


def check_known(body: dict, fields: set[str]) -> None:
    """Refuse a field not in ``fields``, naming it (a typo is refused, not silently dropped).

    >>> try:
    ...     check_known({"title": "Q", "titel": "Q"}, {"title"})
    ... except VotingError as exc:
    ...     print(exc.field, exc.reason)
    titel unknown field
    """
    unknown = set(body) - fields
    if unknown:
        raise VotingError(sorted(unknown)[0], "unknown field")


@dataclass(frozen=True)
class Tally:
    """One assembly's count for one round: votes per option, abstentions, members present."""

    present: int
    abstain: int
    counts: dict[str, int] = field(default_factory=dict)


def check_int(value, name: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    """An integer (not a bool, not a float) within bounds, or VotingError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise VotingError(name, "must be an integer")
    if value < minimum:
        raise VotingError(name, f"must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise VotingError(name, f"must be <= {maximum}")
    return value


def check_text(value, name: str, *, max_len: int = 200, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise VotingError(name, "must be a non-empty string")
    value = value.strip()
    if len(value) > max_len:
        raise VotingError(name, f"must be at most {max_len} characters")
    return value


def check_tally(body: dict, options: list[str], members: int) -> Tally:
    """Check a clerk's count against the round's options and the assembly's registered membership.

    Rules: every option named in ``counts`` is one of the round's options (missing options
    count 0); counts, ``abstain`` and ``present`` are non-negative integers;
    ``sum(counts) + abstain <= present <= members``.
    """
    if not isinstance(body, dict):
        raise VotingError(None, "body must be a JSON object")
    check_known(body, {"present", "counts", "abstain"})
    if "present" not in body:
        raise VotingError("present", "is required")
    present = check_int(body["present"], "present")
    abstain = check_int(body.get("abstain", 0), "abstain")
    counts_in = body.get("counts")
    if not isinstance(counts_in, dict):
        raise VotingError("counts", "must be an object {option: votes}")
    counts = {opt: 0 for opt in options}
    for opt, n in counts_in.items():
        if opt not in counts:
            raise VotingError(f"counts.{opt}", "not an option of this round")
        counts[opt] = check_int(n, f"counts.{opt}")
    if present > members:
        raise VotingError("present", f"more than the {members} registered members")
    if sum(counts.values()) + abstain > present:
        raise VotingError("counts", "votes plus abstentions exceed the members present")
    return Tally(present=present, abstain=abstain, counts=counts)


def check_assembly_spec(body: dict) -> dict:
    """``{"name": str, "members": int, "workplace": str?}`` checked and normalized."""
    if not isinstance(body, dict):
        raise VotingError(None, "body must be a JSON object")
    return {
        "name": check_text(body.get("name"), "name"),
        "members": check_int(body.get("members"), "members", minimum=1, maximum=MAX_MEMBERS),
        "workplace": check_text(body.get("workplace"), "workplace", required=False),
    }


def parse_time(value, name: str) -> float:
    """An ISO 8601 timestamp (with or without zone; naive means UTC) -> POSIX seconds."""
    if not isinstance(value, str):
        raise VotingError(name, "must be an ISO 8601 timestamp string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise VotingError(name, "is not an ISO 8601 timestamp") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def iso(ts: float | None) -> str | None:
    """POSIX seconds -> ISO 8601 in UTC with milliseconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_options(value, name: str = "options") -> list[str]:
    if not isinstance(value, list) or len(value) < 2:
        raise VotingError(name, "must be a list of at least two options")
    if len(value) > MAX_OPTIONS:
        raise VotingError(name, f"at most {MAX_OPTIONS} options")
    out = []
    for i, opt in enumerate(value):
        opt = check_text(opt, f"{name}[{i}]", max_len=100)
        if opt.lower() == ABSTAIN:
            raise VotingError(f"{name}[{i}]", "'abstain' is not an option; abstentions are counted apart")
        if opt in out:
            raise VotingError(f"{name}[{i}]", "duplicate option")
        out.append(opt)
    return out


def check_round_spec(body: dict, now: float) -> dict:
    """``{"title", "options", "duration_s", "opens_at"?, "assemblies"?}`` checked.

    ``opens_at`` defaults to now; a time in the past is refused (more than 1 s ago),
    so a round can never open retroactively. ``assemblies`` limits who may vote.
    """
    if not isinstance(body, dict):
        raise VotingError(None, "body must be a JSON object")
    check_known(body, {"title", "options", "duration_s", "opens_at", "assemblies"})
    title = check_text(body.get("title"), "title")
    options = check_options(body.get("options"))
    dur = body.get("duration_s")
    if isinstance(dur, bool) or not isinstance(dur, (int, float)) or not math.isfinite(dur):
        raise VotingError("duration_s", "must be a number of seconds")
    if not 1 <= dur <= MAX_DURATION_S:
        raise VotingError("duration_s", f"must be between 1 and {MAX_DURATION_S}")
    opens_at = now
    if body.get("opens_at") is not None:
        opens_at = parse_time(body["opens_at"], "opens_at")
        if opens_at < now - 1:
            raise VotingError("opens_at", "is in the past")
        if opens_at >= LATEST_OPENS_AT:
            raise VotingError("opens_at", "must be before 9999-01-01")
        opens_at = max(opens_at, now)
    scope = body.get("assemblies")
    if scope is not None:
        if not isinstance(scope, list) or not scope or not all(isinstance(a, str) for a in scope):
            raise VotingError("assemblies", "must be a non-empty list of assembly ids")
        scope = sorted(set(scope))
    return {"title": title, "options": options, "duration_s": float(dur), "opens_at": opens_at,
            "closes_at": opens_at + float(dur), "scope": scope}
