"""The session service: the Central Assembly's and its Council's sessions, live on every screen.

It applies the procedure of :mod:`assembly.sessions`, keeps the rows in
:mod:`councilcast.stores.sessions`, opens a decision item's vote as a round of the voting
service (a runoff stays with the same item), records the item's outcome when the final
round is published, and tells every screen on ``/ws``: ``session.opened``,
``session.adjourned``, ``session.closed``, ``item.started``, ``item.ended``,
``speakers.changed``, ``floor.granted``, ``floor.ended``; a screen that connects mid-session
gets a ``session.state`` snapshot of every live session in its hello.

On PostgreSQL (a bus on the hub) each event, with the session's view read on the writer's
connection, goes out with ``pg_notify`` in the transaction that made it true
(:meth:`SessionService._write`); every process keeps its ``live`` views from the events it
receives, for its hello, and re-reads them after a lost LISTEN connection.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable

from assembly.sessions import SessionError, check_grant, check_item, check_order, check_session, iso, outcome, \
    transition
from councilcast.events import EventHub
from councilcast.services.voting import VotingService
from councilcast.storage import Database
from councilcast.stores import sessions as store
from voting.rules import check_options

__all__ = ["SessionService"]


async def _no_recordings(channel: str) -> list[dict]:
    return []


def _recording_link(recordings: list[dict], t: float | None) -> str | None:
    """``/recordings/{id}#t=<seconds>``: the recording of the channel that holds instant ``t``."""
    if t is None:
        return None
    for r in recordings:
        if r["started_at"] <= t <= r["ended_at"]:
            return f"{r['page']}#t={t - r['started_at']:.1f}"
    return None


def _item_in(c, sid: str, iid: str) -> dict:
    """Item ``iid`` of session ``sid``, read in the caller's transaction, or a 404."""
    item = store.get_item(c, iid)
    if item is None or item["session_id"] != sid:
        raise SessionError("item", "no such item in this session", "not_found")
    return item


def _speaker_in(c, sid: str, spid: str) -> dict:
    """Entry ``spid`` of session ``sid``'s speakers' list, read in the caller's transaction, or a 404."""
    p = store.get_speaker(c, spid)
    if p is None or p["session_id"] != sid:
        raise SessionError("speaker", "no such entry on this session's list", "not_found")
    return p

def _not_closed(c, sid: str) -> None:
    """The minutes of a closed session are final: nothing in it changes any more."""
    if store.get_session(c, sid)["state"] == "closed":
        raise SessionError("id", "the session is closed", "conflict")


log = logging.getLogger(__name__)


class SessionService:
    def __init__(self, db: Database, hub: EventHub, voting: VotingService,
                 variant_options: Callable[[str], Awaitable[list[str] | None]],
                 recordings: Callable[[str], Awaitable[list[dict]]] | None = None):
        self.db = db
        self.hub = hub
        self.voting = voting
        self.variant_options = variant_options
        self.recordings = recordings or _no_recordings
        self.live: dict[str, dict] = {}  # views of the open and adjourned sessions, for the hello
        voting.on_result.append(self._round_published)
        hub.on_received.append(self._received)  # called only with a bus (PostgreSQL)
        hub.on_resync.append(self._resync)

    async def start(self) -> None:
        for s in await self.db.read(store.live_sessions):
            self.live[s["id"]] = await self.view(s["id"])

    def hello(self) -> dict:
        return {"sessions": list(self.live.values())}

    # -- views ---------------------------------------------------------------------------
    async def _rows(self, sid: str) -> tuple[dict, list[dict], list[dict]] | None:
        """(session, items, speakers) of ``sid`` in one read, or None."""
        def q(c):
            s = store.get_session(c, sid)
            return None if s is None else (s, store.items(c, sid), store.speakers(c, sid))
        return await self.db.read(q)

    async def view(self, sid: str) -> dict | None:
        """A session as every screen shows it: state, agenda, current item, speakers' list."""
        found = await self._rows(sid)
        return None if found is None else self._view_of(*found)

    def _view_in(self, c, sid: str) -> dict:
        """:meth:`view` read on connection ``c`` (the writer's, in the transaction it shows)."""
        return self._view_of(store.get_session(c, sid), store.items(c, sid), store.speakers(c, sid))

    def _view_of(self, s: dict, items: list[dict], speakers: list[dict]) -> dict:
        agenda = [self._item_view(i) for i in items]
        current = next((i for i in agenda if i["id"] == s["current_item"]), None)
        waiting = [p for p in speakers if p["state"] in ("waiting", "speaking")]
        return {"id": s["id"], "body": s["body"], "title": s["title"], "channel": s["channel"], "state": s["state"],
                "starts_at": iso(s["starts_at"]), "starts_at_ts": s["starts_at"],
                "opened_at": iso(s["opened_at"]), "closed_at": iso(s["closed_at"]),
                "agenda": agenda, "current_item": current,
                "speakers": [self._speaker_view(p, k) for k, p in enumerate(waiting, start=1)],
                "server_time": time.time()}

    @staticmethod
    def _item_view(i: dict) -> dict:
        return {"id": i["id"], "title": i["title"], "kind": i["kind"], "state": i["state"], "options": i["options"],
                "variant_set": i["variant_set"], "duration_s": i["duration_s"],
                "started_at": iso(i["started_at"]), "ended_at": iso(i["ended_at"]),
                "started_at_ts": i["started_at"], "ended_at_ts": i["ended_at"],
                "rounds": i["rounds"], "outcome": i["outcome"]}

    @staticmethod
    def _speaker_view(p: dict, position: int | None = None) -> dict:
        out = {"id": p["id"], "position": position, "item": p["item_id"], "state": p["state"],
               "who": {"kind": p["who_kind"], "id": p["who_id"], "name": p["who_name"]}}
        if p["granted_at"] is not None:
            out["granted_at_ts"], out["ends_at_ts"] = p["granted_at"], p["ends_at"]
        return out

    async def list(self) -> list[dict]:
        rows = await self.db.read(store.list_sessions)
        return [{"id": s["id"], "body": s["body"], "title": s["title"], "channel": s["channel"],
                 "state": s["state"], "starts_at": iso(s["starts_at"]), "starts_at_ts": s["starts_at"]}
                for s in rows]

    async def _session(self, sid: str) -> dict:
        s = await self.db.read(lambda c: store.get_session(c, sid))
        if s is None:
            raise SessionError("id", "no such session", "not_found")
        return s

    async def _changed(self, sid: str, event: dict | None = None) -> dict:
        """Refresh the live view of ``sid``, publish ``event`` (if any) with it, return the view."""
        v = await self.view(sid)
        self._keep(v)
        if event is not None:
            await self.hub.publish({**event, "session": v})
        return v

    def _keep(self, v: dict) -> None:
        if v["state"] in ("open", "adjourned"):
            self.live[v["id"]] = v
        else:
            self.live.pop(v["id"], None)

    async def _write(self, sid: str, do, event) -> tuple[object, dict]:
        """``do(c)`` as one write, then session ``sid``'s view with ``event`` (a dict, or a
        function of ``do``'s value answering one or None) to every screen: (value, view).

        No bus (SQLite): the write, then :meth:`_changed`, as always. With a bus: the view is
        read and the event emitted in the write's own transaction."""
        pick = event if callable(event) else (lambda _value: event)
        bus = self.hub.bus
        if bus is None:
            value = await self.db.write(do)
            return value, await self._changed(sid, pick(value))

        def tx(c):
            value = do(c)
            v = self._view_in(c, sid)
            ev = pick(value)
            if ev is not None:
                bus.emit(c, {**ev, "session": v})
            return value, v
        value, v = await self.db.write(tx)
        self._keep(v)
        return value, v

    async def _received(self, event: dict, own: bool) -> None:
        """Another process's session event: keep its view for this process's hello."""
        v = event.get("session")
        if not own and isinstance(v, dict) and "state" in v and "agenda" in v:
            self._keep(v)

    async def _resync(self) -> list[dict]:
        """After a lost LISTEN connection: every session live before or now, as it is now."""
        ids = set(self.live) | {s["id"] for s in await self.db.read(store.live_sessions)}
        out = []
        for sid in sorted(ids):
            v = await self.view(sid)
            if v is None:
                continue
            self._keep(v)
            kind = {"open": "session.opened", "adjourned": "session.adjourned", "closed": "session.closed"}.get(v["state"])
            if kind:
                out.append({"type": kind, "id": sid, "session": v, "resync": True})
        return out

    # -- the session ---------------------------------------------------------------------
    async def create(self, body) -> dict:
        spec = check_session(body, time.time())
        s = await self.db.write(lambda c: store.create_session(c, spec, time.time()))
        return await self.view(s["id"])

    async def act(self, sid: str, action: str) -> dict:
        """open, adjourn or close (the chair)."""
        def do(c):
            s = store.get_session(c, sid)
            if s is None:
                raise SessionError("id", "no such session", "not_found")
            state = transition(s["state"], action)
            if state == "closed" and s["current_item"] is not None:
                raise SessionError("item", "an item is current: end it before closing the session", "conflict")
            now = time.time()
            if state == "closed":  # the floor and the list end with the session, as the minutes will say
                for p in store.speakers(c, sid):
                    if p["state"] == "speaking":
                        store.update_speaker(c, p["id"], state="done", done_at=now)
                    elif p["state"] == "waiting":
                        store.update_speaker(c, p["id"], state="withdrawn", done_at=now)
            store.set_state(c, sid, state, now)
            return state
        events = {"open": "session.opened", "adjourned": "session.adjourned", "closed": "session.closed"}
        _, v = await self._write(sid, do, lambda state: {"type": events[state], "id": sid})
        return v

    # -- the agenda ----------------------------------------------------------------------
    async def add_item(self, sid: str, body) -> dict:
        spec = check_item(body)
        if spec["options"] is not None:  # the round's own rules, now rather than when the item starts
            spec["options"] = check_options(spec["options"])
        s = await self._session(sid)
        if s["state"] == "closed":
            raise SessionError("id", "the session is closed", "conflict")
        if spec["variant_set"] is not None and spec["options"] is None:
            options = await self.variant_options(spec["variant_set"])
            if not options:
                raise SessionError("variant_set", f"no published variant set {spec['variant_set']!r} with two or "
                                                  "more variants")
            spec["options"] = options
        item, _ = await self._write(sid, lambda c: store.add_item(c, sid, spec), {"type": "agenda.changed", "id": sid})
        return self._item_view(item)

    async def reorder(self, sid: str, body) -> dict:
        await self._session(sid)

        def do(c):
            current = [i["id"] for i in store.items(c, sid)]
            store.reorder(c, check_order(current, (body or {}).get("order")))
        _, v = await self._write(sid, do, {"type": "agenda.changed", "id": sid})
        return v

    async def start_item(self, sid: str, iid: str) -> dict:
        """Make ``iid`` the current item; a decision opens its round at once."""
        def do(c):
            s = store.get_session(c, sid)
            item = _item_in(c, sid, iid)  # an item belongs to an existing session
            if s["state"] != "open":
                raise SessionError("state", f"the session is {s['state']}: open it first", "conflict")
            if item["state"] != "pending":
                raise SessionError("item", f"the item is {item['state']}", "conflict")
            if s["current_item"] is not None:
                raise SessionError("item", "another item is current: end it first", "conflict")
            store.update_item(c, iid, state="current", started_at=time.time())
            store.set_current_item(c, sid, iid)
            return item
        started = {"type": "item.started", "id": sid, "item": iid}
        if self.hub.bus is not None:  # a decision's item.started goes with its round, below
            item, v = await self._write(sid, do, lambda item: None if item["kind"] == "decision" else started)
        else:
            item = await self.db.write(do)
        if item["kind"] == "decision":
            try:
                r = await self.voting.create_round({"title": item["title"], "options": item["options"],
                                                    "duration_s": item["duration_s"]}, subject=f"item:{iid}")
            except BaseException:  # no item left current without its vote: back to pending
                def undo(c):
                    store.update_item(c, iid, state="pending", started_at=None)
                    store.set_current_item(c, sid, None)
                await self.db.write(undo)
                raise
            if self.hub.bus is not None:
                _, v = await self._write(sid, lambda c: store.update_item(c, iid, rounds=[r["id"]]), started)
                return v
            await self.db.write(lambda c: store.update_item(c, iid, rounds=[r["id"]]))
        if self.hub.bus is not None:
            return v
        return await self._changed(sid, started)

    async def end_item(self, sid: str, iid: str) -> dict:
        def do(c):
            item = _item_in(c, sid, iid)
            _not_closed(c, sid)
            if item["state"] != "current":
                raise SessionError("item", f"the item is {item['state']}, not current", "conflict")
            store.update_item(c, iid, state="done", ended_at=time.time())
            store.set_current_item(c, sid, None)
        _, v = await self._write(sid, do, {"type": "item.ended", "id": sid, "item": iid})
        return v

    async def _round_published(self, r: dict) -> None:
        """A round closed: if it is an item's vote, a runoff joins the item, else its outcome is known."""
        item = await self.db.read(lambda c: store.item_of_round(c, r["id"]))
        if item is None:
            return
        result = r["result"]
        runoff = result.get("runoff_round")
        if runoff:
            do = lambda c: store.update_item(c, item["id"], rounds=[*item["rounds"], runoff])  # noqa: E731
        else:
            out = outcome(result)
            out.update(round=r["id"], final_hash=r["final_hash"])
            do = lambda c: store.update_item(c, item["id"], outcome=out)  # noqa: E731
        await self._write(item["session_id"], do, {"type": "item.outcome" if not runoff else "item.runoff",
                                                   "id": item["session_id"], "item": item["id"]})

    # -- minutes -------------------------------------------------------------------------
    async def minutes(self, sid: str) -> dict | None:
        """The minutes, growing while the session runs: each item with its times, the turns
        taken during it (by name, with their times), a decision's rounds, outcome, totals and
        audit hash, a link into the recording at the item's start, and the minutes' own hash."""
        found = await self._rows(sid)
        if found is None:
            return None
        s, items, speakers = found
        recordings = await self.recordings(s["channel"])
        out_items = []
        for i in items:
            start, end = i["started_at"], i["ended_at"]
            turns = [{"name": p["who_name"], "kind": p["who_kind"], "from": iso(p["granted_at"]),
                      "to": iso(p["done_at"]), "from_ts": p["granted_at"], "to_ts": p["done_at"]}
                     for p in speakers if p["granted_at"] is not None and start is not None
                     and start <= p["granted_at"] <= (end if end is not None else float("inf"))]
            entry = {"id": i["id"], "title": i["title"], "kind": i["kind"], "state": i["state"],
                     "started_at": iso(start), "ended_at": iso(end), "started_at_ts": start, "ended_at_ts": end,
                     "speakers": turns, "recording": _recording_link(recordings, start)}
            if i["kind"] == "decision":
                final = None
                if i["outcome"]:
                    final = await self.voting.get_round(i["outcome"]["round"], breakdown=False)
                entry["decision"] = {"options": i["options"], "rounds": i["rounds"], "outcome": i["outcome"],
                                     "totals": final["result"]["totals"] if final and final["result"] else None,
                                     "abstain": final["result"]["abstain"] if final and final["result"] else None,
                                     "final_hash": i["outcome"]["final_hash"] if i["outcome"] else None}
            out_items.append(entry)
        body = {"session": {"id": s["id"], "body": s["body"], "title": s["title"], "channel": s["channel"],
                            "state": s["state"], "opened_at": iso(s["opened_at"]), "closed_at": iso(s["closed_at"])},
                "items": out_items}
        body["hash"] = hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"),
                                                 ensure_ascii=False).encode()).hexdigest()
        return body

    # -- speakers ------------------------------------------------------------------------
    async def ask_floor(self, sid: str, who: dict, body) -> dict:
        """A delegate or a linked assembly asks for the floor: ``{"id", "position"}``."""
        s = await self._session(sid)
        if s["state"] == "closed":
            raise SessionError("id", "the session is closed", "conflict")
        item = (body or {}).get("item")
        if item is not None and not isinstance(item, str):
            raise SessionError("item", "must be an item id")

        def do(c):
            if item is not None:
                _item_in(c, sid, item)
            mine = [p for p in store.speakers(c, sid) if p["state"] in ("waiting", "speaking")
                    and (p["who_kind"], p["who_id"]) == (who["kind"], who["id"])]
            if mine:
                raise SessionError("who", "already on the speakers' list", "conflict")
            p = store.add_speaker(c, sid, item, who, time.time())
            queue = [q for q in store.speakers(c, sid) if q["state"] in ("waiting", "speaking")]
            return p, [q["id"] for q in queue].index(p["id"]) + 1
        (p, position), _ = await self._write(sid, do, {"type": "speakers.changed", "id": sid})
        return {"id": p["id"], "position": position}

    async def withdraw(self, sid: str, spid: str, who: dict | None) -> dict:
        """Withdraw from the list: the asker (``who``), or the chair (``who`` None)."""
        def do(c):
            p = _speaker_in(c, sid, spid)
            _not_closed(c, sid)
            if who is not None and (p["who_kind"], p["who_id"]) != (who["kind"], who["id"]):
                raise SessionError("Authorization", "only the asker or the chair may withdraw a request",
                                   "forbidden")
            if p["state"] != "waiting":
                raise SessionError("speaker", f"the request is {p['state']}", "conflict")
            store.update_speaker(c, spid, state="withdrawn", done_at=time.time())
        _, v = await self._write(sid, do, {"type": "speakers.changed", "id": sid})
        return v

    async def grant(self, sid: str, spid: str, body) -> dict:
        seconds = check_grant((body or {}).get("seconds"))
        s = await self._session(sid)
        if s["state"] != "open":
            raise SessionError("state", f"the session is {s['state']}", "conflict")

        def do(c):
            p = _speaker_in(c, sid, spid)
            if p["state"] != "waiting":
                raise SessionError("speaker", f"the request is {p['state']}", "conflict")
            if any(q["state"] == "speaking" for q in store.speakers(c, sid)):
                raise SessionError("speaker", "someone has the floor: end their turn first", "conflict")
            now = time.time()
            store.update_speaker(c, spid, state="speaking", granted_at=now, ends_at=now + seconds)
            return store.get_speaker(c, spid)
        _, v = await self._write(sid, do, lambda p: {"type": "floor.granted", "id": sid,
                                                     "speaker": self._speaker_view(p)})
        return v

    async def done(self, sid: str, spid: str) -> dict:
        def do(c):
            p = _speaker_in(c, sid, spid)
            if p["state"] != "speaking":
                raise SessionError("speaker", f"the request is {p['state']}, not speaking", "conflict")
            store.update_speaker(c, spid, state="done", done_at=time.time())
        _, v = await self._write(sid, do, {"type": "floor.ended", "id": sid, "speaker": spid})
        return v

    # -- chapters ------------------------------------------------------------------------
    async def chapters(self, channel: str, start_ts: float, end_ts: float) -> list[dict]:
        """The chapters of a recording of ``channel`` from ``start_ts`` to ``end_ts``: every item
        (start to end, "Item 2: Debate on ...") and every speaker's turn (granted to done,
        "Steel works no. 1 GA has the floor") of the sessions on the channel, clipped to the
        recording; an item or a turn still going on ends at the recording's end. In order of
        start, an item before the turns inside it: ``{"kind", "id", "session", "title",
        "start_ts", "end_ts"}``."""
        items, turns = await self.db.read(lambda c: store.chapter_rows(c, channel, start_ts, end_ts))
        spans = [{"kind": "item", "id": i["id"], "session": i["session_id"],
                  "title": f"Item {i['position']}: {i['title']}",
                  "start_ts": i["started_at"], "end_ts": i["ended_at"]} for i in items]
        spans += [{"kind": "speaker", "id": p["id"], "session": p["session_id"],
                   "title": f"{p['who_name']} has the floor",
                   "start_ts": p["granted_at"], "end_ts": p["done_at"]} for p in turns]
        out = []
        for s in spans:
            s["start_ts"] = max(s["start_ts"], start_ts)
            s["end_ts"] = end_ts if s["end_ts"] is None else min(s["end_ts"], end_ts)
            if s["end_ts"] > s["start_ts"]:
                out.append(s)
        out.sort(key=lambda s: (s["start_ts"], -s["end_ts"], s["kind"] != "item"))
        return out
