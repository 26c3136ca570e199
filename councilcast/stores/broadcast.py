"""Broadcast tables and queries: channel settings and the recordings of every live session.

Plain lookups, inserts and upserts, in the SQL both engines accept (:mod:`councilcast.stores.dialect`).
"""

from __future__ import annotations

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
    return [dict(r) for r in conn.execute("SELECT * FROM broadcast_channels ORDER BY name")]


def save_channel(conn, name: str, title: str, companion: str | None, captions_url: str | None, now: float) -> None:
    """Insert or update a channel's settings; its ``created_at`` stays the first save's."""
    conn.execute("INSERT INTO broadcast_channels(name, title, companion, captions_url, created_at, updated_at) "
                 "VALUES (?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET title=excluded.title, "
                 "companion=excluded.companion, captions_url=excluded.captions_url, updated_at=excluded.updated_at",
                 (name, title, companion, captions_url, now, now))


def list_recordings(conn, channel: str | None = None) -> list[dict]:
    """Recordings, newest first, of one channel or of all."""
    if channel is None:
        return [dict(r) for r in conn.execute("SELECT * FROM broadcast_recordings ORDER BY started_at DESC")]
    return [dict(r) for r in conn.execute("SELECT * FROM broadcast_recordings WHERE channel=? "
                                          "ORDER BY started_at DESC", (channel,))]


def get_recording(conn, rid: str) -> dict | None:
    row = conn.execute("SELECT * FROM broadcast_recordings WHERE id=?", (rid,)).fetchone()
    return None if row is None else dict(row)


def insert_recording(conn, rid: str, channel: str, file: str, rec) -> None:
    """``rec``: a :class:`broadcast.recorder.RecordingInfo` (its times, size and counts)."""
    conn.execute("INSERT INTO broadcast_recordings(id, channel, file, started_at, ended_at, duration_s, bytes, "
                 "video_frames, audio_packets) VALUES (?,?,?,?,?,?,?,?,?)",
                 (rid, channel, file, rec.started_at, rec.ended_at, rec.duration_s, rec.bytes, rec.video_frames,
                  rec.audio_packets))


def delete_recording(conn, rid: str) -> bool:
    """Remove a recording's row (its file is the caller's); False when there was none."""
    return conn.execute("DELETE FROM broadcast_recordings WHERE id=?", (rid,)).rowcount > 0
