"""Relay mode: a second server pulls a channel from the origin over WHEP and serves it.

The relays forward the origin's encoded packets (broadcast/forward.py): the two-hop test
checks that the picture at the end of origin -> relay -> relay is the origin's camera (its
burnt-in clock, read by a viewer that decodes), that no relay decoded or encoded a frame,
that a keyframe asked for at the end of the tree travels up to the origin, and that only a
relay asked to record does.
"""

import threading
import time

import aiohttp
import pytest
from aiohttp import web

from broadcast.synthetic import read_clock
from councilcast.app import create_app
from councilcast.appkeys import BROADCASTER
from tests.broadcast.peers import Viewer
from tests.conftest import running_server
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


def decoder_threads() -> int:
    """aiortc's decoder threads alive in this process (one per receiving track that decodes)."""
    return sum(t.name.endswith("-decoder") and t.is_alive() for t in threading.enumerate())


async def test_two_hop_tree_forwards_the_origins_packets(server, make_config, tmp_path):
    async with server.session.post(server.url + "/api/channels/central/camera", headers=server.secretariat,
                                   json={"width": 320, "height": 180}) as r:
        assert r.status == 201
    origin = server.app[BROADCASTER]
    relay1 = make_config(db=str(tmp_path / "relay1.db"), data_dir=str(tmp_path / "relay1-data"),
                         relay_origin=server.url, relay_channels="central")
    async with running_server(relay1) as r1:
        relay2 = make_config(db=str(tmp_path / "relay2.db"), data_dir=str(tmp_path / "relay2-data"),
                             relay_origin=r1.url, relay_channels="central", relay_record=True)
        async with running_server(relay2) as r2:
            hops = [r1.app[BROADCASTER], r2.app[BROADCASTER]]

            def programs():
                return [b.get("central").program for b in hops]

            await until(lambda: all(p is not None and p.forwarded["video"] > 0 for p in programs()),
                        timeout=30, what="both relays forwarding the origin's frames")
            threads_before = decoder_threads()  # the relays' pulls decode nothing: no decoder thread
            assert threads_before == 0
            v = Viewer(r2.url, "central")
            assert (await v.start(r2.session)).status == 201
            frames = await v.frames(10, timeout=30)
            # the picture is the origin's camera: its size, and its clock stamped moments ago
            assert {(f.width, f.height) for f in frames} == {(320, 180)}
            stamps = [read_clock(f) for f in frames]
            assert all(s is not None for s in stamps), stamps
            assert all(0 <= time.time() * 1000 - s < 10_000 for s in stamps)
            assert stamps == sorted(stamps)
            assert decoder_threads() == 2  # the viewer's video and audio decoders, and no one else's
            audio = await v.frames(5, kind="audio", timeout=30)  # Opus forwarded too, and decodable
            assert all(f.sample_rate == 48_000 for f in audio)

            for p in programs():  # nothing decoded, nothing encoded, in either relay
                st = p.stats()
                assert st["mode"] == "forward"
                assert st["encoded"] == {"vp8": 0, "h264": 0} and st["encode_cpu_s"] == 0
                assert st["forwarded"]["video"] > 0 and st["forwarded"]["audio"] > 0
                assert st["upstream"]["gaps"] == 0
            assert origin.get("central").program.stats()["encoded"]["vp8"] > 0

            # A keyframe wanted at the end of the tree is asked of relay 1 and then of the origin
            # (an RTCP PLI per hop, each through its keyframe gate): the origin forces one.
            forced = origin.get("central").program.stats()["keyframes_forced"]["vp8"]
            plis = [p.upstream.plis for p in programs()]
            programs()[1].streams["vp8"].request_keyframe()
            await until(lambda: origin.get("central").program.stats()["keyframes_forced"]["vp8"] > forced,
                        timeout=20, what="the origin forcing a keyframe asked for two hops down")
            assert all(p.upstream.plis > n for p, n in zip(programs(), plis))

            # Only the relay asked to record records (relay 2 here); relay 1 does not.
            assert programs()[0].recorder is None
            await until(lambda: programs()[1].recorder is not None and programs()[1].recorder.video_frames > 0,
                        timeout=20, what="relay 2 recording the forwarded frames")
            await v.stop(r2.session)
