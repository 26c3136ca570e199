"""The delegates' side through the real server: terms, mandates, roll calls after the round, the record."""

from __future__ import annotations

import asyncio

import pytest

from tests.voting.helpers import bearer, register, tally


async def call(server, method, path, headers=None, json=None):
    async with server.session.request(method, server.api(path), headers=headers or {}, json=json) as r:
        return r.status, await r.json()


async def _decision(server, duration_s=5.0):
    st, s = await call(server, "POST", "/api/sessions", server.secretariat,
                       {"body": "central-assembly", "title": "Plenary"})
    st, item = await call(server, "POST", f"/api/sessions/{s['id']}/items", server.secretariat,
                          {"title": "Which variant?", "kind": "decision", "options": ["Variant A", "Variant B"],
                           "duration_s": duration_s})
    assert st == 201
    return s["id"], item["id"]


async def _published(server, rid, timeout=10.0):
    for _ in range(int(timeout / 0.1)):
        st, r = await call(server, "GET", f"/api/rounds/{rid}")
        if r["state"] == "published":
            return r
        await asyncio.sleep(0.1)
    raise AssertionError("round not published")


async def test_mandates_and_a_roll_call_after_the_round_put_the_delegates_vote_on_record(server):
    steel, textile = await register(server, "Steel works no. 1 GA", 200), await register(server, "Textile GA", 100)
    other = await register(server, "Depot GA", 50)
    st, d = await call(server, "POST", "/api/delegates", server.secretariat,
                       {"name": "R. Luxemburg", "assemblies": [steel["id"], textile["id"]], "term_ends": "2027-06-30"})
    assert st == 201 and d["term_ends"] == "2027-06-30" and d["token"]
    st, err = await call(server, "POST", "/api/delegates", server.secretariat,
                         {"name": "X", "assemblies": [steel["id"]], "term_ends": "next June"})
    assert st == 400 and err["error"]["field"] == "term_ends"
    did = d["id"]
    sid, iid = await _decision(server)
    # each constituency assembly mandates differently; a mandate is replaceable until the item starts
    mandate = f"/api/delegates/{did}/mandates"
    st, m = await call(server, "POST", mandate, bearer(steel["token"]), {"item": iid, "kind": "option",
                                                                          "option": "Variant A"})
    assert st == 201 and m["assembly"] == steel["id"]
    st, m = await call(server, "POST", mandate, bearer(steel["token"]), {"item": iid, "kind": "option",
                                                                          "option": "Variant B"})
    assert st == 201 and m["option"] == "Variant B"
    st, _ = await call(server, "POST", mandate, bearer(textile["token"]), {"item": iid, "kind": "option",
                                                                            "option": "Variant A"})
    assert st == 201
    for body, field in (({"item": iid, "kind": "option", "option": "Variant Z"}, "option"),
                        ({"item": iid, "kind": "vote"}, "kind"), ({"item": iid, "kind": "text"}, "text"),
                        ({"kind": "free"}, "item")):
        st, err = await call(server, "POST", mandate, bearer(textile["token"]), body)
        assert st == 400 and err["error"]["field"] == field, (body, err)
    st, err = await call(server, "POST", mandate, bearer(other["token"]), {"item": iid, "kind": "free"})
    assert st == 403  # not of the constituency
    st, err = await call(server, "POST", "/api/rollcalls", server.secretariat, {"title": "Roll call", "item": iid})
    assert st == 409 and err["error"]["field"] == "item"  # the assemblies have not voted yet
    await call(server, "POST", f"/api/sessions/{sid}/open", server.secretariat)
    st, _ = await call(server, "POST", f"/api/sessions/{sid}/items/{iid}/start", server.secretariat)
    st, s = await call(server, "GET", f"/api/sessions/{sid}")
    rid = s["agenda"][0]["rounds"][0]
    st, err = await call(server, "POST", mandate, bearer(steel["token"]), {"item": iid, "kind": "free"})
    assert st == 409 and err["error"]["field"] == "item"  # the item has started
    st, err = await call(server, "POST", "/api/rollcalls", server.secretariat, {"title": "Roll call", "item": iid})
    assert st == 409 and err["error"]["field"] == "round"  # no share visible before the close
    assert (await tally(server, rid, steel["token"], {"present": 120, "counts": {"Variant A": 30, "Variant B": 70}}))[0] == 201
    assert (await tally(server, rid, textile["token"], {"present": 100, "counts": {"Variant A": 60, "Variant B": 40}}))[0] == 201
    st, _ = await call(server, "POST", f"/api/rounds/{rid}/close", server.secretariat)  # the chair closes it early
    r = await _published(server, rid)
    st, rc = await call(server, "POST", "/api/rollcalls", server.secretariat, {"title": "Roll call", "item": iid})
    assert st == 201 and rc["options"] == ["Variant A", "Variant B"] and rc["round_id"] == rid and rc["item"] == iid
    st, v = await call(server, "POST", f"/api/rollcalls/{rc['id']}/votes", bearer(d["token"]), {"choice": "Variant A"})
    assert st == 201
    st, view = await call(server, "GET", f"/api/delegates/{did}")
    assert view["term_ends"] == "2027-06-30" and [m["kind"] for m in view["mandates"]] == ["option", "option"]
    [vote] = view["record"]
    assert vote["choice"] == "Variant A" and vote["item"] == iid
    by_assembly = {m["assembly_name"]: (m["option"], m["against"]) for m in vote["mandates"]}
    assert by_assembly == {"Steel works no. 1 GA": ("Variant B", True), "Textile GA": ("Variant A", False)}
    assert vote["against"] == ["Steel works no. 1 GA"]
    # shares of votes cast, by independent arithmetic: A 30 + 60 of 200 cast
    assert vote["shares"] == pytest.approx({"Variant A": 90 / 200, "Variant B": 110 / 200})
    shares = {a["name"]: a["shares"] for a in vote["assemblies"]}
    assert shares["Steel works no. 1 GA"] == pytest.approx({"Variant A": 0.3, "Variant B": 0.7})
    assert shares["Textile GA"] == pytest.approx({"Variant A": 0.6, "Variant B": 0.4})
    assert vote["decision"]["final_hash"] == r["result"]["final_hash"]
    assert view["open_rollcalls"][0]["id"] == rc["id"] and view["open_rollcalls"][0]["my_vote"] == "Variant A"


async def test_what_an_outside_review_found_on_the_delegates_side_is_refused(server):
    """Typos, loose dates, an unbounded note, an empty option list, a second close: each a 4xx."""
    ga = await register(server, "Steel works no. 1 GA", 200)
    for body, field in (({"name": "X", "assemblies": [ga["id"]], "term_end": "2027-06-30"}, "term_end"),
                        ({"name": "X", "assemblies": [ga["id"]], "term_ends": "20270630"}, "term_ends"),
                        ({"name": "X", "assemblies": [ga["id"]], "term_ends": "2027-W26-3"}, "term_ends"),
                        ({"name": "X", "assemblies": [ga["id"]], "term_ends": "2001-01-01"}, "term_ends")):
        st, err = await call(server, "POST", "/api/delegates", server.secretariat, body)
        assert st == 400 and err["error"]["field"] == field, (body, err)
    st, d = await call(server, "POST", "/api/delegates", server.secretariat, {"name": "X", "assemblies": [ga["id"]]})
    sid, iid = await _decision(server)
    st, err = await call(server, "POST", f"/api/delegates/{d['id']}/mandates", bearer(ga["token"]),
                         {"item": iid, "kind": "free", "text": "N" * 2001})
    assert st == 400 and err["error"]["field"] == "text"
    st, rc = await call(server, "POST", "/api/rollcalls", server.secretariat, {"title": "Q", "options": ["yes", "no"]})
    for body, field in (({"title": "Q", "options": ["yes", "no"], "zzz": 1}, "zzz"), ({"title": "Q", "options": []}, "options")):
        st, err = await call(server, "POST", "/api/rollcalls", server.secretariat, body)
        assert st == 400 and err["error"]["field"] == field, (body, err)
    assert (await call(server, "POST", f"/api/rollcalls/{rc['id']}/close", server.secretariat))[0] == 200
    st, err = await call(server, "POST", f"/api/rollcalls/{rc['id']}/close", server.secretariat)
    assert st == 409 and err["error"]["field"] == "rollcall"
