"""Recordings through the real server: chapters from the sessions, the recording in progress, retention."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from types import SimpleNamespace

import pytest
from aiohttp import web

from broadcast.retention import Retention
from councilcast.app import create_app
from councilcast.appkeys import BROADCAST
from councilcast.storage import Database
from councilcast.stores import broadcast as store
from tests.polling import until
from tests.voting.helpers import bearer, register

DAY = 86400.0


async def call(server, method, path, headers=None, json=None):
    async with server.session.request(method, server.api(path), headers=headers or {}, json=json) as r:
        assert r.status < 300, (method, path, r.status, await r.text())
        return await r.json()


async def camera(server, channel="central"):
    await call(server, "POST", f"/api/channels/{channel}/camera", server.secretariat,
               {"width": 320, "height": 180, "fps": 15})


async def off_air(server, channel="central"):
    await call(server, "DELETE", f"/api/channels/{channel}/live", server.secretariat)


async def in_progress(server, timeout=15.0) -> dict:
    """The recording being written, once its first keyframe is in the file."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        recs = (await call(server, "GET", "/api/recordings"))["recordings"]
        live = [r for r in recs if r["in_progress"]]
        if live and live[0]["bytes"] > 0:
            return live[0]
        await asyncio.sleep(0.1)
    raise AssertionError("no recording in progress")


async def session_on(server, title, channel=None):
    sec = server.secretariat
    s = await call(server, "POST", "/api/sessions", sec,
                   {"body": "central-assembly" if channel is None else "central-council", "title": title,
                    **({"channel": channel} if channel else {})})
    await call(server, "POST", f"/api/sessions/{s['id']}/open", sec)
    return s


async def item(server, sid, title, kind="report"):
    return await call(server, "POST", f"/api/sessions/{sid}/items", server.secretariat, {"title": title, "kind": kind})


def vtt_ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def cues(text: str) -> list[tuple[str, str, str]]:
    """(start, end, title) of every cue of a WebVTT file."""
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    out = []
    for b in blocks[1:]:
        lines = b.split("\n")
        start, end = lines[1].split(" --> ")
        out.append((start, end, lines[2]))
    return out


@pytest.mark.slow
async def test_chapters_vtt_follows_the_items_and_turns_of_the_recording(server):
    sec = server.secretariat
    ga = await register(server, "Steel works no. 1 GA", 100)
    s = await session_on(server, "Plenary of December")
    sid = s["id"]
    i1 = await item(server, sid, "Report of the plan factory")
    i2 = await item(server, sid, "Debate on the variants", "debate")
    i3 = await item(server, sid, "Any other business")
    council = await session_on(server, "Council sitting", channel="council")  # another channel: not a chapter
    c1 = await item(server, council["id"], "Council's own item")
    await call(server, "POST", f"/api/sessions/{council['id']}/items/{c1['id']}/start", sec)
    await call(server, "POST", f"/api/sessions/{sid}/items/{i1['id']}/start", sec)  # before the recording starts
    await asyncio.sleep(0.2)
    await camera(server)
    live = await in_progress(server)
    await asyncio.sleep(0.4)
    await call(server, "POST", f"/api/sessions/{sid}/items/{i1['id']}/end", sec)
    await call(server, "POST", f"/api/sessions/{sid}/items/{i2['id']}/start", sec)
    await asyncio.sleep(0.2)
    ask = await call(server, "POST", f"/api/sessions/{sid}/speakers", bearer(ga["token"]), {})
    await call(server, "POST", f"/api/sessions/{sid}/speakers/{ask['id']}/grant", sec, {"seconds": 60})
    await asyncio.sleep(0.4)
    await call(server, "POST", f"/api/sessions/{sid}/speakers/{ask['id']}/done", sec)
    await asyncio.sleep(0.2)
    ask2 = await call(server, "POST", f"/api/sessions/{sid}/speakers", bearer(ga["token"]), {})
    await call(server, "POST", f"/api/sessions/{sid}/speakers/{ask2['id']}/grant", sec, {"seconds": 60})
    await asyncio.sleep(0.3)
    await off_air(server)  # item 2 and the second turn are still going on

    rec = next(r for r in (await call(server, "GET", "/api/recordings"))["recordings"] if r["id"] == live["id"])
    assert rec["in_progress"] is False and rec["chapters_vtt"] == f"/recordings/{rec['id']}/chapters.vtt"
    async with server.session.get(server.url + rec["chapters_vtt"]) as r:
        assert r.status == 200 and r.content_type == "text/vtt"
        first = await r.text()

    # What happened, from the minutes; the cue times are worked out here, independently.
    m = await call(server, "GET", f"/api/sessions/{sid}/minutes")
    items = {i["id"]: i for i in m["items"]}
    t0, t1 = rec["started_at"], rec["ended_at"]
    assert items[i1["id"]]["started_at_ts"] < t0  # the first item began before the recording
    turns = items[i2["id"]]["speakers"]
    assert [t["to_ts"] is None for t in turns] == [False, True]
    expected = [
        ("00:00:00.000", vtt_ts(items[i1["id"]]["ended_at_ts"] - t0), "Item 1: Report of the plan factory"),
        (vtt_ts(items[i2["id"]]["started_at_ts"] - t0), vtt_ts(t1 - t0), "Item 2: Debate on the variants"),
        (vtt_ts(turns[0]["from_ts"] - t0), vtt_ts(turns[0]["to_ts"] - t0), "Steel works no. 1 GA has the floor"),
        (vtt_ts(turns[1]["from_ts"] - t0), vtt_ts(t1 - t0), "Steel works no. 1 GA has the floor"),
    ]
    assert cues(first) == expected
    assert first.startswith("WEBVTT\n\n1\n")

    # After the recording: what ends later is cut at its end, what starts later is not in it.
    await call(server, "POST", f"/api/sessions/{sid}/speakers/{ask2['id']}/done", sec)
    await call(server, "POST", f"/api/sessions/{sid}/items/{i2['id']}/end", sec)
    await call(server, "POST", f"/api/sessions/{sid}/items/{i3['id']}/start", sec)
    async with server.session.get(server.url + rec["chapters_vtt"]) as r:
        assert cues(await r.text()) == expected

    # The JSON form: the same chapters with their #t= links into the replay page.
    view = await call(server, "GET", f"/api/recordings/{rec['id']}")
    assert [c["title"] for c in view["chapters"]] == [e[2] for e in expected]
    assert [c["kind"] for c in view["chapters"]] == ["item", "item", "speaker", "speaker"]
    second = view["chapters"][1]
    assert second["href"] == f"/recordings/{rec['id']}#t={items[i2['id']]['started_at_ts'] - t0:.1f}"
    assert abs(second["start"] - (items[i2["id"]]["started_at_ts"] - t0)) < 0.001
    async with server.session.get(server.url + rec["page"]) as r:
        page = await r.text()
    assert 'kind="chapters"' in page and f'src="/recordings/{rec["id"]}/chapters.vtt"' in page
    assert f'href="#t={items[i2["id"]]["started_at_ts"] - t0:.1f}"' in page
    assert "Council&#39;s own item" not in page and "Council's own item" not in page
    async with server.session.get(server.url + "/recordings/nope/chapters.vtt") as r:
        assert r.status == 404
    async with server.session.get(server.api("/api/recordings/nope")) as r:
        assert r.status == 404 and (await r.json())["error"]["field"] == "id"


@pytest.mark.slow
async def test_the_recording_in_progress_is_listed_and_keeps_its_id(server):
    s = await session_on(server, "Plenary of December")
    i1 = await item(server, s["id"], "Report of the plan factory")
    await camera(server)
    live = await in_progress(server)
    assert live["channel"] == "central" and live["in_progress"] is True
    await call(server, "POST", f"/api/sessions/{s['id']}/items/{i1['id']}/start", server.secretariat)

    async def grown():  # the muxer writes in bursts: wait for the next one rather than 1 s
        again = await in_progress(server)
        assert again["id"] == live["id"]  # the same recording ...
        return again if again["bytes"] > live["bytes"] and again["duration_s"] > live["duration_s"] else None
    await until(grown, what="the recording in progress growing")  # ... growing
    async with server.session.get(server.url + "/recordings") as r:
        html = await r.text()
    assert f'data-recording="{live["id"]}" class="bc-recording-live" data-in-progress' in html
    assert "recording now" in html and "Central Assembly" in html
    # The minutes link into the recording while it is being written ...
    m = await call(server, "GET", f"/api/sessions/{s['id']}/minutes")
    assert m["items"][0]["recording"].startswith(f"/recordings/{live['id']}#t=")
    # ... its replay page and chapters answer already ...
    async with server.session.get(server.url + f"/recordings/{live['id']}") as r:
        assert r.status == 200 and "Recording now" in await r.text()
    async with server.session.get(server.url + f"/recordings/{live['id']}/chapters.vtt") as r:
        assert [c[2] for c in cues(await r.text())] == ["Item 1: Report of the plan factory"]
    # ... and once stored it is the same id, no longer in progress.
    await off_air(server)
    recs = (await call(server, "GET", "/api/recordings"))["recordings"]
    assert [(r["id"], r["in_progress"]) for r in recs] == [(live["id"], False)]
    assert recs[0]["bytes"] == (server.config.data_path / _file_of(server, live["id"])).stat().st_size
    async with server.session.get(server.url + "/recordings") as r:
        assert "recording now" not in await r.text()


def _file_of(server, rid) -> str:
    return server.app[BROADCAST].db.read_sync(lambda c: store.get_recording(c, rid))["file"]


# -- retention -------------------------------------------------------------------------------
def _add(db: Database, data_path, rid: str, started: float, ended: float, size: int, channel="central") -> str:
    rel = f"recordings/{channel}/{rid}.webm"
    path = data_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    info = SimpleNamespace(started_at=started, ended_at=ended, duration_s=ended - started, bytes=size,
                           video_frames=1, audio_packets=1)
    db.write_sync(lambda c: store.insert_recording(c, rid, channel, rel, info))
    return rel


def _left(svc) -> list[str]:
    return sorted(r["id"] for r in svc.db.read_sync(store.list_recordings))


async def test_retention_deletes_recordings_past_the_age_bound(server):
    svc = server.app[BROADCAST]
    data = server.config.data_path
    now = 1_000 * DAY
    for rid, age in (("a40", 40), ("b31", 31), ("c29", 29), ("d1", 1)):
        _add(svc.db, data, rid, now - age * DAY - 3600, now - age * DAY, 1000)
    svc.retention = Retention(max_age_s=30 * DAY)
    deleted = await svc.apply_retention(now=now)
    assert [(d["id"], d["reason"]) for d in deleted] == [("a40", "age"), ("b31", "age")]
    assert _left(svc) == ["c29", "d1"]
    assert sorted(p.name for p in (data / "recordings" / "central").iterdir()) == ["c29.webm", "d1.webm"]
    assert await svc.apply_retention(now=now) == []  # nothing more to do


async def test_retention_deletes_the_oldest_until_the_total_fits(server, caplog):
    svc = server.app[BROADCAST]
    data = server.config.data_path
    now = time.time()
    # Out of order on purpose: the oldest is the one that started first.
    for rid, started, size in (("r3", now - 300, 500_000), ("r1", now - 500, 300_000),
                               ("r4", now - 200, 600_000), ("r2", now - 400, 400_000)):
        _add(svc.db, data, rid, started, started + 60, size, channel="council" if rid == "r2" else "central")
    svc.retention = Retention(max_bytes=1_200_000)  # 1.8 MB: r1 (-> 1.5 MB) and r2 (-> 1.1 MB) go
    with caplog.at_level(logging.INFO, logger="councilcast.services.broadcast"):
        deleted = await svc.apply_retention(now=now)
    assert [(d["id"], d["reason"]) for d in deleted] == [("r1", "size"), ("r2", "size")]
    assert _left(svc) == ["r3", "r4"]
    assert not (data / "recordings/central/r1.webm").exists() and not (data / "recordings/council/r2.webm").exists()
    logged = [r.getMessage() for r in caplog.records if "recordings: deleted" in r.getMessage()]
    assert len(logged) == 2 and "r1 (central" in logged[0] and "past the size bound" in logged[0]


async def test_retention_keeps_a_file_it_cannot_delete_and_goes_on(server, caplog):
    svc = server.app[BROADCAST]
    data = server.config.data_path
    now = time.time()
    for rid, started, size in (("r1", now - 500, 300_000), ("r2", now - 400, 400_000),
                               ("r3", now - 300, 500_000), ("r4", now - 200, 600_000)):
        _add(svc.db, data, rid, started, started + 60, size)
    stuck = data / "recordings/central/r1.webm"  # a directory in the file's place: unlink fails
    stuck.unlink()
    stuck.mkdir()
    (stuck / "x").write_bytes(b"x")
    gone = data / "recordings/central/r2.webm"  # a file already gone: its row goes too
    gone.unlink()
    svc.retention = Retention(max_bytes=1_000_000)  # 1.8 MB; r1 stays, so r2 and r3 go (-> 0.9 MB)
    with caplog.at_level(logging.INFO, logger="councilcast.services.broadcast"):
        deleted = await svc.apply_retention(now=now)
    assert [d["id"] for d in deleted] == ["r2", "r3"]
    assert _left(svc) == ["r1", "r4"]  # no row without its file, no file without its row
    assert stuck.is_dir() and (data / "recordings/central/r4.webm").is_file()
    assert any("cannot delete r1" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.slow
async def test_retention_never_deletes_the_recording_being_written(server):
    svc = server.app[BROADCAST]
    data = server.config.data_path
    now = time.time()
    _add(svc.db, data, "old", now - 500, now - 400, 1000)
    await camera(server)
    live = await in_progress(server)
    svc.retention = Retention(max_age_s=1.0, max_bytes=1)  # nothing fits, everything finished is too old
    deleted = await svc.apply_retention()
    assert [d["id"] for d in deleted] == ["old"]
    recs = (await call(server, "GET", "/api/recordings"))["recordings"]
    assert [(r["id"], r["in_progress"]) for r in recs] == [(live["id"], True)]
    live_path = data / svc._in_progress()[0]["file"]
    assert live_path.is_file()  # still being written (its bytes are in the muxer's buffer for now)
    svc.retention = Retention()  # off: the recording, once stored, stays
    await off_air(server)
    assert _left(svc) == [live["id"]] and live_path.stat().st_size > 0


async def test_retention_runs_at_start_up_with_the_configured_bounds(make_config):
    """recordings_max_age_days and recordings_max_mb (MiB) from the settings, applied before any recording."""
    config = make_config(recordings_max_age_days=30, recordings_max_mb=1)
    db = Database(config.db)
    db.open()
    now = time.time()
    try:
        _add(db, config.data_path, "too-old", now - 40 * DAY, now - 40 * DAY + 60, 100)
        for k in range(3):  # 3 x 600,000 bytes = 1.8 MB > 1 MiB: the two oldest go
            _add(db, config.data_path, f"r{k}", now - 300 + k * 100, now - 250 + k * 100, 600_000)
    finally:
        db.close()
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        svc = app[BROADCAST]
        await until(lambda: _left(svc) == ["r2"], what="the start-up retention")
        assert _left(svc) == ["r2"]
        assert sorted(os.listdir(config.data_path / "recordings" / "central")) == ["r2.webm"]
        assert svc.retention == Retention(max_age_s=30 * DAY, max_bytes=2**20)
    finally:
        await runner.cleanup()
