"""What ``GET /api/health`` reports: status, version, the database in use and its schema."""

from __future__ import annotations

import time

from councilcast import __version__
from councilcast.storage import Database, schema_versions

__all__ = ["health"]


async def health(db: Database, started_at: float, demo: bool) -> dict:
    return {
        "status": "ok",
        "version": __version__,
        # the engine and the file, or the URL without its password (Database.describe)
        "database": {**db.describe(), "schema": await db.read(schema_versions)},
        "uptime_s": round(time.time() - started_at, 3),
        "demo": demo,
    }
