"""kill -9 in the middle of a burst of counts: every acknowledged count is there after a restart."""

import asyncio

import aiohttp
import pytest

from tests.conftest import SECRETARIAT_TOKEN
from tests.polling import until
from voting.audit import verify_export
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL

SEC = {"Authorization": f"Bearer {SECRETARIAT_TOKEN}"}


@pytest.mark.slow
async def test_every_acknowledged_count_survives_sigkill(server_process):
    sp = server_process()
    await asyncio.get_running_loop().run_in_executor(None, sp.start)
    n_ga = 300
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as s:
        async def reg(i):
            async with s.post(sp.url + "/api/assemblies", headers=SEC, json={"name": f"GA {i}", "members": 1000}) as r:
                assert r.status == 201
                return await r.json()
        gas = await asyncio.gather(*(reg(i) for i in range(n_ga)))
        async with s.post(sp.url + "/api/rounds", headers=SEC,
                          json={"title": "Q", "options": ["A", "B"], "duration_s": 600}) as r:
            rid = (await r.json())["id"]
        acked: dict[str, tuple[int, str, dict]] = {}  # assembly -> (version, receipt, body) of its latest 2xx
        failures = acks = 0
        kill_after = 400  # of 900 posts
        killed = asyncio.Event()

        async def post(ga, version):
            nonlocal failures, acks
            body = {"present": 900, "counts": {"A": 100 + version, "B": hash(ga["id"]) % 500}, "abstain": 7}
            try:
                async with s.post(f"{sp.url}/api/rounds/{rid}/tallies", json=body,
                                  headers={"Authorization": f"Bearer {ga['token']}"}) as r:
                    if r.status in (200, 201):
                        out = await r.json()
                        acks += 1
                        prev = acked.get(ga["id"])
                        if prev is None or out["version"] > prev[0]:
                            acked[ga["id"]] = (out["version"], out["receipt"], body)
                        if acks >= kill_after and not killed.is_set():
                            killed.set()
                    else:
                        failures += 1
            except (aiohttp.ClientError, ConnectionError):
                failures += 1

        async def burst():
            tasks = []
            for version in (1, 2, 3):
                for ga in gas:
                    tasks.append(asyncio.create_task(post(ga, version)))
            await asyncio.gather(*tasks)

        async def killer():
            await killed.wait()
            await asyncio.get_running_loop().run_in_executor(None, sp.kill, 9)

        await asyncio.gather(burst(), killer())
        assert sp.proc.returncode == -9
        assert kill_after <= acks < 900 and failures > 0  # the kill did land in the middle of the burst
        await asyncio.get_running_loop().run_in_executor(None, sp.start)
        async with s.post(f"{sp.url}/api/rounds/{rid}/close", headers=SEC) as r:
            assert r.status == 200, await r.text()
            res = (await r.json())["result"]
        async with s.get(f"{sp.url}/api/rounds/{rid}/audit") as r:
            export = await r.json()
    assert verify_export(export)["ok"]
    hashes = {rec["hash"] for rec in export["records"]}
    standing = {a["id"]: a for a in res["assemblies"]}
    for aid, (version, receipt, body) in acked.items():
        assert receipt in hashes  # every acknowledged count is in the chain
        assert standing[aid]["version"] >= version
    # and the totals re-add from the standing records
    assert res["totals"]["A"] == sum(a["counts"]["A"] for a in standing.values())


@pytest.mark.slow
async def test_round_that_closed_while_the_server_was_down_closes_at_its_time_on_restart(server_process):
    import time

    sp = server_process()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sp.start)
    async with aiohttp.ClientSession() as s:
        async with s.post(sp.url + "/api/assemblies", headers=SEC, json={"name": "G", "members": 10}) as r:
            ga = await r.json()
        async with s.post(sp.url + "/api/rounds", headers=SEC,
                          json={"title": "Q", "options": ["A", "B"], "duration_s": 1.5}) as r:
            rnd = await r.json()
        async with s.post(f"{sp.url}/api/rounds/{rnd['id']}/tallies", headers={"Authorization": f"Bearer {ga['token']}"},
                          json={"present": 9, "counts": {"A": 5, "B": 3}, "abstain": 1}) as r:
            assert r.status == 201
        await loop.run_in_executor(None, sp.kill, 9)
        await asyncio.sleep(max(0.0, rnd["closes_at_ts"] + 0.2 - time.time()))
        await loop.run_in_executor(None, sp.start)

        async def published():
            async with s.get(f"{sp.url}/api/rounds/{rnd['id']}") as r:
                got = await r.json()
            return got if got["state"] == "published" else None
        got = await until(published, what="the round published after the restart")
    assert got["state"] == "published" and got["result"]["totals"] == {"A": 5, "B": 3}
    assert got["closed_at"] == rnd["closes_at"]  # the scheduled time, not the restart's
