"""Routes of the delegates' side: registration with a term, mandates, roll calls on items, the page.

The work is :class:`councilcast.services.delegates.DelegatesService`'s; the rules are
:mod:`voting.mandates`. Listing delegates, recall rounds and roll-call votes stay with the
voting routes (:mod:`councilcast.routes.voting`).
"""

from __future__ import annotations

from aiohttp import web

from councilcast.appkeys import AUTH, DB, DELEGATES, PLAN_VARIANTS, REPORT_BACK, SESSIONS, VOTING
from councilcast.errors import ApiError, read_json
from councilcast.routes.openapi import operation
from councilcast.pages import public_base, render
from councilcast.plan_cards import render_card
from councilcast.report_pdf import report_pdf
from councilcast.services.delegates import DelegatesService
from councilcast.services.report_back import ReportBackService

routes = web.RouteTableDef()
SMALL_BODY = 64 << 10


def _svc(request: web.Request) -> DelegatesService:
    return request.app[DELEGATES]


@routes.post("/api/delegates")
async def create_delegate(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    d, token = await _svc(request).register(await read_json(request, max_bytes=SMALL_BODY))
    return web.json_response({**d, "token": token}, status=201)


@routes.get("/api/delegates/{id}")
async def get_delegate(request: web.Request) -> web.Response:
    d = await _svc(request).view(request.match_info["id"])
    if d is None:
        raise ApiError(404, "id", "no such delegate")
    return web.json_response(d)


@routes.post("/api/delegates/{id}/mandates")
async def record_mandate(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "clerk")
    body = await read_json(request, max_bytes=SMALL_BODY)
    return web.json_response(await _svc(request).record_mandate(request.match_info["id"], rec.subject, body),
                             status=201)


@routes.post("/api/rollcalls")
async def create_rollcall(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    rc = await _svc(request).create_rollcall(await read_json(request, max_bytes=SMALL_BODY))
    return web.json_response(rc, status=201)


@routes.get("/delegates/{id}")
async def delegate_page(request: web.Request) -> web.Response:
    d = await _svc(request).view(request.match_info["id"])
    if d is None:
        raise web.HTTPNotFound()
    return render(request, "voting/delegate.html", {"d": d})


async def _sheet(request: web.Request) -> dict:
    r = await request.app[REPORT_BACK].sheet(request.match_info["id"], request.query.get("since"),
                                             public_base(request))
    if r is None:
        raise ApiError(404, "id", "no such delegate")
    return r


@routes.get("/api/delegates/{id}/report")
async def report_json(request: web.Request) -> web.Response:
    return web.json_response(await _sheet(request))


@routes.post("/api/delegates/{id}/report/reported")
async def report_reported(request: web.Request) -> web.Response:
    """The delegate (or the secretariat) records that the sheet was reported at a meeting."""
    rec = await request.app[AUTH].require(request, "delegate", "secretariat")
    did = request.match_info["id"]
    if rec.role == "delegate" and rec.subject != did:
        raise ApiError(403, "Authorization", "a delegate records only their own report")
    body = await read_json(request, max_bytes=SMALL_BODY) if request.can_read_body else {}
    printed = body.get("hash") if isinstance(body, dict) else None
    out = await request.app[REPORT_BACK].reported(did, request.query.get("since"), public_base(request), printed)
    return web.json_response(out, status=201)


@routes.get("/delegates/{id}/report")
async def report_page(request: web.Request) -> web.Response:
    r = await _sheet(request)
    cards = {w["assembly_id"]: render_card(w["card"]) for w in r["workplaces"] if w.get("card")}
    return render(request, "voting/report.html", {"r": r, "cards": cards})


@routes.get("/delegates/{id}/report.pdf")
async def report_pdf_page(request: web.Request) -> web.Response:
    r = await _sheet(request)
    name = f"report-back-{r['delegate']['id']}-since-{r['since']}.pdf"
    return web.Response(body=report_pdf(r), content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}"', "X-Content-SHA256": r["hash"]})


def setup(app: web.Application) -> None:
    app.add_routes(routes)

    async def lifecycle(app: web.Application):
        app[DELEGATES] = DelegatesService(app[DB], app[VOTING])
        app[REPORT_BACK] = ReportBackService(app[DELEGATES], app[SESSIONS], app[PLAN_VARIANTS])

        async def revoke_recalled(r: dict) -> None:
            """A recall that passed revokes the delegate's token (through Auth, whose cache must
            hear of it). The status already refuses every delegate action; this closes the rest."""
            recall = (r.get("result") or {}).get("recall") or {}
            if recall.get("passed"):
                await app[AUTH].revoke(role="delegate", subject=recall["delegate"])
        app[VOTING].on_result.append(revoke_recalled)
        yield

    app.cleanup_ctx.append(lifecycle)


def _op(summary: str, **kw) -> dict:
    return operation(summary, "delegates", **kw)


OPENAPI = {
    "/api/delegates": {"post": _op("Register a delegate, their constituency and optional term; returns the "
                                   "delegate token", auth="the secretariat", ok="201",
                                   body={"name": "R. Luxemburg", "assemblies": ["ga-..."], "term_ends": "2027-06-30"})},
    "/api/delegates/{id}": {"get": _op("A delegate: status, term, mandates, open roll calls, and each roll-call vote "
                                       "beside each mandate (marked when against it) and the constituency's shares")},
    "/api/delegates/{id}/mandates": {"post": _op(
        "A constituency assembly's mandate on an agenda item (option, free or text); replaceable until the item "
        "starts", auth="a constituency assembly's clerk", ok="201",
        body={"item": "i-...", "kind": "option", "option": "Variant B"}, errors=("400", "403", "404", "409"))},
    "/api/delegates/{id}/report": {"get": _op(
        "The report-back sheet (?since=YYYY-MM-DD, UTC; default 31 days): each session and item since, the "
        "decisions with figures and hashes, the delegate's votes beside the mandates and shares, each constituency "
        "workplace's card for the adopted variant, the open questions; HTML at /delegates/{id}/report, PDF at "
        "/delegates/{id}/report.pdf")},
    "/api/delegates/{id}/report/reported": {"post": _op(
        "Record that the sheet (?since=) was reported back at a meeting, with its hash; the next sheet starts "
        "from that day", auth="the delegate or the secretariat", ok="201", errors=("400", "403", "404"))},
    "/api/rollcalls": {"post": _op(
        "Open a roll call of the Central Assembly, on an item or a round; 409 while that round is not published",
        auth="the secretariat", ok="201", body={"title": "Which variant of the plan?", "item": "i-..."},
        errors=("400", "404", "409"))},
}
