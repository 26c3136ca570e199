"""What a published result sets in motion: a runoff, a recall. Pure rules; the store executes them.

The rule of the count itself (simple majority of votes cast, a runoff between the first two
when no option has one) is :func:`voting.result.decide`. This module says what follows from
its answer, so that the store's close only carries it out in the same transaction.
"""

from __future__ import annotations

from voting.rounds import RUNOFF_DELAY_S

__all__ = ["recall_outcome", "runoff_spec"]


def recall_outcome(r: dict, result: dict) -> dict | None:
    """``{"delegate", "passed"}`` for a recall round (passed when "recall" won), else None."""
    if r["kind"] != "recall" or not r["subject"]:
        return None
    return {"delegate": r["subject"], "passed": result["winner"] == "recall"}


def runoff_spec(r: dict, result: dict, now: float) -> dict | None:
    """The round spec of the runoff a result calls for (between its first two options), else None.

    The runoff opens :data:`~voting.rounds.RUNOFF_DELAY_S` after the close, so that every
    screen has shown the first result before the next countdown starts, and lasts as long
    as the round it settles, among the same assemblies.
    """
    if result["decision"] != "runoff":
        return None
    return {"title": f"Runoff: {r['title']}", "options": result["runoff"], "duration_s": r["duration_s"],
            "opens_at": now + RUNOFF_DELAY_S, "closes_at": now + RUNOFF_DELAY_S + r["duration_s"],
            "scope": r["scope"]}
