"""Broadcast tables: channel settings and the recordings of every live session."""

__all__ = ["AREA", "MIGRATIONS"]

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
