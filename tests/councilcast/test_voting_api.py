"""Voting over real HTTP against the running server: assemblies, rounds, counts, rules, audit."""

import asyncio
import json
import re
import sys
import time

import pytest

from tests.voting.helpers import bearer, get_round, new_round, register, tally, wait_published
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL
from voting.audit import ANCHOR_PERIOD_S


async def test_assembly_registration_and_tokens(server):
    s = server.session
    a = await register(server, "Depot 4", 240, workplace="Depot 4")
    assert a["id"].startswith("ga-") and a["members"] == 240 and len(a["token"]) > 30
    async with s.get(server.api("/api/clerk"), headers=bearer(a["token"])) as r:
        assert (await r.json())["assembly"]["id"] == a["id"]
    # bad input, no token, wrong role
    for body, field in [({"name": "x", "members": 0}, "members"), ({"members": 3}, "name"),
                        ({"name": "x", "members": "9"}, "members")]:
        async with s.post(server.api("/api/assemblies"), headers=server.secretariat, json=body) as r:
            assert r.status == 400 and (await r.json())["error"]["field"] == field
    async with s.post(server.api("/api/assemblies"), json={"name": "x", "members": 3}) as r:
        assert r.status == 401
    async with s.post(server.api("/api/rounds"), headers=bearer(a["token"]),
                      json={"title": "t", "options": ["A", "B"], "duration_s": 5}) as r:
        assert r.status == 403
    # rotation revokes the old token; revocation revokes the new
    async with s.post(server.api(f"/api/assemblies/{a['id']}/token"), headers=server.secretariat) as r:
        new = (await r.json())["token"]
    async with s.get(server.api("/api/clerk"), headers=bearer(a["token"])) as r:
        assert r.status == 401
    async with s.get(server.api("/api/clerk"), headers=bearer(new)) as r:
        assert r.status == 200
    async with s.delete(server.api(f"/api/assemblies/{a['id']}/token"), headers=server.secretariat) as r:
        assert (await r.json())["revoked"] == 1
    async with s.get(server.api("/api/clerk"), headers=bearer(new)) as r:
        assert r.status == 401


async def test_round_lifecycle_counts_hidden_until_close_then_result_and_audit(server):
    s = server.session
    g1, g2, g3 = [await register(server, f"GA{i}", m) for i, m in ((1, 200), (2, 150), (3, 90))]
    rnd = await new_round(server, duration_s=1.5)
    assert rnd["state"] == "open" and "result" not in rnd
    st, body = await tally(server, rnd["id"], g1["token"], {"present": 180, "counts": {"A": 137, "B": 31},
                                                              "abstain": 12})
    assert st == 201 and body["version"] == 1 and len(body["receipt"]) == 64
    first_receipt = body["receipt"]
    st, body = await tally(server, rnd["id"], g2["token"], {"present": 100, "counts": {"A": 20, "B": 71},
                                                              "abstain": 0})
    assert st == 201
    # a recount: the last acknowledged count stands
    st, recount = await tally(server, rnd["id"], g1["token"], {"present": 180, "counts": {"A": 136, "B": 32},
                                                                 "abstain": 12})
    assert st == 200 and recount["version"] == 2
    # nothing of a count is visible anywhere before the close
    # (fields, not substrings: a server_time such as 1795664541.136 once matched "136")
    def numbers_and_keys(value, keys=(), nums=()):
        if isinstance(value, dict):
            for k, v in value.items():
                keys, nums = numbers_and_keys(v, (*keys, k), nums)
        elif isinstance(value, list):
            for v in value:
                keys, nums = numbers_and_keys(v, keys, nums)
        elif isinstance(value, int) and not isinstance(value, bool):
            nums = (*nums, value)
        return keys, nums

    for path in (f"/api/rounds/{rnd['id']}", "/api/rounds"):
        async with s.get(server.api(path)) as r:
            keys, nums = numbers_and_keys(await r.json())
        assert not {"result", "totals", "counts", "abstain", "present"} & set(keys), path
        assert not {136, 137, 31, 32, 71, 180} & set(nums), path
    for path in (f"/rounds/{rnd['id']}", "/rounds"):
        async with s.get(server.api(path)) as r:
            text = await r.text()
        assert not re.search(r"(?<![\d.:])(136|137)(?![\d.:])", text) and "totals" not in text, path
    async with s.get(server.api(f"/api/rounds/{rnd['id']}/audit")) as r:
        assert r.status == 409
    pub = await wait_published(server, rnd["id"])
    res = pub["result"]
    assert res["totals"] == {"A": 136 + 20, "B": 32 + 71}
    assert res["abstain"] == 12 and res["present"] == 280 and res["registered"] == 200 + 150 + 90
    assert res["turnout"] == round(280 / 440, 4)
    assert res["decision"] == "adopted" and res["winner"] == "A" and res["majority"] == (156 + 103) // 2 + 1
    assert res["carried"] == {"A": 1, "B": 1}
    by = {a["id"]: a for a in res["assemblies"]}
    assert set(by) == {g1["id"], g2["id"]} and by[g1["id"]]["counts"] == {"A": 136, "B": 32}
    assert by[g1["id"]]["hash"] == recount["receipt"] and by[g1["id"]]["version"] == 2
    assert res["records"] == 3 and res["final_hash"] == pub["final_hash"]
    # the audit export re-adds, by the CLI, against the running server
    async with s.get(server.api(f"/api/rounds/{rnd['id']}/audit")) as r:
        export = await r.json()
    assert [x["hash"] for x in export["records"]][0] == first_receipt
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "councilcast", "verify-round", rnd["id"], "--url", server.url,
        "--receipt", recount["receipt"], "--json", stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    rep = json.loads(out)
    assert proc.returncode == 0 and rep["ok"] and rep["totals"] == {"A": 156, "B": 103}
    assert rep["receipt"]["counted"] is True
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "councilcast", "verify-round", rnd["id"], "--url", server.url,
        "--receipt", first_receipt, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    assert proc.returncode == 1 and b"superseded" in out
    async with s.get(server.api(f"/api/rounds/{rnd['id']}/audit?format=csv")) as r:
        csv_text = await r.text()
    assert csv_text.count("\n") == 4 and r.headers["X-Final-Hash"] == pub["final_hash"]
    # late count
    st, body = await tally(server, rnd["id"], g3["token"], {"present": 5, "counts": {"A": 5}, "abstain": 0})
    assert st == 409 and body["error"]["field"] == "round"
    # the public page shows the breakdown and the hash
    async with s.get(server.api(f"/rounds/{rnd['id']}")) as r:
        html = await r.text()
    assert pub["final_hash"] in html and "136" in html


async def test_rejected_counts_get_4xx_json_never_5xx(server):
    s = server.session
    g = await register(server, "G", 50)
    other = await register(server, "Other", 50)
    later = await new_round(server, duration_s=30, opens_at="2999-01-01T00:00:00Z")
    scoped = await new_round(server, duration_s=30, assemblies=[g["id"]])
    rid = scoped["id"]
    cases = [
        (rid, {"present": 10, "counts": {"C": 1}, "abstain": 0}, 400, "counts.C"),
        (rid, {"present": 10, "counts": {"A": -2}, "abstain": 0}, 400, "counts.A"),
        (rid, {"present": 51, "counts": {"A": 1}, "abstain": 0}, 400, "present"),
        (rid, {"present": 5, "counts": {"A": 4, "B": 1}, "abstain": 1}, 400, "counts"),
        (rid, {"present": 5.5, "counts": {}}, 400, "present"),
        ("r-nope", {"present": 1, "counts": {}}, 404, "round"),
        (later["id"], {"present": 1, "counts": {}}, 409, "round"),
    ]
    for r_id, body, status, field in cases:
        st, out = await tally(server, r_id, g["token"], body)
        assert (st, out["error"]["field"]) == (status, field), (body, out)
    st, out = await tally(server, rid, other["token"], {"present": 1, "counts": {}})
    assert st == 403
    for raw in (b"{not json", b"[1,2]", b"null", b"\xff\xfe"):
        async with s.post(server.api(f"/api/rounds/{rid}/tallies"), data=raw,
                          headers={**bearer(g["token"]), "Content-Type": "application/json"}) as r:
            assert r.status == 400 and "error" in await r.json()
    async with s.post(server.api(f"/api/rounds/{rid}/tallies"), json={"present": 1, "counts": {}}) as r:
        assert r.status == 401
    async with s.post(server.api(f"/api/rounds/{rid}/tallies"), headers=bearer("forged"),
                      json={"present": 1, "counts": {}}) as r:
        assert r.status == 401
    # nothing was recorded by any refused request
    async with s.post(server.api(f"/api/rounds/{rid}/close"), headers=server.secretariat) as r:
        res = (await r.json())["result"]
    assert res["records"] == 0 and res["decision"] == "no_votes" and res["registered"] == 50
    async with s.post(server.api(f"/api/rounds/{rid}/close"), headers=server.secretariat) as r:
        assert r.status == 409


async def test_three_options_without_majority_propose_a_runoff(server):
    g = await register(server, "G", 100)
    rnd = await new_round(server, options=("A", "B", "C"), duration_s=30)
    await tally(server, rnd["id"], g["token"], {"present": 100, "counts": {"A": 40, "B": 35, "C": 25}})
    async with server.session.post(server.api(f"/api/rounds/{rnd['id']}/close"), headers=server.secretariat) as r:
        res = (await r.json())["result"]
    assert res["decision"] == "runoff" and res["runoff"] == ["A", "B"]
    runoff = await get_round(server, res["runoff_round"])
    assert runoff["options"] == ["A", "B"] and runoff["kind"] == "runoff" and runoff["subject"] == rnd["id"]
    assert runoff["state"] == "scheduled"


async def test_individual_ballots_are_summed_into_the_assembly_count(server):
    s = server.session
    g = await register(server, "Ballots GA", 6)
    rnd = await new_round(server, duration_s=30)
    rid = rnd["id"]
    async with s.post(server.api(f"/api/rounds/{rid}/ballot-codes"), headers=bearer(g["token"]),
                      json={"count": 5, "qr": True}) as r:
        assert r.status == 201
        codes = (await r.json())["codes"]
    assert len({c["code"] for c in codes}) == 5 and codes[0]["qr_svg"].startswith("<svg")
    async with s.post(server.api(f"/api/rounds/{rid}/ballot-codes"), headers=bearer(g["token"]),
                      json={"count": 2}) as r:
        assert r.status == 400  # 5 + 2 > 6 registered members
    st, out = await tally(server, rid, g["token"], {"present": 3, "counts": {"A": 3}})
    assert st == 409  # this assembly votes one by one in this round
    choices = ["A", "B", "A", "abstain"]
    for c, choice in zip(codes, choices):
        async with s.post(server.api("/api/ballots"), json={"code": c["code"], "choice": choice}) as r:
            assert r.status == 201, await r.text()
    async with s.post(server.api("/api/ballots"), json={"code": codes[0]["code"], "choice": "B"}) as r:
        assert r.status == 409
        used = await r.json()
    # changed on purpose (issue 10, item 2): an unknown code gets the same answer as a used one,
    # so that answers never tell which codes exist (it was 404)
    async with s.post(server.api("/api/ballots"), json={"code": "NOTACODE22", "choice": "B"}) as r:
        assert r.status == 409 and await r.json() == used
    async with s.post(server.api("/api/ballots"), json={"code": codes[4]["code"], "choice": "Z"}) as r:
        assert r.status == 400
    # the fifth member votes through the page's plain HTML form (no JavaScript)
    async with s.get(server.api(f"/ballot?code={codes[4]['code']}")) as r:
        assert "Cast my ballot" in await r.text()
    async with s.post(server.api("/ballot"), data={"code": codes[4]["code"], "choice": "B"}) as r:
        assert r.status == 200 and "counted" in await r.text()
    async with s.post(server.api(f"/api/rounds/{rid}/close"), headers=server.secretariat) as r:
        res = (await r.json())["result"]
    a = res["assemblies"][0]
    assert a["counts"] == {"A": 2, "B": 2} and a["abstain"] == 1 and a["present"] == 5 and a["source"] == "ballots"
    assert res["decision"] == "tie"
    async with s.post(server.api("/api/ballots"), json={"code": codes[0]["code"], "choice": "A"}) as r:
        assert r.status == 409


async def test_delegates_roll_calls_and_recall(server):
    s = server.session
    g1, g2, outsider = await register(server, "G1", 100), await register(server, "G2", 50), \
        await register(server, "G3", 10)
    async with s.post(server.api("/api/delegates"), headers=server.secretariat,
                      json={"name": "M. Martin", "assemblies": [g1["id"], g2["id"]]}) as r:
        assert r.status == 201
        d = await r.json()
    async with s.post(server.api("/api/delegates"), headers=server.secretariat,
                      json={"name": "X", "assemblies": ["ga-nope"]}) as r:
        assert r.status == 400
    # a GA round on the question, then the Central Assembly's roll call on it
    rnd = await new_round(server, duration_s=30)
    await tally(server, rnd["id"], g1["token"], {"present": 80, "counts": {"A": 30, "B": 50}})
    await tally(server, rnd["id"], g2["token"], {"present": 40, "counts": {"A": 25, "B": 15}})
    async with s.post(server.api(f"/api/rounds/{rnd['id']}/close"), headers=server.secretariat):
        pass
    async with s.post(server.api("/api/rollcalls"), headers=server.secretariat,
                      json={"title": "Adopt A", "options": ["A", "B"], "round": rnd["id"]}) as r:
        rc = await r.json()
    async with s.post(server.api(f"/api/rollcalls/{rc['id']}/votes"), headers=bearer(d["token"]),
                      json={"choice": "A"}) as r:
        assert r.status == 201 and (await r.json())["name"] == "M. Martin"
    async with s.get(server.api(f"/api/delegates/{d['id']}")) as r:
        rec = (await r.json())["record"]
    assert rec[0]["choice"] == "A" and rec[0]["constituency"] == {"A": 55, "B": 65}
    # recall: only a constituency GA may open it
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(outsider["token"]),
                      json={"duration_s": 30}) as r:
        assert r.status == 403
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(g2["token"]),
                      json={"duration_s": 30}) as r:
        assert r.status == 201
        recall = await r.json()
    assert recall["kind"] == "recall" and sorted(recall["assemblies"]) == sorted([g1["id"], g2["id"]])
    st, _ = await tally(server, recall["id"], outsider["token"], {"present": 5, "counts": {"recall": 5}})
    assert st == 403
    await tally(server, recall["id"], g1["token"], {"present": 90, "counts": {"recall": 50, "keep": 40}})
    await tally(server, recall["id"], g2["token"], {"present": 30, "counts": {"recall": 10, "keep": 20}})
    async with s.post(server.api(f"/api/rounds/{recall['id']}/close"), headers=server.secretariat) as r:
        res = (await r.json())["result"]
    assert res["totals"] == {"recall": 60, "keep": 60} and res["recall"]["passed"] is False
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(g1["token"]),
                      json={"duration_s": 30}) as r:
        recall2 = await r.json()
    await tally(server, recall2["id"], g1["token"], {"present": 90, "counts": {"recall": 61, "keep": 29}})
    await tally(server, recall2["id"], g2["token"], {"present": 30, "counts": {"recall": 10, "keep": 20}})
    async with s.post(server.api(f"/api/rounds/{recall2['id']}/close"), headers=server.secretariat) as r:
        res = (await r.json())["result"]
    assert res["totals"] == {"recall": 71, "keep": 49} and res["recall"]["passed"] is True
    async with s.get(server.api(f"/api/delegates/{d['id']}")) as r:
        assert (await r.json())["status"] == "recalled"
    async with s.post(server.api(f"/api/rollcalls/{rc['id']}/votes"), headers=server.secretariat,
                      json={"delegate": d["id"], "choice": "B"}) as r:
        assert r.status == 409  # a recalled delegate no longer votes
    for path in (f"/delegates/{d['id']}", "/assemblies"):
        async with s.get(server.api(path)) as r:
            assert r.status == 200 and "recalled" in await r.text()


async def test_openapi_describes_the_voting_api(server):
    async with server.session.get(server.api("/api/openapi.json")) as r:
        paths = (await r.json())["paths"]
    for p in ("/api/assemblies", "/api/rounds", "/api/rounds/{id}/tallies", "/api/rounds/{id}/audit",
              "/api/ballots", "/api/delegates/{id}/recall", "/ws"):
        assert p in paths


def _row_counts(server) -> dict:
    """Rows per table, read on the server's own read connections."""
    from councilcast.appkeys import DB
    from councilcast.storage import table_names

    def counts(c):
        return {n: c.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in table_names(c)}
    return server.app[DB].read_sync(counts)


async def _listing(server) -> dict:
    """The ids each public list shows."""
    out = {}
    for path, key in (("/api/assemblies", "assemblies"), ("/api/rounds", "rounds"),
                      ("/api/delegates", "delegates"), ("/api/rollcalls", "rollcalls")):
        async with server.session.get(server.api(path)) as r:
            assert r.status == 200, (path, await r.text())
            out[path] = sorted(x["id"] for x in (await r.json())[key])
    return out


async def test_unparseable_json_bodies_are_400_and_write_nothing(server):
    """Nesting deeper than the parser's recursion limit and the non-standard NaN/Infinity
    literals (which Python's json accepts) used to give 500s; now 400 with field null."""
    s = server.session
    a = await register(server, "GA", 50)
    rnd = await new_round(server, duration_s=60)
    deep = b'{"a":' * 5000 + b"1" + b"}" * 5000
    deep_list = b"[" * 5000 + b"]" * 5000
    before, listing, t0 = _row_counts(server), await _listing(server), time.time()
    cases = [("/api/assemblies", server.secretariat, b'{"name": "x", "members": NaN}'),
             ("/api/assemblies", server.secretariat, deep),
             ("/api/rounds", server.secretariat,
              b'{"title": "t", "options": ["A", "B"], "duration_s": Infinity}'),
             ("/api/rounds", server.secretariat, deep_list),
             ("/api/delegates", server.secretariat, deep),
             ("/api/rollcalls", server.secretariat, deep_list),
             ("/api/ballots", {}, deep),
             (f"/api/rounds/{rnd['id']}/tallies", bearer(a["token"]),
              b'{"present": 10, "counts": {"A": NaN, "B": 0}, "abstain": 0}'),
             (f"/api/rounds/{rnd['id']}/tallies", bearer(a["token"]), deep)]
    for path, headers, raw in cases:
        async with s.post(server.api(path), data=raw,
                          headers={**headers, "Content-Type": "application/json"}) as r:
            assert r.status == 400, (path, raw[:40], await r.text())
            err = (await r.json())["error"]
            assert err["field"] is None and "not valid JSON" in err["reason"], err
    after = _row_counts(server)
    # the open round's anchors come from the clock (one every ANCHOR_PERIOD_S tick), not from
    # the requests: on a loaded machine the cases above can span a tick
    ticks = int((time.time() - t0) // ANCHOR_PERIOD_S) + 1
    assert 0 <= after.pop("voting_anchors") - before.pop("voting_anchors") <= ticks
    assert after == before
    assert await _listing(server) == listing


async def test_round_opening_too_late_for_iso_dates_is_refused_and_listing_still_works(server):
    """opens_at 9999-12-31 was stored, then every GET /api/rounds was a 500 (closes_at in
    year 10000 cannot be written as ISO 8601). Now refused before anything is written."""
    s = server.session
    a = await register(server, "GA", 50)
    async with s.post(server.api("/api/delegates"), headers=server.secretariat,
                      json={"name": "D", "assemblies": [a["id"]]}) as r:
        d = await r.json()
    before, listing = _row_counts(server), await _listing(server)
    for when in ("9999-12-31T23:59:59Z", "9999-01-01T00:00:00Z"):
        async with s.post(server.api("/api/rounds"), headers=server.secretariat,
                          json={"title": "t", "options": ["A", "B"], "duration_s": 60, "opens_at": when}) as r:
            assert r.status == 400, await r.text()
            assert (await r.json())["error"]["field"] == "opens_at"
        async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(a["token"]),
                          json={"duration_s": 60, "opens_at": when}) as r:
            assert r.status == 400, await r.text()
            assert (await r.json())["error"]["field"] == "opens_at"
    assert _row_counts(server) == before
    assert await _listing(server) == listing
    # the last day before the bound still works, and so does the listing with it
    rnd = await new_round(server, duration_s=7 * 24 * 3600, opens_at="9998-12-31T23:59:59Z")
    assert rnd["state"] == "scheduled" and rnd["closes_at"].startswith("9999-01-07T23:59:59")
    async with s.get(server.api("/api/rounds")) as r:
        assert r.status == 200 and rnd["id"] in [x["id"] for x in (await r.json())["rounds"]]


async def test_ballot_form_with_a_broken_multipart_body_is_400(server):
    before = _row_counts(server)
    async with server.session.post(server.api("/ballot"), data=b"no boundary here",
                                   headers={"Content-Type": "multipart/form-data; boundary=x"}) as r:
        assert r.status == 400, await r.text()
    assert _row_counts(server) == before


async def test_assembly_listing_bounds_are_checked(server):
    """limit/offset past SQLite's 64-bit INTEGER raised OverflowError (500); a negative or
    non-numeric one is a 400 naming the parameter."""
    a = await register(server, "GA", 50)
    s = server.session
    for query, field in (("limit=-99999999999999999999999", "limit"), ("limit=abc", "limit"),
                         ("offset=-1", "offset"), ("offset=1e3", "offset")):
        async with s.get(server.api(f"/api/assemblies?{query}")) as r:
            assert r.status == 400, (query, await r.text())
            assert (await r.json())["error"]["field"] == field
    async with s.get(server.api("/api/assemblies?limit=99999999999999999999999&offset=0")) as r:
        assert r.status == 200 and [x["id"] for x in (await r.json())["assemblies"]] == [a["id"]]
    async with s.get(server.api("/api/assemblies?offset=99999999999999999999999")) as r:
        assert r.status == 200 and (await r.json())["assemblies"] == []


async def test_a_recall_cannot_be_parked_in_a_distant_year_and_can_be_brought_forward(server):
    """Issue 10, item 8: one clerk blocked every recall of a shared delegate by scheduling one for
    year 9998 (every other assembly then got 409)."""
    s = server.session
    g1, g2 = await register(server, "R1", 10), await register(server, "R2", 10)
    async with s.post(server.api("/api/delegates"), headers=server.secretariat,
                      json={"name": "D", "assemblies": [g1["id"], g2["id"]]}) as r:
        d = await r.json()
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(g1["token"]),
                      json={"duration_s": 60, "opens_at": "9998-01-01T00:00:00Z"}) as r:
        assert r.status == 400 and (await r.json())["error"]["field"] == "opens_at"
    in_six_days = time.time() + 6 * 86400
    iso6 = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(in_six_days))
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(g1["token"]),
                      json={"duration_s": 60, "opens_at": iso6}) as r:
        assert r.status == 201
        parked = await r.json()
    assert parked["state"] == "scheduled"
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(g2["token"]),
                      json={"duration_s": 60}) as r:
        assert r.status == 200  # the other assembly's request joins the scheduled one (issue 12)
        joined = await r.json()
    assert joined["id"] == parked["id"] and joined["state"] == "scheduled" and joined["request"] == "joined"
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(g2["token"]),
                      json={"now": True}) as r:
        assert r.status == 200  # and brings it forward to now when it asks to
        now = await r.json()
    assert now["id"] == parked["id"] and now["state"] == "open" and now["duration_s"] == 60
    assert abs(now["opens_at_ts"] - time.time()) < 5
    async with s.post(server.api(f"/api/delegates/{d['id']}/recall"), headers=bearer(g2["token"]),
                      json={"duration_s": 60}) as r:
        assert r.status == 409  # an open recall is not opened twice


async def test_public_figures_do_not_move_with_the_votes(server):
    """Issue 10, item 9: the public stats showed writes and commits live, and a receipt's seq
    told a clerk how many counts the round held."""
    g1, g2 = await register(server, "P1", 10), await register(server, "P2", 10)
    r = await new_round(server, duration_s=60)

    async def public():
        async with server.session.get(server.api("/api/voting/stats")) as resp:
            return await resp.json()

    before = await public()
    st, out = await tally(server, r["id"], g1["token"], {"present": 5, "counts": {"A": 3, "B": 2}})
    assert st == 201 and "seq" not in out and out["receipt"]
    await tally(server, r["id"], g2["token"], {"present": 4, "counts": {"A": 1, "B": 3}})
    after = await public()
    assert before == after and not {"writes", "commits", "process_cpu_s", "last_close"} & set(after)
    async with server.session.get(server.api("/api/voting/stats"), headers=server.secretariat) as resp:
        assert {"writes", "commits", "last_close"} <= set(await resp.json())


async def test_a_revoked_clerk_token_records_nothing_on_the_batched_path(server):
    """Issue 10: a count accepted with a revoked clerk token on the batched path went unnoticed.
    Counts of a revoked and of a valid clerk sent together: the revoked one is 401 and absent."""
    g1, g2 = await register(server, "V1", 10), await register(server, "V2", 10)
    r = await new_round(server, duration_s=60)
    async with server.session.delete(server.api(f"/api/assemblies/{g1['id']}/token"), headers=server.secretariat) as d:
        assert (await d.json())["revoked"] == 1
    body = {"present": 5, "counts": {"A": 5, "B": 0}}
    results = await asyncio.gather(*[tally(server, r["id"], tok, body) for tok in [g1["token"], g2["token"]] * 10])
    assert [st for st, _ in results[0::2]] == [401] * 10
    assert sorted(st for st, _ in results[1::2]) == [200] * 9 + [201]  # one first count, nine recounts
    async with server.session.post(server.api(f"/api/rounds/{r['id']}/close"), headers=server.secretariat) as c:
        res = (await c.json())["result"]
    assert [a["id"] for a in res["assemblies"]] == [g2["id"]]


async def test_the_members_routes_take_small_bodies(server):
    """Issue 10, item 11: anonymous and clerk routes took bodies up to 1 MiB."""
    big = {"code": "X" * 20, "choice": "A", "pad": "p" * (80 << 10)}
    async with server.session.post(server.api("/api/ballots"), json=big) as r:
        assert r.status == 413
    async with server.session.post(server.api("/api/ballots"), json={"code": "X" * 10, "choice": "A"}) as r:
        assert r.status == 409  # a normal ballot body still reaches the check


async def test_malformed_counts_in_a_burst_are_refused_alone_and_the_sums_hold(server):
    """Counts sent at once land in the same batches (group commit): the malformed ones among them
    are each refused with a 4xx naming the field, and every other count, first counts and
    recounts, stands in the result, whose sums (kept count by count) equal the sum of the
    accepted counts and re-add from the audit export."""
    gas = [await register(server, f"Burst {i}", 50) for i in range(12)]
    r = await new_round(server, options=("A", "B", "C"), duration_s=60)
    sends, expected = [], {}
    for i, g in enumerate(gas):
        good = {"present": 30, "abstain": i % 3, "counts": {"A": i, "B": 2 * (i % 4), "C": 1}}
        sends.append((g, good, True))
        recount = {"present": 31, "abstain": 0, "counts": {"A": 1, "B": i % 5, "C": i}}
        sends.append((g, recount, True))
        sends.append((g, {"present": 30, "counts": {"A": 60, "B": 0, "C": 0}}, False))  # more votes than members
        sends.append((g, {"present": 30, "counts": {"A": 1, "Z": 2}}, False))  # not an option
        sends.append((g, {"present": "30", "counts": {"A": 1, "B": 1, "C": 1}}, False))  # not a number
    # each assembly's good counts in order, the bad ones anywhere among everyone's
    results = await asyncio.gather(*[tally(server, r["id"], g["token"], body) for g, body, _ in sends])
    for (g, body, good), (status, out) in zip(sends, results):
        if good:
            assert status in (200, 201), out
        else:
            assert 400 <= status < 500 and out["error"]["field"], (body, status, out)
    # the standing count of each assembly is whichever of its two good counts got the higher version
    # (the two travel on different connections: either may arrive first)
    for (g, body, good), (status, out) in zip(sends, results):
        if good and (g["id"] not in expected or out["version"] > expected[g["id"]][0]):
            expected[g["id"]] = (out["version"], body)
    assert all(v == 2 for v, _ in expected.values())
    async with server.session.post(server.api(f"/api/rounds/{r['id']}/close"), headers=server.secretariat) as c:
        res = (await c.json())["result"]
    totals = {o: sum(b["counts"][o] for _, b in expected.values()) for o in ("A", "B", "C")}
    assert res["totals"] == totals and res["records"] == 24 and res["assemblies_reporting"] == 12
    assert res["abstain"] == sum(b["abstain"] for _, b in expected.values())
    assert res["present"] == sum(b["present"] for _, b in expected.values())
    async with server.session.get(server.api(f"/api/rounds/{r['id']}/audit")) as a:
        export = await a.json()
    from voting.audit import verify_export
    assert verify_export(export)["ok"], verify_export(export)["errors"]


async def test_a_published_breakdown_is_read_once_and_answered_whole(server, monkeypatch):
    """A published round's per-assembly breakdown (13 MB of JSON at 60,000 assemblies) is kept
    by the process as JSON text after the close and spliced into each answer: the close's own
    answer and the GETs after it read the breakdown from the database once, until the copy is old."""
    from councilcast.appkeys import VOTING
    from councilcast.services import voting as voting_service

    s = server.session
    gas = [await register(server, f"GA{i}", 100) for i in range(3)]
    rnd = await new_round(server, duration_s=60)
    for i, g in enumerate(gas):
        st, _ = await tally(server, rnd["id"], g["token"], {"present": 90, "counts": {"A": 50 + i, "B": 40 - i},
                                                            "abstain": 0})
        assert st == 201
    svc = server.app[VOTING]
    reads = []
    read = svc.store.breakdown_json
    monkeypatch.setattr(svc.store, "breakdown_json", lambda c, rid: reads.append(rid) or read(c, rid))
    async with s.post(server.api(f"/api/rounds/{rnd['id']}/close"), headers=server.secretariat) as r:
        assert r.status == 200
        closed = await r.json()
    got = await get_round(server, rnd["id"])
    assert reads == [rnd["id"]]  # read once, by the close itself, for its answer and the GET
    want = {g["id"]: {"A": 50 + i, "B": 40 - i} for i, g in enumerate(gas)}
    for doc in (closed, got):
        rows = doc["result"]["assemblies"]
        assert [a["id"] for a in rows] == sorted(want)
        assert {a["id"]: a["counts"] for a in rows} == want
        assert {a["name"] for a in rows} == {"GA0", "GA1", "GA2"} and {a["version"] for a in rows} == {1}
        assert doc["result"]["totals"] == {"A": 153, "B": 117} and doc["state"] == "published"
    assert closed["result"]["assemblies"] == got["result"]["assemblies"] and "anchor" in got
    monkeypatch.setattr(voting_service, "BREAKDOWN_KEPT_S", 0.0)  # the copy is old: read again
    again = await get_round(server, rnd["id"])
    assert reads == [rnd["id"]] * 2 and again["result"]["assemblies"] == got["result"]["assemblies"]
    # a round that is not published has no breakdown to keep
    other = await new_round(server, duration_s=60)
    assert "result" not in await get_round(server, other["id"]) and reads == [rnd["id"]] * 2
