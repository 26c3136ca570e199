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
Computation runs in a worker thread (numpy releases the GIL), one at a time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from councilcast.appkeys import AUTH, CONFIG, DB
from councilcast.errors import ApiError, read_json
from councilcast.pages import render

__all__ = ["setup", "OPENAPI", "PLAN_VARIANTS", "PlanVariants"]

routes = web.RouteTableDef()
FORMATS = {"json", "html", "text"}


class PlanVariants:
    """Per-app state: a one-thread executor for plan computations and a small cache of card arrays."""

    def __init__(self, app: web.Application):
        self.app = app
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-variants")
        self.cache: OrderedDict[int, tuple] = OrderedDict()
        self.lock = asyncio.Lock()

    async def run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def economy(self, body: dict | None = None):
        """The economy to plan with: the body's, else the plan area's current one, else the bundled demo."""
        from planfactory.formats import load

        if body and body.get("economy") is not None:
            from planfactory.economy import EconomyError

            if not isinstance(body["economy"], dict):  # load() reads a str as a path on this server
                raise ApiError(400, "economy", "must be an economy object (docs/planfactory.md)")
            try:
                return load(body["economy"])
            except EconomyError as exc:
                raise ApiError(400, exc.field, exc.reason) from None
        try:  # the solver engineer's area may hold the current economy under an app key
            from councilcast.routes import plan as plan_routes

            key = getattr(plan_routes, "ECONOMY", None)
            if key is not None and key in self.app:
                econ = self.app[key]
                econ = econ() if callable(econ) else econ
                if econ is not None:
                    return econ
        except ImportError:  # pragma: no cover
            pass
        from planfactory.demo import demo_economy

        return demo_economy()

    async def loaded(self, s: dict) -> tuple[dict, object]:
        """(document, card arrays) of a stored set, parsed once and kept for the next requests."""
        from planfactory.pipeline import cards_from_doc

        set_id = s["id"]
        if set_id in self.cache:
            self.cache.move_to_end(set_id)
            return self.cache[set_id]
        text = s.get("doc")
        if text is None:
            text = await self.app[DB].read(lambda c: c.execute(
                "SELECT doc FROM plan_variant_sets WHERE id=?", (set_id,)).fetchone()[0])

        def parse():
            doc = json.loads(text)
            return doc, cards_from_doc(doc)

        out = await self.run(parse)
        self.cache[set_id] = out
        while len(self.cache) > 4:
            self.cache.popitem(last=False)
        return out


PLAN_VARIANTS = web.AppKey("plan_variants", PlanVariants)


def _state(request: web.Request) -> PlanVariants:
    return request.app[PLAN_VARIANTS]


# --------------------------------------------------------------------------- storage
def _proposal_row(r) -> dict:
    body = json.loads(r["body"])
    return {**body, "id": str(r["id"]), "author": r["author"], "created_at": r["created_at"],
            "withdrawn_at": r["withdrawn_at"]}


async def _open_proposals(request, *, for_computation: bool = False) -> list[dict]:
    rows = await request.app[DB].read(lambda c: c.execute(
        "SELECT * FROM plan_proposals WHERE withdrawn_at IS NULL ORDER BY id").fetchall())
    out = [_proposal_row(r) for r in rows]
    if for_computation:
        out = [{k: v for k, v in p.items() if k != "withdrawn_at"} for p in out]
    return out


def _set_row(r, with_doc: bool = False) -> dict:
    out = {"id": r["id"], "kind": r["kind"], "input_hash": r["input_hash"], "solver_version": r["solver_version"],
           "previous_id": r["previous_id"], "published_at": r["published_at"], "published_by": r["published_by"],
           **json.loads(r["summary"])}
    if with_doc:
        out["doc"] = r["doc"]
    return out


def _is_row_id(ident: str) -> bool:
    """Digits that fit an SQLite INTEGER (larger ones made the query raise OverflowError)."""
    return ident.isascii() and ident.isdigit() and int(ident) < 2 ** 63


async def _get_set(request, ident: str, with_doc: bool = True) -> dict:
    cols = "*" if with_doc else ("id, kind, input_hash, solver_version, previous_id, published_at, published_by,"
                                 " summary")

    def q(c):
        if ident == "latest":
            return c.execute(f"SELECT {cols} FROM plan_variant_sets ORDER BY id DESC LIMIT 1").fetchone()
        if not _is_row_id(ident):
            return None
        return c.execute(f"SELECT {cols} FROM plan_variant_sets WHERE id=?", (int(ident),)).fetchone()

    row = await request.app[DB].read(q)
    if row is None:
        raise ApiError(404, "id", f"no published variant set {ident!r}")
    return _set_row(row, with_doc=with_doc)


def _base(request) -> str:
    cfg = request.app[CONFIG]
    return cfg.public_url.rstrip("/") if cfg.public_url else f"{request.scheme}://{request.host}"


# --------------------------------------------------------------------------- proposals
@routes.post("/api/plan/proposals")
async def submit_proposal(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "clerk")
    body = await read_json(request)
    from planfactory.proposals import ProposalError, parse_proposal

    body.pop("id", None)
    body.pop("author", None)
    body.pop("created_at", None)
    econ = _state(request).economy()
    try:
        p = parse_proposal(body, econ, default_id="new")
    except ProposalError as exc:
        raise ApiError(400, exc.field, exc.reason) from None
    fields = p.computational()
    fields.pop("id")
    fields["note"] = p.note
    author = rec.subject or rec.role
    now = time.time()

    def ins(c):
        cur = c.execute("INSERT INTO plan_proposals(enterprise, body, author, created_at) VALUES (?, ?, ?, ?)",
                        (p.enterprise, json.dumps(fields), author, now))
        return c.execute("SELECT * FROM plan_proposals WHERE id=?", (cur.lastrowid,)).fetchone()

    row = await request.app[DB].write(ins)
    return web.json_response(_proposal_row(row), status=201)


@routes.get("/api/plan/proposals")
async def list_proposals(request: web.Request) -> web.Response:
    return web.json_response({"proposals": await _open_proposals(request)})


@routes.delete("/api/plan/proposals/{id}")
async def withdraw_proposal(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "clerk", "secretariat")
    pid = request.match_info["id"]
    if not _is_row_id(pid):
        raise ApiError(404, "id", f"no proposal {pid!r}")

    def do(c):
        row = c.execute("SELECT * FROM plan_proposals WHERE id=?", (int(pid),)).fetchone()
        if row is None:
            raise ApiError(404, "id", f"no proposal {pid!r}")
        if rec.role == "clerk" and row["author"] != (rec.subject or rec.role):
            raise ApiError(403, "Authorization", "only the assembly that submitted it (or the secretariat) may withdraw it")
        if row["withdrawn_at"] is None:
            c.execute("UPDATE plan_proposals SET withdrawn_at=? WHERE id=?", (time.time(), int(pid)))
        return c.execute("SELECT * FROM plan_proposals WHERE id=?", (int(pid),)).fetchone()

    row = await request.app[DB].write(do)
    return web.json_response(_proposal_row(row))


def _check(econ, proposals, parameters):
    from planfactory import incompat
    from planfactory.proposals import parse_proposals
    from planfactory.document import clean
    from planfactory.variants import build_context

    ctx = build_context(econ, parse_proposals(proposals, econ), parameters)
    return clean(incompat.find(ctx).to_dict())


def _bad_input(exc: Exception) -> ApiError:
    field = getattr(exc, "field", None) or "parameters"
    return ApiError(400, field, getattr(exc, "reason", None) or str(exc))


@routes.post("/api/plan/proposals/check")
async def check_proposals(request: web.Request) -> web.Response:
    body = await read_json(request) if request.can_read_body else {}
    st = _state(request)
    econ = await st.run(st.economy, body)
    proposals = body.get("proposals")
    if proposals is None:
        proposals = await _open_proposals(request, for_computation=True)
    try:
        report = await st.run(_check, econ, proposals, body.get("parameters"))
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad_input(exc) from None
    return web.json_response(report)


# --------------------------------------------------------------------------- variant sets
def _summary(doc: dict) -> dict:
    return {"variants": [v["name"] for v in doc["variants"]], "sweep": doc["sweep"],
            "incompatible_sets": len(doc["incompatibilities"]["incompatible_sets"]),
            "proposals": len(doc["inputs"]["proposals"])}


def _produce(inputs, previous_inputs):
    from planfactory.pipeline import produce

    return produce(inputs, previous_inputs).doc


def _inputs(econ, proposals, parameters):
    from planfactory.pipeline import make_inputs
    from planfactory.proposals import parse_proposals

    return make_inputs(econ, parse_proposals(proposals, econ), parameters)


async def _last_published(request):
    row = await request.app[DB].read(lambda c: c.execute(
        "SELECT * FROM plan_variant_sets ORDER BY id DESC LIMIT 1").fetchone())
    return None if row is None else _set_row(row, with_doc=True)


async def _publish(request, doc: dict, kind: str, previous_id, by: str, *, app=None, base: str | None = None) -> dict:
    app = app or request.app
    summary = json.dumps(_summary(doc))
    text = json.dumps(doc, separators=(",", ":"))
    now = time.time()

    def ins(c):
        cur = c.execute("INSERT INTO plan_variant_sets(kind, input_hash, solver_version, previous_id, published_at,"
                        " published_by, summary, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (kind, doc["input_hash"], doc["solver_version"], previous_id, now, by, summary, text))
        return c.execute("SELECT * FROM plan_variant_sets WHERE id=?", (cur.lastrowid,)).fetchone()

    row = await app[DB].write(ins)
    st = app[PLAN_VARIANTS]
    st.cache.pop(row["id"], None)
    await st.loaded({"id": row["id"], "doc": text})  # parse once now, so the first card page is not the slow one
    out = _set_row(row)
    base = base or _base(request)
    out["links"] = {"document": f"{base}/api/plan/variant-sets/{out['id']}",
                    "page": f"{base}/plan/variants"}
    out["changes"] = doc.get("changes", [])
    return out


@routes.post("/api/plan/variant-sets")
async def publish_set(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "secretariat")
    body = await read_json(request) if request.can_read_body else {}
    st = _state(request)
    async with st.lock:
        try:
            econ = await st.run(st.economy, body)
            proposals = await _open_proposals(request, for_computation=True)
            inputs = await st.run(_inputs, econ, proposals, body.get("parameters"))
            last = await _last_published(request)
            prev_inputs = json.loads(last["doc"])["inputs"] if last else None
            doc = await st.run(_produce, inputs, prev_inputs)
        except (ValueError, KeyError, TypeError) as exc:
            raise _bad_input(exc) from None
        out = await _publish(request, doc, "publication", last["id"] if last else None, rec.subject or rec.role)
    return web.json_response(out, status=201)


@routes.post("/api/plan/variant-sets/revise")
async def revise_set(request: web.Request) -> web.Response:
    rec = await request.app[AUTH].require(request, "secretariat")
    body = await read_json(request) if request.can_read_body else {}
    st = _state(request)
    async with st.lock:
        last = await _last_published(request)
        if last is None:
            raise ApiError(409, None, "nothing published yet: publish a variant set first")
        old = json.loads(last["doc"])
        pinned = [{"name": v["name"], "decision": v["decision"], "proposals": v["proposals"]} for v in old["variants"]]
        params = {**old["inputs"]["parameters"], "variants": pinned}
        try:
            econ = await st.run(st.economy, body)
            from planfactory.pipeline import make_inputs
            from planfactory.proposals import parse_proposals

            props = parse_proposals(old["inputs"]["proposals"], econ)
            inputs = await st.run(make_inputs, econ, props, params)
            prev_inputs = {**old["inputs"], "parameters": {**old["inputs"]["parameters"], "variants": pinned}}
            doc = await st.run(_produce, inputs, prev_inputs)
        except (ValueError, KeyError, TypeError) as exc:
            raise _bad_input(exc) from None
        out = await _publish(request, doc, "revision", last["id"], rec.subject or rec.role)
    return web.json_response(out, status=201)


@routes.get("/api/plan/variant-sets")
async def list_sets(request: web.Request) -> web.Response:
    rows = await request.app[DB].read(lambda c: c.execute(
        "SELECT id, kind, input_hash, solver_version, previous_id, published_at, published_by, summary"
        " FROM plan_variant_sets ORDER BY id DESC LIMIT 100").fetchall())
    return web.json_response({"variant_sets": [_set_row(r) for r in rows]})


@routes.get("/api/plan/variant-sets/{id}")
async def get_set(request: web.Request) -> web.Response:
    s = await _get_set(request, request.match_info["id"])
    return web.Response(text=s["doc"], content_type="application/json",
                        headers={"X-Input-Hash": s["input_hash"], "X-Variant-Set": str(s["id"])})


def _render(cards_list: list[dict], fmt: str) -> web.Response:
    from councilcast.plan_cards import render_card
    from planfactory.summaries import card_text

    if fmt == "json":
        return web.json_response(cards_list[0] if len(cards_list) == 1 else {"cards": cards_list})
    if fmt == "text":
        return web.Response(text="\n\n".join(card_text(c) for c in cards_list) + "\n", content_type="text/plain")
    return web.Response(text="\n".join(render_card(c) for c in cards_list), content_type="text/html")


async def cards_for(request, s: dict, variant: str | None, workplace: str | None) -> list[dict]:
    """Card dicts of set ``s`` for one variant and/or one workplace (404/400 ApiError otherwise)."""
    from planfactory.pipeline import card_meta
    from planfactory.summaries import card_dict

    doc, cards = await _state(request).loaded(s)
    ks = list(range(cards.K))
    es = None
    if variant is not None:
        if variant not in cards.names:
            raise ApiError(404, "variant", f"no variant {variant!r} in set {s['id']}")
        ks = [cards.names.index(variant)]
    if workplace is not None:
        if workplace not in cards.ent_ids:
            raise ApiError(404, "workplace", f"no workplace {workplace!r}")
        es = [cards.ent_ids.index(workplace)]
    if es is None:
        if variant is None:
            raise ApiError(400, "variant", "give a variant, a workplace, or both")
        es = range(cards.E)
    meta = card_meta(doc, f"{_base(request)}/api/plan/variant-sets/{s['id']}")
    return [card_dict(cards, k, e, meta) for k in ks for e in es]


@routes.get("/api/plan/variant-sets/{id}/cards")
async def get_cards(request: web.Request) -> web.Response:
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(400, "format", "must be json, html or text")
    s = await _get_set(request, request.match_info["id"], with_doc=False)
    cards = await cards_for(request, s, request.query.get("variant"), request.query.get("workplace"))
    return _render(cards, fmt)


# --------------------------------------------------------------------------- pages
async def latest_set_or_none(request):
    """The latest published set (without its document), or None. Public: the assembly page uses it."""
    try:
        return await _get_set(request, "latest", with_doc=False)
    except ApiError:
        return None


@routes.get("/plan/variants")
async def variants_page(request: web.Request) -> web.Response:
    s = await latest_set_or_none(request)
    doc = (await _state(request).loaded(s))[0] if s else None
    from planfactory.summaries import fmt_signed, fmt_value

    return render(request, "plan/variants_index.html", {"set": s, "doc": doc, "fmt": fmt_value, "sgn": fmt_signed})


@routes.get("/plan/variants/{name}")
async def variant_page(request: web.Request) -> web.Response:
    s = await latest_set_or_none(request)
    if s is None:
        raise web.HTTPNotFound()
    doc, cards = await _state(request).loaded(s)
    name = request.match_info["name"]
    v = next((x for x in doc["variants"] if x["name"] == name), None)
    if v is None:
        raise web.HTTPNotFound()
    from planfactory.summaries import fmt_signed, fmt_value

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
    from councilcast.plan_cards import render_card

    s = await latest_set_or_none(request)
    if s is None:
        raise web.HTTPNotFound()
    try:
        cards = await cards_for(request, s, None, request.match_info["id"])
    except ApiError:
        raise web.HTTPNotFound() from None
    return render(request, "plan/card_workplace.html", {"set": s, "cards": cards,
                                                         "fragments": [render_card(c) for c in cards]})


# --------------------------------------------------------------------------- wiring
DEMO_PROPOSALS = [  # (sector, proposal): what the demo's councils propose
    ("Steel", {"output_change_percent": 15, "note": "a second furnace line"}),
    ("Food processing", {"output_change_percent": 10, "equipment": {"Machinery": 20000}}),
    ("Health care", {"output_change_percent": 8, "hours_change": 1}),
    ("Energy", {"output_change_percent": 30}),
    ("Textiles and clothing", {"output_change_percent": -5, "hours_change": -2}),
]


async def publish_demo(app: web.Application) -> None:
    """``councilcast demo``: councils' proposals and a first published variant set, once."""
    db = app[DB]
    n = await db.read(lambda c: c.execute("SELECT COUNT(*) FROM plan_variant_sets").fetchone()[0])
    if n:
        return
    st = app[PLAN_VARIANTS]
    econ = await st.run(st.economy)
    first = {}
    for ent in econ.enterprises:
        first.setdefault(econ.sectors[ent.sector], ent.id)
    rows = [(first[sec], dict(body, enterprise=first[sec])) for sec, body in DEMO_PROPOSALS if sec in first]
    now = time.time()

    def ins(c):
        if c.execute("SELECT COUNT(*) FROM plan_proposals").fetchone()[0] == 0:
            for ent_id, body in rows:
                c.execute("INSERT INTO plan_proposals(enterprise, body, author, created_at) VALUES (?, ?, ?, ?)",
                          (ent_id, json.dumps(body), "demo", now))

    await db.write(ins)
    rows_ = await db.read(lambda c: c.execute(
        "SELECT * FROM plan_proposals WHERE withdrawn_at IS NULL ORDER BY id").fetchall())
    props = [{k: v for k, v in _proposal_row(r).items() if k != "withdrawn_at"} for r in rows_]
    async with st.lock:
        inputs = await st.run(_inputs, econ, props, None)
        doc = await st.run(_produce, inputs, None)
        await _publish(None, doc, "publication", None, "demo", app=app, base=app[CONFIG].base_url)


def setup(app: web.Application) -> None:
    app[PLAN_VARIANTS] = PlanVariants(app)

    async def warm(app: web.Application) -> None:
        """Compile the page templates and parse the latest published set before the first visitor."""
        from councilcast.appkeys import JINJA

        for name in ("plan/variants_index.html", "plan/variants_detail.html", "plan/card_workplace.html"):
            app[JINJA].get_template(name)
        row = await app[DB].read(lambda c: c.execute(
            "SELECT id FROM plan_variant_sets ORDER BY id DESC LIMIT 1").fetchone())
        if row is not None:
            await app[PLAN_VARIANTS].loaded({"id": row["id"]})

    async def lifecycle(app: web.Application):
        task = None
        if app[CONFIG].demo:
            task = asyncio.create_task(publish_demo(app))
        else:
            task = asyncio.create_task(warm(app))
        yield
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping anyway
                pass
        app[PLAN_VARIANTS].executor.shutdown(wait=True, cancel_futures=True)

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
