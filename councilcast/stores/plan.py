"""Tables of the plan area: the economies the secretariat set as current (append-only history).

``plan_economies``: one row per ``PUT /api/plan/economy`` (``doc`` = the JSON format, with
its SHA-256) or ``DELETE`` (``doc`` NULL = back to the bundled demo). The latest row wins.
"""

__all__ = ["AREA", "MIGRATIONS"]

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
