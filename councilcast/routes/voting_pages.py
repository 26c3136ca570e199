"""HTML pages of the voting area: rounds, one round, assemblies, delegate, clerk, ballot.

Every page reads the same store as the API; counts appear only in a published result.
The ballot page works without JavaScript (a plain form POST); the clerk page needs it,
since the clerk's token stays in the browser (localStorage) and goes out as a bearer
header, never in a URL or a cookie.
"""

from __future__ import annotations

import time

from aiohttp import web

from councilcast.errors import status_for
from councilcast.pages import render
from voting.rules import ABSTAIN, VotingError, iso
from voting.store import public_round

routes = web.RouteTableDef()


def _svc(request):
    from councilcast.routes.voting import VOTING

    return request.app[VOTING]


@routes.get("/rounds")
async def rounds_page(request: web.Request) -> web.Response:
    svc = _svc(request)
    rows = await svc.db.read(lambda c: svc.store.list_rounds(c))
    now = time.time()
    return render(request, "voting/rounds.html", {"rounds": [public_round(r, now) for r in rows]})


@routes.get("/rounds/{id}")
async def round_page(request: web.Request) -> web.Response:
    svc = _svc(request)
    rid = request.match_info["id"]
    r = await svc.db.read(lambda c: svc.store.get_round(c, rid))
    if r is None:
        raise web.HTTPNotFound()
    return render(request, "voting/round.html", {"r": public_round(r, time.time())})


@routes.get("/assemblies")
async def assemblies_page(request: web.Request) -> web.Response:
    svc = _svc(request)

    def q(conn):
        n, members = svc.store.count_assemblies(conn)
        return n, members, svc.store.list_assemblies(conn, 500), svc.store.list_delegates(conn)
    n, members, assemblies, delegates = await svc.db.read(q)
    names = {a["id"]: a["name"] for a in assemblies}
    return render(request, "voting/assemblies.html", {"n": n, "members": members, "assemblies": assemblies,
                                                      "delegates": delegates, "names": names})


@routes.get("/delegates/{id}")
async def delegate_page(request: web.Request) -> web.Response:
    svc = _svc(request)
    did = request.match_info["id"]

    def q(conn):
        d = svc.store.get_delegate(conn, did)
        if d is None:
            return None
        d["record"] = svc.store.delegate_record(conn, did)
        d["constituency"] = [svc.store.get_assembly(conn, a) for a in d["assemblies"]]
        d["recalls"] = [public_round(r, time.time()) for r in svc.store.list_rounds(conn, 1000)
                        if r["kind"] == "recall" and r["subject"] == did]
        return d
    d = await svc.db.read(q)
    if d is None:
        raise web.HTTPNotFound()
    return render(request, "voting/delegate.html", {"d": d})


@routes.get("/clerk")
async def clerk_page(request: web.Request) -> web.Response:
    return render(request, "voting/clerk.html", {})


async def _ballot_context(request, code: str) -> dict:
    svc = _svc(request)
    ctx: dict = {"code": code, "round": None, "error": None, "abstain": ABSTAIN}
    if code:
        found = await svc.db.read(lambda c: svc.store.code_round(c, code))
        if found is None:
            ctx["error"] = "This code is not known. Check it and type it again."
        else:
            r, _aid, used = found
            ctx["round"] = public_round(r, time.time())
            if used:
                ctx["error"] = "This code has already been used."
            elif ctx["round"]["state"] != "open":
                ctx["error"] = f"This round is {ctx['round']['state']}: ballots are accepted only while it is open."
    return ctx


@routes.get("/ballot")
async def ballot_page(request: web.Request) -> web.Response:
    code = request.query.get("code", "").strip().upper()
    return render(request, "voting/ballot.html", await _ballot_context(request, code))


@routes.post("/ballot")
async def ballot_form(request: web.Request) -> web.Response:
    try:
        form = await request.post()
    except ValueError:  # a malformed multipart or urlencoded body is the client's fault
        raise web.HTTPBadRequest(text="the form could not be read") from None
    code = str(form.get("code", "")).strip().upper()
    choice = str(form.get("choice", ""))
    svc = _svc(request)
    try:
        await svc.db.write(lambda c: svc.store.cast_ballot(c, code, choice, time.time()))
    except VotingError as exc:
        ctx = await _ballot_context(request, code)
        ctx["error"] = ctx["error"] or exc.reason
        return render(request, "voting/ballot.html", ctx, status=status_for(exc))
    return render(request, "voting/ballot_done.html", {})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    from councilcast.appkeys import JINJA

    env = app[JINJA]
    env.filters.setdefault("iso", iso)
    env.filters.setdefault("pct", lambda x: f"{100 * x:.1f}%" if x is not None else "")

