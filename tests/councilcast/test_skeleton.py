"""The frame every area plugs into: health, pages, errors, tokens, storage, CLI."""

import json
import sqlite3
import subprocess
import sys

import pytest

from councilcast import __version__
from councilcast.storage import Database


async def test_health_reports_version_and_database(server):
    async with server.session.get(server.api("/api/health")) as r:
        assert r.status == 200
        body = await r.json()
    assert body["status"] == "ok"
    assert body["version"] == __version__
    assert body["database"]["engine"] == "sqlite"
    assert body["database"]["path"].endswith("councilcast.db")
    assert body["database"]["schema"]["core"] >= 1


async def test_home_page_is_html_without_javascript(server):
    async with server.session.get(server.url + "/") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
        html = await r.text()
    assert "<h1>The linked assemblies</h1>" in html
    assert 'name="viewport"' in html
    assert "/static/css/site.css" in html
    async with server.session.get(server.url + "/static/css/site.css") as r:
        assert r.status == 200


async def test_unknown_page_is_html_404_and_unknown_api_is_json_404(server):
    async with server.session.get(server.url + "/no/such/page", headers={"Accept": "text/html"}) as r:
        assert r.status == 404
        assert "Not found" in await r.text()
    async with server.session.get(server.api("/api/no-such-thing")) as r:
        assert r.status == 404
        body = await r.json()
    assert set(body["error"]) == {"field", "reason"}


async def test_openapi_lists_health(server):
    async with server.session.get(server.api("/api/openapi.json")) as r:
        doc = await r.json()
    assert doc["openapi"].startswith("3.")
    assert "/api/health" in doc["paths"]


async def test_wrong_method_is_json_405(server):
    async with server.session.delete(server.api("/api/health")) as r:
        assert r.status == 405
        assert (await r.json())["error"]["reason"]


async def test_tokens_are_stored_hashed_and_checked(server):
    from councilcast.appkeys import AUTH, DB

    auth = server.app[AUTH]
    token, rec = await auth.issue("clerk", "ga-1")
    raw = await server.app[DB].read(lambda c: [tuple(r) for r in c.execute("SELECT * FROM tokens")])
    assert all(token not in str(row) for row in raw)
    assert (await auth.lookup(token)).subject == "ga-1"
    new, _ = await auth.rotate("clerk", "ga-1")
    assert await auth.lookup(token) is None
    assert (await auth.lookup(new)).role == "clerk"


def test_group_commit_batches_and_isolates_failures(tmp_path):
    import asyncio

    db = Database(tmp_path / "g.db")
    db.open()
    db.write_sync(lambda c: c.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)"))

    async def burst():
        def ins(i):
            def f(c):
                if i == 7:
                    raise ValueError("bad write")
                c.execute("INSERT INTO t VALUES (?)", (i,))
                return i
            return f
        return await asyncio.gather(*(db.write(ins(i)) for i in range(200)), return_exceptions=True)

    results = asyncio.run(burst())
    assert isinstance(results[7], ValueError)
    assert [r for r in results if not isinstance(r, Exception)] == [i for i in range(200) if i != 7]
    count = db.read_sync(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0])
    assert count == 199
    assert db.commits < 200  # concurrent writes shared transactions
    assert db.read_sync(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    db.close()


def test_cli_version_and_help():
    out = subprocess.run([sys.executable, "-m", "councilcast", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"councilcast {__version__}"
    out = subprocess.run([sys.executable, "-m", "councilcast", "--help"], capture_output=True, text=True)
    assert "serve" in out.stdout and "demo" in out.stdout


def test_serve_creates_database_prints_token_once_and_answers(server_process, tmp_path):
    db = tmp_path / "fresh.db"
    sp = server_process(db, env={"COUNCILCAST_SECRETARIAT_TOKEN": "", "COUNCILCAST_STUDIO_TOKEN": ""})
    env = dict(sp.env)
    env.pop("COUNCILCAST_SECRETARIAT_TOKEN")
    env.pop("COUNCILCAST_STUDIO_TOKEN")
    sp.env = env
    seconds = sp.start()
    assert db.exists()
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert c.execute("SELECT COUNT(*) FROM tokens WHERE role='secretariat'").fetchone()[0] == 1
    sp.stop()
    first = sp.proc.stdout.read().decode()
    assert "secretariat token (shown once" in first
    sp.start()
    sp.stop()
    second = sp.proc.stdout.read().decode()
    assert "secretariat token" not in second  # printed once, at first start only
    assert seconds < 20


async def test_read_json_reads_a_large_body_whole_and_refuses_a_too_large_one(server):
    """A body sent in many TCP segments is read to its end (not cut at what had arrived)."""
    import asyncio

    import aiohttp
    from aiohttp import web

    from councilcast.errors import read_json

    async def echo(request):
        data = await read_json(request, max_bytes=1 << 20)
        return web.json_response({"n": len(data["xs"])})

    app = web.Application(middlewares=server.app.middlewares)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    # Its own client session, closed before the runner's cleanup (which would otherwise
    # wait for the keep-alive connection).
    session = aiohttp.ClientSession()
    try:
        body = json.dumps({"xs": list(range(120_000))}).encode()  # about 0.8 MB

        async def slow_body():
            for i in range(0, len(body), 50_000):
                yield body[i:i + 50_000]
                await asyncio.sleep(0.005)

        async with session.post(f"http://127.0.0.1:{port}/echo", data=slow_body(),
                                       headers={"Content-Type": "application/json"}) as r:
            assert r.status == 200
            assert (await r.json()) == {"n": 120_000}
        big = json.dumps({"xs": list(range(200_000))}).encode()  # about 1.4 MB > 1 MB
        async with session.post(f"http://127.0.0.1:{port}/echo", data=big,
                                       headers={"Content-Type": "application/json"}) as r:
            assert r.status == 413
            assert (await r.json())["error"]["reason"].startswith("body larger than")
    finally:
        await session.close()
        await runner.cleanup()
