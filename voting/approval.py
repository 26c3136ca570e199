"""The Central Council's election: approval voting by roll call, ties settled by a published draw.

"A few dozen members elected by the Central Assembly from its ranks." The Assembly elects the
Council's N seats by roll call with approval voting: each delegate approves up to N
candidates (none is an abstention); the N candidates with the most approvals are elected. A
candidate no one approved is not elected: a seat nobody's approval fills stays vacant.

When candidates tie for the last seat(s), a draw decides, and anyone can redo it:

- the **seed** is ``SHA-256`` (hex) of the canonical JSON of the election's id and every
  ballot counted, ``{"ballots": {delegate id: [approved ids, sorted]}, "election": id}``
  with sorted keys, no spaces, ASCII only (:func:`canonical`);
- each tied candidate's **key** is ``SHA-256(seed + ":" + candidate id)`` (hex, of the UTF-8
  text); the tied candidates are taken in ascending order of their key until the seats are
  filled (:func:`draw_key`).

Why no one steers it alone: the seed depends only on the ballots, which the delegates cast
each with their own token, and on the election's id, fixed at the opening before any ballot.
The secretariat chooses the candidates and the seats before any ballot exists and the
closing instant after; it casts nothing. The ballots are not shown before the close (the
application keeps them hidden, as it keeps every count), so no one, secretariat or delegate,
knows which seed a closing instant or a changed ballot would give; and SHA-256 lets no one
choose a seed for a wanted order except by trying ballots. Seats are numbered in order of
approvals, equal approvals in the order of the same keys, so the whole ranking is reproducible.

Rotation: the Council is renewed whole at each election; a delegate who sat on the last
:data:`ROTATION_TERMS` Councils in a row does not stand for the next (:func:`check_rotation`).

Pure rules: no SQL, no clock.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable, Mapping

from voting.mandates import check_term_ends
from voting.rules import VotingError, check_int, check_known, check_text

__all__ = ["MAX_SEATS", "MAX_CANDIDATES", "ROTATION_TERMS", "RULE", "DRAW_METHOD", "check_election_spec",
           "check_ballot", "count", "canonical", "seed_of", "draw_key", "elect", "check_rotation", "today_utc"]

MAX_SEATS = 100
"""A few dozen members, the essay says; a hundred at most."""
MAX_CANDIDATES = 2000
"""The Central Assembly has 1,000-2,000 delegates: every one of them may stand."""
ROTATION_TERMS = 2
"""A delegate who sat on this many Councils in a row does not stand for the next."""
RULE = ("approval: each delegate approves up to N candidates; the N with the most approvals are elected; "
        "a candidate with no approval is not; a tie for the last seats is decided by the draw")
DRAW_METHOD = ('seed = SHA-256 hex of the canonical JSON {"ballots": {delegate: [approved, sorted]}, '
               '"election": id} (sorted keys, separators "," and ":", ASCII); key = SHA-256 hex of '
               'seed + ":" + candidate id; the tied candidates in ascending order of key take the seats left')


def check_election_spec(body, today: str | None = None) -> dict:
    """``{"title", "seats", "candidates", "term_ends"?, "item"?}`` -> the same, checked.

    ``today`` (``YYYY-MM-DD``, UTC): a term that has already ended is refused.
    """
    if not isinstance(body, dict):
        raise VotingError("body", "must be a JSON object")
    check_known(body, {"title", "seats", "candidates", "term_ends", "item"})
    title = check_text(body.get("title"), "title")
    if "seats" not in body:
        raise VotingError("seats", "is required")
    seats = check_int(body["seats"], "seats", minimum=1, maximum=MAX_SEATS)
    cands = body.get("candidates")
    if not isinstance(cands, list) or not cands:
        raise VotingError("candidates", "must be a non-empty list of delegate ids")
    if len(cands) > MAX_CANDIDATES:
        raise VotingError("candidates", f"at most {MAX_CANDIDATES} candidates")
    seen: set[str] = set()
    for i, c in enumerate(cands):
        if not isinstance(c, str) or not c:
            raise VotingError(f"candidates[{i}]", "must be a delegate id")
        if c in seen:
            raise VotingError(f"candidates[{i}]", "duplicate candidate")
        seen.add(c)
    term = check_term_ends(body.get("term_ends"))
    if term is not None and today is not None and term < today:
        raise VotingError("term_ends", f"the term would have ended already ({term} is before {today})")
    item = body.get("item")
    if item is not None and (not isinstance(item, str) or not item):
        raise VotingError("item", "must be an agenda item id")
    return {"title": title, "seats": seats, "candidates": list(cands), "term_ends": term, "item": item}


def check_ballot(approve, candidates: list[str], seats: int) -> list[str]:
    """A delegate's approvals: distinct candidates, at most ``seats``; ``[]`` abstains. Sorted."""
    if not isinstance(approve, list):
        raise VotingError("approve", "must be a list of candidate ids ([] abstains)")
    if len(approve) > seats:
        raise VotingError("approve", f"at most {seats} candidates (one per seat)")
    allowed = set(candidates)
    seen: set[str] = set()
    for i, c in enumerate(approve):
        if not isinstance(c, str) or c not in allowed:
            raise VotingError(f"approve[{i}]", "not a candidate of this election")
        if c in seen:
            raise VotingError(f"approve[{i}]", "approved twice")
        seen.add(c)
    return sorted(approve)


def count(ballots: Mapping[str, Iterable[str]], candidates: Iterable[str]) -> dict[str, int]:
    """Approvals per candidate (every candidate, 0 included)."""
    out = {c: 0 for c in candidates}
    for approved in ballots.values():
        for c in approved:
            if c in out:
                out[c] += 1
    return out


def canonical(election_id: str, ballots: Mapping[str, Iterable[str]]) -> bytes:
    """The bytes the seed hashes: every counted ballot, approvals sorted, keys sorted, no spaces."""
    doc = {"ballots": {d: sorted(a) for d, a in ballots.items()}, "election": election_id}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def seed_of(election_id: str, ballots: Mapping[str, Iterable[str]]) -> str:
    return hashlib.sha256(canonical(election_id, ballots)).hexdigest()


def draw_key(seed: str, candidate: str) -> str:
    return hashlib.sha256(f"{seed}:{candidate}".encode("utf-8")).hexdigest()


def elect(election_id: str, candidates: list[str], ballots: Mapping[str, Iterable[str]], seats: int,
          eligible: Iterable[str] | None = None) -> dict:
    """Count the ballots and elect.

    ``ballots``: ``{delegate id: approved ids}`` (checked ballots; ``[]`` is an abstention).
    ``eligible``: the candidates who may still take a seat (a candidate recalled before the
    close is withdrawn: their approvals are shown, they are not elected); default all.

    Returns ``{"approvals", "ballots", "abstentions", "elected": [{"candidate", "seat",
    "approvals"}], "vacant", "withdrawn", "seed", "draw", "rule"}``; ``draw`` is None unless a
    tie at the last seat was decided, else ``{"approvals", "tied", "seats", "order": [{"candidate",
    "key"}], "won", "method"}``.
    """
    ballots = {d: sorted(a) for d, a in ballots.items()}
    approvals = count(ballots, candidates)
    ok = set(candidates if eligible is None else eligible)
    seed = seed_of(election_id, ballots)
    keys = {c: draw_key(seed, c) for c in candidates}
    ranked = sorted((c for c in candidates if c in ok and approvals[c] > 0), key=lambda c: (-approvals[c], keys[c]))
    chosen = ranked[:seats]
    draw = None
    if chosen and len(ranked) > seats and approvals[ranked[seats]] == approvals[chosen[-1]]:
        n = approvals[chosen[-1]]
        tied = [c for c in ranked if approvals[c] == n]  # already in order of key
        above = sum(1 for c in chosen if approvals[c] > n)
        draw = {"approvals": n, "tied": sorted(tied), "seats": seats - above,
                "order": [{"candidate": c, "key": keys[c]} for c in tied], "won": tied[:seats - above],
                "method": DRAW_METHOD}
    return {"approvals": approvals, "ballots": len(ballots), "abstentions": sum(1 for a in ballots.values() if not a),
            "elected": [{"candidate": c, "seat": i + 1, "approvals": approvals[c]} for i, c in enumerate(chosen)],
            "vacant": seats - len(chosen), "withdrawn": sorted(c for c in candidates if c not in ok),
            "seed": seed, "draw": draw, "rule": RULE}


def check_rotation(candidates: list[str], councils: list[Iterable[str]], terms: int = ROTATION_TERMS) -> None:
    """Refuse a candidate who sat on each of the last ``terms`` Councils (``councils``: the
    members of each past Council, newest first)."""
    if len(councils) < terms:
        return
    recent = [set(c) for c in councils[:terms]]
    for i, c in enumerate(candidates):
        if all(c in members for members in recent):
            raise VotingError(f"candidates[{i}]", f"sat on the last {terms} Councils in a row: rotation asks "
                                                  "them to sit out this one", "conflict")


def today_utc(ts: float) -> str:
    """``YYYY-MM-DD`` of a POSIX instant, in UTC (terms are dates in UTC)."""
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).date().isoformat()
