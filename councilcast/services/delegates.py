"""The delegates' side: registration with a term, mandates, roll calls on agenda items, the record.

"Delegates ... revocable at any time by those who elected them ... would report back
regularly." The assemblies are sovereign: an item's outcome is the result of the assemblies'
round; a roll call of the delegates on it opens only after that round is published (so no
share is visible before the close), puts each delegate's vote on record beside the mandates
of their constituency's assemblies and those assemblies' votes, and changes no outcome.

The delegates, roll calls and votes are the voting service's (:mod:`councilcast.stores.voting`);
mandates, terms and the item of a roll call are :mod:`councilcast.stores.delegates`'; items
are the session store's, read in the same transaction as the write they decide.
"""

from __future__ import annotations

import time

from councilcast.services.voting import VotingService
from councilcast.storage import Database
from councilcast.stores import delegates as store
from councilcast.stores import sessions as session_store
from voting.mandates import check_mandate, check_term_ends, marks, shares
from voting.rounds import round_state
from voting.rules import VotingError, check_known, iso

__all__ = ["DelegatesService"]


def _item_round(item: dict) -> str | None:
    """The round that decided an item: its outcome's, else its latest (a runoff follows the first)."""
    if item.get("outcome"):
        return item["outcome"]["round"]
    return item["rounds"][-1] if item.get("rounds") else None


class DelegatesService:
    def __init__(self, db: Database, voting: VotingService):
        self.db = db
        self.voting = voting

    # -- registration ------------------------------------------------------------------------
    async def register(self, body) -> tuple[dict, str]:
        """A delegate, their constituency and optional ``term_ends``, and their token: one transaction."""
        if not isinstance(body, dict):
            raise VotingError("body", "must be a JSON object")
        check_known(body, {"name", "assemblies", "term_ends"})
        term = check_term_ends(body.get("term_ends"))
        d, token = await self.voting.create_delegate(body, also=lambda c, d: store.set_term(c, d["id"], term))
        return {**d, "term_ends": term}, token

    # -- mandates ----------------------------------------------------------------------------
    async def record_mandate(self, did: str, aid: str, body) -> dict:
        """Assembly ``aid`` (a clerk's) mandates delegate ``did`` on an agenda item; replaceable
        until the item starts."""
        if not isinstance(body, dict):
            raise VotingError("body", "must be a JSON object")
        iid = body.get("item")
        if not isinstance(iid, str) or not iid:
            raise VotingError("item", "must be an agenda item id")

        def do(c):
            d = self.voting.store.get_delegate(c, did)
            if d is None:
                raise VotingError("id", "no such delegate", "not_found")
            if aid not in d["assemblies"]:
                raise VotingError("Authorization", "only an assembly of the delegate's constituency mandates them",
                                  "forbidden")
            if d["status"] != "active":
                raise VotingError("id", "this delegate has been recalled", "conflict")
            item = session_store.get_item(c, iid)
            if item is None:
                raise VotingError("item", "no such agenda item", "not_found")
            if item["state"] != "pending":
                raise VotingError("item", f"the item is {item['state']}: a mandate can be given or replaced "
                                          "until the item starts", "conflict")
            spec = check_mandate(body, item["options"] if item["kind"] == "decision" else None)
            return store.put_mandate(c, did, aid, iid, spec, time.time())
        m = await self.db.write(do)
        return {**m, "recorded_at": iso(m["recorded_at"])}

    # -- roll calls --------------------------------------------------------------------------
    async def create_rollcall(self, body) -> dict:
        """``{"title", "options"?, "item"?, "round"?}``: refused (409) while the assemblies' round
        it follows is not published. Options default to that round's."""
        if not isinstance(body, dict):
            raise VotingError("body", "must be a JSON object")
        check_known(body, {"title", "options", "item", "round"})
        iid, rid = body.get("item"), body.get("round")
        if iid is not None and not isinstance(iid, str):
            raise VotingError("item", "must be an agenda item id")
        if rid is not None and not isinstance(rid, str):
            raise VotingError("round", "must be a round id")

        def check(c):
            round_id = rid
            if iid is not None:
                item = session_store.get_item(c, iid)
                if item is None:
                    raise VotingError("item", "no such agenda item", "not_found")
                decided_by = _item_round(item)
                if decided_by is None:
                    raise VotingError("item", "the item's round has not run yet: a roll call follows the "
                                              "assemblies' round", "conflict")
                if rid is not None and rid not in item["rounds"]:
                    raise VotingError("round", "not a round of this item")
                round_id = rid or decided_by
            r = None
            if round_id is not None:
                r = self.voting.store.get_round(c, round_id)
                if r is None:
                    raise VotingError("round", "no such round", "not_found")
                if r.get("published_at") is None:
                    raise VotingError("round", f"the assemblies' round is {round_state(r, time.time())}: a roll "
                                               "call opens after its result is published", "conflict")
            return round_id, r
        round_id, r = await self.db.read(check)
        options = body.get("options")
        if options is None and r is not None:  # only an absent list takes the round's (an empty one is refused)
            options = r["options"]
        spec = {"title": body.get("title"), "options": options,
                "round": round_id}
        link = (lambda c, rc: store.link_rollcall(c, rc["id"], iid)) if iid is not None else None
        rc = await self.voting.create_rollcall(spec, also=link)
        return {**rc, "item": iid}

    # -- reporting back ----------------------------------------------------------------------
    async def last_report(self, did: str) -> dict | None:
        return await self.db.read(lambda c: store.last_report(c, did))

    async def record_report(self, did: str, since: str, sheet_hash: str) -> dict:
        """The delegate reported a sheet at a meeting: the next sheet starts from now."""
        def do(c):
            if self.voting.store.get_delegate(c, did) is None:
                raise VotingError("id", "no such delegate", "not_found")
            return store.add_report(c, did, time.time(), since, sheet_hash)
        out = await self.db.write(do)
        return {**out, "reported_at": iso(out["reported_at"])}

    # -- the delegate's record ---------------------------------------------------------------
    async def view(self, did: str) -> dict | None:
        """A delegate with their term, mandates, open roll calls, and each roll-call vote beside
        each mandate on its item (marked when against it) and the constituency's votes as shares
        of votes cast, in total and per assembly."""
        d = await self.voting.delegate(did, page=True)
        if d is None:
            return None
        names = {a["id"]: a["name"] for a in d["constituency"] if a}

        def q(c):
            mandates = store.mandates_of(c, did)
            items = {m["item"]: session_store.get_item(c, m["item"]) for m in mandates}
            rc_items = {v["rollcall"]: store.rollcall_item(c, v["rollcall"]) for v in d["record"]}
            for iid in rc_items.values():
                if iid and iid not in items:
                    items[iid] = session_store.get_item(c, iid)
            rounds = {v["round"]: self.voting.store.get_round(c, v["round"]) for v in d["record"] if v["round"]}
            return store.term_of(c, did), mandates, items, rc_items, rounds
        term, mandates, items, rc_items, rounds = await self.db.read(q)
        for m in mandates:
            m["recorded_at"] = iso(m["recorded_at"])
            it = items.get(m["item"])
            m["item_title"] = it["title"] if it else None
            m["item_state"] = it["state"] if it else None
        for v in d["record"]:
            iid = rc_items.get(v["rollcall"])
            v["item"] = iid
            v["item_title"] = items[iid]["title"] if iid and items.get(iid) else None
            v["mandates"] = marks(v["choice"], [m for m in mandates if iid and m["item"] == iid])
            v["against"] = [m["assembly_name"] for m in v["mandates"] if m["against"]]
            r = rounds.get(v["round"])
            v["shares"], v["assemblies"] = None, []
            if r and r.get("result"):
                mine = [a for a in r["result"]["assemblies"] if a["id"] in d["assemblies"]]
                total = {o: sum(a["counts"].get(o, 0) for a in mine) for o in r["options"]}
                v["shares"] = shares(total)
                v["assemblies"] = [{"id": a["id"], "name": names.get(a["id"], a["id"]), "counts": a["counts"],
                                    "shares": shares(a["counts"])} for a in mine]
                v["decision"] = {"text": r["result"].get("decision"), "winner": r["result"].get("winner"),
                                 "final_hash": r["result"].get("final_hash")}
        def upcoming(c):
            """Items still pending in sessions not closed: what a mandate can still be given on."""
            out = []
            for sess in session_store.list_sessions(c):
                if sess["state"] == "closed":
                    continue
                for it in session_store.items(c, sess["id"]):
                    if it["state"] == "pending":
                        out.append({"id": it["id"], "title": it["title"], "kind": it["kind"], "options": it["options"],
                                    "session": sess["id"], "session_title": sess["title"],
                                    "mandates": [m for m in mandates if m["item"] == it["id"]]})
            return out
        pending = await self.db.read(upcoming)
        open_calls = [rc for rc in await self.voting.list_rollcalls() if rc["closed_at"] is None]
        for rc in open_calls:
            rc["my_vote"] = next((x["choice"] for x in rc["votes"] if x["delegate"] == did), None)
        return {**d, "term_ends": term, "mandates": mandates, "open_rollcalls": open_calls, "pending_items": pending}
