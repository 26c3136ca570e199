"""Shared fixtures: a real server on loopback, a real SQLite file, a real Chromium.

- ``server``: the application running in this test's event loop on a free port of
  127.0.0.1, with a fresh database in ``tmp_path``; talk to it with ``server.session``
  (an ``aiohttp.ClientSession``) or any HTTP/WebSocket/WebRTC client at ``server.url``.
- ``server_process``: a factory that starts ``python -m councilcast serve`` as a separate
  process (for tests that must kill -9 and restart it).
- ``browser``: headless Debian Chromium through Playwright (never Playwright's download).
- ``db_url``: the database a test's ``make_config`` (and so ``server``) uses: a fresh SQLite
  file here; a module that imports ``tests.pg.db_url_both`` runs on SQLite and on a throwaway
  PostgreSQL cluster (``pg_cluster``, ``tests/pg.py``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from councilcast.app import GENERATED_TOKENS, create_app
from councilcast.config import Config
from tests.pg import free_port, pg_cluster  # noqa: F401 - pg_cluster: the session's PostgreSQL, started when a test asks for it

SECRETARIAT_TOKEN = "test-secretariat-token"
STUDIO_TOKEN = "test-studio-token"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


@dataclass
class RunningServer:
    url: str
    app: web.Application
    config: Config
    session: aiohttp.ClientSession
    secretariat: dict = field(default_factory=dict)
    studio: dict = field(default_factory=dict)

    def api(self, path: str) -> str:
        return self.url + path


@pytest.fixture
def db_url(tmp_path) -> str:
    """This test's database: a fresh SQLite file (``tests.pg.db_url_both``: SQLite and PostgreSQL)."""
    return str(tmp_path / "councilcast.db")


@pytest.fixture
def make_config(tmp_path, db_url):
    def make(**kw) -> Config:
        kw.setdefault("db", db_url)
        kw.setdefault("host", "127.0.0.1")
        kw.setdefault("port", free_port())
        kw.setdefault("secretariat_token", SECRETARIAT_TOKEN)
        kw.setdefault("studio_token", STUDIO_TOKEN)
        kw.setdefault("data_dir", str(tmp_path / "data"))
        # the ballot key lives outside the database's directory, as in production
        kw.setdefault("key_file", str(tmp_path.parent / f"{tmp_path.name}-keys" / "ballot.key"))
        return Config(**kw)
    return make


@contextlib.asynccontextmanager
async def running_server(config: Config):
    """The app of ``config`` on its port (a test that needs its own settings), with a client session."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.host, config.port).start()
        async with aiohttp.ClientSession() as session:
            yield RunningServer(
                url=f"http://{config.host}:{config.port}", app=app, config=config, session=session,
                secretariat={"Authorization": f"Bearer {SECRETARIAT_TOKEN}"},
                studio={"Authorization": f"Bearer {STUDIO_TOKEN}"},
            )
    finally:
        await runner.cleanup()


@pytest.fixture
async def server(make_config):
    async with running_server(make_config()) as srv:
        yield srv


class ServerProcess:
    """``python -m councilcast serve`` in a child process, on a free port."""

    def __init__(self, db: Path | str, env: dict | None = None, args: list[str] | None = None):
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "COUNCILCAST_SECRETARIAT_TOKEN": SECRETARIAT_TOKEN,
                    "COUNCILCAST_STUDIO_TOKEN": STUDIO_TOKEN, **(env or {})}
        self.args = args or []
        self.proc: subprocess.Popen | None = None
        self.output = b""

    def start(self, timeout: float = 20) -> float:
        """Start and wait until /api/health answers; returns the seconds that took."""
        import urllib.request

        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "councilcast", "serve", "--host", "127.0.0.1",
             "--port", str(self.port), "--db", str(self.db), *self.args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stdout.read().decode()}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("server did not answer /api/health")

    def kill(self, sig: int = 9) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        self.kill(15)


@pytest.fixture
def server_process(tmp_path, db_url):
    started: list[ServerProcess] = []

    def make(db: Path | str | None = None, **kw) -> ServerProcess:
        sp = ServerProcess(db or db_url, **kw)
        started.append(sp)
        return sp

    yield make
    for sp in started:
        sp.kill(9)


@pytest.fixture
async def browser():
    """Headless Debian Chromium (Playwright's async API, since the server shares this loop)."""
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():  # scripts/test installs it; a run without it is a broken setup
        pytest.fail(f"{CHROMIUM} is missing: run scripts/test, which installs Debian's chromium")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()
