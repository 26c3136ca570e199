"""Routes for proposals, published variant sets and their cards (docs/plan-variants.md).

API (JSON; errors as ``{"error": {"field", "reason"}}``):

- ``POST /api/plan/proposals`` (clerk token): a workplace council's proposal; the token's
  subject (an assembly id) is recorded as its author. ``GET`` lists the open ones;
  ``DELETE /api/plan/proposals/{id}`` (the authoring clerk or the secretariat) withdraws one.
- ``POST /api/plan/proposals/check``: all open proposals checked together: minimal
  incompatible sets and unintended effects (nothing stored).
- ``POST /api/plan/variant-sets`` (secretariat): produce and publish a variant set from the
  current economy (or ``economy`` in the body), the open proposals and ``parameters``.
- ``POST /api/plan/variant-sets/revise`` (secretariat): recompute the last published
  variants with the current (or given) economy; the result says what changed and for whom.
- ``GET /api/plan/variant-sets``, ``GET /api/plan/variant-sets/{id}`` (``latest`` works):
  the list, and one published document (inputs, hashes, solver version, every number).
- ``GET /api/plan/variant-sets/{id}/cards?variant=A&workplace=X&format=json|html|text``:
  one card, one variant's cards for every workplace, or one workplace's cards for every variant.

Pages: ``/plan/variants``, ``/plan/variants/{name}``, ``/plan/workplaces/{id}`` (latest set).
The work is :class:`councilcast.services.plan_variants.PlanVariantsService`'s.
"""

from __future__ import annotations

from aiohttp import web

from councilcast.appkeys import AUTH, CONFIG, DB, JINJA, PLAN, PLAN_VARIANTS
from councilcast.errors import ApiError, read_json
from councilcast.pages import public_base, render
from councilcast.plan_cards import render_card
from councilcast.services.plan_variants import PlanVariantsService
from planfactory.summaries import card_text, fmt_signed, fmt_value

__all__ = ["setup", "OPENAPI"]

routes = web.RouteTableDef()
FORMATS = {"json", "html", "text"}


def _svc(request: web.Request) -> PlanVariantsService:
    return request.app[PLAN_VARIANTS]


async def _body(request: web.Request) -> dict:
    return await read_json(request) if request.can_read_body else {}


async def _get_set(request, ident: str, with_doc: bool = True) -> dict:
    s = await _svc(request).get_set(ident, with_doc)
    if s is None:
        raise ApiError(404, "id", f"no published variant set {ident!r}")
    return s


# --------------------------------------------------------------------------- proposals
@routes.post("/api/plan/proposals")
async def submit_proposal(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "clerk")
    body = await read_json(request)
    return web.json_response(await _svc(request).submit_proposal(body, rec.subject or rec.role), status=201)


@routes.get("/api/plan/proposals")
async def list_proposals(request: web.Request) -> web.Response:
    return web.json_response({"proposals": await _svc(request).open_proposals()})


@routes.delete("/api/plan/proposals/{id}")
async def withdraw_proposal(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "clerk", "secretariat")
    p = await _svc(request).withdraw_proposal(request.match_info["id"], rec.role, rec.subject or rec.role)
    return web.json_response(p)


@routes.post("/api/plan/proposals/check")
async def check_proposals(request: web.Request) -> web.Response:
    return web.json_response(await _svc(request).check(await _body(request)))


# --------------------------------------------------------------------------- variant sets
@routes.post("/api/plan/variant-sets")
async def publish_set(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "secretariat")
    out = await _svc(request).publish(await _body(request), rec.subject or rec.role, public_base(request))
    return web.json_response(out, status=201)


@routes.post("/api/plan/variant-sets/revise")
async def revise_set(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "secretariat")
    out = await _svc(request).revise(await _body(request), rec.subject or rec.role, public_base(request))
    return web.json_response(out, status=201)


@routes.get("/api/plan/variant-sets")
async def list_sets(request: web.Request) -> web.Response:
    return web.json_response({"variant_sets": await _svc(request).list_sets()})


@routes.get("/api/plan/variant-sets/{id}")
async def get_set(request: web.Request) -> web.Response:
    s = await _get_set(request, request.match_info["id"])
    return web.Response(text=s["doc"], content_type="application/json",
                        headers={"X-Input-Hash": s["input_hash"], "X-Variant-Set": str(s["id"])})


def _render(cards_list: list[dict], fmt: str) -> web.Response:
    if fmt == "json":
        return web.json_response(cards_list[0] if len(cards_list) == 1 else {"cards": cards_list})
    if fmt == "text":
        return web.Response(text="\n\n".join(card_text(c) for c in cards_list) + "\n", content_type="text/plain")
    return web.Response(text="\n".join(render_card(c) for c in cards_list), content_type="text/html")


@routes.get("/api/plan/variant-sets/{id}/cards")
async def get_cards(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(400, "format", "must be json, html or text")
    s = await _get_set(request, request.match_info["id"], with_doc=False)
    cards = await _svc(request).cards(s, request.query.get("variant"), request.query.get("workplace"),
                                      public_base(request))
    return _render(cards, fmt)


# --------------------------------------------------------------------------- pages
@routes.get("/plan/variants")
async def variants_page(request: web.Request) -> web.Response:
    svc = _svc(request)
    s = await svc.get_set("latest", with_doc=False)
    doc = (await svc.loaded(s))[0] if s else None
    return render(request, "plan/variants_index.html", {"set": s, "doc": doc, "fmt": fmt_value, "sgn": fmt_signed})


@routes.get("/plan/variants/{name}")
async def variant_page(request: web.Request) -> web.Response:
    svc = _svc(request)
    s = await svc.get_set("latest", with_doc=False)
    if s is None:
        raise web.HTTPNotFound()
    doc, cards = await svc.loaded(s)
    name = request.match_info["name"]
    v = next((x for x in doc["variants"] if x["name"] == name), None)
    if v is None:
        raise web.HTTPNotFound()
    today = doc["status_quo"]["sector_output"]
    sectors = [{"name": n, "value": fmt_value(x, "qty"),
                "change": fmt_signed(100 * (x - t) / t, "pct") if t else "not known"}
               for n, x, t in zip(doc["sectors"], v["sector_output"], today)]
    workplaces = [{"id": i, "name": nm} for i, nm in zip(cards.ent_ids, cards.ent_names)]
    return render(request, "plan/variants_detail.html", {"set": s, "doc": doc, "v": v, "sectors": sectors,
                                                          "workplaces": workplaces, "fmt": fmt_value,
                                                          "sgn": fmt_signed})


@routes.get("/plan/workplaces/{id}")
async def workplace_page(request: web.Request) -> web.Response:
    s, cards = await _svc(request).workplace_cards(request.match_info["id"], public_base(request))
    if not cards:
        raise web.HTTPNotFound()
    return render(request, "plan/card_workplace.html", {"set": s, "cards": cards,
                                                         "fragments": [render_card(c) for c in cards]})


# --------------------------------------------------------------------------- wiring
def setup(app: web.Application) -> None:
    async def lifecycle(app: web.Application):
        svc = PlanVariantsService(app[DB], app[PLAN])
        app[PLAN_VARIANTS] = svc
        for name in ("plan/variants_index.html", "plan/variants_detail.html", "plan/card_workplace.html"):
            app[JINJA].get_template(name)  # compiled before the first visitor
        await svc.start(demo=app[CONFIG].runs_demo, base_url=app[CONFIG].base_url)
        yield
        await svc.stop()

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(routes)


def _op(summary: str, *, auth: str | None = None, body: bool = False, params: list | None = None) -> dict:
    op: dict = {"summary": summary, "responses": {"200": {"description": "OK"}, "400": {"description": "bad input"}}}
    if auth:
        op["security"] = [{"bearer": []}]
        op["description"] = f"Needs a {auth} token."
    if body:
        op["requestBody"] = {"content": {"application/json": {"schema": {"type": "object"}}}}
    if params:
        op["parameters"] = [{"name": p, "in": "query", "required": False, "schema": {"type": "string"}} for p in params]
    return op


OPENAPI: dict = {
    "/api/plan/proposals": {
        "post": _op("Submit a workplace council's proposal (author: the clerk token's subject)", auth="clerk", body=True),
        "get": _op("Open proposals"),
    },
    "/api/plan/proposals/{id}": {"delete": _op("Withdraw a proposal", auth="clerk (author) or secretariat")},
    "/api/plan/proposals/check": {"post": _op("Minimal incompatible sets and unintended effects of the open proposals",
                                              body=True)},
    "/api/plan/variant-sets": {
        "post": _op("Produce and publish a variant set (body: parameters, optional economy)", auth="secretariat",
                    body=True),
        "get": _op("Published variant sets, newest first"),
    },
    "/api/plan/variant-sets/revise": {"post": _op("Recompute the last published variants with new data; "
                                                  "says what changed and for whom", auth="secretariat", body=True)},
    "/api/plan/variant-sets/{id}": {"get": _op("One published document (id or 'latest'): inputs, hashes, numbers")},
    "/api/plan/variant-sets/{id}/cards": {"get": _op("Cards of a variant and/or a workplace",
                                                     params=["variant", "workplace", "format"])},
}
