"""Tables of the plan area: the economies the secretariat set as current (append-only history).

``plan_economies``: one row per ``PUT /api/plan/economy`` (``doc`` = the JSON format, with
its SHA-256) or ``DELETE`` (``doc`` NULL = back to the bundled demo). The latest row wins.
"""

__all__ = ["AREA", "MIGRATIONS", "save_economy", "latest_economy"]

AREA = "plan"
MIGRATIONS = [
    """
    CREATE TABLE plan_economies (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        sha256 TEXT NOT NULL,
        name TEXT NOT NULL,
        sectors INTEGER NOT NULL,
        doc TEXT
    );
    """,
]


def save_economy(conn, sha256: str, name: str, sectors: int, doc: str | None) -> None:
    """Record the current economy (``doc`` None: back to the bundled demo); the latest row wins."""
    conn.execute("INSERT INTO plan_economies(sha256, name, sectors, doc) VALUES (?,?,?,?)", (sha256, name, sectors, doc))


def latest_economy(conn) -> tuple[str, str | None] | None:
    """(sha256, doc) of the latest row, or None when the secretariat never set one."""
    row = conn.execute("SELECT sha256, doc FROM plan_economies ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else (row[0], row[1])
