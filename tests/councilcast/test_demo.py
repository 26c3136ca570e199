"""``councilcast demo`` as a whole: the areas work together in one session."""

import asyncio
import time

from councilcast.appkeys import STARTUP_NOTES
from tests.conftest import running_server


async def _get(s, url):
    async with s.get(url) as r:
        assert r.status == 200, url
        return await r.json()


async def test_the_demo_runs_a_session_to_an_adopted_variant_of_the_published_set(make_config):
    async with running_server(make_config(demo=True, demo_fast=True)) as srv:
        app, url, s = srv.app, srv.url, srv.session
        notes = "\n".join(app[STARTUP_NOTES])
        assert "clerk token: " in notes and "delegate token: " in notes and "{base}/live" in notes
        t0 = time.monotonic()
        plan_item = None
        while time.monotonic() - t0 < 150:  # --fast: about one minute from opening to adoption
            sessions = (await _get(s, url + "/api/sessions"))["sessions"]
            if sessions:
                first = await _get(s, url + f"/api/sessions/{min(sessions, key=lambda x: x['starts_at_ts'])['id']}")
                plan_item = next((i for i in first["agenda"] if i["title"] == "Which variant of the plan?"), None)
                if plan_item and plan_item["outcome"]:
                    break
            await asyncio.sleep(0.5)
        assert plan_item and plan_item["outcome"], "no variant decided within 150 s"
        elapsed = time.monotonic() - t0
        published = await _get(s, url + "/api/plan/variant-sets/latest")
        names = [f"Variant {v['name']}" for v in published["variants"]]
        rounds = [await _get(s, url + f"/api/rounds/{rid}") for rid in plan_item["rounds"]]
        assert rounds[0]["title"] == "Which variant of the plan?" and rounds[0]["options"] == names
        for r in rounds[1:]:  # a runoff between the first two of the round before it
            assert r["kind"] == "runoff" and set(r["options"]) <= set(names) and len(r["options"]) == 2
        final = rounds[-1]
        assert plan_item["outcome"]["round"] == final["id"]
        assert plan_item["outcome"]["final_hash"] == final["result"]["final_hash"]
        winner = plan_item["outcome"]["winner"]
        if winner is not None:  # adopted: a majority of the votes cast, by independent arithmetic
            totals = final["result"]["totals"]
            assert totals[winner] * 2 > sum(totals.values())
            assert plan_item["outcome"]["text"] == f"{winner} adopted"
        # every round of it was voted in by the simulated assemblies, counts and ballots
        for r in rounds:
            assert len(r["result"]["assemblies"]) >= 5, r["result"]
        # the report and the debate came first, each with its turns on the floor
        minutes = await _get(s, url + f"/api/sessions/{first['id']}/minutes")
        kinds = [i["kind"] for i in minutes["items"]]
        assert kinds[:3] == ["report", "debate", "decision"]
        assert [t["name"] for t in minutes["items"][0]["speakers"]] == ["Demo delegate M. Martin"]
        assert len(minutes["items"][1]["speakers"]) == 2
        assert all(t["kind"] == "assembly" for t in minutes["items"][1]["speakers"])
        assert elapsed < 120, f"the fast demo took {elapsed:.0f} s to decide"
        channel = await _get(s, url + "/api/channels/central")
        assert channel["state"] == "live"
