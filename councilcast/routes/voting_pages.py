"""HTML pages of the voting area: rounds, one round, assemblies, delegate, clerk, ballot.

Every page reads the same store as the API; counts appear only in a published result.
The ballot page works without JavaScript (a plain form POST); the clerk page needs it,
since the clerk's token stays in the browser (localStorage) and goes out as a bearer
header, never in a URL or a cookie.
"""

from __future__ import annotations

import time

from aiohttp import web

from councilcast.errors import ApiError, status_for
from councilcast.pages import render
from voting.rules import ABSTAIN, VotingError, iso
from councilcast.appkeys import JINJA, VOTING
from councilcast.services.voting import VotingService
from voting.rounds import public_round

routes = web.RouteTableDef()


def _svc(request) -> VotingService:
    return request.app[VOTING]


ROUNDS_HEAD = 6  # assemblies of each result shown in the list of rounds


@routes.get("/rounds")
async def rounds_page(request: web.Request) -> web.Response:
    svc = _svc(request)
    rows = await svc.list_rounds(breakdown=False)  # each published round's first rows only, below
    now = time.time()
    rounds = [public_round(r, now) for r in rows]
    heads = {r["id"]: await svc.breakdown_page(r, 1, per_page=ROUNDS_HEAD)
             for r in rows if r.get("published_at") is not None and r.get("result") is not None}
    return render(request, "voting/rounds.html", {"rounds": rounds, "heads": heads})


@routes.get("/rounds/{id}")
async def round_page(request: web.Request) -> web.Response:
    svc = _svc(request)
    rid = request.match_info["id"]
    page = request.query.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= 10**6:
        raise ApiError(400, "page", "must be a whole number from 1")
    find = request.query.get("find", "").strip()[:200] or None
    r = await svc.get_round(rid, breakdown=False)  # the breakdown a page at a time (60,000 rows in a federation)
    if r is None:
        raise web.HTTPNotFound()
    pub = public_round(r, time.time())
    breakdown = await svc.breakdown_page(r, int(page), find) if pub["state"] == "published" else None
    return render(request, "voting/round.html", {"r": pub, "breakdown": breakdown,
                                                 "anchor": await svc.latest_anchor(rid)})


@routes.get("/assemblies")
async def assemblies_page(request: web.Request) -> web.Response:
    ctx = await _svc(request).overview()
    ctx["names"] = {a["id"]: a["name"] for a in ctx["assemblies"]}
    return render(request, "voting/assemblies.html", ctx)


@routes.get("/clerk")
async def clerk_page(request: web.Request) -> web.Response:
    return render(request, "voting/clerk.html", {})


async def _ballot_context(request, code: str) -> dict:
    svc = _svc(request)
    ctx: dict = {"code": code, "round": None, "error": None, "abstain": ABSTAIN}
    if code:
        r = await svc.ballot_round(code, request.remote or "")
        if r is None:  # unknown and used codes get the same answer: it never tells which codes exist
            ctx["error"] = "This code cannot be used: it is unknown, already used, or mistyped. Check it."
        else:
            ctx["round"] = public_round(r, time.time())
            if ctx["round"]["state"] != "open":
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
        await svc.cast_ballot(code, choice, request.remote or "")
    except VotingError as exc:
        ctx = {"code": code, "round": None, "error": exc.reason, "abstain": ABSTAIN}
        if exc.field != "code":  # the code is valid: show its round again
            ctx = await _ballot_context(request, code)
            ctx["error"] = ctx["error"] or exc.reason
        return render(request, "voting/ballot.html", ctx, status=status_for(exc))
    return render(request, "voting/ballot_done.html", {})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    env = app[JINJA]
    env.filters.setdefault("iso", iso)
    env.filters.setdefault("pct", lambda x: f"{100 * x:.1f}%" if x is not None else "")

