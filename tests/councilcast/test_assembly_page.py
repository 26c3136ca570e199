"""The assembly page puts the live session, the round, the delegates and the workplace's cards together."""

import re


async def register(server, **body):
    async with server.session.post(server.api("/api/assemblies"), headers=server.secretariat, json=body) as r:
        assert r.status == 201
        return await r.json()


async def test_assembly_page_shows_its_workplace_cards_and_delegates(server):
    steel = await register(server, name="Steel works no. 1 GA", members=300, workplace="steel-001")
    other = await register(server, name="Choir GA", members=20, workplace="not-an-enterprise")
    async with server.session.post(server.api("/api/delegates"), headers=server.secretariat,
                                   json={"name": "R. Luxemburg", "assemblies": [steel["id"]]}) as r:
        assert r.status == 201

    async with server.session.get(server.url + f"/assemblies/{steel['id']}") as r:
        assert r.status == 200
        html = await r.text()
    assert "Steel works no. 1 GA" in html and "R. Luxemburg" in html
    assert "published no variants yet" in html

    async with server.session.post(server.api("/api/plan/variant-sets"), headers=server.secretariat) as r:
        assert r.status in (200, 201)
    async with server.session.get(server.api("/api/plan/variant-sets/latest")) as r:
        names = [v["name"] for v in (await r.json())["variants"]]
    async with server.session.get(server.api("/api/plan/variant-sets/latest/cards"),
                                  params={"workplace": "steel-001"}) as r:
        cards = (await r.json())["cards"]
    assert len(cards) == len(names)

    async with server.session.get(server.url + f"/assemblies/{steel['id']}") as r:
        html = await r.text()
    # One card per published variant, rendered on the server (readable without JavaScript).
    shown = re.findall(r'<article class="plan-card" data-variant="([^"]+)" data-workplace="([^"]+)"', html)
    assert shown == [(name, "steel-001") for name in names]
    assert "data-live-round" in html

    async with server.session.get(server.url + f"/assemblies/{other['id']}") as r:
        assert "not an enterprise of the planned economy" in await r.text()
    async with server.session.get(server.url + "/assemblies/no-such-id") as r:
        assert r.status == 404
    async with server.session.get(server.url + "/assemblies") as r:
        assert f'href="/assemblies/{steel["id"]}"' in await r.text()
