"""The plan factory over HTTP and from the CLI: real server on loopback, real SQLite, real subprocesses."""

import asyncio
import json
import subprocess
import sys
import time

import dataclasses

import numpy as np
import pytest
from aiohttp import web

from councilcast.app import create_app
from councilcast.appkeys import DB
from councilcast.appkeys import PLAN

from planfactory.demo import demo_economy
from planfactory.formats import to_dict

MB = {"sectors": ["agriculture", "manufacturing"], "technical_coefficients": [[0.15, 0.25], [0.2, 0.05]],
      "labour": [0.3, 0.6], "capacity": [1300, 1900]}


async def test_solve_small_economy_over_http(server):
    # Miller & Blair (2009) section 2.3: f = [600, 1500] -> x = [1247.52, 1841.58]
    r = await server.session.post(server.api("/api/plan/solve"),
                                  json={"economy": MB, "final_demand": {"agriculture": 600, "manufacturing": 1500}})
    assert r.status == 200, await r.text()
    d = await r.json()
    assert [round(v, 2) for v in d["gross_output"]] == [1247.52, 1841.58]
    assert d["labour_hours"] == pytest.approx(0.3 * 1247.5248 + 0.6 * 1841.5842, rel=1e-6)
    assert d["residual"] < 1e-12 and d["feasible"] is True
    assert len(d["labour_values"]) == 2
    # many demands at once; the second one exceeds manufacturing's capacity
    r = await server.session.post(server.api("/api/plan/solve"),
                                  json={"economy": MB, "final_demand": [[600, 1500], [600, 1700]]})
    d = await r.json()
    assert d["feasible"] == [True, False]
    assert d["feasibility"][1]["binding_sectors"][0]["sector"] == "manufacturing"


@pytest.mark.parametrize("body,field,words", [
    ({"economy": MB}, "final_demand", "required"),
    ({"economy": MB, "final_demand": [1, 2, 3]}, "final_demand", "length 3"),
    ({"economy": MB, "final_demand": {"steel": 1}}, "final_demand", "steel"),
    ({"economy": {**MB, "technical_coefficients": [[0.6, 0.6], [0.6, 0.6]]}, "final_demand": [1, 1]},
     "technical_coefficients", "not productive"),
    ({"economy": {**MB, "labour": [1, -1]}, "final_demand": [1, 1]}, "labour", "negative"),
    ({"economy": 7, "final_demand": [1, 1]}, "economy", "must be"),
    ({"economy": MB, "final_demand": [1, 1], "method": "magic"}, "method", "must be"),
])
async def test_bad_input_names_the_field(server, body, field, words):
    r = await server.session.post(server.api("/api/plan/solve"), json=body)
    assert r.status == 400
    err = (await r.json())["error"]
    assert err["field"] == field and words in err["reason"]


async def test_decide_and_growth_on_the_demo(server):
    r = await server.session.post(server.api("/api/plan/decide"), json={
        "hours_per_week": 40, "consumption_share": 0.74, "public_share": 0.21, "investment_share": 0.05,
        "growth": {"years": 4}})
    assert r.status == 200, await r.text()
    d = await r.json()
    e = demo_economy()
    assert d["hours_available"] == e.workforce * 40 * 46
    assert d["private_hours_per_worker"] == pytest.approx(0.74 * 40 * 46)
    # the replacement of worn equipment (5% of B x, at values with the wear) beside the net investment
    x = np.array(d["gross_output"])
    v = np.linalg.solve((np.eye(e.n) - e.A - 0.05 * e.B).T, e.labour)
    assert d["replacement_hours"] == pytest.approx(0.05 * v @ (e.B @ x), rel=1e-9)
    assert d["gross_investment_hours"] == pytest.approx(d["investment_hours"] + d["replacement_hours"], rel=1e-12)
    assert np.allclose(d["gross_output"], e.current_output, atol=0.06)
    assert d["feasible"] is True and len(d["growth"]["years"]) == 4
    r = await server.session.post(server.api("/api/plan/decide"), json={"hours_per_week": 40, "consumption_share": 0.7,
                                                                        "public_share": 0.2, "investment_share": 0.2})
    assert r.status == 400 and (await r.json())["error"]["field"] == "decision"
    r = await server.session.post(server.api("/api/plan/growth"), json={"target_growth": 0.02, "years": 5})
    d = await r.json()
    assert r.status == 200 and np.allclose(d["growth"], 0.02, atol=1e-6)


async def test_economy_download_put_and_persist(server):
    r = await server.session.get(server.api("/api/plan/economy"))
    info = await r.json()
    assert info["sectors"] == 30 and info["productive"] and info["source"] == "demo"
    r = await server.session.get(server.api("/api/plan/economy.json"))
    body = await r.read()
    import hashlib

    assert r.headers["X-Content-SHA256"] == hashlib.sha256(body).hexdigest()
    assert json.loads(body)["sectors"] == demo_economy().sectors
    r = await server.session.get(server.api("/api/plan/economy.csv"))
    assert (await r.text()).splitlines()[1].startswith("Energy,")
    # only the secretariat may replace it
    r = await server.session.put(server.api("/api/plan/economy"), json=MB)
    assert r.status == 401
    r = await server.session.put(server.api("/api/plan/economy"), json={**MB, "labour": [1]}, headers=server.secretariat)
    assert r.status == 400 and (await r.json())["error"]["field"] == "labour"
    r = await server.session.put(server.api("/api/plan/economy"), json=MB, headers=server.secretariat)
    assert r.status == 200
    r = await server.session.post(server.api("/api/plan/solve"), json={"final_demand": [600, 1500]})
    assert [round(v, 2) for v in (await r.json())["gross_output"]] == [1247.52, 1841.58]
    rows = await server.app[DB].read(lambda c: [tuple(r) for r in c.execute("SELECT name, sectors FROM plan_economies")])
    assert rows == [("economy", 2)]
    # a second app on the same database file (a restart) starts with the stored economy
    app2 = create_app(dataclasses.replace(server.config, port=0))
    runner = web.AppRunner(app2)
    await runner.setup()
    try:
        assert app2[PLAN].current().sectors == MB["sectors"]
    finally:
        await runner.cleanup()
    r = await server.session.delete(server.api("/api/plan/economy"), headers=server.secretariat)
    assert r.status == 200
    r = await server.session.get(server.api("/api/plan/economy"))
    assert (await r.json())["sectors"] == 30


async def test_plan_page_without_javascript(server):
    r = await server.session.get(server.api("/plan?hours=48&consumption=62&public=18&years=3"))
    assert r.status == 200
    html = await r.text()
    assert "The fundamental decision" in html and "Energy" in html
    assert "over capacity" in html  # 48 hours needs more capacity than the demo has
    assert "data-shortfall" in html  # and the path says it starts lower
    r = await server.session.get(server.api("/plan?consumption=90&public=30"))
    assert "must not exceed 100%" in await r.text()
    r = await server.session.get(server.api("/"))
    assert 'href="/plan"' in await r.text()


async def test_event_loop_keeps_answering_during_a_solve(server):
    # a 3000-sector dense solve with 200 demands runs in the process pool; /api/health answers meanwhile
    n = 3000
    rng = np.random.default_rng(0)
    A = (rng.random((n, n)) < 0.01) * rng.random((n, n))
    A *= 0.6 / np.maximum(A.sum(axis=0), 1e-9)
    econ = {"sectors": [f"p{i}" for i in range(n)], "labour": [1.0] * n,
            "technical_coefficients": {"shape": [n, n], "rows": np.nonzero(A)[0].tolist(),
                                       "cols": np.nonzero(A)[1].tolist(), "values": A[np.nonzero(A)].tolist()}}
    # warm the pool first so the timing below is the solve's
    await server.session.post(server.api("/api/plan/solve"), json={"economy": MB, "final_demand": [1, 1]})
    t0 = time.perf_counter()
    task = asyncio.ensure_future(server.session.post(server.api("/api/plan/solve"),
                                                     json={"economy": econ, "final_demand": [[1.0] * n] * 50}))
    worst = 0.0
    while not task.done():
        t = time.perf_counter()
        r = await server.session.get(server.api("/api/health"))
        assert r.status == 200
        worst = max(worst, time.perf_counter() - t)
        await asyncio.sleep(0.02)
    r = await task
    took = time.perf_counter() - t0
    assert r.status == 200, await r.text()
    assert (await r.json())["residual"] < 1e-9
    # a blocked loop would hold a health check for the whole solve
    assert worst < 1.0 and worst < took / 2, (worst, took)


def _cli(*args, input_file=None):
    return subprocess.run([sys.executable, "-m", "councilcast", "plan", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_solve_info_decide_and_errors(tmp_path):
    econ = tmp_path / "mb.json"
    econ.write_text(json.dumps(MB))
    fd = tmp_path / "f.json"
    fd.write_text(json.dumps({"agriculture": 600, "manufacturing": 1500}))
    p = _cli("solve", str(econ), "--final-demand", str(fd), "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert [round(v, 2) for v in d["gross_output"]] == [1247.52, 1841.58]
    assert set(d) >= {"gross_output", "labour_hours", "labour_values", "residual", "feasible"}
    fd.write_text(json.dumps([1000] * 30))
    p = _cli("solve", "demo", "--final-demand", str(fd), "--json")
    assert p.returncode == 0 and len(json.loads(p.stdout)["gross_output"]) == 30
    p = _cli("info", "demo", "--json")
    assert json.loads(p.stdout)["enterprises"] == 200
    p = _cli("decide", "demo", "--hours", "44")
    assert p.returncode == 0 and "over capacity" in p.stdout
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**MB, "technical_coefficients": [[1.2, 0], [0, 0.1]]}))
    p = _cli("solve", str(bad), "--final-demand", str(fd))
    assert p.returncode == 2 and "technical_coefficients: not productive" in p.stderr
    out = tmp_path / "d.json"
    p = _cli("demo", "--out", str(out), "--sectors", "12", "--enterprises", "40", "--seed", "3")
    assert p.returncode == 0 and len(json.loads(out.read_text())["sectors"]) == 12


async def test_solve_streams_progress(server):
    from planfactory.demo import sparse_technology

    n = 4000
    A, labour = sparse_technology(n, 12, seed=9, family=200)
    c = A.tocoo()
    econ = {"sectors": [f"p{i}" for i in range(n)], "labour": labour.tolist(),
            "technical_coefficients": {"shape": [n, n], "rows": c.row.tolist(), "cols": c.col.tolist(),
                                       "values": c.data.tolist()}}
    r = await server.session.post(server.api("/api/plan/solve"),
                                  json={"economy": econ, "final_demand": [[1.0] * n] * 4, "progress": True})
    assert r.status == 200 and r.headers["Content-Type"].startswith("application/x-ndjson")
    lines = [json.loads(x) for x in (await r.text()).splitlines()]
    assert "result" in lines[-1]
    res = lines[-1]["result"]
    assert res["method"] == "iterative" and res["residual"] < 1e-9 and len(res["gross_output"]) == 4
    # independent check of one column: (I - A) x = 1
    x = np.asarray(res["gross_output"][0])
    assert np.max(np.abs(x - A @ x - 1.0)) < 1e-8
    steps = [line["progress"]["step"] for line in lines[:-1]]
    assert steps == sorted(steps)
    bad = await server.session.post(server.api("/api/plan/solve"),
                                    json={"economy": econ, "final_demand": [1.0], "progress": True})
    assert (await bad.text()).splitlines()[-1].startswith('{"error"')


def test_cli_importers(tmp_path):
    from pathlib import Path

    flows = tmp_path / "flows.json"
    flows.write_text(json.dumps({"sectors": ["agriculture", "manufacturing"], "flows": [[150, 500], [200, 100]],
                                 "gross_output": [1000, 2000], "value_added": [650, 1400],
                                 "final_demand": [350, 1700]}))
    out = tmp_path / "mb_econ.json"
    p = _cli("import-flows", str(flows), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text())["technical_coefficients"] == [[0.15, 0.25], [0.2, 0.05]]
    data = Path(__file__).resolve().parents[2].parent / "shared" / "data"
    if not (data / "bea1997-summary-use-after-redefinitions.csv").exists():
        pytest.skip(f"BEA tables not found at {data} (CI has them; a user's clone does not)")
    folder = tmp_path / "bea"
    p = _cli("import-bea", str(data), "--out", str(folder))
    assert p.returncode == 0, p.stderr
    p = _cli("info", str(folder), "--json")
    info = json.loads(p.stdout)
    assert info["sectors"] == 131 and info["spectral_radius"]["upper"] < 0.4905


def test_cli_product_level_folder_with_progress(tmp_path):
    folder = tmp_path / "products"
    p = _cli("demo", "--products", "5000", "--out", str(folder), "--seed", "4")
    assert p.returncode == 0, p.stderr
    fd = tmp_path / "f.json"
    fd.write_text(json.dumps([1.0] * 5000))
    p = _cli("solve", str(folder), "--final-demand", str(fd))
    assert p.returncode == 0, p.stderr
    assert "method iterative" in p.stdout and "(no data on capacity or hours available)" in p.stdout
    assert "step" in p.stderr and "residual" in p.stderr  # progress of the iterative solve
    p = _cli("solve", str(folder), "--final-demand", str(fd), "--json", "--quiet")
    d = json.loads(p.stdout)
    assert p.stderr == "" and d["residual"] < 1e-9 and len(d["gross_output"]) == 5000
    # independent check: (I - A) x = f with the stored matrix
    import scipy.sparse as sp

    A = sp.load_npz(folder / "A.npz")
    x = np.asarray(d["gross_output"])
    assert np.max(np.abs(x - A @ x - 1.0)) < 1e-8


async def test_direct_methods_are_limited_over_http(server):
    n = 10_001
    econ = {"sectors": [f"p{i}" for i in range(n)], "labour": [1.0] * n,
            "technical_coefficients": {"shape": [n, n], "rows": [0], "cols": [1], "values": [0.5]}}
    r = await server.session.post(server.api("/api/plan/solve"),
                                  json={"economy": econ, "final_demand": [1.0] * n, "method": "dense"})
    assert r.status == 400
    err = (await r.json())["error"]
    assert err["field"] == "method" and "10000" in err["reason"]
    r = await server.session.post(server.api("/api/plan/solve"), json={"economy": econ, "final_demand": [1.0] * n})
    d = await r.json()
    assert r.status == 200 and d["method"] == "iterative" and d["gross_output"][0] == pytest.approx(1.5)


def _economy_rows(server) -> int:
    import sqlite3

    c = sqlite3.connect(f"file:{server.config.db}?mode=ro", uri=True)
    try:
        return c.execute("SELECT count(*) FROM plan_economies").fetchone()[0]
    finally:
        c.close()


async def test_unparseable_or_oversized_numbers_are_400_and_store_nothing(server):
    """Bodies nested past the parser's recursion limit, NaN/Infinity literals and integers
    too large for a float used to give 500s."""
    s = server.session
    before = _economy_rows(server)
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    for method, path, raw in [("PUT", "/api/plan/economy", b"[" * 5000 + b"]" * 5000),
                              ("PUT", "/api/plan/economy", deep),
                              ("PUT", "/api/plan/economy", json.dumps(MB).replace("1300", "NaN").encode()),
                              ("POST", "/api/plan/decide", deep),
                              ("POST", "/api/plan/solve", b'{"final_demand": [Infinity, 1]}'),
                              ("POST", "/api/plan/growth", b'{"hours_per_week": -Infinity}')]:
        async with s.request(method, server.api(path), data=raw,
                             headers={**server.secretariat, "Content-Type": "application/json"}) as r:
            assert r.status == 400, (path, raw[:40], await r.text())
            err = (await r.json())["error"]
            assert err["field"] is None and "not valid JSON" in err["reason"]
    for path, body, field in [("/api/plan/decide", {"hours_per_week": 10 ** 400}, "hours_per_week"),
                              ("/api/plan/growth", {"investment_share": -10 ** 309}, "investment_share"),
                              ("/api/plan/decide", {"growth": {"depreciation": 10 ** 309}}, "growth.depreciation"),
                              ("/api/plan/decide", {"growth": {"years": 10 ** 400}}, "growth.years"),
                              ("PUT", {**MB, "labour": [0.3, 10 ** 400]}, "labour[1]"),
                              ("PUT", {**MB, "technical_coefficients": [[0.1, 0.2], [10 ** 309, 0]]},
                               "technical_coefficients[1][0]")]:
        method = "PUT" if path == "PUT" else "POST"
        path = "/api/plan/economy" if path == "PUT" else path
        async with s.request(method, server.api(path), json=body, headers=server.secretariat) as r:
            assert r.status == 400, (path, await r.text())
            err = (await r.json())["error"]
            assert err["field"] == field and "out of range" in err["reason"], err
    async with s.put(server.api("/api/plan/economy"), data=json.dumps(MB).replace("1300", "1e999"),
                     headers={**server.secretariat, "Content-Type": "application/json"}) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "capacity[0]"
    assert _economy_rows(server) == before
    async with s.get(server.api("/api/plan/economy")) as r:
        assert (await r.json())["source"] == "demo"


async def test_one_plan_given_as_a_list_of_demands_matches_the_single_solve(server):
    """[f] (a list holding one demand) was a 500: the shared scalar hours_available was indexed
    per plan. Its answer must equal the answer for f itself."""
    s = server.session
    f = {"agriculture": 600, "manufacturing": 1500}
    from planfactory.economy import WEEKS_PER_YEAR

    econ = {**MB, "workforce": 1, "hours_per_week": 40}
    hours = 40 * WEEKS_PER_YEAR
    async with s.post(server.api("/api/plan/solve"), json={"economy": econ, "final_demand": f}) as r:
        assert r.status == 200, await r.text()
        one = await r.json()
    async with s.post(server.api("/api/plan/solve"), json={"economy": econ, "final_demand": [f]}) as r:
        assert r.status == 200, await r.text()
        many = await r.json()
    assert many["gross_output"][0] == pytest.approx(one["gross_output"])
    assert many["feasibility"][0]["hours_available"] == one["feasibility"]["hours_available"] == hours
    # labour 0.3 * 1247.52 + 0.6 * 1841.58 = 1479.2 hours against one person's year
    ratio = (0.3 * 1247.5248 + 0.6 * 1841.5842) / hours
    assert many["feasibility"][0]["labour_ratio"] == pytest.approx(ratio, rel=1e-6)
    assert many["feasible"] == [ratio <= 1] and one["feasible"] is (ratio <= 1)


async def test_final_demand_too_large_for_a_float_is_400(server):
    """An integer past float range in final_demand made float() raise OverflowError in the worker (500)."""
    for demand, field in (([10 ** 400, 1], "final_demand[0]"), ({"agriculture": -10 ** 309}, "final_demand.agriculture"),
                          ([[1, 1], [10 ** 400, 1]], "final_demand[1][0]")):
        async with server.session.post(server.api("/api/plan/solve"), json={"economy": MB, "final_demand": demand}) as r:
            assert r.status == 400, await r.text()
            err = (await r.json())["error"]
            assert err["field"] == field and "out of range" in err["reason"], err
    # the largest double still parses and solves
    async with server.session.post(server.api("/api/plan/solve"),
                                   json={"economy": MB, "final_demand": [10 ** 300, 1]}) as r:
        assert r.status == 200, await r.text()


async def test_an_answer_past_float_range_is_422_not_invalid_json(server):
    """Demands near the largest double give outputs past it: JSON cannot say Infinity, so 422."""
    async with server.session.post(server.api("/api/plan/solve"),
                                   json={"economy": MB, "final_demand": [1.7e308, 1.7e308]}) as r:
        assert r.status == 422, await r.text()
        err = (await r.json())["error"]
        assert "overflows" in err["reason"] and "gross_output" in err["reason"]
