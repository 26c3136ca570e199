"""``serve --workers 2`` with viewers in both processes (issue 14's leftovers): a real
supervisor and its two processes on loopback, a real PostgreSQL (tests/pg.py), real aiortc
WHEP viewers, the processes' real Unix sockets.

- A channel's ``viewers`` are the people watching in every process, whichever process is
  asked; the fan-out processes' pulls are not viewers; a process that does not report makes
  the figure partial, not the request slow.
- A WHEP POST that reaches the fan-out process before its copy of the channel is up is
  answered 409 with Retry-After; the same POST succeeds once the copy is up.
- Process 0 killed and started again by the supervisor: the fan-out process drops its copy
  of a programme that is gone (no join onto a dead copy), pulls the channel again once it is
  live, and new viewers there join and decode.

The tests run in order on one supervisor (module scope); the last one kills process 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from broadcast.errors import RETRY_AFTER_S
from tests.broadcast.peers import Viewer, offer_pc
from tests.conftest import SECRETARIAT_TOKEN
from tests.councilcast.test_workers import SECRETARIAT, Supervised, _post_until_created, _stats, _who
from tests.polling import until

pytestmark = pytest.mark.slow

CAMERA = {"width": 320, "height": 180, "fps": 15}
assert SECRETARIAT["Authorization"].endswith(SECRETARIAT_TOKEN)


@pytest.fixture(scope="module")
def supervised(pg_cluster, tmp_path_factory):
    sv = Supervised(pg_cluster.new_database(), tmp_path_factory.mktemp("workers-viewers"))
    yield sv
    for pid in _stopped:  # a test that failed while a process was stopped
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    sv.stop()


_stopped: set[int] = set()


def _listening_socket(pid: int, name: str) -> str:
    """The path of the Unix socket ``name`` (``w0.sock``) that process ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            m = re.fullmatch(r"socket:\[(\d+)\]", os.readlink(fd))
        except OSError:
            continue
        if m:
            inodes.add(m.group(1))
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 8 and cols[6] in inodes and cols[7].endswith("/" + name) and cols[5] == "01":
            return cols[7]
    raise AssertionError(f"process {pid} listens on no {name}")


async def _channel(http: aiohttp.ClientSession, url: str, one: bool = False) -> tuple[int, dict, float]:
    """(index of the process that answered, central's info, seconds the answer took)."""
    t0 = time.monotonic()
    async with http.get(url + ("/api/channels/central" if one else "/api/channels")) as r:
        assert r.status == 200, await r.text()
        body = await r.json()
        took = time.monotonic() - t0
        info = body if one else next(c for c in body["channels"] if c["name"] == "central")
        return _who(r)[0], info, took


async def _camera(http: aiohttp.ClientSession, url: str) -> None:
    async with http.post(url + "/api/channels/central/camera", headers=SECRETARIAT, json=CAMERA) as r:
        assert r.status == 201, await r.text()
        assert (await r.json())["state"] == "live"


async def test_a_join_before_the_copy_is_up_is_409_with_retry_after_then_succeeds(supervised):
    """Process 1 is stopped (SIGSTOP) while the channel goes live at process 0, so its mirror
    cannot have seen the channel and its copy cannot be up when it reads the POST that waited
    in its socket: the answer is 409 with Retry-After. Meanwhile process 0 answers the channel
    at once, its figure partial (process 1's report is missing). Once process 1's copy is up,
    the same POST on the same connection is 201 and the viewer decodes."""
    pids = await supervised.pids()
    http0, http1 = await supervised.session_on(0), await supervised.session_on(1)
    viewer = None
    try:
        async def reported():  # process 1's first report, a second after it started at most
            _, info, _ = await _channel(http0, supervised.url)
            return not info["viewers_partial"] and info
        info = await until(reported, timeout=15, what="process 1's first viewer report")
        assert info["state"] == "idle" and info["viewers"] == 0 and info["viewers_by_worker"] == {"0": 0, "1": 0}

        os.kill(pids[1], signal.SIGSTOP)
        _stopped.add(pids[1])
        try:
            await _camera(http0, supervised.url)

            async def partial():  # process 1 has not reported for REPORT_STALE_S
                index, info, took = await _channel(http0, supervised.url)
                assert index == 0 and took < 1.0, took  # never waits for the stopped process
                return info["viewers_partial"] and info
            info = await until(partial, timeout=15, what="process 0 saying its figure is partial")
            assert info["viewers_by_worker"] == {"0": 0, "1": None} and info["viewers"] == 0
            _, one, took = await _channel(http0, supervised.url, one=True)
            assert one["viewers_partial"] is True and took < 1.0

            early = Viewer(supervised.url, "central")
            post = asyncio.ensure_future(early.start(http1))  # waits in process 1's socket
            await asyncio.sleep(0.5)
            assert not post.done()
        finally:
            os.kill(pids[1], signal.SIGCONT)
            _stopped.discard(pids[1])
        r = await asyncio.wait_for(post, 30)
        assert _who(r) == (1, pids[1])
        assert r.status == 409, (r.status, r.body_text)
        assert r.headers["Retry-After"] == str(RETRY_AFTER_S)
        error = json.loads(r.body_text)["error"]
        assert error["field"] == "channel" and error["reason"].endswith("is idle: nothing on air yet")

        viewer, r = await _post_until_created(http1, supervised.url, "a WHEP viewer answered by process 1")
        assert _who(r) == (1, pids[1]) and r.headers["Location"].startswith("/whep/central/w1.")
        frames = await viewer.frames(5, timeout=30)
        assert {(f.width, f.height) for f in frames} == {(320, 180)}
        s1 = await _stats(http1, supervised.url)
        assert s1["worker"] == 1 and s1["channels"]["central"]["source"] == "relay"

        async def whole():  # process 1 reports again: the figure is whole, its viewer in it
            _, info, _ = await _channel(http0, supervised.url)
            return not info["viewers_partial"] and info["viewers"] == 1 and info
        info = await until(whole, timeout=15, what="the figure whole again, with process 1's viewer")
        assert info["viewers_by_worker"] == {"0": 0, "1": 1}
    finally:
        if viewer is not None:
            await viewer.stop(http1)
        await http0.close()
        await http1.close()


class _ForgedCopy(Viewer):
    """A client that claims, over TCP, to be a fan-out process's pull."""

    async def start(self, session, kinds=("video", "audio")):
        self.pc = await offer_pc(kinds)
        async with session.post(self.url, data=self.pc.localDescription.sdp,
                                headers={"Content-Type": "application/sdp", "X-Councilcast-Copy": "1"}) as r:
            r.body_text = await r.text()
            if r.status == 201:
                self.location = self.base + r.headers["Location"]
                await self.pc.setRemoteDescription(RTCSessionDescription(r.body_text, "answer"))
            return r


async def test_viewers_are_counted_in_every_process_whichever_answers(supervised):
    """Two viewers at process 0 (one of them claiming, over TCP, to be a copy: it is a viewer)
    and one at process 1: 3 viewers, whichever process is asked, by /api/channels and by
    /api/channels/central, while process 0 holds 3 WHEP sessions (its 2 viewers and process 1's
    pull). Each leave takes one off, wherever it was."""
    pids = await supervised.pids()
    http0, http1 = await supervised.session_on(0), await supervised.session_on(1)
    at0, at1 = [], []
    try:
        _, info, _ = await _channel(http0, supervised.url)
        if info["state"] != "live":
            await _camera(http0, supervised.url)
        for cls in (Viewer, _ForgedCopy):
            viewer = cls(supervised.url, "central")
            r = await viewer.start(http0)
            assert r.status == 201 and _who(r)[0] == 0, (r.status, r.body_text)
            assert "X-Councilcast-Live-Since" not in r.headers  # only a real pull is told its programme
            at0.append(viewer)
        viewer, r = await _post_until_created(http1, supervised.url, "a WHEP viewer answered by process 1")
        at1.append(viewer)
        for v in at0 + at1:  # connected: each decodes
            assert len(await v.frames(3, timeout=30)) == 3

        async def counted(want: int, by: dict):
            for http, index in ((http0, 0), (http1, 1)):
                for one in (False, True):
                    answered, info, _ = await _channel(http, supervised.url, one)
                    if (info["viewers"], info["viewers_by_worker"], info["viewers_partial"]) != (want, by, False):
                        return False
            return True
        await until(lambda: counted(3, {"0": 2, "1": 1}), timeout=15, what="3 viewers, asked of either process")
        s0 = await _stats(http1, supervised.url, worker=0)
        assert s0["sessions"]["whep"] == 3  # process 0's 2 viewers and process 1's pull, which is no viewer
        assert s0["connected"]["whep"] == 3
        assert (await _stats(http1, supervised.url))["sessions"]["whep"] == 1

        assert await at1.pop().stop(http0) == 200  # process 1's viewer leaves, through process 0
        await until(lambda: counted(2, {"0": 2, "1": 0}), timeout=15, what="2 viewers after process 1's left")
        for http in (http0, http1):  # a page's count before its player polls: 2 (process 0's own
            async with http.get(supervised.url + "/live") as r:  # sessions are 3: its 2 and the pull)
                assert r.status == 200
                page = await r.text()
            assert re.search(r'<span data-role="viewers">2</span> watching', page), _who(r)
        assert await at0.pop().stop(http1) == 200  # one of process 0's, through process 1
        await until(lambda: counted(1, {"0": 1, "1": 0}), timeout=15, what="1 viewer after process 0's left")
        assert pids == await supervised.pids()
    finally:
        for v in at0:
            await v.stop(http0)
        for v in at1:
            await v.stop(http1)
        await http0.close()
        await http1.close()


async def test_the_viewer_report_is_the_processes_own_and_checks_its_input(supervised):
    """The report route exists only on process 0's Unix socket: over TCP it is 404 from either
    process; over the socket, bad input is a 4xx naming the field."""
    pids = await supervised.pids()
    for index in (0, 1):
        http = await supervised.session_on(index)
        try:
            async with http.put(supervised.url + "/api/broadcast/workers/1/viewers",
                                json={"channels": {"central": 1000}}) as r:
                assert r.status == 404 and _who(r)[0] == index
        finally:
            await http.close()
    path = _listening_socket(pids[0], "w0.sock")
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path)) as unix:
        url = "http://media/api/broadcast/workers/{}/viewers"
        for worker, body, status, field in (("1", {"channels": {"central": -1}}, 400, "channels"),
                                            ("1", {"channels": ["central"]}, 400, "channels"),
                                            ("1", {"channels": {"central": True}}, 400, "channels"),
                                            ("1", {}, 400, "channels"),
                                            ("7", {"channels": {}}, 404, "worker"),
                                            ("0", {"channels": {}}, 404, "worker"),
                                            ("x", {"channels": {}}, 404, "worker")):
            async with unix.put(url.format(worker), json=body) as r:
                assert r.status == status, (worker, body, r.status, await r.text())
                assert (await r.json())["error"]["field"] == field
        async with unix.put(url.format("1"), data=b"{not json", headers={"Content-Type": "application/json"}) as r:
            assert 400 <= r.status < 500


async def test_after_process_0_is_killed_the_copy_comes_back_and_new_viewers_join(supervised):
    """Process 0 (the media) is killed while process 1 serves a viewer from its copy. Process 1
    drops the copy (its programme is gone) instead of taking joins onto it: its viewer is ended
    and a new POST is 409. The supervisor starts process 0 again; once the channel is live
    there again, process 1's copy comes back and a new viewer joins there and decodes."""
    pids = await supervised.pids()
    http1 = await supervised.session_on(1)
    viewers = []
    try:
        _, info, _ = await _channel(http1, supervised.url)
        if info["state"] != "live":
            await _camera(http1, supervised.url)
        viewer, r = await _post_until_created(http1, supervised.url, "a WHEP viewer answered by process 1")
        viewers.append(viewer)
        assert len(await viewer.frames(3, timeout=30)) == 3
        live_since = (await _stats(http1, supervised.url))["channels"]["central"]["live_since"]

        os.kill(pids[0], signal.SIGKILL)

        async def copy_dropped():  # process 1's own figures, answered by itself
            s1 = await _stats(http1, supervised.url)
            return s1["channels"]["central"]["state"] != "live" and s1["sessions"]["whep"] == 0
        await until(copy_dropped, timeout=10, what="process 1 dropping its copy of the dead programme")
        late = Viewer(supervised.url, "central")
        r = await late.start(http1)
        assert r.status == 409 and r.headers["Retry-After"], (r.status, r.body_text)

        async def back():
            try:
                pid = (await supervised.pids(want=2, timeout=5))[0]
            except AssertionError:
                return False
            return pid != pids[0] and pid
        new0 = await until(back, timeout=90, what="process 0 started again", every=0.2)
        assert f"worker 0 (pid {pids[0]}) exited with signal 9" in supervised.output()

        async def camera():
            async with http1.post(supervised.url + "/api/channels/central/camera", headers=SECRETARIAT,
                                  json=CAMERA) as r:
                return r.status == 201
        await until(camera, timeout=60, what="the camera on air at the new process 0", every=0.25)
        on_air = time.monotonic()
        viewer, r = await _post_until_created(http1, supervised.url, "a new viewer at process 1 after the restart")
        viewers.append(viewer)
        assert _who(r) == (1, pids[1])
        copy_up_s = time.monotonic() - on_air
        frames = await viewer.frames(5, timeout=30)
        assert {(f.width, f.height) for f in frames} == {(320, 180)}
        s1 = await _stats(http1, supervised.url)
        assert s1["channels"]["central"]["live_since"] != live_since and s1["sessions"]["relay"] == 1
        assert copy_up_s < 5, copy_up_s  # the mirror reads process 0 every second and wakes the pull

        async def counted():
            _, info, _ = await _channel(http1, supervised.url)
            return info["viewers"] == 1 and info["viewers_by_worker"] == {"0": 0, "1": 1} and not info[
                "viewers_partial"]
        await until(counted, timeout=15, what="process 1's viewer counted by the new process 0")
        assert (await _stats(http1, supervised.url, worker=0))["sessions"]["whep"] == 1  # the pull alone
        assert new0 != pids[0]
    finally:
        for v in viewers:
            await v.stop(http1)
        await http1.close()
