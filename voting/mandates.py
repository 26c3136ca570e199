"""Mandates: what a General Assembly tells its delegate to do on an agenda item. Pure rules.

A mandate is one assembly's, for one item: ``option`` (vote for this option), ``free`` (the
delegate judges), or ``text`` (instructions in words, which no program can check). Several
assemblies of one constituency may mandate differently; each mandate stands with its
assembly. A roll-call vote is *against* an ``option`` mandate when it chose another option
(abstaining included); a ``free`` mandate is never against, and a ``text`` one is shown for
the assembly to judge (``against`` is None).
"""

from __future__ import annotations

import datetime
import re

from voting.rules import ABSTAIN, VotingError, check_known

__all__ = ["MANDATE_KINDS", "MAX_TEXT", "check_mandate", "marks", "shares", "check_term_ends"]

MANDATE_KINDS = ("option", "free", "text")
MAX_TEXT = 2000


def check_mandate(body, options: list[str] | None) -> dict:
    """``{"item", "kind", "option"?, "text"?}`` -> ``{"kind", "option", "text"}``.

    ``options``: the item's options (None for an item that is not a decision, which takes only
    a ``free`` or ``text`` mandate).
    """
    if not isinstance(body, dict):
        raise VotingError("body", "must be a JSON object")
    check_known(body, {"item", "kind", "option", "text"})
    kind = body.get("kind")
    if kind not in MANDATE_KINDS:
        raise VotingError("kind", "must be one of option, free, text")
    option, text = body.get("option"), body.get("text")
    if kind == "option":
        if not options:
            raise VotingError("kind", "an option mandate needs a decision item with options")
        if option not in options:
            raise VotingError("option", f"must be one of the item's options: {', '.join(options)}")
    elif option is not None:
        raise VotingError("option", "only an option mandate names an option")
    if kind == "text":
        if not isinstance(text, str) or not text.strip():
            raise VotingError("text", "a text mandate needs its text")
        if len(text) > MAX_TEXT:
            raise VotingError("text", f"at most {MAX_TEXT} characters")
        text = text.strip()
    elif text is not None and not isinstance(text, str):
        raise VotingError("text", "must be a string")
    elif text is not None and len(text) > MAX_TEXT:
        raise VotingError("text", f"at most {MAX_TEXT} characters")
    # an option or free mandate may carry a note in words beside it
    return {"kind": kind, "option": option, "text": (text.strip() or None) if isinstance(text, str) else None}


def marks(choice: str, mandates: list[dict]) -> list[dict]:
    """Each mandate beside a vote ``choice``, with ``against``: True, False or None (text).

    >>> [m["against"] for m in marks("Variant A", [{"kind": "option", "option": "Variant B"},
    ...                                             {"kind": "option", "option": "Variant A"},
    ...                                             {"kind": "free"}, {"kind": "text", "text": "?"}])]
    [True, False, False, None]
    """
    out = []
    for m in mandates:
        if m["kind"] == "option":
            against = choice != m["option"]
        elif m["kind"] == "free":
            against = False
        else:
            against = None
        out.append({**m, "against": against})
    return out


def shares(counts: dict[str, int]) -> dict[str, float]:
    """Each option's share of the votes cast (abstentions are not votes cast); {} when none.

    >>> shares({"A": 62, "B": 38})
    {'A': 0.62, 'B': 0.38}
    """
    cast = sum(n for o, n in counts.items() if o != ABSTAIN)
    if cast <= 0:
        return {}
    return {o: n / cast for o, n in counts.items() if o != ABSTAIN}


def check_term_ends(value, today: datetime.date | None = None) -> str | None:
    """An optional ``term_ends`` date, exactly ``YYYY-MM-DD`` (UTC), today or later.

    >>> check_term_ends("2027-06-30", datetime.date(2026, 12, 1))
    '2027-06-30'
    """
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise VotingError("term_ends", "must be a date YYYY-MM-DD")
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise VotingError("term_ends", "must be a date YYYY-MM-DD") from None
    if day < (today or datetime.datetime.now(datetime.timezone.utc).date()):
        raise VotingError("term_ends", "is in the past: a term ends today or later")
    return day.isoformat()
