"""A token speaks only for its own subject: a delegate records no other delegate's roll-call vote."""

from __future__ import annotations

from tests.voting.helpers import bearer, register


async def test_a_delegate_cannot_record_another_delegates_roll_call_vote(server):
    s = server.session
    ga = await register(server, "GA", 40)
    delegates = []
    for name in ("R. Luxemburg", "K. Liebknecht"):
        async with s.post(server.api("/api/delegates"), headers=server.secretariat,
                          json={"name": name, "assemblies": [ga["id"]]}) as r:
            assert r.status == 201
            delegates.append(await r.json())
    mine, other = delegates
    async with s.post(server.api("/api/rollcalls"), headers=server.secretariat,
                      json={"title": "Adopt variant B", "options": ["yes", "no"]}) as r:
        assert r.status == 201, await r.text()
        rc = await r.json()
    votes = server.api(f"/api/rollcalls/{rc['id']}/votes")

    async with s.post(votes, headers=bearer(mine["token"]), json={"delegate": other["id"], "choice": "no"}) as r:
        assert r.status == 403
        assert (await r.json())["error"]["field"] == "delegate"
    async with s.get(server.api(f"/api/rollcalls/{rc['id']}")) as r:
        recorded = await r.json()
    assert recorded["votes"] == [] and recorded["totals"] == {"yes": 0, "no": 0, "abstain": 0}

    # their own vote still goes in, and the other delegate votes for themselves
    async with s.post(votes, headers=bearer(mine["token"]), json={"delegate": mine["id"], "choice": "yes"}) as r:
        assert r.status == 201
    async with s.post(votes, headers=bearer(other["token"]), json={"choice": "yes"}) as r:
        assert r.status == 201
    async with s.get(server.api(f"/api/rollcalls/{rc['id']}")) as r:
        recorded = await r.json()
    assert {v["delegate"]: v["choice"] for v in recorded["votes"]} == {mine["id"]: "yes", other["id"]: "yes"}
    assert recorded["totals"] == {"yes": 2, "no": 0, "abstain": 0}
