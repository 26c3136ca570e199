"""Routes of the voting area: assemblies, rounds, counts, ballots, delegates, roll calls.

The rules live in :mod:`voting` (pure); this module checks tokens, runs the store's
functions through the single writer (so every acknowledged count is committed, fsynced
and group-committed with its neighbours before the 2xx), keeps the round scheduler (the
server clock opens and closes rounds) and publishes the events on ``/ws``
(:mod:`councilcast.events`). Pages are in :mod:`councilcast.routes.voting_pages`, the
demo in :mod:`councilcast.routes.voting_demo`. The API is described in docs/voting.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import math
import time

from aiohttp import web

from councilcast import events
from councilcast.appkeys import AUTH, CONFIG, DB
from councilcast.auth import bearer, hash_token
from councilcast.errors import ApiError, read_json
from voting.rules import VotingError, check_assembly_spec, check_options, check_round_spec, check_text
from voting.store import SqlStore, public_round

__all__ = ["VOTING", "VotingService", "setup", "OPENAPI"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


class VotingService:
    """The application side of voting: store calls through the writer, the scheduler, events."""

    def __init__(self, app: web.Application):
        self.app = app
        self.db = app[DB]
        self.store = SqlStore()
        self.hub = app[events.EVENTS]
        self.pending: dict[str, dict] = {}  # rounds not yet published, as stored
        self.announced: set[str] = set()     # rounds whose round.opened went out
        self.closing: dict[str, asyncio.Future] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.last_close: dict = {}  # timings of the last close, for the benchmark
        self.tallies = TallyBatcher(self)
        self.ballots = WriteBatcher(self.db, lambda conn, items: self.store.cast_ballots(conn, items, time.time()))

    # -- helpers ----------------------------------------------------------------------
    async def write(self, fn):
        return await self.db.write(fn)

    async def read(self, fn):
        return await self.db.read(fn)

    def hello(self) -> dict:
        now = time.time()
        return {"rounds": [public_round(r, now) for r in sorted(self.pending.values(), key=lambda r: r["opens_at"])]}

    # -- rounds -----------------------------------------------------------------------
    async def create_round(self, body, kind: str = "decision", subject: str | None = None) -> dict:
        spec = check_round_spec(body, time.time())
        r = await self.write(lambda c: self.store.create_round(c, spec, time.time(), kind, subject))
        await self.track(r)
        return r

    async def track(self, r: dict) -> None:
        """Hand a new round to the scheduler and tell the screens it is scheduled."""
        self.pending[r["id"]] = r
        self._wake.set()
        await self.hub.publish({"type": "round.scheduled", "round": public_round(r, time.time())})

    async def close(self, rid: str) -> dict:
        """Close now (or at the scheduled time if that passed) and publish the result."""
        if rid in self.closing:
            return await asyncio.shield(self.closing[rid])
        fut = asyncio.get_running_loop().create_future()
        self.closing[rid] = fut
        try:
            t_req = time.time()
            r = self.pending.get(rid)
            if r is not None:
                closed_at = min(t_req, r["closes_at"])
                await self.hub.publish({"type": "round.closed", "id": rid, "closed_at": closed_at * 1000})
            r = await self.write(lambda c: self.store.close_round(c, rid, time.time()))
            t_committed = time.time()
            self.pending.pop(rid, None)
            self.announced.discard(rid)
            pub = public_round(r, time.time(), brief=True)
            await self.hub.publish({"type": "round.result", "id": rid, "round": pub})
            self.last_close = {"round": rid, "closed_at": r["closed_at"], "committed_at": t_committed,
                               "published_at": time.time()}
            log.info("round %s closed and published (%d records, final hash %s)", rid,
                     r["result"]["records"], r["final_hash"][:12])
            runoff = r["result"].get("runoff_round")
            if runoff and runoff not in self.pending:
                rr = await self.read(lambda c: self.store.get_round(c, runoff))
                await self.track(rr)
            fut.set_result(r)
            return r
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            self.closing.pop(rid, None)

    async def run_scheduler(self) -> None:
        """Open and close rounds on the server clock; the only authority on both."""
        for r in await self.db.read(self.store.pending_rounds):
            self.pending[r["id"]] = r
        while True:
            self._wake.clear()
            now = time.time()
            next_t = math.inf
            for r in list(self.pending.values()):
                if now >= r["closes_at"]:
                    try:
                        await self.close(r["id"])
                    except Exception:  # noqa: BLE001 - keep scheduling the others
                        log.exception("closing round %s failed", r["id"])
                        self.pending.pop(r["id"], None)
                    continue
                if now >= r["opens_at"]:
                    if r["id"] not in self.announced:
                        self.announced.add(r["id"])
                        await self.hub.publish({"type": "round.opened", "round": public_round(r, now)})
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

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run_scheduler(), name="voting-scheduler")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass


VOTING = web.AppKey("voting", VotingService)


def _svc(request: web.Request) -> VotingService:
    return request.app[VOTING]


async def _clerk(request: web.Request) -> str:
    rec = await request.app[AUTH].require(request, "clerk")
    return rec.subject


# -- assemblies ------------------------------------------------------------------------------
@routes.post("/api/assemblies")
async def create_assembly(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    spec = check_assembly_spec(await read_json(request))
    svc = _svc(request)
    from councilcast.auth import insert_token

    def do(conn):
        a = svc.store.create_assembly(conn, spec, time.time())
        token, _ = insert_token(conn, "clerk", a["id"], f"clerk of {a['name']}")
        return a, token

    a, token = await svc.write(do)
    return web.json_response({**a, "token": token}, status=201)


@routes.get("/api/assemblies")
async def list_assemblies(request: web.Request) -> web.Response:
    svc = _svc(request)
    limit, offset = request.query.get("limit", "1000"), request.query.get("offset", "0")
    for name, raw in (("limit", limit), ("offset", offset)):
        if not raw.isascii() or not raw.isdigit():
            raise ApiError(400, name, "must be a non-negative integer")
    # SQLite INTEGERs stop at 2**63 - 1: a larger offset only means "past the end"
    limit, offset = min(int(limit), 100_000), min(int(offset), 2 ** 62)
    rows = await svc.read(lambda c: svc.store.list_assemblies(c, limit, offset))
    return web.json_response({"assemblies": rows})


@routes.get("/api/assemblies/{id}")
async def get_assembly(request: web.Request) -> web.Response:
    svc = _svc(request)
    a = await svc.read(lambda c: svc.store.get_assembly(c, request.match_info["id"]))
    if a is None:
        raise ApiError(404, "id", "no such assembly")
    return web.json_response(a)


@routes.post("/api/assemblies/{id}/token")
async def rotate_clerk_token(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    await auth.require(request, "secretariat")
    svc = _svc(request)
    aid = request.match_info["id"]
    if await svc.read(lambda c: svc.store.get_assembly(c, aid)) is None:
        raise ApiError(404, "id", "no such assembly")
    token, _ = await auth.rotate("clerk", aid, "clerk (rotated)")
    return web.json_response({"id": aid, "token": token}, status=201)


@routes.delete("/api/assemblies/{id}/token")
async def revoke_clerk_token(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    await auth.require(request, "secretariat")
    n = await auth.revoke(role="clerk", subject=request.match_info["id"])
    return web.json_response({"id": request.match_info["id"], "revoked": n})


@routes.get("/api/clerk")
async def clerk_me(request: web.Request) -> web.Response:
    """Which assembly a clerk token speaks for (the clerk page asks this first)."""
    aid = await _clerk(request)
    svc = _svc(request)
    a = await svc.read(lambda c: svc.store.get_assembly(c, aid))
    if a is None:
        raise ApiError(403, "Authorization", "this clerk's assembly no longer exists")
    return web.json_response({"assembly": a})


# -- rounds -------------------------------------------------------------------------------------
@routes.post("/api/rounds")
async def create_round(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    r = await _svc(request).create_round(await read_json(request))
    return web.json_response(public_round(r, time.time()), status=201)


@routes.get("/api/rounds")
async def list_rounds(request: web.Request) -> web.Response:
    svc = _svc(request)
    rows = await svc.read(lambda c: svc.store.list_rounds(c))
    now = time.time()
    return web.json_response({"rounds": [public_round(r, now, brief=True) for r in rows], "server_time": now})


async def _round(request: web.Request) -> dict:
    svc = _svc(request)
    rid = request.match_info["id"]
    r = await svc.read(lambda c: svc.store.get_round(c, rid))
    if r is None:
        raise ApiError(404, "id", "no such round")
    return r


@routes.get("/api/rounds/{id}")
async def get_round(request: web.Request) -> web.Response:
    return web.json_response(public_round(await _round(request), time.time()))


@routes.post("/api/rounds/{id}/close")
async def close_round(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    r = await _round(request)
    if r["published_at"] is not None:
        raise ApiError(409, "id", "the round is already closed")
    r = await _svc(request).close(r["id"])
    return web.json_response(public_round(r, time.time()))


class WriteBatcher:
    """Group commit at the application level: the requests that arrive while the writer is
    busy go to the database together, as one write function, and each caller gets its own
    answer once that batch has COMMITted.

    One batch is in flight at a time. ``write_batch(conn, items)`` returns ``(True,
    value)`` or ``(False, VotingError)`` per item and must leave no change behind for a
    refused item, so a refused request is refused alone.
    """

    MAX = 500

    def __init__(self, db, write_batch):
        self.db = db
        self.write_batch = write_batch
        self.queue: list[tuple[tuple, asyncio.Future]] = []
        self.busy = False

    async def submit(self, *item):
        fut = asyncio.get_running_loop().create_future()
        self.queue.append((item, fut))
        if not self.busy:
            self.busy = True
            asyncio.ensure_future(self._drain())
        return await fut

    async def _drain(self) -> None:
        try:
            while self.queue:
                batch, self.queue = self.queue[:self.MAX], self.queue[self.MAX:]
                items = [item for item, _ in batch]
                try:
                    results = await self.db.write(lambda c: self.write_batch(c, items))
                except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing in it is durable
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), (ok, value) in zip(batch, results):
                    if not fut.done():
                        if ok:
                            fut.set_result(value)
                        else:
                            fut.set_exception(value)
        finally:
            self.busy = False


class TallyBatcher(WriteBatcher):
    """Counts, batched: one token query, a few queries for rounds, assemblies, versions and
    chain heads, one INSERT for every count of the batch (:meth:`voting.store.SqlStore.add_tallies`).

    The clerk token is checked in the same transaction as the count: a token revoked or
    rotated before the count commits can never record it (the same rule as
    :meth:`councilcast.auth.Auth.require`, read on the writer's connection).
    """

    def __init__(self, svc: "VotingService"):
        super().__init__(svc.db, self._write)
        self.svc = svc

    def _write(self, conn, batch):
        hashes = sorted({th for _, th, _ in batch})
        tokens = {row[0]: (row[1], row[2]) for row in conn.execute(
            f"SELECT token_hash, role, subject FROM tokens WHERE revoked_at IS NULL AND token_hash IN "
            f"({','.join('?' * len(hashes))})", hashes)}
        results: list = [None] * len(batch)
        items, where = [], []
        for i, (rid, th, body) in enumerate(batch):
            tok = tokens.get(th)
            if tok is None:
                results[i] = (False, VotingError("Authorization", "unknown or revoked token", "unauthorized"))
            elif tok[0] != "clerk":
                results[i] = (False, VotingError("Authorization", "this token may not do that (needs clerk)", "forbidden"))
            else:
                items.append((rid, tok[1], body))
                where.append(i)
        if items:
            done = self.svc.store.add_tallies(conn, items, time.time())
            for k, (i, (ok, value)) in enumerate(zip(where, done)):
                results[i] = (ok, (items[k][1], value) if ok else value)
        return results


@routes.post("/api/rounds/{id}/tallies")
async def post_tally(request: web.Request) -> web.Response:
    token = bearer(request)
    if token is None:
        raise ApiError(401, "Authorization", "a bearer token is required",
                       headers={"WWW-Authenticate": 'Bearer realm="councilcast"'})
    body = await read_json(request)
    svc = _svc(request)
    rid = request.match_info["id"]
    aid, rec = await svc.tallies.submit(rid, hash_token(token), body)
    log.debug("count for round %s from %s: %s", rid, aid, rec)
    return web.json_response({"round": rid, "assembly": aid, "version": rec["version"], "seq": rec["seq"],
                              "receipt": rec["hash"], "received_at": rec["received_at"]},
                             status=201 if rec["version"] == 1 else 200)


@routes.get("/api/rounds/{id}/audit")
async def audit_export(request: web.Request) -> web.Response:
    svc = _svc(request)
    rid = request.match_info["id"]
    export = await svc.read(lambda c: svc.store.export(c, rid))
    if request.query.get("format") == "csv":
        buf = io.StringIO()
        opts = export["definition"]["options"]
        w = csv.writer(buf)
        w.writerow(["seq", "assembly", "version", "present", "abstain", *opts, "source", "received_at", "prev",
                    "hash"])
        for rec in export["records"]:
            w.writerow([rec["seq"], rec["assembly"], rec["version"], rec["present"], rec["abstain"],
                        *[rec["counts"][o] for o in opts], rec["source"], rec["received_at"], rec["prev"],
                        rec["hash"]])
        return web.Response(text=buf.getvalue(), content_type="text/csv",
                            headers={"Content-Disposition": f'attachment; filename="round-{rid}-audit.csv"',
                                     "X-Final-Hash": export["result"]["final_hash"]})
    return web.json_response(export, headers={"X-Final-Hash": export["result"]["final_hash"]})


# -- ballots -------------------------------------------------------------------------------------
@routes.post("/api/rounds/{id}/ballot-codes")
async def issue_codes(request: web.Request) -> web.Response:
    aid = await _clerk(request)
    body = await read_json(request)
    svc = _svc(request)
    rid = request.match_info["id"]
    codes = await svc.write(lambda c: svc.store.issue_codes(c, rid, aid, body.get("count"), time.time()))
    base = request.app[CONFIG].base_url
    out = [{"code": c, "url": f"{base}/ballot?code={c}"} for c in codes]
    if body.get("qr"):
        import segno

        for item in out:
            item["qr_svg"] = segno.make(item["url"], error="m").svg_inline(scale=3, border=2)
    return web.json_response({"round": rid, "assembly": aid, "codes": out}, status=201)


@routes.post("/api/ballots")
async def cast_ballot(request: web.Request) -> web.Response:
    body = await read_json(request)
    svc = _svc(request)
    out = await svc.ballots.submit(body.get("code"), body.get("choice"))
    return web.json_response({"round": out["round"], "counted": True}, status=201)


# -- delegates, roll calls, recall --------------------------------------------------------------------
@routes.post("/api/delegates")
async def create_delegate(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    body = await read_json(request)
    svc = _svc(request)
    name = check_text(body.get("name"), "name")
    assemblies = body.get("assemblies")
    if not isinstance(assemblies, list) or not assemblies or not all(isinstance(a, str) for a in assemblies):
        raise VotingError("assemblies", "must be a non-empty list of assembly ids")
    from councilcast.auth import insert_token

    def do(conn):
        d = svc.store.create_delegate(conn, name, assemblies, time.time())
        token, _ = insert_token(conn, "delegate", d["id"], f"delegate {name}")
        return d, token

    d, token = await svc.write(do)
    return web.json_response({**d, "token": token}, status=201)


@routes.get("/api/delegates")
async def list_delegates(request: web.Request) -> web.Response:
    svc = _svc(request)
    return web.json_response({"delegates": await svc.read(svc.store.list_delegates)})


@routes.get("/api/delegates/{id}")
async def get_delegate(request: web.Request) -> web.Response:
    svc = _svc(request)
    did = request.match_info["id"]

    def q(conn):
        d = svc.store.get_delegate(conn, did)
        if d is not None:
            d["record"] = svc.store.delegate_record(conn, did)
        return d
    d = await svc.read(q)
    if d is None:
        raise ApiError(404, "id", "no such delegate")
    return web.json_response(d)


@routes.post("/api/delegates/{id}/recall")
async def open_recall(request: web.Request) -> web.Response:
    aid = await _clerk(request)
    body = await read_json(request)
    svc = _svc(request)
    now = time.time()
    spec = check_round_spec({"title": "recall", "options": ["recall", "keep"],
                             "duration_s": body.get("duration_s"), "opens_at": body.get("opens_at")}, now)
    did = request.match_info["id"]
    r = await svc.write(lambda c: svc.store.open_recall(c, did, aid, spec["duration_s"], spec["opens_at"],
                                                        time.time()))
    await svc.track(r)
    return web.json_response(public_round(r, time.time()), status=201)


@routes.post("/api/rollcalls")
async def create_rollcall(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    body = await read_json(request)
    svc = _svc(request)
    title = check_text(body.get("title"), "title")
    options = check_options(body.get("options"))
    rid = body.get("round")
    if rid is not None and not isinstance(rid, str):
        raise VotingError("round", "must be a round id")
    rc = await svc.write(lambda c: svc.store.create_rollcall(c, title, options, rid, time.time()))
    await svc.hub.publish({"type": "rollcall.opened", "rollcall": {"id": rc["id"], "title": title,
                                                                    "options": options}})
    return web.json_response(rc, status=201)


@routes.get("/api/rollcalls")
async def list_rollcalls(request: web.Request) -> web.Response:
    svc = _svc(request)
    return web.json_response({"rollcalls": await svc.read(svc.store.list_rollcalls)})


@routes.get("/api/rollcalls/{id}")
async def get_rollcall(request: web.Request) -> web.Response:
    svc = _svc(request)
    rc = await svc.read(lambda c: svc.store.get_rollcall(c, request.match_info["id"]))
    if rc is None:
        raise ApiError(404, "id", "no such roll call")
    return web.json_response(rc)


@routes.post("/api/rollcalls/{id}/votes")
async def rollcall_vote(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "secretariat", "delegate")
    body = await read_json(request)
    did = body.get("delegate")
    if rec.role == "delegate":
        if did is not None and did != rec.subject:
            raise ApiError(403, "delegate", "a delegate records only their own vote")
        did = rec.subject
    svc = _svc(request)
    rcid = request.match_info["id"]
    out = await svc.write(lambda c: svc.store.rollcall_vote(c, rcid, did, body.get("choice"), time.time()))
    await svc.hub.publish({"type": "rollcall.vote", **out})
    return web.json_response(out, status=201)


@routes.post("/api/rollcalls/{id}/close")
async def close_rollcall(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    svc = _svc(request)
    rc = await svc.write(lambda c: svc.store.close_rollcall(c, request.match_info["id"], time.time()))
    await svc.hub.publish({"type": "rollcall.closed", "id": rc["id"], "totals": rc["totals"]})
    return web.json_response(rc)


# -- diagnostics for the benchmark ----------------------------------------------------------------
@routes.post("/api/events/ping")
async def ping(request: web.Request) -> web.Response:
    """Publish ``{"type": "ping"}`` to every screen, by the fast path or the naive baseline."""
    await request.app[AUTH].require(request, "secretariat")
    body = await read_json(request)
    hub = request.app[events.EVENTS]
    strategy = body.get("strategy", "fast")
    if strategy not in ("fast", "naive"):
        raise ApiError(400, "strategy", "fast or naive")
    cpu0, t0 = time.process_time(), time.perf_counter()
    event = {"type": "ping", "n": body.get("n")}
    sent = await (hub.publish(event) if strategy == "fast" else hub.publish_naive(event))
    return web.json_response({"sent": sent, "wall_s": time.perf_counter() - t0,
                              "cpu_s": time.process_time() - cpu0, "clients": len(hub)})


@routes.get("/api/voting/stats")
async def stats(request: web.Request) -> web.Response:
    """Counters for operators and the benchmark: screens connected, commits, the last close."""
    db = request.app[DB]
    svc = _svc(request)
    return web.json_response({"screens": len(svc.hub), "commits": db.commits, "writes": db.writes,
                              "sync_fast_answers": events.sync_fast_answers(),
                              "pending_rounds": len(svc.pending), "last_close": svc.last_close,
                              "process_cpu_s": time.process_time()})


def setup(app: web.Application) -> None:
    hub = events.setup(app)
    app.add_routes(routes)

    async def lifecycle(app: web.Application):
        svc = VotingService(app)
        app[VOTING] = svc
        hub.hello_extra.append(svc.hello)
        await svc.start()
        yield
        await svc.stop()

    app.cleanup_ctx.append(lifecycle)
    from councilcast.routes import voting_demo, voting_pages

    voting_pages.setup(app)
    if app[CONFIG].demo:
        app.cleanup_ctx.append(voting_demo.demo_ctx)


def _op(summary: str, *, auth: bool = False, body: dict | None = None, ok: str = "200",
        errors: tuple = ("400", "404")) -> dict:
    op: dict = {"summary": summary, "tags": ["voting"],
                "responses": {ok: {"description": "OK"},
                              **{e: {"description": "error body {\"error\": {\"field\", \"reason\"}}"}
                                 for e in errors}}}
    if auth:
        op["security"] = [{"bearer": []}]
        op["responses"].setdefault("401", {"description": "missing or unknown token"})
        op["responses"].setdefault("403", {"description": "token of another role or assembly"})
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"example": body}}}
    return op


OPENAPI: dict = {
    "/api/assemblies": {
        "post": _op("Register a General Assembly; returns its clerk token (shown once)", auth=True, ok="201",
                    body={"name": "Depot 4 GA", "members": 240, "workplace": "Depot 4"}),
        "get": _op("List registered assemblies (?limit, ?offset)"),
    },
    "/api/assemblies/{id}": {"get": _op("One assembly")},
    "/api/assemblies/{id}/token": {
        "post": _op("Rotate the clerk token (revokes the old one)", auth=True, ok="201"),
        "delete": _op("Revoke the clerk token", auth=True),
    },
    "/api/clerk": {"get": _op("The assembly a clerk token speaks for", auth=True)},
    "/api/rounds": {
        "post": _op("Create a round (secretariat)", auth=True, ok="201",
                    body={"title": "Plan variant", "options": ["A", "B"], "duration_s": 120,
                          "opens_at": "2026-01-01T10:00:00Z", "assemblies": None}),
        "get": _op("List rounds with state; results only after the close"),
    },
    "/api/rounds/{id}": {"get": _op("State, times and (after the close only) the result")},
    "/api/rounds/{id}/close": {"post": _op("Close early and publish the result", auth=True,
                                           errors=("404", "409"))},
    "/api/rounds/{id}/tallies": {"post": _op(
        "The assembly's count (clerk token); 201 first, 200 for a recount; the receipt is the audit hash",
        auth=True, ok="201", body={"present": 120, "counts": {"A": 70, "B": 40}, "abstain": 10},
        errors=("400", "404", "409"))},
    "/api/rounds/{id}/audit": {"get": _op("Audit export (JSON, or ?format=csv) after the close",
                                          errors=("404", "409"))},
    "/api/rounds/{id}/ballot-codes": {"post": _op(
        "Issue one-time ballot codes for members (clerk); {\"qr\": true} adds SVG QR codes", auth=True,
        ok="201", body={"count": 50, "qr": True}, errors=("400", "404", "409"))},
    "/api/ballots": {"post": _op("Cast one member's ballot with a one-time code", ok="201",
                                 body={"code": "ABCD2345EF", "choice": "A"}, errors=("400", "404", "409"))},
    "/api/delegates": {
        "post": _op("Register a delegate and their constituency; returns the delegate token", auth=True,
                    ok="201", body={"name": "R. Luxemburg", "assemblies": ["ga-..."]}),
        "get": _op("List delegates with status"),
    },
    "/api/delegates/{id}": {"get": _op("A delegate, their roll-call record beside the constituency's votes")},
    "/api/delegates/{id}/recall": {"post": _op(
        "Open a recall round against a delegate (clerk of a constituency assembly)", auth=True, ok="201",
        body={"duration_s": 300}, errors=("400", "404", "409"))},
    "/api/rollcalls": {
        "post": _op("Open a roll call of the Central Assembly", auth=True, ok="201",
                    body={"title": "Adopt variant B", "options": ["yes", "no"], "round": "r-..."}),
        "get": _op("List roll calls with every vote by name"),
    },
    "/api/rollcalls/{id}": {"get": _op("One roll call with every vote by name")},
    "/api/rollcalls/{id}/votes": {"post": _op(
        "Record a delegate's vote (secretariat, or the delegate's own token)", auth=True, ok="201",
        body={"delegate": "d-...", "choice": "yes"}, errors=("400", "404", "409"))},
    "/api/rollcalls/{id}/close": {"post": _op("Close a roll call", auth=True)},
    "/api/events/ping": {"post": _op("Diagnostics: publish a ping to every screen (fast or naive)", auth=True,
                                     body={"strategy": "fast"})},
    "/api/voting/stats": {"get": _op("Counters: screens connected, commits, last close timings")},
    "/ws": {"get": {"summary": "WebSocket: clock sync and round events (see docs/voting.md)", "tags": ["voting"],
                    "responses": {"101": {"description": "switching protocols"}}}},
}
