"""The result of a round: totals, per-assembly breakdown, and the rule applied.

The rule (essay, section 7f): a simple majority of the votes cast decides. Abstentions are
not votes cast. With more than two options and no majority, a runoff between the first
two is proposed. Equal votes are reported as a tie, never broken by the software.
"""

from __future__ import annotations

import math

__all__ = ["compute_result", "decide", "quorum_check", "recall_rule", "RunningSums", "RULE"]

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


TIED = object()
"""What :func:`lead_of` says of an assembly where two or more options share the most votes."""


def lead_of(counts: dict[str, int]):
    """The option with the most votes of one assembly's count, alone; :data:`TIED` when two or
    more share the most; None when no option got a vote (the assembly carries nothing).

    >>> lead_of({"A": 3, "B": 1}), lead_of({"A": 2, "B": 2}) is TIED, lead_of({"A": 0, "B": 0})
    ('A', True, None)
    """
    top, leader, n_top = 0, None, 0
    for o, v in counts.items():
        if v > top:
            top, leader, n_top = v, o, 1
        elif v == top:
            n_top += 1
    if top == 0:
        return None
    return leader if n_top == 1 else TIED


class RunningSums:
    """A round's standing counts added up as they arrive, so that the close reads its sums
    instead of adding up every record (10^4-10^5 at a federation's close).

    Holds what :func:`compute_result` adds up: ``totals``, ``carried``, ``tied`` (assemblies
    tied inside), ``reporting`` (assemblies with a standing count), ``abstain``, ``present``.
    :meth:`replace` takes an assembly's earlier standing count out (a recount replaces it) and
    puts its new one in, with the same per-assembly arithmetic, so the sums equal
    ``compute_result`` over the standing counts after any sequence of counts and recounts
    (tests/voting/test_running_sums.py checks it against random sequences). Integers only: no
    rounding drifts.

    >>> s = RunningSums(["A", "B"])
    >>> s.replace(None, {"counts": {"A": 3, "B": 1}, "present": 5, "abstain": 1})
    >>> s.replace({"counts": {"A": 3, "B": 1}, "present": 5, "abstain": 1},
    ...           {"counts": {"A": 2, "B": 2}, "present": 5, "abstain": 1})
    >>> s.totals, s.carried, s.tied, s.reporting
    ({'A': 2, 'B': 2}, {'A': 0, 'B': 0}, 1, 1)
    """

    def __init__(self, options: list[str], data: dict | None = None):
        d = data or {}
        self.options = list(options)
        self.totals = {o: int(d.get("totals", {}).get(o, 0)) for o in options}
        self.carried = {o: int(d.get("carried", {}).get(o, 0)) for o in options}
        self.tied = int(d.get("tied", 0))
        self.reporting = int(d.get("reporting", 0))
        self.abstain = int(d.get("abstain", 0))
        self.present = int(d.get("present", 0))

    def replace(self, old: dict | None, new: dict) -> None:
        """An assembly's standing count goes from ``old`` (None: it had none) to ``new``; each
        ``{"counts", "present", "abstain"}``."""
        if old is None:
            self.reporting += 1
        else:
            self._add(old, -1)
        self._add(new, 1)

    def _add(self, t: dict, sign: int) -> None:
        counts = {o: int(t["counts"].get(o, 0)) for o in self.options}
        for o, v in counts.items():
            self.totals[o] += sign * v
        self.abstain += sign * int(t["abstain"])
        self.present += sign * int(t["present"])
        leader = lead_of(counts)
        if leader is TIED:
            self.tied += sign
        elif leader is not None:
            self.carried[leader] += sign

    def as_dict(self) -> dict:
        return {"totals": self.totals, "carried": self.carried, "tied": self.tied, "reporting": self.reporting,
                "abstain": self.abstain, "present": self.present}


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
        for o, v in counts.items():
            totals[o] += v
        abstain += int(t["abstain"])
        present += int(t["present"])
        leader = lead_of(counts)
        if leader is TIED:
            tied_assemblies += 1
        elif leader is not None:
            carried[leader] += 1
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
