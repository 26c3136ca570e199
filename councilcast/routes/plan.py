"""Routes of the plan factory's central workshop (docs/planfactory.md, "Interfaces").

- ``GET /api/plan/economy``: summary of the current economy (the bundled demo unless the
  secretariat has set another); ``GET /api/plan/economy.json`` the whole economy in the
  JSON format and ``GET /api/plan/economy.csv`` its sector table, each with an
  ``ETag``/``X-Content-SHA256`` content hash.
- ``PUT /api/plan/economy`` (secretariat): replace the current economy (JSON format, validated;
  kept in SQLite so it survives a restart). ``DELETE`` goes back to the demo.
- ``POST /api/plan/solve``: ``{"final_demand": [...] | {...} | [[...], ...], "economy"?: {...},
  "method"?: "auto"}`` -> gross_output, labour_hours, labour_values, residual, feasible, feasibility.
  With ``"progress": true`` the answer is NDJSON: progress lines, then ``{"result": ...}``.
- ``POST /api/plan/decide``: a fundamental decision -> its implications (and, with
  ``"growth": {"years": 10, ...}``, the multi-year path).
- ``POST /api/plan/growth``: path for the decision's investment share, or with
  ``target_growth`` the investment a growth rate needs.
- ``GET /plan``: the economy and what a fundamental decision implies (form, no JavaScript needed).

Every computation runs in a process pool (spawned lazily on first use), so the event
loop never waits on the solver.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging

from aiohttp import web

from councilcast import csvsafe
from councilcast.appkeys import AUTH, DB, PLAN
from councilcast.errors import ApiError, read_json
from councilcast.pages import render
from councilcast.services.plan import PlanService
from councilcast.services.plan_jobs import job_decide, job_growth, job_info, job_solve
from planfactory.decision import FundamentalDecision
from planfactory.errors import PlanError, SolverError
from planfactory.growth import GrowthAssumptions

__all__ = ["setup", "OPENAPI"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_ECONOMY_BYTES = 16 << 20


def _plan(request: web.Request) -> PlanService:
    return request.app[PLAN]


def _number(body: dict, key: str, default=None) -> float:
    v = body.get(key, default)
    if v is None:
        raise ApiError(400, key, "is required")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ApiError(400, key, "must be a number")
    return float(v)


def _decision(body: dict) -> dict:
    d = {"hours_per_week": _number(body, "hours_per_week", 40.0),
         "consumption_share": _number(body, "consumption_share", 0.74),
         "public_share": _number(body, "public_share", 0.21),
         "investment_share": _number(body, "investment_share", 0.05)}  # the demo's today (planfactory.demo.TODAY)
    FundamentalDecision(**d)  # PlanError naming "decision" when the shares do not add up
    return d


GROWTH_KEYS = {"years": int, "depreciation": float, "labour_productivity_growth": float, "workforce_growth": float,
               "target_growth": float, "sectors": bool}


def _growth(raw) -> dict:
    if raw is None:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        raise ApiError(400, "growth", "must be an object")
    out = {}
    for k, v in raw.items():
        if k not in GROWTH_KEYS:
            raise ApiError(400, f"growth.{k}", f"unknown; known: {', '.join(sorted(GROWTH_KEYS))}")
        if GROWTH_KEYS[k] is bool:
            out[k] = bool(v)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ApiError(400, f"growth.{k}", "must be a number")
        else:
            out[k] = GROWTH_KEYS[k](v)
    GrowthAssumptions(**{k: v for k, v in out.items() if k not in ("target_growth", "sectors")})
    if "target_growth" in out and not -0.5 < out["target_growth"] < 1:
        raise ApiError(400, "growth.target_growth", "must be in (-0.5, 1)")
    return out


def _spec_from_body(request: web.Request, body: dict):
    econ = body.get("economy")
    if econ is None or econ == "current":
        return _plan(request).spec()
    if econ == "demo":
        return "demo"
    if not isinstance(econ, dict):
        raise ApiError(400, "economy", "must be an economy object (docs/planfactory.md), 'demo' or 'current'")
    return econ


async def _read_body(request: web.Request, max_bytes: int = MAX_ECONOMY_BYTES) -> dict:
    """The JSON object body, read to the end (economies can be megabytes), or a 4xx ApiError."""
    return await read_json(request, max_bytes=max_bytes)


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- API
@routes.get("/api/plan/economy")
async def get_economy(request: web.Request) -> web.Response:
    plan = _plan(request)
    info = await plan.run(job_info, plan.spec())
    info["source"] = plan.source if plan.economy_dict is not None else "demo"
    info["links"] = {"json": "/api/plan/economy.json", "csv": "/api/plan/economy.csv", "page": "/plan"}
    return web.json_response(info)


@routes.get("/api/plan/economy.json")
async def get_economy_json(request: web.Request) -> web.Response:
    data = _plan(request).economy_json()
    h = _hash(data)
    return web.Response(body=data, content_type="application/json",
                        headers={"ETag": f'"{h}"', "X-Content-SHA256": h,
                                 "Content-Disposition": 'inline; filename="economy.json"'})


@routes.get("/api/plan/economy.csv")
async def get_economy_csv(request: web.Request) -> web.Response:
    e = _plan(request).current()
    buf = io.StringIO()
    w = csvsafe.writer(buf)  # sector names are text cells; the numbers stay numbers (councilcast/csvsafe.py)
    cols = [("labour", e.labour), ("capacity", e.capacity), ("current_output", e.current_output),
            ("stocks", e.stocks), ("consumption", e.consumption_basket), ("public", e.public_basket)]
    cols = [(k, v) for k, v in cols if v is not None]
    w.writerow(["name"] + [k for k, _ in cols])
    for j, s in enumerate(e.sectors):
        w.writerow([s] + [float(v[j]) for _, v in cols])  # written as repr(float), as before
    data = buf.getvalue().encode()
    h = _hash(data)
    return web.Response(body=data, content_type="text/csv", charset="utf-8",
                        headers={"ETag": f'"{h}"', "X-Content-SHA256": h,
                                 "Content-Disposition": 'attachment; filename="sectors.csv"'})


@routes.put("/api/plan/economy")
async def put_economy(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    body = await _read_body(request)
    return web.json_response(await _plan(request).set_economy(body), status=200)


@routes.delete("/api/plan/economy")
async def delete_economy(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    await _plan(request).reset_economy()
    return web.json_response({"economy": "demo"})


@routes.post("/api/plan/solve")
async def post_solve(request: web.Request) -> web.Response:
    body = await _read_body(request)
    if "final_demand" not in body:
        raise ApiError(400, "final_demand", "is required: a list in sector order, an object by sector name, or a list of those")
    method = body.get("method", "auto")
    if method not in ("auto", "dense", "splu", "iterative"):
        raise ApiError(400, "method", "must be one of auto, dense, splu, iterative")
    spec = _spec_from_body(request, body)
    if body.get("progress"):
        return await _solve_streaming(request, spec, body["final_demand"], method)
    return web.json_response(await _plan(request).run(job_solve, spec, body["final_demand"], method))


async def _solve_streaming(request: web.Request, spec, demand, method) -> web.StreamResponse:
    """NDJSON: ``{"progress": {"step", "residual"}}`` lines while iterating, then ``{"result": ...}``
    (or, the 200 being out, ``{"error": {"field", "reason"}}`` as the last line)."""
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    async for line in _plan(request).solve_stream(spec, demand, method):
        await resp.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    await resp.write_eof()
    return resp


@routes.post("/api/plan/decide")
async def post_decide(request: web.Request) -> web.Response:
    body = await _read_body(request)
    d = _decision(body)
    g = _growth(body.get("growth"))
    return web.json_response(await _plan(request).run(job_decide, _spec_from_body(request, body), d, g))


@routes.post("/api/plan/growth")
async def post_growth(request: web.Request) -> web.Response:
    body = await _read_body(request)
    d = _decision(body)
    g = _growth({k: v for k, v in body.items() if k in GROWTH_KEYS}) or {}
    return web.json_response(await _plan(request).run(job_growth, _spec_from_body(request, body), d, g))


# --------------------------------------------------------------------------- page
def _query_float(request: web.Request, key: str, default: float, lo: float, hi: float) -> tuple[float, str | None]:
    raw = request.query.get(key)
    if raw in (None, ""):
        return default, None
    try:
        v = float(raw)
    except ValueError:
        return default, f"{key}: not a number"
    if not lo <= v <= hi:
        return default, f"{key}: must be between {lo} and {hi}"
    return v, None


@routes.get("/plan")
async def plan_page(request: web.Request) -> web.Response:
    plan = _plan(request)
    errors = []
    hours, e1 = _query_float(request, "hours", 40.0, 0, 168)
    cons, e2 = _query_float(request, "consumption", 74, 0, 100)  # the demo's today: 74/21/5 of the net product
    pub, e3 = _query_float(request, "public", 21, 0, 100)
    years, e4 = _query_float(request, "years", 10, 2, 30)
    errors += [e for e in (e1, e2, e3, e4) if e]
    inv = round(100 - cons - pub, 6)
    if inv < 0:
        errors.append("consumption + public must not exceed 100%")
        cons, pub, inv = 74.0, 21.0, 5.0
    decision = {"hours_per_week": hours, "consumption_share": cons / 100, "public_share": pub / 100,
                "investment_share": inv / 100}
    economy = plan.current()
    try:
        out, problem = await plan.run(job_decide, plan.spec(), decision, {"years": int(years)}), None
    except (PlanError, SolverError) as exc:  # the page shows what is wrong beside the form
        out, problem = None, [exc.field, exc.reason]
    rows = []
    if out:
        x = out["gross_output"]
        today = out.get("current_output")
        cap = out.get("capacity")
        for j, s in enumerate(economy.sectors):
            rows.append({"sector": s, "output": x[j], "today": today[j] if today else None,
                         "change_pct": (100 * (x[j] / today[j] - 1)) if today and today[j] else None,
                         "utilisation": (100 * x[j] / cap[j]) if cap and cap[j] else None,
                         "value": out["labour_values"][j]})
    return render(request, "plan/economy.html", {
        "economy": economy, "source": plan.source, "decision": decision, "hours": hours, "cons": cons, "pub": pub,
        "inv": inv, "years": int(years), "out": out, "rows": rows, "errors": errors, "problem": problem,
    })


OPENAPI = {
    "/api/plan/economy": {
        "get": {"summary": "Summary of the current economy (sectors, spectral radius, labour values, links)",
                "responses": {"200": {"description": "summary"}}},
        "put": {"summary": "Replace the current economy (JSON format; validated; kept in SQLite)",
                "security": [{"bearer": []}], "responses": {"200": {"description": "sha256, name, sectors, warnings"},
                                                           "400": {"description": "invalid economy: field and reason"}}},
        "delete": {"summary": "Go back to the bundled demo economy", "security": [{"bearer": []}],
                   "responses": {"200": {"description": "ok"}}},
    },
    "/api/plan/economy.json": {"get": {"summary": "The current economy in the JSON format, with its SHA-256",
                                       "responses": {"200": {"description": "economy JSON"}}}},
    "/api/plan/economy.csv": {"get": {"summary": "The sector table as CSV, with its SHA-256",
                                      "responses": {"200": {"description": "CSV"}}}},
    "/api/plan/solve": {"post": {
        "summary": "Gross output, labour hours, labour values, residual and feasibility for final demands",
        "requestBody": {"content": {"application/json": {"example": {"final_demand": {"Energy": 100, "Food processing": 50}}}}},
        "responses": {"200": {"description": "gross_output, labour_hours, labour_values, residual (backward error), "
                                             "condition, error_bound, feasible, warnings"},
                      "400": {"description": "field and reason"},
                      "422": {"description": "answer refused (not finite, not accurate): field and reason name the cause"}}}},
    "/api/plan/decide": {"post": {
        "summary": "What a fundamental decision implies: final demand, outputs, hours, consumption, feasibility",
        "requestBody": {"content": {"application/json": {"example": {
            "hours_per_week": 38, "consumption_share": 0.73, "public_share": 0.21, "investment_share": 0.06,
            "growth": {"years": 10}}}}},
        "responses": {"200": {"description": "implications"}, "400": {"description": "field and reason"},
                      "422": {"description": "answer refused (not finite, not accurate): field and reason"}}}},
    "/api/plan/growth": {"post": {
        "summary": "Multi-year path (linear programme): growth for an investment share, or investment for target_growth",
        "responses": {"200": {"description": "path"}, "400": {"description": "field and reason"}}}},
}


async def _lifecycle(app: web.Application):
    plan = PlanService(app[DB])
    app[PLAN] = plan
    await plan.start()
    yield
    plan.close()


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    app.cleanup_ctx.append(_lifecycle)
