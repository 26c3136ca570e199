"""``councilcast serve --workers N`` (issue 15, many processes): real processes on one loopback
address, a real PostgreSQL (tests/pg.py), a real aiortc WHEP viewer.

One supervisor with two processes serves the module (starting one takes seconds on this
machine): process 0 holds the media; process 1 hands the broadcast routes to it but fans out
(issue 14): it pulls the live channels from process 0 and answers its own WHEP joins. Which process
a connection reaches is the kernel's choice (SO_REUSEPORT), so a test that needs process 1
opens connections until one lands there and then keeps to it (one connection per client
session); every answer names its process in ``X-Councilcast-Worker``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from councilcast.cli import main
from broadcast.synthetic import read_clock
from tests.broadcast.peers import Viewer
from tests.conftest import SECRETARIAT_TOKEN, free_port
from tests.polling import until

pytestmark = pytest.mark.slow

HEADER = "X-Councilcast-Worker"
SECRETARIAT = {"Authorization": f"Bearer {SECRETARIAT_TOKEN}"}


def _who(resp) -> tuple[int, int]:
    m = re.fullmatch(r"index=(\d+); pid=(\d+)", resp.headers[HEADER])
    return int(m.group(1)), int(m.group(2))


class Supervised:
    def __init__(self, db: str, folder: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / "output.txt"
        env = {**os.environ, "COUNCILCAST_SECRETARIAT_TOKEN": SECRETARIAT_TOKEN,
               "COUNCILCAST_DATA_DIR": str(folder / "data"), "COUNCILCAST_KEY_FILE": str(folder / "keys" / "ballot.key")}
        env.pop("COUNCILCAST_STUDIO_TOKEN", None)  # generated at first start: printed once, not once per process
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "councilcast", "serve", "--workers", "2",
                                          "--host", "127.0.0.1", "--port", str(self.port), "--db", db],
                                         env=env, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        """SIGTERM to the supervisor (it stops its processes), SIGKILL after 30 s."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def health(self) -> tuple[int, int]:
        """(index, pid) of the process one new connection reached."""
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            async with s.get(self.url + "/api/health", timeout=aiohttp.ClientTimeout(total=10)) as r:
                assert r.status == 200
                return _who(r)

    async def pids(self, want: int = 2, timeout: float = 90) -> dict[int, int]:
        """index -> pid, once ``want`` processes answered (new connections until they have)."""
        seen: dict[int, int] = {}

        async def both():
            if self.proc.poll() is not None:
                raise AssertionError(f"the supervisor exited ({self.proc.returncode}): {self.output()}")
            try:
                index, pid = await self.health()
                seen[index] = pid
            except (aiohttp.ClientError, OSError):
                pass
            return len(seen) >= want
        await until(both, timeout=timeout, what=f"{want} processes answering /api/health", every=0.02)
        return seen

    async def session_on(self, index: int) -> aiohttp.ClientSession:
        """A client session whose one connection reached process ``index``."""
        found: list[aiohttp.ClientSession] = []

        async def there():
            s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
            try:
                async with s.get(self.url + "/api/health") as r:
                    if _who(r)[0] == index:
                        found.append(s)
                        return True
            except (aiohttp.ClientError, OSError):
                pass
            await s.close()
            return False
        await until(there, timeout=30, what=f"a connection to process {index}", every=0.01)
        return found[0]


@pytest.fixture(scope="module")
def supervised(pg_cluster, tmp_path_factory):
    sv = Supervised(pg_cluster.new_database(), tmp_path_factory.mktemp("workers"))
    yield sv
    sv.stop()


async def test_two_processes_answer_on_one_address_and_tokens_print_once(supervised):
    pids = await supervised.pids()
    assert set(pids) == {0, 1} and pids[0] != pids[1]
    out = supervised.output()
    assert f"worker 0 of 2 (media, pid {pids[0]}) serving on {supervised.url}/" in out
    assert f"worker 1 of 2 (fan-out, pid {pids[1]}) serving on {supervised.url}/" in out
    assert re.search(rf"councilcast supervisor \(pid {supervised.proc.pid}\): 2 workers", out)
    assert out.count("studio token (shown once, keep it):") == 1  # the supervisor's, before the processes
    assert "secretariat token" not in out  # configured: nothing to show
    assert "postgres@" in out and "councilcast.db" not in out


def test_sqlite_with_two_workers_is_refused_naming_postgresql(tmp_path, capsys):
    db = tmp_path / "region.db"
    port = free_port()
    assert main(["serve", "--workers", "2", "--db", str(db), "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "PostgreSQL" in err and "postgresql://" in err and str(db) in err
    assert not db.exists()  # nothing started: no database, no listener
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


async def _post_until_created(http: aiohttp.ClientSession, url: str, what: str) -> tuple[Viewer, object]:
    """A WHEP viewer POSTed on ``http``'s connection until it is answered 201: a fan-out process
    answers 409 with Retry-After until its relay copy of the channel is up."""
    got: list = []

    async def created():
        viewer = Viewer(url, "central")
        r = await viewer.start(http)
        if r.status == 201:
            got.append((viewer, r))
            return True
        assert r.status == 409 and r.headers["Retry-After"], (r.status, r.body_text)
        return False
    await until(created, timeout=45, what=what, every=0.25)
    return got[0]


async def _stats(http: aiohttp.ClientSession, url: str, worker: int | None = None) -> dict:
    async with http.get(url + "/api/broadcast/stats" + ("" if worker is None else f"?worker={worker}")) as r:
        assert r.status == 200
        return await r.json()


async def test_whep_joins_are_answered_by_the_process_they_reach_and_session_urls_find_it(supervised):
    """Issue 14: every process fans out. Process 1 pulls the channel from process 0 as a
    forwarding relay and answers the WHEP POSTs that reach it from that copy; a session URL
    carries its process (``w1.``) and reaches it through any process."""
    pids = await supervised.pids()
    http0, http1 = await supervised.session_on(0), await supervised.session_on(1)
    viewers: list[Viewer] = []
    try:
        async with http1.post(supervised.url + "/api/channels/central/camera", headers=SECRETARIAT,
                              json={"width": 320, "height": 180, "fps": 15}) as r:
            assert r.status == 201, await r.text()  # the camera is process 0's, through process 1
            assert _who(r) == (1, pids[1]) and (await r.json())["state"] == "live"
        by = {}
        for index, http in ((0, http0), (1, http1)):
            viewer, r = await _post_until_created(http, supervised.url, f"a WHEP viewer answered by process {index}")
            viewers.append(viewer)
            assert _who(r) == (index, pids[index])
            assert re.fullmatch(rf"/whep/central/w{index}\.[A-Za-z0-9_-]{{32}}", r.headers["Location"])
            assert r.headers["Accept-Patch"] == "application/trickle-ice-sdpfrag"
            by[index] = viewer
        for viewer in viewers:  # each decodes the camera's frames, its clock readable
            frames = await viewer.frames(5, timeout=30)
            assert {(f.width, f.height) for f in frames} == {(320, 180)}
            assert all(read_clock(f) is not None for f in frames[-2:])

        s1 = await _stats(http1, supervised.url)  # process 1's own figures: its viewer and its pull
        assert s1["worker"] == 1 and s1["sessions"]["whep"] == 1 and s1["sessions"]["relay"] == 1
        assert s1["channels"]["central"]["state"] == "live" and s1["channels"]["central"]["source"] == "relay"
        assert s1["channels"]["central"]["program"] is not None
        s0 = await _stats(http1, supervised.url, worker=0)  # process 0's, asked through process 1
        assert s0["worker"] == 0 and s0["sessions"]["relay"] == 0
        assert s0["sessions"]["whep"] == 2  # its own viewer and process 1's pull
        assert s0["channels"]["central"]["source"] == "camera"
        async with http0.options(by[1].location) as r:
            assert r.status == 204 and r.headers["Allow"] == "OPTIONS, PATCH, DELETE"

        # Things that are process 0's, asked of process 1: the recording, the mirrored home page.
        async def in_progress():
            async with http1.get(supervised.url + "/api/recordings") as r:
                return [x for x in (await r.json())["recordings"] if x["in_progress"] and x["channel"] == "central"]
        await until(in_progress, timeout=20, what="the recording in progress, listed through process 1")

        async def on_air_here():
            async with http1.get(supervised.url + "/") as r:
                return _who(r)[0] == 1 and 'data-live-channel="central"' in await r.text()
        await until(on_air_here, timeout=20, what="process 1's home page showing central on air")

        # Process 1's session ended through a connection that reached process 0.
        location = by[1].location
        async with http0.delete(location) as r:
            assert r.status == 200 and _who(r)[0] == 0
        by[1].location = None
        async with http0.delete(location) as r:  # gone at process 1
            assert r.status == 404 and (await r.json())["error"]["reason"].startswith("no such session")
        assert (await _stats(http1, supervised.url))["sessions"]["whep"] == 0
        assert (await _stats(http0, supervised.url))["sessions"]["whep"] == 2  # process 1 still pulls
        async with http1.delete(by[0].location) as r:  # and process 0's, through process 1
            assert r.status == 200 and _who(r)[0] == 1
        by[0].location = None
        assert (await _stats(http0, supervised.url))["sessions"]["whep"] == 1
        async with http1.delete(supervised.url + "/whep/central/w7.nobody") as r:  # no such process
            assert r.status == 404
    finally:
        for viewer in viewers:
            await viewer.stop(http0)
        await http0.close()
        await http1.close()


async def test_a_killed_process_is_started_again_and_the_address_keeps_answering(supervised):
    pids = await supervised.pids()
    os.kill(pids[1], signal.SIGKILL)

    def gone():  # dead, its sockets closed (a zombie until the supervisor reaps it)
        try:
            return Path(f"/proc/{pids[1]}/stat").read_text().split(") ")[1][0] in "ZX"
        except (FileNotFoundError, IndexError):
            return True
    await until(gone, timeout=10, what="the killed process gone")
    answers: list[tuple[int, int]] = []

    async def back():
        answers.append(await supervised.health())  # every request answered: no error tolerated
        return any(i == 1 and p != pids[1] for i, p in answers)
    await until(back, timeout=90, what="process 1 started again", every=0.05)
    assert pids[1] not in {p for _, p in answers}
    assert f"worker 1 (pid {pids[1]}) exited with signal 9" in supervised.output()
    assert supervised.proc.poll() is None


async def test_sigterm_stops_the_supervisor_and_every_process(supervised):
    pids = await supervised.pids()
    supervised.proc.send_signal(signal.SIGTERM)
    await until(lambda: supervised.proc.poll() is not None, timeout=60, what="the supervisor's exit")
    assert supervised.proc.returncode == 0
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists()


def test_every_worker_says_demo_but_only_the_media_worker_runs_it():
    """The demo's camera, session and simulated assemblies run once (in worker 0); every
    worker's home page and /api/health still say the server runs the demo."""
    from councilcast.config import Config
    from councilcast.workers import Supervisor

    config = Config(db="postgresql://u@localhost/db", demo=True, workers=3)
    sup = Supervisor(config, 8080, "/tmp/cc")
    configs = [sup.worker_config(i) for i in range(3)]
    assert [c.demo for c in configs] == [True, True, True]
    assert [c.runs_demo for c in configs] == [True, False, False]
    assert configs[0].media_url is None and configs[1].media_url == configs[2].media_url == "unix:/tmp/cc/w0.sock"
    assert [c.extra["worker_index"] for c in configs] == [0, 1, 2]
    assert configs[2].extra["worker_sockets"] == ["/tmp/cc/w0.sock", "/tmp/cc/w1.sock", "/tmp/cc/w2.sock"]
    assert [sup.own_socket(i) for i in range(3)] == configs[0].extra["worker_sockets"]


def test_with_the_media_on_another_machine_no_process_fans_out():
    from councilcast.config import Config
    from councilcast.workers import Supervisor

    config = Config(db="postgresql://u@localhost/db", workers=2, media_url="http://10.0.0.10:8080")
    sup = Supervisor(config, 8080, "/tmp/cc")
    for i in range(2):
        c = sup.worker_config(i)
        assert c.media_url == "http://10.0.0.10:8080" and "worker_sockets" not in c.extra
        assert sup.own_socket(i) is None
