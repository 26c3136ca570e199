"""Rounds as anyone may see them, and the one-time ballot codes: pure functions.

:func:`round_state` says where a round stands by server time alone; :func:`public_round`
is the only view of a stored round that leaves the server, and it carries no count of any
kind before the result is published.
"""

from __future__ import annotations

import secrets

from voting.rules import iso

__all__ = ["public_round", "round_state", "new_code", "new_id", "RUNOFF_DELAY_S", "CODE_ALPHABET",
           "CODE_LEN"]

RUNOFF_DELAY_S = 60.0
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on phones
CODE_LEN = 10


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LEN))



def round_state(r: dict, now: float) -> str:
    """scheduled, open, closed or published, by server time."""
    if r.get("published_at") is not None:
        return "published"
    if r.get("closed_at") is not None or now >= r["closes_at"]:
        return "closed"
    if now < r["opens_at"]:
        return "scheduled"
    return "open"


def public_round(r: dict, now: float, brief: bool = False) -> dict:
    """What anyone may see of a round: no count of any kind before the result is published.

    ``brief`` leaves out the per-assembly breakdown (10^4 rows in a federation): events
    and lists carry the totals, ``GET /api/rounds/{id}`` the whole result.
    """
    state = round_state(r, now)
    out = {
        "id": r["id"], "title": r["title"], "options": r["options"], "kind": r["kind"],
        "subject": r["subject"], "assemblies": r["scope"], "state": state,
        "opens_at": iso(r["opens_at"]), "closes_at": iso(r["closes_at"]),
        "opens_at_ts": r["opens_at"], "closes_at_ts": r["closes_at"],
        "duration_s": r["duration_s"], "closed_at": iso(r["closed_at"]),
        "server_time": now,
    }
    if state == "published":
        out["result"] = r["result"]
        if brief:
            out["result"] = {k: v for k, v in r["result"].items() if k != "assemblies"}
        out["final_hash"] = r["final_hash"]
        out["published_at"] = iso(r["published_at"])
    return out


def new_id(prefix: str) -> str:
    """A new id such as ``r-3fa94c1b2e``: 40 random bits, a prefix naming the kind of record."""
    return f"{prefix}-{secrets.token_hex(5)}"
