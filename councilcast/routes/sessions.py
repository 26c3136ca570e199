"""Routes of the sessions: the Central Assembly's and its Council's sessions, agenda and speakers.

The chair acts with the secretariat's token; a delegate (delegate token) or a linked
assembly (clerk token) asks for the floor. The work is
:class:`councilcast.services.sessions.SessionService`'s; the rules are :mod:`assembly.sessions`.
"""

from __future__ import annotations

import io

from aiohttp import web

from councilcast import csvsafe
from councilcast.appkeys import AUTH, BROADCAST, CONFIG, DB, EVENTS, PLAN_VARIANTS, SESSIONS, STARTUP_NOTES, VOTING
from councilcast.errors import ApiError, read_json
from councilcast.pages import render
from councilcast.services import session_demo
from councilcast.services.sessions import SessionService

__all__ = ["setup", "OPENAPI"]

routes = web.RouteTableDef()
SMALL_BODY = 16 << 10


def _svc(request: web.Request) -> SessionService:
    return request.app[SESSIONS]


async def _chair(request: web.Request) -> None:
    await request.app[AUTH].require(request, "secretariat")


async def _body(request: web.Request) -> dict:
    return await read_json(request, max_bytes=SMALL_BODY) if request.can_read_body else {}


async def _who(request: web.Request) -> dict | None:
    """The delegate or assembly a token speaks for; None for the chair (the secretariat)."""
    rec = await request.app[AUTH].require(request, "delegate", "clerk", "secretariat")
    voting = request.app[VOTING]
    if rec.role == "secretariat":
        return None
    if rec.role == "delegate":
        d = await voting.delegate(rec.subject)
        if d is None or d["status"] != "active":
            raise ApiError(403, "Authorization", "this delegate is not (or no longer) an active delegate")
        return {"kind": "delegate", "id": d["id"], "name": d["name"]}
    a = await voting.get_assembly(rec.subject)
    if a is None:
        raise ApiError(403, "Authorization", "this clerk's assembly no longer exists")
    return {"kind": "assembly", "id": a["id"], "name": a["name"]}


def _found(v):
    if v is None:
        raise ApiError(404, "id", "no such session")
    return v


@routes.post("/api/sessions")
async def create_session(request: web.Request) -> web.Response:
    await _chair(request)
    return web.json_response(await _svc(request).create(await _body(request)), status=201)


@routes.get("/api/sessions")
async def list_sessions(request: web.Request) -> web.Response:
    return web.json_response({"sessions": await _svc(request).list()})


@routes.get("/api/sessions/{id}")
async def get_session(request: web.Request) -> web.Response:
    return web.json_response(_found(await _svc(request).view(request.match_info["id"])))


@routes.post("/api/sessions/{id}/{action:open|adjourn|close}")
async def session_action(request: web.Request) -> web.Response:
    await _chair(request)
    return web.json_response(await _svc(request).act(request.match_info["id"], request.match_info["action"]))


@routes.post("/api/sessions/{id}/items")
async def add_item(request: web.Request) -> web.Response:
    await _chair(request)
    return web.json_response(await _svc(request).add_item(request.match_info["id"], await _body(request)),
                             status=201)


@routes.put("/api/sessions/{id}/items")
async def reorder_items(request: web.Request) -> web.Response:
    await _chair(request)
    return web.json_response(await _svc(request).reorder(request.match_info["id"], await _body(request)))


@routes.post("/api/sessions/{id}/items/{item}/{action:start|end}")
async def item_action(request: web.Request) -> web.Response:
    await _chair(request)
    svc, sid, iid = _svc(request), request.match_info["id"], request.match_info["item"]
    act = svc.start_item if request.match_info["action"] == "start" else svc.end_item
    return web.json_response(await act(sid, iid))


@routes.post("/api/sessions/{id}/speakers")
async def ask_floor(request: web.Request) -> web.Response:
    who = await _who(request)
    if who is None:
        raise ApiError(403, "Authorization", "a delegate or an assembly's clerk asks for the floor")
    out = await _svc(request).ask_floor(request.match_info["id"], who, await _body(request))
    return web.json_response(out, status=201)


@routes.delete("/api/sessions/{id}/speakers/{speaker}")
async def withdraw(request: web.Request) -> web.Response:
    who = await _who(request)
    return web.json_response(await _svc(request).withdraw(request.match_info["id"], request.match_info["speaker"],
                                                          who))


@routes.post("/api/sessions/{id}/speakers/{speaker}/grant")
async def grant(request: web.Request) -> web.Response:
    await _chair(request)
    return web.json_response(await _svc(request).grant(request.match_info["id"], request.match_info["speaker"],
                                                       await _body(request)))


@routes.post("/api/sessions/{id}/speakers/{speaker}/done")
async def done(request: web.Request) -> web.Response:
    await _chair(request)
    return web.json_response(await _svc(request).done(request.match_info["id"], request.match_info["speaker"]))


@routes.get("/api/sessions/{id}/minutes")
async def minutes(request: web.Request) -> web.Response:
    m = _found(await _svc(request).minutes(request.match_info["id"]))
    if request.query.get("format") == "csv":
        buf = io.StringIO()
        w = csvsafe.writer(buf)
        w.writerow(["item", "kind", "started_at", "ended_at", "speaker", "speaker_from", "speaker_to", "outcome",
                    "final_hash", "recording"])
        for i in m["items"]:
            d = i.get("decision") or {}
            rows = i["speakers"] or [None]
            for t in rows:
                w.writerow([i["title"], i["kind"], i["started_at"], i["ended_at"], t and t["name"], t and t["from"],
                            t and t["to"], (d.get("outcome") or {}).get("text"), d.get("final_hash"), i["recording"]])
        return web.Response(text=buf.getvalue(), content_type="text/csv",
                            headers={"X-Content-SHA256": m["hash"]})
    return web.json_response(m, headers={"X-Content-SHA256": m["hash"]})


@routes.get("/sessions")
async def sessions_page(request: web.Request) -> web.Response:
    return render(request, "sessions/list.html", {"sessions": await _svc(request).list()})


@routes.get("/sessions/{id}")
async def session_page(request: web.Request) -> web.Response:
    v = await _svc(request).view(request.match_info["id"])
    if v is None:
        raise web.HTTPNotFound()
    return render(request, "sessions/session.html", {"s": v})


@routes.get("/sessions/{id}/minutes")
async def minutes_page(request: web.Request) -> web.Response:
    m = await _svc(request).minutes(request.match_info["id"])
    if m is None:
        raise web.HTTPNotFound()
    return render(request, "sessions/minutes.html", {"m": m})


def setup(app: web.Application) -> None:
    app.add_routes(routes)

    async def variant_options(ident: str) -> list[str] | None:
        s = await app[PLAN_VARIANTS].get_set(ident, with_doc=False)
        return None if s is None else [f"Variant {n}" for n in s.get("variants", [])]

    async def lifecycle(app: web.Application):
        svc = SessionService(app[DB], app[EVENTS], app[VOTING], variant_options, app[BROADCAST].recordings)
        app[SESSIONS] = svc
        app[EVENTS].hello_extra.append(svc.hello)
        await svc.start()
        yield

    app.cleanup_ctx.append(lifecycle)
    config = app[CONFIG]
    if config.runs_demo:  # after the lifecycle, so that it stops first
        app.cleanup_ctx.append(lambda app: session_demo.running(app[SESSIONS], app[VOTING], app[AUTH],
                                                                app[STARTUP_NOTES], config.demo_fast))


def _op(summary: str, *, chair: bool = False, ok: str = "200", auth: str | None = None) -> dict:
    op: dict = {"summary": summary, "tags": ["sessions"],
                "responses": {ok: {"description": "OK"},
                              **{e: {"description": "error body {\"error\": {\"field\", \"reason\"}}"}
                                 for e in ("400", "404", "409")}}}
    if chair or auth:
        op["security"] = [{"bearer": []}]
        op["description"] = f"Needs {'the secretariat' if chair else auth}'s token."
    return op


OPENAPI: dict = {
    "/api/sessions": {"post": _op("Create a session (body, title, starts_at?, channel?)", chair=True, ok="201"),
                      "get": _op("Sessions, newest first")},
    "/api/sessions/{id}": {"get": _op("A session: state, agenda with each item's rounds and outcome, speakers")},
    "/api/sessions/{id}/{action}": {"post": _op("open, adjourn or close the session", chair=True)},
    "/api/sessions/{id}/items": {"post": _op("Add an agenda item (title, kind, variant_set?, options?, duration_s?)",
                                             chair=True, ok="201"),
                                 "put": _op("Reorder the agenda ({\"order\": [item ids]})", chair=True)},
    "/api/sessions/{id}/items/{item}/{action}": {"post": _op(
        "start (a decision opens its round) or end an item", chair=True)},
    "/api/sessions/{id}/speakers": {"post": _op("Ask for the floor (item?)", auth="a delegate or clerk", ok="201")},
    "/api/sessions/{id}/speakers/{speaker}": {"delete": _op("Withdraw a request (the asker or the chair)",
                                                            auth="the asker or the secretariat")},
    "/api/sessions/{id}/speakers/{speaker}/grant": {"post": _op("Give the floor ({\"seconds\"?}, default 120)",
                                                                chair=True)},
    "/api/sessions/{id}/speakers/{speaker}/done": {"post": _op("End a turn", chair=True)},
    "/api/sessions/{id}/minutes": {"get": _op("The minutes (JSON, or ?format=csv), growing while the session runs; "
                                              "X-Content-SHA256 is their hash")},
}
