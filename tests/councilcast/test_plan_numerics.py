"""Issue 13, numerics, over HTTP and from the CLI: a refused answer is a clear 422 / exit status 3,
never NaN in JSON; ``plan info`` and loading agree; loading warns about data that disagree."""

import json
import subprocess
import sys

import numpy as np
import scipy.sparse as sp

from planfactory.demo import demo_economy
from planfactory.formats import load, to_dict


def _bidiagonal(n: int, c: float = 1.0) -> dict:
    """A = 0.5 I + c * subdiagonal: rho(A) = 0.5 (lower triangular), (I - A)^-1 1 = 2^(i+2) - 2 for c = 1."""
    A = sp.diags([np.full(n, 0.5), np.full(n - 1, c)], [0, -1], format="coo")
    return {"name": f"bidiagonal {n}", "sectors": [f"s{i}" for i in range(n)], "labour": [1.0] * n,
            "technical_coefficients": {"shape": [n, n], "rows": A.row.tolist(), "cols": A.col.tolist(),
                                       "values": A.data.tolist()}}


def _strict(text: str):
    """JSON as the standard has it: NaN, Infinity and -Infinity are refused."""
    def no(name):
        raise ValueError(f"{name} is not standard JSON")
    return json.loads(text, parse_constant=no)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "councilcast", "plan", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_refuses_the_overflowing_economy_and_info_agrees_with_load(tmp_path):
    econ, fd = tmp_path / "bidiagonal.json", tmp_path / "ones.json"
    econ.write_text(json.dumps(_bidiagonal(1300)))
    fd.write_text(json.dumps([1.0] * 1300))
    p = _cli("solve", str(econ), "--final-demand", str(fd), "--json", "--quiet")
    assert p.returncode == 3 and p.stdout == ""
    assert p.stderr.startswith("error: technical_coefficients: the gross output is not a finite 64-bit number")
    p = _cli("info", str(econ), "--json")
    assert p.returncode == 0, p.stderr
    info = _strict(p.stdout)
    assert info["productive"] is True and info["spectral_radius"] == {"lower": 0.5, "upper": 0.5,
                                                                    "method": "components"}
    assert info["labour_values"] is None and "not a finite" in info["labour_values_problem"]["reason"]
    p = _cli("info", str(econ))
    assert "(productive: True; by components)" in p.stdout and "labour values: not computed" in p.stdout


def test_cli_refuses_the_ill_conditioned_economy_at_200_sectors(tmp_path):
    econ, fd = tmp_path / "bidiagonal.json", tmp_path / "ones.json"
    econ.write_text(json.dumps(_bidiagonal(200)))
    fd.write_text(json.dumps([1.0] * 200))
    cond = 1.5 * (2.0 ** 201 - 2)  # ||I - A|| times the largest row sum of (I - A)^-1, by hand
    p = _cli("solve", str(econ), "--final-demand", str(fd), "--method", "dense")
    assert p.returncode == 3 and p.stdout == ""
    assert f"the condition number of I - A is {cond:.3g}" in p.stderr


def test_cli_warns_at_load_when_todays_output_takes_1_percent_of_the_hours(tmp_path):
    d = to_dict(demo_economy())
    d["current_output"] = [0.01 * x for x in d["current_output"]]
    econ = tmp_path / "one_percent.json"
    econ.write_text(json.dumps(d))
    p = _cli("info", str(econ))
    assert p.returncode == 0
    assert "warning: current_output: today's output takes 1% of the hours the workforce offers" in p.stderr
    p = _cli("info", "demo")
    assert "warning" not in p.stderr


async def test_http_answers_422_naming_the_cause_and_standard_json(server):
    for n, words in ((1300, "not a finite 64-bit number"), (200, "not determined to 6 digits")):
        r = await server.session.post(server.api("/api/plan/solve"),
                                      json={"economy": _bidiagonal(n), "final_demand": [1.0] * n})
        assert r.status == 422
        err = _strict(await r.text())["error"]
        assert err["field"] == "technical_coefficients" and words in err["reason"]
    # the streaming solve ends with the same refusal as its last line
    r = await server.session.post(server.api("/api/plan/solve"),
                                  json={"economy": _bidiagonal(1300), "final_demand": [1.0] * 1300, "progress": True})
    last = _strict((await r.text()).splitlines()[-1])
    assert last["error"]["field"] == "technical_coefficients"


async def test_putting_an_economy_returns_its_warnings(server):
    d = to_dict(demo_economy())
    d["current_output"] = [0.01 * x for x in d["current_output"]]
    assert load(d).warnings
    r = await server.session.put(server.api("/api/plan/economy"), json=d, headers=server.secretariat)
    assert r.status == 200, await r.text()
    w = (await r.json())["warnings"]
    assert len(w) == 1 and w[0]["field"] == "current_output" and "1%" in w[0]["reason"]
    r = await server.session.get(server.api("/api/plan/economy"))
    info = await r.json()
    assert info["productive"] is True and info["warnings"] == w
    r = await server.session.delete(server.api("/api/plan/economy"), headers=server.secretariat)
    assert r.status == 200
