"""Relay mode: a second server pulls a channel from the origin over WHEP and serves it."""

import aiohttp
import pytest
from aiohttp import web

from councilcast.app import create_app
from councilcast.appkeys import BROADCASTER
from tests.broadcast.peers import Viewer
from tests.polling import until

pytestmark = pytest.mark.slow


async def test_relay_pulls_from_origin(server, make_config, tmp_path):
    async with server.session.post(server.url + "/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180}) as r:
        assert r.status == 201
    config = make_config(db=str(tmp_path / "relay.db"), data_dir=str(tmp_path / "relay-data"),
                         relay_origin=server.url, relay_channels="central")
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, config.host, config.port).start()
    relay_url = f"http://{config.host}:{config.port}"
    try:
        async with aiohttp.ClientSession() as http:
            async def relay_live():
                async with http.get(relay_url + "/api/channels/central") as r:
                    return (await r.json())["state"] == "live"
            await until(relay_live, timeout=20, what="the relay's channel live")  # a second or two, unloaded
            assert app[BROADCASTER].get("central").source == "relay"
            # The relay copies the origin's channel settings (title, companion).
            assert app[BROADCASTER].get("central").companion == "central-sign"
            # The origin sees the relay as one of its viewers.
            assert server.app[BROADCASTER].get("central").viewers
            v = Viewer(relay_url, "central")
            assert (await v.start(http)).status == 201
            frames = await v.frames(5, timeout=30)
            assert {(f.width, f.height) for f in frames} == {(320, 180)}
            await v.stop(http)
    finally:
        await runner.cleanup()
    # The relay hung up at the origin when it stopped.
    await until(lambda: not server.app[BROADCASTER].get("central").viewers, what="the relay gone from the origin")
