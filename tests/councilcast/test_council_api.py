"""The Central Council through the real server: elected by approval, a tie decided by the
published draw (redone here from the published seed), a recalled delegate refused, bad inputs,
the members on /live/council (issue 12)."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.voting.helpers import bearer, register, tally, wait_published

E = "/api/council/elections"


async def call(server, method, path, headers=None, json=None):
    async with server.session.request(method, server.api(path), headers=headers or {}, json=json) as r:
        return r.status, await r.json()


async def delegates(server, names):
    """One delegate per name, each with an assembly of their own (so that each can be recalled alone)."""
    out = {}
    for n in names:
        ga = await register(server, f"{n} GA", 100)
        st, d = await call(server, "POST", "/api/delegates", server.secretariat, {"name": n, "assemblies": [ga["id"]]})
        assert st == 201
        out[n] = {**d, "ga": ga}
    return out


def seed_from(election: dict) -> str:
    """The seed by the documented recipe, from the published roll call only."""
    counted = {a["delegate"]: sorted(a["approve"]) for a in election["approvals"] if a["status"] == "active"}
    text = json.dumps({"ballots": counted, "election": election["id"]}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def key(seed: str, cid: str) -> str:
    return hashlib.sha256(f"{seed}:{cid}".encode()).hexdigest()


async def approve(server, election, d, names):
    return await call(server, "POST", f"{E}/{election}/approvals", bearer(d["token"]), {"approve": names})


async def test_a_council_of_three_is_elected_by_approval(server):
    ds = await delegates(server, ["Ada", "Bea", "Cid", "Dov", "Eve"])
    ids = {n: d["id"] for n, d in ds.items()}
    st, cur = await call(server, "GET", "/api/council")
    assert st == 200 and cur["election"] is None and cur["members"] == []
    async with server.session.get(server.api("/live/council")) as r:
        assert r.status == 200 and "No Council elected yet" in await r.text()
    st, e = await call(server, "POST", E, server.secretariat,
                       {"title": "The Central Council", "seats": 3, "candidates": list(ids.values()),
                        "term_ends": "2099-06-30"})
    assert st == 201 and e["state"] == "open" and e["seats"] == 3
    assert [c["name"] for c in e["candidates"]] == ["Ada", "Bea", "Cid", "Dov", "Eve"]
    eid = e["id"]
    # four delegates answer the roll call; Dov first approves Dov alone, then replaces it
    ballots = {"Ada": ["Ada", "Bea", "Cid"], "Bea": ["Ada", "Bea", "Dov"], "Cid": ["Ada", "Cid", "Bea"],
               "Dov": ["Dov"]}
    for n, approved in ballots.items():
        st, out = await approve(server, eid, ds[n], [ids[x] for x in approved])
        assert st == 201 and out["name"] == n and out["approve"] == sorted(ids[x] for x in approved)
    st, out = await approve(server, eid, ds["Dov"], [ids["Bea"], ids["Cid"]])
    assert st == 201
    ballots["Dov"] = ["Bea", "Cid"]
    # while open: who answered is public, what they approved is not
    st, view = await call(server, "GET", f"{E}/{eid}")
    assert view["approvals"] is None and sorted(v["name"] for v in view["voted"]) == ["Ada", "Bea", "Cid", "Dov"]
    assert "result" not in view or view["result"] is None
    st, err = await call(server, "POST", E, server.secretariat, {"title": "Another", "seats": 1,
                                                                 "candidates": [ids["Eve"]]})
    assert st == 409 and err["error"]["field"] == "election"  # one election open at a time
    st, err = await call(server, "POST", f"{E}/{eid}/close", bearer(ds["Ada"]["token"]))
    assert st == 403
    st, e = await call(server, "POST", f"{E}/{eid}/close", server.secretariat)
    assert st == 200 and e["state"] == "closed"
    r = e["result"]
    # by hand: Ada 3 (from Ada, Bea, Cid), Bea 4 (all four), Cid 3 (Ada, Cid, Dov), Dov 1 (Bea; his own
    # approval was replaced), Eve 0
    assert r["approvals"] == {ids["Ada"]: 3, ids["Bea"]: 4, ids["Cid"]: 3, ids["Dov"]: 1, ids["Eve"]: 0}
    assert r["ballots"] == 4 and r["abstentions"] == 0 and r["vacant"] == 0 and r["draw"] is None
    seed = seed_from(e)
    assert r["seed"] == seed
    # Bea first; Ada and Cid tie inside the Council: their seats follow the draw's keys
    two, three = sorted(["Ada", "Cid"], key=lambda n: key(seed, ids[n]))
    assert [(x["name"], x["seat"], x["approvals"]) for x in r["elected"]] == [("Bea", 1, 4), (two, 2, 3), (three, 3, 3)]
    # the roll call is public from the close: who approved whom
    by_name = {a["name"]: a["approve"] for a in e["approvals"]}
    assert by_name == {n: sorted(ids[x] for x in a) for n, a in ballots.items()}
    st, cur = await call(server, "GET", "/api/council")
    assert [m["name"] for m in cur["members"]] == ["Bea", two, three]
    assert all(m["term_ends"] == "2099-06-30" for m in cur["members"]) and cur["vacant"] == 0
    assert cur["election"]["id"] == eid
    st, err = await approve(server, eid, ds["Eve"], [])
    assert st == 409 and err["error"]["field"] == "id"  # closed
    st, err = await call(server, "POST", f"{E}/{eid}/close", server.secretariat)
    assert st == 409
    st, listing = await call(server, "GET", E)
    assert [x["id"] for x in listing["elections"]] == [eid]
    # the live page beside the Council's channel lists the three, linked to their pages, and the term
    async with server.session.get(server.api("/live/council")) as resp:
        html = await resp.text()
    assert resp.status == 200
    section = html.split('data-council', 1)[1].split("</section>", 1)[0]
    for n in ("Bea", two, three):
        assert f'<a href="/delegates/{ids[n]}">{n}</a>' in section
    assert "Eve" not in section and "Dov" not in section and "term ends 2099-06-30" in section
    async with server.session.get(server.api("/live")) as resp:
        assert "data-council" not in await resp.text()  # the Assembly's page does not carry it


async def test_a_tie_at_the_third_seat_is_decided_by_the_published_draw(server):
    ds = await delegates(server, ["Ada", "Bea", "Cid", "Dov", "Eve"])
    ids = {n: d["id"] for n, d in ds.items()}
    st, e = await call(server, "POST", E, server.secretariat,
                       {"title": "The Central Council", "seats": 3, "candidates": list(ids.values())})
    eid = e["id"]
    ballots = {"Ada": ["Ada", "Bea", "Cid"], "Bea": ["Ada", "Bea", "Dov"], "Cid": ["Ada", "Cid", "Eve"],
               "Dov": ["Bea", "Dov"], "Eve": []}  # Eve abstains
    for n, approved in ballots.items():
        assert (await approve(server, eid, ds[n], [ids[x] for x in approved]))[0] == 201
    st, e = await call(server, "POST", f"{E}/{eid}/close", server.secretariat)
    r = e["result"]
    # by hand: Ada 3, Bea 3, Cid 2, Dov 2, Eve 1: Ada and Bea elected, Cid and Dov tie for the third seat
    assert r["approvals"] == {ids["Ada"]: 3, ids["Bea"]: 3, ids["Cid"]: 2, ids["Dov"]: 2, ids["Eve"]: 1}
    assert r["ballots"] == 5 and r["abstentions"] == 1
    # the draw redone from the published roll call alone
    seed = seed_from(e)
    assert r["seed"] == seed
    keys = {n: key(seed, ids[n]) for n in ("Cid", "Dov")}
    winner = min(keys, key=keys.get)
    d = r["draw"]
    assert d["tied"] == sorted([ids["Cid"], ids["Dov"]]) and d["seats"] == 1 and d["approvals"] == 2
    assert d["order"] == [{"candidate": ids[n], "key": keys[n], "name": n} for n in sorted(keys, key=keys.get)]
    assert d["won"] == [ids[winner]] and "SHA-256" in d["method"]
    assert sorted(x["name"] for x in r["elected"]) == sorted(["Ada", "Bea", winner])
    assert r["elected"][2]["name"] == winner and r["elected"][2]["seat"] == 3
    st, cur = await call(server, "GET", "/api/council")
    assert sorted(m["name"] for m in cur["members"]) == sorted(["Ada", "Bea", winner])
    assert cur["election"]["term_ends"] is None


async def _recall(server, d):
    st, rnd = await call(server, "POST", f"/api/delegates/{d['id']}/recall", bearer(d["ga"]["token"]),
                         {"duration_s": 30})
    assert st in (200, 201), rnd  # 200: a recall already scheduled is brought forward
    st, _ = await tally(server, rnd["id"], d["ga"]["token"], {"present": 100, "counts": {"recall": 100}})
    assert st == 201
    await call(server, "POST", f"/api/rounds/{rnd['id']}/close", server.secretariat)
    await wait_published(server, rnd["id"])
    st, view = await call(server, "GET", f"/api/delegates/{d['id']}")
    assert view["status"] == "recalled"


async def test_a_recalled_delegate_is_refused_and_leaves_the_council_at_once(server):
    ds = await delegates(server, ["Ada", "Bea", "Cid", "Dov"])
    ids = {n: d["id"] for n, d in ds.items()}
    st, e = await call(server, "POST", E, server.secretariat,
                       {"title": "Council 1", "seats": 2, "candidates": [ids["Ada"], ids["Bea"], ids["Cid"]]})
    for n, approved in (("Ada", ["Ada", "Bea"]), ("Bea", ["Bea", "Cid"]), ("Cid", ["Ada", "Bea"])):
        assert (await approve(server, e["id"], ds[n], [ids[x] for x in approved]))[0] == 201
    st, e1 = await call(server, "POST", f"{E}/{e['id']}/close", server.secretariat)
    assert [x["name"] for x in e1["result"]["elected"]] == ["Bea", "Ada"]  # Bea 3, Ada 2
    # a second election opens; Ada answers, then is recalled by her assembly
    st, e2 = await call(server, "POST", E, server.secretariat,
                        {"title": "Council 2", "seats": 2, "candidates": [ids["Ada"], ids["Cid"], ids["Dov"]]})
    assert st == 201
    assert (await approve(server, e2["id"], ds["Ada"], [ids["Ada"]]))[0] == 201
    await _recall(server, ds["Ada"])
    st, err = await approve(server, e2["id"], ds["Ada"], [ids["Cid"]])
    assert st == 401  # the recall revoked her token (her ballot cast before stays set aside, below)
    # she leaves the sitting Council at once; her seat is vacant until the next election
    st, cur = await call(server, "GET", "/api/council")
    assert [m["name"] for m in cur["members"]] == ["Bea"] and cur["vacant"] == 1
    assert [(m["name"], m["reason"]) for m in cur["left"]] == [("Ada", "recalled")]
    # a recalled delegate cannot be put forward (after this election closes)
    assert (await approve(server, e2["id"], ds["Bea"], [ids["Cid"], ids["Dov"]]))[0] == 201
    assert (await approve(server, e2["id"], ds["Cid"], [ids["Cid"]]))[0] == 201
    st, e2 = await call(server, "POST", f"{E}/{e2['id']}/close", server.secretariat)
    r = e2["result"]
    # her ballot, cast before the recall, is set aside; she is withdrawn as a candidate
    assert r["set_aside"] == [{"delegate": ids["Ada"], "name": "Ada", "reason": "recalled before the close"}]
    assert r["withdrawn"] == [ids["Ada"]] and r["ballots"] == 2
    assert r["approvals"] == {ids["Ada"]: 0, ids["Cid"]: 2, ids["Dov"]: 1}
    assert [x["name"] for x in r["elected"]] == ["Cid", "Dov"]
    assert r["seed"] == seed_from(e2)
    st, cur = await call(server, "GET", "/api/council")
    assert [m["name"] for m in cur["members"]] == ["Cid", "Dov"] and cur["left"] == []
    st, err = await call(server, "POST", E, server.secretariat,
                         {"title": "Council 3", "seats": 2, "candidates": [ids["Bea"], ids["Ada"]]})
    assert st == 409 and err["error"]["field"] == "candidates[1]"
    # rotation: Cid sat on Council 2 only, Bea on Council 1 only; a third Council, then Cid and Dov
    # (on Councils 2 and 3 in a row) sit the fourth out
    st, e3 = await call(server, "POST", E, server.secretariat,
                        {"title": "Council 3", "seats": 2, "candidates": [ids["Cid"], ids["Dov"]]})
    assert st == 201
    for n in ("Bea", "Cid"):
        await approve(server, e3["id"], ds[n], [ids["Cid"], ids["Dov"]])
    await call(server, "POST", f"{E}/{e3['id']}/close", server.secretariat)
    st, err = await call(server, "POST", E, server.secretariat,
                         {"title": "Council 4", "seats": 2, "candidates": [ids["Bea"], ids["Dov"]]})
    assert st == 409 and err["error"]["field"] == "candidates[1]" and "rotation" in err["error"]["reason"]


async def test_bad_inputs_name_the_field(server):
    ds = await delegates(server, ["Ada", "Bea"])
    a, b = ds["Ada"]["id"], ds["Bea"]["id"]
    good = {"title": "Council", "seats": 1, "candidates": [a, b]}
    for body, field in (({**good, "title": ""}, "title"), ({**good, "seats": 0}, "seats"),
                        ({**good, "seats": "two"}, "seats"), ({**good, "candidates": []}, "candidates"),
                        ({**good, "candidates": [a, a]}, "candidates[1]"),
                        ({**good, "candidates": [a, "d-nobody"]}, "candidates[1]"),
                        ({**good, "term_ends": "next June"}, "term_ends"),
                        ({**good, "term_ends": "2001-01-01"}, "term_ends"), ({**good, "seat": 1}, "seat")):
        st, err = await call(server, "POST", E, server.secretariat, body)
        assert st == 400 and err["error"]["field"] == field, (body, err)
    st, err = await call(server, "POST", E, server.secretariat, {**good, "item": "i-nothing"})
    assert st == 404 and err["error"]["field"] == "item"
    assert (await call(server, "POST", E, None, good))[0] == 401
    assert (await call(server, "POST", E, bearer(ds["Ada"]["token"]), good))[0] == 403
    st, e = await call(server, "POST", E, server.secretariat, good)
    assert st == 201
    path = f"{E}/{e['id']}/approvals"
    for body, field in (({"approve": [a, b]}, "approve"), ({"approve": ["d-nobody"]}, "approve[0]"),
                        ({"approve": a}, "approve"), ({}, "approve"), ({"approve": [], "why": 1}, "why")):
        st, err = await call(server, "POST", path, bearer(ds["Ada"]["token"]), body)
        assert st == 400 and err["error"]["field"] == field, (body, err)
    assert (await call(server, "POST", path, server.secretariat, {"approve": [a]}))[0] == 403
    st, err = await call(server, "POST", f"{E}/ce-nothing/approvals", bearer(ds["Ada"]["token"]), {"approve": []})
    assert st == 404 and err["error"]["field"] == "id"
    assert (await call(server, "GET", f"{E}/ce-nothing"))[0] == 404
    assert (await call(server, "POST", f"{E}/ce-nothing/close", server.secretariat))[0] == 404


async def test_the_council_api_is_described(server):
    st, spec = await call(server, "GET", "/api/openapi.json")
    for path, methods in ((E, {"get", "post"}), (f"{E}/{{id}}", {"get"}), (f"{E}/{{id}}/approvals", {"post"}),
                          (f"{E}/{{id}}/close", {"post"}), ("/api/council", {"get"})):
        assert methods <= set(spec["paths"][path]), path


@pytest.mark.browser
async def test_the_council_on_its_live_page_fits_a_phone(server, browser):
    import os
    from pathlib import Path

    shots = Path(os.environ.get("COUNCILCAST_SCREENSHOTS") or server.config.data_path.parent / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    names = ["Maria Konstantinopoulou-Wojciechowska", "Bea", "Jean-Baptiste de la Salle-Tournefort"]
    ds = await delegates(server, names)
    st, e = await call(server, "POST", E, server.secretariat,
                       {"title": "The Central Council", "seats": 3, "candidates": [d["id"] for d in ds.values()],
                        "term_ends": "2099-06-30"})
    for d in ds.values():
        await approve(server, e["id"], d, [x["id"] for x in ds.values()])
    await call(server, "POST", f"{E}/{e['id']}/close", server.secretariat)
    page = await browser.new_page(viewport={"width": 360, "height": 740})
    await page.goto(server.api("/live/council"))
    links = page.locator("[data-council] li a")
    assert sorted(await links.all_inner_texts()) == sorted(names)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360
    await page.locator("[data-council]").scroll_into_view_if_needed()
    await page.screenshot(path=str(shots / "council_live_360.png"), full_page=True)
    await page.close()
