"""SQL of the Central Council: its elections, the delegates' approvals, its members.

The rules are :mod:`voting.approval`; the delegates (names, status) are
:mod:`councilcast.stores.voting`'s, joined here for reading. The schema is :data:`MIGRATIONS`
(append-only).
"""

from __future__ import annotations

import json

from voting.rounds import new_id
from voting.rules import iso

__all__ = ["AREA", "MIGRATIONS", "create_election", "get_election", "list_elections", "open_election_id",
           "approvals_of", "put_approval", "close_election", "members_of", "latest_closed_id", "past_councils",
           "delegates_named"]

AREA = "council"

MIGRATIONS = [
    """
    CREATE TABLE council_elections (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        seats INTEGER NOT NULL CHECK (seats >= 1),
        candidates TEXT NOT NULL,         -- JSON array of delegate ids
        term_ends TEXT,                   -- YYYY-MM-DD (UTC), or NULL: until the next election
        item_id TEXT,                     -- the agenda item it is held under (stores/sessions.py), if any
        opened_at REAL NOT NULL,
        closed_at REAL,
        result TEXT                       -- JSON, written at the close (voting.approval.elect)
    );
    CREATE TABLE council_approvals (
        election_id TEXT NOT NULL REFERENCES council_elections(id),
        delegate_id TEXT NOT NULL,
        approved TEXT NOT NULL,           -- JSON array of candidate ids, sorted; [] abstains
        at REAL NOT NULL,
        PRIMARY KEY (election_id, delegate_id)
    );
    CREATE TABLE council_members (
        election_id TEXT NOT NULL REFERENCES council_elections(id),
        delegate_id TEXT NOT NULL,
        seat INTEGER NOT NULL,
        approvals INTEGER NOT NULL,
        term_ends TEXT,
        PRIMARY KEY (election_id, delegate_id)
    );
    CREATE INDEX council_elections_closed ON council_elections(closed_at);
    """,
]


def _election(row) -> dict:
    e = dict(row)
    e["candidates"] = json.loads(e["candidates"])
    e["result"] = json.loads(e["result"]) if e["result"] else None
    e["item"] = e.pop("item_id")
    e["opened_at"], e["closed_at"] = iso(e["opened_at"]), iso(e["closed_at"])
    return e


def create_election(conn, spec: dict, now: float) -> dict:
    eid = new_id("ce")
    conn.execute("INSERT INTO council_elections(id, title, seats, candidates, term_ends, item_id, opened_at) "
                 "VALUES (?,?,?,?,?,?,?)", (eid, spec["title"], spec["seats"], json.dumps(spec["candidates"]),
                                            spec["term_ends"], spec["item"], now))
    return get_election(conn, eid)


def get_election(conn, eid: str) -> dict | None:
    row = conn.execute("SELECT * FROM council_elections WHERE id=?", (eid,)).fetchone()
    return None if row is None else _election(row)


def list_elections(conn) -> list[dict]:
    return [_election(r) for r in conn.execute("SELECT * FROM council_elections ORDER BY opened_at DESC, id")]


def open_election_id(conn) -> str | None:
    row = conn.execute("SELECT id FROM council_elections WHERE closed_at IS NULL ORDER BY opened_at LIMIT 1").fetchone()
    return None if row is None else row[0]


def approvals_of(conn, eid: str) -> list[dict]:
    """Every delegate's approvals in election ``eid``, by name, with their status now."""
    rows = conn.execute("SELECT a.delegate_id, d.name, d.status, a.approved, a.at FROM council_approvals a "
                        "LEFT JOIN voting_delegates d ON d.id = a.delegate_id WHERE a.election_id=? "
                        "ORDER BY d.name, a.delegate_id", (eid,)).fetchall()
    return [{"delegate": r[0], "name": r[1], "status": r[2], "approve": json.loads(r[3]), "at": iso(r[4])}
            for r in rows]


def put_approval(conn, eid: str, did: str, approved: list[str], now: float) -> None:
    """Record (or replace) delegate ``did``'s approvals."""
    conn.execute("INSERT INTO council_approvals(election_id, delegate_id, approved, at) VALUES (?,?,?,?) "
                 "ON CONFLICT(election_id, delegate_id) DO UPDATE SET approved=excluded.approved, at=excluded.at",
                 (eid, did, json.dumps(approved), now))


def close_election(conn, eid: str, result: dict, term_ends: str | None, now: float) -> None:
    """Write the result and the members it elected, in the caller's transaction."""
    conn.execute("UPDATE council_elections SET closed_at=?, result=? WHERE id=? AND closed_at IS NULL",
                 (now, json.dumps(result), eid))
    conn.executemany("INSERT INTO council_members(election_id, delegate_id, seat, approvals, term_ends) "
                     "VALUES (?,?,?,?,?)", [(eid, e["candidate"], e["seat"], e["approvals"], term_ends)
                                            for e in result["elected"]])


def members_of(conn, eid: str) -> list[dict]:
    """The members election ``eid`` elected, by seat, with their name and status now."""
    rows = conn.execute("SELECT m.delegate_id, d.name, d.status, d.recalled_at, m.seat, m.approvals, m.term_ends "
                        "FROM council_members m LEFT JOIN voting_delegates d ON d.id = m.delegate_id "
                        "WHERE m.election_id=? ORDER BY m.seat", (eid,)).fetchall()
    return [{"delegate": r[0], "name": r[1], "status": r[2], "recalled_at": iso(r[3]), "seat": r[4],
             "approvals": r[5], "term_ends": r[6]} for r in rows]


def latest_closed_id(conn) -> str | None:
    row = conn.execute("SELECT id FROM council_elections WHERE closed_at IS NOT NULL "
                       "ORDER BY closed_at DESC LIMIT 1").fetchone()
    return None if row is None else row[0]


def past_councils(conn, limit: int) -> list[set[str]]:
    """The members of the last ``limit`` Councils, newest first."""
    ids = [r[0] for r in conn.execute("SELECT id FROM council_elections WHERE closed_at IS NOT NULL "
                                      "ORDER BY closed_at DESC LIMIT ?", (limit,))]
    return [{r[0] for r in conn.execute("SELECT delegate_id FROM council_members WHERE election_id=?", (eid,))}
            for eid in ids]


def delegates_named(conn, ids: list[str]) -> dict[str, dict]:
    """``{id: {"name", "status"}}`` of the delegates among ``ids`` (unknown ids are left out)."""
    out: dict[str, dict] = {}
    for i in range(0, len(ids), 500):
        part = ids[i:i + 500]
        marks = ",".join("?" * len(part))
        for r in conn.execute(f"SELECT id, name, status FROM voting_delegates WHERE id IN ({marks})", part):
            out[r[0]] = {"name": r[1], "status": r[2]}
    return out
