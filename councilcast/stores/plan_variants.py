"""Tables and queries of the plan factory's output: proposals, published variant sets (with revisions)."""

from __future__ import annotations

import json

__all__ = ["AREA", "MIGRATIONS", "insert_proposal", "get_proposal", "open_proposals", "count_proposals",
           "withdraw_proposal", "get_set", "list_sets", "set_document", "count_sets", "insert_set",
           "latest_variant_names"]

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


def _proposal(row) -> dict:
    return {**json.loads(row["body"]), "id": str(row["id"]), "author": row["author"],
            "created_at": row["created_at"], "withdrawn_at": row["withdrawn_at"]}


def insert_proposal(conn, enterprise: str, fields: dict, author: str, now: float) -> dict:
    pid = conn.execute("INSERT INTO plan_proposals(enterprise, body, author, created_at) VALUES (?, ?, ?, ?) "
                       "RETURNING id", (enterprise, json.dumps(fields), author, now)).fetchone()[0]
    return get_proposal(conn, pid)


def get_proposal(conn, pid: int) -> dict | None:
    row = conn.execute("SELECT * FROM plan_proposals WHERE id=?", (pid,)).fetchone()
    return None if row is None else _proposal(row)


def open_proposals(conn) -> list[dict]:
    """The proposals not withdrawn, oldest first."""
    return [_proposal(r) for r in conn.execute(
        "SELECT * FROM plan_proposals WHERE withdrawn_at IS NULL ORDER BY id").fetchall()]


def count_proposals(conn) -> int:
    return conn.execute("SELECT COUNT(*) FROM plan_proposals").fetchone()[0]


def withdraw_proposal(conn, pid: int, now: float) -> None:
    conn.execute("UPDATE plan_proposals SET withdrawn_at=? WHERE id=? AND withdrawn_at IS NULL", (now, pid))


SET_COLUMNS = "id, kind, input_hash, solver_version, previous_id, published_at, published_by, summary"


def _set(row, with_doc: bool) -> dict:
    out = {"id": row["id"], "kind": row["kind"], "input_hash": row["input_hash"],
           "solver_version": row["solver_version"], "previous_id": row["previous_id"],
           "published_at": row["published_at"], "published_by": row["published_by"], **json.loads(row["summary"])}
    if with_doc:
        out["doc"] = row["doc"]
    return out


def get_set(conn, set_id: int | None, with_doc: bool = True) -> dict | None:
    """One published set by id (None: the latest), with its document text as ``doc`` when asked."""
    cols = "*" if with_doc else SET_COLUMNS
    if set_id is None:
        row = conn.execute(f"SELECT {cols} FROM plan_variant_sets ORDER BY id DESC LIMIT 1").fetchone()
    else:
        row = conn.execute(f"SELECT {cols} FROM plan_variant_sets WHERE id=?", (set_id,)).fetchone()
    return None if row is None else _set(row, with_doc)


def list_sets(conn, limit: int = 100) -> list[dict]:
    return [_set(r, False) for r in conn.execute(
        f"SELECT {SET_COLUMNS} FROM plan_variant_sets ORDER BY id DESC LIMIT ?", (limit,)).fetchall()]


def set_document(conn, set_id: int) -> str:
    return conn.execute("SELECT doc FROM plan_variant_sets WHERE id=?", (set_id,)).fetchone()[0]


def count_sets(conn) -> int:
    return conn.execute("SELECT COUNT(*) FROM plan_variant_sets").fetchone()[0]


def insert_set(conn, kind: str, input_hash: str, solver_version: str, previous_id: int | None, now: float,
               by: str, summary: dict, doc_text: str) -> dict:
    """Publish a variant set; returns it as :func:`get_set` does, without the document."""
    sid = conn.execute("INSERT INTO plan_variant_sets(kind, input_hash, solver_version, previous_id, published_at,"
                       " published_by, summary, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                       (kind, input_hash, solver_version, previous_id, now, by, json.dumps(summary), doc_text)).fetchone()[0]
    return get_set(conn, sid, with_doc=False)


def latest_variant_names(conn) -> tuple[int, list[str]] | None:
    """(id, variant names) of the latest published variant set, or None before the first."""
    row = conn.execute("SELECT id, doc FROM plan_variant_sets ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return row[0], [v["name"] for v in json.loads(row[1]).get("variants", [])]
