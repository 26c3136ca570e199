"""The report-back sheet: what a delegate brings to the next General Assembly meeting.

For each session since a date: each item with its times and the recording at its start; for
a decision, what was decided (the result's figures and audit hash), the delegate's vote
beside each mandate and the constituency's votes as shares; then, for each workplace of the
constituency, its card for the adopted variant (output, equipment, hours, consumption, the
public and investment shares, growth; an assembly whose workplace is not an enterprise of
the planned economy says so); then the open questions for the meeting (a recall under way, an
item still waiting for a mandate). Every figure comes from a published document (a round's
result, a variant set) and carries its hash, as the cards do; the sheet's own SHA-256 is of
its canonical JSON (without the instant it was made).

The sheet is public, like everything on it. It is built from the services, never from SQL.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time

from councilcast.services.delegates import DelegatesService
from councilcast.services.plan_variants import PlanVariantsService
from councilcast.services.sessions import SessionService
from planfactory.errors import PlanError
from voting.rules import VotingError, iso

__all__ = ["ReportBackService", "DEFAULT_DAYS", "check_since"]

DEFAULT_DAYS = 31


def check_since(raw: str | None, now: float) -> tuple[str, float]:
    """``?since=YYYY-MM-DD`` (UTC) -> (the date, its epoch); default: 31 days before ``now``."""
    if raw is None or raw == "":
        day = datetime.datetime.fromtimestamp(now - DEFAULT_DAYS * 86400, datetime.timezone.utc).date()
    else:
        try:
            day = datetime.date.fromisoformat(raw)
        except ValueError:
            raise VotingError("since", "must be a date YYYY-MM-DD (UTC)") from None
    start = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc).timestamp()
    return day.isoformat(), start


def _variant_key(option: str | None) -> str | None:
    """"Variant B" -> "B" (the variant's name in its published set)."""
    if not option:
        return None
    return option[len("Variant "):] if option.startswith("Variant ") else option


class ReportBackService:
    def __init__(self, delegates: DelegatesService, sessions: SessionService, plan_variants: PlanVariantsService):
        self.delegates = delegates
        self.sessions = sessions
        self.plan_variants = plan_variants

    async def sheet(self, did: str, since: str | None, base: str) -> dict | None:
        """The sheet since ``since`` (a UTC date); by default since the day the delegate last
        reported back (:meth:`reported`), else the last 31 days."""
        now = time.time()
        last = await self.delegates.last_report(did)
        if not since and last is not None:  # from the instant of the last report, not its whole day
            since_ts = last["reported_at"]
            since_day = datetime.datetime.fromtimestamp(since_ts, datetime.timezone.utc).date().isoformat()
        else:
            since_day, since_ts = check_since(since, now)
        d = await self.delegates.view(did)
        if d is None:
            return None
        votes_by_item: dict[str, list[dict]] = {}
        for v in d["record"]:
            if v.get("item"):
                votes_by_item.setdefault(v["item"], []).append(v)
        mandates_by_item: dict[str, list[dict]] = {}
        for m in d["mandates"]:
            mandates_by_item.setdefault(m["item"], []).append(m)

        sessions, adopted, pending = [], None, []
        listed = sorted(await self.sessions.list(), key=lambda s: s["starts_at_ts"])
        for s in listed:
            minutes = await self.sessions.minutes(s["id"])
            view = await self.sessions.view(s["id"])
            options = {i["id"]: i for i in view["agenda"]}
            if minutes["session"]["state"] in ("scheduled", "open", "adjourned"):
                for i in view["agenda"]:
                    if i["state"] == "pending":
                        pending.append({"session": s["title"], "session_id": s["id"], "item": i["title"],
                                        "item_id": i["id"], "kind": i["kind"], "options": i["options"],
                                        "mandates": mandates_by_item.get(i["id"], [])})
            started = [i for i in minutes["items"] if i["started_at_ts"] is not None]
            if not started or max(i["started_at_ts"] for i in started) < since_ts:
                continue
            items = []
            for i in started:
                if i["started_at_ts"] < since_ts:
                    continue
                entry = {"id": i["id"], "title": i["title"], "kind": i["kind"], "started_at": i["started_at"],
                         "ended_at": i["ended_at"], "recording": f"{base}{i['recording']}" if i["recording"] else None,
                         "speakers": [t["name"] for t in i["speakers"]]}
                dec = i.get("decision")
                if dec:
                    entry["decision"] = {"outcome": dec["outcome"]["text"] if dec["outcome"] else "not decided yet",
                                         "winner": dec["outcome"]["winner"] if dec["outcome"] else None,
                                         "totals": dec["totals"], "abstain": dec["abstain"],
                                         "final_hash": dec["final_hash"], "rounds": dec["rounds"],
                                         "round": dec["outcome"]["round"] if dec["outcome"] else None}
                    entry["votes"] = [{"choice": v["choice"], "at": v["at"], "rollcall": v["rollcall"],
                                       "mandates": v["mandates"], "shares": v["shares"],
                                       "assemblies": v["assemblies"]} for v in votes_by_item.get(i["id"], [])]
                    entry["mandates"] = mandates_by_item.get(i["id"], [])
                    vs = options[i["id"]]["variant_set"] if i["id"] in options else None
                    if vs is not None and dec["outcome"] and dec["outcome"]["winner"]:
                        adopted = {"variant_set": vs, "option": dec["outcome"]["winner"], "item": i["title"],
                                   "final_hash": dec["final_hash"]}
                items.append(entry)
            sessions.append({"id": s["id"], "title": s["title"], "body": s["body"],
                             "opened_at": minutes["session"]["opened_at"], "closed_at": minutes["session"]["closed_at"],
                             "minutes": f"{base}/sessions/{s['id']}/minutes", "minutes_hash": minutes["hash"],
                             "items": items})

        workplaces = await self._workplaces(d, adopted, base)
        questions = [{"kind": "recall", "text": f"Recall of the delegate: {r['title']} ({r['state']})",
                      "round": r["id"]} for r in d["recalls"] if r["state"] in ("scheduled", "open", "closed")]
        for p in pending:
            given = ", ".join(f"{m['assembly_name']}: {m['option'] or m['kind']}" for m in p["mandates"])
            questions.append({"kind": "mandate", "item": p["item_id"],
                              "text": f"Mandate for “{p['item']}” ({p['session']})"
                                      + (f": given so far {given}" if given else ": none given yet")})
        body = {"delegate": {"id": d["id"], "name": d["name"], "status": d["status"], "term_ends": d["term_ends"],
                             "constituency": [{"id": a["id"], "name": a["name"], "members": a["members"],
                                               "workplace": a.get("workplace")} for a in d["constituency"] if a]},
                "since": since_day, "last_reported": iso(last["reported_at"]) if last else None,
                "generated_at": iso(now), "sessions": sessions, "adopted": adopted,
                "workplaces": workplaces, "open_questions": questions}
        # the hash is of what the sheet says, not of when it was made nor of the address it was
        # asked at (links carry the server's address): the same sheet, the same hash
        content = json.dumps({k: v for k, v in body.items() if k != "generated_at"}, sort_keys=True,
                             separators=(",", ":"), ensure_ascii=False)
        body["hash"] = hashlib.sha256(content.replace(base, "").encode()).hexdigest()
        return body

    async def reported(self, did: str, since: str | None, base: str, printed: str | None = None) -> dict:
        """The delegate reported this sheet back at a meeting: recorded with its hash, so that
        the next sheet starts from now. ``printed``: the hash of the sheet the delegate read out;
        if the sheet has changed since (a vote came in), 409 rather than recording another."""
        if printed is not None and not (isinstance(printed, str) and len(printed) == 64):
            raise VotingError("hash", "must be the sheet's SHA-256 (64 hex digits)")
        r = await self.sheet(did, since, base)
        if r is None:
            raise VotingError("id", "no such delegate", "not_found")
        if printed is not None and printed != r["hash"]:
            raise VotingError("hash", "the sheet has changed since it was printed: print it again", "conflict")
        return await self.delegates.record_report(did, r["since"], r["hash"])

    async def _workplaces(self, d: dict, adopted: dict | None, base: str) -> list[dict]:
        """Each constituency assembly's workplace with its card for the adopted variant."""
        out = []
        s = None
        variant = _variant_key(adopted["option"]) if adopted else None
        if adopted:
            s = await self.plan_variants.get_set(adopted["variant_set"], with_doc=False)
        for a in d["constituency"]:
            if not a:
                continue
            entry = {"assembly": a["name"], "assembly_id": a["id"], "workplace": a.get("workplace"), "card": None}
            if adopted is None or s is None:
                entry["note"] = "No variant of the plan was adopted in this period."
            elif not a.get("workplace"):
                entry["note"] = "This assembly has no workplace registered, so there is no card for it."
            else:
                try:
                    cards = await self.plan_variants.cards(s, variant, a["workplace"], base)
                except PlanError as exc:  # not an enterprise of the planned economy
                    if exc.kind != "not_found":
                        raise
                    cards = []
                if cards:
                    entry["card"] = cards[0]
                    entry["variant_set"] = s["id"]
                else:
                    entry["note"] = (f"The workplace {a['workplace']} is not an enterprise of the planned economy, "
                                     "so the plan factory has no card for it.")
            out.append(entry)
        return out
