"""The result of a round: totals, per-assembly breakdown, and the rule applied.

The rule (essay, section 7f): a simple majority of the votes cast decides. Abstentions are
not votes cast. With more than two options and no majority, a runoff between the first
two is proposed. Equal votes are reported as a tie, never broken by the software.
"""

from __future__ import annotations

__all__ = ["compute_result", "RULE"]

RULE = "simple majority of votes cast; abstentions are not votes cast; " \
       "with more than two options and no majority, a runoff between the first two"


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
    totals = {o: 0 for o in options}
    abstain = present = 0
    carried = {o: 0 for o in options}
    tied_assemblies = 0
    rows = []
    for t in sorted(tallies, key=lambda t: t["id"]):
        counts = {o: int(t["counts"].get(o, 0)) for o in options}
        for o in options:
            totals[o] += counts[o]
        abstain += int(t["abstain"])
        present += int(t["present"])
        top = max(counts.values()) if counts else 0
        leaders = [o for o in options if counts[o] == top]
        if top > 0 and len(leaders) == 1:
            carried[leaders[0]] += 1
        elif top > 0:
            tied_assemblies += 1
        rows.append({**t, "counts": counts})
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
        "totals": totals,
        "abstain": abstain,
        "present": present,
        "votes_cast": cast,
        "registered": registered,
        "turnout": round(present / registered, 4) if registered else 0.0,
        "majority": majority if cast else None,
        "assemblies_reporting": len(rows),
        "assemblies": rows,
        "carried": carried,
        "assemblies_tied": tied_assemblies,
        "decision": decision,
        "winner": winner,
        "tied": tied,
        "runoff": runoff,
    }
