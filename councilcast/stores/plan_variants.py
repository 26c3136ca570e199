"""Tables of the plan factory's output: proposals, published variant sets (with revisions)."""

import json

__all__ = ["AREA", "MIGRATIONS", "latest_variant_names"]

AREA = "plan_variants"

MIGRATIONS = [
    """
    CREATE TABLE plan_proposals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        enterprise TEXT NOT NULL,
        body TEXT NOT NULL,            -- JSON: the proposal's fields (planfactory.proposals.Proposal)
        author TEXT,                   -- the clerk token's subject (an assembly id), else its role
        created_at REAL NOT NULL,
        withdrawn_at REAL
    );
    CREATE INDEX plan_proposals_open ON plan_proposals(withdrawn_at, id);
    CREATE TABLE plan_variant_sets (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,            -- publication or revision
        input_hash TEXT NOT NULL,
        solver_version TEXT NOT NULL,
        previous_id INTEGER REFERENCES plan_variant_sets(id),
        published_at REAL NOT NULL,
        published_by TEXT,
        summary TEXT NOT NULL,         -- JSON: variant names, sweep counts, incompatibilities count
        doc TEXT NOT NULL              -- the published document (planfactory.verify.produce), JSON
    );
    """,
]


def latest_variant_names(conn) -> tuple[int, list[str]] | None:
    """(id, variant names) of the latest published variant set, or None before the first."""
    row = conn.execute("SELECT id, doc FROM plan_variant_sets ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return row[0], [v["name"] for v in json.loads(row[1]).get("variants", [])]
