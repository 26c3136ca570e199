"""Routes of the Central Council: its election by approval, its members.

The work is :class:`councilcast.services.council.CouncilService`'s; the rules are
:mod:`voting.approval`. The Council's members are also shown on its channel's live page
(``/live/council``, :mod:`councilcast.routes.broadcast`).
"""

from __future__ import annotations

from aiohttp import web

from councilcast.appkeys import AUTH, COUNCIL, DB, VOTING
from councilcast.errors import ApiError, read_json
from councilcast.routes.openapi import operation
from councilcast.services.council import CouncilService

routes = web.RouteTableDef()
BODY = 256 << 10  # 2,000 candidates' ids fit


def _svc(request: web.Request) -> CouncilService:
    return request.app[COUNCIL]


@routes.get("/api/council")
async def current_council(request: web.Request) -> web.Response:
    return web.json_response(await _svc(request).current())


@routes.get("/api/council/elections")
async def list_elections(request: web.Request) -> web.Response:
    return web.json_response({"elections": await _svc(request).list_elections()})


@routes.post("/api/council/elections")
async def open_election(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    e = await _svc(request).open_election(await read_json(request, max_bytes=BODY))
    return web.json_response(e, status=201)


@routes.get("/api/council/elections/{id}")
async def get_election(request: web.Request) -> web.Response:
    e = await _svc(request).get_election(request.match_info["id"])
    if e is None:
        raise ApiError(404, "id", "no such election")
    return web.json_response(e)


@routes.post("/api/council/elections/{id}/approvals")
async def approve(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "delegate")
    body = await read_json(request, max_bytes=BODY)
    return web.json_response(await _svc(request).approve(request.match_info["id"], rec.subject, body), status=201)


@routes.post("/api/council/elections/{id}/close")
async def close_election(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    return web.json_response(await _svc(request).close_election(request.match_info["id"]))


def setup(app: web.Application) -> None:
    app.add_routes(routes)

    async def lifecycle(app: web.Application):
        app[COUNCIL] = CouncilService(app[DB], app[VOTING])
        yield

    app.cleanup_ctx.append(lifecycle)


def _op(summary: str, **kw) -> dict:
    return operation(summary, "council", **kw)


OPENAPI = {
    "/api/council": {"get": _op("The Central Council now: the members of the latest election still sitting, with "
                                "their names, seats and term; the seats vacant; who left and why", errors=())},
    "/api/council/elections": {
        "get": _op("Every election of the Council, newest first", errors=()),
        "post": _op("Open an election of the Council: N seats, candidates among the active delegates, an optional "
                    "term and agenda item; one open at a time", auth="the secretariat", ok="201",
                    body={"title": "The Central Council", "seats": 3, "candidates": ["d-...", "d-..."],
                          "term_ends": "2027-06-30", "item": "i-..."}, errors=("400", "404", "409"))},
    "/api/council/elections/{id}": {"get": _op(
        "One election: candidates, who has answered; from the close, who approved whom (a roll call), the "
        "approvals per candidate, the elected, the seed and the draw if a tie was decided")},
    "/api/council/elections/{id}/approvals": {"post": _op(
        "A delegate's approvals: up to N candidates ([] abstains); replaceable until the close; a recalled "
        "delegate is refused (409)", auth="the delegate", ok="201", body={"approve": ["d-...", "d-..."]},
        errors=("400", "401", "403", "404", "409"))},
    "/api/council/elections/{id}/close": {"post": _op(
        "Close the election: count, elect the N most approved, decide a tie at the last seat by the published "
        "draw, seat the Council", auth="the secretariat", errors=("404", "409"))},
}
