"""SQL of the delegates' side: mandates, terms, and the agenda item a roll call is about.

The delegates themselves, their roll calls and votes stay in :mod:`councilcast.stores.voting`
(they came first); this area adds what the delegates issue needs beside them. The schema is
:data:`MIGRATIONS` (append-only).
"""

from __future__ import annotations

__all__ = ["AREA", "MIGRATIONS", "put_mandate", "mandates_of", "set_term", "term_of", "link_rollcall",
           "rollcall_item", "rollcalls_of_item", "add_report", "last_report"]

AREA = "delegates"

MIGRATIONS = [
    """
    CREATE TABLE delegates_mandates (
        delegate_id TEXT NOT NULL,
        assembly_id TEXT NOT NULL,
        item_id TEXT NOT NULL,            -- an agenda item of a session (stores/sessions.py)
        kind TEXT NOT NULL CHECK (kind IN ('option', 'free', 'text')),
        option TEXT,
        text TEXT,
        recorded_at REAL NOT NULL,
        PRIMARY KEY (delegate_id, assembly_id, item_id)
    );
    CREATE TABLE delegates_terms (
        delegate_id TEXT PRIMARY KEY,
        term_ends TEXT                    -- YYYY-MM-DD (UTC), or NULL: until recalled
    );
    CREATE TABLE delegates_rollcall_items (
        rollcall_id TEXT PRIMARY KEY,
        item_id TEXT NOT NULL
    );
    """,
    # 2: when a delegate reported back to their assemblies (the next sheet starts there)
    """
    CREATE TABLE delegates_reports (
        delegate_id TEXT NOT NULL,
        reported_at REAL NOT NULL,
        since TEXT NOT NULL,              -- the first day the reported sheet covered (YYYY-MM-DD)
        sheet_hash TEXT NOT NULL,
        PRIMARY KEY (delegate_id, reported_at)
    );
    """,
]


def put_mandate(conn, did: str, aid: str, item_id: str, spec: dict, now: float) -> dict:
    """Record (or replace) assembly ``aid``'s mandate to delegate ``did`` on ``item_id``."""
    conn.execute("INSERT INTO delegates_mandates(delegate_id, assembly_id, item_id, kind, option, text, recorded_at) "
                 "VALUES (?,?,?,?,?,?,?) ON CONFLICT(delegate_id, assembly_id, item_id) DO UPDATE SET "
                 "kind=excluded.kind, option=excluded.option, text=excluded.text, recorded_at=excluded.recorded_at",
                 (did, aid, item_id, spec["kind"], spec["option"], spec["text"], now))
    return {"delegate": did, "assembly": aid, "item": item_id, **spec, "recorded_at": now}


def mandates_of(conn, did: str, item_id: str | None = None) -> list[dict]:
    """Delegate ``did``'s mandates (of one item, or all), by item then assembly."""
    sql = ("SELECT m.item_id, m.assembly_id, a.name, m.kind, m.option, m.text, m.recorded_at FROM delegates_mandates m "
           "LEFT JOIN voting_assemblies a ON a.id = m.assembly_id WHERE m.delegate_id=?")
    args: tuple = (did,)
    if item_id is not None:
        sql += " AND m.item_id=?"
        args += (item_id,)
    rows = conn.execute(sql + " ORDER BY m.item_id, a.name, m.assembly_id", args).fetchall()
    return [{"item": r[0], "assembly": r[1], "assembly_name": r[2], "kind": r[3], "option": r[4], "text": r[5],
             "recorded_at": r[6]} for r in rows]


def set_term(conn, did: str, term_ends: str | None) -> None:
    conn.execute("INSERT INTO delegates_terms(delegate_id, term_ends) VALUES (?,?) "
                 "ON CONFLICT(delegate_id) DO UPDATE SET term_ends=excluded.term_ends", (did, term_ends))


def term_of(conn, did: str) -> str | None:
    row = conn.execute("SELECT term_ends FROM delegates_terms WHERE delegate_id=?", (did,)).fetchone()
    return None if row is None else row[0]


def link_rollcall(conn, rcid: str, item_id: str) -> None:
    conn.execute("INSERT INTO delegates_rollcall_items(rollcall_id, item_id) VALUES (?,?)", (rcid, item_id))


def rollcall_item(conn, rcid: str) -> str | None:
    row = conn.execute("SELECT item_id FROM delegates_rollcall_items WHERE rollcall_id=?", (rcid,)).fetchone()
    return None if row is None else row[0]


def rollcalls_of_item(conn, item_id: str) -> list[str]:
    return [r[0] for r in conn.execute("SELECT rollcall_id FROM delegates_rollcall_items WHERE item_id=?",
                                       (item_id,))]


def add_report(conn, did: str, now: float, since: str, sheet_hash: str) -> dict:
    conn.execute("INSERT INTO delegates_reports(delegate_id, reported_at, since, sheet_hash) VALUES (?,?,?,?)",
                 (did, now, since, sheet_hash))
    return {"delegate": did, "reported_at": now, "since": since, "sheet_hash": sheet_hash}


def last_report(conn, did: str) -> dict | None:
    row = conn.execute("SELECT reported_at, since, sheet_hash FROM delegates_reports WHERE delegate_id=? "
                       "ORDER BY reported_at DESC LIMIT 1", (did,)).fetchone()
    return None if row is None else {"reported_at": row[0], "since": row[1], "sheet_hash": row[2]}
