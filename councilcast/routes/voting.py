"""Routes of the voting area: assemblies, rounds, counts, ballots, delegates, roll calls.

Each route parses the request, checks the caller's token, calls one method of
:class:`councilcast.services.voting.VotingService` and renders its answer. Pages are in
:mod:`councilcast.routes.voting_pages`; the demo's session and voters are started by :mod:`councilcast.routes.sessions`.
The API is described in docs/voting.md.
"""

from __future__ import annotations

import io
import logging
import secrets
import time

import orjson
import segno
from aiohttp import web

from councilcast import csvsafe, events
from councilcast.appkeys import AUTH, CONFIG, DB, EVENTS, VOTING
from councilcast.auth import bearer, hash_token
from councilcast.errors import ApiError, AuthError, read_json
from councilcast.routes import voting_pages
from councilcast.services.bus import PgBus
from councilcast.services.voting import VotingService
from voting.rounds import public_round

__all__ = ["setup", "OPENAPI"]

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

SMALL_BODY = 64 << 10
"""Bodies of the routes clerks, members and delegates call (a count, a ballot, a vote): a count
of 20 options is under 1 KiB, so 64 KiB (also the size past which bodies are parsed off the
event loop) is ample, and a flood of megabyte bodies is refused before it is read."""


def _svc(request: web.Request) -> VotingService:
    return request.app[VOTING]


async def _clerk(request: web.Request) -> str:
    rec = await request.app[AUTH].require(request, "clerk")
    return rec.subject


def _found(value, what: str):
    if value is None:
        raise ApiError(404, "id", f"no such {what}")
    return value


# -- assemblies ------------------------------------------------------------------------------
@routes.post("/api/assemblies")
async def create_assembly(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    a, token = await _svc(request).create_assembly(await read_json(request))
    return web.json_response({**a, "token": token}, status=201)


@routes.get("/api/assemblies")
async def list_assemblies(request: web.Request) -> web.Response:
    limit, offset = request.query.get("limit", "1000"), request.query.get("offset", "0")
    for name, raw in (("limit", limit), ("offset", offset)):
        if not raw.isascii() or not raw.isdigit():
            raise ApiError(400, name, "must be a non-negative integer")
    # SQLite INTEGERs stop at 2**63 - 1: a larger offset only means "past the end"
    limit, offset = min(int(limit), 100_000), min(int(offset), 2 ** 62)
    return web.json_response({"assemblies": await _svc(request).list_assemblies(limit, offset)})


@routes.get("/api/assemblies/{id}")
async def get_assembly(request: web.Request) -> web.Response:
    return web.json_response(_found(await _svc(request).get_assembly(request.match_info["id"]), "assembly"))


@routes.post("/api/assemblies/{id}/token")
async def rotate_clerk_token(request: web.Request) -> web.Response:
    auth = request.app[AUTH]
    await auth.require(request, "secretariat")
    aid = request.match_info["id"]
    _found(await _svc(request).get_assembly(aid), "assembly")
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
    a = await _svc(request).get_assembly(await _clerk(request))
    if a is None:
        raise AuthError("forbidden", "this clerk's assembly no longer exists")
    return web.json_response({"assembly": a})


# -- rounds -------------------------------------------------------------------------------------
@routes.post("/api/rounds")
async def create_round(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    r = await _svc(request).create_round(await read_json(request))
    return web.json_response(public_round(r, time.time()), status=201)


@routes.get("/api/rounds")
async def list_rounds(request: web.Request) -> web.Response:
    rows = await _svc(request).list_rounds(breakdown=False)
    now = time.time()
    return web.json_response({"rounds": [public_round(r, now, brief=True) for r in rows], "server_time": now})


async def _round(request: web.Request) -> dict:
    """The round named in the path, without a published round's per-assembly breakdown."""
    return _found(await _svc(request).get_round(request.match_info["id"], breakdown=False), "round")


_BREAKDOWN_SLOT = "councilcast-breakdown-" + secrets.token_hex(12)  # stands for the breakdown until spliced in


async def _round_response(request: web.Request, r: dict, extra: dict | None = None) -> web.Response:
    """``public_round(r)`` (and ``extra``), the published breakdown spliced in as the JSON text
    the service keeps (:meth:`VotingService.breakdown_json`), not decoded and encoded again."""
    out = {**public_round(r, time.time()), **(extra or {})}
    text = await _svc(request).breakdown_json(r) if out["state"] == "published" else None
    if text is None:
        return web.json_response(out)
    out["result"] = {**out["result"], "assemblies": _BREAKDOWN_SLOT}
    body = orjson.dumps(out)
    slot = orjson.dumps(_BREAKDOWN_SLOT)
    if body.count(slot) != 1:  # the slot's text also in a title or a name: never in practice
        out["result"]["assemblies"] = orjson.loads(text)
        return web.json_response(out)
    return web.Response(body=body.replace(slot, text), content_type="application/json")


@routes.get("/api/rounds/{id}")
async def get_round(request: web.Request) -> web.Response:
    r = await _round(request)
    # {at, anchor}: keep it to check the chain later
    return await _round_response(request, r, {"anchor": await _svc(request).latest_anchor(r["id"])})


@routes.post("/api/rounds/{id}/close")
async def close_round(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    r = await _round(request)
    if r["published_at"] is not None:
        raise ApiError(409, "id", "the round is already closed")
    r = await _svc(request).close(r["id"])
    return await _round_response(request, r)


@routes.post("/api/rounds/{id}/tallies")
async def post_tally(request: web.Request) -> web.Response:
    token = bearer(request)
    if token is None:
        raise AuthError("unauthorized", "a bearer token is required")
    body = await read_json(request, max_bytes=SMALL_BODY)
    rid = request.match_info["id"]
    # the receipt chains to the anchor before it (read in the count's transaction) and those after it
    aid, rec, anchor = await _svc(request).submit_tally(rid, hash_token(token), body)
    log.debug("count for round %s from %s: %s", rid, aid, rec)
    # no seq: a receipt must not tell a clerk how many counts the round holds before the close
    return web.json_response({"round": rid, "assembly": aid, "version": rec["version"],
                              "receipt": rec["hash"], "received_at": rec["received_at"], "anchor": anchor},
                             status=201 if rec["version"] == 1 else 200)


@routes.get("/api/rounds/{id}/audit")
async def audit_export(request: web.Request) -> web.Response:
    rid = request.match_info["id"]
    export = await _svc(request).export(rid)
    if request.query.get("format") == "csv":
        buf = io.StringIO()
        opts = export["definition"]["options"]
        w = csvsafe.writer(buf)  # option labels and ids are text: no formula reaches a spreadsheet
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
    body = await read_json(request, max_bytes=SMALL_BODY)
    rid = request.match_info["id"]
    codes = await _svc(request).issue_codes(rid, aid, body.get("count"))
    base = request.app[CONFIG].base_url
    out = [{"code": c, "url": f"{base}/ballot?code={c}"} for c in codes]
    if body.get("qr"):
        for item in out:
            item["qr_svg"] = segno.make(item["url"], error="m").svg_inline(scale=3, border=2)
    return web.json_response({"round": rid, "assembly": aid, "codes": out}, status=201)


@routes.post("/api/ballots")
async def cast_ballot(request: web.Request) -> web.Response:
    body = await read_json(request, max_bytes=SMALL_BODY)
    out = await _svc(request).cast_ballot(body.get("code"), body.get("choice"), request.remote or "")
    return web.json_response({"round": out["round"], "counted": True}, status=201)


# -- delegates, roll calls, recall --------------------------------------------------------------------
@routes.get("/api/delegates")
async def list_delegates(request: web.Request) -> web.Response:
    return web.json_response({"delegates": await _svc(request).list_delegates()})


@routes.post("/api/delegates/{id}/recall")
async def open_recall(request: web.Request) -> web.Response:
    """201 a recall round opened; 200 when the request joined the one scheduled (``"request":
    "joined"``) or brought it forward to now (``"brought_forward"``, with ``{"now": true}``)."""
    aid = await _clerk(request)
    body = await read_json(request, max_bytes=SMALL_BODY)
    r, action = await _svc(request).open_recall(request.match_info["id"], aid, body)
    out = {**public_round(r, time.time()), "request": action, "quorum": r.get("quorum"),
           **await _svc(request).recall_view(r["id"])}
    return web.json_response(out, status=201 if action == "opened" else 200)


@routes.get("/api/delegates/{id}/successor")
async def successor_election(request: web.Request) -> web.Response:
    e = await _svc(request).successor_election(request.match_info["id"])
    return web.json_response(_found(e, "successor election (one opens when a recall passes)"))


@routes.post("/api/delegates/{id}/successor/candidates")
async def nominate(request: web.Request) -> web.Response:
    aid = await _clerk(request)
    body = await read_json(request, max_bytes=SMALL_BODY)
    return web.json_response(await _svc(request).nominate(request.match_info["id"], aid, body), status=201)


@routes.post("/api/delegates/{id}/token")
async def delegate_token(request: web.Request) -> web.Response:
    """A new token for a delegate, shown once (the secretariat hands it over, as at registration);
    any earlier token of theirs is revoked. How an elected successor gets theirs."""
    auth = request.app[AUTH]
    await auth.require(request, "secretariat")
    did = request.match_info["id"]
    d = _found(await _svc(request).get_delegate(did), "delegate")
    if d["status"] != "active":
        raise ApiError(409, "id", "this delegate has been recalled: a recalled delegate gets no token")
    token, _ = await auth.rotate("delegate", did, f"delegate {d['name']}")
    return web.json_response({"id": did, "name": d["name"], "token": token}, status=201)


@routes.get("/api/rollcalls")
async def list_rollcalls(request: web.Request) -> web.Response:
    return web.json_response({"rollcalls": await _svc(request).list_rollcalls()})


@routes.get("/api/rollcalls/{id}")
async def get_rollcall(request: web.Request) -> web.Response:
    return web.json_response(_found(await _svc(request).get_rollcall(request.match_info["id"]), "roll call"))


@routes.post("/api/rollcalls/{id}/votes")
async def rollcall_vote(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "secretariat", "delegate")
    body = await read_json(request, max_bytes=SMALL_BODY)
    did = body.get("delegate")
    if rec.role == "delegate":
        if did is not None and did != rec.subject:
            raise ApiError(403, "delegate", "a delegate records only their own vote")
        did = rec.subject
    out = await _svc(request).rollcall_vote(request.match_info["id"], did, body.get("choice"))
    return web.json_response(out, status=201)


@routes.post("/api/rollcalls/{id}/close")
async def close_rollcall(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    return web.json_response(await _svc(request).close_rollcall(request.match_info["id"]))


# -- diagnostics for the benchmark ----------------------------------------------------------------
@routes.post("/api/events/ping")
async def ping(request: web.Request) -> web.Response:
    """Publish ``{"type": "ping"}`` to every screen, by the fast path or the naive baseline."""
    await request.app[AUTH].require(request, "secretariat")
    body = await read_json(request)
    hub = request.app[EVENTS]
    strategy = body.get("strategy", "fast")
    if strategy not in ("fast", "naive"):
        raise ApiError(400, "strategy", "fast or naive")
    cpu0, t0 = time.process_time(), time.perf_counter()
    event = {"type": "ping", "n": body.get("n")}
    # this process's fan-out (with several processes, each measures its own)
    sent = await (hub.publish_local(event) if strategy == "fast" else hub.publish_naive(event))
    return web.json_response({"sent": sent, "wall_s": time.perf_counter() - t0,
                              "cpu_s": time.process_time() - cpu0, "clients": len(hub)})


@routes.get("/api/voting/stats")
async def stats(request: web.Request) -> web.Response:
    """Screens connected, the WebSocket path, rounds pending; with the secretariat's token also
    the counters that move with every vote (writes, commits, CPU, the last close's timings)."""
    operator = False
    if bearer(request) is not None:
        operator = (await request.app[AUTH].require(request, "secretariat")) is not None
    return web.json_response(await _svc(request).stats(operator=operator))


def setup(app: web.Application) -> None:
    hub = events.setup(app, fastpath=app[CONFIG].ws_fastpath)
    app.add_routes(routes)

    async def lifecycle(app: web.Application):
        # PostgreSQL: events through LISTEN/NOTIFY, so that several processes act as one server
        bus = PgBus(app[DB], hub) if app[DB].engine == "postgresql" else None
        svc = VotingService.with_key_file(app[DB], hub, app[CONFIG].db, app[CONFIG].key_file,
                                          recall_quorum=app[CONFIG].recall_quorum)
        app[VOTING] = svc
        hub.hello_extra.append(svc.hello)
        if bus is not None:
            await bus.start()
        await svc.start()
        yield
        await svc.stop()
        if bus is not None:
            await bus.stop()

    app.cleanup_ctx.append(lifecycle)
    voting_pages.setup(app)


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
    "/api/delegates": {"get": _op("List delegates with status")},
    "/api/delegates/{id}/recall": {"post": _op(
        "Ask for a recall of a delegate (clerk of a constituency assembly): 201 opens a round (at most 7 days "
        "ahead, the turnout quorum in force recorded in it); while one is scheduled the request joins it (200, "
        "request: joined), or with now: true brings it forward to now (200, request: brought_forward); 409 while "
        "one is open", auth=True, ok="201",
        body={"duration_s": 300, "opens_at": "2026-01-02T10:00:00Z", "nomination_s": 86400,
              "election_duration_s": 600}, errors=("400", "404", "409"))},
    "/api/delegates/{id}/successor": {"get": _op(
        "The election of a recalled delegate's successor: state, nomination window, candidates (and who put each "
        "forward), its rounds, the successor", errors=("404",))},
    "/api/delegates/{id}/successor/candidates": {"post": _op(
        "Put a successor candidate forward (clerk of a constituency assembly) while nominations are open",
        auth=True, ok="201", body={"name": "A. Pannekoek"}, errors=("400", "403", "404", "409"))},
    "/api/delegates/{id}/token": {"post": _op(
        "A new token for an active delegate, shown once; earlier ones revoked (secretariat): how an elected "
        "successor gets theirs", auth=True, ok="201", errors=("404", "409"))},
    "/api/rollcalls": {"get": _op("List roll calls with every vote by name")},
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
