"""Proposals, published variant sets, revisions and cards over the real server."""

import json
import re

import pytest

from councilcast.appkeys import AUTH
from councilcast.plan_cards import render_card
from planfactory.demo import demo_economy
from planfactory.formats import to_dict
from planfactory.pipeline import make_inputs, produce
from planfactory.summaries import FIELDS, card_dict
from planfactory.verify import verify_card, verify_document


@pytest.fixture
async def clerk(server):
    token, _ = await server.app[AUTH].issue("clerk", "assembly-7", "test clerk")
    return {"Authorization": f"Bearer {token}"}


async def post(server, path, body=None, headers=None):
    async with server.session.post(server.api(path), json=body if body is not None else {}, headers=headers or {}) as r:
        return r.status, await r.json()


async def test_proposals_need_a_clerk_and_record_the_assembly(server, clerk):
    e = demo_economy()
    ent = e.enterprises[5].id
    status, body = await post(server, "/api/plan/proposals", {"enterprise": ent, "output_change_percent": 10})
    assert status == 401
    status, body = await post(server, "/api/plan/proposals", {"enterprise": ent}, server.secretariat)
    assert status == 403
    status, body = await post(server, "/api/plan/proposals", {"enterprise": ent, "output_change_percent": 10,
                                                              "author": "someone else"}, clerk)
    assert status == 201, body
    assert body["author"] == "assembly-7" and body["enterprise"] == ent and body["id"] == "1"
    status, err = await post(server, "/api/plan/proposals", {"enterprise": "no-such-works"}, clerk)
    assert status == 400 and err["error"]["field"] == "enterprise"
    status, err = await post(server, "/api/plan/proposals", {"enterprise": ent, "equipment": {"Steel": -1}}, clerk)
    assert status == 400 and err["error"]["field"] == "equipment.Steel"
    async with server.session.get(server.api("/api/plan/proposals")) as r:
        listed = (await r.json())["proposals"]
    assert [p["id"] for p in listed] == ["1"]
    async with server.session.delete(server.api("/api/plan/proposals/1"), headers=clerk) as r:
        assert r.status == 200 and (await r.json())["withdrawn_at"] is not None
    async with server.session.get(server.api("/api/plan/proposals")) as r:
        assert (await r.json())["proposals"] == []


async def test_publish_cards_verify_and_revise(server, clerk):
    e = demo_economy()
    ents = e.enterprises
    for body in ({"enterprise": ents[5].id, "output_change_percent": 30},
                 {"enterprise": ents[120].id, "output_change": 10, "hours_change": 1}):
        assert (await post(server, "/api/plan/proposals", body, clerk))[0] == 201
    status, check = await post(server, "/api/plan/proposals/check")
    assert status == 200 and "incompatible_sets" in check and len(check["unintended_effects"]) == 2
    assert (await post(server, "/api/plan/variant-sets", {"parameters": {"select": 4}}, clerk))[0] == 403
    status, err = await post(server, "/api/plan/variant-sets", {"parameters": {"select": "many"}}, server.secretariat)
    assert status == 400 and err["error"]["field"] == "parameters"
    status, pub = await post(server, "/api/plan/variant-sets", {"parameters": {"select": 4}}, server.secretariat)
    assert status == 201, pub
    assert 3 <= len(pub["variants"]) <= 4 and pub["proposals"] == 2
    async with server.session.get(server.api(f"/api/plan/variant-sets/{pub['id']}")) as r:
        doc = await r.json()
    assert doc["input_hash"] == pub["input_hash"] and verify_document(doc)["ok"]
    wid = ents[120].id
    async with server.session.get(server.api(f"/api/plan/variant-sets/latest/cards"),
                                  params={"variant": "A", "workplace": wid}) as r:
        card = await r.json()
    assert card["workplace"]["id"] == wid and card["input_hash"] == doc["input_hash"]
    assert verify_card(card, doc)["ok"]
    async with server.session.get(server.api("/api/plan/variant-sets/latest/cards"),
                                  params={"workplace": wid, "format": "text"}) as r:
        text = await r.text()
    assert text.count("Variant ") == len(pub["variants"])
    async with server.session.get(server.api("/api/plan/variant-sets/latest/cards"),
                                  params={"variant": "B", "format": "html"}) as r:
        html = await r.text()
    assert html.count('class="plan-card"') == len(e.enterprises)
    async with server.session.get(server.api("/api/plan/variant-sets/latest/cards"), params={"variant": "Z"}) as r:
        assert r.status == 404 and (await r.json())["error"]["field"] == "variant"
    # pages
    for path in ("/plan/variants", "/plan/variants/A", f"/plan/workplaces/{wid}"):
        async with server.session.get(server.url + path) as r:
            assert r.status == 200, path
            page = await r.text()
        assert "cards.css" in page
    # revision: the coefficient department halves the energy used per unit of steel
    d = to_dict(e)
    steel, energy = e.sectors.index("Steel"), e.sectors.index("Energy")
    d["technical_coefficients"][energy][steel] *= 0.5
    status, rev = await post(server, "/api/plan/variant-sets/revise", {"economy": d}, server.secretariat)
    assert status == 201, rev
    assert rev["kind"] == "revision" and rev["previous_id"] == pub["id"] and rev["variants"] == pub["variants"]
    assert all(c["comparable"] and c["workplaces_changed"] > 0 for c in rev["changes"])
    async with server.session.get(server.api("/api/plan/variant-sets/latest/cards"),
                                  params={"variant": "A", "workplace": ents[0].id}) as r:
        card = await r.json()
    f = {x["key"]: x for x in card["fields"]}
    assert ents[0].sector == energy and f["sector_output"]["change_previous"] < 0
    async with server.session.get(server.api("/api/plan/variant-sets")) as r:
        sets = (await r.json())["variant_sets"]
    assert [s["kind"] for s in sets] == ["revision", "publication"]


async def test_openapi_lists_the_routes(server):
    async with server.session.get(server.api("/api/openapi.json")) as r:
        paths = (await r.json())["paths"]
    assert "/api/plan/variant-sets/{id}/cards" in paths and "/api/plan/proposals" in paths


def _proposals_file(tmp_path):
    ents = demo_economy().enterprises
    p = tmp_path / "proposals.json"
    p.write_text(json.dumps([{"enterprise": ents[5].id, "output_change_percent": 30},
                             {"enterprise": ents[120].id, "output_change": 10, "hours_change": 1}]))
    return p


def test_cli_variants_then_verify_catches_a_changed_number(tmp_path, capsys):
    from councilcast.cli import main

    out = tmp_path / "doc.json"
    assert main(["plan", "variants", "demo", "--proposals", str(_proposals_file(tmp_path)), "--out", str(out)]) == 0
    assert "Variant A:" in capsys.readouterr().out
    assert main(["verify", str(out)]) == 0
    assert "OK: every number agrees" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    doc["cards"]["values"]["hours"][3][0] += 0.5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    assert main(["verify", str(bad)]) == 1
    assert "$.cards.values.hours[3][0]" in capsys.readouterr().out
    assert main(["plan", "summary", str(out), "--variant", "A", "--workplace", doc["cards"]["workplaces"][3]]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Variant A.") and len(text.split()) <= 150
    assert main(["plan", "proposals", "demo", str(_proposals_file(tmp_path)), "--json"]) == 0
    assert "incompatible_sets" in json.loads(capsys.readouterr().out)


async def test_verify_a_card_by_url(server, clerk, tmp_path):
    import asyncio

    from councilcast.cli import main

    ents = demo_economy().enterprises
    assert (await post(server, "/api/plan/proposals", {"enterprise": ents[9].id, "output_change": 5}, clerk))[0] == 201
    status, pub = await post(server, "/api/plan/variant-sets", {}, server.secretariat)
    assert status == 201
    url = f"{server.url}/api/plan/variant-sets/{pub['id']}/cards?variant=A&workplace={ents[9].id}"
    assert await asyncio.to_thread(main, ["verify", url]) == 0
    assert await asyncio.to_thread(main, ["verify", f"{server.url}/api/plan/variant-sets/latest"]) == 0


async def test_demo_publishes_a_first_variant_set(make_config):
    import asyncio

    import aiohttp
    from aiohttp import web

    from councilcast.app import create_app
    from councilcast.services.plan_variants import DEMO_PROPOSALS

    config = make_config(demo=True)
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(200):
                async with s.get(f"http://{config.host}:{config.port}/api/plan/variant-sets") as r:
                    sets = (await r.json())["variant_sets"]
                if sets:
                    break
                await asyncio.sleep(0.1)
            assert len(sets) == 1 and sets[0]["proposals"] == len(DEMO_PROPOSALS)
            async with s.get(f"http://{config.host}:{config.port}/plan/variants") as r:
                page = await r.text()
            assert "Variant" in page and "cannot hold together" in page
    finally:
        await runner.cleanup()


async def test_cli_submits_proposals_from_a_file(server, clerk, tmp_path, capsys):
    import asyncio

    from councilcast.cli import main

    token = clerk["Authorization"].split()[1]
    argv = ["plan", "proposals", "demo", str(_proposals_file(tmp_path)), "--json", "--submit", server.url,
            "--token", token]
    rc = await asyncio.to_thread(main, argv)
    assert rc == 0, capsys.readouterr()
    async with server.session.get(server.api("/api/plan/proposals")) as r:
        listed = (await r.json())["proposals"]
    assert [p["author"] for p in listed] == ["assembly-7", "assembly-7"]
    assert listed[0]["output_change"] == 30 and listed[0]["kind"] == "percent"


def _rows(server) -> dict:
    import sqlite3

    c = sqlite3.connect(f"file:{server.config.db}?mode=ro", uri=True)
    try:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("plan_proposals", "plan_variant_sets")}
    finally:
        c.close()


async def test_malformed_economy_and_parameters_are_400_and_publish_nothing(server, clerk):
    """An economy given as a string was read as a file path on the server (500 for a missing
    file, an EconomyError or TypeError uncaught in /proposals/check); parameters that are not
    an object raised AttributeError (500). Now 400 naming the field, nothing stored."""
    before = _rows(server)
    for path, headers in (("/api/plan/proposals/check", {}), ("/api/plan/variant-sets", server.secretariat)):
        for body, field in [({"economy": "/etc"}, "economy"), ({"economy": "no-such-file"}, "economy"),
                            ({"economy": [1, 2]}, "economy"), ({"economy": {"labour": [1]}}, "sectors"),
                            ({"parameters": [1]}, "parameters"), ({"parameters": "x"}, "parameters"),
                            ({"proposals": [{"enterprise": "x", "output_change_percent": 10 ** 400}]},
                             "proposals[0].output_change_percent")]:
            status, err = await post(server, path, body, headers)
            assert status == 400, (path, body, err)
            assert err["error"]["field"] == field, (path, body, err)
    assert _rows(server) == before
    async with server.session.get(server.api("/api/plan/variant-sets")) as r:
        assert (await r.json())["variant_sets"] == []


async def test_ids_too_large_for_sqlite_are_404(server):
    """Digits beyond SQLite's 64-bit INTEGER raised OverflowError in the query (500)."""
    huge = "9" * 30
    for method, path, headers in [("GET", f"/api/plan/variant-sets/{huge}", {}),
                                  ("GET", f"/api/plan/variant-sets/{huge}/cards", {}),
                                  ("DELETE", f"/api/plan/proposals/{huge}", server.secretariat)]:
        async with server.session.request(method, server.api(path), headers=headers) as r:
            assert r.status == 404, (path, await r.text())
            assert (await r.json())["error"]["field"] == "id"


# --------------------------------------------------------------------------- the HTML card (councilcast.plan_cards)
def test_html_card_holds_every_field_once():
    # moved from tests/planfactory/test_summaries.py with the HTML card (a template of the application)
    e = demo_economy()
    pr = produce(make_inputs(e, [], {"estimates": [{"row": "Energy", "col": "Steel", "low": 0.05, "high": 0.09}],
                                     "samples": 6}))
    card = card_dict(pr.cards, 0, 3)
    frag = render_card(card)
    keys = re.findall(r'data-key="([a-z_]+)"', frag)
    assert keys == [key for key, *_ in FIELDS]
    assert frag.count(card["rounding"]) == 1


GOLDEN_CARD = {
    "variant": "B", "workplace": {"id": "steel-001", "name": "Steel works no. 1", "sector": "Steel"},
    "fields": [{"key": "output", "label": "a. Output target of this workplace", "unit": "t a year", "text": "1.23 million",
                "text_range": "1.2 million to 1.3 million", "text_change": "+10.0%", "previous": 1.0,
                "text_change_previous": "\u00b10"},
               {"key": "growth", "label": "e. Growth of consumption per year", "unit": "%", "text": "1.7%",
                "text_range": None, "text_change": "\u22120.3 points", "previous": None,
                "text_change_previous": "no earlier version"},
               {"key": "hours_total", "label": "b. Hours worked in the economy", "unit": "hours a year",
                "text": "2.94 billion", "text_range": None, "text_change": "<&>", "previous": None,
                "text_change_previous": "no earlier version"}],
    "rounding": "Rounded: R.", "input_hash": "sha256:0123456789abcdef0123",
    "solver_version": "planfactory 0.2.0 (numpy 2, scipy 1)"}


def test_html_card_markup_is_unchanged():
    # the exact markup of the card before it became a template (planfactory.summaries.card_html)
    assert render_card(GOLDEN_CARD) == (
        '<article class="plan-card" data-variant="B" data-workplace="steel-001"><h3>Variant B · Steel works n'
        'o. 1</h3><p class="sector">Steel</p><table><tbody><tr data-key="output"><th scope="row" title="a. Ou'
        'tput target of this workplace">a. Output</th><td><span class="v">1.23 million</span> <span class="u"'
        '>t/year</span><br><span class="range">estimate 1.2 million to 1.3 million</span><br><span class="chg'
        '">+10.0% on today · ±0 since last</span></td></tr><tr data-key="growth"><th scope="row" title="e. Gr'
        'owth of consumption per year">e. Growth a year</th><td><span class="v">1.7%</span><br><span class="c'
        'hg">−0.3 points on today</span></td></tr><tr data-key="hours_total"><th scope="row" title="b. Hours '
        'worked in the economy">b. Hours, economy</th><td><span class="v">2.94 billion</span> <span class="u"'
        '>h/year</span><br><span class="chg">&lt;&amp;&gt; on today</span></td></tr></tbody></table><p class='
        '"rounding">Rounded: R.</p><p class="hash">inputs <code>0123456789ab</code> · planfactory 0.2.0</p></'
        'article>'
    )
    bare = {**GOLDEN_CARD, "fields": [{**f, "previous": None} for f in GOLDEN_CARD["fields"]], "solver_version": None}
    del bare["input_hash"]
    assert render_card(bare) == (
        '<article class="plan-card" data-variant="B" data-workplace="steel-001"><h3>Variant B · Steel works n'
        'o. 1</h3><p class="sector">Steel · no earlier published version</p><table><tbody><tr data-key="outpu'
        't"><th scope="row" title="a. Output target of this workplace">a. Output</th><td><span class="v">1.23'
        ' million</span> <span class="u">t/year</span><br><span class="range">estimate 1.2 million to 1.3 mil'
        'lion</span><br><span class="chg">+10.0% on today</span></td></tr><tr data-key="growth"><th scope="ro'
        'w" title="e. Growth of consumption per year">e. Growth a year</th><td><span class="v">1.7%</span><br'
        '><span class="chg">−0.3 points on today</span></td></tr><tr data-key="hours_total"><th scope="row" t'
        'itle="b. Hours worked in the economy">b. Hours, economy</th><td><span class="v">2.94 billion</span> '
        '<span class="u">h/year</span><br><span class="chg">&lt;&amp;&gt; on today</span></td></tr></tbody></'
        'table><p class="rounding">Rounded: R.</p><p class="hash">inputs <code></code> · </p></article>'
    )


BAD_PARAMETERS = [
    ({"status_quo": 5}, "parameters.status_quo"),
    ({"status_quo": {"foo": 1}}, "parameters.status_quo.foo"),
    ({"status_quo": {"hours_per_week": "x"}}, "parameters.status_quo.hours_per_week"),
    ({"estimates": [5]}, "parameters.estimates"),
    ({"estimates": 5}, "parameters.estimates"),
    ({"samples": "x"}, "parameters.samples"),
    ({"seed": "x"}, "parameters.seed"),
    ({"proposal_sets": "x"}, "parameters.proposal_sets"),
    ({"variants": 5}, "parameters.variants"),
    ({"variants": [{"x": 1}]}, "parameters.variants[0]"),
    ({"variants": [{"decision": {"hours_per_week": 38}}]}, "parameters.variants[0].decision"),
    ({"variants": [{"decision": {"hours_per_week": 38, "consumption_share": 0.6, "public_share": 0.2,
                                 "investment_share": 0.2}, "proposals": ["no-such"]}]}, "parameters.variants"),
    ({"growth": "x"}, "parameters.growth"),
    ({"growth": {"foo": 1}}, "parameters.growth.foo"),
    ({"growth": {"years": "x"}}, "parameters.growth.years"),
    ({"estimates": [{"matrix": "Q"}]}, "parameters.estimates[0].matrix"),
]


@pytest.mark.parametrize("parameters,field", BAD_PARAMETERS)
async def test_parameters_of_the_wrong_type_are_400_naming_them(server, parameters, field):
    """Regression (review of the layering redesign): once routes stopped mapping every
    ValueError, KeyError and TypeError to 400, these client inputs became 500s. Each is now
    checked by the plan factory and refused with its name; nothing is published."""
    paths = [("/api/plan/proposals/check", {}), ("/api/plan/variant-sets", server.secretariat)]
    if "no-such" in str(parameters) or "Q" in str(parameters):
        paths = paths[1:]  # the check reads neither pinned variants nor estimates: only publishing does
    for path, headers in paths:
        status, err = await post(server, path, {"parameters": parameters}, headers)
        assert (status, err["error"]["field"]) == (400, field), (path, parameters, err)
    async with server.session.get(server.api("/api/plan/variant-sets")) as r:
        assert (await r.json())["variant_sets"] == []


async def test_an_economy_without_workforce_is_400(server):
    from planfactory.demo import demo_economy
    from planfactory.formats import to_dict

    econ = to_dict(demo_economy())
    econ.pop("workforce", None)
    status, err = await post(server, "/api/plan/proposals/check", {"economy": econ})
    assert status == 400 and err["error"]["field"] in ("economy.workforce", "workforce"), err
