"""The broadcast store on a real SQLite file and a real PostgreSQL database, through the single writer."""

from types import SimpleNamespace

import pytest

from councilcast.storage import Database
from councilcast.stores import broadcast as store
from tests.pg import db_url_both  # noqa: F401 - every test here runs on SQLite and PostgreSQL


def _db(db_url) -> Database:
    db = Database(db_url)
    db.open()
    return db


def test_save_channel_upserts_and_keeps_created_at(db_url):
    db = _db(db_url)
    try:
        db.write_sync(lambda c: store.save_channel(c, "council", "Council", None, None, 100.0))
        db.write_sync(lambda c: store.save_channel(c, "council", "Central Council", "central-sign", "/x.vtt", 200.0))
        rows = db.read_sync(store.list_channels)
        assert rows == [{"name": "council", "title": "Central Council", "companion": "central-sign",
                         "captions_url": "/x.vtt", "created_at": 100.0, "updated_at": 200.0}]
    finally:
        db.close()


def test_recordings_newest_first_and_lookup(db_url):
    db = _db(db_url)
    try:
        for rid, ch, t in (("r1", "central", 10.0), ("r2", "council", 20.0), ("r3", "central", 30.0)):
            info = SimpleNamespace(started_at=t, ended_at=t + 5, duration_s=5.0, bytes=1000, video_frames=150,
                                   audio_packets=250)
            db.write_sync(lambda c, rid=rid, ch=ch, info=info: store.insert_recording(c, rid, ch, f"{rid}.webm",
                                                                                      info))
        assert [r["id"] for r in db.read_sync(store.list_recordings)] == ["r3", "r2", "r1"]
        assert [r["id"] for r in db.read_sync(lambda c: store.list_recordings(c, "central"))] == ["r3", "r1"]
        assert db.read_sync(lambda c: store.get_recording(c, "r2"))["file"] == "r2.webm"
        assert db.read_sync(lambda c: store.get_recording(c, "nope")) is None
    finally:
        db.close()


def test_a_failing_write_rolls_back_alone(db_url):
    # the insert nests in the writer's SAVEPOINT: a duplicate id fails alone (IntegrityError of either driver)
    db = _db(db_url)
    try:
        info = SimpleNamespace(started_at=1.0, ended_at=2.0, duration_s=1.0, bytes=1, video_frames=1, audio_packets=1)
        db.write_sync(lambda c: store.insert_recording(c, "r1", "central", "a.webm", info))
        with pytest.raises(Exception) as err:
            db.write_sync(lambda c: store.insert_recording(c, "r1", "central", "b.webm", info))
        assert "IntegrityError" in {k.__name__ for k in type(err.value).__mro__}
        assert db.read_sync(lambda c: store.get_recording(c, "r1"))["file"] == "a.webm"
    finally:
        db.close()


def test_delete_recording_removes_only_its_row(db_url):
    db = _db(db_url)
    try:
        for rid in ("r1", "r2"):
            info = SimpleNamespace(started_at=1.0, ended_at=2.0, duration_s=1.0, bytes=10, video_frames=1,
                                   audio_packets=1)
            db.write_sync(lambda c, rid=rid, info=info: store.insert_recording(c, rid, "central", f"{rid}.webm", info))
        assert db.write_sync(lambda c: store.delete_recording(c, "r1")) is True
        assert db.write_sync(lambda c: store.delete_recording(c, "r1")) is False  # already gone
        assert [r["id"] for r in db.read_sync(store.list_recordings)] == ["r2"]
    finally:
        db.close()
