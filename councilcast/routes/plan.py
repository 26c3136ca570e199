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

import asyncio
import csv
import hashlib
import io
import json
import logging
import math
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from aiohttp import web

from councilcast.appkeys import AUTH, DB
from councilcast.errors import ApiError, read_json
from councilcast.pages import render

__all__ = ["setup", "OPENAPI", "ECONOMY", "PLAN"]

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_ECONOMY_BYTES = 16 << 20


class PlanArea:
    """Per-app state: the current economy, its hash, and the process pool for solves."""

    def __init__(self):
        self._pool: ProcessPoolExecutor | None = None
        self.threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="plan-solve")
        self.economy = None  # None = the bundled demo economy
        self.economy_dict: dict | None = None
        self.source = "demo"

    @property
    def pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn"))
        return self._pool

    async def run(self, fn, *args):
        try:
            return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
        except Exception as exc:  # noqa: BLE001 - errors from the worker, re-raised as ApiError
            from concurrent.futures.process import BrokenProcessPool

            if isinstance(exc, BrokenProcessPool):
                self._pool = None
                raise ApiError(503, None, "the solver process stopped; try again") from None
            raise

    def spec(self):
        """What to send to a worker: 'demo' or the economy in the JSON format."""
        return self.economy_dict if self.economy_dict is not None else "demo"

    def current(self):
        if self.economy is None:
            from planfactory.demo import demo_economy

            self.economy = demo_economy()
            self.source = "demo"
        return self.economy

    def close(self):
        self.threads.shutdown(wait=False, cancel_futures=True)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


PLAN = web.AppKey("plan", PlanArea)
ECONOMY = web.AppKey("plan_economy", object)
"""A callable returning the current :class:`planfactory.economy.Economy` (read by other plan areas)."""


# --------------------------------------------------------------------------- worker functions (top level: picklable)
def _load(spec):
    from planfactory.demo import demo_economy
    from planfactory.formats import load

    return demo_economy() if spec == "demo" else load(spec)


def _errors(fn):
    def wrapped(*args):
        from planfactory.economy import EconomyError
        from planfactory.leontief import SolverError

        try:
            return {"ok": fn(*args)}
        except EconomyError as exc:
            return {"error": [exc.field, exc.reason]}
        except (SolverError, ValueError) as exc:
            return {"error": [None, str(exc)]}
    wrapped.__name__ = fn.__name__
    return wrapped


def job_solve(spec, demand, method):
    return _errors(_job_solve)(spec, demand, method)


API_LIMITS = {"dense": 10_000, "splu": 20_000}
"""Largest n the API accepts for an explicitly requested direct method (dense LU needs 8 n^2
bytes; SuperLU's fill-in can make large factorizations run for hours in a shared pool)."""


def _job_solve(spec, demand, method):
    from councilcast.cli_plan_solve import read_demand, solve_payload

    economy = _load(spec)
    if method in API_LIMITS and economy.n > API_LIMITS[method]:
        from planfactory.economy import EconomyError

        raise EconomyError("method", f"method {method} is limited to {API_LIMITS[method]} sectors over HTTP; "
                         f"this economy has {economy.n}: use auto or iterative")
    return solve_payload(economy, read_demand(demand, economy), method)


def job_decide(spec, decision: dict, growth: dict | None):
    return _errors(_job_decide)(spec, decision, growth)


def _job_decide(spec, decision: dict, growth: dict | None):
    from planfactory.decision import DecisionBasis, FundamentalDecision, decide
    from planfactory.enterprises import EnterpriseArrays, targets

    economy = _load(spec)
    d = FundamentalDecision(**decision)
    basis = DecisionBasis.build(economy)
    out = decide(economy, d, basis).to_dict()
    if economy.current_output is not None:
        out["current_output"] = economy.current_output.tolist()
    if economy.capacity is not None:
        out["capacity"] = economy.capacity.tolist()
    if economy.enterprises:
        sweep = basis.evaluate(d)
        t = targets(economy, sweep.gross_output[:, 0], new_capacity=sweep.new_capacity[:, 0], v=basis.v)
        arr = EnterpriseArrays.from_economy(economy)
        hpp = t.hours_per_person_week
        out["enterprises"] = {"count": len(arr), "hours_per_person_week": {
            "min": float(hpp[arr.workforce > 0].min()), "max": float(hpp[arr.workforce > 0].max())}}
    if growth is not None:
        g = _job_growth_inner(economy, decision, growth, basis)
        wanted = out["consumption_hours"] + out["public_hours"]
        g["decision_consumption_hours"] = wanted
        g["year0_shortfall"] = max(0.0, 1.0 - g["consumption_hours"][0] / wanted) if wanted > 0 else 0.0
        out["growth"] = g
    return out


def job_growth(spec, decision: dict, growth: dict):
    return _errors(_job_growth)(spec, decision, growth)


def _job_growth(spec, decision: dict, growth: dict):
    return _job_growth_inner(_load(spec), decision, growth, None)


def _job_growth_inner(economy, decision: dict, growth: dict, basis):
    from planfactory.decision import FundamentalDecision
    from planfactory.growth import GrowthAssumptions, investment_for_growth, path_for_investment_share

    g = dict(growth)
    target = g.pop("target_growth", None)
    sectors = bool(g.pop("sectors", False))
    a = GrowthAssumptions(**g)
    d = FundamentalDecision(**decision)
    if target is not None:
        return investment_for_growth(economy, d, float(target), a, basis).to_dict(sectors=sectors)
    return path_for_investment_share(economy, d, a, basis).to_dict(sectors=sectors)


def job_info(spec):
    return _errors(_job_info)(spec)


def _job_info(spec):
    from councilcast.cli_plan_solve import info_payload

    return info_payload(_load(spec))


# --------------------------------------------------------------------------- helpers
def _unwrap(result: dict):
    if "error" in result:
        field, reason = result["error"]
        raise ApiError(400, field, reason)
    out = result["ok"]
    where = _non_finite(out)
    if where is not None:  # JSON has no NaN or Infinity: say so rather than send invalid JSON
        raise ApiError(422, None, f"the answer overflows a 64-bit float at {where}: the inputs are too large")
    return out


def _non_finite(value, path: str = "") -> str | None:
    """The path of the first NaN or infinite number in a JSON-able value, or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else (path or "(top)")
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for k, v in items:
        found = _non_finite(v, f"{path}.{k}" if path and not isinstance(k, int) else
                            (f"{path}[{k}]" if isinstance(k, int) else str(k)))
        if found is not None:
            return found
    return None


def _number(body: dict, key: str, default=None) -> float:
    v = body.get(key, default)
    if v is None:
        raise ApiError(400, key, "is required")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ApiError(400, key, "must be a number")
    return float(v)


def _decision(body: dict) -> dict:
    d = {"hours_per_week": _number(body, "hours_per_week", 40.0),
         "consumption_share": _number(body, "consumption_share", 0.62),
         "public_share": _number(body, "public_share", 0.18),
         "investment_share": _number(body, "investment_share", 0.20)}
    from planfactory.decision import FundamentalDecision

    try:
        FundamentalDecision(**d)
    except ValueError as exc:
        raise ApiError(400, "decision", str(exc)) from None
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
    from planfactory.growth import GrowthAssumptions

    try:
        GrowthAssumptions(**{k: v for k, v in out.items() if k not in ("target_growth", "sectors")})
    except ValueError as exc:
        raise ApiError(400, "growth", str(exc)) from None
    if "target_growth" in out and not -0.5 < out["target_growth"] < 1:
        raise ApiError(400, "growth.target_growth", "must be in (-0.5, 1)")
    return out


def _spec_from_body(request: web.Request, body: dict):
    econ = body.get("economy")
    if econ is None or econ == "current":
        return request.app[PLAN].spec()
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
    plan = request.app[PLAN]
    info = _unwrap(await plan.run(job_info, plan.spec()))
    info["source"] = plan.source if plan.economy_dict is not None else "demo"
    info["links"] = {"json": "/api/plan/economy.json", "csv": "/api/plan/economy.csv", "page": "/plan"}
    return web.json_response(info)


def _economy_json(plan: PlanArea) -> bytes:
    from planfactory.formats import to_dict

    d = plan.economy_dict if plan.economy_dict is not None else to_dict(plan.current())
    return json.dumps(d, separators=(",", ":")).encode()


@routes.get("/api/plan/economy.json")
async def get_economy_json(request: web.Request) -> web.Response:
    data = _economy_json(request.app[PLAN])
    h = _hash(data)
    return web.Response(body=data, content_type="application/json",
                        headers={"ETag": f'"{h}"', "X-Content-SHA256": h,
                                 "Content-Disposition": 'inline; filename="economy.json"'})


@routes.get("/api/plan/economy.csv")
async def get_economy_csv(request: web.Request) -> web.Response:
    e = request.app[PLAN].current()
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = [("labour", e.labour), ("capacity", e.capacity), ("current_output", e.current_output),
            ("stocks", e.stocks), ("consumption", e.consumption_basket), ("public", e.public_basket)]
    cols = [(k, v) for k, v in cols if v is not None]
    w.writerow(["name"] + [k for k, _ in cols])
    for j, s in enumerate(e.sectors):
        w.writerow([s] + [repr(float(v[j])) for _, v in cols])
    data = buf.getvalue().encode()
    h = _hash(data)
    return web.Response(body=data, content_type="text/csv", charset="utf-8",
                        headers={"ETag": f'"{h}"', "X-Content-SHA256": h,
                                 "Content-Disposition": 'attachment; filename="sectors.csv"'})


@routes.put("/api/plan/economy")
async def put_economy(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    body = await _read_body(request)
    from planfactory.economy import EconomyError
    from planfactory.formats import load, to_dict

    try:
        econ = await asyncio.get_running_loop().run_in_executor(None, load, body)
    except EconomyError as exc:
        raise ApiError(400, exc.field, exc.reason) from None
    d = to_dict(econ)
    text = json.dumps(d, separators=(",", ":"))
    h = _hash(text.encode())
    await request.app[DB].write(lambda c: c.execute(
        "INSERT INTO plan_economies (sha256, name, sectors, doc) VALUES (?, ?, ?, ?)", (h, econ.name, econ.n, text)))
    plan = request.app[PLAN]
    plan.economy, plan.economy_dict, plan.source = econ, d, f"sha256:{h}"
    return web.json_response({"sha256": h, "name": econ.name, "sectors": econ.n}, status=200)


@routes.delete("/api/plan/economy")
async def delete_economy(request: web.Request) -> web.Response:
    await request.app[AUTH].require(request, "secretariat")
    await request.app[DB].write(lambda c: c.execute("INSERT INTO plan_economies (sha256, name, sectors, doc) "
                                                    "VALUES ('demo', 'demo', 0, NULL)"))
    plan = request.app[PLAN]
    plan.economy, plan.economy_dict, plan.source = None, None, "demo"
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
    plan = request.app[PLAN]
    if body.get("progress"):
        return await _solve_streaming(request, spec, body["final_demand"], method)
    return web.json_response(_unwrap(await plan.run(job_solve, spec, body["final_demand"], method)))


async def _solve_streaming(request: web.Request, spec, demand, method) -> web.StreamResponse:
    """NDJSON: ``{"progress": {"step", "residual"}}`` lines while iterating, then ``{"result": ...}``.

    Runs on the area's solver thread (NumPy and SciPy release the GIL in the heavy work, so
    the event loop keeps answering); progress crosses to the loop with call_soon_threadsafe.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    last = [0.0]

    def progress(step, residual):
        now = loop.time()
        if now - last[0] >= 0.2:  # at most five lines a second
            last[0] = now
            loop.call_soon_threadsafe(queue.put_nowait, {"progress": {"step": step, "residual": residual}})

    def work():
        from councilcast.cli_plan_solve import read_demand, solve_payload

        def inner():
            economy = _load(spec)
            return solve_payload(economy, read_demand(demand, economy), method, progress)
        return _errors(inner)()

    future = loop.run_in_executor(request.app[PLAN].threads, work)
    future.add_done_callback(lambda f: queue.put_nowait(None))
    resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await resp.prepare(request)
    while True:
        item = await queue.get()
        if item is None:
            break
        await resp.write(json.dumps(item).encode() + b"\n")
    result = future.result()
    if "error" in result:
        line = {"error": {"field": result["error"][0], "reason": result["error"][1]}}
    else:
        line = {"result": result["ok"]}
    await resp.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    await resp.write_eof()
    return resp


@routes.post("/api/plan/decide")
async def post_decide(request: web.Request) -> web.Response:
    body = await _read_body(request)
    d = _decision(body)
    g = _growth(body.get("growth"))
    plan = request.app[PLAN]
    return web.json_response(_unwrap(await plan.run(job_decide, _spec_from_body(request, body), d, g)))


@routes.post("/api/plan/growth")
async def post_growth(request: web.Request) -> web.Response:
    body = await _read_body(request)
    d = _decision(body)
    g = _growth({k: v for k, v in body.items() if k in GROWTH_KEYS}) or {}
    plan = request.app[PLAN]
    return web.json_response(_unwrap(await plan.run(job_growth, _spec_from_body(request, body), d, g)))


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
    plan = request.app[PLAN]
    errors = []
    hours, e1 = _query_float(request, "hours", 40.0, 0, 168)
    cons, e2 = _query_float(request, "consumption", 62, 0, 100)
    pub, e3 = _query_float(request, "public", 18, 0, 100)
    years, e4 = _query_float(request, "years", 10, 2, 30)
    errors += [e for e in (e1, e2, e3, e4) if e]
    inv = round(100 - cons - pub, 6)
    if inv < 0:
        errors.append("consumption + public must not exceed 100%")
        cons, pub, inv = 62.0, 18.0, 20.0
    decision = {"hours_per_week": hours, "consumption_share": cons / 100, "public_share": pub / 100,
                "investment_share": inv / 100}
    economy = plan.current()
    result = await plan.run(job_decide, plan.spec(), decision, {"years": int(years)})
    out, problem = (result.get("ok"), None) if "ok" in result else (None, result["error"])
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
                "security": [{"bearer": []}], "responses": {"200": {"description": "sha256, name, sectors"},
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
        "responses": {"200": {"description": "gross_output, labour_hours, labour_values, residual, feasible"},
                      "400": {"description": "field and reason"}}}},
    "/api/plan/decide": {"post": {
        "summary": "What a fundamental decision implies: final demand, outputs, hours, consumption, feasibility",
        "requestBody": {"content": {"application/json": {"example": {
            "hours_per_week": 38, "consumption_share": 0.6, "public_share": 0.2, "investment_share": 0.2,
            "growth": {"years": 10}}}}},
        "responses": {"200": {"description": "implications"}, "400": {"description": "field and reason"}}}},
    "/api/plan/growth": {"post": {
        "summary": "Multi-year path (linear programme): growth for an investment share, or investment for target_growth",
        "responses": {"200": {"description": "path"}, "400": {"description": "field and reason"}}}},
}


async def _lifecycle(app: web.Application):
    plan = app[PLAN]

    def latest(conn):
        return conn.execute("SELECT sha256, doc FROM plan_economies ORDER BY id DESC LIMIT 1").fetchone()

    row = await app[DB].read(latest)
    if row is not None and row[1] is not None:
        from planfactory.formats import load

        try:
            d = json.loads(row[1])
            plan.economy, plan.economy_dict, plan.source = load(d), d, f"sha256:{row[0]}"
        except Exception:  # noqa: BLE001 - a stored economy that no longer loads: fall back to the demo
            log.exception("stored economy %s does not load; using the demo economy", row[0])
    yield
    plan.close()


def setup(app: web.Application) -> None:
    app[PLAN] = PlanArea()
    app[ECONOMY] = app[PLAN].current
    app.add_routes(routes)
    app.cleanup_ctx.append(_lifecycle)
