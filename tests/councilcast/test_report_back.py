"""The report-back sheet (issue 12): JSON, the printable page and the PDF carry the same numbers,
each from a published document (the round's result, the variant set's cards)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.councilcast.test_delegates_api import _published, call
from tests.voting.helpers import bearer, register, tally


async def _walk(server):
    """Two constituency assemblies (one workplace in the economy, one not), a decision on the
    published variants, different mandates, a roll call after the round."""
    st, pub = await call(server, "POST", "/api/plan/variant-sets", server.secretariat, {"parameters": {"select": 3}})
    assert st == 201, pub
    st, latest = await call(server, "GET", "/api/plan/variant-sets/latest")
    names = [f"Variant {v['name']}" for v in latest["variants"]]
    energy = await register(server, "Energy works no. 1 GA", 300, workplace="energy-001")
    clinic = await register(server, "Neighbourhood clinic GA", 40, workplace="clinic-on-the-corner")
    st, d = await call(server, "POST", "/api/delegates", server.secretariat,
                       {"name": "A. Pannekoek", "assemblies": [energy["id"], clinic["id"]]})
    st, s = await call(server, "POST", "/api/sessions", server.secretariat,
                       {"body": "central-assembly", "title": "Plenary of December"})
    st, item = await call(server, "POST", f"/api/sessions/{s['id']}/items", server.secretariat,
                          {"title": "Which variant of the plan?", "kind": "decision", "variant_set": "latest",
                           "duration_s": 5})
    assert st == 201, item
    for ga, option in ((energy, names[1]), (clinic, names[0])):
        st, m = await call(server, "POST", f"/api/delegates/{d['id']}/mandates", bearer(ga["token"]),
                           {"item": item["id"], "kind": "option", "option": option})
        assert st == 201, m
    st, later = await call(server, "POST", f"/api/sessions/{s['id']}/items", server.secretariat,
                           {"title": "Adopt the housing programme", "kind": "decision", "options": ["yes", "no"]})
    await call(server, "POST", f"/api/sessions/{s['id']}/open", server.secretariat)
    await call(server, "POST", f"/api/sessions/{s['id']}/items/{item['id']}/start", server.secretariat)
    rid = (await call(server, "GET", f"/api/sessions/{s['id']}"))[1]["agenda"][0]["rounds"][0]
    energy_counts = {names[0]: 40, names[1]: 200, **{n: 0 for n in names[2:]}}
    clinic_counts = {names[0]: 25, names[1]: 10, **{n: 0 for n in names[2:]}}
    assert (await tally(server, rid, energy["token"], {"present": 250, "counts": energy_counts, "abstain": 5}))[0] == 201
    assert (await tally(server, rid, clinic["token"], {"present": 36, "counts": clinic_counts, "abstain": 1}))[0] == 201
    await call(server, "POST", f"/api/rounds/{rid}/close", server.secretariat)
    r = await _published(server, rid)
    await call(server, "POST", f"/api/sessions/{s['id']}/items/{item['id']}/end", server.secretariat)
    st, rc = await call(server, "POST", "/api/rollcalls", server.secretariat, {"title": "Roll call", "item": item["id"]})
    st, _ = await call(server, "POST", f"/api/rollcalls/{rc['id']}/votes", bearer(d["token"]), {"choice": names[0]})
    assert st == 201
    return {"d": d, "energy": energy, "clinic": clinic, "round": r, "names": names, "set_id": pub["id"],
            "item": item, "later": later}


async def test_the_sheet_carries_the_decision_the_votes_and_every_workplaces_card(server, browser):
    w = await _walk(server)
    d, names, r = w["d"], w["names"], w["round"]
    st, sheet = await call(server, "GET", f"/api/delegates/{d['id']}/report")
    assert st == 200
    [session] = sheet["sessions"]
    [item] = session["items"]
    dec = item["decision"]
    assert dec["outcome"] == f"{names[1]} adopted" and dec["final_hash"] == r["result"]["final_hash"]
    assert dec["totals"] == {names[0]: 65, names[1]: 210, **{n: 0 for n in names[2:]}} == r["result"]["totals"]
    [vote] = item["votes"]
    assert vote["choice"] == names[0]
    assert {m["assembly_name"]: m["against"] for m in vote["mandates"]} == {"Energy works no. 1 GA": True,
                                                                           "Neighbourhood clinic GA": False}
    assert vote["shares"][names[1]] == pytest.approx(210 / 275)
    # the energy works' card is the published card of the adopted variant for its workplace
    key = names[1].removeprefix("Variant ")
    st, published = await call(server, "GET", f"/api/plan/variant-sets/{w['set_id']}/cards"
                                              f"?variant={key}&workplace=energy-001")
    assert st == 200 and published["variant"] == key  # one card: the card itself
    by_id = {x["assembly_id"]: x for x in sheet["workplaces"]}
    energy, clinic = by_id[w["energy"]["id"]], by_id[w["clinic"]["id"]]
    assert sheet["adopted"]["option"] == names[1], sheet["adopted"]
    assert energy["card"] is not None, energy
    assert energy["card"]["fields"] == published["fields"] and energy["card"]["input_hash"] == published["input_hash"]
    assert clinic["card"] is None and "not an enterprise of the planned economy" in clinic["note"]
    assert any("Adopt the housing programme" in q["text"] for q in sheet["open_questions"])
    # a later date leaves the session out; a bad date is refused naming the field
    st, empty = await call(server, "GET", f"/api/delegates/{d['id']}/report?since=2999-01-01")
    assert st == 200 and empty["sessions"] == []
    st, err = await call(server, "GET", f"/api/delegates/{d['id']}/report?since=yesterday")
    assert st == 400 and err["error"]["field"] == "since"

    # the PDF: its text (extracted by pypdf) carries the same numbers and hashes
    async with server.session.get(server.url + f"/delegates/{d['id']}/report.pdf") as resp:
        assert resp.status == 200 and resp.content_type == "application/pdf"
        pdf = PdfReader(io.BytesIO(await resp.read()))
    pages = [p.extract_text() for p in pdf.pages]
    text = "\n".join(pages).replace("\n", " ")
    for needle in (f"{names[1]} adopted", f"{names[0]} 65", f"{names[1]} 210", dec["final_hash"][:40],
                   "voted against this mandate", "Energy works no. 1 GA", "76% " + names[1],
                   "not an enterprise of the planned economy", published["input_hash"]):
        assert needle in text, needle
    [card_page] = [p.replace("\n", " ") for p in pages if "Energy works no. 1 GA: what the adopted" in p]
    for f in published["fields"]:  # every figure of the card, as published
        assert f["text"] in card_page, (f["key"], f["text"])
    assert len(pdf.pages) == 3  # the decisions, then one page per workplace

    # the printable page: the same, at 360 px and on A4
    shots = Path(os.environ.get("COUNCILCAST_SCREENSHOTS") or server.config.data_path.parent / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    page = await browser.new_page(viewport={"width": 360, "height": 740})
    await page.goto(server.url + f"/delegates/{d['id']}/report")
    body = await page.inner_text("main")
    for needle in (f"{names[1]} adopted", "voted against this mandate", published["fields"][0]["text"],
                   "not an enterprise of the planned economy", sheet["hash"]):
        assert needle in body, needle
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.screenshot(path=str(shots / "report_360.png"), full_page=True)
    await page.emulate_media(media="print")
    await page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    await page.screenshot(path=str(shots / "report_a4.png"), full_page=True)
    a4 = await page.pdf(format="A4", print_background=True)
    assert len(PdfReader(io.BytesIO(a4)).pages) >= 3  # each workplace begins a page


async def test_a_reported_sheet_starts_the_next_one(server):
    w = await _walk(server)
    d = w["d"]
    st, first = await call(server, "GET", f"/api/delegates/{d['id']}/report")
    assert len(first["sessions"]) == 1 and first["last_reported"] is None
    st, err = await call(server, "POST", f"/api/delegates/{d['id']}/report/reported", bearer(w["energy"]["token"]))
    assert st == 403  # a clerk cannot say the delegate reported
    st, rep = await call(server, "POST", f"/api/delegates/{d['id']}/report/reported", bearer(d["token"]))
    assert st == 201 and rep["sheet_hash"] == first["hash"] and rep["since"] == first["since"]
    st, nxt = await call(server, "GET", f"/api/delegates/{d['id']}/report")
    assert nxt["last_reported"] == rep["reported_at"] and nxt["sessions"] == []  # nothing new since
    assert nxt["since"] == rep["reported_at"][:10]
    st, again = await call(server, "GET", f"/api/delegates/{d['id']}/report?since={first['since']}")
    assert len(again["sessions"]) == 1  # an explicit date still shows the earlier sheet


async def test_the_sheets_hash_does_not_depend_on_the_address_asked_and_a_changed_sheet_is_not_recorded(server):
    """Found by an outside review: the Host header changed the hash (its links carry the address),
    and 'reported' recorded whatever the sheet was at the click, not the sheet read out."""
    w = await _walk(server)
    d = w["d"]
    hashes = set()
    for host in ("127.0.0.1", "councils.example"):
        async with server.session.get(server.api(f"/api/delegates/{d['id']}/report"), headers={"Host": host}) as r:
            sheet = await r.json()
        hashes.add(sheet["hash"])
        assert sheet["sessions"][0]["minutes"].startswith(f"http://{host}")
    assert len(hashes) == 1
    path = f"/api/delegates/{d['id']}/report/reported"
    st, err = await call(server, "POST", path, bearer(d["token"]), {"hash": "0" * 64})
    assert st == 409 and err["error"]["field"] == "hash"
    st, err = await call(server, "POST", path, bearer(d["token"]), {"hash": "short"})
    assert st == 400 and err["error"]["field"] == "hash"
    st, rep = await call(server, "POST", path, bearer(d["token"]), {"hash": hashes.pop()})
    assert st == 201
