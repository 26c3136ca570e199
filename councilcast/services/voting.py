"""The voting service: store calls through the single writer, the round scheduler, the batchers, events.

The rules live in :mod:`voting` (pure), the SQL in :mod:`councilcast.stores.voting`. This
module owns the state in between: rounds not yet published (``pending``), the scheduler
that opens and closes them on the server clock (the only authority on both), the two
batchers that group concurrent counts and ballots into one transaction each, and the events
that every screen receives on ``/ws`` (:mod:`councilcast.events`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from councilcast import events
from councilcast.auth import check_role, insert_token
from councilcast.errors import ApiError, AuthError
from councilcast.events import EventHub
from councilcast.keyfile import inside, key_path, load_or_create
from councilcast.services.batching import WriteBatcher
from councilcast.services.bus import SchedulerLock
from councilcast.storage import Database
from councilcast.stores.core import live_tokens
from councilcast.stores.voting import VotingStore
from voting.audit import ANCHOR_PERIOD_S
from voting.rounds import public_round, round_state
from voting.secrecy import BallotSecrets
from voting.rules import (DEFAULT_RECALL_QUORUM, VotingError, check_assembly_spec, check_candidate, check_options,
                          check_quorum, check_recall_request, check_round_spec, check_text)

__all__ = ["VotingService", "TallyBatcher", "BallotGuard"]

log = logging.getLogger(__name__)

RETRY_S = 1.0  # PostgreSQL: a close or an announcement that failed is tried again after this
BREAKDOWN_KEPT_S = 60.0  # a published round's breakdown is kept this long per process (breakdown_json)
BREAKDOWN_ROUNDS = 16  # and for at most this many rounds
BREAKDOWN_PAGE = 100  # rows of a published round's breakdown on one page of /rounds/{id}


class VotingService:
    """The application side of voting: store calls through the writer, the scheduler, events.

    Every route calls one method here; every method runs the store's functions through the
    single writer (an acknowledged write has COMMITted) or on a read connection, and
    publishes what changed on ``/ws``.
    """

    def __init__(self, db: Database, hub: EventHub, store: VotingStore | None = None,
                 recall_quorum: float = DEFAULT_RECALL_QUORUM):
        self.db = db
        try:
            self.recall_quorum = check_quorum(recall_quorum)
        except VotingError as exc:  # a setting out of range stops the start, naming it
            raise ValueError(f"COUNCILCAST_RECALL_QUORUM {exc.reason}, got {recall_quorum!r}") from None
        self.nominating: dict[str, dict] = {}  # successor elections taking candidates: id -> election
        self.store = store or VotingStore()
        self.hub = hub
        self.pending: dict[str, dict] = {}  # rounds not yet published, as stored
        self.announced: set[str] = set()     # rounds whose round.opened went out
        self.closing: dict[str, asyncio.Future] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.last_close: dict = {}  # timings of the last close, for the benchmark
        self._breakdowns: dict[str, tuple[float, bytes]] = {}  # published round -> (kept at, JSON text)
        self._close_work: tuple[float, float] | None = None
        self.tallies = TallyBatcher(self)
        self.ballots = WriteBatcher(self.db, lambda conn, items: self.store.cast_ballots(conn, items, time.time()))
        self.guard = BallotGuard()
        self.on_result: list = []  # async callbacks(round) after a result is published (the sessions)
        self.lock: SchedulerLock | None = None  # PostgreSQL: the scheduler runs while this holds the lock
        self._anchors: asyncio.Task | None = None
        if hub is not None:  # (None: a service built for its store alone, in tests)
            hub.on_received.append(self._received)  # called only with a bus (PostgreSQL)
            hub.on_resync.append(self._resync)

    @classmethod
    def with_key_file(cls, db: Database, hub: EventHub, db_path: str, key_file: str | None,
                      recall_quorum: float = DEFAULT_RECALL_QUORUM) -> VotingService:
        """The service with the secret ballot's key read (or created) from its file."""
        path = key_path(db_path, key_file)
        if inside(path, db_path):
            log.warning("the ballot key %s is in the database's directory: a copy of that directory "
                        "would carry the key with the ballots (docs/voting.md, 'The secret ballot')", path)
        return cls(db, hub, VotingStore(BallotSecrets(load_or_create(path))), recall_quorum=recall_quorum)

    # -- helpers ----------------------------------------------------------------------
    async def write(self, fn):
        return await self.db.write(fn)

    async def read(self, fn):
        return await self.db.read(fn)

    def hello(self) -> dict:
        now = time.time()
        return {"rounds": [public_round(r, now) for r in sorted(self.pending.values(), key=lambda r: r["opens_at"])]}


    # -- assemblies ----------------------------------------------------------------------
    async def create_assembly(self, body) -> tuple[dict, str]:
        """Register an assembly and its clerk's token, in one transaction: (assembly, plain token)."""
        spec = check_assembly_spec(body)

        def do(conn):
            a = self.store.create_assembly(conn, spec, time.time())
            token, _ = insert_token(conn, "clerk", a["id"], f"clerk of {a['name']}")
            return a, token

        return await self.write(do)

    async def list_assemblies(self, limit: int = 1000, offset: int = 0) -> list[dict]:
        return await self.read(lambda c: self.store.list_assemblies(c, limit, offset))

    async def get_assembly(self, aid: str) -> dict | None:
        return await self.read(lambda c: self.store.get_assembly(c, aid))

    async def assembly_with_delegates(self, aid: str) -> dict | None:
        """An assembly with ``delegates``: those whose constituency includes it."""
        def q(conn):
            a = self.store.get_assembly(conn, aid)
            if a is not None:
                a["delegates"] = [d for d in self.store.list_delegates(conn) if aid in d["assemblies"]]
            return a
        return await self.read(q)

    async def overview(self) -> dict:
        """What /assemblies shows: counts, the first 500 assemblies, every delegate."""
        def q(conn):
            n, members = self.store.count_assemblies(conn)
            return {"n": n, "members": members, "assemblies": self.store.list_assemblies(conn, 500),
                    "delegates": self.store.list_delegates(conn)}
        return await self.read(q)

    # -- rounds (reads) ------------------------------------------------------------------
    async def list_rounds(self, breakdown: bool = True) -> list[dict]:
        return await self.read(lambda c: self.store.list_rounds(c, breakdown=breakdown))

    async def get_round(self, rid: str, breakdown: bool = True) -> dict | None:
        """A round; ``breakdown``: False for whoever needs the result's sums only (a published
        round's per-assembly rows are read from its standing counts, 10^4-10^5 of them)."""
        return await self.read(lambda c: self.store.get_round(c, rid, breakdown))

    async def breakdown_json(self, r: dict, fresh: bool = False) -> bytes | None:
        """The JSON text of published round ``r``'s per-assembly breakdown, kept in this process
        for :data:`BREAKDOWN_KEPT_S` (at most :data:`BREAKDOWN_ROUNDS` rounds); None for a round
        not published, or one whose result carries its own breakdown (published before the
        standing counts were kept).

        At 60,000 assemblies the breakdown is 13 MB of JSON: read, decoded and encoded again it
        cost every ``GET /api/rounds/{id}`` about half a second of this process's CPU, and right
        after a close every screen, clerk and delegate may ask at once. The counts behind it no
        longer change; an assembly deleted since shows up with its name missing at most that
        much later."""
        res = r.get("result")
        if r.get("published_at") is None or res is None or "assemblies" in res:
            return None
        now = time.monotonic()
        kept = None if fresh else self._breakdowns.get(r["id"])
        if kept is not None and now - kept[0] < BREAKDOWN_KEPT_S:
            return kept[1]
        text = await self.read(lambda c: self.store.breakdown_json(c, r["id"]))
        self._keep_breakdown(r["id"], text, now)
        return text

    async def breakdown_page(self, r: dict, page: int, find: str | None = None,
                             per_page: int | None = None) -> dict:
        """One page (from 1) of published round ``r``'s breakdown: ``rows`` (at most ``per_page``,
        by default :data:`BREAKDOWN_PAGE`, by assembly id), ``total`` (rows in all, or matching
        ``find``: an assembly id, or a part of a name), ``page``, ``pages``, ``first`` and ``last``
        (the rows' numbers, from 1) and ``find``. A page past the last is empty."""
        size = per_page or BREAKDOWN_PAGE
        offset = (page - 1) * size
        own = r["result"].get("assemblies")
        if own is not None:  # a result published before the standing counts carries its own
            low = (find or "").lower()
            rows = [a for a in own if not find or a["id"] == find or low in (a.get("name") or "").lower()]
            total, rows = len(rows), rows[offset:offset + size]
        else:
            rows, total = await self.read(lambda c: self.store.breakdown_rows(c, r["id"], offset, size, find))
        return {"rows": rows, "total": total, "page": page, "pages": max(1, math.ceil(total / size)),
                "first": offset + 1, "last": offset + len(rows), "find": find}

    def _keep_breakdown(self, rid: str, text: bytes, now: float) -> None:
        self._breakdowns.pop(rid, None)
        self._breakdowns[rid] = (now, text)
        while len(self._breakdowns) > BREAKDOWN_ROUNDS:  # the oldest kept goes first
            self._breakdowns.pop(next(iter(self._breakdowns)))

    async def export(self, rid: str) -> dict:
        return await self.read(lambda c: self.store.export(c, rid))

    # -- counts and ballots --------------------------------------------------------------
    async def submit_tally(self, rid: str, token_hash: str, body) -> tuple[str, dict, dict | None]:
        """A clerk's count, batched with its neighbours: (assembly id, audit record, the round's
        latest anchor before it, read in the same transaction)."""
        return await self.tallies.submit(rid, token_hash, body)

    async def issue_codes(self, rid: str, aid: str, count) -> list[str]:
        return await self.write(lambda c: self.store.issue_codes(c, rid, aid, count, time.time()))

    async def cast_ballot(self, code, choice, address: str = "") -> dict:
        """One member's ballot, batched; ``{"round", "assembly"}`` once committed.

        A refused code costs its address one try (:class:`BallotGuard`); an address out of
        tries is answered 429 without its code being looked up.
        """
        self.guard.admit(address)
        try:
            return await self.ballots.submit(code, choice)
        except VotingError as exc:
            if exc.field == "code":
                self.guard.failed(address)
            raise

    async def ballot_round(self, code: str, address: str = "") -> dict | None:
        """The round a ballot code votes in, or None for a code that cannot be used (unknown and
        used alike, and either costs the address a try, as a refused ballot does)."""
        self.guard.admit(address)
        found = await self.read(lambda c: self.store.code_round(c, code))
        if found is None or found[2]:
            self.guard.failed(address)
            return None
        return found[0]

    # -- delegates, roll calls, recall ---------------------------------------------------
    async def create_delegate(self, body, also=None) -> tuple[dict, str]:
        """Register a delegate and their token, in one transaction: (delegate, plain token).

        ``also(conn, delegate)`` runs in the same transaction (the delegates service records
        the term there), so that no delegate is ever half registered."""
        name = check_text(body.get("name"), "name")
        assemblies = body.get("assemblies")
        if not isinstance(assemblies, list) or not assemblies or not all(isinstance(a, str) for a in assemblies):
            raise VotingError("assemblies", "must be a non-empty list of assembly ids")

        def do(conn):
            d = self.store.create_delegate(conn, name, assemblies, time.time())
            token, _ = insert_token(conn, "delegate", d["id"], f"delegate {name}")
            if also is not None:
                also(conn, d)
            return d, token

        return await self.write(do)

    async def get_delegate(self, did: str) -> dict | None:
        return await self.read(lambda c: self.store.get_delegate(c, did))

    async def list_delegates(self) -> list[dict]:
        return await self.read(self.store.list_delegates)

    async def delegate(self, did: str, *, page: bool = False) -> dict | None:
        """A delegate with their roll-call ``record``; for the page also the ``constituency``
        assemblies, the ``recalls`` (public rounds) against them, each with the ``requests`` that
        asked for it, and the ``successor_election`` a passed recall opened."""
        def q(conn):
            d = self.store.get_delegate(conn, did)
            if d is None:
                return None
            d["record"] = self.store.delegate_record(conn, did)
            if page:
                now = time.time()
                d["constituency"] = [self.store.get_assembly(conn, a) for a in d["assemblies"]]
                d["recalls"] = [{**public_round(r, now), "quorum": r.get("quorum"),
                                 "requests": self.store.recall_requests(conn, r["id"])}
                                for r in self.store.list_rounds(conn, 1000, breakdown=False)
                                if r["kind"] == "recall" and r["subject"] == did]
                e = self.store.election_of(conn, did)
                d["successor_election"] = self._election_view(conn, e) if e else None
            return d
        return await self.read(q)

    async def open_recall(self, did: str, by_assembly: str, body) -> tuple[dict, str]:
        """A clerk's recall request: open a round, join the one scheduled, or bring it forward to
        now (``{"now": true}``): (round, ``opened`` | ``joined`` | ``brought_forward``). A new
        round records the turnout quorum in force now (the ``recall_quorum`` setting)."""
        req = check_recall_request(body, time.time())
        r, action = await self.hub.write_and_publish(
            self.db, lambda c: self.store.open_recall(c, did, by_assembly, req, self.recall_quorum, time.time()),
            lambda ra: [] if ra[1] == "joined" else [self._scheduled(ra[0])])
        if action != "joined":
            await self.track(r, publish=False)  # a round brought forward replaces its pending copy; the scheduler wakes
        return r, action

    async def recall_view(self, rid: str) -> dict:
        """A recall round's requests and the terms of the successor's election it carries."""
        def q(conn):
            terms = self.store.recall_terms(conn, rid) or {}
            return {"requests": self.store.recall_requests(conn, rid), **terms}
        return await self.read(q)

    # -- a recalled delegate's successor -------------------------------------------------
    def _election_view(self, conn, e: dict) -> dict:
        """An election with its rounds as public rounds (results only once published)."""
        now = time.time()
        rounds = [self.store.get_round(conn, rid, breakdown=False) for rid in e["rounds"]]
        return {**e, "rounds": [public_round(r, now, brief=True) for r in rounds if r is not None]}

    async def successor_election(self, did: str) -> dict | None:
        """The latest successor election of recalled delegate ``did`` (None when there is none)."""
        def q(conn):
            e = self.store.election_of(conn, did)
            return None if e is None else self._election_view(conn, e)
        return await self.read(q)

    async def nominate(self, did: str, by_assembly: str, body) -> dict:
        """A constituency clerk puts a candidate forward for the successor's election."""
        name = check_candidate(body)
        await self.hub.write_and_publish(
            self.db, lambda c: self.store.nominate(c, did, by_assembly, name, time.time()),
            lambda e: [{"type": "election.candidate", "election": e["id"], "delegate": did, "name": name}])
        return await self.successor_election(did)

    async def open_due_elections(self) -> None:
        """Elections whose nomination window ended: open their round (or another window)."""
        now = time.time()
        for eid, e in list(self.nominating.items()):
            if now < e["nominations_close_ts"]:
                continue
            try:
                e, r = await self.hub.write_and_publish(
                    self.db, lambda c, eid=eid: self.store.open_election(c, eid, time.time()),
                    lambda er, eid=eid: self._election_opened_events(eid, *er))
            except Exception:  # noqa: BLE001 - try again in a minute; the other elections go on
                log.exception("opening successor election %s failed", eid)
                self.nominating[eid] = {**e, "nominations_close_ts": now + 60}
                continue
            if e is None or e["state"] != "nominating":
                self.nominating.pop(eid, None)
            else:
                self.nominating[eid] = e
            if r is not None:
                await self.track(r, publish=False)

    def _election_opened_events(self, eid: str, e: dict | None, r: dict | None) -> list[dict]:
        """What an election's turn from nominations to its round tells the screens."""
        out = [] if r is None else [{"type": "round.scheduled", "round": public_round(r, time.time())}]
        return out + [{"type": "election.updated", "election": eid, "state": e["state"] if e else None}]

    async def _follow_election(self, eid: str | None, publish: bool = True) -> None:
        """After a close: a successor election now taking candidates goes to the scheduler."""
        if not eid:
            return
        e = await self.read(lambda c: self.store.get_election(c, eid))
        if e is not None and e["state"] == "nominating":
            self.nominating[eid] = e
            self._wake.set()
        if e is not None and publish:
            await self.hub.publish({"type": "election.updated", "election": eid, "state": e["state"]})

    async def create_rollcall(self, body, also=None) -> dict:
        """Open a roll call; ``also(conn, rollcall)`` runs in its transaction (the item it is about)."""
        title = check_text(body.get("title"), "title")
        options = check_options(body.get("options"))
        rid = body.get("round")
        if rid is not None and not isinstance(rid, str):
            raise VotingError("round", "must be a round id")

        def do(c):
            rc = self.store.create_rollcall(c, title, options, rid, time.time())
            if also is not None:
                also(c, rc)
            return rc
        return await self.hub.write_and_publish(self.db, do, lambda rc: [
            {"type": "rollcall.opened", "rollcall": {"id": rc["id"], "title": title, "options": options}}])

    async def list_rollcalls(self) -> list[dict]:
        return await self.read(self.store.list_rollcalls)

    async def get_rollcall(self, rcid: str) -> dict | None:
        return await self.read(lambda c: self.store.get_rollcall(c, rcid))

    async def rollcall_vote(self, rcid: str, did, choice) -> dict:
        return await self.hub.write_and_publish(
            self.db, lambda c: self.store.rollcall_vote(c, rcid, did, choice, time.time()),
            lambda out: [{"type": "rollcall.vote", **out}])

    async def close_rollcall(self, rcid: str) -> dict:
        return await self.hub.write_and_publish(
            self.db, lambda c: self.store.close_rollcall(c, rcid, time.time()),
            lambda rc: [{"type": "rollcall.closed", "id": rc["id"], "totals": rc["totals"]}])

    async def stats(self, operator: bool = False) -> dict:
        """Public: screens connected, the WebSocket path, rounds pending, clock syncs answered:
        none moves with the votes. For operators (and the benchmark) also writes, commits, CPU
        and the last close's timings, which do: before the close they tell who votes when.

        These figures are this process's. With several processes (PostgreSQL), also
        ``processes`` (every process seen in the last 10 s by its heartbeat: its screens and
        whether it runs the scheduler; for operators its pid, host, start and last beat) and ``total``
        (screens and processes summed over them)."""
        out = {"screens": len(self.hub), "sync_fast_answers": events.sync_fast_answers(),
               "ws_path": self.hub.ws_path, "pending_rounds": len(self.pending)}
        if operator:
            out.update(commits=self.db.commits, writes=self.db.writes, last_close=self.last_close,
                       process_cpu_s=time.process_time())
        bus = self.hub.bus
        if bus is not None:
            procs = await bus.processes()
            keys = ("id", "screens", "scheduler") + (("pid", "host", "started_at", "last_seen") if operator else ())
            out["process"] = bus.id
            out["processes"] = [{k: p[k] for k in keys} for p in procs]
            out["total"] = {"screens": sum(p["screens"] for p in procs), "processes": len(procs),
                            "schedulers": sum(1 for p in procs if p["scheduler"])}
        return out

    # -- rounds -----------------------------------------------------------------------
    async def create_round(self, body, kind: str = "decision", subject: str | None = None) -> dict:
        spec = check_round_spec(body, time.time())
        r = await self.hub.write_and_publish(
            self.db, lambda c: self.store.create_round(c, spec, time.time(), kind, subject),
            lambda r: [self._scheduled(r)])
        await self.track(r, publish=False)
        return r

    @staticmethod
    def _scheduled(r: dict) -> dict:
        return {"type": "round.scheduled", "round": public_round(r, time.time())}

    async def track(self, r: dict, publish: bool = True) -> None:
        """Hand a new round to the scheduler and tell the screens it is scheduled (unless its
        transaction already did: ``publish`` False)."""
        self.pending[r["id"]] = r
        self._wake.set()
        if publish:
            await self.hub.publish({"type": "round.scheduled", "round": public_round(r, time.time())})

    async def close(self, rid: str) -> dict:
        """Close now (or at the scheduled time if that passed) and publish the result: the round
        with its result's sums; the per-assembly breakdown is kept as JSON text
        (:meth:`breakdown_json`), not decoded here (13 MB at 60,000 assemblies)."""
        if rid in self.closing:
            return await asyncio.shield(self.closing[rid])
        fut = asyncio.get_running_loop().create_future()
        self.closing[rid] = fut
        try:
            if self.hub.bus is not None:  # PostgreSQL: the events go out with the close's COMMIT
                r, here = await self.write(lambda c: self._close_and_emit(c, rid))
                if not here:  # another process closed it: its events went out, its listeners ran
                    self.pending.pop(rid, None)
                    self.announced.discard(rid)
                    await self._keep_after_close(r)
                    fut.set_result(r)
                    return r
            else:
                t_req = time.time()
                r = self.pending.get(rid)
                if r is not None:
                    closed_at = min(t_req, r["closes_at"])
                    await self.hub.publish({"type": "round.closed", "id": rid, "closed_at": closed_at * 1000})
                r = await self.write(lambda c: self.store.close_round(c, rid, time.time()))
            t_committed = time.time()
            busy, _, _ = await self.db.checkpoint()  # the WAL keeps no frame of the emptied ballot boxes
            if busy:
                log.warning("round %s: the WAL could not be truncated after the close (a reader was busy)", rid)
            self.pending.pop(rid, None)
            self.announced.discard(rid)
            if self.hub.bus is None:
                pub = public_round(r, time.time(), brief=True)
                await self.hub.publish({"type": "round.result", "id": rid, "round": pub})
            self.last_close = {"round": rid, "closed_at": r["closed_at"], "committed_at": t_committed,
                               "published_at": time.time()}
            if self._close_work is not None:  # PostgreSQL: when the writer began the close and ended its work
                self.last_close["began_at"], self.last_close["worked_until"] = self._close_work
            # the events carried the sums; the breakdown is read after the COMMIT from the standing
            # counts (the close's transaction does not build it) and kept for the answer and the GETs
            await self._keep_after_close(r)
            log.info("round %s closed and published (%d records, final hash %s)", rid,
                     r["result"]["records"], r["final_hash"][:12])
            runoff = r["result"].get("runoff_round")
            if runoff and runoff not in self.pending:
                rr = await self.read(lambda c: self.store.get_round(c, runoff))
                await self.track(rr, publish=self.hub.bus is None)
            await self._follow_election(_election_of(r), publish=self.hub.bus is None)
            for callback in self.on_result:
                try:
                    await callback(r)
                except Exception:  # noqa: BLE001 - a listener's failure must not undo a published close
                    log.exception("a result listener failed for round %s", rid)
            fut.set_result(r)
            return r
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            self.closing.pop(rid, None)

    async def _keep_after_close(self, r: dict) -> None:
        """Read published round ``r``'s breakdown as JSON text and keep it (:meth:`breakdown_json`);
        if that read fails, the next asker reads it (the result is published: what follows it,
        the listeners, must still run)."""
        try:
            await self.breakdown_json(r, fresh=True)
        except Exception:  # noqa: BLE001 - the answer will read it, nothing else
            log.exception("round %s: its breakdown could not be read after the close", r["id"])

    def _close_and_emit(self, c, rid: str) -> tuple[dict, bool]:
        """The close on PostgreSQL, in the writer's transaction: ``round.closed``, ``round.result``
        and what the result sets in motion (a runoff's ``round.scheduled``, a successor
        election's ``election.updated``) go out with its COMMIT, only from the transaction that
        closed it."""
        t0 = time.time()
        r, here = self.store.close_round_once(c, rid, t0)
        self._close_work = (t0, time.time())  # the transaction's own work, before its COMMIT (benchmark)
        if not here:
            return r, False
        bus = self.hub.bus
        bus.emit_together(c, [{"type": "round.closed", "id": rid, "closed_at": r["closed_at"] * 1000},
                              {"type": "round.result", "id": rid, "round": public_round(r, time.time(), brief=True)}])
        runoff = r["result"].get("runoff_round")
        if runoff:
            bus.emit(c, self._scheduled(self.store.get_round(c, runoff)))
        eid = _election_of(r)
        e = self.store.get_election(c, eid) if eid else None
        if e is not None:
            bus.emit(c, {"type": "election.updated", "election": eid, "state": e["state"]})
        return r, True

    # -- several processes (PostgreSQL): what the bus tells this one -----------------------
    async def _received(self, event: dict, own: bool) -> None:
        """An event from the bus, before this process's screens get it: keep ``pending`` (the
        hello's rounds, and the scheduler's should this process take over) as the publisher's
        is. This process's own events changed its state already."""
        kind = event.get("type")
        if kind in ("round.scheduled", "round.opened"):
            rid = event["round"]["id"]
            if kind == "round.opened":
                self.announced.add(rid)  # a process that takes over does not announce it again
            if not own:
                r = await self.read(lambda c: self.store.get_round(c, rid, breakdown=False))
                if r is not None and r["published_at"] is None:
                    self.pending[rid] = r
                    self._wake.set()
        elif kind == "round.result" and not own:
            self.pending.pop(event["id"], None)
            self.announced.discard(event["id"])
        elif kind == "election.updated" and not own:
            await self._reload_elections()

    async def _reload_elections(self) -> None:
        elections = await self.read(self.store.nominating_elections)
        self.nominating.clear()
        self.nominating.update((e["id"], e) for e in elections)
        self._wake.set()

    async def _resync(self) -> list[dict]:
        """After a lost LISTEN connection: re-read the rounds not yet published and return what
        this process's screens may have missed: each such round as ``round.scheduled`` or
        ``round.opened``, and ``round.closed`` + ``round.result`` for every round pending before
        that was published meanwhile."""
        before = set(self.pending)
        rows = await self.read(self.store.pending_rounds)
        self.pending.clear()
        self.pending.update((r["id"], r) for r in rows)
        await self._reload_elections()
        now = time.time()
        out = []
        for r in sorted(rows, key=lambda r: r["opens_at"]):
            if round_state(r, now) == "open":
                self.announced.add(r["id"])
                out.append({"type": "round.opened", "round": public_round(r, now), "resync": True})
            else:
                out.append({"type": "round.scheduled", "round": public_round(r, now), "resync": True})
        for rid in sorted(before - set(self.pending)):
            r = await self.read(lambda c, rid=rid: self.store.get_round(c, rid, breakdown=False))
            if r is not None and r["published_at"] is not None:
                self.announced.discard(rid)
                out.append({"type": "round.closed", "id": rid, "closed_at": r["closed_at"] * 1000, "resync": True})
                out.append({"type": "round.result", "id": rid, "round": public_round(r, now, brief=True),
                            "resync": True})
        return out

    async def _lead(self) -> None:
        """This process took the scheduler's lock: open, close and anchor from now on."""
        self._task = asyncio.create_task(self.run_scheduler(), name="voting-scheduler")
        self._anchors = asyncio.create_task(self.run_anchors(), name="voting-anchors")

    async def _follow(self) -> None:
        """This process lost the lock (its connection failed): stop at once, another takes over."""
        await self.stop_anchors()
        await _cancel(self._task)
        self._task = None

    async def run_scheduler(self) -> None:
        """Open and close rounds on the server clock; the only authority on both."""
        for r in await self.db.read(self.store.pending_rounds):
            self.pending[r["id"]] = r
        for e in await self.db.read(self.store.nominating_elections):
            self.nominating[e["id"]] = e
        while True:
            self._wake.clear()
            await self.open_due_elections()
            now = time.time()
            next_t = min((e["nominations_close_ts"] for e in self.nominating.values()), default=math.inf)
            for r in list(self.pending.values()):
                if now >= r["closes_at"]:
                    try:
                        await self.close(r["id"])
                    except Exception:  # noqa: BLE001 - keep scheduling the others
                        log.exception("closing round %s failed", r["id"])
                        if self.hub.bus is None:
                            self.pending.pop(r["id"], None)
                        else:  # PostgreSQL: the database may be back in a moment (a restart, a failover)
                            next_t = min(next_t, time.time() + RETRY_S)
                    continue
                if now >= r["opens_at"]:
                    if r["id"] not in self.announced:
                        self.announced.add(r["id"])
                        try:
                            await self.hub.publish({"type": "round.opened", "round": public_round(r, now)})
                        except Exception:  # noqa: BLE001 - only with a bus (a NOTIFY's write): try again
                            log.exception("announcing round %s failed", r["id"])
                            self.announced.discard(r["id"])
                            next_t = min(next_t, time.time() + RETRY_S)
                    next_t = min(next_t, r["closes_at"])
                else:
                    next_t = min(next_t, r["opens_at"])
            delay = min(next_t - time.time(), 3600)
            if delay <= 0:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except asyncio.TimeoutError:
                pass

    async def anchor_open_rounds(self) -> list[dict]:
        """Anchor the chain of every open round now and publish each anchor's hash on ``/ws``."""
        out = []
        now = time.time()
        for r in list(self.pending.values()):
            if round_state(r, now) != "open":
                continue
            try:
                a = await self.hub.write_and_publish(
                    self.db, lambda c, rid=r["id"]: self.store.anchor(c, rid, time.time()),
                    lambda a, rid=r["id"]: [{"type": "round.anchor", "round": rid, "at": a["at"],
                                             "anchor": a["anchor"]}])
            except VotingError:  # closed meanwhile
                continue
            out.append(a)
        return out

    async def run_anchors(self, period: float = ANCHOR_PERIOD_S) -> None:
        """Every ``period`` seconds, on the clock's tick and not on the votes', anchor the open rounds.

        Once per tick: the sleep runs on the monotonic clock and the tick is wall time, so a
        wake-up can come a little before the tick; it is taken for that tick (the nearest), and
        the next wake-up, past the tick, is not taken for it again."""
        last = None
        while True:
            await asyncio.sleep(period - time.time() % period)
            tick = round(time.time() / period)
            if tick == last:
                continue
            last = tick
            try:
                await self.anchor_open_rounds()
            except Exception:  # noqa: BLE001 - keep anchoring the next tick
                log.exception("anchoring the open rounds failed")

    async def latest_anchor(self, rid: str) -> dict | None:
        return await self.read(lambda c: self.store.latest_anchor(c, rid))

    async def start(self) -> None:
        """SQLite: run the scheduler and the anchors. PostgreSQL: know the rounds pending (for the
        hello; those already open count as announced), and run them while this process holds
        the scheduler's lock (:class:`councilcast.services.bus.SchedulerLock`)."""
        bus = self.hub.bus
        if bus is None:
            await self._lead()
            return
        now = time.time()
        for r in await self.db.read(self.store.pending_rounds):
            self.pending[r["id"]] = r
            if now >= r["opens_at"]:
                self.announced.add(r["id"])
        self.lock = SchedulerLock(self.db, bus, self._lead, self._follow)
        await self.lock.start()

    async def stop_anchors(self) -> None:
        """Stop the anchor tick (at shutdown, or where a caller runs its own tick)."""
        task, self._anchors = self._anchors, None
        await _cancel(task)

    async def stop(self) -> None:
        if self.lock is not None:
            await self.lock.stop()
        await self.stop_anchors()
        await _cancel(self._task)


async def _cancel(task: asyncio.Task | None) -> None:
    if task:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass


def _election_of(r: dict) -> str | None:
    """The successor election a published round opened (a recall) or belongs to, if any."""
    return (r["result"].get("recall") or {}).get("election") or (r["result"].get("election") or {}).get("id")


class TallyBatcher(WriteBatcher):
    """Counts, batched: one token query, a few queries for rounds, assemblies, standing counts,
    chain heads and anchors, one INSERT for every count of the batch (:meth:`councilcast.stores.voting.VotingStore.add_tallies`).

    The clerk token is checked in the same transaction as the count: a token revoked or
    rotated before the count commits can never record it (:func:`councilcast.auth.check_role`,
    the rule of every token check, on tokens read on the writer's connection).
    """

    def __init__(self, svc: VotingService):
        super().__init__(svc.db, self._write)
        self.svc = svc

    def _write(self, conn, batch):
        tokens = live_tokens(conn, sorted({th for _, th, _ in batch}))
        results: list = [None] * len(batch)
        items, where = [], []
        for i, (rid, th, body) in enumerate(batch):
            try:
                rec = check_role(tokens.get(th), ("clerk",))
            except AuthError as exc:
                results[i] = (False, exc)
                continue
            items.append((rid, rec.subject, body))
            where.append(i)
        if items:
            done = self.svc.store.add_tallies(conn, items, time.time())
            # each receipt's anchor, once per round of the batch: the last one before its record
            # (a read per count, on another connection, cost more than the count's own share)
            anchors = {rid: self.svc.store.latest_anchor(conn, rid) for rid in sorted({rid for rid, _, _ in items})}
            for k, (i, (ok, value)) in enumerate(zip(where, done)):
                results[i] = (ok, (items[k][1], value, anchors[items[k][0]]) if ok else value)
        return results


class BallotGuard:
    """Limits on failed ballot codes, so that codes cannot be guessed at thousands a second.

    Each client address has a bucket of :attr:`BURST` tries that refills at :attr:`PER_MINUTE`
    a minute; a refused code takes one. A whole room's phones share one address, and its
    members mistype rarely, so a General Assembly is not locked out by its own members; a
    guesser from one address gets ``BURST`` tries, then one every few seconds. Across every
    address, once more than :attr:`GLOBAL_PER_MINUTE` codes have failed in a minute (a guesser
    spreading over many addresses), each address's bucket shrinks to :attr:`TIGHT_BURST`.
    With 50-bit codes a guess succeeds with odds (codes issued) / 2**50, so these limits keep
    the chance of hitting any code in a round below one in a million.
    """

    BURST = 20
    PER_MINUTE = 10
    GLOBAL_PER_MINUTE = 300
    TIGHT_BURST = 3
    MAX_ADDRESSES = 100_000

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.tries: dict[str, tuple[float, float]] = {}  # address -> (tries left, at)
        self.recent: list[float] = []  # times of failures in the last minute, all addresses

    def _left(self, address: str, now: float) -> float:
        left, at = self.tries.get(address, (self.BURST, now))
        cap = self.TIGHT_BURST if len(self.recent) > self.GLOBAL_PER_MINUTE else self.BURST
        return min(cap, left + (now - at) * self.PER_MINUTE / 60)

    def admit(self, address: str) -> None:
        """Raise a 429 :class:`ApiError` when ``address`` has no try left."""
        now = self.clock()
        self.recent = [t for t in self.recent if now - t < 60]
        if self._left(address, now) < 1:
            wait = max(1, int(60 / self.PER_MINUTE))
            raise ApiError(429, "code", "too many codes refused from this address: wait and try again",
                           headers={"Retry-After": str(wait)})

    def failed(self, address: str) -> None:
        now = self.clock()
        self.tries[address] = (self._left(address, now) - 1, now)
        self.recent.append(now)
        if len(self.tries) > self.MAX_ADDRESSES:  # a flood of addresses: forget the oldest
            for old in sorted(self.tries, key=lambda a: self.tries[a][1])[: len(self.tries) // 2]:
                del self.tries[old]
