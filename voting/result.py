"""The result of a round: totals, per-assembly breakdown, and the rule applied.

The rule (essay, section 7f): a simple majority of the votes cast decides. Abstentions are
not votes cast. With more than two options and no majority, a runoff between the first
two is proposed. Equal votes are reported as a tie, never broken by the software.
"""

from __future__ import annotations

import math

__all__ = ["compute_result", "decide", "quorum_check", "recall_rule", "RULE"]

RULE = "simple majority of votes cast; abstentions are not votes cast; " \
       "with more than two options and no majority, a runoff between the first two"


def recall_rule(quorum: float) -> str:
    """The rule of a recall round, with the turnout quorum in force when it was opened."""
    return (f"recall passes with more than half of the votes cast for 'recall' and members present at least "
            f"{quorum * 100:g}% of the constituency's registered members; abstentions are not votes cast "
            "but those present count for the turnout")


def quorum_check(present: int, registered: int, fraction: float) -> dict:
    """Whether a round's turnout reached a quorum: members present >= ``fraction`` of registered.

    ``needed`` is the smallest whole number of members at or above ``fraction * registered``
    (a hair below it is forgiven, so that a fraction such as 1/3, not exact in binary, still
    gives 100 of 300); ``present`` counts every member the standing counts report present and
    every ballot cast, as the result does.

    >>> q = quorum_check(123, 300, 0.5)
    >>> q["needed"], q["reached"], q["turnout"]
    (150, False, 0.41)
    >>> quorum_check(100, 300, 1 / 3)["reached"]
    True
    """
    needed = max(1, math.ceil(fraction * registered - 1e-9))
    return {"fraction": fraction, "registered": registered, "needed": needed, "present": present,
            "turnout": round(present / registered, 4) if registered else 0.0, "reached": present >= needed}


def compute_result(options: list[str], tallies: list[dict], registered: int) -> dict:
    """Add up the standing count of every assembly.

    Parameters
    ----------
    options : the round's options, in their order.
    tallies : one dict per assembly that reported: ``{"id", "counts", "present",
        "abstain", ...}`` (extra keys such as ``members``, ``hash`` are kept).
    registered : registered members of every assembly entitled to vote (for turnout).

    Returns
    -------
    dict with ``totals``, ``abstain``, ``present``, ``votes_cast``, ``registered``,
    ``turnout`` (present / registered, 4 decimals), ``assemblies`` (sorted by id),
    ``carried`` ({option: assemblies where it had the most votes alone}),
    ``assemblies_tied``, ``majority`` (votes needed), ``decision``, ``winner``,
    ``tied`` and ``runoff``, and ``rule``.

    Examples
    --------
    >>> r = compute_result(["A", "B"], [{"id": "x", "counts": {"A": 3, "B": 1},
    ...     "present": 5, "abstain": 1}], 10)
    >>> r["totals"], r["decision"], r["winner"], r["turnout"]
    ({'A': 3, 'B': 1}, 'adopted', 'A', 0.5)
    """
    totals = dict.fromkeys(options, 0)
    abstain = present = 0
    carried = dict.fromkeys(options, 0)
    tied_assemblies = 0
    rows = []
    for t in sorted(tallies, key=lambda t: t["id"]):
        src = t["counts"]
        # audit records already hold every option in order: reuse them as they are
        counts = src if list(src) == options else {o: int(src.get(o, 0)) for o in options}
        top, leader, n_top = 0, None, 0
        for o, v in counts.items():
            totals[o] += v
            if v > top:
                top, leader, n_top = v, o, 1
            elif v == top:
                n_top += 1
        abstain += int(t["abstain"])
        present += int(t["present"])
        if top > 0 and n_top == 1:
            carried[leader] += 1
        elif top > 0:
            tied_assemblies += 1
        row = dict(t)
        row["counts"] = counts
        rows.append(row)
    out = decide(options, totals, registered)
    out.update(abstain=abstain, present=present, assemblies_reporting=len(rows), assemblies=rows,
               carried=carried, assemblies_tied=tied_assemblies,
               turnout=round(present / registered, 4) if registered else 0.0)
    return out


def decide(options: list[str], totals: dict[str, int], registered: int) -> dict:
    """The rule applied to the totals: ``decision``, ``winner``, ``tied``, ``runoff``, ``majority``."""
    cast = sum(totals.values())
    majority = cast // 2 + 1
    ranked = sorted(options, key=lambda o: (-totals[o], options.index(o)))
    winner, tied, runoff = None, [], None
    if cast == 0:
        decision = "no_votes"
    elif totals[ranked[0]] >= majority:
        decision, winner = "adopted", ranked[0]
    else:
        top = totals[ranked[0]]
        tied = [o for o in options if totals[o] == top] if list(totals.values()).count(top) > 1 else []
        if len(options) > 2:
            second = totals[ranked[1]]
            # the first two are well defined unless a third option shares second place
            if sum(1 for o in options if totals[o] >= second) == 2:
                decision, runoff = "runoff", [ranked[0], ranked[1]]
            else:
                decision = "tie"
                tied = [o for o in options if totals[o] >= second]
        else:
            decision = "tie"
    return {
        "rule": RULE,
        "options": list(options),
        "totals": dict(totals),
        "votes_cast": cast,
        "registered": registered,
        "majority": majority if cast else None,
        "decision": decision,
        "winner": winner,
        "tied": tied,
        "runoff": runoff,
    }
