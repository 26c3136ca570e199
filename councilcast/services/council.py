"""The Central Council: elected by the Central Assembly from its delegates, by approval.

"A few dozen members elected by the Central Assembly from its ranks." The secretariat opens
an election of N seats among active delegates; every active delegate answers the roll call
with their approvals (up to N; none abstains), replaceable until the close; the close counts
them (:func:`voting.approval.elect`), settles a tie at the last seat by the published draw,
and seats the Council. Who approved whom is public from the close on (a roll call:
delegates answer to their assemblies); until then only who has answered is shown, as no
count is shown before a close, and so that no one knows the draw's seed in advance.

Terms: the Council sits from its election's close until its ``term_ends`` date (inclusive,
UTC) or the close of the next election, whichever comes first; a member recalled as a
delegate leaves it at once (their seat stays vacant until the next election). Rotation:
:func:`voting.approval.check_rotation`.

The elections, approvals and members are :mod:`councilcast.stores.council`'s; the delegates
are the voting service's, read in the same transaction as the write they decide.
"""

from __future__ import annotations

import time

from councilcast.services.voting import VotingService
from councilcast.storage import Database
from councilcast.stores import council as store
from councilcast.stores import sessions as session_store
from voting.approval import ROTATION_TERMS, check_ballot, check_election_spec, check_rotation, elect, today_utc
from voting.rules import VotingError, check_known, iso

__all__ = ["CouncilService"]


def _open_election(c, eid: str, closed_reason: str) -> dict:
    """Election ``eid`` read on connection ``c``, refused when it is unknown or closed already."""
    e = store.get_election(c, eid)
    if e is None:
        raise VotingError("id", "no such election", "not_found")
    if e["closed_at"] is not None:
        raise VotingError("id", closed_reason, "conflict")
    return e


def _elected(eid: str, e: dict) -> dict:
    """The ``council.elected`` event of a closed election ``e``."""
    r = e["result"]
    return {"type": "council.elected", "election": eid, "title": e["title"], "term_ends": e["term_ends"],
            "vacant": r["vacant"], "members": [{"delegate": x["candidate"], "name": x["name"], "seat": x["seat"],
                                                "approvals": x["approvals"]} for x in r["elected"]],
            "draw": r["draw"] is not None, "seed": r["seed"]}


class CouncilService:
    def __init__(self, db: Database, voting: VotingService):
        self.db = db
        self.voting = voting

    # -- the secretariat opens and closes ----------------------------------------------------
    async def open_election(self, body) -> dict:
        """``{"title", "seats", "candidates", "term_ends"?, "item"?}``: one election open at a time;
        every candidate an active delegate; none kept out by rotation."""
        now = time.time()
        spec = check_election_spec(body, today_utc(now))

        def do(c):
            if store.open_election_id(c) is not None:
                raise VotingError("election", "an election of the Council is open: close it first", "conflict")
            people = store.delegates_named(c, spec["candidates"])
            for i, cid in enumerate(spec["candidates"]):
                if cid not in people:
                    raise VotingError(f"candidates[{i}]", "no such delegate")
                if people[cid]["status"] != "active":
                    raise VotingError(f"candidates[{i}]", "this delegate has been recalled", "conflict")
            if spec["item"] is not None and session_store.get_item(c, spec["item"]) is None:
                raise VotingError("item", "no such agenda item", "not_found")
            check_rotation(spec["candidates"], store.past_councils(c, ROTATION_TERMS))
            e = store.create_election(c, spec, now)
            return self._view(c, e)
        return await self.voting.hub.write_and_publish(self.db, do, lambda e: [
            {"type": "council.election.opened", "election": {
                k: e[k] for k in ("id", "title", "seats", "candidates", "term_ends", "item", "opened_at")}}])

    async def close_election(self, eid: str) -> dict:
        """Count the approvals of the delegates active at the close, elect, seat the Council."""
        now = time.time()

        def do(c):
            e = _open_election(c, eid, "the election is closed already")
            cast = store.approvals_of(c, eid)
            counted = {a["delegate"]: a["approve"] for a in cast if a["status"] == "active"}
            people = store.delegates_named(c, e["candidates"])
            eligible = [cid for cid in e["candidates"] if people.get(cid, {}).get("status") == "active"]
            result = elect(eid, e["candidates"], counted, e["seats"], eligible)
            name = {cid: p["name"] for cid, p in people.items()}
            for x in result["elected"]:
                x["name"] = name.get(x["candidate"])
            if result["draw"]:
                for x in result["draw"]["order"]:
                    x["name"] = name.get(x["candidate"])
            result["set_aside"] = [{"delegate": a["delegate"], "name": a["name"], "reason": "recalled before the close"}
                                   for a in cast if a["status"] != "active"]
            result.update(election=eid, closed_at=iso(now), term_ends=e["term_ends"])
            store.close_election(c, eid, result, e["term_ends"], now)
            return self._view(c, store.get_election(c, eid))
        return await self.voting.hub.write_and_publish(self.db, do, lambda e: [_elected(eid, e)])

    # -- the delegates answer the roll call --------------------------------------------------
    async def approve(self, eid: str, did: str, body) -> dict:
        """Delegate ``did``'s approvals ``{"approve": [candidate ids]}``; replaceable until the close."""
        if not isinstance(body, dict):
            raise VotingError("body", "must be a JSON object")
        check_known(body, {"approve"})
        now = time.time()

        def do(c):
            e = _open_election(c, eid, "the election is closed")
            d = self.voting.store.get_delegate(c, did)
            if d is None:
                raise VotingError("delegate", "no such delegate", "not_found")
            if d["status"] != "active":
                raise VotingError("delegate", "this delegate has been recalled: they no longer vote", "conflict")
            approved = check_ballot(body.get("approve"), e["candidates"], e["seats"])
            store.put_approval(c, eid, did, approved, now)
            return {"election": eid, "delegate": did, "name": d["name"], "approve": approved, "at": iso(now)}
        # who answered is public at once; what they approved, from the close
        return await self.voting.hub.write_and_publish(self.db, do, lambda out: [
            {"type": "council.approval", "election": eid, "delegate": did, "name": out["name"], "at": out["at"]}])

    # -- reading -----------------------------------------------------------------------------
    def _view(self, c, e: dict) -> dict:
        people = store.delegates_named(c, e["candidates"])
        cast = store.approvals_of(c, e["id"])
        out = {**e, "state": "open" if e["closed_at"] is None else "closed",
               "candidates": [{"delegate": cid, "name": people.get(cid, {}).get("name"),
                               "status": people.get(cid, {}).get("status")} for cid in e["candidates"]],
               "voted": [{"delegate": a["delegate"], "name": a["name"], "at": a["at"]} for a in cast]}
        if e["closed_at"] is None:
            out["approvals"] = None  # shown from the close
        else:
            out["approvals"] = cast
            out["members"] = store.members_of(c, e["id"])
        return out

    async def list_elections(self) -> list[dict]:
        return await self.db.read(lambda c: [self._view(c, e) for e in store.list_elections(c)])

    async def get_election(self, eid: str) -> dict | None:
        def q(c):
            e = store.get_election(c, eid)
            return None if e is None else self._view(c, e)
        return await self.db.read(q)

    async def current(self) -> dict:
        """The Council now: the members of the latest closed election still sitting (an active
        delegate, the term not over), the seats vacant, and who left and why."""
        today = today_utc(time.time())

        def q(c):
            eid = store.latest_closed_id(c)
            if eid is None:
                return {"election": None, "members": [], "left": [], "vacant": 0, "term_over": False}
            e = store.get_election(c, eid)
            term_over = e["term_ends"] is not None and today > e["term_ends"]
            members, left = [], []
            for m in store.members_of(c, eid):
                if m["status"] != "active":
                    left.append({**m, "reason": "recalled"})
                elif term_over:
                    left.append({**m, "reason": "term ended"})
                else:
                    members.append(m)
            return {"election": {k: e[k] for k in ("id", "title", "seats", "term_ends", "item", "closed_at")},
                    "members": members, "left": left, "vacant": e["seats"] - len(members), "term_over": term_over}
        return await self.db.read(q)
