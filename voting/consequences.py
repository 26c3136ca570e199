"""What a published result sets in motion: a runoff, a recall, a recalled delegate's successor.
Pure rules; the store executes them.

The rule of the count itself (simple majority of votes cast, a runoff between the first two
when no option has one) is :func:`voting.result.decide`. This module says what follows from
its answer, so that the store's close only carries it out in the same transaction.

A recall passes with a majority of the votes cast for ``recall`` **and** a turnout quorum:
members present (counts and ballots, as the result reports them) at least the round's
``quorum`` (recorded when the recall was opened) times the constituency's registered members.
A recall that passes opens the election of a successor: the constituency's clerks put forward
candidates until ``nominations_close``; the election is then a round among them (simple
majority, a runoff between the first two); a tie or no vote sends it back to nominations.
"""

from __future__ import annotations

from voting.result import quorum_check
from voting.rounds import RUNOFF_DELAY_S

__all__ = ["recall_outcome", "runoff_spec", "successor_election", "election_round_spec", "election_outcome",
           "MIN_CANDIDATES"]

MIN_CANDIDATES = 2
"""An election is a choice: with fewer candidates when nominations close, they stay open another window."""


def _pct(num: int, den: int) -> str:
    """``num / den`` as a percentage cut (not rounded) to 0.1, so 149 of 300 never reads as 50%."""
    return f"{(num * 1000 // den) / 10:.1f}%" if den else "0.0%"


def recall_outcome(r: dict, result: dict) -> dict | None:
    """For a recall round, ``{"delegate", "passed", "majority", "quorum", "verdict", "figures",
    "reason"}``; else None.

    ``majority``: "recall" won (more than half of the votes cast). ``quorum``: the turnout
    check (:func:`voting.result.quorum_check`) with the round's recorded ``quorum``, or None for
    a recall opened before quorums were recorded (decided by the majority alone). ``reason``
    says it in one sentence: the ``verdict``, then the ``figures``.

    >>> out = recall_outcome({"kind": "recall", "subject": "d-1", "quorum": 0.5},
    ...                      {"winner": "recall", "totals": {"recall": 80, "keep": 40},
    ...                       "votes_cast": 120, "majority": 61, "present": 123, "registered": 300})
    >>> out["passed"], out["reason"]
    (False, 'not passed: the quorum was not reached. recall 80 of 120 votes cast (majority 61): a majority; \
turnout 123 of 300 registered members (41.0%), quorum 50% (150): not reached.')
    """
    if r["kind"] != "recall" or not r["subject"]:
        return None
    majority = result["winner"] == "recall"
    cast = result["votes_cast"]
    votes = (f"recall {result['totals'].get('recall', 0)} of {cast} votes cast (majority {result['majority']}): "
             f"{'a majority' if majority else 'no majority'}") if cast else "no votes cast"
    fraction = r.get("quorum")
    if fraction is None:  # opened before quorums were recorded: the majority alone, as then
        verdict = "passed" if majority else "not passed: no majority for recall"
        figures = f"{votes}; no quorum was in force for this round"
        return {"delegate": r["subject"], "passed": majority, "majority": majority, "quorum": None,
                "verdict": verdict, "figures": figures, "reason": f"{verdict}. {figures}."}
    q = quorum_check(result["present"], result["registered"], fraction)
    passed = majority and q["reached"]
    if passed:
        verdict = "passed"
    elif not majority:
        verdict = "not passed: no majority for recall"
    else:
        verdict = "not passed: the quorum was not reached"
    turnout = (f"turnout {q['present']} of {q['registered']} registered members ({_pct(q['present'], q['registered'])}), "
               f"quorum {fraction * 100:g}% ({q['needed']}): {'reached' if q['reached'] else 'not reached'}")
    figures = f"{votes}; {turnout}"
    return {"delegate": r["subject"], "passed": passed, "majority": majority, "quorum": q,
            "verdict": verdict, "figures": figures, "reason": f"{verdict}. {figures}."}


def runoff_spec(r: dict, result: dict, now: float) -> dict | None:
    """The round spec of the runoff a result calls for (between its first two options), else None.

    The runoff opens after a pause, so that every screen has shown the first result before
    the next countdown starts: as long as the round itself, between 10 s and
    :data:`~voting.rounds.RUNOFF_DELAY_S` (a 40 s round is followed 40 s later; a 3-minute
    one, 60 s later). It lasts as long as the round it settles, among the same assemblies.

    >>> spec = runoff_spec({"title": "Q", "duration_s": 40.0, "scope": None},
    ...                    {"decision": "runoff", "runoff": ["A", "B"]}, 1000.0)
    >>> spec["opens_at"], spec["closes_at"]
    (1040.0, 1080.0)
    """
    if result["decision"] != "runoff":
        return None
    pause = min(RUNOFF_DELAY_S, max(10.0, r["duration_s"]))
    return {"title": f"Runoff: {r['title']}", "options": result["runoff"], "duration_s": r["duration_s"],
            "opens_at": now + pause, "closes_at": now + pause + r["duration_s"],
            "scope": r["scope"]}


def successor_election(r: dict, recall: dict, now: float, nomination_s: float, duration_s: float) -> dict | None:
    """The election a passed recall opens: ``{"recalled", "recall_round", "scope",
    "nomination_s", "duration_s", "nominations_close"}``, or None when the recall did not pass.

    Candidates are put forward from the close until ``nominations_close``; the election round
    then lasts ``duration_s`` among the recall's assemblies (the constituency)."""
    if recall is None or not recall["passed"]:
        return None
    return {"recalled": recall["delegate"], "recall_round": r["id"], "scope": r["scope"],
            "nomination_s": nomination_s, "duration_s": duration_s, "nominations_close": now + nomination_s}


def election_round_spec(e: dict, candidates: list[str], recalled_name: str, now: float) -> dict | None:
    """The round of an election whose nominations close now: the candidates as options, in the
    order they were put forward; or None with fewer than :data:`MIN_CANDIDATES` (nominations
    then stay open another ``nomination_s``)."""
    if len(candidates) < MIN_CANDIDATES:
        return None
    return {"title": f"Election of a successor to delegate {recalled_name}", "options": list(candidates),
            "duration_s": e["duration_s"], "opens_at": now, "closes_at": now + e["duration_s"],
            "scope": e["scope"]}


def election_outcome(result: dict, e: dict, now: float) -> dict:
    """What an election round's (or its runoff's) result does to the election.

    ``{"state": "decided", "winner"}`` when a candidate has a majority of the votes cast;
    ``{"state": "voting"}`` when a runoff between the first two follows; otherwise (a tie, which
    the software never breaks, or no vote cast) ``{"state": "nominating", "nominations_close",
    "note"}``: nominations reopen for another window, the candidates put forward so far stay, and
    the constituency votes again.

    >>> election_outcome({"decision": "tie", "tied": ["A", "B"], "winner": None},
    ...                  {"nomination_s": 60.0}, 1000.0)["nominations_close"]
    1060.0
    """
    if result["decision"] == "adopted":
        return {"state": "decided", "winner": result["winner"]}
    if result["decision"] == "runoff":
        return {"state": "voting"}
    why = f"tie between {', '.join(result['tied'])}" if result["decision"] == "tie" else "no votes were cast"
    return {"state": "nominating", "nominations_close": now + e["nomination_s"],
            "note": f"{why}: nominations reopen and the constituency votes again"}
