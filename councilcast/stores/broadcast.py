"""Broadcast tables and queries: channel settings and the recordings of every live session.

Plain lookups, inserts and upserts, written with sqlite-utils (its table API nests in the
writer's transaction as a SAVEPOINT, so group commit holds).
"""

from __future__ import annotations

import sqlite_utils
import sqlite_utils.db

__all__ = ["AREA", "MIGRATIONS", "list_channels", "save_channel", "list_recordings", "get_recording",
           "insert_recording", "delete_recording"]

AREA = "broadcast"

MIGRATIONS = [
    """
    CREATE TABLE broadcast_channels (
        name TEXT PRIMARY KEY,        -- a-z, 0-9, '-'
        title TEXT NOT NULL,
        companion TEXT,               -- a sign-language interpreter's channel shown beside it
        captions_url TEXT,            -- a WebVTT caption source, if configured
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE broadcast_recordings (
        id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        file TEXT NOT NULL,           -- relative to the data folder
        started_at REAL NOT NULL,     -- Unix time of the first frame
        ended_at REAL NOT NULL,
        duration_s REAL NOT NULL,
        bytes INTEGER NOT NULL,
        video_frames INTEGER NOT NULL,
        audio_packets INTEGER NOT NULL
    );
    CREATE INDEX broadcast_recordings_channel ON broadcast_recordings(channel, started_at);
    """,
]


def list_channels(conn) -> list[dict]:
    """Channel settings saved by ``PUT /api/channels/{name}`` (restored at start-up)."""
    return list(sqlite_utils.Database(conn)["broadcast_channels"].rows_where(order_by="name"))


def save_channel(conn, name: str, title: str, companion: str | None, captions_url: str | None, now: float) -> None:
    table = sqlite_utils.Database(conn)["broadcast_channels"]
    created = next(iter(table.rows_where("name = ?", [name], select="created_at")), {"created_at": now})
    table.upsert({"name": name, "title": title, "companion": companion, "captions_url": captions_url,
                  "created_at": created["created_at"], "updated_at": now}, pk="name")


def list_recordings(conn, channel: str | None = None) -> list[dict]:
    """Recordings, newest first, of one channel or of all."""
    table = sqlite_utils.Database(conn)["broadcast_recordings"]
    if channel is None:
        return list(table.rows_where(order_by="started_at DESC"))
    return list(table.rows_where("channel = ?", [channel], order_by="started_at DESC"))


def get_recording(conn, rid: str) -> dict | None:
    try:
        return sqlite_utils.Database(conn)["broadcast_recordings"].get(rid)
    except sqlite_utils.db.NotFoundError:
        return None


def insert_recording(conn, rid: str, channel: str, file: str, rec) -> None:
    """``rec``: a :class:`broadcast.recorder.RecordingInfo` (its times, size and counts)."""
    sqlite_utils.Database(conn)["broadcast_recordings"].insert({
        "id": rid, "channel": channel, "file": file, "started_at": rec.started_at, "ended_at": rec.ended_at,
        "duration_s": rec.duration_s, "bytes": rec.bytes, "video_frames": rec.video_frames,
        "audio_packets": rec.audio_packets})


def delete_recording(conn, rid: str) -> bool:
    """Remove a recording's row (its file is the caller's); False when there was none."""
    table = sqlite_utils.Database(conn)["broadcast_recordings"]
    try:
        table.get(rid)
    except sqlite_utils.db.NotFoundError:
        return False
    table.delete(rid)
    return True
