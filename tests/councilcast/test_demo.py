"""``councilcast demo`` as a whole: the areas work together in one session."""

import asyncio
import time

import aiohttp
from aiohttp import web

from councilcast.app import create_app


async def test_demo_puts_the_published_plan_variants_to_the_vote(make_config):
    config = make_config(demo=True)
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    url = f"http://{config.host}:{config.port}"
    try:
        async with aiohttp.ClientSession() as s:
            deadline = time.monotonic() + 60
            rounds = []
            while time.monotonic() < deadline and not rounds:
                async with s.get(url + "/api/rounds") as r:
                    rounds = (await r.json())["rounds"]
                await asyncio.sleep(0.5)
            assert rounds, "the demo opened no round within 60 s"
            first = min(rounds, key=lambda r: r["opens_at_ts"])
            async with s.get(url + "/api/plan/variant-sets/latest") as r:
                assert r.status == 200
                published = await r.json()
            names = [f"Variant {v['name']}" for v in published["variants"]]
            assert first["title"].startswith("Which variant of the plan?")
            assert first["options"] == names
            async with s.get(url + "/api/channels/central") as r:
                assert (await r.json())["state"] == "live"
    finally:
        await runner.cleanup()
