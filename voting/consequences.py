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
